#include "model/attention.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace mnemo::model {

AttentionOutput attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    std::int64_t causal_offset, double scale, Lse lse_wanted) {
  const std::int64_t h = q.size(0), t = q.size(1), d = q.size(2);
  const std::int64_t h_kv = k.size(0), s = k.size(1);
  const std::int64_t group = h / h_kv;
  // Query heads of one key/value head are adjacent, so a view groups them: [Hkv, G*T, D].
  const at::Tensor qg = q.reshape({h_kv, group * t, d});
  // The scale goes on the queries (T x D multiplies, not T x S). Not baddbmm's alpha: with
  // beta = 0, LibTorch 1.13's CPU baddbmm leaves part of its output unwritten.
  at::Tensor scores = at::bmm(qg * scale, k.transpose(1, 2));  // [Hkv, G*T, S]
  // Only keys past the first query's position can be hidden: the mask covers those columns
  // (in a prefill chunk, the last T - 1), not all S. Decoding one token at the end of the
  // keys needs none.
  const std::int64_t first_hidden = std::max<std::int64_t>(0, causal_offset + 1);
  if (causal_offset >= 0 && first_hidden < s) {
    const at::Tensor query_pos =
        at::arange(causal_offset, causal_offset + t, q.options().dtype(at::kLong));
    const at::Tensor key_pos = at::arange(first_hidden, s, q.options().dtype(at::kLong));
    const at::Tensor hidden = key_pos.unsqueeze(0) > query_pos.unsqueeze(1);  // [T, S - first]
    scores.view({h_kv, group, t, s})
        .narrow(3, first_hidden, s - first_hidden)
        .masked_fill_(hidden, -std::numeric_limits<float>::infinity());
  }
  const at::Tensor probs = at::softmax(scores, -1);
  at::Tensor o = at::bmm(probs, v);  // [Hkv, G*T, D]
  if (lse_wanted == Lse::kSkip) return {o.view({h, t, d}), at::Tensor()};
  // softmax is one fused op; the log-sum-exp follows from the largest score m and its
  // probability p_max = exp(m - lse) >= 1/S, so the log is well conditioned.
  const at::Tensor lse = at::amax(scores, -1, /*keepdim=*/true)
                             .sub_(at::amax(probs, -1, /*keepdim=*/true).log_());  // [Hkv, G*T, 1]
  return {o.view({h, t, d}), lse.view({h, t})};
}

namespace {

/// One query against keys 0..n_keys-1 of one key/value head. `scores` has room for
/// n_keys floats. Keys are read with their strides: when positions are adjacent (the KV
/// cache stores keys transposed) the dot products run along positions, which vectorizes.
void attend_one(const float* q, std::int64_t q_stride, const float* k, std::int64_t k_pos_stride,
                std::int64_t k_dim_stride, const float* v, std::int64_t v_pos_stride,
                std::int64_t v_dim_stride, std::int64_t n_keys, std::int64_t d, float scale,
                float* scores, float* o, std::int64_t o_stride, float* lse) {
  if (k_pos_stride == 1) {
    std::fill(scores, scores + n_keys, 0.0f);
    for (std::int64_t j = 0; j < d; ++j) {
      const float qj = q[j * q_stride] * scale;
      const float* kj = k + j * k_dim_stride;
      for (std::int64_t s = 0; s < n_keys; ++s) scores[s] += qj * kj[s];
    }
  } else {
    for (std::int64_t s = 0; s < n_keys; ++s) {
      const float* ks = k + s * k_pos_stride;
      float dot = 0;
      for (std::int64_t j = 0; j < d; ++j) dot += q[j * q_stride] * ks[j * k_dim_stride];
      scores[s] = dot * scale;
    }
  }
  const float m = *std::max_element(scores, scores + n_keys);
  double sum = 0;
  for (std::int64_t s = 0; s < n_keys; ++s) {
    scores[s] = std::exp(scores[s] - m);
    sum += scores[s];
  }
  const auto inv = static_cast<float>(1.0 / sum);
  for (std::int64_t j = 0; j < d; ++j) o[j * o_stride] = 0;
  if (v_dim_stride == 1 && o_stride == 1) {
    for (std::int64_t s = 0; s < n_keys; ++s) {
      const float p = scores[s] * inv;
      const float* vs = v + s * v_pos_stride;
      for (std::int64_t j = 0; j < d; ++j) o[j] += p * vs[j];
    }
  } else {
    for (std::int64_t s = 0; s < n_keys; ++s) {
      const float p = scores[s] * inv;
      for (std::int64_t j = 0; j < d; ++j)
        o[j * o_stride] += p * v[s * v_pos_stride + j * v_dim_stride];
    }
  }
  *lse = m + static_cast<float>(std::log(sum));
}

/// Work (query heads x queries x keys x head dim) up to which the fused loop beats the
/// batched matmuls on the CPU (measured: equal at 4 x 1 x 200 x 64, matmuls 1.4x faster at
/// 9 x 1 x 200 x 64, fused 1.5x faster at head dim 16).
constexpr std::int64_t kFusedLimit = 1 << 16;

}  // namespace

