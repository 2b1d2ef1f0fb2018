#include "model/memory/exact/int8_selection.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "model/memory/exact/kernel_isa.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MNEMO_INT8_X86 1
#include <immintrin.h>
#endif

namespace mnemo::model::memory::cpu {
namespace {

constexpr std::int64_t kTile = 16;             // blocks per tile
constexpr int kMaxGroup = 4;                   // query heads per pass over a tile
constexpr std::int64_t kChunkTiles = 256;      // tiles per work item (4,096 blocks, 256 KiB)
constexpr std::int64_t kPrefetchBytes = 1024;  // measured best at 5M tokens (0.5-2 KiB)
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// One key/value head's operands: ng query rows of D int16 against its tiles.
struct Operands {
  const std::int8_t* a = nullptr;
  const std::int8_t* b = nullptr;  // null: no second term
  const std::int16_t* qa = nullptr;
  const std::int16_t* qb = nullptr;
  std::int64_t d = 0;
};

/// What a kernel needs to bound one tile's blocks for each head of its group.
struct TileBounds {
  const float* scales = nullptr;  ///< the tile's block scales; lanes [0, n) are read
  std::int64_t n = 0;             ///< blocks of the tile below n_blocks
  float q_scale[kMaxGroup] = {}, err[kMaxGroup] = {}, threshold[kMaxGroup] = {};
};

/// The bounds a kernel writes for the heads it reports: lower and upper, lanes [0, n).
struct TileHits {
  alignas(64) float lower[kMaxGroup][kTile];
  alignas(64) float upper[kMaxGroup][kTile];
};

/// Scores one tile for ng heads and returns a bit per head whose upper bound reached its
/// threshold in some lane (and only then fills that head's rows of `hits`). Every version
/// computes the bounds with the same float operations in the same order (the file is
/// built with -ffp-contract=off), so all return the same bits and bounds.
using TileKernel = unsigned (*)(const Operands&, std::int64_t tile, int ng, const TileBounds&,
                                TileHits&);

/// The reference version: any CPU, any group size up to kMaxGroup.
unsigned tile_portable(const Operands& op, std::int64_t t, int ng, const TileBounds& bounds,
                       TileHits& hits) {
  const std::int64_t d = op.d;
  unsigned found = 0;
  for (int gi = 0; gi < ng; ++gi) {
    bool any = false;
    for (std::int64_t lane = 0; lane < bounds.n; ++lane) {
      std::int32_t sum = 0;
      for (std::int64_t j = 0; j < d; ++j) {
        const std::int64_t at = t * d * kTile + (j / 2) * 2 * kTile + lane * 2 + j % 2;
        sum += std::int32_t{op.qa[gi * d + j]} * std::int32_t{op.a[at]};
        if (op.b != nullptr) sum += std::int32_t{op.qb[gi * d + j]} * std::int32_t{op.b[at]};
      }
      const float a = static_cast<float>(sum) * bounds.q_scale[gi], s = bounds.scales[lane];
      hits.lower[gi][lane] = s * (a - bounds.err[gi]);
      hits.upper[gi][lane] = s * (a + bounds.err[gi]);
      any = any || hits.upper[gi][lane] >= bounds.threshold[gi];
    }
    if (any) found |= 1u << gi;
  }
  return found;
}

#ifdef MNEMO_INT8_X86

/// (q[2p], q[2p + 1]) as one int32, to broadcast against a row of 16 blocks x 2 dimensions.
inline std::int32_t query_pair(const std::int16_t* q, std::int64_t p) {
  std::int32_t pair = 0;
  std::memcpy(&pair, q + 2 * p, sizeof(pair));
  return pair;
}

/// AVX2: a row (16 blocks x 2 dimensions) sign-extended to int16 in two registers, then
/// vpmaddwd with the broadcast pair and an add per head and register.
template <int NG>
__attribute__((target("avx2,fma,f16c"))) inline void add_row_avx2(__m256i (&acc)[NG][2],
                                                                  const std::int8_t* tile,
                                                                  const std::int16_t* q,
                                                                  std::int64_t d, std::int64_t p) {
  const std::int8_t* row = tile + p * 2 * kTile;
  if ((p & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(row) + kPrefetchBytes, _MM_HINT_T0);
  const __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row)));
  const __m256i x1 =
      _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 16)));
  for (int gi = 0; gi < NG; ++gi) {
    const __m256i qp = _mm256_set1_epi32(query_pair(q + gi * d, p));
    acc[gi][0] = _mm256_add_epi32(acc[gi][0], _mm256_madd_epi16(x0, qp));
    acc[gi][1] = _mm256_add_epi32(acc[gi][1], _mm256_madd_epi16(x1, qp));
  }
}

