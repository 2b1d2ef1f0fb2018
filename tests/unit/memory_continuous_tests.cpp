// The ∞-former continuous tier (model/memory/continuous): the ridge fit of a signal onto
// the RBF basis, the Gaussian closed form of a query's read, the contraction update with
// sticky memories, gradients through the trainable module, and the (o, lse) convention
// that lets merge_attention combine the tier with the local window.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "model/attention.h"
#include "model/memory/continuous/attention_histogram.h"
#include "model/memory/continuous/continuous_memory_module.h"
#include "model/memory/continuous/continuous_signal.h"
#include "model/memory/continuous/continuous_tier.h"
#include "model/memory/continuous/rbf_basis.h"
#include "model/memory/continuous/ridge_fit.h"

namespace mnemo::model::memory::continuous {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);
constexpr double kPi = 3.14159265358979323846;

/// e smooth channels on t [P]: channel c = Σ_k sin(2π f_k t + φ_{c,k}) / k, f_k ∈ {1, 2, 3}
/// shifted by `phase`, so different `phase`s give different signals. Returns [P, e].
at::Tensor sum_of_sines(const at::Tensor& t, std::int64_t e, double phase = 0.0) {
  std::vector<at::Tensor> channels;
  for (std::int64_t c = 0; c < e; ++c) {
    at::Tensor x = at::zeros_like(t);
    for (int k = 1; k <= 3; ++k) {
      const double phi = 0.7 * static_cast<double>(c) + 1.3 * k + phase;
      x = x + at::sin(t * (2.0 * kPi * k) + phi) / static_cast<double>(k);
    }
    channels.push_back(x);
  }
  return at::stack(channels, 1);
}

/// Root-mean-square error relative to the signal's RMS, over the rows selected by mask.
double relative_rms(const at::Tensor& got, const at::Tensor& want, const at::Tensor& mask) {
  const at::Tensor g = got.index({mask}), w = want.index({mask});
  return ((g - w).square().mean().sqrt() / w.square().mean().sqrt()).item<double>();
}

/// Fits the sines at L uniform points with N basis functions; relative RMS error on the
/// interior [0.05, 0.95] and on the whole grid.
struct FitError {
  double interior;
  double all;
};
FitError fit_error(std::int64_t n_basis, std::int64_t length, std::int64_t e) {
  const RbfBasis basis(n_basis);
  const at::Tensor t = uniform_positions(length);
  const at::Tensor x = sum_of_sines(t, e);
  const at::Tensor b = ridge_fit(basis, t, x, 0.5);
  const at::Tensor y = reconstruct(basis, b, t);
  const at::Tensor interior = (t >= 0.05) & (t <= 0.95);
  return {relative_rms(y, x, interior), relative_rms(y, x, at::ones_like(t, at::kBool))};
}

