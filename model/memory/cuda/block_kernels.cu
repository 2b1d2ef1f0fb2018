// CUDA kernels of block-sparse memory attention (DESIGN.md §2, §6): block scoring, top-k
// block selection and exact attention over the selected blocks. The semantics are those of
// the CPU functions in block_kernels.h, which are the reference the tests compare with.
//
// This file needs only the CUDA runtime headers (no ATen): block_kernels_cuda.cpp converts
// tensors to the raw pointers of block_kernels_launch.h. Decoding is memory-bound, so each
// kernel is written to read its bytes once, coalesced:
//   score_blocks  one warp per representative row, reading it once for up to kScoreGroup
//                 query heads of its GQA group (q in shared memory); O(Hkv·B·D) bytes.
//   top_k_blocks  one CTA per row: an MSB-first radix select (4 passes of 8 bits over the
//                 row's order-preserving uint32 keys, a 256-bin shared histogram each) finds
//                 the k-th largest key, and a fifth pass writes the winners. O(5·B) reads
//                 per row, any k; parallel over rows only (H CTAs).
//   attend_blocks one CTA per query head, its warps taking selected blocks round-robin; a
//                 warp scores kAttendTile tokens at a time (lanes split D, butterfly sums),
//                 keeps an online softmax (m, l, acc), and the warps' states are merged
//                 exactly at the end. O(K·C·D) bytes per head.
// Later work (with the GPU benchmark): 16-byte vector loads, split-K attention over several
// CTAs per head with an LSE merge, multi-CTA top-k for very long rows.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "model/memory/cuda/block_kernels_launch.h"

namespace mnemo::model::memory::cuda::detail {
namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float to_float(float x) {
  return x;
}
__device__ __forceinline__ float to_float(__half x) {
  return __half2float(x);
}
__device__ __forceinline__ float to_float(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(kFullMask, x, offset);
  return x;
}

void check_launch(const char* what) {
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
  }
}

// ---------------------------------------------------------------------------------------
// score_blocks

constexpr int kScoreWarps = 8;
constexpr int kScoreThreads = kScoreWarps * kWarp;
constexpr int kScoreGroup = 8;              // query heads scored per pass over the rows
constexpr int kScoreMaxCtasPerHead = 1024;  // grid-stride beyond this (q is loaded per CTA)
constexpr std::int64_t kMaxDynamicShared = 48 * 1024;

// Loads the query heads [head0, head0 + count) of q ([H, D]) into shared memory.
__device__ __forceinline__ void load_queries(const float* __restrict__ q, float* q_shared,
                                             std::int64_t head0, int count, std::int64_t dim) {
  for (std::int64_t i = threadIdx.x; i < count * dim; i += blockDim.x) {
    q_shared[i] = q[head0 * dim + i];
  }
  __syncthreads();
}

// Row-major representatives (dim stride 1): one warp per row, lanes split D (coalesced).
// grid: (row chunks, Hkv, query-head chunks of the group); dynamic shared: [group_chunk, D].
template <typename T>
__global__ void __launch_bounds__(kScoreThreads)
    score_rows_kernel(const float* __restrict__ q, const T* __restrict__ representatives,
                      float* __restrict__ scores, std::int64_t group, std::int64_t group_chunk,
                      std::int64_t blocks, std::int64_t dim, std::int64_t kv_stride,
                      std::int64_t block_stride) {
  extern __shared__ float q_shared[];  // [group_chunk, dim]
  const std::int64_t kv_head = blockIdx.y;
  const std::int64_t g0 = static_cast<std::int64_t>(blockIdx.z) * group_chunk;
  const int g_count = static_cast<int>(group - g0 < group_chunk ? group - g0 : group_chunk);
  const std::int64_t head0 = kv_head * group + g0;  // first query head of this CTA
  load_queries(q, q_shared, head0, g_count, dim);

  const int lane = threadIdx.x % kWarp;
  const std::int64_t warp = threadIdx.x / kWarp;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kScoreWarps;
  for (std::int64_t b = blockIdx.x * static_cast<std::int64_t>(kScoreWarps) + warp; b < blocks;
       b += stride) {
    const T* row = representatives + kv_head * kv_stride + b * block_stride;
    float acc[kScoreGroup];
#pragma unroll
    for (int g = 0; g < kScoreGroup; ++g) acc[g] = 0.0f;
    for (std::int64_t d = lane; d < dim; d += kWarp) {
      const float x = to_float(row[d]);
#pragma unroll
      for (int g = 0; g < kScoreGroup; ++g) {
        if (g < g_count) acc[g] += x * q_shared[g * dim + d];
      }
    }
#pragma unroll
    for (int g = 0; g < kScoreGroup; ++g) {
      if (g < g_count) {  // uniform over the warp: the shuffles see every lane
        const float s = warp_sum(acc[g]);
        if (lane == g) scores[(head0 + g) * blocks + b] = s;
      }
    }
  }
}