template <int NG, bool kTwo>
__attribute__((target("avx2,fma,f16c"))) unsigned tile_avx2(const Operands& op, std::int64_t t,
                                                            int /*ng*/, const TileBounds& bounds,
                                                            TileHits& hits) {
  const std::int64_t d = op.d, pairs = d / 2;
  __m256i acc[NG][2];
  for (int gi = 0; gi < NG; ++gi) acc[gi][0] = acc[gi][1] = _mm256_setzero_si256();
  const std::int8_t* ta = op.a + t * d * kTile;
  const std::int8_t* tb = kTwo ? op.b + t * d * kTile : nullptr;
  for (std::int64_t p = 0; p < pairs; ++p) {
    add_row_avx2<NG>(acc, ta, op.qa, d, p);
    if constexpr (kTwo) add_row_avx2<NG>(acc, tb, op.qb, d, p);
  }
  // Lanes past n are loaded as 0 (a masked load never touches them) and masked off.
  __m256i valid[2];
  __m256 s[2];
  for (int w = 0; w < 2; ++w) {
    const __m256i lane =
        _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 * w));
    valid[w] = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(bounds.n)), lane);
    s[w] = _mm256_maskload_ps(bounds.scales + 8 * w, valid[w]);
  }
  unsigned found = 0;
  for (int gi = 0; gi < NG; ++gi) {
    const __m256 qs = _mm256_set1_ps(bounds.q_scale[gi]), e = _mm256_set1_ps(bounds.err[gi]);
    const __m256 threshold = _mm256_set1_ps(bounds.threshold[gi]);
    __m256 lower[2], upper[2];
    int any = 0;
    for (int w = 0; w < 2; ++w) {
      const __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[gi][w]), qs);
      lower[w] = _mm256_mul_ps(s[w], _mm256_sub_ps(a, e));
      upper[w] = _mm256_mul_ps(s[w], _mm256_add_ps(a, e));
      const __m256 hit = _mm256_and_ps(_mm256_cmp_ps(upper[w], threshold, _CMP_GE_OQ),
                                       _mm256_castsi256_ps(valid[w]));
      any |= _mm256_movemask_ps(hit);
    }
    if (any == 0) continue;
    found |= 1u << gi;
    for (int w = 0; w < 2; ++w) {
      _mm256_store_ps(hits.lower[gi] + 8 * w, lower[w]);
      _mm256_store_ps(hits.upper[gi] + 8 * w, upper[w]);
    }
  }
  return found;
}

/// AVX-512 VNNI: the whole row sign-extended into one register and one vpdpwssd (multiply,
/// add pairs, accumulate) per head: a third of the AVX2 version's instructions, which
/// makes the scan memory-bound on both cores (measured on Zen 4 at 10 MB, two threads:
/// 35 GB/s against 24 for AVX2).
template <int NG>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void add_row_vnni(
    __m512i (&acc)[NG], const std::int8_t* tile, const std::int16_t* q, std::int64_t d,
    std::int64_t p) {
  const std::int8_t* row = tile + p * 2 * kTile;
  if ((p & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(row) + kPrefetchBytes, _MM_HINT_T0);
  const __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row)));
  for (int gi = 0; gi < NG; ++gi) {
    acc[gi] = _mm512_dpwssd_epi32(acc[gi], x, _mm512_set1_epi32(query_pair(q + gi * d, p)));
  }
}