namespace {

bool fusable(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return q.is_cpu() && q.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat &&
         v.scalar_type() == at::kFloat;
}

/// The fused loop into o [H, T, D] and lse [H, T] (both contiguous), with `scores` room for
/// S floats.
void attention_loop(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    std::int64_t causal_offset, double scale, at::Tensor& o, at::Tensor& lse,
                    float* scores) {
  const std::int64_t h = q.size(0), t = q.size(1), d = q.size(2);
  const std::int64_t s = k.size(1), group = h / k.size(0);
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  for (std::int64_t head = 0; head < h; ++head) {
    const std::int64_t kv = head / group;
    for (std::int64_t i = 0; i < t; ++i) {
      const std::int64_t n_keys = causal_offset < 0 ? s : std::min(s, causal_offset + i + 1);
      attend_one(qp + head * q.stride(0) + i * q.stride(1), q.stride(2), kp + kv * k.stride(0),
                 k.stride(1), k.stride(2), vp + kv * v.stride(0), v.stride(1), v.stride(2), n_keys,
                 d, static_cast<float>(scale), scores, o.data_ptr<float>() + (head * t + i) * d, 1,
                 lse.data_ptr<float>() + head * t + i);
    }
  }
}

}  // namespace

AttentionOutput attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          std::int64_t causal_offset, double scale, Lse lse_wanted) {
  const std::int64_t h = q.size(0), t = q.size(1), d = q.size(2), s = k.size(1);
  if (!fusable(q, k, v) || h * t * s * d > kFusedLimit) {
    return attention_reference(q, k, v, causal_offset, scale, lse_wanted);
  }
  at::Tensor o = at::empty({h, t, d}, q.options());
  at::Tensor lse = at::empty({h, t}, q.options());
  std::vector<float> scores(static_cast<std::size_t>(s));
  attention_loop(q, k, v, causal_offset, scale, o, lse, scores.data());
  return {o, lse};
}

void attention_into(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    std::int64_t causal_offset, double scale, at::Tensor& o, at::Tensor& lse,
                    std::vector<float>& scores) {
  if (!fusable(q, k, v) || !o.is_contiguous() || !lse.is_contiguous()) {
    const AttentionOutput out = attention_reference(q, k, v, causal_offset, scale);
    o.copy_(out.o);
    lse.copy_(out.lse);
    return;
  }
  if (scores.size() < static_cast<std::size_t>(k.size(1)))
    scores.resize(static_cast<std::size_t>(k.size(1)));
  attention_loop(q, k, v, causal_offset, scale, o, lse, scores.data());
}

AttentionOutput merge_attention(const std::vector<AttentionOutput>& sources) {
  std::vector<at::Tensor> lses;
  for (const auto& s : sources) lses.push_back(s.lse);
  const at::Tensor lse = at::logsumexp(at::stack(lses), 0);  // [H, T]
  at::Tensor o = at::zeros_like(sources.front().o);
  for (const auto& s : sources) o.add_(s.o * (s.lse - lse).exp().unsqueeze(-1));
  return {o, lse};
}

}  // namespace mnemo::model
