#include "model/quantized_matrix.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "model/dequantize.h"
#include "model/gguf_reader.h"

namespace mnemo::model {

std::uint16_t fp32_to_fp16(float f) {
  // ggml_compute_fp32_to_fp16 (ggml-impl.h): round to nearest even, NaN stays NaN.
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
  std::uint32_t w;
  std::memcpy(&w, &f, 4);
  const std::uint32_t shl1_w = w + w;
  const std::uint32_t sign = w & 0x80000000u;
  std::uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  const std::uint32_t bias_bits = (bias >> 1) + 0x07800000u;
  float bias_f;
  std::memcpy(&bias_f, &bias_bits, 4);
  base = bias_f + base;
  std::uint32_t bits;
  std::memcpy(&bits, &base, 4);
  const std::uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const std::uint32_t mantissa_bits = bits & 0x00000FFFu;
  const std::uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<std::uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

std::uint16_t fp32_to_bf16(float f) {
  // ggml_compute_fp32_to_bf16 (ggml-impl.h).
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 64);
  return static_cast<std::uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

namespace {

constexpr int kQK = 32;     // elements per Q4_0 ... Q8_1 block
constexpr int kQK_K = 256;  // elements per K-quant block

// fp16 -> fp32 by table, as ggml does without F16C (ggml_table_f32_f16).
const float* fp16_table() {
  static const std::unique_ptr<float[]> table = [] {
    std::unique_ptr<float[]> t(new float[65536]);
    for (std::uint32_t h = 0; h < 65536; ++h) t[h] = fp16_to_fp32(static_cast<std::uint16_t>(h));
    return t;
  }();
  return table.get();
}

// Byte v -> 8 bytes, byte k = 0x10 if bit k of v is set: the fifth bits of Q5_0/Q5_1.
const std::uint64_t* bit4_table() {
  static const std::array<std::uint64_t, 256> table = [] {
    std::array<std::uint64_t, 256> t{};
    for (int v = 0; v < 256; ++v)
      for (int k = 0; k < 8; ++k)
        if (v & (1 << k)) t[v] |= std::uint64_t{0x10} << (8 * k);
    return t;
  }();
  return table.data();
}

inline float half_at(const float* table, const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return table[h];
}

// _mm256_round_ps(v, _MM_ROUND_NEAREST) and ggml's nearest_int: to nearest, ties to even.
inline float round_even(float v) {
#ifdef __SSE4_1__
  return std::nearbyint(v);
#else
  // |v| <= 128 here. Without SSE4.1 there is no FMA either, so the add is not contracted.
  return (v + 12582912.f) - 12582912.f;
#endif
}

inline float fp16_round(float f) {
  return fp16_to_fp32(fp32_to_fp16(f));
}

// ---- Activations, quantized to the vec_dot_type. Scales are kept as the float value of the
// fp16 that ggml stores, so the dot products use exactly ggml's numbers. The quants (int8 in
// ggml) are widened to int16 once here, which spares the dot loops a sign extension per
// weight block on SSE2 (pmaddwd works on int16).

struct ActQ8_0 {  // block_q8_0
  float d;
  std::int16_t qs[kQK];
};

struct ActQ8_1 {  // block_q8_1: s = fp16(d * sum(qs)) with the unrounded d
  float d;
  float s;
  std::int16_t qs[kQK];
};

struct ActQ8_K {  // block_q8_K: d is float; bsums are the sums of 16 quants
  float d;
  std::int16_t bsums[kQK_K / 16];
  std::int16_t qs[kQK_K];
};

// quantize_row_q8_0 (ggml-cpu/arch/x86/quants.c, AVX/AVX2 branch): d = amax / 127 but
// id = 127 / amax (not 1 / d as in quantize_row_q8_0_ref), rounding ties to even (not roundf).
template <class Block>
float quantize_q8_block(const float* x, Block& y) {
  float amax = 0.f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  y.d = fp16_round(d);
  const float id = amax != 0.f ? 127.f / amax : 0.f;
  for (int j = 0; j < kQK; ++j) y.qs[j] = static_cast<std::int16_t>(round_even(x[j] * id));
  return d;
}

void quantize_q8_0(const float* x, ActQ8_0* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b) quantize_q8_block(x + b * kQK, y[b]);
}

// quantize_row_q8_1 (x86, AVX/AVX2): as Q8_0, plus s = fp16(d * sum of the quants).
void quantize_q8_1(const float* x, ActQ8_1* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b) {
    const float d = quantize_q8_block(x + b * kQK, y[b]);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) sum += y[b].qs[j];
    y[b].s = fp16_round(d * static_cast<float>(sum));
  }
}

