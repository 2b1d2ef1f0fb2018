#include "model/transformer.h"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>

#include "model/attention.h"

namespace mnemo::model {
namespace {

std::string layer_name(std::size_t i, const char* part) {
  return "model.layers." + std::to_string(i) + "." + part;
}

}  // namespace

Result<std::shared_ptr<const Transformer>, ModelError> Transformer::load(
    const Checkpoint& checkpoint, const at::Device& device) {
  std::shared_ptr<Transformer> t(new Transformer());
  t->config_ = checkpoint.config();
  const ModelConfig& c = t->config_;
  const auto E = static_cast<std::int64_t>(c.n_embd);
  const auto qkv_rows = static_cast<std::int64_t>((c.n_head + 2 * c.n_head_kv) * c.head_dim);

  std::optional<ModelError> failed;
  // Reads one weight and checks its shape; on error remembers the first failure.
  const auto get = [&](const std::string& name, std::vector<std::int64_t> shape) -> at::Tensor {
    if (failed) return {};
    auto w = checkpoint.weight(name);
    if (!w) {
      failed = w.error();
      return {};
    }
    if (w.value().sizes() != at::IntArrayRef(shape)) {
      failed = ModelError{checkpoint.path() + ": tensor '" + name + "' has shape " +
                          c10::str(w.value().sizes()) + ", expected " +
                          c10::str(at::IntArrayRef(shape))};
      return {};
    }
    return w.value().to(device);
  };

  const auto V = static_cast<std::int64_t>(c.n_vocab);
  const auto H = static_cast<std::int64_t>(c.n_head), Hkv = static_cast<std::int64_t>(c.n_head_kv);
  const auto D = static_cast<std::int64_t>(c.head_dim), F = static_cast<std::int64_t>(c.n_ff);
  t->embedding_ = get("model.embed_tokens.weight", {V, E});
  t->output_norm_ = get("model.norm.weight", {E});
  t->output_ = checkpoint.has("lm_head.weight") ? get("lm_head.weight", {V, E}) : t->embedding_;
  for (std::size_t i = 0; i < c.n_layer && !failed; ++i) {
    Block b;
    b.attn_norm = get(layer_name(i, "input_layernorm.weight"), {E});
    b.wqkv = at::cat({get(layer_name(i, "self_attn.q_proj.weight"), {H * D, E}),
                      get(layer_name(i, "self_attn.k_proj.weight"), {Hkv * D, E}),
                      get(layer_name(i, "self_attn.v_proj.weight"), {Hkv * D, E})});
    if (c.qkv_bias && !failed) {
      b.bqkv = at::cat({get(layer_name(i, "self_attn.q_proj.bias"), {H * D}),
                        get(layer_name(i, "self_attn.k_proj.bias"), {Hkv * D}),
                        get(layer_name(i, "self_attn.v_proj.bias"), {Hkv * D})});
    }
    b.wo = get(layer_name(i, "self_attn.o_proj.weight"), {E, H * D});
    b.ffn_norm = get(layer_name(i, "post_attention_layernorm.weight"), {E});
    b.w_gate_up = at::cat({get(layer_name(i, "mlp.gate_proj.weight"), {F, E}),
                           get(layer_name(i, "mlp.up_proj.weight"), {F, E})});
    b.w_down = get(layer_name(i, "mlp.down_proj.weight"), {E, F});
    if (!failed && b.wqkv.size(0) != qkv_rows) failed = ModelError{"internal: fused qkv shape"};
    t->blocks_.push_back(std::move(b));
  }
  if (failed) return *failed;
  t->build_rope_tables();
  return std::shared_ptr<const Transformer>(std::move(t));
}

void Transformer::build_rope_tables() {
  const ModelConfig& c = config_;
  const auto half = static_cast<std::int64_t>(c.head_dim / 2);
  const auto n_pos = static_cast<std::int64_t>(std::max<std::size_t>(c.n_ctx_train, 1));
  // Angles in double, then float: position · freq_scale · theta^(-2i/D) / factor_i.
  at::Tensor inv_freq = at::empty({half}, at::kDouble);
  auto* f = inv_freq.data_ptr<double>();
  for (std::int64_t i = 0; i < half; ++i) {
    f[i] = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / static_cast<double>(c.head_dim));
    if (!c.rope_freq_factors.empty()) f[i] /= c.rope_freq_factors[static_cast<std::size_t>(i)];
  }
  const at::Tensor pos = at::arange(n_pos, at::kDouble) * static_cast<double>(c.rope_freq_scale);
  const at::Tensor angles = at::outer(pos, inv_freq);  // [n_pos, D/2]
  cos_ = at::cat({angles.cos(), angles.cos()}, 1).to(options());
  sin_ = at::cat({-angles.sin(), angles.sin()}, 1).to(options());
}