template <int NG, bool kTwo>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) unsigned tile_vnni(
    const Operands& op, std::int64_t t, int /*ng*/, const TileBounds& bounds, TileHits& hits) {
  const std::int64_t d = op.d, pairs = d / 2;
  __m512i acc[NG];
  for (int gi = 0; gi < NG; ++gi) acc[gi] = _mm512_setzero_si512();
  const std::int8_t* ta = op.a + t * d * kTile;
  const std::int8_t* tb = kTwo ? op.b + t * d * kTile : nullptr;
  for (std::int64_t p = 0; p < pairs; ++p) {
    add_row_vnni<NG>(acc, ta, op.qa, d, p);
    if constexpr (kTwo) add_row_vnni<NG>(acc, tb, op.qb, d, p);
  }
  const auto valid = static_cast<__mmask16>((1u << bounds.n) - 1);  // n in [1, 16]
  const __m512 s = _mm512_maskz_loadu_ps(valid, bounds.scales);
  unsigned found = 0;
  for (int gi = 0; gi < NG; ++gi) {
    // (maskz: GCC 12 warns that the unmasked conversion's undefined source is uninitialized)
    const __m512 a = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, acc[gi]),
                                   _mm512_set1_ps(bounds.q_scale[gi]));
    const __m512 e = _mm512_set1_ps(bounds.err[gi]);
    const __m512 upper = _mm512_mul_ps(s, _mm512_add_ps(a, e));
    if (_mm512_mask_cmp_ps_mask(valid, upper, _mm512_set1_ps(bounds.threshold[gi]), _CMP_GE_OQ) ==
        0) {
      continue;
    }
    found |= 1u << gi;
    _mm512_store_ps(hits.lower[gi], _mm512_mul_ps(s, _mm512_sub_ps(a, e)));
    _mm512_store_ps(hits.upper[gi], upper);
  }
  return found;
}

#endif  // MNEMO_INT8_X86

/// The version for this CPU (and kernel_isa()'s limit), ng query heads, one or two terms.
TileKernel pick_kernel(int ng, bool two) {
#ifdef MNEMO_INT8_X86
  static constexpr TileKernel kVnni[2][kMaxGroup] = {
      {tile_vnni<1, false>, tile_vnni<2, false>, tile_vnni<3, false>, tile_vnni<4, false>},
      {tile_vnni<1, true>, tile_vnni<2, true>, tile_vnni<3, true>, tile_vnni<4, true>}};
  static constexpr TileKernel kAvx2[2][kMaxGroup] = {
      {tile_avx2<1, false>, tile_avx2<2, false>, tile_avx2<3, false>, tile_avx2<4, false>},
      {tile_avx2<1, true>, tile_avx2<2, true>, tile_avx2<3, true>, tile_avx2<4, true>}};
  switch (kernel_isa()) {
    case KernelIsa::kAvx512Vnni:
      return kVnni[two ? 1 : 0][ng - 1];
    case KernelIsa::kAvx2:
      return kAvx2[two ? 1 : 0][ng - 1];
    case KernelIsa::kPortable:
      break;
  }
#else
  (void)ng;
  (void)two;
#endif
  return tile_portable;
}

/// One row's running selection over the blocks one thread has seen: a min-heap of the k
/// largest lower bounds (padded with -inf), so its front is a threshold that only rises and
/// never exceeds the final one; and every block whose upper bound reached the threshold
/// when it was seen (a superset of the final candidates).
struct RowSelection {
  std::vector<float> heap;
  std::vector<std::pair<float, std::int64_t>> candidates;  // (upper bound, block)

  float threshold() const { return heap.front(); }

