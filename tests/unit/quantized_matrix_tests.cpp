// QuantizedMatrix::matmul against a float reference built from the bit-exact dequantizer:
// weights dequantize()d, activations quantized to the vec_dot_type and dequantized by a
// second, test-side implementation of ggml's quantizers (with c10::Half / c10::BFloat16 for
// the roundings), products summed in double. The two agree up to float rounding, which
// would not survive a wrong integer sum, scale, rounding rule or block layout. Weights come
// from the tiny fixture GGUFs (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, F16), from random blocks of
// every supported type, and from SmolLM2 (Q4_1) when MNEMO_SMOLLM2_GGUF names it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "model/dequantize.h"
#include "model/gguf_reader.h"
#include "model/quantized_matrix.h"

namespace mnemo::model {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = fs::path(MNEMO_FIXTURES_DIR) / "tiny-models";

std::uint32_t type_of(GgufType t) {
  return static_cast<std::uint32_t>(t);
}

float half_bits(std::uint16_t h) {
  return static_cast<float>(c10::Half(h, c10::Half::from_bits()));
}
float round_half(float f) {
  return static_cast<float>(c10::Half(f));
}
float round_bf16(float f) {
  return static_cast<float>(c10::BFloat16(f));
}

/// The activation rows as ggml's vec_dot sees them: dequantized values, and for Q8_1 the
/// per-block error of the stored sum s against d * sum(q) (the dot uses m * s).
struct RefActivation {
  std::vector<double> values;           // [T, cols]
  std::vector<double> q8_1_correction;  // [T, cols / 32]: s - d * sum(q)
};

enum class VecDot { kF32, kF16, kBF16, kQ8_0, kQ8_1, kQ8_K };

VecDot vec_dot_of(std::uint32_t type) {
  switch (static_cast<GgufType>(type)) {
    case GgufType::kF16:
      return VecDot::kF16;
    case GgufType::kBF16:
      return VecDot::kBF16;
    case GgufType::kQ4_0:
    case GgufType::kQ5_0:
    case GgufType::kQ8_0:
      return VecDot::kQ8_0;
    case GgufType::kQ4_1:
    case GgufType::kQ5_1:
      return VecDot::kQ8_1;
    case GgufType::kQ4_K:
    case GgufType::kQ5_K:
    case GgufType::kQ6_K:
      return VecDot::kQ8_K;
    default:
      return VecDot::kF32;
  }
}

// ggml-cpu/arch/x86/quants.c quantize_row_q8_0 / q8_1 (AVX2) and ggml-quants.c
// quantize_row_q8_K_ref, written out again from those sources.
RefActivation reference_activation(VecDot kind, const std::vector<float>& x, std::int64_t T,
                                   std::int64_t cols) {
  RefActivation out;
  out.values.resize(x.size());
  if (kind == VecDot::kQ8_1) out.q8_1_correction.resize(static_cast<std::size_t>(T * cols / 32));
  for (std::int64_t t = 0; t < T; ++t) {
    const float* row = x.data() + t * cols;
    double* deq = out.values.data() + t * cols;
    switch (kind) {
      case VecDot::kF32:
        for (std::int64_t i = 0; i < cols; ++i) deq[i] = row[i];
        break;
      case VecDot::kF16:
        for (std::int64_t i = 0; i < cols; ++i) deq[i] = round_half(row[i]);
        break;
      case VecDot::kBF16:
        for (std::int64_t i = 0; i < cols; ++i) deq[i] = round_bf16(row[i]);
        break;
      case VecDot::kQ8_0:
      case VecDot::kQ8_1:
        for (std::int64_t b = 0; b < cols / 32; ++b) {
          float amax = 0.f;
          for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(row[b * 32 + j]));
          const float d = amax / 127.f;
          const float id = amax != 0.f ? 127.f / amax : 0.f;
          int sum = 0;
          for (int j = 0; j < 32; ++j) {
            const int q = static_cast<int>(std::nearbyint(row[b * 32 + j] * id));
            sum += q;
            deq[b * 32 + j] = static_cast<double>(round_half(d)) * q;
          }
          if (kind == VecDot::kQ8_1)
            out.q8_1_correction[static_cast<std::size_t>(t * cols / 32 + b)] =
                static_cast<double>(round_half(d * static_cast<float>(sum))) -
                static_cast<double>(round_half(d)) * sum;
        }
        break;
      case VecDot::kQ8_K:
        for (std::int64_t b = 0; b < cols / 256; ++b) {
          const float* v = row + b * 256;
          float max = 0.f, amax = 0.f;
          for (int j = 0; j < 256; ++j)
            if (std::fabs(v[j]) > amax) {
              amax = std::fabs(v[j]);
              max = v[j];
            }
          const float iscale = amax != 0.f ? -127.f / max : 0.f;
          const float d = amax != 0.f ? 1 / iscale : 0.f;
          for (int j = 0; j < 256; ++j) {
            const int q = std::min(127, static_cast<int>(std::nearbyint(iscale * v[j])));
            deq[b * 256 + j] = static_cast<double>(d) * q;
          }
        }
        break;
    }
  }
  return out;
}

