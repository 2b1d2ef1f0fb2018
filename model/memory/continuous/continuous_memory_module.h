// The trainable part of the continuous tier: how one layer's attention heads read the
// continuous signal B (∞-former, arXiv 2109.00301 §3.1; DESIGN.md §2). The parameters live
// in a torch::nn::Module that mnemo's own model registers and trains; gradients flow to them
// (and to B and q) through the Gaussian closed form. LibTorch's nn headers are slow to
// compile, so only continuous_memory_module.cpp includes them: this header forward-declares
// torch::nn::Module and hands out the module as a shared_ptr, like a TORCH_MODULE holder.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/memory/continuous/rbf_basis.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace mnemo::model::memory::continuous {

/// One read of the signal by every head (H heads of width D; N basis functions).
struct ContinuousReadout {
  at::Tensor o;       ///< [H, 1, D] the projected context, the pseudo-token's value
  at::Tensor lse;     ///< [H, 1] the pseudo-token's logit (see ContinuousMemoryModule)
  at::Tensor key;     ///< [H, D] the pseudo-token's key k̄ = Kᵀr (lse = scale·q·k̄ + bias)
  at::Tensor mu;      ///< [H] mean of each head's attention density on [0, 1]
  at::Tensor sigma2;  ///< [H] its variance
};

class ContinuousMemoryModuleImpl;  // the torch::nn::Module, defined in the .cpp

/// Parameters (all float32, registered under these names):
///   w_k, w_v   [e, H·D]  K = B w_k, V = B w_v (per head: columns h·D .. h·D + D − 1)
///   w_mu       [N]       μ_h = sigmoid(w_muᵀ s_h)
///   w_sigma    [N]       σ²_h = softplus(w_sigmaᵀ s_h)      (shared by the heads, as in the
///                                                           reference implementation)
///   w_out      [H·D, H·D] output projection of the concatenated contexts (mixes heads)
///   logit_bias [H]       log-multiplicity of the pseudo-token (initialized to 0)
/// with s_h = scale · K_h q_h ∈ R^N (scale is usually 1/√D).
///
/// Reading (per head h): r_j = N(μ_h; μ_j, σ²_h + σ_j²) = ∫ N(t; μ_h, σ²_h) ψ_j(t) dt,
/// c_h = V_hᵀ r (the expected value E_p[V(t)] under the density p), o = w_outᵀ [c_1 … c_H].
///
/// What lse means. A continuous density has no softmax denominator, so the whole read is
/// treated as ONE pseudo-token whose value is o_h and whose key is the expected key under
/// the same density, k̄_h = K_hᵀ r = E_p[K(t)]; its logit is scored like a local key:
///   lse_h = scale · q_h · k̄_h + logit_bias_h.
/// merge_attention with the local window then gives the pseudo-token the softmax weight
/// exp(lse_h) / (exp(lse_h) + Σ_local exp(score)), exactly as if it were one more key; the
/// learned bias says how many tokens' worth of weight the summary deserves.
/// Copies are handles that share one set of parameters (like a TORCH_MODULE holder).
/// Thread-safety: forward() may run concurrently (it only reads the parameters); training
/// (changing parameters) needs exclusive access.
class ContinuousMemoryModule {
 public:
  /// dim: e, the width of the memory vectors; heads × head_dim: the query layout.
  ContinuousMemoryModule(const RbfBasis& basis, std::int64_t dim, std::int64_t n_heads,
                         std::int64_t head_dim);

  /// coefficients: B [N, e]; q: [H, D] (position-free queries). B and q are converted to the
  /// parameters' device and dtype; autograd records the read when grad mode is on.
  ContinuousReadout forward(const at::Tensor& coefficients, const at::Tensor& q,
                            double scale) const;

  /// The torch::nn::Module holding the parameters (and the basis as buffers): register it in
  /// a parent with register_module(name, module()), move it with ->to(device).
  std::shared_ptr<torch::nn::Module> module() const;
  std::vector<at::Tensor> parameters() const;

  std::int64_t n_heads() const { return n_heads_; }
  std::int64_t head_dim() const { return head_dim_; }

 private:
  std::shared_ptr<ContinuousMemoryModuleImpl> impl_;
  std::int64_t n_heads_;
  std::int64_t head_dim_;
};

}  // namespace mnemo::model::memory::continuous
