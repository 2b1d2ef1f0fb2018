// What a layer's attention reads besides its local window: a memory source answers one
// decoding step's queries with (o, lse), which merge_attention() combines exactly with the
// local window and with other sources (DESIGN.md §2). A source may also keep the model's
// final state at every stored token with the token that followed it, and answer what
// follows a decoding step's state by the tokens that followed the nearest stored states
// (kNN-LM, Khandelwal et al. 2020, arXiv 1911.00172): a recall of the repository's text
// that does not depend on the model having learned to copy out of its memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/attention.h"

namespace mnemo::model::memory {

/// What a source chose to read for one layer's query, kept by a caller that decodes several
/// tokens in a row (MemoryQuery::choice). Opaque: each source keeps its own kind.
class MemoryChoice {
 public:
  virtual ~MemoryChoice() = default;
};

struct MemoryQuery {
  std::size_t layer = 0;  ///< which memory layer (index among the memory layers)
  /// [H, D] the queries before RoPE: block selection is position-free, like the stored keys.
  at::Tensor q_raw;
  /// [H, D] the queries as the local attention uses them (rotated to their position).
  at::Tensor q_rot;
  /// Position of the first token of the local window; retrieved tokens are rotated to the
  /// positions just before it.
  std::int64_t window_start = 0;
  /// Multiplies q·k (usually 1/sqrt(D)).
  double scale = 1.0;
  /// Null: the source chooses what to read for this query. Otherwise the caller's slot for
  /// this layer: when it holds a choice the source made for this layer, and the memory has
  /// not changed since, attend() reads the same again (chosen by an earlier query: consecutive
  /// queries share their blocks, as the model is trained to read them); when it is empty or
  /// stale, attend() chooses for this query and leaves its choice there.
  std::unique_ptr<MemoryChoice>* choice = nullptr;
};

/// What the memory says follows one decoding step: the tokens that followed the stored states
/// nearest to the step's, each with its share (the shares sum to 1). Empty: nothing to say.
struct NextTokenVotes {
  std::vector<std::int32_t> tokens;
  std::vector<float> shares;
};

struct NextTokenQuery {
  /// [E] the step's final normed state, which the output projection turns into logits.
  at::Tensor state;
  /// As MemoryQuery::choice: the caller's slot for what the source read, which the next
  /// step starts from (its nearest states mostly follow this step's) until the memory
  /// changes.
  std::unique_ptr<MemoryChoice>* choice = nullptr;
  /// The token whose state this is (the step's input), or -1. With a kept choice, the
  /// stored states that voted for it last step lead to their successors.
  std::int32_t token = -1;
};

/// Thread-safety: attend() may run concurrently with other attend() calls; changing the
/// memory (adding or removing files) needs exclusive access, as each implementation states.
class MemorySource {
 public:
  virtual ~MemorySource() = default;
  /// o: [H, 1, D], lse: [H, 1]. A memory with nothing in it returns lse = -inf and o = 0, so
  /// merging it changes nothing.
  virtual AttentionOutput attend(const MemoryQuery& query) const = 0;
  /// The votes for the token after `query.state`; none from a source that keeps no states.
  virtual NextTokenVotes next_token(const NextTokenQuery& query) const {
    (void)query;
    return {};
  }
};

}  // namespace mnemo::model::memory
