// CPU implementations of the block-sparse memory kernels (block_kernels.h), and the
// dispatch to the CUDA ones when the tensors live on a GPU and the CUDA kernels are built.
//
// score_blocks is the one pass that touches every block, so it has a fused loop: the
// representatives are read once, converted from fp16/bf16 eight at a time (F16C / AVX2 when
// the CPU has them, chosen at run time) and multiplied with all G query heads of their
// key/value head while they sit in registers. It runs on dimension-major representatives
// (stride 1 along blocks), row-major ones (AVX2), and ExactTier's tiles of 16 blocks
// (cpu::score_tiles_into, block_kernels_cpu.h); other layouts go through ATen's bmm. top_k_blocks
// keeps a k-element heap per row (one comparison per score); attend_blocks gathers the selected
// blocks and runs two batched matmuls.
#include "model/memory/block_kernels.h"
#include "model/memory/exact/block_kernels_cpu.h"
#include "model/memory/exact/kernel_isa.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MNEMO_EXACT_X86 1
#include <immintrin.h>
#endif

#ifdef MNEMO_WITH_CUDA
#include "model/memory/cuda/block_kernels_cuda.h"
#endif

namespace mnemo::model::memory {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float to_float(float x) {
  return x;
}
float to_float(c10::Half x) {
  return static_cast<float>(x);
}
float to_float(c10::BFloat16 x) {
  return static_cast<float>(x);
}

/// Where the fused loops find element j of block b of one key/value head: in groups of 16
/// blocks, reps[(b / 16) * tile_stride + b % 16 + j * dim_stride]. Dimension-major
/// representatives ([D, B] per head, stride 1 along blocks) are tile_stride = 16; ExactTier's
/// tiles ([B / 16, D, 16] per head: one contiguous stream) are tile_stride = 16 D,
/// dim_stride = 16.
struct ColumnLayout {
  std::int64_t tile_stride;
  std::int64_t dim_stride;
};
constexpr std::int64_t kTile = 16;

/// One key/value head's scores over blocks [b0, b1). q: [G, D] contiguous; out row g at
/// out[g * out_stride + b]. The portable version.
template <typename T>
void score_columns_scalar(const T* reps, ColumnLayout layout, std::int64_t b0, std::int64_t b1,
                          std::int64_t d, const float* q, std::int64_t g, float* out,
                          std::int64_t out_stride) {
  constexpr std::int64_t kSpan = 256;
  float acc[kSpan];
  for (std::int64_t t0 = b0; t0 < b1; t0 += kSpan) {
    const std::int64_t n = std::min(kSpan, b1 - t0);
    for (std::int64_t gi = 0; gi < g; ++gi) {
      std::fill(acc, acc + n, 0.0f);
      for (std::int64_t j = 0; j < d; ++j) {
        const float qj = q[gi * d + j];
        const T* row = reps + j * layout.dim_stride;
        for (std::int64_t i = 0; i < n; ++i) {
          const std::int64_t b = t0 + i;
          acc[i] += qj * to_float(row[(b / kTile) * layout.tile_stride + b % kTile]);
        }
      }
      std::copy(acc, acc + n, out + gi * out_stride + t0);
    }
  }
}

#ifdef MNEMO_EXACT_X86

__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const float* p) {
  return _mm256_loadu_ps(p);
}
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const c10::Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const c10::BFloat16* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

/// How far ahead along each representative row to prefetch: the rows of one chunk are
/// D separate streams, more than the hardware prefetchers follow.
/// (Measured on this machine at 5M tokens: none 6.5 GB/s, 512 B 12 GB/s, 1-2 KiB 17-19 GB/s.)
constexpr std::int64_t kPrefetchBytes = 1024;