  /// Lanes [0, n) of a tile starting at block b0, with their bounds.
  void consume(const float* lower, const float* upper, std::int64_t n, std::int64_t b0) {
    const auto greater = std::greater<float>();
    for (std::int64_t i = 0; i < n; ++i) {
      if (lower[i] > heap.front()) {  // NaN never enters
        std::pop_heap(heap.begin(), heap.end(), greater);
        heap.back() = lower[i];
        std::push_heap(heap.begin(), heap.end(), greater);
      }
    }
    for (std::int64_t i = 0; i < n; ++i) {
      if (upper[i] >= heap.front()) candidates.emplace_back(upper[i], b0 + i);
    }
  }
};

void check(const Int8SelectionInput& in) {
  const at::Tensor& q = in.q;
  const at::Tensor& t = in.tiles;
  const bool ok_q = q.dim() == 2 && q.scalar_type() == at::kShort && q.is_contiguous() &&
                    q.is_cpu() && q.size(1) % 2 == 0 && q.size(1) <= 512;
  const bool ok_t = ok_q && t.dim() == 5 && t.scalar_type() == at::kChar && t.is_contiguous() &&
                    t.is_cpu() && t.size(0) > 0 && q.size(0) % t.size(0) == 0 &&
                    t.size(2) == q.size(1) / 2 && t.size(3) == kTile && t.size(4) == 2 &&
                    in.n_blocks >= 0 && in.n_blocks <= t.size(1) * kTile;
  const bool ok_b =
      !in.q_b.defined() ||
      (in.tiles_b.defined() && in.q_b.sizes() == q.sizes() && in.q_b.scalar_type() == at::kShort &&
       in.q_b.is_contiguous() && in.q_b.is_cpu() && in.tiles_b.sizes() == t.sizes() &&
       in.tiles_b.scalar_type() == at::kChar && in.tiles_b.is_contiguous() && in.tiles_b.is_cpu());
  const at::Tensor& s = in.scales;
  const auto h = ok_t ? static_cast<std::size_t>(q.size(0)) : 0;
  const bool ok_s = ok_t && s.dim() == 2 && s.scalar_type() == at::kFloat && s.is_cpu() &&
                    s.size(0) == t.size(0) && s.size(1) >= in.n_blocks &&
                    (s.size(1) <= 1 || s.stride(1) == 1) && in.q_scale.size() == h &&
                    in.err.size() == h;
  if (!ok_q || !ok_t || !ok_b || !ok_s) {
    throw std::invalid_argument(
        "int8_top_k_candidates: q [H, D] int16 (D even, <= 512), tiles [Hkv, T, D/2, 16, 2] "
        "int8 (and q_b, tiles_b alike), scales [Hkv, >= B] float, q_scale and err [H] disagree");
  }
  // The int32 sums are exact when |q| + |q_b| <= 32767 per dimension (127 · 32767 · 512 <
  // 2^31).
  at::Tensor magnitude = q.to(at::kInt).abs();
  if (in.q_b.defined()) magnitude = magnitude + in.q_b.to(at::kInt).abs();
  if (magnitude.numel() > 0 && magnitude.max().item<std::int32_t>() > 32767) {
    throw std::invalid_argument("int8_top_k_candidates: |q| + |q_b| exceeds 32767");
  }
}

}  // namespace

