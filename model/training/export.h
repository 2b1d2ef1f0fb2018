// A trained model as a Hugging Face folder: config.json (LlamaForCausalLM,
// tied embedding, and mnemo's own keys under "mnemo"), model.safetensors (float32) and the
// tokenizer's files, which model/model_loader.h loads like any HF checkpoint.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/training/training_model.h"

namespace mnemo::model::training {

/// `tokenizer_dir` holds tokenizer.json (and tokenizer_config.json, copied when present);
/// `extra` goes into config.json under "mnemo" (memory layout, training facts). An error
/// message when a file cannot be read or written.
std::optional<std::string> export_model(const TrainingModel& model,
                                        const std::filesystem::path& tokenizer_dir,
                                        const std::filesystem::path& out_dir,
                                        const nlohmann::json& extra);

}  // namespace mnemo::model::training