/// The AVX2 version: 16 blocks (2 registers) by NG query heads of accumulators (4
/// registers per head spill), with the head dimension innermost so every representative
/// element is loaded and converted once for all NG heads. b0 is a multiple of 16; returns
/// where the whole groups of 16 end.
template <typename T, int NG>
__attribute__((target("avx2,fma,f16c"))) std::int64_t score_group_avx2(
    const T* reps, ColumnLayout layout, std::int64_t b0, std::int64_t b1, std::int64_t d,
    const float* q, float* out, std::int64_t out_stride) {
  constexpr int W = 2;
  std::int64_t b = b0;
  for (; b + kTile <= b1; b += kTile) {
    __m256 acc[NG][W];
    for (int gi = 0; gi < NG; ++gi) {
      for (int w = 0; w < W; ++w) acc[gi][w] = _mm256_setzero_ps();
    }
    const T* col = reps + (b / kTile) * layout.tile_stride;
    // One prefetch per 64-byte line of each row.
    const bool prefetch = (b * static_cast<std::int64_t>(sizeof(T))) % 64 == 0;
    for (std::int64_t j = 0; j < d; ++j) {
      const T* row = col + j * layout.dim_stride;
      if (prefetch) _mm_prefetch(reinterpret_cast<const char*>(row) + kPrefetchBytes, _MM_HINT_T0);
      __m256 x[W];
      for (int w = 0; w < W; ++w) x[w] = load8(row + 8 * w);
      for (int gi = 0; gi < NG; ++gi) {
        const __m256 qj = _mm256_broadcast_ss(q + gi * d + j);
        for (int w = 0; w < W; ++w) acc[gi][w] = _mm256_fmadd_ps(qj, x[w], acc[gi][w]);
      }
    }
    for (int gi = 0; gi < NG; ++gi) {
      for (int w = 0; w < W; ++w) _mm256_storeu_ps(out + gi * out_stride + b + 8 * w, acc[gi][w]);
    }
  }
  return b;
}

template <typename T>
__attribute__((target("avx2,fma,f16c"))) void score_columns_avx2(const T* reps, ColumnLayout layout,
                                                                 std::int64_t b0, std::int64_t b1,
                                                                 std::int64_t d, const float* q,
                                                                 std::int64_t g, float* out,
                                                                 std::int64_t out_stride) {
  for (std::int64_t g0 = 0; g0 < g;) {
    const float* qg = q + g0 * d;
    float* og = out + g0 * out_stride;
    // Up to 4 heads x 2 registers of accumulators (4 registers are slower: they spill).
    const std::int64_t ng = std::min<std::int64_t>(g - g0, g % 4 == 0 ? 4 : 2);
    std::int64_t done = b0;
    switch (ng) {
      case 1:
        done = score_group_avx2<T, 1>(reps, layout, b0, b1, d, qg, og, out_stride);
        break;
      case 2:
        done = score_group_avx2<T, 2>(reps, layout, b0, b1, d, qg, og, out_stride);
        break;
      default:
        done = score_group_avx2<T, 4>(reps, layout, b0, b1, d, qg, og, out_stride);
        break;
    }
    // The last blocks of a partial chunk: padded to a whole chunk on the stack.
    if (done < b1) {
      constexpr std::int64_t kMaxD = 256;
      if (d > kMaxD) {
        score_columns_scalar(reps, layout, done, b1, d, qg, ng, og, out_stride);
      } else {
        alignas(32) T tail[kMaxD * 16] = {};
        alignas(32) float tail_out[4 * 16];
        const std::int64_t n = b1 - done;
        for (std::int64_t j = 0; j < d; ++j) {
          std::memcpy(tail + j * 16,
                      reps + (done / kTile) * layout.tile_stride + j * layout.dim_stride,
                      static_cast<std::size_t>(n) * sizeof(T));
        }
        switch (ng) {
          case 1:
            score_group_avx2<T, 1>(tail, ColumnLayout{kTile, kTile}, 0, 16, d, qg, tail_out, 16);
            break;
          case 2:
            score_group_avx2<T, 2>(tail, ColumnLayout{kTile, kTile}, 0, 16, d, qg, tail_out, 16);
            break;
          default:
            score_group_avx2<T, 4>(tail, ColumnLayout{kTile, kTile}, 0, 16, d, qg, tail_out, 16);
            break;
        }
        for (std::int64_t gi = 0; gi < ng; ++gi) {
          std::memcpy(og + gi * out_stride + done, tail_out + gi * 16,
                      static_cast<std::size_t>(n) * sizeof(float));
        }
      }
    }
    g0 += ng;
  }
}