// Dimension-major representatives (block stride 1, as ExactTier keeps them): one thread per
// block, looping over D; consecutive threads read consecutive blocks (coalesced), and every
// thread reads the same q element (a shared-memory broadcast).
template <typename T>
__global__ void __launch_bounds__(kScoreThreads)
    score_columns_kernel(const float* __restrict__ q, const T* __restrict__ representatives,
                         float* __restrict__ scores, std::int64_t group, std::int64_t group_chunk,
                         std::int64_t blocks, std::int64_t dim, std::int64_t kv_stride,
                         std::int64_t dim_stride) {
  extern __shared__ float q_shared[];  // [group_chunk, dim]
  const std::int64_t kv_head = blockIdx.y;
  const std::int64_t g0 = static_cast<std::int64_t>(blockIdx.z) * group_chunk;
  const int g_count = static_cast<int>(group - g0 < group_chunk ? group - g0 : group_chunk);
  const std::int64_t head0 = kv_head * group + g0;
  load_queries(q, q_shared, head0, g_count, dim);

  const T* base = representatives + kv_head * kv_stride;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t b = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       b < blocks; b += stride) {
    float acc[kScoreGroup];
#pragma unroll
    for (int g = 0; g < kScoreGroup; ++g) acc[g] = 0.0f;
    for (std::int64_t d = 0; d < dim; ++d) {
      const float x = to_float(base[d * dim_stride + b]);
#pragma unroll
      for (int g = 0; g < kScoreGroup; ++g) {
        if (g < g_count) acc[g] += x * q_shared[g * dim + d];
      }
    }
#pragma unroll
    for (int g = 0; g < kScoreGroup; ++g) {
      if (g < g_count) scores[(head0 + g) * blocks + b] = acc[g];
    }
  }
}

template <typename T>
void score_blocks_typed(const float* q, const void* representatives, float* scores,
                        std::int64_t heads, std::int64_t kv_heads, std::int64_t blocks,
                        std::int64_t dim, std::int64_t kv_stride, std::int64_t block_stride,
                        std::int64_t dim_stride, cudaStream_t stream) {
  const std::int64_t group = heads / kv_heads;
  std::int64_t group_chunk = group < kScoreGroup ? group : kScoreGroup;
  const std::int64_t fit = kMaxDynamicShared / (dim * static_cast<std::int64_t>(sizeof(float)));
  if (fit < 1) throw std::runtime_error("score_blocks (CUDA): head dimension too large");
  if (group_chunk > fit) group_chunk = fit;
  const std::size_t shared = static_cast<std::size_t>(group_chunk * dim) * sizeof(float);
  const unsigned group_ctas = static_cast<unsigned>((group + group_chunk - 1) / group_chunk);
  const T* reps = static_cast<const T*>(representatives);
  if (dim_stride == 1) {
    const std::int64_t ctas = (blocks + kScoreWarps - 1) / kScoreWarps;
    const dim3 grid(
        static_cast<unsigned>(ctas < kScoreMaxCtasPerHead ? ctas : kScoreMaxCtasPerHead),
        static_cast<unsigned>(kv_heads), group_ctas);
    score_rows_kernel<T><<<grid, kScoreThreads, shared, stream>>>(
        q, reps, scores, group, group_chunk, blocks, dim, kv_stride, block_stride);
  } else if (block_stride == 1) {
    const std::int64_t ctas = (blocks + kScoreThreads - 1) / kScoreThreads;
    const dim3 grid(
        static_cast<unsigned>(ctas < kScoreMaxCtasPerHead ? ctas : kScoreMaxCtasPerHead),
        static_cast<unsigned>(kv_heads), group_ctas);
    score_columns_kernel<T><<<grid, kScoreThreads, shared, stream>>>(
        q, reps, scores, group, group_chunk, blocks, dim, kv_stride, dim_stride);
  } else {
    throw std::runtime_error("score_blocks (CUDA): representatives need stride 1 along D or B");
  }
  check_launch("score_blocks (CUDA)");
}