std::vector<float> dequantized(const QuantizedMatrix& m) {
  std::vector<float> w(static_cast<std::size_t>(m.rows() * m.cols()));
  if (w.empty()) return w;
  const auto ok = dequantize(m.type(), m.row_data(0), w.data(), w.size());
  EXPECT_TRUE(ok) << ok.error().message;
  return w;
}

at::Tensor to_tensor(const std::vector<float>& x, std::int64_t T, std::int64_t cols) {
  return at::from_blob(const_cast<float*>(x.data()), {T, cols}, at::kFloat).clone();
}

/// Activation rows: Gaussian at a few scales, an all-zero row, and a row of rounding ties
/// (2.5 -> 2 to nearest even, 2 + 2^-10 halfway between two fp16s, ...).
std::vector<float> test_activations(std::int64_t cols, std::int64_t* T, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  *T = 6;
  std::vector<float> x(static_cast<std::size_t>(*T * cols));
  const float scales[4] = {1.f, 0.01f, 37.f, 1e-3f};
  for (int t = 0; t < 4; ++t)
    for (std::int64_t i = 0; i < cols; ++i) x[t * cols + i] = scales[t] * normal(rng);
  // row 4 stays zero
  const float ties[] = {2.5f, -3.5f, 0.5f,           -0.5f,         1.5f,
                        4.5f, -6.5f, 1.f + 0x1p-11f, 2.f + 0x1p-10f};
  float* row = x.data() + 5 * cols;
  for (std::int64_t i = 0; i < cols; ++i)
    row[i] =
        i % 32 == 0 ? 127.f : ties[static_cast<std::size_t>(i) % (sizeof ties / sizeof ties[0])];
  return x;
}

/// Checks y = m.matmul(x) output by output against the double reference; the error bound
/// is relative to sum |w * a| (the scale of the float rounding in any summation order).
void expect_matches_reference(const QuantizedMatrix& m, const std::vector<float>& x, std::int64_t T,
                              const std::string& what) {
  const std::int64_t rows = m.rows(), cols = m.cols();
  const std::vector<float> w = dequantized(m);
  const VecDot kind = vec_dot_of(m.type());
  const RefActivation a = reference_activation(kind, x, T, cols);
  const at::Tensor y = m.matmul(to_tensor(x, T, cols));
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{T, rows}));
  const float* yp = y.data_ptr<float>();
  int failures = 0;
  double worst = 0;
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t r = 0; r < rows; ++r) {
      double ref = 0, scale = 0;
      for (std::int64_t j = 0; j < cols; ++j) {
        const double p = static_cast<double>(w[r * cols + j]) * a.values[t * cols + j];
        ref += p;
        scale += std::fabs(p);
      }
      if (kind == VecDot::kQ8_1)
        for (std::int64_t b = 0; b < cols / 32; ++b) {
          std::uint16_t mbits;
          std::memcpy(&mbits, m.row_data(r) + b * m.row_bytes() / (cols / 32) + 2, 2);
          const double corr =
              static_cast<double>(half_bits(mbits)) * a.q8_1_correction[t * cols / 32 + b];
          ref += corr;
          scale += std::fabs(corr);
        }
      const double err = std::fabs(yp[t * rows + r] - ref);
      const double rel = scale > 0 ? err / scale : err;
      worst = std::max(worst, rel);
      if (rel > 1e-6 && ++failures <= 5)
        ADD_FAILURE() << what << ": y[" << t << "][" << r << "] = " << yp[t * rows + r]
                      << ", reference " << ref << " (sum |w a| " << scale << ")";
    }
  EXPECT_EQ(failures, 0) << what << ": worst error / sum|w a| = " << worst;
}

// ---- random matrices of every type

