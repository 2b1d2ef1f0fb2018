// The CUDA block kernels (model/memory/cuda) against the CPU ones (block_kernels.h), which
// are their reference: fresh random inputs, results compared as ‖cuda − cpu‖ / ‖cpu‖ (fp32
// storage ≪ 1e-3, fp16/bf16 storage ≤ 1e-2; both sides read the same stored values, so
// they agree far better). Skipped when no GPU is present, unless MNEMO_REQUIRE_CUDA is set
// (the GPU machine's script sets it, so a build that lost its CUDA backend fails instead).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "model/memory/block_kernels.h"
#include "model/memory/cuda/block_kernels_cuda.h"

namespace mnemo::model::memory {
namespace {

#define MNEMO_SKIP_WITHOUT_GPU()                                       \
  if (!at::hasCUDA()) {                                                \
    if (std::getenv("MNEMO_REQUIRE_CUDA")) FAIL() << "no CUDA device"; \
    GTEST_SKIP() << "no CUDA device";                                  \
  }

at::Device gpu() {
  return at::Device(at::kCUDA, 0);
}

/// ‖actual − expected‖ / ‖expected‖ over the entries where expected is finite; the
/// non-finite entries must be equal.
double relative_error(const at::Tensor& actual_in, const at::Tensor& expected_in) {
  const at::Tensor actual = actual_in.to(at::kCPU).to(at::kDouble);
  const at::Tensor expected = expected_in.to(at::kCPU).to(at::kDouble);
  EXPECT_EQ(actual.sizes(), expected.sizes());
  const at::Tensor finite = at::isfinite(expected);
  EXPECT_TRUE(at::equal(finite, at::isfinite(actual))) << "non-finite entries differ";
  EXPECT_TRUE(at::equal(expected.masked_select(finite.logical_not()),
                        actual.masked_select(finite.logical_not())))
      << "non-finite entries differ";
  const at::Tensor diff = (actual - expected).masked_fill(finite.logical_not(), 0.0);
  const double norm = expected.masked_fill(finite.logical_not(), 0.0).norm().item<double>();
  return diff.norm().item<double>() / (norm > 0.0 ? norm : 1.0);
}

double tolerance(at::ScalarType storage) {
  return storage == at::kFloat ? 1e-5 : 1e-2;
}

std::string name(at::ScalarType t) {
  return std::string(c10::toString(t));
}

const std::vector<at::ScalarType> kStorageTypes = {at::kFloat, at::kHalf, at::kBFloat16};

TEST(MemoryCudaTest, ScoreBlocksMatchesCpuRowMajor) {
  MNEMO_SKIP_WITHOUT_GPU();
  at::manual_seed(1);
  // H, Hkv, B, D: GQA groups of 1, 4 and 12 (more than one pass of 8 query heads).
  for (const auto& [h, h_kv, b, d] : std::vector<std::tuple<int, int, int, int>>{
           {4, 4, 1000, 64}, {8, 2, 4097, 64}, {12, 1, 333, 40}, {4, 2, 77, 256}}) {
    for (const at::ScalarType storage : kStorageTypes) {
      const at::Tensor q = at::randn({h, d});
      const at::Tensor reps = at::randn({h_kv, b, d}).to(storage);
      const at::Tensor expected = score_blocks(q, reps);
      const at::Tensor actual = cuda::score_blocks(q.to(gpu()), reps.to(gpu()));
      EXPECT_TRUE(actual.is_cuda());
      EXPECT_LT(relative_error(actual, expected), tolerance(storage))
          << "H=" << h << " Hkv=" << h_kv << " B=" << b << " D=" << d << " " << name(storage);
    }
  }
}

TEST(MemoryCudaTest, ScoreBlocksMatchesCpuDimensionMajor) {
  MNEMO_SKIP_WITHOUT_GPU();
  at::manual_seed(2);
  const std::int64_t h = 8, h_kv = 2, b = 3000, d = 64;
  for (const at::ScalarType storage : kStorageTypes) {
    const at::Tensor q = at::randn({h, d});
    // [Hkv, D, B] storage viewed as [Hkv, B, D]: stride 1 along blocks (ExactTier's layout).
    const at::Tensor reps = at::randn({h_kv, d, b}).to(storage).transpose(1, 2);
    ASSERT_EQ(reps.stride(1), 1);
    const at::Tensor expected = score_blocks(q, reps);
    const at::Tensor actual = cuda::score_blocks(
        q.to(gpu()), reps.to(gpu()).transpose(1, 2).contiguous().transpose(1, 2));
    EXPECT_LT(relative_error(actual, expected), tolerance(storage)) << name(storage);
  }
}

/// The selected scores of each row, sorted (the order within a row is unspecified).
at::Tensor selected_scores(const at::Tensor& scores, const at::Tensor& indices) {
  return std::get<0>(at::sort(scores.gather(1, indices.to(at::kCPU)), 1));
}

TEST(MemoryCudaTest, TopKBlocksMatchesCpu) {
  MNEMO_SKIP_WITHOUT_GPU();
  at::manual_seed(3);
  const std::int64_t h = 8;
  for (const std::int64_t b : {1, 17, 5000, 100000}) {
    for (const std::int64_t k : {1, 4, 16, 64, 300}) {
      const at::Tensor scores = at::randn({h, b});
      const at::Tensor expected = top_k_blocks(scores, k);
      const at::Tensor actual = cuda::top_k_blocks(scores.to(gpu()), k);
      ASSERT_EQ(actual.sizes(), expected.sizes()) << "B=" << b << " k=" << k;
      EXPECT_EQ(actual.scalar_type(), at::kLong);
      // Distinct random scores: the same sets of indices.
      EXPECT_TRUE(at::equal(std::get<0>(at::sort(actual.to(at::kCPU), 1)),
                            std::get<0>(at::sort(expected, 1))))
          << "B=" << b << " k=" << k;
    }
  }
}

TEST(MemoryCudaTest, TopKBlocksWithTiesAndSpecialValues) {
  MNEMO_SKIP_WITHOUT_GPU();
  at::manual_seed(4);
  const std::int64_t h = 4, b = 2048, k = 64;
  // Few distinct values (many ties at the threshold), negative values, ±0, ±inf, NaN.
  at::Tensor scores = at::randint(-8, 8, {h, b}).to(at::kFloat).div_(4);
  scores.index_put_({0, 5}, std::numeric_limits<float>::infinity());
  scores.index_put_({1, 7}, -std::numeric_limits<float>::infinity());
  scores.index_put_({2, 9}, std::numeric_limits<float>::quiet_NaN());
  scores.index_put_({3, 11}, -0.0f);
  const at::Tensor expected = top_k_blocks(scores, k);
  const at::Tensor actual = cuda::top_k_blocks(scores.to(gpu()), k).to(at::kCPU);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  // No index twice, and the same multiset of selected scores.
  const at::Tensor sorted = std::get<0>(at::sort(actual, 1));
  EXPECT_TRUE(sorted.slice(1, 1).gt(sorted.slice(1, 0, k - 1)).all().item<bool>());
  EXPECT_TRUE(at::equal(selected_scores(scores, actual), selected_scores(scores, expected)));
}

TEST(MemoryCudaTest, TopKBlocksEdgeSizes) {
  MNEMO_SKIP_WITHOUT_GPU();
  const at::Tensor scores = at::randn({3, 10}).to(gpu());
  EXPECT_EQ(cuda::top_k_blocks(scores, 0).sizes(), (std::vector<std::int64_t>{3, 0}));
  const at::Tensor all = cuda::top_k_blocks(scores, 50).to(at::kCPU);  // K = min(k, B)
  ASSERT_EQ(all.sizes(), (std::vector<std::int64_t>{3, 10}));
  EXPECT_TRUE(at::equal(std::get<0>(at::sort(all, 1)),
                        at::arange(10, at::kLong).unsqueeze(0).expand({3, 10})));
}

struct AttendCase {
  std::int64_t h, h_kv, b, c, d, k;
};

TEST(MemoryCudaTest, AttendBlocksMatchesCpu) {
  MNEMO_SKIP_WITHOUT_GPU();
  at::manual_seed(5);
  for (const AttendCase& t : std::vector<AttendCase>{{4, 4, 100, 64, 64, 16},
                                                     {8, 2, 300, 64, 64, 8},
                                                     {6, 3, 50, 16, 40, 5},
                                                     {4, 1, 40, 32, 128, 7},
                                                     {2, 2, 20, 8, 256, 3},
                                                     {4, 2, 10, 5, 17, 10}}) {
    for (const at::ScalarType storage : kStorageTypes) {
      const at::Tensor q = at::randn({t.h, t.d}).mul_(1.0 / std::sqrt(static_cast<double>(t.d)));
      const at::Tensor keys = at::randn({t.h_kv, t.b, t.c, t.d}).to(storage);
      const at::Tensor values = at::randn({t.h_kv, t.b, t.c, t.d}).to(storage);
      // Distinct blocks per head (as top-k gives), partial and empty blocks.
      const at::Tensor selected = std::get<1>(at::topk(at::rand({t.h, t.b}), t.k, 1, true, false));
      at::Tensor valid = at::full({t.h_kv, t.b}, t.c, at::kInt);
      valid.masked_scatter_(at::rand({t.h_kv, t.b}).lt(0.3),
                            at::randint(0, t.c + 1, {t.h_kv * t.b}, at::kInt));
      const AttentionOutput expected = attend_blocks(q, keys, values, selected, valid);
      const AttentionOutput actual = cuda::attend_blocks(
          q.to(gpu()), keys.to(gpu()), values.to(gpu()), selected.to(gpu()), valid.to(gpu()));
      ASSERT_EQ(actual.o.sizes(), expected.o.sizes());
      ASSERT_EQ(actual.lse.sizes(), expected.lse.sizes());
      const std::string what = "H=" + std::to_string(t.h) + " Hkv=" + std::to_string(t.h_kv) +
                               " C=" + std::to_string(t.c) + " D=" + std::to_string(t.d) +
                               " K=" + std::to_string(t.k) + " " + name(storage);
      EXPECT_LT(relative_error(actual.o, expected.o), tolerance(storage)) << what;
      EXPECT_LT(relative_error(actual.lse, expected.lse), tolerance(storage)) << what;
    }
  }
}

TEST(MemoryCudaTest, AttendBlocksOfEmptyBlocksIsNeutral) {
  MNEMO_SKIP_WITHOUT_GPU();
  const std::int64_t h = 2, b = 4, c = 8, d = 64;
  const at::Tensor q = at::randn({h, d}).to(gpu());
  const at::Tensor keys = at::randn({h, b, c, d}).to(gpu());
  const at::Tensor values = at::randn({h, b, c, d}).to(gpu());
  const at::Tensor selected =
      at::tensor({0, 1, 2, 3, 0, 1, 2, 3}, at::kLong).view({h, b}).to(gpu());
  // Head 0 sees no token at all; head 1 only block 2's first three.
  const at::Tensor valid = at::tensor({0, 0, 0, 0, 0, 0, 3, 0}, at::kInt).view({h, b}).to(gpu());
  const AttentionOutput out = cuda::attend_blocks(q, keys, values, selected, valid);
  const at::Tensor lse = out.lse.to(at::kCPU);
  EXPECT_EQ(lse[0][0].item<float>(), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(at::equal(out.o[0].to(at::kCPU), at::zeros({1, d})));
  EXPECT_TRUE(std::isfinite(lse[1][0].item<float>()));
  const AttentionOutput expected =
      attend_blocks(q.to(at::kCPU), keys.to(at::kCPU), values.to(at::kCPU), selected.to(at::kCPU),
                    valid.to(at::kCPU));
  EXPECT_LT(relative_error(out.o, expected.o), 1e-5);
  EXPECT_LT(relative_error(out.lse, expected.lse), 1e-5);
}

#ifdef MNEMO_WITH_CUDA
// block_kernels.h's functions send CUDA tensors to these kernels.
TEST(MemoryCudaTest, BlockKernelsDispatchCudaTensors) {
  MNEMO_SKIP_WITHOUT_GPU();
  const at::Tensor q = at::randn({4, 64}).to(gpu());
  const at::Tensor reps = at::randn({2, 100, 64}).to(at::kHalf).to(gpu());
  const at::Tensor scores = score_blocks(q, reps);
  EXPECT_TRUE(scores.is_cuda());
  const at::Tensor top = top_k_blocks(scores, 8);
  EXPECT_TRUE(top.is_cuda());
  const at::Tensor keys = at::randn({2, 100, 16, 64}).to(at::kHalf).to(gpu());
  const at::Tensor valid = at::full({2, 100}, 16, at::TensorOptions(at::kInt).device(gpu()));
  const AttentionOutput out = attend_blocks(q, keys, keys, top, valid);
  EXPECT_TRUE(out.o.is_cuda());
  EXPECT_TRUE(out.lse.is_cuda());
}
#endif

}  // namespace
}  // namespace mnemo::model::memory
