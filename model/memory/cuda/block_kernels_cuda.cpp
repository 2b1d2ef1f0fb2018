// ATen side of the CUDA block kernels: checks shapes and dtypes, allocates the results on
// the inputs' device and launches block_kernels.cu's kernels on the current CUDA stream.
#include "model/memory/cuda/block_kernels_cuda.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>

#include "model/memory/cuda/block_kernels_launch.h"

namespace mnemo::model::memory::cuda {
namespace {

detail::ElementType element_type(const at::Tensor& t, const char* what) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return detail::ElementType::float32;
    case at::kHalf:
      return detail::ElementType::float16;
    case at::kBFloat16:
      return detail::ElementType::bfloat16;
    default:
      TORCH_CHECK(false, what, ": expected float32, float16 or bfloat16, got ", t.scalar_type());
  }
}

void check_cuda(const at::Tensor& t, const at::Tensor& like, const char* what) {
  TORCH_CHECK(t.is_cuda(), what, " must be a CUDA tensor");
  TORCH_CHECK(t.device() == like.device(), what, " is on ", t.device(), ", expected ",
              like.device());
}

CUstream_st* current_stream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

}  // namespace

at::Tensor score_blocks(const at::Tensor& q, const at::Tensor& representatives) {
  check_cuda(q, q, "score_blocks: q");
  check_cuda(representatives, q, "score_blocks: representatives");
  TORCH_CHECK(q.dim() == 2, "score_blocks: q must be [H, D]");
  TORCH_CHECK(representatives.dim() == 3, "score_blocks: representatives must be [Hkv, B, D]");
  const std::int64_t heads = q.size(0);
  const std::int64_t dim = q.size(1);
  const std::int64_t kv_heads = representatives.size(0);
  const std::int64_t blocks = representatives.size(1);
  TORCH_CHECK(representatives.size(2) == dim, "score_blocks: head dimensions differ");
  TORCH_CHECK(kv_heads > 0 && heads % kv_heads == 0, "score_blocks: H must be a multiple of Hkv");
  const detail::ElementType type = element_type(representatives, "score_blocks: representatives");

  const c10::DeviceGuard guard(q.device());
  at::Tensor scores = at::empty({heads, blocks}, q.options().dtype(at::kFloat));
  if (heads == 0 || blocks == 0) return scores;
  if (dim == 0) return scores.zero_();
  const at::Tensor q_c = q.to(at::kFloat).contiguous();
  // Row-major and dimension-major (ExactTier's layout) representatives are read in place.
  const bool in_place = representatives.stride(2) == 1 || representatives.stride(1) == 1;
  const at::Tensor reps = in_place ? representatives : representatives.contiguous();
  detail::launch_score_blocks(q_c.data_ptr<float>(), reps.data_ptr(), type,
                              scores.data_ptr<float>(), heads, kv_heads, blocks, dim,
                              reps.stride(0), reps.stride(1), reps.stride(2), current_stream(q));
  return scores;
}

at::Tensor top_k_blocks(const at::Tensor& scores, std::int64_t k) {
  check_cuda(scores, scores, "top_k_blocks: scores");
  TORCH_CHECK(scores.dim() == 2, "top_k_blocks: scores must be [H, B]");
  TORCH_CHECK(k >= 0, "top_k_blocks: k must be >= 0");
  const std::int64_t heads = scores.size(0);
  const std::int64_t blocks = scores.size(1);
  TORCH_CHECK(blocks <= std::numeric_limits<std::int32_t>::max(), "top_k_blocks: too many blocks");
  const std::int64_t kept = k < blocks ? k : blocks;

  const c10::DeviceGuard guard(scores.device());
  at::Tensor indices = at::empty({heads, kept}, scores.options().dtype(at::kLong));
  if (heads == 0 || kept == 0) return indices;
  const at::Tensor scores_c = scores.to(at::kFloat).contiguous();
  detail::launch_top_k_blocks(scores_c.data_ptr<float>(), heads, blocks, kept,
                              indices.data_ptr<std::int64_t>(), current_stream(scores));
  return indices;
}

AttentionOutput attend_blocks(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                              const at::Tensor& selected, const at::Tensor& valid) {
  check_cuda(q, q, "attend_blocks: q");
  check_cuda(keys, q, "attend_blocks: keys");
  check_cuda(values, q, "attend_blocks: values");
  check_cuda(selected, q, "attend_blocks: selected");
  check_cuda(valid, q, "attend_blocks: valid");
  TORCH_CHECK(q.dim() == 2, "attend_blocks: q must be [H, D]");
  TORCH_CHECK(keys.dim() == 4, "attend_blocks: keys must be [Hkv, B, C, D]");
  TORCH_CHECK(values.sizes() == keys.sizes(), "attend_blocks: keys and values differ in shape");
  TORCH_CHECK(values.scalar_type() == keys.scalar_type(),
              "attend_blocks: keys and values must have one dtype");
  const std::int64_t heads = q.size(0);
  const std::int64_t dim = q.size(1);
  const std::int64_t kv_heads = keys.size(0);
  const std::int64_t blocks = keys.size(1);
  const std::int64_t block_size = keys.size(2);
  TORCH_CHECK(keys.size(3) == dim, "attend_blocks: head dimensions differ");
  TORCH_CHECK(dim > 0 && dim <= detail::kMaxAttendDim,
              "attend_blocks: head dimension must be in 1..", detail::kMaxAttendDim);
  TORCH_CHECK(kv_heads > 0 && heads % kv_heads == 0, "attend_blocks: H must be a multiple of Hkv");
  TORCH_CHECK(selected.dim() == 2 && selected.size(0) == heads,
              "attend_blocks: selected must be [H, K]");
  TORCH_CHECK(valid.dim() == 2 && valid.size(0) == kv_heads && valid.size(1) == blocks,
              "attend_blocks: valid must be [Hkv, B]");
  const detail::ElementType type = element_type(keys, "attend_blocks: keys");
  const std::int64_t k = selected.size(1);

  const c10::DeviceGuard guard(q.device());
  const at::TensorOptions f32 = q.options().dtype(at::kFloat);
  at::Tensor o = at::empty({heads, 1, dim}, f32);
  at::Tensor lse = at::empty({heads, 1}, f32);
  if (heads == 0) return {o, lse};
  const at::Tensor q_c = q.to(at::kFloat).contiguous();
  const at::Tensor keys_c = keys.contiguous();
  const at::Tensor values_c = values.contiguous();
  const at::Tensor selected_c = selected.to(at::kLong).contiguous();
  const at::Tensor valid_c = valid.to(at::kInt).contiguous();
  detail::launch_attend_blocks(q_c.data_ptr<float>(), keys_c.data_ptr(), values_c.data_ptr(), type,
                               k == 0 ? nullptr : selected_c.data_ptr<std::int64_t>(),
                               valid_c.data_ptr<std::int32_t>(), o.data_ptr<float>(),
                               lse.data_ptr<float>(), heads, kv_heads, blocks, block_size, dim, k,
                               current_stream(q));
  return {o, lse};
}

}  // namespace mnemo::model::memory::cuda
