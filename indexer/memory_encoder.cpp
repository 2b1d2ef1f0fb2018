#include "indexer/memory_encoder.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "model/kv_cache.h"

namespace mnemo::indexer {
namespace {

/// [n] int32: each token's successor, -1 after the last.
at::Tensor next_tokens(const model::Tokens& tokens) {
  at::Tensor next = at::full({static_cast<std::int64_t>(tokens.size())}, -1, at::kInt);
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i)
    next.data_ptr<std::int32_t>()[i] = static_cast<std::int32_t>(tokens[i + 1]);
  return next;
}

}  // namespace

MemoryEncoder::MemoryEncoder(std::shared_ptr<const model::Transformer> transformer,
                             std::shared_ptr<const model::Tokenizer> tokenizer,
                             std::vector<std::size_t> memory_layers, std::size_t window,
                             std::size_t chunk, bool final_states)
    : transformer_(std::move(transformer)),
      tokenizer_(std::move(tokenizer)),
      layers_(std::move(memory_layers)),
      window_(std::min(window, transformer_->max_positions())),
      chunk_(std::max<std::size_t>(1, std::min(chunk, window_))),
      final_states_(final_states) {
  if (layers_.empty()) throw std::invalid_argument("MemoryEncoder: no memory layers");
  for (const std::size_t l : layers_) {
    if (l >= transformer_->config().n_layer)
      throw std::invalid_argument("MemoryEncoder: layer " + std::to_string(l) + " of a model of " +
                                  std::to_string(transformer_->config().n_layer) + " layers");
  }
  if (window_ == 0) throw std::invalid_argument("MemoryEncoder: an empty window");
}

model::Tokens MemoryEncoder::tokenize(std::string_view contents) const {
  return tokenizer_->encode(contents, /*add_special=*/false, /*parse_special=*/false);
}

FileMemory MemoryEncoder::encode(std::string_view contents) const {
  return encode_tokens(tokenize(contents));
}

FileMemory MemoryEncoder::reencode_tokens(const model::Tokens& tokens, const model::Tokens& before,
                                          const FileMemory& previous) const {
  const auto same =
      std::mismatch(tokens.begin(), tokens.end(), before.begin(), before.end()).first -
      tokens.begin();
  // The window holding the first difference starts the part read again.
  const auto keep = static_cast<std::int64_t>((static_cast<std::size_t>(same) / window_) * window_);
  if (keep == 0 || previous.tokens != static_cast<std::int64_t>(before.size()))
    return encode_tokens(tokens);
  const model::Tokens rest(tokens.begin() + keep, tokens.end());
  const FileMemory tail = encode_tokens(rest);
  FileMemory out;
  out.tokens = static_cast<std::int64_t>(tokens.size());
  out.keys = at::cat({previous.keys.narrow(2, 0, keep), tail.keys}, 2);
  out.values = at::cat({previous.values.narrow(2, 0, keep), tail.values}, 2);
  out.inputs = at::cat({previous.inputs.narrow(1, 0, keep), tail.inputs}, 1);
  if (final_states_) {
    out.states = at::cat({previous.states.narrow(0, 0, keep), tail.states});
    out.next = next_tokens(tokens);
  }
  out.tokens_read = tail.tokens_read;
  return out;
}

FileMemory MemoryEncoder::encode_tokens(const model::Tokens& tokens) const {
  const c10::InferenceMode guard;
  const model::ModelConfig& c = transformer_->config();
  const auto l = static_cast<std::int64_t>(layers_.size());
  const auto kv = static_cast<std::int64_t>(c.n_head_kv), d = static_cast<std::int64_t>(c.head_dim);
  const auto n = static_cast<std::int64_t>(tokens.size());
  FileMemory out;
  out.tokens = n;
  out.tokens_read = n;
  out.keys = at::empty({l, kv, n, d}, at::kFloat);
  out.values = at::empty({l, kv, n, d}, at::kFloat);
  out.inputs = at::empty({l, n, static_cast<std::int64_t>(c.n_embd)}, at::kFloat);
  if (final_states_) {
    out.states = at::empty({n, static_cast<std::int64_t>(c.n_embd)}, at::kFloat);
    out.next = next_tokens(tokens);
  }
  if (n == 0) return out;
  model::KvCache cache(c, std::min<std::size_t>(window_, tokens.size()), transformer_->options());
  model::KeyValueTap tap;
  tap.layers = layers_;
  tap.final_states = final_states_;
  for (std::size_t start = 0; start < tokens.size();) {
    if (start % window_ == 0) cache.truncate(0);  // a new window: a fresh context
    const std::size_t window_end = (start / window_ + 1) * window_;
    const std::size_t end = std::min({start + chunk_, tokens.size(), window_end});
    const model::Tokens piece(tokens.begin() + static_cast<std::ptrdiff_t>(start),
                              tokens.begin() + static_cast<std::ptrdiff_t>(end));
    transformer_->forward_tap(piece, cache, tap);
    const auto from = static_cast<std::int64_t>(start),
               len = static_cast<std::int64_t>(end - start);
    for (std::int64_t i = 0; i < l; ++i) {
      const auto li = static_cast<std::size_t>(i);
      out.keys[i].narrow(1, from, len).copy_(tap.keys[li]);
      out.values[i].narrow(1, from, len).copy_(tap.values[li]);
      out.inputs[i].narrow(0, from, len).copy_(tap.inputs[li]);
    }
    if (final_states_) out.states.narrow(0, from, len).copy_(tap.states);
    start = end;
  }
  return out;
}

}  // namespace mnemo::indexer