/// Row-major representatives (element (b, j) at reps[b * block_stride + j], D a multiple
/// of 8): one sequential stream, which DRAM serves faster than the D streams of the
/// dimension-major layout. 4 blocks x NG heads of 8-lane partial sums, reduced at the end.
template <typename T, int NG>
__attribute__((target("avx2,fma,f16c"))) void score_rows_avx2(const T* reps,
                                                              std::int64_t block_stride,
                                                              std::int64_t b0, std::int64_t b1,
                                                              std::int64_t d, const float* q,
                                                              float* out, std::int64_t out_stride) {
  std::int64_t b = b0;
  for (; b + 4 <= b1; b += 4) {
    __m256 acc[NG][4];
    for (int gi = 0; gi < NG; ++gi) {
      for (int r = 0; r < 4; ++r) acc[gi][r] = _mm256_setzero_ps();
    }
    const T* rows = reps + b * block_stride;
    _mm_prefetch(reinterpret_cast<const char*>(rows + 4 * block_stride) + kPrefetchBytes,
                 _MM_HINT_T0);
    for (std::int64_t i = 0; i < d; i += 8) {
      __m256 x[4];
      for (int r = 0; r < 4; ++r) x[r] = load8(rows + r * block_stride + i);
      for (int gi = 0; gi < NG; ++gi) {
        const __m256 qi = _mm256_loadu_ps(q + gi * d + i);
        for (int r = 0; r < 4; ++r) acc[gi][r] = _mm256_fmadd_ps(qi, x[r], acc[gi][r]);
      }
    }
    for (int gi = 0; gi < NG; ++gi) {
      // [r0 r1 r2 r3] sums: two rounds of pairwise adds, then the two 128-bit halves.
      const __m256 t0 = _mm256_hadd_ps(acc[gi][0], acc[gi][1]);
      const __m256 t1 = _mm256_hadd_ps(acc[gi][2], acc[gi][3]);
      const __m256 t2 = _mm256_hadd_ps(t0, t1);
      const __m128 sum = _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps(t2, 1));
      _mm_storeu_ps(out + gi * out_stride + b, sum);
    }
  }
  for (; b < b1; ++b) {
    for (int gi = 0; gi < NG; ++gi) {
      __m256 acc = _mm256_setzero_ps();
      for (std::int64_t i = 0; i < d; i += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + gi * d + i), load8(reps + b * block_stride + i),
                              acc);
      }
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc);
      float sum = 0;
      for (const float lane : lanes) sum += lane;
      out[gi * out_stride + b] = sum;
    }
  }
}

template <typename T>
__attribute__((target("avx2,fma,f16c"))) void score_row_major_avx2(
    const T* reps, std::int64_t block_stride, std::int64_t b0, std::int64_t b1, std::int64_t d,
    const float* q, std::int64_t g, float* out, std::int64_t out_stride) {
  for (std::int64_t g0 = 0; g0 < g; g0 += 2) {
    if (g - g0 >= 2) {
      score_rows_avx2<T, 2>(reps, block_stride, b0, b1, d, q + g0 * d, out + g0 * out_stride,
                            out_stride);
    } else {
      score_rows_avx2<T, 1>(reps, block_stride, b0, b1, d, q + g0 * d, out + g0 * out_stride,
                            out_stride);
    }
  }
}

bool cpu_has_avx2() {
  return cpu::kernel_isa() >= cpu::KernelIsa::kAvx2;
}

