// The training loop of mnemo's own model (`mnemo train`): projects in a seeded
// order; within a project, its files in memory order, each trained on with the memory of
// the project's earlier files (no gradient through the memory), then encoded into it.
// Half the windows (fim_rate) are fill-in-the-middle. AdamW with linear warm-up and a
// cosine decay over the planned tokens, gradient clipping, bfloat16 autocast for the
// matrix products. A checkpoint (the weights, the optimizer's moments and where the data
// stood, one safetensors file) is written every few minutes and at the end, so a run can be
// stopped at any time and the next one continues where it stopped; the loss goes to a
// JSON-lines log.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/training/training_memory.h"
#include "model/training/training_model.h"

namespace mnemo::model::training {

struct TrainOptions {
  std::filesystem::path corpus;         ///< a folder of projects (the training split)
  std::filesystem::path tokenizer_dir;  ///< tokenizer.json (mnemo train-tokenizer)
  std::filesystem::path out;            ///< checkpoint, log and the exported model
  ModelShape shape;                     ///< vocab comes from the tokenizer
  /// The layers that read the memory; empty: those of the model init_from names (its
  /// config.json, read on resume too), else default_memory_layers.
  std::vector<std::size_t> memory_layers;
  std::int64_t memory_top_k = 8;
  std::int64_t memory_block = 64;
  std::int64_t memory_query_group = 16;      ///< see TrainingMemoryConfig::query_group
  std::int64_t max_memory_tokens = 1 << 20;  ///< a project's memory stops growing there
  std::uint64_t seed = 1;
  std::int64_t planned_tokens = 35'000'000;  ///< the schedule's length (trained tokens)
  std::int64_t batch_tokens = 16384;         ///< per optimizer step
  std::int64_t max_windows = 8;              ///< windows per forward pass
  /// Threads a forward pass's windows are shared among (each running ATen on one core). Not
  /// an option a checkpoint must match: another count resumes a run equal up to rounding.
  std::int64_t threads = 2;
  std::int64_t warmup_tokens = 1'000'000;
  double lr = 2e-3, min_lr_ratio = 0.1, weight_decay = 0.1;
  double beta1 = 0.9, beta2 = 0.95, grad_clip = 1.0;
  double fim_rate = 0.5;
  /// Share of files that the memory already holds when they are trained on (the file itself,
  /// put in before its turn instead of after): the cheapest lesson in finding and copying
  /// from the memory, which real code teaches only faintly (a header's prototype before the
  /// definition, a name used across files).
  double memory_copy_rate = 0;
  /// Share of the plain (not fill-in-the-middle) windows that carry a copy of a slice of
  /// their own text (inserted_copy_window): the lesson in copying code from the context.
  /// Held-out evaluation's in_context_copy says whether the model has it.
  double repeat_rate = 0;
  /// Share of the plain windows replaced by random tokens repeated (random_repeated_window):
  /// copying and nothing else. Drawn after repeat_rate's windows are, among the rest.
  double copy_lesson_rate = 0;
  /// Those lessons' spans and gaps, scaled (random_repeated_window's `scale`).
  double copy_lesson_scale = 1;
  /// The ids each lesson draws from (random_repeated_window's `alphabet`).
  std::int64_t copy_lesson_alphabet = 4096;
  /// Share of files trained on with renamed_identifiers(text, ·, 0.5): half of their
  /// repeated names made unique by random suffixes, the lesson in copying a whole name. The
  /// memory holds a file as it was trained on.
  double rename_rate = 0;
  /// bfloat16 autocast for the matrix products on a CPU; on a GPU the products take
  /// TensorFloat-32 instead (what was measured to be fast there) and this changes nothing.
  bool bf16 = true;
  /// Where the weights, the optimizer and the memory live (a CUDA device where there is one).
  /// Not an option a checkpoint must match: a run may go on on another device.
  at::Device device = at::kCPU;
  double max_minutes = 0;      ///< this run's limit; 0: until planned_tokens
  std::int64_t max_steps = 0;  ///< this run stops at the first file boundary after so many steps
  double checkpoint_minutes = 10;
  /// Held-out projects (scripts/make-corpus.py's heldout/): after the run, bits per byte on
  /// each one's first heldout_bytes with the memory and without, into out/heldout.json.
  std::filesystem::path heldout;
  std::int64_t heldout_bytes = 64 * 1024;
  bool evaluate_only = false;  ///< no training: export and evaluate the checkpoint
  /// An earlier run's exported model folder whose weights start this run (instead of the
  /// seed's); the schedule, warm-up and data order begin anew and AdamW's moments at zero.
  /// Used only when out/ holds no checkpoint yet; the export records it as continued_from.
  std::filesystem::path init_from;
};

/// Where a run stands; saved with each checkpoint (with the gradients accumulated so far
/// toward the next step, so that a resumed run takes the same steps).
struct TrainState {
  std::int64_t step = 0, tokens = 0, epoch = 0, project = 0, file = 0;
  std::int64_t accumulated = 0;  ///< tokens whose gradients wait for the next step
  double loss_sum = 0;           ///< their summed loss
  double seconds = 0;            ///< training time over all runs
};

/// Trains (resuming from out/checkpoint.safetensors when it is there) until planned_tokens
/// or max_minutes, checkpoints, and exports the model to out/model. `progress` gets each
/// log line. An error message when the corpus, tokenizer or checkpoint cannot be used.
std::optional<std::string> train(const TrainOptions& options,
                                 const std::function<void(const std::string&)>& progress);

}  // namespace mnemo::model::training