// quantize_row_q8_K_ref (ggml-quants.c), which x86 runs too: the scale comes from the
// element of largest magnitude (the first one on a tie) with its sign, iscale = -127 / max.
void quantize_q8_k(const float* x, ActQ8_K* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    ActQ8_K& out = y[b];
    float max = 0.f, amax = 0.f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.f) {
      out.d = 0.f;
      std::memset(out.qs, 0, sizeof out.qs);
      std::memset(out.bsums, 0, sizeof out.bsums);
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) {
      const int v = static_cast<int>(round_even(iscale * x[j]));
      out.qs[j] = static_cast<std::int16_t>(std::min(127, v));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += out.qs[j * 16 + i];
      out.bsums[j] = static_cast<std::int16_t>(sum);
    }
    out.d = 1 / iscale;
  }
}

// F16 / BF16 weights: ggml converts the activations to the weight type (round to nearest
// even); the products of two such values are exact in float.
void quantize_f16(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = fp16_round(x[i]);
}
void quantize_bf16(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
}
void quantize_f32(const float* x, float* y, std::int64_t n) {
  std::memcpy(y, x, static_cast<std::size_t>(n) * sizeof(float));
}

// ---- Dot products of one weight row with one activation row (n elements), after
// ggml-cpu/quants.c ggml_vec_dot_*_generic. The integer sums are the same; the float sums
// may be added in another order. Weights are unpacked to int16 first so that the 32-wide
// integer loops vectorize (to pmaddwd).

inline int dot32(const std::int16_t* a, const std::int16_t* b) {
  int sum = 0;
  for (int l = 0; l < kQK; ++l) sum += a[l] * b[l];
  return sum;
}

inline int dot16(const std::int16_t* a, const std::int16_t* b) {
  int sum = 0;
  for (int l = 0; l < 16; ++l) sum += a[l] * b[l];
  return sum;
}

// Nibbles of qs[16] -> 32 values: low nibbles first, then high nibbles, minus `offset`.
inline void unpack_nibbles(const std::uint8_t* qs, int offset, std::int16_t* a) {
  for (int j = 0; j < 16; ++j) {
    a[j] = static_cast<std::int16_t>((qs[j] & 0x0F) - offset);
    a[j + 16] = static_cast<std::int16_t>((qs[j] >> 4) - offset);
  }
}

// Q5: qh (4 bytes) holds the fifth bit of element j in bit j.
inline void unpack_q5(const std::uint8_t* qh, const std::uint8_t* qs, int offset, std::int16_t* a) {
  const std::uint64_t* bits = bit4_table();
  std::uint8_t hi[kQK];
  for (int k = 0; k < 4; ++k) std::memcpy(hi + 8 * k, &bits[qh[k]], 8);
  for (int j = 0; j < 16; ++j) {
    a[j] = static_cast<std::int16_t>(((qs[j] & 0x0F) | hi[j]) - offset);
    a[j + 16] = static_cast<std::int16_t>(((qs[j] >> 4) | hi[j + 16]) - offset);
  }
}