__attribute__((target("avx2,fma,f16c"))) float sum8(__m256 v) {
  const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
}

/// |k|² for e a multiple of 8, two chains of accumulators as in the dot product below.
__attribute__((target("avx2,fma,f16c"))) void state_norms_avx2(std::int64_t e,
                                                               const c10::Half* const* rows,
                                                               std::int64_t i0, std::int64_t i1,
                                                               float* out) {
  for (std::int64_t i = i0; i < i1; ++i) {
    const c10::Half* k = rows[i];
    __m256 norm = _mm256_setzero_ps(), norm2 = _mm256_setzero_ps();
    std::int64_t j = 0;
    for (; j + 16 <= e; j += 16) {
      const __m256 x = load8(k + j), y = load8(k + j + 8);
      norm = _mm256_fmadd_ps(x, x, norm);
      norm2 = _mm256_fmadd_ps(y, y, norm2);
    }
    if (j < e) {
      const __m256 x = load8(k + j);
      norm = _mm256_fmadd_ps(x, x, norm);
    }
    out[i] = sum8(_mm256_add_ps(norm, norm2));
  }
}

/// 2 q·k - norms[i] for e a multiple of 8. Two sets of accumulators: one chain of e / 8
/// dependent FMAs would wait on each other's latency rather than on the loads.
__attribute__((target("avx2,fma,f16c"))) void distance_scores_normed_avx2(
    const float* q, std::int64_t e, const c10::Half* const* rows, const float* norms,
    std::int64_t i0, std::int64_t i1, float* out) {
  for (std::int64_t i = i0; i < i1; ++i) {
    const c10::Half* k = rows[i];
    if (i + 1 < i1) _mm_prefetch(reinterpret_cast<const char*>(rows[i + 1]), _MM_HINT_T0);
    __m256 dot = _mm256_setzero_ps(), dot2 = _mm256_setzero_ps();
    std::int64_t j = 0;
    for (; j + 16 <= e; j += 16) {
      dot = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), load8(k + j), dot);
      dot2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), load8(k + j + 8), dot2);
    }
    if (j < e) dot = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), load8(k + j), dot);
    out[i] = 2.0f * sum8(_mm256_add_ps(dot, dot2)) - norms[i];
  }
}

#endif  // MNEMO_EXACT_X86

/// Scores with the fused loops. `reps` holds one key/value head every kv_stride elements;
/// row_stride > 0 selects the row-major loop (element (b, j) at b * row_stride + j, AVX2
/// only), otherwise `layout` places the columns.
template <typename T>
void score_fused(const at::Tensor& q, const T* base, std::int64_t h_kv, std::int64_t b,
                 std::int64_t kv_stride, ColumnLayout layout, std::int64_t row_stride,
                 const at::Tensor& out) {
  const std::int64_t h = q.size(0), d = q.size(1);
  const std::int64_t g = h / h_kv;
  const float* qp = q.data_ptr<float>();
  float* op = out.data_ptr<float>();
  // Work items: (key/value head, range of blocks), so two heads or one long head both fill
  // the threads. Ranges start at multiples of 16 (the column tiles).
  constexpr std::int64_t kChunk = 4096;
  const std::int64_t chunks = (b + kChunk - 1) / kChunk;
  at::parallel_for(0, h_kv * chunks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t w = begin; w < end; ++w) {
      const std::int64_t kv = w / chunks, b0 = (w % chunks) * kChunk;
      const std::int64_t b1 = std::min(b, b0 + kChunk);
      const T* r = base + kv * kv_stride;
      const float* qk = qp + kv * g * d;
      float* o = op + kv * g * b;
#ifdef MNEMO_EXACT_X86
      if (cpu_has_avx2()) {
        if (row_stride > 0) {
          score_row_major_avx2<T>(r, row_stride, b0, b1, d, qk, g, o, b);
        } else {
          score_columns_avx2<T>(r, layout, b0, b1, d, qk, g, o, b);
        }
        continue;
      }
#endif
      score_columns_scalar<T>(r, layout, b0, b1, d, qk, g, o, b);
    }
  });
}

