#include "model/training/export.h"

#include <fstream>

#include <ATen/ATen.h>

#include "model/training/safetensors_writer.h"

namespace mnemo::model::training {
namespace fs = std::filesystem;

std::optional<std::string> export_model(const TrainingModel& model, const fs::path& tokenizer_dir,
                                        const fs::path& out_dir, const nlohmann::json& extra) {
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (error) return out_dir.string() + ": " + error.message();
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    if (!fs::exists(tokenizer_dir / name)) {
      if (std::string(name) == "tokenizer.json")
        return (tokenizer_dir / name).string() + ": not found";
      continue;
    }
    fs::copy_file(tokenizer_dir / name, out_dir / name, fs::copy_options::overwrite_existing,
                  error);
    if (error) return (out_dir / name).string() + ": " + error.message();
  }
  std::map<std::string, at::Tensor> weights;
  for (const auto& [name, tensor] : model.parameters())
    weights.emplace(name, tensor.detach().to(at::kFloat));
  if (auto failed =
          write_safetensors((out_dir / "model.safetensors").string(), weights, {{"format", "pt"}}))
    return failed;
  nlohmann::json config = model.shape().hf_config();
  config["mnemo"] = extra;
  config["mnemo"]["memory_layers"] = model.memory_layers();
  std::ofstream out(out_dir / "config.json");
  out << config.dump(2) << "\n";
  out.close();
  if (!out) return (out_dir / "config.json").string() + ": cannot be written";
  return std::nullopt;
}

}  // namespace mnemo::model::training