std::uint16_t random_half_bits(std::mt19937& rng, bool positive) {
  // exponent 8..17 (about 2^-7 .. 4), any mantissa
  const std::uint32_t e = 8 + rng() % 10, mant = rng() % 1024, sign = positive ? 0 : rng() % 2;
  return static_cast<std::uint16_t>((sign << 15) | (e << 10) | mant);
}

void put_half(std::uint8_t* p, std::uint16_t h) {
  std::memcpy(p, &h, 2);
}

/// Random bytes for every quant (all bit patterns occur), sane fp16 scales.
QuantizedMatrix random_matrix(GgufType type, std::int64_t rows, std::int64_t cols, unsigned seed) {
  std::mt19937 rng(seed);
  const auto traits = gguf_type_traits(type_of(type));
  const std::size_t n_blocks = static_cast<std::size_t>(rows * cols) / traits->block_elements;
  std::vector<std::uint8_t> bytes(n_blocks * traits->block_bytes);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  for (std::size_t i = 0; i < n_blocks; ++i) {
    std::uint8_t* blk = bytes.data() + i * traits->block_bytes;
    switch (type) {
      case GgufType::kF32: {
        std::normal_distribution<float> normal;
        const float v = normal(rng);
        std::memcpy(blk, &v, 4);
        break;
      }
      case GgufType::kF16:
        put_half(blk, random_half_bits(rng, false));
        break;
      case GgufType::kBF16: {
        const std::uint32_t bits = ((rng() % 2) << 15) | ((120 + rng() % 10) << 7) | (rng() % 128);
        put_half(blk, static_cast<std::uint16_t>(bits));
        break;
      }
      case GgufType::kQ4_1:
      case GgufType::kQ5_1:
      case GgufType::kQ4_K:
      case GgufType::kQ5_K:
        put_half(blk, random_half_bits(rng, true));
        put_half(blk + 2,
                 random_half_bits(rng, type == GgufType::kQ4_K || type == GgufType::kQ5_K));
        break;
      case GgufType::kQ6_K:
        put_half(blk + 208, random_half_bits(rng, true));
        break;
      default:  // Q4_0, Q5_0, Q8_0
        put_half(blk, random_half_bits(rng, false));
        break;
    }
  }
  auto m = QuantizedMatrix::create(type_of(type), rows, cols, bytes.data(), bytes.size());
  EXPECT_TRUE(m) << m.error().message;
  return m.value();
}

class RandomMatrix : public ::testing::TestWithParam<GgufType> {};

TEST_P(RandomMatrix, MatchesDequantizedReference) {
  const GgufType type = GetParam();
  const std::int64_t block =
      static_cast<std::int64_t>(gguf_type_traits(type_of(type))->block_elements);
  for (const std::int64_t cols :
       {block == 256 ? std::int64_t{256} : std::int64_t{96}, std::int64_t{768}}) {
    const QuantizedMatrix m = random_matrix(type, 37, cols, static_cast<unsigned>(cols));
    std::int64_t T;
    const std::vector<float> x = test_activations(cols, &T, 7);
    expect_matches_reference(
        m, x, T,
        std::string(gguf_type_traits(type_of(type))->name) + " " + std::to_string(cols) + " cols");
  }
}