float dot_q4_0(const std::uint8_t* w, const ActQ8_0* y, std::int64_t n) {  // d, qs[16]
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK];
  for (std::int64_t b = 0; b < n / kQK; ++b, w += 18) {
    unpack_nibbles(w + 2, 8, a);
    sum += (half_at(f16, w) * y[b].d) * static_cast<float>(dot32(a, y[b].qs));
  }
  return sum;
}

float dot_q4_1(const std::uint8_t* w, const ActQ8_1* y, std::int64_t n) {  // d, m, qs[16]
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK];
  for (std::int64_t b = 0; b < n / kQK; ++b, w += 20) {
    unpack_nibbles(w + 4, 0, a);
    sum += (half_at(f16, w) * y[b].d) * static_cast<float>(dot32(a, y[b].qs)) +
           half_at(f16, w + 2) * y[b].s;
  }
  return sum;
}

float dot_q5_0(const std::uint8_t* w, const ActQ8_0* y, std::int64_t n) {  // d, qh[4], qs[16]
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK];
  for (std::int64_t b = 0; b < n / kQK; ++b, w += 22) {
    unpack_q5(w + 2, w + 6, 16, a);
    sum += (half_at(f16, w) * y[b].d) * static_cast<float>(dot32(a, y[b].qs));
  }
  return sum;
}

float dot_q5_1(const std::uint8_t* w, const ActQ8_1* y, std::int64_t n) {  // d, m, qh, qs[16]
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK];
  for (std::int64_t b = 0; b < n / kQK; ++b, w += 24) {
    unpack_q5(w + 4, w + 8, 0, a);
    sum += (half_at(f16, w) * y[b].d) * static_cast<float>(dot32(a, y[b].qs)) +
           half_at(f16, w + 2) * y[b].s;
  }
  return sum;
}

float dot_q8_0(const std::uint8_t* w, const ActQ8_0* y, std::int64_t n) {  // d, qs[32]
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK];
  for (std::int64_t b = 0; b < n / kQK; ++b, w += 34) {
    for (int j = 0; j < kQK; ++j) a[j] = static_cast<std::int8_t>(w[2 + j]);
    sum += (half_at(f16, w) * y[b].d) * static_cast<float>(dot32(a, y[b].qs));
  }
  return sum;
}

// The 6-bit scales and mins of Q4_K/Q5_K (get_scale_min_k4).
inline void scales_mins_k4(const std::uint8_t* q, int* sc, int* m) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    m[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Shared tail of Q4_K/Q5_K: a[256] unpacked (0..31), 8 sub-blocks of 32 with scale sc[j],
// min m[j] (its 16-sums are bsums[2j], bsums[2j+1]).
inline float k4_block(const std::uint8_t* w, const float* f16, const std::int16_t* a,
                      const ActQ8_K& y) {
  int sc[8], m[8];
  scales_mins_k4(w + 4, sc, m);
  int sumi = 0;
  for (int j = 0; j < 8; ++j) sumi += sc[j] * dot32(a + 32 * j, y.qs + 32 * j);
  int summ = 0;
  for (int j = 0; j < kQK_K / 16; ++j) summ += y.bsums[j] * m[j / 2];
  return (half_at(f16, w) * y.d) * static_cast<float>(sumi) -
         (half_at(f16, w + 2) * y.d) * static_cast<float>(summ);
}

float dot_q4_k(const std::uint8_t* w, const ActQ8_K* y, std::int64_t n) {
  // d, dmin, scales[12], qs[128]
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK_K];
  for (std::int64_t b = 0; b < n / kQK_K; ++b, w += 144) {
    const std::uint8_t* q = w + 16;
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) {
        a[64 * j + l] = static_cast<std::int16_t>(q[32 * j + l] & 0xF);
        a[64 * j + 32 + l] = static_cast<std::int16_t>(q[32 * j + l] >> 4);
      }
    sum += k4_block(w, f16, a, y[b]);
  }
  return sum;
}

