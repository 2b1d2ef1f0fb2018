// How well the model predicts held-out projects: bits per byte over each
// project's files in memory order, every file scored with the memory of the project's
// earlier files (as in training, no fill-in-the-middle), or with no memory: the difference
// is what the memory is worth to the model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/tokenizer/tokenizer.h"
#include "model/training/training_memory.h"
#include "model/training/training_model.h"

namespace mnemo::model::training {

struct HeldoutOptions {
  std::int64_t max_bytes_per_project = 128 * 1024;  ///< its first files up to this size
  std::int64_t max_windows = 8;
};

struct BitsPerByte {
  double bits_per_byte = 0;
  std::int64_t tokens = 0, bytes = 0, files = 0, projects = 0;
  /// With a memory: per memory layer, the mean share of the query heads' attention that
  /// went to it, over the scored tokens of files that had a memory to read.
  std::vector<double> memory_attention_share;
  nlohmann::json to_json() const;
};

/// Under `root`, a folder of projects. `memory` configures the memory read (cleared per
/// project); null: no memory.
BitsPerByte bits_per_byte(const TrainingModel& model, const Tokenizer& tokenizer,
                          const std::filesystem::path& root, const TrainingMemoryConfig* memory,
                          const HeldoutOptions& options = {});

/// Whether the model copies from what it has just read, the skill a memory read builds on:
/// over the first files of each project (as bits_per_byte takes them), a window of the
/// file's first tokens and the same tokens again (repeated_window), no memory. The mean loss
/// per token of the first copy and of the repeat (its first token, which nothing
/// announces, left out); a model that copies predicts the repeat almost for free.
struct InContextCopy {
  double first_nats = 0, repeated_nats = 0;
  std::int64_t windows = 0;
  nlohmann::json to_json() const;
};
InContextCopy in_context_copy(const TrainingModel& model, const Tokenizer& tokenizer,
                              const std::filesystem::path& root,
                              const HeldoutOptions& options = {});

/// Whether the model copies from its memory: each file of in_context_copy's, its first
/// window scored with a memory that holds the whole file (as the project's other files are
/// held when bits_per_byte reads them) and with none. The mean loss per token of both; a
/// model that reads its memory predicts the window almost for free from it.
struct MemoryCopy {
  double with_memory_nats = 0, without_memory_nats = 0;
  std::int64_t windows = 0;
  nlohmann::json to_json() const;
};
MemoryCopy memory_copy(const TrainingModel& model, const Tokenizer& tokenizer,
                       const std::filesystem::path& root, const TrainingMemoryConfig& memory,
                       const HeldoutOptions& options = {});

}  // namespace mnemo::model::training