/// From 32 rows of x on (a prefill, a file read into the memory) the product runs through
/// BLAS on dequantized tiles of W (more than one 256-row tile here) and the activations as
/// ggml quantizes them: the vec_dot path's terms in float sums, so every row equals that
/// row alone through vec_dot up to float rounding (and Q4_1/Q5_1's fp16-rounded sum term).
/// F16 and BF16 weights stay on the vec_dot path, so they match trivially.
TEST_P(RandomMatrix, ManyRowsGoThroughBlasWithGgmlsActivationsAndMatchVecDot) {
  const GgufType type = GetParam();
  const std::int64_t cols = gguf_type_traits(type_of(type))->block_elements == 256 ? 256 : 96;
  const QuantizedMatrix m = random_matrix(type, 300, cols, 17);
  const at::Tensor x = at::randn({40, cols}, at::kFloat);
  const at::Tensor y = m.matmul(x);
  for (std::int64_t t = 0; t < 40; ++t) {
    const at::Tensor one = m.matmul(x.narrow(0, t, 1))[0];  // one row: the vec_dot path
    const double scale = std::max(one.abs().max().item<double>(), 1e-30);
    ASSERT_LE((one - y[t]).abs().max().item<double>(), 1e-3 * scale) << "row " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RandomMatrix,
                         ::testing::Values(GgufType::kF32, GgufType::kF16, GgufType::kBF16,
                                           GgufType::kQ4_0, GgufType::kQ4_1, GgufType::kQ5_0,
                                           GgufType::kQ5_1, GgufType::kQ8_0, GgufType::kQ4_K,
                                           GgufType::kQ5_K, GgufType::kQ6_K),
                         [](const ::testing::TestParamInfo<GgufType>& p) {
                           return std::string(gguf_type_traits(type_of(p.param))->name);
                         });

/// x = 127 · e_j quantizes exactly for every vec_dot type (scale 1 or -1, quant ±127), so
/// row j of the output is 127 times column j of the dequantized matrix.
TEST_P(RandomMatrix, OneHotRowsGiveTheColumnsTimes127) {
  const GgufType type = GetParam();
  const std::int64_t cols = 256, rows = 19;
  const QuantizedMatrix m = random_matrix(type, rows, cols, 99);
  const std::vector<float> w = dequantized(m);
  const at::Tensor y = m.matmul(at::eye(cols, at::kFloat) * 127.f);  // [cols, rows]
  const float* yp = y.data_ptr<float>();
  float wmax = 0;
  for (float v : w) wmax = std::max(wmax, std::fabs(v));
  for (std::int64_t j = 0; j < cols; ++j)
    for (std::int64_t r = 0; r < rows; ++r)
      ASSERT_NEAR(yp[j * rows + r], 127.f * w[r * cols + j], 1e-6f * 127.f * wmax)
          << "col " << j << " row " << r;
}

// ---- the fixture models' tensors

struct FixtureTensor {
  std::string file;
  std::string tensor;
  GgufType expected_type;
};

QuantizedMatrix load(const GgufFile& file, const std::string& name) {
  const GgufTensor* t = file.tensor(name);
  EXPECT_TRUE(t) << name;
  if (!t) return {};
  EXPECT_EQ(t->shape.size(), 2u);
  auto m = QuantizedMatrix::create(t->type, static_cast<std::int64_t>(t->shape[1]),
                                   static_cast<std::int64_t>(t->shape[0]), t->data, t->n_bytes);
  EXPECT_TRUE(m) << m.error().message;
  return m ? m.value() : QuantizedMatrix{};
}

TEST(QuantizedMatrixFixtures, EveryQuantizedTensorMatchesDequantizedReference) {
  const std::vector<FixtureTensor> cases = {
      {"tiny-llama.Q8_0.gguf", "blk.0.attn_q.weight", GgufType::kQ8_0},
      {"tiny-llama.Q4_0.gguf", "blk.1.ffn_down.weight", GgufType::kQ4_0},
      {"tiny-llama.Q4_K.gguf", "blk.0.ffn_up.weight", GgufType::kQ5_0},
      {"tiny-llama.F16.gguf", "blk.0.ffn_gate.weight", GgufType::kF16},
      {"tiny-llama-256.Q4_K.gguf", "blk.0.attn_q.weight", GgufType::kQ4_K},
      {"tiny-llama-256.Q4_0.gguf", "output.weight", GgufType::kQ6_K},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    auto file = GgufFile::open((kModels / c.file).string());
    ASSERT_TRUE(file) << file.error().message;
    // the named tensor has the type we mean to cover, ...
    ASSERT_TRUE(file.value()->tensor(c.tensor));
    EXPECT_EQ(file.value()->tensor(c.tensor)->type, type_of(c.expected_type)) << c.tensor;
    // ... and every 2-D non-F32 tensor of the file matches
    for (const GgufTensor& t : file.value()->tensors()) {
      if (t.shape.size() != 2 || t.type == type_of(GgufType::kF32)) continue;
      const QuantizedMatrix m = load(*file.value(), t.name);
      std::int64_t T;
      const std::vector<float> x = test_activations(m.cols(), &T, 11);
      expect_matches_reference(m, x, T, c.file + " " + t.name);
    }
  }
}

TEST(QuantizedMatrixFixtures, GatherAndConcatRowsKeepRows) {
  auto file = GgufFile::open((kModels / "tiny-llama.Q4_K.gguf").string());
  ASSERT_TRUE(file) << file.error().message;
  const QuantizedMatrix q = load(*file.value(), "blk.0.attn_q.weight");  // Q5_0 [64, 64]
  const QuantizedMatrix k = load(*file.value(), "blk.0.attn_k.weight");  // Q5_0 [32, 64]
  const std::vector<float> wq = dequantized(q), wk = dequantized(k);

  std::vector<std::int64_t> order;
  for (std::int64_t i = q.rows() - 1; i >= 0; i -= 3) order.push_back(i);
  order.push_back(5);
  order.push_back(5);
  const QuantizedMatrix g = q.gather_rows(order);
  ASSERT_EQ(g.rows(), static_cast<std::int64_t>(order.size()));
  const std::vector<float> wg = dequantized(g);
  for (std::size_t i = 0; i < order.size(); ++i)
    for (std::int64_t j = 0; j < q.cols(); ++j)
      ASSERT_EQ(wg[i * q.cols() + j], wq[order[i] * q.cols() + j]);

  auto qkq = QuantizedMatrix::concat_rows({&q, &k, &q});
  ASSERT_TRUE(qkq) << qkq.error().message;
  ASSERT_EQ(qkq.value().rows(), 2 * q.rows() + k.rows());
  std::vector<float> expected = wq;
  expected.insert(expected.end(), wk.begin(), wk.end());
  expected.insert(expected.end(), wq.begin(), wq.end());
  EXPECT_EQ(dequantized(qkq.value()), expected);

  // the fused matmul's columns are bit-identical to the parts'
  std::int64_t T;
  const std::vector<float> xs = test_activations(q.cols(), &T, 3);
  const at::Tensor x = to_tensor(xs, T, q.cols());
  const at::Tensor fused = qkq.value().matmul(x);
  EXPECT_TRUE(at::equal(fused.narrow(1, 0, q.rows()), q.matmul(x)));
  EXPECT_TRUE(at::equal(fused.narrow(1, q.rows(), k.rows()), k.matmul(x)));
  const at::Tensor gathered = g.matmul(x), full = q.matmul(x);
  for (std::size_t i = 0; i < order.size(); ++i)
    EXPECT_TRUE(
        at::equal(gathered.select(1, static_cast<std::int64_t>(i)), full.select(1, order[i])));

  const QuantizedMatrix other = random_matrix(GgufType::kQ8_0, 4, 64, 1);
  EXPECT_FALSE(QuantizedMatrix::concat_rows({&q, &other}));
  EXPECT_FALSE(QuantizedMatrix::concat_rows({}));
  EXPECT_THROW(q.gather_rows({0, q.rows()}), c10::Error);
}

TEST(QuantizedMatrix, BatchedShapesAndStridesGiveTheSameRows) {
  const QuantizedMatrix m = random_matrix(GgufType::kQ4_1, 24, 128, 5);
  const at::Tensor x = at::randn({2, 3, 256}, at::kFloat).narrow(2, 64, 128);  // not contiguous
  const at::Tensor y = m.matmul(x);
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{2, 3, 24}));
  for (std::int64_t t = 0; t < 6; ++t)
    EXPECT_TRUE(at::equal(y.reshape({6, 24})[t], m.matmul(x.reshape({6, 128})[t].unsqueeze(0))[0]));
  EXPECT_THROW(m.matmul(at::zeros({2, 64}, at::kFloat)), c10::Error);
  EXPECT_THROW(m.matmul(at::zeros({2, 128}, at::kDouble)), c10::Error);
  EXPECT_EQ(m.matmul(at::zeros({0, 128}, at::kFloat)).sizes(), (at::IntArrayRef{0, 24}));
}