float dot_q5_k(const std::uint8_t* w, const ActQ8_K* y, std::int64_t n) {
  // d, dmin, scales[12], qh[32], qs[128]
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK_K];
  for (std::int64_t b = 0; b < n / kQK_K; ++b, w += 176) {
    const std::uint8_t* qh = w + 16;
    const std::uint8_t* q = w + 48;
    for (int j = 0; j < 4; ++j) {
      const int s1 = 2 * j, s2 = 2 * j + 1;
      for (int l = 0; l < 32; ++l) {
        a[64 * j + l] =
            static_cast<std::int16_t>((q[32 * j + l] & 0xF) | (((qh[l] >> s1) & 1) << 4));
        a[64 * j + 32 + l] =
            static_cast<std::int16_t>((q[32 * j + l] >> 4) | (((qh[l] >> s2) & 1) << 4));
      }
    }
    sum += k4_block(w, f16, a, y[b]);
  }
  return sum;
}

float dot_q6_k(const std::uint8_t* w, const ActQ8_K* y, std::int64_t n) {
  // ql[128], qh[64], scales[16] (int8), d
  const float* f16 = fp16_table();
  float sum = 0.f;
  std::int16_t a[kQK_K];
  for (std::int64_t b = 0; b < n / kQK_K; ++b, w += 210) {
    const std::uint8_t* ql = w;
    const std::uint8_t* qh = w + 128;
    for (int h = 0; h < 2; ++h) {
      std::int16_t* o = a + 128 * h;
      const std::uint8_t* q4 = ql + 64 * h;
      const std::uint8_t* q2 = qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        o[l] = static_cast<std::int16_t>(((q4[l] & 0xF) | (((q2[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] =
            static_cast<std::int16_t>(((q4[l + 32] & 0xF) | (((q2[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<std::int16_t>(((q4[l] >> 4) | (((q2[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<std::int16_t>(((q4[l + 32] >> 4) | (((q2[l] >> 6) & 3) << 4)) - 32);
      }
    }
    const std::int8_t* sc = reinterpret_cast<const std::int8_t*>(w + 192);
    int sumi = 0;
    for (int j = 0; j < kQK_K / 16; ++j) sumi += sc[j] * dot16(a + 16 * j, y[b].qs + 16 * j);
    sum += (half_at(f16, w + 208) * y[b].d) * static_cast<float>(sumi);
  }
  return sum;
}

// Float rows: 8 partial sums (the SIMD lanes of ggml_vec_dot_f16 / _f32).
template <class Load>
float dot_float(const std::uint8_t* w, const float* y, std::int64_t n, Load load) {
  float acc[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += load(w, i + l) * y[i + l];
  float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) sum += load(w, i) * y[i];
  return sum;
}

float dot_f16(const std::uint8_t* w, const float* y, std::int64_t n) {
  const float* f16 = fp16_table();
  return dot_float(
      w, y, n, [f16](const std::uint8_t* p, std::int64_t i) { return half_at(f16, p + 2 * i); });
}

float dot_bf16(const std::uint8_t* w, const float* y, std::int64_t n) {
  return dot_float(w, y, n, [](const std::uint8_t* p, std::int64_t i) {
    std::uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return bf16_to_fp32(h);
  });
}

float dot_f32(const std::uint8_t* w, const float* y, std::int64_t n) {
  return dot_float(w, y, n, [](const std::uint8_t* p, std::int64_t i) {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  });
}

// Quantize every row of x, then one dot per output, parallel over weight rows.
template <class Act>
void run(const QuantizedMatrix& w, const float* x, std::int64_t T, float* y, std::int64_t per_act,
         void (*quantize)(const float*, Act*, std::int64_t),
         float (*dot)(const std::uint8_t*, const Act*, std::int64_t)) {
  const std::int64_t cols = w.cols(), rows = w.rows();
  const std::int64_t act_row = cols / per_act;  // Act entries per row of x
  // One scratch buffer per thread, grown as needed: decoding reuses it every step.
  thread_local std::vector<Act> scratch;
  if (scratch.size() < static_cast<std::size_t>(T * act_row)) {
    scratch.resize(static_cast<std::size_t>(T * act_row));
  }
  Act* act_data = scratch.data();
  at::parallel_for(0, T, std::max<std::int64_t>(1, 16384 / cols),
                   [&](std::int64_t b, std::int64_t e) {
                     for (std::int64_t t = b; t < e; ++t)
                       quantize(x + t * cols, act_data + t * act_row, cols);
                   });
  const std::int64_t grain =
      std::max<std::int64_t>(1, (1 << 15) / std::max<std::int64_t>(1, T * cols));
  at::parallel_for(0, rows, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const std::uint8_t* wr = w.row_data(r);
      for (std::int64_t t = 0; t < T; ++t) y[t * rows + r] = dot(wr, act_data + t * act_row, cols);
    }
  });
}

/// The float values an activation block stands for: what ggml's vec_dot multiplies.
void activation_floats(const float* a, float* out, std::int64_t n) {
  std::copy(a, a + n, out);  // F32/F16/BF16 weights: x already rounded as ggml rounds it
}
template <class Block>
void activation_floats(const Block* a, float* out, std::int64_t n) {
  constexpr std::int64_t kBlock =
      static_cast<std::int64_t>(sizeof(Block::qs) / sizeof(Block::qs[0]));
  for (std::int64_t b = 0; b < n / kBlock; ++b) {
    for (std::int64_t i = 0; i < kBlock; ++i) out[b * kBlock + i] = a[b].d * a[b].qs[i];
  }
}

/// From this many rows of x on (a prefill, a file read into the memory) a product runs as
/// float32 matrix products (BLAS) of the dequantized weights, in tiles of kGemmTileRows rows,
/// and the activations quantized as ggml quantizes them and then expanded: the same terms
/// as ggml's vec_dot (w_i · x_i summed), in float rather than integer sums, so the results
/// differ from the vec_dot path by float rounding only. One vec_dot per output costs ~5 ns
/// per 32-weight block: 256 tokens through SmolLM2-135M took 5 s.
constexpr std::int64_t kGemmMinRows = 32;
constexpr std::int64_t kGemmTileRows = 256;

template <class Act>
void run_dequantized(const QuantizedMatrix& w, const float* x, std::int64_t T, float* y,
                     std::int64_t per_act, void (*quantize)(const float*, Act*, std::int64_t)) {
  const std::int64_t rows = w.rows(), cols = w.cols(), act_row = cols / per_act;
  at::Tensor xq = at::empty({T, cols}, at::kFloat);
  float* xqp = xq.data_ptr<float>();
  at::parallel_for(0, T, 1, [&](std::int64_t b, std::int64_t e) {
    std::vector<Act> act(static_cast<std::size_t>(act_row));
    for (std::int64_t t = b; t < e; ++t) {
      quantize(x + t * cols, act.data(), cols);
      activation_floats(act.data(), xqp + t * cols, cols);
    }
  });
  const at::Tensor y2 = at::from_blob(y, {T, rows}, at::kFloat);
  at::Tensor tile = at::empty({std::min(kGemmTileRows, rows), cols}, at::kFloat);
  for (std::int64_t r0 = 0; r0 < rows; r0 += kGemmTileRows) {
    const std::int64_t n = std::min(kGemmTileRows, rows - r0);
    at::Tensor part = tile.narrow(0, 0, n);
    float* dst = part.data_ptr<float>();
    at::parallel_for(0, n, 16, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t r = b; r < e; ++r) {
        auto ok = dequantize(w.type(), w.row_data(r0 + r), dst + r * cols,
                             static_cast<std::size_t>(cols));
        TORCH_CHECK(ok, "QuantizedMatrix: ", ok ? "" : ok.error().message);
      }
    });
    at::Tensor out = y2.narrow(1, r0, n);
    at::mm_out(out, xq, part.t());
  }
}

/// y = x · Wᵀ by whichever of the two paths suits T. (F16 and BF16 weights keep ggml's own
/// dot products at every T: their fp16 rounding of x must sum in ggml's order for the
/// logits to match llama.cpp's argmax for argmax, near-ties included.)
template <class Act>
void product(const QuantizedMatrix& w, const float* x, std::int64_t T, float* y,
             std::int64_t per_act, void (*quantize)(const float*, Act*, std::int64_t),
             float (*dot)(const std::uint8_t*, const Act*, std::int64_t)) {
  if (T >= kGemmMinRows)
    run_dequantized<Act>(w, x, T, y, per_act, quantize);
  else
    run<Act>(w, x, T, y, per_act, quantize, dot);
}

}  // namespace

Result<QuantizedMatrix, ModelError> QuantizedMatrix::create(std::uint32_t type, std::int64_t rows,
                                                            std::int64_t cols,
                                                            const std::uint8_t* data,
                                                            std::size_t n_bytes) {
  const auto traits = gguf_type_traits(type);
  if (!traits) return ModelError{"quantized matrix: unknown tensor type " + std::to_string(type)};
  switch (static_cast<GgufType>(type)) {
    case GgufType::kF32:
    case GgufType::kF16:
    case GgufType::kBF16:
    case GgufType::kQ4_0:
    case GgufType::kQ4_1:
    case GgufType::kQ5_0:
    case GgufType::kQ5_1:
    case GgufType::kQ8_0:
    case GgufType::kQ4_K:
    case GgufType::kQ5_K:
    case GgufType::kQ6_K:
      break;
    default:
      return ModelError{std::string("quantized matrix: type ") + traits->name + " has no matmul"};
  }
  const std::string shape = "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
  if (rows < 0 || cols <= 0) return ModelError{"quantized matrix: invalid shape " + shape};
  const auto block = static_cast<std::int64_t>(traits->block_elements);
  if (cols % block != 0)
    return ModelError{std::string("quantized matrix: ") + traits->name + " " + shape +
                      ": cols is not a multiple of the block size " + std::to_string(block)};
  const std::size_t row_bytes = static_cast<std::size_t>(cols / block) * traits->block_bytes;
  const std::size_t expected = row_bytes * static_cast<std::size_t>(rows);
  if (n_bytes != expected)
    return ModelError{std::string("quantized matrix: ") + traits->name + " " + shape + " needs " +
                      std::to_string(expected) + " bytes, got " + std::to_string(n_bytes)};
  if (expected > 0 && data == nullptr) return ModelError{"quantized matrix: no data"};
  QuantizedMatrix m;
  m.type_ = type;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_bytes_ = row_bytes;
  m.data_.assign(data, data + expected);
  return m;
}

QuantizedMatrix QuantizedMatrix::gather_rows(const std::vector<std::int64_t>& order) const {
  QuantizedMatrix m;
  m.type_ = type_;
  m.rows_ = static_cast<std::int64_t>(order.size());
  m.cols_ = cols_;
  m.row_bytes_ = row_bytes_;
  m.data_.resize(order.size() * row_bytes_);
  for (std::size_t i = 0; i < order.size(); ++i) {
    TORCH_CHECK(order[i] >= 0 && order[i] < rows_, "gather_rows: row ", order[i], " outside [0, ",
                rows_, ")");
    std::memcpy(m.data_.data() + i * row_bytes_, row_data(order[i]), row_bytes_);
  }
  return m;
}

Result<QuantizedMatrix, ModelError> QuantizedMatrix::concat_rows(
    const std::vector<const QuantizedMatrix*>& parts) {
  if (parts.empty()) return ModelError{"concat_rows: no parts"};
  for (const QuantizedMatrix* p : parts)
    if (p == nullptr) return ModelError{"concat_rows: null part"};
  const QuantizedMatrix& first = *parts.front();
  QuantizedMatrix m;
  m.type_ = first.type_;
  m.cols_ = first.cols_;
  m.row_bytes_ = first.row_bytes_;
  for (const QuantizedMatrix* p : parts) {
    if (p->type_ != first.type_ || p->cols_ != first.cols_)
      return ModelError{"concat_rows: parts differ in type or cols (" + std::to_string(p->type_) +
                        "/" + std::to_string(p->cols_) + " vs " + std::to_string(first.type_) +
                        "/" + std::to_string(first.cols_) + ")"};
    m.rows_ += p->rows_;
  }
  m.data_.reserve(static_cast<std::size_t>(m.rows_) * m.row_bytes_);
  for (const QuantizedMatrix* p : parts)
    m.data_.insert(m.data_.end(), p->data_.begin(), p->data_.end());
  return m;
}

at::Tensor QuantizedMatrix::matmul(const at::Tensor& x) const {
  std::vector<std::int64_t> sizes = x.sizes().vec();
  if (!sizes.empty()) sizes.back() = rows_;
  at::Tensor y = at::empty(sizes, x.options());
  matmul_into(x, y);
  return y;
}

void QuantizedMatrix::matmul_into(const at::Tensor& x, at::Tensor& y) const {
  TORCH_CHECK(x.scalar_type() == at::kFloat, "QuantizedMatrix::matmul: x must be float32");
  TORCH_CHECK(x.device().is_cpu(), "QuantizedMatrix::matmul: x must be on the CPU");
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == cols_, "QuantizedMatrix::matmul: x ", x.sizes(),
              " does not end in cols = ", cols_);
  TORCH_CHECK(y.is_contiguous() && y.scalar_type() == at::kFloat &&
                  y.numel() == x.numel() / std::max<std::int64_t>(cols_, 1) * rows_,
              "QuantizedMatrix::matmul: the output must be contiguous float32 of the right size");
  const at::Tensor xc = x.contiguous();
  const std::int64_t T = xc.numel() / cols_;
  if (T == 0 || rows_ == 0) return;
  const float* xp = xc.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  switch (static_cast<GgufType>(type_)) {
    case GgufType::kF32:
      product<float>(*this, xp, T, yp, 1, quantize_f32, dot_f32);
      break;
    case GgufType::kF16:
      run<float>(*this, xp, T, yp, 1, quantize_f16, dot_f16);
      break;
    case GgufType::kBF16:
      run<float>(*this, xp, T, yp, 1, quantize_bf16, dot_bf16);
      break;
    case GgufType::kQ4_0:
      product<ActQ8_0>(*this, xp, T, yp, kQK, quantize_q8_0, dot_q4_0);
      break;
    case GgufType::kQ4_1:
      product<ActQ8_1>(*this, xp, T, yp, kQK, quantize_q8_1, dot_q4_1);
      break;
    case GgufType::kQ5_0:
      product<ActQ8_0>(*this, xp, T, yp, kQK, quantize_q8_0, dot_q5_0);
      break;
    case GgufType::kQ5_1:
      product<ActQ8_1>(*this, xp, T, yp, kQK, quantize_q8_1, dot_q5_1);
      break;
    case GgufType::kQ8_0:
      product<ActQ8_0>(*this, xp, T, yp, kQK, quantize_q8_0, dot_q8_0);
      break;
    case GgufType::kQ4_K:
      product<ActQ8_K>(*this, xp, T, yp, kQK_K, quantize_q8_k, dot_q4_k);
      break;
    case GgufType::kQ5_K:
      product<ActQ8_K>(*this, xp, T, yp, kQK_K, quantize_q8_k, dot_q5_k);
      break;
    case GgufType::kQ6_K:
      product<ActQ8_K>(*this, xp, T, yp, kQK_K, quantize_q8_k, dot_q6_k);
      break;
    default:
      TORCH_CHECK(false, "QuantizedMatrix::matmul: unsupported type ", type_);
  }
}

}  // namespace mnemo::model
