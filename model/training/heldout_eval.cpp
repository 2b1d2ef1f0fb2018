#include "model/training/heldout_eval.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>

#include "model/training/window_batch.h"

namespace mnemo::model::training {
namespace fs = std::filesystem;

namespace {

/// Per project, the tokens of its first files in memory order until max_bytes_per_project
/// is reached (the file that reaches it included), as both measures read them.
std::vector<std::vector<FileTokens>> heldout_files(const Tokenizer& tokenizer, const fs::path& root,
                                                   const HeldoutOptions& options) {
  const auto end = tokenizer.special().eos.value_or(0);
  std::vector<std::vector<FileTokens>> out;
  for (const Project& project : list_projects(root)) {
    std::vector<FileTokens>& files = out.emplace_back();
    std::int64_t project_bytes = 0;
    for (const std::string& file : project.files) {
      if (project_bytes >= options.max_bytes_per_project) break;
      files.push_back(file_tokens(tokenizer, root / project.name / file, end));
      project_bytes += files.back().bytes;
    }
  }
  return out;
}

/// The summed loss in nats of `part`'s scored targets, the memory read when there is one.
double summed_nats(const TrainingModel& model, const std::vector<Window>& part,
                   const TrainingMemory* memory, MemoryTap* tap = nullptr) {
  const at::Tensor batch = batch_tensor(part);
  const at::Tensor targets = batch_targets(batch, part).to(model.device());
  const at::Tensor logits = model.forward(batch.narrow(1, 0, model.shape().context), memory, tap);
  return at::cross_entropy_loss(logits.to(at::kFloat).flatten(0, 1), targets.flatten(), {},
                                at::Reduction::Sum, -100)
      .item<double>();
}

}  // namespace

nlohmann::json BitsPerByte::to_json() const {
  return {{"bits_per_byte", bits_per_byte},
          {"tokens", tokens},
          {"bytes", bytes},
          {"files", files},
          {"projects", projects},
          {"memory_attention_share", memory_attention_share}};
}

BitsPerByte bits_per_byte(const TrainingModel& model, const Tokenizer& tokenizer,
                          const fs::path& root, const TrainingMemoryConfig* memory_config,
                          const HeldoutOptions& options) {
  at::NoGradGuard no_grad;
  const std::int64_t T = model.shape().context;
  const auto end = tokenizer.special().eos.value_or(0);
  BitsPerByte out;
  double nats = 0;
  std::vector<double> share_sums;
  double share_tokens = 0;
  for (const std::vector<FileTokens>& project : heldout_files(tokenizer, root, options)) {
    std::optional<TrainingMemory> memory;
    if (memory_config != nullptr) memory.emplace(*memory_config, model.shape().config());
    for (const FileTokens& tokens : project) {
      const std::vector<Window> windows = plain_windows(tokens.tokens, T, end);
      for (const std::vector<Window>& part : passes(windows, options.max_windows)) {
        MemoryTap tap;
        nats += summed_nats(model, part, memory ? &*memory : nullptr, &tap);
        const at::Tensor scored =  // [B, T, 1]
            batch_targets(batch_tensor(part), part)
                .ne(-100)
                .to(model.device(), at::kFloat)
                .unsqueeze(-1);
        share_sums.resize(tap.memory_share.size());
        for (std::size_t l = 0; l < tap.memory_share.size(); ++l)
          share_sums[l] += (tap.memory_share[l] * scored).mean(-1).sum().item<double>();
        if (!tap.memory_share.empty()) share_tokens += scored.sum().item<double>();
        for (const Window& w : part) out.tokens += w.valid;
      }
      if (memory) remember(model, *memory, windows);
      out.bytes += tokens.bytes;
      ++out.files;
    }
    ++out.projects;
  }
  out.bits_per_byte = out.bytes > 0 ? nats / std::log(2.0) / static_cast<double>(out.bytes) : 0;
  for (const double sum : share_sums) out.memory_attention_share.push_back(sum / share_tokens);
  return out;
}

nlohmann::json InContextCopy::to_json() const {
  return {{"first_nats", first_nats}, {"repeated_nats", repeated_nats}, {"windows", windows}};
}

InContextCopy in_context_copy(const TrainingModel& model, const Tokenizer& tokenizer,
                              const fs::path& root, const HeldoutOptions& options) {
  at::NoGradGuard no_grad;
  const std::int64_t T = model.shape().context;
  const auto end = tokenizer.special().eos.value_or(0);
  std::vector<Window> windows;
  for (const std::vector<FileTokens>& project : heldout_files(tokenizer, root, options)) {
    for (const FileTokens& tokens : project) {
      const std::vector<Window> plain = plain_windows(tokens.tokens, T, end);
      if (!plain.empty() && plain.front().valid >= 16)
        windows.push_back(repeated_window(plain.front(), T, end));
    }
  }
  InContextCopy out;
  double first = 0, repeated = 0;
  std::int64_t first_n = 0, repeated_n = 0;
  for (const std::vector<Window>& part : passes(windows, options.max_windows)) {
    const at::Tensor batch = batch_tensor(part);
    const at::Tensor targets = batch_targets(batch, part).to(model.device());
    const at::Tensor logits = model.forward(batch.narrow(1, 0, T), nullptr);
    const at::Tensor losses =
        at::cross_entropy_loss(logits.to(at::kFloat).flatten(0, 1), targets.flatten(), {},
                               at::Reduction::None, -100)
            .view({static_cast<std::int64_t>(part.size()), T})
            .cpu();
    for (std::size_t b = 0; b < part.size(); ++b) {
      // Targets 0 .. half-2 predict the first copy's tokens 1 .. half-1; target half-1 is
      // the repeat's first token; targets half .. 2·half-2 predict the rest of the repeat.
      const std::int64_t half = (part[b].valid + 1) / 2;
      const at::Tensor row = losses[static_cast<std::int64_t>(b)];
      first += row.narrow(0, 0, half - 1).sum().item<double>();
      repeated += row.narrow(0, half, half - 1).sum().item<double>();
      first_n += half - 1;
      repeated_n += half - 1;
    }
    out.windows += static_cast<std::int64_t>(part.size());
  }
  out.first_nats = first_n > 0 ? first / static_cast<double>(first_n) : 0;
  out.repeated_nats = repeated_n > 0 ? repeated / static_cast<double>(repeated_n) : 0;
  return out;
}

nlohmann::json MemoryCopy::to_json() const {
  return {{"with_memory_nats", with_memory_nats},
          {"without_memory_nats", without_memory_nats},
          {"windows", windows}};
}

MemoryCopy memory_copy(const TrainingModel& model, const Tokenizer& tokenizer, const fs::path& root,
                       const TrainingMemoryConfig& memory_config, const HeldoutOptions& options) {
  at::NoGradGuard no_grad;
  const std::int64_t T = model.shape().context;
  const auto end = tokenizer.special().eos.value_or(0);
  MemoryCopy out;
  double with = 0, without = 0;
  std::int64_t scored = 0;
  for (const std::vector<FileTokens>& project : heldout_files(tokenizer, root, options)) {
    for (const FileTokens& tokens : project) {
      const std::vector<Window> windows = plain_windows(tokens.tokens, T, end);
      if (windows.empty() || windows.front().valid < 16) continue;
      TrainingMemory memory(memory_config, model.shape().config());
      remember(model, memory, windows);
      const std::vector<Window> first{windows.front()};
      with += summed_nats(model, first, &memory);
      without += summed_nats(model, first, nullptr);
      scored += windows.front().valid;
      ++out.windows;
    }
  }
  out.with_memory_nats = scored > 0 ? with / static_cast<double>(scored) : 0;
  out.without_memory_nats = scored > 0 ? without / static_cast<double>(scored) : 0;
  return out;
}

}  // namespace mnemo::model::training