template <typename F>
void dispatch_float_types(at::ScalarType type, const F& f) {
  switch (type) {
    case at::kFloat:
      return f(float{});
    case at::kHalf:
      return f(c10::Half{});
    case at::kBFloat16:
      return f(c10::BFloat16{});
    default:
      throw std::invalid_argument("block kernels: representatives must be float, half or bfloat16");
  }
}

void check_out(const at::Tensor& out, std::int64_t h, std::int64_t b) {
  if (out.size(0) != h || out.size(1) != b || out.scalar_type() != at::kFloat ||
      !out.is_contiguous() || !out.is_cpu()) {
    throw std::invalid_argument("score_blocks: out must be [H, B] float32, contiguous, CPU");
  }
}

}  // namespace

void cpu::score_blocks_into(const at::Tensor& q_in, const at::Tensor& reps, const at::Tensor& out) {
  const std::int64_t h = q_in.size(0), d = q_in.size(1), h_kv = reps.size(0), b = reps.size(1);
  if (reps.size(2) != d || h % h_kv != 0) {
    throw std::invalid_argument("score_blocks: q [H, D] and representatives [Hkv, B, D] disagree");
  }
  check_out(out, h, b);
  const at::Tensor q = q_in.to(at::kFloat).contiguous();
  if (b == 0) return;
  const bool dim_major = reps.stride(1) == 1;
#ifdef MNEMO_EXACT_X86
  const bool rows = !dim_major && cpu_has_avx2() && reps.stride(2) == 1 && d % 8 == 0;
#else
  const bool rows = false;
#endif
  const auto type = reps.scalar_type();
  if ((dim_major || rows) && (type == at::kFloat || type == at::kHalf || type == at::kBFloat16)) {
    dispatch_float_types(type, [&](auto zero) {
      using T = decltype(zero);
      score_fused<T>(q, static_cast<const T*>(reps.data_ptr()), h_kv, b, reps.stride(0),
                     ColumnLayout{kTile, reps.stride(2)}, rows ? reps.stride(1) : 0, out);
    });
    return;
  }
  // Any other layout: [Hkv, B, D] x [Hkv, D, G] -> [Hkv, B, G] -> [H, B].
  const at::Tensor qg = q.view({h_kv, h / h_kv, d}).transpose(1, 2);
  out.copy_(at::bmm(reps.to(at::kFloat), qg).permute({0, 2, 1}).reshape({h, b}));
}

void cpu::score_tiles_into(const at::Tensor& q_in, const at::Tensor& tiles, std::int64_t n_blocks,
                           const at::Tensor& out) {
  const std::int64_t h = q_in.size(0), d = q_in.size(1), h_kv = tiles.size(0);
  if (tiles.dim() != 4 || tiles.size(2) != d || tiles.size(3) != kTile || h % h_kv != 0 ||
      n_blocks > tiles.size(1) * kTile || !tiles.is_contiguous() || !tiles.is_cpu()) {
    throw std::invalid_argument("score_tiles: q [H, D] and tiles [Hkv, T, D, 16] disagree");
  }
  check_out(out, h, n_blocks);
  const at::Tensor q = q_in.to(at::kFloat).contiguous();
  if (n_blocks == 0) return;
  dispatch_float_types(tiles.scalar_type(), [&](auto zero) {
    using T = decltype(zero);
    score_fused<T>(q, static_cast<const T*>(tiles.data_ptr()), h_kv, n_blocks, tiles.stride(0),
                   ColumnLayout{kTile * d, kTile}, 0, out);
  });
}

