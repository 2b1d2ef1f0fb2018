#include "model/attention.h"

#include <ATen/ATen.h>

namespace mnemo::model {

AttentionOutput attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          std::int64_t causal_offset, double scale) {
  const std::int64_t h = q.size(0), t = q.size(1), d = q.size(2);
  const std::int64_t h_kv = k.size(0), s = k.size(1);
  const std::int64_t group = h / h_kv;
  // Query heads of one key/value head are adjacent, so a view groups them: [Hkv, G*T, D].
  const at::Tensor qg = q.reshape({h_kv, group * t, d});
  at::Tensor scores = at::bmm(qg, k.transpose(1, 2)).mul_(scale);  // [Hkv, G*T, S]
  // Decoding one token at the end of the keys needs no mask.
  if (causal_offset >= 0 && !(t == 1 && causal_offset + 1 >= s)) {
    const at::Tensor query_pos =
        at::arange(causal_offset, causal_offset + t, q.options().dtype(at::kLong));
    const at::Tensor key_pos = at::arange(s, q.options().dtype(at::kLong));
    const at::Tensor hidden = key_pos.unsqueeze(0) > query_pos.unsqueeze(1);  // [T, S]
    scores.view({h_kv, group, t, s}).masked_fill_(hidden, -std::numeric_limits<float>::infinity());
  }
  at::Tensor lse = at::logsumexp(scores, -1, /*keepdim=*/true);  // [Hkv, G*T, 1]
  scores.sub_(lse).exp_();
  at::Tensor o = at::bmm(scores, v);  // [Hkv, G*T, D]
  return {o.view({h, t, d}), lse.view({h, t})};
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
