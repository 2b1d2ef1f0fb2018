// attention() against a plain softmax reference, and the log-sum-exp merge of several key
// sources against attention over all of them (the property the long-term memory relies on).
#include "model/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

namespace mnemo::model {
namespace {

/// Softmax attention written out: repeat the key/value heads, mask, softmax, weight.
at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     std::int64_t offset, double scale) {
  const auto group = q.size(0) / k.size(0);
  const at::Tensor kk = k.repeat_interleave(group, 0), vv = v.repeat_interleave(group, 0);
  at::Tensor scores = at::matmul(q, kk.transpose(1, 2)) * scale;
  if (offset >= 0) {
    for (std::int64_t t = 0; t < q.size(1); ++t) {
      for (std::int64_t s = offset + t + 1; s < k.size(1); ++s) {
        scores.select(1, t).select(1, s).fill_(-INFINITY);
      }
    }
  }
  return at::matmul(at::softmax(scores, -1), vv);
}

TEST(Attention, GroupedCausalAttentionMatchesThePlainSoftmax) {
  at::manual_seed(1);
  const at::Tensor q = at::randn({8, 5, 16}), k = at::randn({2, 12, 16}),
                   v = at::randn({2, 12, 16});
  const AttentionOutput out = attention(q, k, v, /*causal_offset=*/7, 0.25);
  EXPECT_TRUE(at::allclose(out.o, reference(q, k, v, 7, 0.25), 1e-5, 1e-5));
  // lse is the log of the softmax denominator over the visible keys.
  const at::Tensor scores = at::matmul(q, k.repeat_interleave(4, 0).transpose(1, 2)) * 0.25;
  const at::Tensor first_query = scores.select(1, 0).narrow(1, 0, 8);  // sees keys 0..7
  EXPECT_TRUE(at::allclose(out.lse.select(1, 0), at::logsumexp(first_query, -1), 1e-5, 1e-5));
}

TEST(Attention, TheBatchedMatmulsMaskExactlyTheKeysPastEachQueryWithOrWithoutLse) {
  at::manual_seed(4);
  const at::Tensor q = at::randn({6, 7, 16}), k = at::randn({3, 20, 16}),
                   v = at::randn({3, 20, 16});
  // A prefill chunk (its keys end at its last query), keys past the chunk, the first chunk,
  // a query past every key, and no mask.
  for (const auto& [offset, keys] : std::vector<std::pair<std::int64_t, std::int64_t>>{
           {13, 20}, {3, 20}, {0, 7}, {19, 20}, {-1, 20}}) {
    const at::Tensor kk = k.narrow(1, 0, keys), vv = v.narrow(1, 0, keys);
    const AttentionOutput kept = attention_reference(q, kk, vv, offset, 0.3);
    EXPECT_TRUE(at::allclose(kept.o, reference(q, kk, vv, offset, 0.3), 1e-5, 1e-5))
        << "offset " << offset << ", keys " << keys;
    const AttentionOutput skipped = attention_reference(q, kk, vv, offset, 0.3, Lse::kSkip);
    EXPECT_TRUE(at::equal(skipped.o, kept.o));
    EXPECT_FALSE(skipped.lse.defined());
  }
}

// LibTorch 1.13's CPU baddbmm with beta = 0 leaves part of a small output unwritten
// (valgrind: uninitialised reads for [4, 1, 8] x [4, 8, 7]); the scores then held whatever
// the allocator handed back. Freed NaN blocks of the scores' size make that visible.
TEST(Attention, ScoresDoNotDependOnWhatTheAllocatorHandsBack) {
  at::manual_seed(5);
  const double scale = 1 / std::sqrt(8.0);
  for (const std::int64_t keys : {1, 7, 8, 33, 100}) {
    const at::Tensor q = at::randn({4, 1, 8}), k = at::randn({4, keys, 8}),
                     v = at::randn({4, keys, 8});
    {
      std::vector<at::Tensor> poison;
      for (int i = 0; i < 64; ++i) poison.push_back(at::full({4, 1, keys}, NAN));
    }
    const AttentionOutput out = attention_reference(q, k, v, -1, scale);
    EXPECT_TRUE(at::allclose(out.o, reference(q, k, v, -1, scale), 1e-5, 1e-5)) << keys;
    EXPECT_TRUE(at::isfinite(out.lse).all().item<bool>()) << keys;
  }
}

TEST(Attention, MergingSourcesEqualsAttendingOverAllKeys) {
  at::manual_seed(2);
  const at::Tensor q = at::randn({4, 3, 32}), k = at::randn({2, 40, 32}) * 3,
                   v = at::randn({2, 40, 32});
  const AttentionOutput whole = attention(q, k, v, /*causal_offset=*/-1, 1 / std::sqrt(32.0));
  std::vector<AttentionOutput> parts;
  for (std::int64_t start : {0, 9, 30}) {
    const std::int64_t len = start == 0 ? 9 : start == 9 ? 21 : 10;
    parts.push_back(
        attention(q, k.narrow(1, start, len), v.narrow(1, start, len), -1, 1 / std::sqrt(32.0)));
  }
  const AttentionOutput merged = merge_attention(parts);
  EXPECT_TRUE(at::allclose(merged.o, whole.o, 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(merged.lse, whole.lse, 1e-5, 1e-5));
}

TEST(Attention, FusedCpuLoopMatchesTheBatchedMatmulsOnEveryLayout) {
  at::manual_seed(3);
  const at::Tensor q = at::randn({4, 3, 16});
  // Keys as the KV cache holds them (positions adjacent) and as plain rows.
  const at::Tensor k_transposed = at::randn({2, 16, 20}).transpose(1, 2);
  const at::Tensor k_rows = at::randn({2, 20, 16});
  const at::Tensor v = at::randn({2, 20, 16});
  for (const at::Tensor& k : {k_transposed, k_rows}) {
    for (std::int64_t offset : {-1, 0, 10, 17}) {
      const AttentionOutput fused = attention(q, k, v, offset, 0.3);
      const AttentionOutput ref = attention_reference(q, k, v, offset, 0.3);
      EXPECT_TRUE(at::allclose(fused.o, ref.o, 1e-5, 1e-5)) << "offset " << offset;
      EXPECT_TRUE(at::allclose(fused.lse, ref.lse, 1e-5, 1e-5)) << "offset " << offset;
    }
  }
}

}  // namespace
}  // namespace mnemo::model