TEST(RbfBasisTests, HalfOfTheFunctionsHaveEachWidthOnCentersSpanningTheUnitInterval) {
  const RbfBasis basis(64);
  ASSERT_EQ(basis.size(), 64);
  EXPECT_EQ((basis.widths() == 0.005).sum().item<std::int64_t>(), 32);
  EXPECT_EQ((basis.widths() == 0.01).sum().item<std::int64_t>(), 32);
  EXPECT_DOUBLE_EQ(basis.centers().min().item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(basis.centers().max().item<double>(), 1.0);
  EXPECT_THROW(RbfBasis(63), std::invalid_argument);
}

// Measured (L = 1000, e = 8, λ = 0.5, N = 256): relative RMS error 4.8e-4 on the interior
// [0.05, 0.95], 2.95e-2 on the whole grid (the edges, see ridge_fit.h). Bounds: ~4x and ~3x.
TEST(RidgeFitTests, ReconstructsSumOfSinesWithinStatedError) {
  const FitError err = fit_error(256, 1000, 8);
  RecordProperty("interior_rel_rms", std::to_string(err.interior));
  RecordProperty("all_rel_rms", std::to_string(err.all));
  std::printf("N=256 L=1000 e=8: interior rel RMS %.3g, whole grid %.3g\n", err.interior, err.all);
  EXPECT_LT(err.interior, 2e-3);
  EXPECT_LT(err.all, 0.1);
}

TEST(RidgeFitTests, ErrorDropsWithMoreBasisFunctions) {
  double previous = std::numeric_limits<double>::infinity();
  for (std::int64_t n : {32, 64, 128, 256}) {
    const FitError err = fit_error(n, 1000, 8);
    std::printf("N=%lld: interior rel RMS %.3g, whole grid %.3g\n", static_cast<long long>(n),
                err.interior, err.all);
    EXPECT_LT(err.interior, previous) << "N = " << n;
    previous = err.interior;
  }
}

// The padded fit equals the reference recipe literally: G over 2L points on [−0.5, 1.5],
// keeping the middle L rows.
TEST(RidgeFitTests, PaddingEqualsFittingTwoLPointsAndKeepingTheMiddleRows) {
  const std::int64_t length = 200;
  const RbfBasis basis(64);
  const at::Tensor wide = (at::arange(2 * length, kF64) + 0.5) / static_cast<double>(length) - 0.5;
  const at::Tensor g_wide = ridge_matrix(basis, wide, 0.5, /*pad=*/false);  // [2L, N]
  const at::Tensor middle = g_wide.slice(0, length / 2, length / 2 + length);
  const at::Tensor g = ridge_matrix(basis, uniform_positions(length), 0.5);
  ASSERT_EQ(g.sizes(), middle.sizes());
  EXPECT_LT((g - middle).abs().max().item<double>(), 1e-9 * middle.abs().max().item<double>());
}

// What the padding is for: the query's density is integrated over the whole real line, so
// the signal must vanish where there is no memory. Measured for a constant 1 (N = 128,
// L = 500): ∫ |X(t)| dt outside [0, 1] is 4.4e-3 with padding, 1.95e-2 without.
TEST(RidgeFitTests, PaddedFitPutsLessSignalOutsideTheUnitInterval) {
  const RbfBasis basis(128);
  const at::Tensor t = uniform_positions(500);
  const at::Tensor x = at::ones({500, 1}, kF64);
  const at::Tensor left = at::linspace(-0.5, 0.0, 20001, kF64);
  const at::Tensor right = at::linspace(1.0, 1.5, 20001, kF64);
  const auto outside_mass = [&](bool pad) {
    const at::Tensor b = ridge_fit(basis, t, x, 0.5, pad);
    return (at::trapz(reconstruct(basis, b, left).abs().select(1, 0), left) +
            at::trapz(reconstruct(basis, b, right).abs().select(1, 0), right))
        .item<double>();
  };
  const double padded = outside_mass(true), unpadded = outside_mass(false);
  std::printf("integral of |X| outside [0,1] for a constant 1: padded %.3g, unpadded %.3g\n",
              padded, unpadded);
  EXPECT_LT(padded, 0.5 * unpadded);
}

TEST(RbfBasisTests, ClosedFormEqualsTrapezoidIntegrationToRelative1e5) {
  const RbfBasis basis(32);
  const at::Tensor centers = basis.centers(), widths = basis.widths();
  const std::vector<std::pair<double, double>> densities = {{0.5, 1e-2}, {0.1, 1e-4},  {0.97, 2e-5},
                                                            {0.0, 0.3},  {0.42, 1e-6}, {0.73, 2.0}};
  double worst = 0.0;
  for (const auto& [mu, sigma2] : densities) {
    const at::Tensor r = gaussian_basis_integrals(at::tensor({mu}, kF64),
                                                  at::tensor({sigma2}, kF64), centers, widths)[0];
    for (std::int64_t j = 0; j < basis.size(); ++j) {
      const double mj = centers[j].item<double>(), sj = widths[j].item<double>();
      // The integrand N(t; μ, σ²)ψ_j(t) is a Gaussian in t centred at c with sd s: a grid of
      // 40001 points over c ± 14 s (which holds all but e^-98 of it).
      const double var = 1.0 / (1.0 / sigma2 + 1.0 / (sj * sj));
      const double c = var * (mu / sigma2 + mj / (sj * sj)), s = std::sqrt(var);
      const at::Tensor t = at::linspace(c - 14 * s, c + 14 * s, 40001, kF64);
      const at::Tensor density =
          (-(t - mu).square() / (2 * sigma2)).exp() / std::sqrt(2 * kPi * sigma2);
      const at::Tensor psi_j =
          (-(t - mj).square() / (2 * sj * sj)).exp() / std::sqrt(2 * kPi * sj * sj);
      const at::Tensor integrand = density * psi_j;
      const double numeric = at::trapz(integrand, t).item<double>();
      const double closed = r[j].item<double>();
      EXPECT_NEAR(closed, numeric, 1e-5 * std::abs(numeric) + 1e-300)
          << "mu " << mu << " sigma2 " << sigma2 << " j " << j;
      if (numeric > 1e-300) worst = std::max(worst, std::abs(closed - numeric) / numeric);
    }
  }
  std::printf("closed form vs trapezoid: worst relative difference %.3g\n", worst);
}

TEST(AttentionHistogramTests, EmptyHistogramSamplesUniformly) {
  const AttentionHistogram hist(64);
  const std::vector<double> t = hist.sample(8, 0.1);
  ASSERT_EQ(t.size(), 8u);
  for (std::size_t k = 0; k < t.size(); ++k) EXPECT_NEAR(t[k], (k + 0.5) / 8.0, 1e-12);
}

TEST(AttentionHistogramTests, ContractionMovesMassToTauTimesItsPosition) {
  AttentionHistogram hist(100);
  hist.add(0.8, 1e-6);
  const double before = hist.total();
  hist.contract(0.5);
  EXPECT_NEAR(hist.total(), before, 1e-12);
  EXPECT_NEAR(hist.mass()[40] + hist.mass()[39], before, 1e-9);  // 0.8 → 0.4
}

// Measured (N = 256, L = 1000 then 250, τ = 0.75, M = 512, uniform resampling), interior
// rel RMS: recent part 1.9e-2 (250 tokens on a quarter of the axis: ~32 centers for 3
// periods, like N = 128 on the whole axis), old part 1.9e-3. Bounds keep a ~2.5-5x margin.
TEST(ContinuousSignalTests, AfterAnUpdateRecentPartIsSharpAndOldPartStillThere) {
  ContinuousOptions options;
  options.sticky = false;
  ContinuousSignal signal(options, 8);
  const at::Tensor t_old = uniform_positions(1000), t_new = uniform_positions(250);
  const at::Tensor x_old = sum_of_sines(t_old, 8), x_new = sum_of_sines(t_new, 8, 2.0);
  signal.append(x_old.to(at::kFloat));
  const double tau = signal.append(x_new.to(at::kFloat));
  ASSERT_DOUBLE_EQ(tau, 0.75);
  EXPECT_EQ(signal.tokens(), 1250);
  const at::Tensor y_old = signal.reconstruct(t_old * tau);
  const at::Tensor y_new = signal.reconstruct(t_new * (1 - tau) + tau);
  const at::Tensor old_interior = (t_old >= 0.05) & (t_old <= 0.95);
  const at::Tensor new_interior = (t_new >= 0.05) & (t_new <= 0.95);
  const double err_old = relative_rms(y_old, x_old, old_interior);
  const double err_new = relative_rms(y_new, x_new, new_interior);
  std::printf("after update: old part rel RMS %.3g, recent part %.3g\n", err_old, err_new);
  EXPECT_LT(err_new, 5e-2);
  EXPECT_LT(err_old, 1e-2);
}

TEST(ContinuousSignalTests, StickySamplingPutsMoreRefitPointsWhereAttentionWas) {
  ContinuousOptions options;
  options.n_samples = 400;
  ContinuousSignal signal(options, 4);
  const at::Tensor t = uniform_positions(1000);
  signal.append(sum_of_sines(t, 4).to(at::kFloat));
  for (int i = 0; i < 10; ++i) {
    signal.record_attention(at::tensor({0.3, 0.31}, kF64), at::tensor({1e-4, 2e-4}, kF64));
  }
  signal.append(sum_of_sines(uniform_positions(200), 4, 1.0).to(at::kFloat));
  const std::vector<double>& samples = signal.last_sample_positions();
  ASSERT_EQ(samples.size(), 400u);
  std::int64_t near = 0;
  for (double s : samples) near += (s >= 0.25 && s <= 0.36) ? 1 : 0;
  const double share = static_cast<double>(near) / 400.0;
  std::printf("share of refit points in [0.25, 0.36]: %.3f (uniform: 0.11)\n", share);
  // Expected: (1 − 0.25) of the points follow the histogram, almost all of whose mass lies
  // there, plus the uniform floor's 0.25 · 0.11.
  EXPECT_GT(share, 0.7);
  // The histogram moved with the contraction: its peak is now near 0.75 · 0.3.
  const auto& mass = signal.histogram().mass();
  const auto peak = std::max_element(mass.begin(), mass.end()) - mass.begin();
  EXPECT_NEAR((static_cast<double>(peak) + 0.5) / static_cast<double>(mass.size()), 0.23, 0.02);
}

TEST(ContinuousSignalTests, StickySamplingKeepsTheAttendedRegionSharperThanUniform) {
  const at::Tensor t = uniform_positions(1000);
  // A detail only in [0.28, 0.32]: a narrow bump on top of the sines.
  const at::Tensor bump = (-(t - 0.3).square() / (2 * 0.006 * 0.006)).exp().unsqueeze(1);
  const at::Tensor x = sum_of_sines(t, 4) + 2.0 * bump;
  const at::Tensor region = (t >= 0.27) & (t <= 0.33);
  auto error_after_updates = [&](bool sticky) {
    ContinuousOptions options;
    options.sticky = sticky;
    options.n_samples = 256;
    ContinuousSignal signal(options, 4);
    signal.append(x.to(at::kFloat));
    double scale = 1.0;
    for (int u = 0; u < 3; ++u) {
      signal.record_attention(at::tensor({0.3 * scale}, kF64),
                              at::tensor({std::pow(0.01 * scale, 2)}, kF64));
      scale *= signal.append(sum_of_sines(uniform_positions(250), 4, u + 1.0).to(at::kFloat));
    }
    return relative_rms(signal.reconstruct(t * scale), x, region);
  };
  const double uniform = error_after_updates(false), sticky = error_after_updates(true);
  std::printf("attended region after 3 updates: rel RMS uniform %.3g, sticky %.3g\n", uniform,
              sticky);
  EXPECT_LT(sticky, uniform);
}

TEST(ContinuousSignalTests, APooledAppendTakesTheShareOfTheTokensItStandsFor) {
  ContinuousOptions o;
  o.tau_by_tokens = true;
  ContinuousSignal signal(o, 2);
  signal.append(at::randn({300, 2}));
  // 10 rows standing for 100 tokens: the old 300 keep 300 / 400 of the axis.
  EXPECT_DOUBLE_EQ(signal.append(at::randn({10, 2}), 100), 0.75);
  EXPECT_EQ(signal.tokens(), 400);
  // Unpooled, 10 rows are 10 tokens.
  EXPECT_DOUBLE_EQ(signal.append(at::randn({10, 2})), 400.0 / 410.0);
  EXPECT_EQ(signal.tokens(), 410);
}

TEST(ContinuousSignalTests, ARestoredSignalContinuesExactlyAsTheOriginal) {
  at::manual_seed(31);
  ContinuousOptions o;
  o.n_basis = 32;
  o.n_samples = 64;
  o.n_histogram_bins = 16;
  ContinuousSignal original(o, 3);
  original.append(at::randn({40, 3}));
  original.record_attention(at::tensor({0.3, 0.8}), at::tensor({0.01, 0.02}));
  ContinuousSignal restored(o, 3);
  restored.restore(original.coefficients(), original.tokens(), original.histogram().mass());
  EXPECT_EQ(restored.tokens(), 40);
  const at::Tensor more = at::randn({25, 3});
  original.append(more);
  restored.append(more);
  EXPECT_TRUE(at::equal(restored.coefficients(), original.coefficients()));
  EXPECT_EQ(restored.last_sample_positions(), original.last_sample_positions());
  // What does not fit this signal is refused, and the signal is left as it was.
  EXPECT_THROW(restored.restore(at::zeros({31, 3}), 1, original.histogram().mass()),
               std::invalid_argument);
  EXPECT_THROW(restored.restore(original.coefficients(), 1, std::vector<double>(15, 0.0)),
               std::invalid_argument);
  EXPECT_THROW(restored.restore(original.coefficients(), -1, original.histogram().mass()),
               std::invalid_argument);
  EXPECT_THROW(restored.restore(at::full({32, 3}, NAN), 1, original.histogram().mass()),
               std::invalid_argument);
  EXPECT_EQ(restored.tokens(), 65);
}

TEST(ContinuousMemoryModuleTests, ParametersReceiveFiniteNonZeroGradientsThroughTheClosedForm) {
  at::manual_seed(0);
  const std::int64_t n = 64, e = 16, h = 4, d = 8;
  const RbfBasis basis(n);
  ContinuousMemoryModule module(basis, e, h, d);
  const at::Tensor b = at::randn({n, e}) * 0.1;
  const at::Tensor q = at::randn({h, d});
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const ContinuousReadout read = module.forward(b, q, scale);
  EXPECT_EQ(read.o.sizes(), (at::IntArrayRef{h, 1, d}));
  EXPECT_EQ(read.lse.sizes(), (at::IntArrayRef{h, 1}));
  EXPECT_EQ(read.key.sizes(), (at::IntArrayRef{h, d}));
  EXPECT_EQ(read.mu.sizes(), (at::IntArrayRef{h}));
  EXPECT_EQ(read.sigma2.sizes(), (at::IntArrayRef{h}));
  // The loss reads the tier merged with a local window, so both o and lse matter.
  const at::Tensor k = at::randn({h, 5, d}), v = at::randn({h, 5, d});
  const AttentionOutput local = attention_reference(q.unsqueeze(1), k, v, -1, scale);
  const AttentionOutput merged = merge_attention({local, {read.o, read.lse}});
  merged.o.square().sum().backward();
  const std::vector<at::Tensor> params = module.parameters();
  ASSERT_EQ(params.size(), 6u);  // w_k, w_v, w_mu, w_sigma, w_out, logit_bias
  for (const at::Tensor& p : params) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>());
    EXPECT_GT(p.grad().abs().max().item<double>(), 0.0) << "shape " << p.sizes();
  }
}