TEST(QuantizedMatrix, CreateRejectsBadInput) {
  const std::vector<std::uint8_t> bytes(4096);
  auto unknown = QuantizedMatrix::create(99, 2, 32, bytes.data(), 36);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown"), std::string::npos) << unknown.error().message;
  auto no_kernel = QuantizedMatrix::create(type_of(GgufType::kQ2_K), 1, 256, bytes.data(), 84);
  ASSERT_FALSE(no_kernel);
  EXPECT_NE(no_kernel.error().message.find("Q2_K"), std::string::npos) << no_kernel.error().message;
  auto ragged = QuantizedMatrix::create(type_of(GgufType::kQ4_0), 2, 48, bytes.data(), 54);
  ASSERT_FALSE(ragged);
  EXPECT_NE(ragged.error().message.find("multiple"), std::string::npos) << ragged.error().message;
  auto short_data = QuantizedMatrix::create(type_of(GgufType::kQ4_0), 2, 64, bytes.data(), 71);
  ASSERT_FALSE(short_data);
  EXPECT_NE(short_data.error().message.find("72"), std::string::npos) << short_data.error().message;
  EXPECT_FALSE(QuantizedMatrix::create(type_of(GgufType::kQ4_0), -1, 64, bytes.data(), 0));
  EXPECT_FALSE(QuantizedMatrix::create(type_of(GgufType::kQ6_K), 1, 512, bytes.data(), 421));
  auto ok = QuantizedMatrix::create(type_of(GgufType::kQ6_K), 2, 512, bytes.data(), 840);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok.value().n_bytes(), 840u);
}

