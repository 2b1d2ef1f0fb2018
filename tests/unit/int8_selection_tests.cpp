// The quantized selection's first pass (cpu::int8_top_k_candidates): the candidate set it
// defines, computed by a plain reference in exact arithmetic, for each instruction-set
// version this CPU has (AVX-512 VNNI, AVX2, portable).
#include "model/memory/exact/int8_selection.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "model/memory/exact/kernel_isa.h"

namespace mnemo::model::memory::cpu {
namespace {

/// The versions this CPU can run, best first.
std::vector<KernelIsa> available_isas() {
  std::vector<KernelIsa> out;
  for (const auto isa : {KernelIsa::kAvx512Vnni, KernelIsa::kAvx2, KernelIsa::kPortable}) {
    if (isa <= cpu_kernel_isa()) out.push_back(isa);
  }
  return out;
}

/// Runs the kernels at `isa` for its lifetime.
class IsaLimit {
 public:
  explicit IsaLimit(KernelIsa isa) { set_kernel_isa_limit(isa); }
  ~IsaLimit() { set_kernel_isa_limit(KernelIsa::kAvx512Vnni); }
  IsaLimit(const IsaLimit&) = delete;
  IsaLimit& operator=(const IsaLimit&) = delete;
};

/// Rows [Hkv, T * 16, D] int8 in the kernel's layout [Hkv, T, D / 2, 16, 2].
at::Tensor to_tiles(const at::Tensor& rows) {
  const std::int64_t h_kv = rows.size(0), t = rows.size(1) / 16, d = rows.size(2);
  return rows.view({h_kv, t, 16, d / 2, 2}).permute({0, 1, 3, 2, 4}).contiguous();
}

/// The integer scores n(h, b) in double: [H, B] (exact below 2^53).
at::Tensor integer_scores(const at::Tensor& q, const at::Tensor& rows, const at::Tensor& q_b,
                          const at::Tensor& rows_b, std::int64_t b) {
  const std::int64_t h = q.size(0), group = h / rows.size(0);
  at::Tensor out = at::zeros({h, b}, at::kDouble);
  for (std::int64_t i = 0; i < h; ++i) {
    out[i] = at::mv(rows[i / group].narrow(0, 0, b).to(at::kDouble), q[i].to(at::kDouble));
    if (q_b.defined()) {
      out[i] += at::mv(rows_b[i / group].narrow(0, 0, b).to(at::kDouble), q_b[i].to(at::kDouble));
    }
  }
  return out;
}

/// The candidates by their definition: blocks whose upper bound reaches the k-th largest
/// lower bound (NaN bounds never count).
std::vector<std::vector<std::int64_t>> reference_candidates(const at::Tensor& n,
                                                            const Int8SelectionInput& in) {
  const std::int64_t h = n.size(0), b = n.size(1), group = h / in.scales.size(0);
  const std::int64_t k = std::min(in.k, b);
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(h));
  if (k <= 0) return out;
  const at::Tensor scales = in.scales.to(at::kDouble).contiguous();
  const at::Tensor sums = n.contiguous();
  for (std::int64_t i = 0; i < h; ++i) {
    const auto row = static_cast<std::size_t>(i);
    const double* sp = scales.data_ptr<double>() + (i / group) * scales.size(1);
    const double* np = sums.data_ptr<double>() + i * b;
    std::vector<double> lower(static_cast<std::size_t>(b)), upper(static_cast<std::size_t>(b));
    for (std::int64_t j = 0; j < b; ++j) {
      const double s = sp[j];
      const double a = np[j] * in.q_scale[row];
      lower[static_cast<std::size_t>(j)] = s * (a - in.err[row]);
      upper[static_cast<std::size_t>(j)] = s * (a + in.err[row]);
    }
    std::vector<double> sorted;
    for (const double x : lower) sorted.push_back(std::isnan(x) ? -INFINITY : x);
    std::sort(sorted.rbegin(), sorted.rend());
    const double tau = sorted[static_cast<std::size_t>(k - 1)];
    for (std::int64_t j = 0; j < b; ++j) {
      if (upper[static_cast<std::size_t>(j)] >= tau) out[row].push_back(j);
    }
  }
  return out;
}

TEST(Int8TopKCandidates, AreTheBlocksWhoseUpperBoundReachesTheKthLargestLowerBound) {
  at::manual_seed(41);
  // Small integers, power-of-two scales and errors in quarters: every bound is exact in
  // float, so the kernel must return exactly the reference's set.
  for (const bool two : {false, true}) {
    for (const std::int64_t d : {2, 24, 64}) {
      for (const std::int64_t group : {1, 2, 3, 5}) {
        for (const std::int64_t b : {1, 16, 37, 5000, 9000}) {
          const std::int64_t h_kv = 2, h = h_kv * group, t = (b + 15) / 16 + 1;
          const at::Tensor rows = at::randint(-127, 128, {h_kv, t * 16, d}).to(at::kChar);
          const at::Tensor rows_b = at::randint(-127, 128, {h_kv, t * 16, d}).to(at::kChar);
          Int8SelectionInput in;
          in.q = at::randint(-50, 51, {h, d}).to(at::kShort);
          in.tiles = to_tiles(rows);
          if (two) {
            in.q_b = at::randint(-50, 51, {h, d}).to(at::kShort);
            in.tiles_b = to_tiles(rows_b);
          }
          // Scales of 0.5, 1 or 2 per block, with room past B, and a few NaN blocks.
          in.scales = at::pow(2.0, at::randint(-1, 2, {h_kv, b + 5})).to(at::kFloat);
          if (b > 40) {
            in.scales[0][7] = NAN;
            in.scales[1][b - 1] = NAN;
          }
          for (std::int64_t i = 0; i < h; ++i) {
            in.q_scale.push_back(i % 2 == 0 ? 0.5f : 1.0f);
            in.err.push_back(static_cast<float>(std::vector<double>{0, 0.25, 64, 3000}[i % 4]));
          }
          in.n_blocks = b;
          in.k = 5;
          const auto want = reference_candidates(integer_scores(in.q, rows, in.q_b, rows_b, b), in);
          for (const KernelIsa isa : available_isas()) {
            const IsaLimit limit(isa);
            EXPECT_EQ(int8_top_k_candidates(in), want)
                << kernel_isa_name(isa) << " two " << two << " D " << d << " G " << group << " B "
                << b;
          }
        }
      }
    }
  }
}

TEST(Int8TopKCandidates, EveryVersionGivesTheSameSetAtTheLargestSumsAndHoldsTheTopK) {
  at::manual_seed(42);
  for (const bool two : {false, true}) {
    const std::int64_t h_kv = 2, h = 4, d = 512, b = 6000, t = (b + 15) / 16;
    // |n| = 127 and |q| + |q_b| = 32767: the int32 sums reach 127 · 32767 · 512 < 2^31.
    const at::Tensor rows = (at::randint(0, 2, {h_kv, t * 16, d}) * 254 - 127).to(at::kChar);
    const at::Tensor rows_b = (at::randint(0, 2, {h_kv, t * 16, d}) * 254 - 127).to(at::kChar);
    Int8SelectionInput in;
    const at::Tensor sign = at::randint(0, 2, {h, d}) * 2 - 1;
    if (two) {
      const at::Tensor part = at::randint(0, 32768, {h, d});
      in.q = (sign * part).to(at::kShort);
      in.q_b = (sign * (32767 - part)).to(at::kShort);
      in.tiles_b = to_tiles(rows_b);
    } else {
      in.q = (sign * 32767).to(at::kShort);
    }
    in.q[0].fill_(32767);  // a row of the largest sums
    if (two) in.q_b[0].fill_(0);
    rows[0][3].fill_(127);
    in.tiles = to_tiles(rows);
    in.scales = at::ones({h_kv, b});
    in.q_scale.assign(h, 1.0f);
    in.err.assign(h, 0.0f);
    in.n_blocks = b;
    in.k = 8;
    std::vector<std::vector<std::int64_t>> first;
    for (const KernelIsa isa : available_isas()) {
      const IsaLimit limit(isa);
      const auto got = int8_top_k_candidates(in);
      if (first.empty()) {
        first = got;
      } else {
        EXPECT_EQ(got, first) << kernel_isa_name(isa) << " two " << two;
      }
    }
    // Rounding the sums to float keeps their order: the true top-k is among the candidates.
    const at::Tensor n = integer_scores(in.q, rows, in.q_b, rows_b, b);
    for (std::int64_t i = 0; i < h; ++i) {
      const std::set<std::int64_t> got(first[i].begin(), first[i].end());
      const at::Tensor top = std::get<1>(at::topk(n[i], in.k));
      for (std::int64_t j = 0; j < in.k; ++j) {
        EXPECT_TRUE(got.count(top[j].item<std::int64_t>())) << "row " << i;
      }
      if (i == 0) {
        EXPECT_TRUE(got.count(3));  // the block of all 127 against q = 32767
      }
    }
  }
}

TEST(Int8TopKCandidates, RejectsDisagreeingShapesAndQueriesWhoseSumsCouldOverflow) {
  const std::int64_t h_kv = 2, d = 8, t = 2;
  auto valid = [&] {
    Int8SelectionInput in;
    in.q = at::zeros({4, d}, at::kShort);
    in.tiles = at::zeros({h_kv, t, d / 2, 16, 2}, at::kChar);
    in.scales = at::ones({h_kv, t * 16});
    in.q_scale.assign(4, 1.0f);
    in.err.assign(4, 0.0f);
    in.n_blocks = t * 16;
    in.k = 3;
    return in;
  };
  EXPECT_NO_THROW(int8_top_k_candidates(valid()));
  Int8SelectionInput in = valid();
  in.n_blocks = t * 16 + 1;  // past the tiles
  EXPECT_THROW(int8_top_k_candidates(in), std::invalid_argument);
  in = valid();
  in.q = at::zeros({4, d}, at::kInt);  // not int16
  EXPECT_THROW(int8_top_k_candidates(in), std::invalid_argument);
  in = valid();
  in.err.pop_back();
  EXPECT_THROW(int8_top_k_candidates(in), std::invalid_argument);
  in = valid();
  in.q_b = at::zeros({4, d}, at::kShort);  // a second query without its tiles
  EXPECT_THROW(int8_top_k_candidates(in), std::invalid_argument);
  in = valid();
  in.q_b = at::full({4, d}, 2, at::kShort);
  in.tiles_b = in.tiles.clone();
  in.q.fill_(32766);  // |q| + |q_b| = 32768
  EXPECT_THROW(int8_top_k_candidates(in), std::invalid_argument);
  // k = 0 or no blocks: empty rows.
  in = valid();
  in.k = 0;
  EXPECT_EQ(int8_top_k_candidates(in), std::vector<std::vector<std::int64_t>>(4));
}

}  // namespace
}  // namespace mnemo::model::memory::cpu