TEST(RbfBasisTests, ClosedFormGradientsMatchFiniteDifferences) {
  at::manual_seed(1);
  const RbfBasis basis(32);
  const at::Tensor mu = at::tensor({0.37}, kF64).requires_grad_();
  const at::Tensor sigma2 = at::tensor({3e-4}, kF64).requires_grad_();
  const at::Tensor w = at::randn({32}, kF64);
  const auto f = [&](const at::Tensor& m, const at::Tensor& s) {
    return (gaussian_basis_integrals(m, s, basis.centers(), basis.widths()) * w).sum();
  };
  f(mu, sigma2).backward();
  const double h = 1e-7;
  const double numeric_mu =
      ((f(mu.detach() + h, sigma2.detach()) - f(mu.detach() - h, sigma2.detach())) / (2 * h))
          .item<double>();
  const double numeric_s2 =
      ((f(mu.detach(), sigma2.detach() + h) - f(mu.detach(), sigma2.detach() - h)) / (2 * h))
          .item<double>();
  EXPECT_NEAR(mu.grad().item<double>(), numeric_mu, 1e-5 * std::abs(numeric_mu) + 1e-6);
  EXPECT_NEAR(sigma2.grad().item<double>(), numeric_s2, 1e-4 * std::abs(numeric_s2) + 1e-4);
}