/// x86's quantize_row_q8_0/q8_1 scale by 127 / amax, the _ref versions by 1 / (amax / 127);
/// the two differ by an ulp for some amax, which moves values near a half to another quant.
TEST(QuantizedMatrix, Q8ActivationsScaleBy127OverAmax) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(1.f, 2.f);
  float amax = 0, x = 0;
  for (int tries = 0; tries < 100000 && x == 0; ++tries) {
    const float a = uniform(rng), id_x86 = 127.f / a, id_ref = 1.f / (a / 127.f);
    if (id_x86 == id_ref) continue;
    for (int k = 0; k < 126 && x == 0; ++k) {
      float v = (static_cast<float>(k) + 0.5f) / id_x86;
      for (int step = 0; step < 8; ++step, v = std::nextafter(v, 2.f))
        if (std::nearbyint(v * id_x86) != std::nearbyint(v * id_ref)) {
          amax = a;
          x = v;
          break;
        }
    }
  }
  ASSERT_NE(x, 0.f) << "no value found where the two scales round differently";
  for (const GgufType type : {GgufType::kQ8_0, GgufType::kQ4_1}) {
    const QuantizedMatrix m = random_matrix(type, 16, 64, 4);
    std::vector<float> xs(64, 0.f);
    xs[0] = amax;
    xs[1] = x;
    xs[40] = 1.f;
    expect_matches_reference(m, xs, 1, "crafted ulp case");
  }
}

TEST(QuantizedMatrix, Fp16AndBf16RoundToNearestEven) {
  for (const float f : {1.f + 0x1p-11f, 1.f + 0x1p-11f + 0x1p-20f, 1.f + 3 * 0x1p-11f, 65519.f,
                        65520.f, 1e-8f, -2.5e-6f, 0.f, -0.f, 3.14159f}) {
    EXPECT_EQ(fp32_to_fp16(f), c10::Half(f).x) << f;
    EXPECT_EQ(fp32_to_bf16(f), c10::BFloat16(f).x) << f;
  }
}

// ---- SmolLM2-135M-Instruct Q4_1 (optional)

TEST(QuantizedMatrixSmolLM2, Q4_1TensorsMatchAndSpeed) {
  const char* path = std::getenv("MNEMO_SMOLLM2_GGUF");
  if (!path || !fs::exists(path)) GTEST_SKIP() << "MNEMO_SMOLLM2_GGUF not set";
  auto file = GgufFile::open(path);
  ASSERT_TRUE(file) << file.error().message;
  for (const char* name : {"blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight",
                           "blk.29.attn_v.weight"}) {
    const QuantizedMatrix m = load(*file.value(), name);
    std::int64_t T;
    const std::vector<float> x = test_activations(m.cols(), &T, 13);
    expect_matches_reference(m, x, T, name);
  }
  const QuantizedMatrix up = load(*file.value(), "blk.0.ffn_up.weight");  // [1536, 576]
  ASSERT_EQ(up.type(), type_of(GgufType::kQ4_1));
  const at::Tensor x = at::randn({1, up.cols()}, at::kFloat);
  for (int i = 0; i < 50; ++i) up.matmul(x);
  const int n = 2000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) up.matmul(x);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      n;
  std::cout << "Q4_1 [1, " << up.cols() << "] x [" << up.rows() << ", " << up.cols() << "]: " << us
            << " us per matmul (" << at::get_num_threads() << " threads)\n";
  const at::Tensor wt = at::randn({up.cols(), up.rows()}, at::kFloat);
  for (int i = 0; i < 50; ++i) at::matmul(x, wt);
  const auto start_f = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) at::matmul(x, wt);
  const double us_f =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start_f)
          .count() /
      n;
  std::cout << "float32 at::matmul of the same shape: " << us_f << " us\n";
}

}  // namespace
}  // namespace mnemo::model
