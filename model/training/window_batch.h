// Windows as the model takes them, shared by training and held-out evaluation: a batch of
// windows as a tensor, and a file's windows encoded into the memory.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/training/training_corpus.h"
#include "model/training/training_memory.h"
#include "model/training/training_model.h"

namespace mnemo::model::training {

/// The windows in passes of at most `per_pass` (a forward pass's batch), in order.
std::vector<std::vector<Window>> passes(const std::vector<Window>& windows, std::int64_t per_pass);

/// [B, length + 1] int64: the windows' tokens.
at::Tensor batch_tensor(const std::vector<Window>& windows);

/// The loss targets of a batch: tokens 1.. of each window, -100 where it is padding.
at::Tensor batch_targets(const at::Tensor& batch, const std::vector<Window>& windows);

/// Appends a file's plain windows to the memory: the keys and values of their real tokens,
/// from a pass that reads no memory (TrainingModel::encode), as the indexer encodes a file.
void remember(const TrainingModel& model, TrainingMemory& memory,
              const std::vector<Window>& windows);

}  // namespace mnemo::model::training