// ---------------------------------------------------------------------------------------
// top_k_blocks

constexpr int kTopKThreads = 512;
constexpr int kRadixBits = 8;
constexpr int kRadixBins = 1 << kRadixBits;

// Maps a float to a uint32 whose unsigned order is the float order (-0 < +0). NaN maps to
// the key of -inf: like the CPU heap, a NaN score is never preferred to a number.
__device__ __forceinline__ std::uint32_t order_key(float f) {
  const std::uint32_t u = __float_as_uint(isnan(f) ? -INFINITY : f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// grid: (H); one row of `blocks` scores per CTA; writes k indices of the row.
__global__ void __launch_bounds__(kTopKThreads)
    top_k_kernel(const float* __restrict__ scores, std::int64_t blocks, std::int64_t k,
                 std::int64_t* __restrict__ indices) {
  __shared__ unsigned int histogram[kRadixBins];
  __shared__ std::uint32_t prefix;      // the high bits of the k-th largest key found so far
  __shared__ std::uint32_t mask;        // which bits of prefix are known
  __shared__ unsigned int remaining;    // how many of the keys matching prefix are still to take
  __shared__ unsigned int taken_above;  // output slots used by keys above the threshold
  __shared__ unsigned int taken_equal;  // keys equal to the threshold seen in the last pass

  const float* row = scores + static_cast<std::int64_t>(blockIdx.x) * blocks;
  std::int64_t* out = indices + static_cast<std::int64_t>(blockIdx.x) * k;
  if (threadIdx.x == 0) {
    prefix = 0;
    mask = 0;
    remaining = static_cast<unsigned int>(k);
    taken_above = 0;
    taken_equal = 0;
  }

  for (int shift = 32 - kRadixBits; shift >= 0; shift -= kRadixBits) {
    for (int i = threadIdx.x; i < kRadixBins; i += blockDim.x) histogram[i] = 0;
    __syncthreads();  // also publishes prefix/mask of the previous pass
    const std::uint32_t p = prefix;
    const std::uint32_t m = mask;
    for (std::int64_t i = threadIdx.x; i < blocks; i += blockDim.x) {
      const std::uint32_t key = order_key(row[i]);
      if ((key & m) == p) atomicAdd(&histogram[(key >> shift) & (kRadixBins - 1)], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // The bin holding the remaining-th largest key: scan from the top.
      unsigned int above = 0;
      for (int bin = kRadixBins - 1; bin >= 0; --bin) {
        const unsigned int count = histogram[bin];
        if (above + count >= remaining) {
          prefix = p | (static_cast<std::uint32_t>(bin) << shift);
          mask = m | (static_cast<std::uint32_t>(kRadixBins - 1) << shift);
          remaining -= above;
          break;
        }
        above += count;
      }
    }
    __syncthreads();  // the scan reads the histogram the next pass clears
  }

  // prefix is now the k-th largest key: take every key above it and `remaining` keys equal
  // to it (k - remaining keys lie above it).
  const std::uint32_t threshold = prefix;
  const unsigned int equal_wanted = remaining;
  const unsigned int above_count = static_cast<unsigned int>(k) - equal_wanted;
  for (std::int64_t i = threadIdx.x; i < blocks; i += blockDim.x) {
    const std::uint32_t key = order_key(row[i]);
    if (key > threshold) {
      out[atomicAdd(&taken_above, 1u)] = i;
    } else if (key == threshold) {
      const unsigned int slot = atomicAdd(&taken_equal, 1u);
      if (slot < equal_wanted) out[above_count + slot] = i;
    }
  }
}

// ---------------------------------------------------------------------------------------
// attend_blocks

constexpr int kAttendWarps = 4;
constexpr int kAttendTile = 4;  // tokens a warp scores at once (independent reductions)

// grid: (H). DPL: head dims per lane (D <= 32 * DPL).
template <typename T, int DPL>
__global__ void __launch_bounds__(kAttendWarps* kWarp)
    attend_blocks_kernel(const float* __restrict__ q, const T* __restrict__ keys,
                         const T* __restrict__ values, const std::int64_t* __restrict__ selected,
                         const std::int32_t* __restrict__ valid, float* __restrict__ o,
                         float* __restrict__ lse, std::int64_t group, std::int64_t blocks,
                         std::int64_t block_size, std::int64_t dim, std::int64_t k) {
  __shared__ float warp_max[kAttendWarps];
  __shared__ float warp_sum_exp[kAttendWarps];
  __shared__ float warp_acc[kAttendWarps][kWarp * DPL];

  const std::int64_t head = blockIdx.x;
  const std::int64_t kv_head = head / group;
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  constexpr float kNegInf = -INFINITY;

  float q_reg[DPL];
  float acc[DPL];
#pragma unroll
  for (int j = 0; j < DPL; ++j) {
    const std::int64_t d = lane + j * kWarp;
    q_reg[j] = d < dim ? q[head * dim + d] : 0.0f;
    acc[j] = 0.0f;
  }
  float running_max = kNegInf;
  float running_sum = 0.0f;

  for (std::int64_t sel = warp; sel < k; sel += kAttendWarps) {
    const std::int64_t block = selected[head * k + sel];
    if (block < 0 || block >= blocks) continue;
    std::int64_t tokens = valid[kv_head * blocks + block];
    tokens = tokens < 0 ? 0 : (tokens > block_size ? block_size : tokens);
    const std::int64_t base = (kv_head * blocks + block) * block_size * dim;
    const T* key_block = keys + base;
    const T* value_block = values + base;

    for (std::int64_t t0 = 0; t0 < tokens; t0 += kAttendTile) {
      float s[kAttendTile];
#pragma unroll
      for (int i = 0; i < kAttendTile; ++i) {
        float partial = 0.0f;
        if (t0 + i < tokens) {
          const T* key = key_block + (t0 + i) * dim;
#pragma unroll
          for (int j = 0; j < DPL; ++j) {
            const std::int64_t d = lane + j * kWarp;
            if (d < dim) partial += q_reg[j] * to_float(key[d]);
          }
        }
        s[i] = partial;
      }
#pragma unroll
      for (int offset = kWarp / 2; offset > 0; offset /= 2) {
#pragma unroll
        for (int i = 0; i < kAttendTile; ++i) s[i] += __shfl_xor_sync(kFullMask, s[i], offset);
      }
      float tile_max = kNegInf;
#pragma unroll
      for (int i = 0; i < kAttendTile; ++i) {
        if (t0 + i >= tokens) s[i] = kNegInf;
        tile_max = fmaxf(tile_max, s[i]);
      }
      // The tile has at least one token, so new_max is finite for finite scores.
      const float new_max = fmaxf(running_max, tile_max);
      const float correction = expf(running_max - new_max);  // 0 while running_max = -inf
      running_sum *= correction;
#pragma unroll
      for (int j = 0; j < DPL; ++j) acc[j] *= correction;
#pragma unroll
      for (int i = 0; i < kAttendTile; ++i) {
        if (t0 + i < tokens) {
          const float p = expf(s[i] - new_max);
          running_sum += p;
          const T* value = value_block + (t0 + i) * dim;
#pragma unroll
          for (int j = 0; j < DPL; ++j) {
            const std::int64_t d = lane + j * kWarp;
            if (d < dim) acc[j] += p * to_float(value[d]);
          }
        }
      }
      running_max = new_max;
    }
  }

  // Merge the warps' softmax states exactly (the LSE merge of DESIGN.md §2).
  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_sum_exp[warp] = running_sum;
  }
#pragma unroll
  for (int j = 0; j < DPL; ++j) warp_acc[warp][lane + j * kWarp] = acc[j];
  __syncthreads();

  float total_max = kNegInf;
#pragma unroll
  for (int w = 0; w < kAttendWarps; ++w) total_max = fmaxf(total_max, warp_max[w]);
  float weight[kAttendWarps];
  float total_sum = 0.0f;
#pragma unroll
  for (int w = 0; w < kAttendWarps; ++w) {
    weight[w] = total_max == kNegInf ? 0.0f : expf(warp_max[w] - total_max);
    total_sum += weight[w] * warp_sum_exp[w];
  }
  const bool empty = !(total_sum > 0.0f);
  for (std::int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    float value = 0.0f;
    if (!empty) {
#pragma unroll
      for (int w = 0; w < kAttendWarps; ++w) value += weight[w] * warp_acc[w][d];
      value /= total_sum;
    }
    o[head * dim + d] = value;
  }
  if (threadIdx.x == 0) lse[head] = empty ? kNegInf : total_max + logf(total_sum);
}

template <typename T, int DPL>
void attend_blocks_launch(const float* q, const void* keys, const void* values,
                          const std::int64_t* selected, const std::int32_t* valid, float* o,
                          float* lse, std::int64_t heads, std::int64_t group, std::int64_t blocks,
                          std::int64_t block_size, std::int64_t dim, std::int64_t k,
                          cudaStream_t stream) {
  attend_blocks_kernel<T, DPL><<<static_cast<unsigned>(heads), kAttendWarps * kWarp, 0, stream>>>(
      q, static_cast<const T*>(keys), static_cast<const T*>(values), selected, valid, o, lse, group,
      blocks, block_size, dim, k);
  check_launch("attend_blocks (CUDA)");
}

template <typename T>
void attend_blocks_typed(const float* q, const void* keys, const void* values,
                         const std::int64_t* selected, const std::int32_t* valid, float* o,
                         float* lse, std::int64_t heads, std::int64_t group, std::int64_t blocks,
                         std::int64_t block_size, std::int64_t dim, std::int64_t k,
                         cudaStream_t stream) {
  if (dim <= 32) {
    attend_blocks_launch<T, 1>(q, keys, values, selected, valid, o, lse, heads, group, blocks,
                               block_size, dim, k, stream);
  } else if (dim <= 64) {
    attend_blocks_launch<T, 2>(q, keys, values, selected, valid, o, lse, heads, group, blocks,
                               block_size, dim, k, stream);
  } else if (dim <= 128) {
    attend_blocks_launch<T, 4>(q, keys, values, selected, valid, o, lse, heads, group, blocks,
                               block_size, dim, k, stream);
  } else if (dim <= kMaxAttendDim) {
    attend_blocks_launch<T, 8>(q, keys, values, selected, valid, o, lse, heads, group, blocks,
                               block_size, dim, k, stream);
  } else {
    throw std::runtime_error("attend_blocks (CUDA): head dimension above 256");
  }
}

}  // namespace

void launch_score_blocks(const float* q, const void* representatives, ElementType type,
                         float* scores, std::int64_t heads, std::int64_t kv_heads,
                         std::int64_t blocks, std::int64_t dim, std::int64_t kv_stride,
                         std::int64_t block_stride, std::int64_t dim_stride, CUstream_st* stream) {
  switch (type) {
    case ElementType::float32:
      return score_blocks_typed<float>(q, representatives, scores, heads, kv_heads, blocks, dim,
                                       kv_stride, block_stride, dim_stride, stream);
    case ElementType::float16:
      return score_blocks_typed<__half>(q, representatives, scores, heads, kv_heads, blocks, dim,
                                        kv_stride, block_stride, dim_stride, stream);
    case ElementType::bfloat16:
      return score_blocks_typed<__nv_bfloat16>(q, representatives, scores, heads, kv_heads, blocks,
                                               dim, kv_stride, block_stride, dim_stride, stream);
  }
  throw std::runtime_error("score_blocks (CUDA): unknown element type");
}

void launch_top_k_blocks(const float* scores, std::int64_t heads, std::int64_t blocks,
                         std::int64_t k, std::int64_t* indices, CUstream_st* stream) {
  top_k_kernel<<<static_cast<unsigned>(heads), kTopKThreads, 0, stream>>>(scores, blocks, k,
                                                                          indices);
  check_launch("top_k_blocks (CUDA)");
}

void launch_attend_blocks(const float* q, const void* keys, const void* values, ElementType type,
                          const std::int64_t* selected, const std::int32_t* valid, float* o,
                          float* lse, std::int64_t heads, std::int64_t kv_heads,
                          std::int64_t blocks, std::int64_t block_size, std::int64_t dim,
                          std::int64_t k, CUstream_st* stream) {
  const std::int64_t group = heads / kv_heads;
  switch (type) {
    case ElementType::float32:
      return attend_blocks_typed<float>(q, keys, values, selected, valid, o, lse, heads, group,
                                        blocks, block_size, dim, k, stream);
    case ElementType::float16:
      return attend_blocks_typed<__half>(q, keys, values, selected, valid, o, lse, heads, group,
                                         blocks, block_size, dim, k, stream);
    case ElementType::bfloat16:
      return attend_blocks_typed<__nv_bfloat16>(q, keys, values, selected, valid, o, lse, heads,
                                                group, blocks, block_size, dim, k, stream);
  }
  throw std::runtime_error("attend_blocks (CUDA): unknown element type");
}

}  // namespace mnemo::model::memory::cuda::detail
