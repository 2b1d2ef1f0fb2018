// Scaled dot-product attention that returns, beside its output, the log-sum-exp of each
// query's scores. Attention over several key/value sources (the local window, memory
// tiers, memory shards) is then combined exactly with merge_attention, as in split-K /
// flash-decoding (DESIGN.md §2).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mnemo::model {

/// o: [H, T, D] softmax-weighted values; lse: [H, T] log of each softmax denominator.
struct AttentionOutput {
  at::Tensor o;
  at::Tensor lse;
};

/// Whether the caller merges this attention with other sources (and needs each query's
/// log-sum-exp) or only reads o (a prefill's local attention): kSkip leaves lse undefined
/// and saves two passes over the scores.
enum class Lse { kKeep, kSkip };

/// q: [H, T, D]; k, v: [Hkv, S, D] with H a multiple of Hkv (grouped-query attention: query
/// head h reads key/value head h / (H / Hkv)). Query t sits at key position
/// `causal_offset + t` and sees keys 0..causal_offset + t; a negative offset means no mask
/// (every query sees every key). `scale` multiplies the scores (usually 1/sqrt(D)).
/// On the CPU, small problems (decoding) run a fused loop; everything else, and every
/// other device, the batched matmuls of attention_reference.
AttentionOutput attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          std::int64_t causal_offset, double scale, Lse lse = Lse::kKeep);
/// attention() into preallocated o [H, T, D] and lse [H, T] (contiguous), with `scores` a
/// scratch buffer the caller keeps: on the CPU it allocates nothing once `scores` holds S
/// floats. It always runs the fused loop there (decoding one token is small work).
void attention_into(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    std::int64_t causal_offset, double scale, at::Tensor& o, at::Tensor& lse,
                    std::vector<float>& scores);
AttentionOutput attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    std::int64_t causal_offset, double scale, Lse lse = Lse::kKeep);

/// The exact softmax over the union of the sources' keys:
/// lse = log Σ exp(lse_s), o = Σ exp(lse_s − lse) · o_s.
AttentionOutput merge_attention(const std::vector<AttentionOutput>& sources);

}  // namespace mnemo::model