void cpu::state_norms(std::int64_t e, const c10::Half* const* rows, std::int64_t n, float* out) {
  at::parallel_for(0, n, 2048, [&](std::int64_t i0, std::int64_t i1) {
#ifdef MNEMO_EXACT_X86
    if (cpu_has_avx2() && e % 8 == 0) {
      state_norms_avx2(e, rows, i0, i1, out);
      return;
    }
#endif
    for (std::int64_t i = i0; i < i1; ++i) {
      float norm = 0;
      for (std::int64_t j = 0; j < e; ++j) {
        const float x = to_float(rows[i][j]);
        norm += x * x;
      }
      out[i] = norm;
    }
  });
}

void cpu::distance_scores(const float* q, std::int64_t e, const c10::Half* const* rows,
                          const float* norms, std::int64_t n, float* out) {
  at::parallel_for(0, n, 2048, [&](std::int64_t i0, std::int64_t i1) {
#ifdef MNEMO_EXACT_X86
    if (cpu_has_avx2() && e % 8 == 0) {
      distance_scores_normed_avx2(q, e, rows, norms, i0, i1, out);
      return;
    }
#endif
    for (std::int64_t i = i0; i < i1; ++i) {
      float dot = 0;
      for (std::int64_t j = 0; j < e; ++j) dot += q[j] * to_float(rows[i][j]);
      out[i] = 2.0f * dot - norms[i];
    }
  });
}

void cpu::distance_scores(const float* q, std::int64_t e, const c10::Half* const* rows,
                          std::int64_t n, float* out) {
  thread_local std::vector<float> norms;
  norms.resize(static_cast<std::size_t>(n));
  state_norms(e, rows, n, norms.data());
  distance_scores(q, e, rows, norms.data(), n, out);
}

namespace {

at::Tensor score_blocks_cpu(const at::Tensor& q, const at::Tensor& reps) {
  at::Tensor out = at::empty({q.size(0), reps.size(1)}, at::kFloat);
  cpu::score_blocks_into(q, reps, out);
  return out;
}

at::Tensor top_k_blocks_cpu(const at::Tensor& scores_in, std::int64_t k) {
  const std::int64_t h = scores_in.size(0), b = scores_in.size(1);
  const std::int64_t kk = std::min(k, b);
  if (kk > 256) return std::get<1>(at::topk(scores_in, kk, 1, true, false));
  const at::Tensor scores = scores_in.to(at::kFloat).contiguous();
  at::Tensor out = at::empty({h, kk}, scores.options().dtype(at::kLong));
  if (kk <= 0) return out;
  const float* sp = scores.data_ptr<float>();
  std::int64_t* op = out.data_ptr<std::int64_t>();
  at::parallel_for(0, h, 1, [&](std::int64_t begin, std::int64_t end) {
    // A min-heap of the best kk (score, index) pairs: each further score costs one
    // comparison with the heap's minimum unless it enters. NaN never enters.
    std::vector<std::pair<float, std::int64_t>> heap(static_cast<std::size_t>(kk));
    const auto greater = std::greater<std::pair<float, std::int64_t>>();
    for (std::int64_t row = begin; row < end; ++row) {
      const float* s = sp + row * b;
      for (std::int64_t i = 0; i < kk; ++i) {
        heap[static_cast<std::size_t>(i)] = {std::isnan(s[i]) ? kNegInf : s[i], i};
      }
      std::make_heap(heap.begin(), heap.end(), greater);
      float threshold = heap.front().first;
      for (std::int64_t i = kk; i < b; ++i) {
        if (s[i] > threshold) {
          std::pop_heap(heap.begin(), heap.end(), greater);
          heap.back() = {s[i], i};
          std::push_heap(heap.begin(), heap.end(), greater);
          threshold = heap.front().first;
        }
      }
      for (std::int64_t i = 0; i < kk; ++i)
        op[row * kk + i] = heap[static_cast<std::size_t>(i)].second;
    }
  });
  return out;
}

/// True when selected[h] is 0..K-1 for every head and keys hold exactly those blocks per
/// query head: the caller already gathered them (ExactTier does, to rotate the keys).
bool is_identity_selection(const at::Tensor& selected, std::int64_t h, std::int64_t b) {
  const std::int64_t k = selected.size(1);
  if (k != b) return false;
  const at::Tensor sel = selected.to(at::kLong).contiguous();
  const std::int64_t* p = sel.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < h; ++i) {
    for (std::int64_t j = 0; j < k; ++j) {
      if (p[i * k + j] != j) return false;
    }
  }
  return true;
}