ContinuousTier make_tier(std::int64_t e, std::int64_t h, std::int64_t d) {
  ContinuousOptions options;
  options.n_basis = 64;
  const RbfBasis basis(options.n_basis, options.widths);
  return ContinuousTier(options, e, {ContinuousMemoryModule(basis, e, h, d)});
}

MemoryQuery make_query(std::int64_t h, std::int64_t d) {
  MemoryQuery query;
  query.q_raw = at::randn({h, d});
  query.q_rot = query.q_raw;
  query.scale = 1.0 / std::sqrt(static_cast<double>(d));
  return query;
}

TEST(ContinuousTierTests, EmptyMemoryReturnsMinusInfLseAndZeroOutputAndMergesToNothing) {
  at::manual_seed(2);
  const ContinuousTier tier = make_tier(16, 4, 8);
  const MemoryQuery query = make_query(4, 8);
  const AttentionOutput out = tier.attend(query);
  EXPECT_EQ(out.o.sizes(), (at::IntArrayRef{4, 1, 8}));
  EXPECT_TRUE((out.o == 0).all().item<bool>());
  EXPECT_TRUE((out.lse == -std::numeric_limits<float>::infinity()).all().item<bool>());
  const at::Tensor k = at::randn({4, 6, 8}), v = at::randn({4, 6, 8});
  const AttentionOutput local =
      attention_reference(query.q_raw.unsqueeze(1), k, v, -1, query.scale);
  const AttentionOutput merged = merge_attention({local, out});
  EXPECT_TRUE(at::allclose(merged.o, local.o, 0, 0));
  EXPECT_TRUE(at::allclose(merged.lse, local.lse, 0, 0));
}

