#include "model/transformer_session.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

namespace mnemo::model {
namespace {

/// Prompts are prefilled in chunks so the attention scores stay small ([H, chunk, S]).
constexpr std::size_t kPrefillChunk = 512;

}  // namespace

TransformerSession::TransformerSession(std::shared_ptr<const Transformer> model,
                                       std::size_t capacity)
    : model_(std::move(model)),
      cache_([&] {
        c10::InferenceMode guard;
        return KvCache(model_->config(), std::min(capacity, model_->max_positions()),
                       model_->options());
      }()),
      workspace_([&] {
        c10::InferenceMode guard;
        return model_->make_workspace(cache_.capacity());
      }()) {}

TransformerSession::TransformerSession(const TransformerSession& other)
    : model_(other.model_),
      cache_([&] {
        c10::InferenceMode guard;
        return other.cache_.clone();
      }()),
      workspace_([&] {
        c10::InferenceMode guard;
        return model_->make_workspace(cache_.capacity());
      }()),
      memory_(other.memory_),
      last_logits_(other.last_logits_.defined() ? other.last_logits_.clone() : at::Tensor()),
      logits_stale_(other.logits_stale_) {}

Result<at::Tensor, ModelError> TransformerSession::run(const Tokens& tokens, bool all_logits) {
  if (tokens.empty()) return ModelError{"no tokens to run"};
  if (cache_.size() + tokens.size() > cache_.capacity()) {
    return ModelError{"the sequence would hold " + std::to_string(cache_.size() + tokens.size()) +
                      " tokens; this session holds at most " + std::to_string(cache_.capacity())};
  }
  const auto n_vocab = static_cast<TokenId>(model_->config().n_vocab);
  for (TokenId id : tokens) {
    if (id < 0 || id >= n_vocab)
      return ModelError{"token id " + std::to_string(id) + " out of range"};
  }
  c10::InferenceMode guard;
  try {
    const bool reads_memory = memory_.source != nullptr && !all_logits;
    // Decoding one token on the CPU: the preallocated workspace, no tensor storage created.
    if (tokens.size() == 1 && !all_logits && model_->options().device().is_cpu()) {
      if (reads_memory && steps_on_choice_++ % memory_.tokens_per_choice == 0)
        workspace_.memory_choices.clear();
      const at::Tensor& logits =
          model_->decode(tokens[0], cache_, workspace_, reads_memory ? &memory_ : nullptr);
      ++n_evaluated_;
      last_logits_ = logits[0];
      logits_stale_ = false;
      return logits;
    }
    // With a memory, the last token goes through decode() (above), which reads it.
    const std::size_t batched = reads_memory ? tokens.size() - 1 : tokens.size();
    std::vector<at::Tensor> outputs;
    for (std::size_t start = 0; start < batched; start += kPrefillChunk) {
      const std::size_t end = std::min(batched, start + kPrefillChunk);
      const Tokens chunk(tokens.begin() + static_cast<std::ptrdiff_t>(start),
                         tokens.begin() + static_cast<std::ptrdiff_t>(end));
      at::Tensor logits = model_->forward(chunk, cache_, all_logits || end == tokens.size());
      n_evaluated_ += chunk.size();
      if (all_logits || end == tokens.size()) outputs.push_back(std::move(logits));
    }
    if (batched < tokens.size()) return run(Tokens{tokens.back()}, /*all_logits=*/false);
    at::Tensor logits = outputs.size() == 1 ? outputs.front() : at::cat(outputs);
    last_logits_ = logits[-1].to(at::kCPU, at::kFloat).contiguous();
    logits_stale_ = false;
    return logits;
  } catch (const c10::Error& e) {
    logits_stale_ = true;  // the cache holds what was committed, each with its token
    return ModelError{std::string("forward pass failed: ") + e.what_without_backtrace()};
  } catch (const std::exception& e) {  // a memory source's own failure
    logits_stale_ = true;
    return ModelError{std::string("forward pass failed: ") + e.what()};
  }
}

Result<bool, ModelError> TransformerSession::set_memory(MemoryReader memory) {
  if (memory.source != nullptr && !model_->options().device().is_cpu())
    return ModelError{"the long-term memory is read on the CPU only"};
  memory_ = std::move(memory);
  memory_.tokens_per_choice = std::max<std::size_t>(1, memory_.tokens_per_choice);
  forget_memory_choices();
  return true;
}

Result<LogitsView, ModelError> TransformerSession::append(const Tokens& tokens) {
  auto r = run(tokens, /*all_logits=*/false);
  if (!r) return r.error();
  return LogitsView{last_logits_.data_ptr<float>(), static_cast<std::size_t>(last_logits_.numel())};
}

Result<at::Tensor, ModelError> TransformerSession::append_all_logits(const Tokens& tokens) {
  return run(tokens, /*all_logits=*/true);
}

Result<LogitsView, ModelError> TransformerSession::reset_to(const Tokens& tokens) {
  if (tokens.empty()) return ModelError{"reset_to needs at least one token"};
  const Tokens& cached = cache_.tokens();
  const auto mismatch = std::mismatch(cached.begin(), cached.end(), tokens.begin(), tokens.end());
  std::size_t shared = static_cast<std::size_t>(mismatch.first - cached.begin());
  if (shared == tokens.size() && shared == cached.size() && !logits_stale_) {
    return LogitsView{last_logits_.data_ptr<float>(),
                      static_cast<std::size_t>(last_logits_.numel())};
  }
  // The last token must run again to produce its logits.
  shared = std::min(shared, tokens.size() - 1);
  truncate(shared);
  return append(Tokens(tokens.begin() + static_cast<std::ptrdiff_t>(shared), tokens.end()));
}

void TransformerSession::forget_memory_choices() {
  workspace_.memory_choices.clear();
  steps_on_choice_ = 0;
}

void TransformerSession::truncate(std::size_t n) {
  if (n >= cache_.size()) return;
  forget_memory_choices();
  cache_.truncate(n);
  logits_stale_ = true;
}

std::unique_ptr<ModelSession> TransformerSession::fork() const {
  return std::unique_ptr<ModelSession>(new TransformerSession(*this));
}

}  // namespace mnemo::model