AttentionOutput attend_blocks_cpu(const at::Tensor& q_in, const at::Tensor& keys,
                                  const at::Tensor& values, const at::Tensor& selected,
                                  const at::Tensor& valid) {
  const std::int64_t h = q_in.size(0), d = q_in.size(1);
  const std::int64_t h_kv = keys.size(0), b = keys.size(1), c = keys.size(2);
  const std::int64_t k = selected.size(1);
  if (h % h_kv != 0 || keys.size(3) != d || selected.size(0) != h) {
    throw std::invalid_argument("attend_blocks: shapes of q, keys and selected disagree");
  }
  const at::Tensor q = q_in.to(at::kFloat);
  if (k == 0) {
    return {at::zeros({h, 1, d}, q.options()), at::full({h, 1}, kNegInf, q.options())};
  }
  at::Tensor kg, vg, valid_g;  // [H, K, C, D], [H, K, C, D], [H, K]
  if (h_kv == h && is_identity_selection(selected, h, b)) {
    kg = keys;
    vg = values;
    valid_g = valid;
  } else {
    const at::Tensor kv = at::arange(h, selected.options().dtype(at::kLong))
                              .div_(h / h_kv, "floor")
                              .unsqueeze(1)
                              .expand({h, k});
    const at::Tensor sel = selected.to(at::kLong);
    kg = keys.index({kv, sel});
    vg = values.index({kv, sel});
    valid_g = valid.index({kv, sel});
  }
  const at::Tensor kf = kg.to(at::kFloat).reshape({h, k * c, d});
  const at::Tensor vf = vg.to(at::kFloat).reshape({h, k * c, d});
  at::Tensor scores = at::bmm(kf, q.unsqueeze(2)).squeeze(2);  // [H, K*C]
  // Token t of a block is used when t < valid (a file's last block may be partial).
  const at::Tensor unused = at::arange(c, valid_g.options().dtype(at::kInt))
                                .ge(valid_g.to(at::kInt).unsqueeze(2))
                                .reshape({h, k * c});
  scores.masked_fill_(unused, kNegInf);
  const at::Tensor lse = at::logsumexp(scores, 1, /*keepdim=*/true);  // [H, 1]
  // A head whose selection holds no token keeps lse = -inf and o = 0.
  const at::Tensor shift = at::where(at::isinf(lse), at::zeros_like(lse), lse);
  const at::Tensor probs = (scores - shift).exp_();      // [H, K*C]
  const at::Tensor o = at::bmm(probs.unsqueeze(1), vf);  // [H, 1, D]
  return {o, lse};
}

}  // namespace

at::Tensor score_blocks(const at::Tensor& q, const at::Tensor& representatives) {
#ifdef MNEMO_WITH_CUDA
  if (q.is_cuda()) return cuda::score_blocks(q, representatives);
#endif
  return score_blocks_cpu(q, representatives);
}

at::Tensor top_k_blocks(const at::Tensor& scores, std::int64_t k) {
#ifdef MNEMO_WITH_CUDA
  if (scores.is_cuda()) return cuda::top_k_blocks(scores, k);
#endif
  return top_k_blocks_cpu(scores, k);
}

AttentionOutput attend_blocks(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                              const at::Tensor& selected, const at::Tensor& valid) {
#ifdef MNEMO_WITH_CUDA
  if (q.is_cuda()) return cuda::attend_blocks(q, keys, values, selected, valid);
#endif
  return attend_blocks_cpu(q, keys, values, selected, valid);
}

}  // namespace mnemo::model::memory