at::Tensor Transformer::rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
  const at::Tensor scale = x.pow(2).mean(-1, /*keepdim=*/true).add_(config_.rms_norm_eps).rsqrt_();
  return (x * scale).mul_(weight);
}

at::Tensor Transformer::forward(const Tokens& tokens, KvCache& cache, bool all_logits) const {
  const ModelConfig& c = config_;
  const auto T = static_cast<std::int64_t>(tokens.size());
  const auto H = static_cast<std::int64_t>(c.n_head), Hkv = static_cast<std::int64_t>(c.n_head_kv);
  const auto D = static_cast<std::int64_t>(c.head_dim);
  const auto pos0 = static_cast<std::int64_t>(cache.size());
  TORCH_CHECK(cache.size() + tokens.size() <= cache.capacity(), "KV cache is full");
  TORCH_CHECK(pos0 + T <= cos_.size(0), "position past the model's context length");

  const at::Tensor ids = at::from_blob(const_cast<TokenId*>(tokens.data()), {T}, at::kInt)
                             .to(options().device(), at::kLong);
  at::Tensor x = embedding_.index_select(0, ids);               // [T, E]
  const at::Tensor cos = cos_.narrow(0, pos0, T).unsqueeze(1);  // [T, 1, D]
  const at::Tensor sin = sin_.narrow(0, pos0, T).unsqueeze(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    const at::Tensor h = rms_norm(x, b.attn_norm);
    const at::Tensor qkv =
        b.bqkv.defined() ? at::addmm(b.bqkv, h, b.wqkv.t()) : at::mm(h, b.wqkv.t());
    // RoPE on q and k together: [T, H + Hkv, D].
    const at::Tensor qk = qkv.narrow(1, 0, (H + Hkv) * D).view({T, H + Hkv, D});
    const at::Tensor qk_rot = at::addcmul(qk * cos, at::roll(qk, D / 2, -1), sin);
    const at::Tensor q = qk_rot.narrow(1, 0, H).transpose(0, 1);  // [H, T, D]
    const at::Tensor k = qk_rot.narrow(1, H, Hkv);                // [T, Hkv, D]
    const at::Tensor v = qkv.narrow(1, (H + Hkv) * D, Hkv * D).view({T, Hkv, D});
    cache.write(l, k, v);
    const AttentionOutput att =
        attention(q, cache.keys(l, tokens.size()), cache.values(l, tokens.size()), pos0, scale);
    x = at::addmm(x, att.o.transpose(0, 1).reshape({T, H * D}), b.wo.t());
    const at::Tensor gate_up = at::mm(rms_norm(x, b.ffn_norm), b.w_gate_up.t());  // [T, 2F]
    const auto F = gate_up.size(1) / 2;
    const at::Tensor act = at::silu(gate_up.narrow(1, 0, F)).mul_(gate_up.narrow(1, F, F));
    x = at::addmm(x, act, b.w_down.t());
  }
  cache.commit(tokens.size());
  if (!all_logits) x = x.narrow(0, T - 1, 1);
  return at::mm(rms_norm(x, output_norm_), output_.t());
}

}  // namespace mnemo::model
