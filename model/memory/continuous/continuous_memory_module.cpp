#include "model/memory/continuous/continuous_memory_module.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace mnemo::model::memory::continuous {

class ContinuousMemoryModuleImpl : public torch::nn::Module {
 public:
  ContinuousMemoryModuleImpl(const RbfBasis& basis, std::int64_t dim, std::int64_t n_heads,
                             std::int64_t head_dim) {
    const std::int64_t n = basis.size();
    const std::int64_t hd = n_heads * head_dim;
    // Uniform(±1/√fan_in), the default of torch::nn::Linear.
    const auto uniform = [](std::vector<std::int64_t> shape, std::int64_t fan_in) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      return torch::empty(shape).uniform_(-bound, bound);
    };
    w_k = register_parameter("w_k", uniform({dim, hd}, dim));
    w_v = register_parameter("w_v", uniform({dim, hd}, dim));
    w_mu = register_parameter("w_mu", uniform({n}, n));
    w_sigma = register_parameter("w_sigma", uniform({n}, n));
    w_out = register_parameter("w_out", uniform({hd, hd}, hd));
    logit_bias = register_parameter("logit_bias", torch::zeros({n_heads}));
    centers = register_buffer("centers", basis.centers().to(torch::kFloat));
    widths = register_buffer("widths", basis.widths().to(torch::kFloat));
  }

  torch::Tensor w_k, w_v, w_mu, w_sigma, w_out, logit_bias;
  torch::Tensor centers, widths;
};

ContinuousMemoryModule::ContinuousMemoryModule(const RbfBasis& basis, std::int64_t dim,
                                               std::int64_t n_heads, std::int64_t head_dim)
    : impl_(std::make_shared<ContinuousMemoryModuleImpl>(basis, dim, n_heads, head_dim)),
      n_heads_(n_heads),
      head_dim_(head_dim) {}

ContinuousReadout ContinuousMemoryModule::forward(const at::Tensor& coefficients,
                                                  const at::Tensor& q, double scale) const {
  const ContinuousMemoryModuleImpl& m = *impl_;
  const std::int64_t h = n_heads_, d = head_dim_;
  if (q.dim() != 2 || q.size(0) != h || q.size(1) != d) {
    throw std::invalid_argument("ContinuousMemoryModule::forward: q must be [H, D]");
  }
  const std::int64_t n = coefficients.size(0);
  const at::Tensor b = coefficients.to(m.w_k.options());                           // [N, e]
  const at::Tensor qf = q.to(m.w_k.options());                                     // [H, D]
  const at::Tensor k = b.matmul(m.w_k).view({n, h, d}).permute({1, 0, 2});         // [H, N, D]
  const at::Tensor v = b.matmul(m.w_v).view({n, h, d}).permute({1, 0, 2});         // [H, N, D]
  const at::Tensor s = at::matmul(k, qf.unsqueeze(-1)).squeeze(-1) * scale;        // [H, N]
  const at::Tensor mu = at::sigmoid(at::matmul(s, m.w_mu));                        // [H]
  const at::Tensor sigma2 = at::softplus(at::matmul(s, m.w_sigma));                // [H]
  const at::Tensor r = gaussian_basis_integrals(mu, sigma2, m.centers, m.widths);  // [H, N]
  const at::Tensor c = at::matmul(r.unsqueeze(1), v).squeeze(1);                   // [H, D]  Vᵀr
  const at::Tensor k_bar = at::matmul(r.unsqueeze(1), k).squeeze(1);               // [H, D]  Kᵀr
  const at::Tensor logit = (k_bar * qf).sum(-1) * scale + m.logit_bias;            // [H]
  const at::Tensor o = c.reshape({1, h * d}).matmul(m.w_out).view({h, 1, d});
  return {o, logit.unsqueeze(-1), k_bar, mu, sigma2};
}

std::shared_ptr<torch::nn::Module> ContinuousMemoryModule::module() const {
  return impl_;
}

std::vector<at::Tensor> ContinuousMemoryModule::parameters() const {
  return impl_->parameters();
}

}  // namespace mnemo::model::memory::continuous