std::vector<std::vector<std::int64_t>> int8_top_k_candidates(const Int8SelectionInput& in) {
  check(in);
  const std::int64_t h = in.q.size(0), d = in.q.size(1), h_kv = in.tiles.size(0);
  const std::int64_t group = h / h_kv, b = in.n_blocks;
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(h));
  const std::int64_t k = std::min(in.k, b);
  if (k <= 0) return out;

  const bool two = in.q_b.defined();
  const std::int8_t* tiles_a = in.tiles.data_ptr<std::int8_t>();
  const std::int8_t* tiles_b = two ? in.tiles_b.data_ptr<std::int8_t>() : nullptr;
  const std::int16_t* qa = in.q.data_ptr<std::int16_t>();
  const std::int16_t* qb = two ? in.q_b.data_ptr<std::int16_t>() : nullptr;
  const float* scales = in.scales.data_ptr<float>();
  const std::int64_t head_stride = in.tiles.stride(0), scale_stride = in.scales.stride(0);
  const std::int64_t n_tiles = (b + kTile - 1) / kTile;
  const std::int64_t chunks = (n_tiles + kChunkTiles - 1) / kChunkTiles;

  // What every thread found, merged under the mutex once per thread.
  std::mutex mutex;
  std::vector<std::vector<float>> lower_bounds(static_cast<std::size_t>(h));
  std::vector<std::vector<std::pair<float, std::int64_t>>> found(static_cast<std::size_t>(h));

  // Work items (key/value head, chunk of tiles) go to whichever thread asks next rather than
  // in fixed halves: on a shared machine one core is often slower for a while.
  const std::int64_t items = h_kv * chunks;
  std::atomic<std::int64_t> next{0};
  const std::int64_t workers = std::min<std::int64_t>(at::get_num_threads(), items);
  at::parallel_for(0, workers, 1, [&](std::int64_t, std::int64_t) {
    std::vector<RowSelection> rows(static_cast<std::size_t>(h));
    TileBounds bounds;
    TileHits hits;
    for (std::int64_t w = next++; w < items; w = next++) {
      const std::int64_t kv = w / chunks, t0 = (w % chunks) * kChunkTiles;
      const std::int64_t t1 = std::min(n_tiles, t0 + kChunkTiles);
      for (std::int64_t g0 = 0; g0 < group; g0 += kMaxGroup) {
        const int ng = static_cast<int>(std::min<std::int64_t>(group - g0, kMaxGroup));
        const std::int64_t row0 = kv * group + g0;
        const Operands op{tiles_a + kv * head_stride, two ? tiles_b + kv * head_stride : nullptr,
                          qa + row0 * d, two ? qb + row0 * d : nullptr, d};
        const TileKernel kernel = pick_kernel(ng, two);
        for (int gi = 0; gi < ng; ++gi) {
          const auto row = static_cast<std::size_t>(row0 + gi);
          if (rows[row].heap.empty()) rows[row].heap.assign(static_cast<std::size_t>(k), kNegInf);
          bounds.q_scale[gi] = in.q_scale[row];
          bounds.err[gi] = in.err[row];
          bounds.threshold[gi] = rows[row].threshold();
        }
        for (std::int64_t t = t0; t < t1; ++t) {
          const std::int64_t b0 = t * kTile;
          bounds.scales = scales + kv * scale_stride + b0;
          bounds.n = std::min(kTile, b - b0);
          for (unsigned heads = kernel(op, t, ng, bounds, hits); heads != 0; heads &= heads - 1) {
            const int gi = __builtin_ctz(heads);
            RowSelection& mine = rows[static_cast<std::size_t>(row0 + gi)];
            mine.consume(hits.lower[gi], hits.upper[gi], bounds.n, b0);
            bounds.threshold[gi] = mine.threshold();
          }
        }
      }
    }
    const std::lock_guard<std::mutex> lock(mutex);
    for (std::size_t row = 0; row < rows.size(); ++row) {
      auto& mine = rows[row];
      lower_bounds[row].insert(lower_bounds[row].end(), mine.heap.begin(), mine.heap.end());
      found[row].insert(found[row].end(), mine.candidates.begin(), mine.candidates.end());
    }
  });

  for (std::size_t row = 0; row < out.size(); ++row) {
    // The k-th largest lower bound of the row: each thread kept its k largest.
    auto& lows = lower_bounds[row];
    std::nth_element(lows.begin(), lows.begin() + (k - 1), lows.end(), std::greater<float>());
    const float tau = lows[static_cast<std::size_t>(k - 1)];
    for (const auto& [upper, block] : found[row]) {
      if (upper >= tau) out[row].push_back(block);
    }
    std::sort(out[row].begin(), out[row].end());
  }
  return out;
}

}  // namespace mnemo::model::memory::cpu
