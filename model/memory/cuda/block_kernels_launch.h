// Raw-pointer launchers of the CUDA block kernels (block_kernels.cu). This header needs
// neither ATen nor the CUDA headers, so block_kernels.cu compiles with nvcc alone (the
// MNEMO_CUDA_COMPILE_CHECK build, without a CUDA LibTorch) and the ATen wrapper
// (block_kernels_cuda.cpp) compiles with the host compiler. Shapes as in block_kernels.h;
// tensors are contiguous unless strides are given, and on the device the stream belongs to.
#pragma once

#include <cstdint>

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace mnemo::model::memory::cuda::detail {

/// Storage type of representatives, keys and values.
enum class ElementType { float32, float16, bfloat16 };

/// Each launcher enqueues its kernels on `stream` and returns; it throws std::runtime_error
/// when a launch fails (bad configuration, no device). Errors of the kernels themselves
/// surface at the next synchronizing call, as usual with CUDA.

/// scores[h, b] = q[h] · representatives[h / G, b]; q: [H, D], scores: [H, B] contiguous;
/// representatives: [Hkv, B, D] with the given element strides, of which dim_stride or
/// block_stride must be 1 (row-major or dimension-major blocks).
void launch_score_blocks(const float* q, const void* representatives, ElementType type,
                         float* scores, std::int64_t heads, std::int64_t kv_heads,
                         std::int64_t blocks, std::int64_t dim, std::int64_t kv_stride,
                         std::int64_t block_stride, std::int64_t dim_stride, CUstream_st* stream);

/// indices[h, 0..k) = the columns of the k largest scores[h, :] (any order; ties broken
/// arbitrarily); 0 < k <= blocks.
void launch_top_k_blocks(const float* scores, std::int64_t heads, std::int64_t blocks,
                         std::int64_t k, std::int64_t* indices, CUstream_st* stream);

/// Softmax attention of q[h] over the first valid[h / G, b] tokens of each selected block b =
/// selected[h, j]; keys, values: [Hkv, B, C, D]; o: [H, D], lse: [H]. A head with no token
/// gets o = 0 and lse = -inf. Indices outside [0, B) are skipped. dim <= 256.
void launch_attend_blocks(const float* q, const void* keys, const void* values, ElementType type,
                          const std::int64_t* selected, const std::int32_t* valid, float* o,
                          float* lse, std::int64_t heads, std::int64_t kv_heads,
                          std::int64_t blocks, std::int64_t block_size, std::int64_t dim,
                          std::int64_t k, CUstream_st* stream);

/// The largest head dimension launch_attend_blocks supports.
inline constexpr std::int64_t kMaxAttendDim = 256;

}  // namespace mnemo::model::memory::cuda::detail