TEST(ContinuousTierTests, AttendReturnsFiniteOutputAndLseAndRecordsTheDensity) {
  at::manual_seed(3);
  ContinuousTier tier = make_tier(16, 4, 8);
  tier.append(0, at::randn({300, 16}));
  const AttentionOutput out = tier.attend(make_query(4, 8));
  EXPECT_EQ(out.o.sizes(), (at::IntArrayRef{4, 1, 8}));
  EXPECT_EQ(out.lse.sizes(), (at::IntArrayRef{4, 1}));
  EXPECT_TRUE(at::isfinite(out.o).all().item<bool>());
  EXPECT_TRUE(at::isfinite(out.lse).all().item<bool>());
  EXPECT_GT(tier.signal(0).histogram().total(), 0.0);
}

// The documented convention: the continuous read is one pseudo-token (key k̄, value o), so
// merging it with the local window equals dense attention over the local keys plus that key
// (logit_bias is 0 at initialization).
TEST(ContinuousTierTests, MergeEqualsDenseAttentionWithOnePseudoTokenAppended) {
  at::manual_seed(4);
  const std::int64_t e = 16, h = 4, d = 8, s = 7;
  ContinuousTier tier = make_tier(e, h, d);
  tier.append(0, at::randn({500, e}));
  const MemoryQuery query = make_query(h, d);
  const AttentionOutput cont = tier.attend(query);
  const ContinuousReadout read =
      tier.module(0).forward(tier.signal(0).coefficients(), query.q_raw, query.scale);
  EXPECT_TRUE(at::allclose(read.lse, cont.lse, 1e-6, 1e-6));
  const at::Tensor k = at::randn({h, s, d}), v = at::randn({h, s, d});
  const at::Tensor q = query.q_raw.unsqueeze(1);  // [H, 1, D]
  const AttentionOutput merged =
      merge_attention({attention_reference(q, k, v, -1, query.scale), cont});
  const AttentionOutput dense = attention_reference(q, at::cat({k, read.key.unsqueeze(1)}, 1),
                                                    at::cat({v, cont.o}, 1), -1, query.scale);
  EXPECT_TRUE(at::allclose(merged.o, dense.o, 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(merged.lse, dense.lse, 1e-5, 1e-5));
}

}  // namespace
}  // namespace mnemo::model::memory::continuous
