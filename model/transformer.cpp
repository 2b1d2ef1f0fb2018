#include "model/transformer.h"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>

#include "model/attention.h"
#include "model/rms_norm.h"
#include "model/rope.h"

namespace mnemo::model {
namespace {

std::string layer_name(std::size_t i, const char* part) {
  return "model.layers." + std::to_string(i) + "." + part;
}

}  // namespace

Result<std::shared_ptr<const Transformer>, ModelError> Transformer::load(
    const Checkpoint& checkpoint, const at::Device& device) {
  try {
    return load_weights(checkpoint, device);
  } catch (const c10::Error& e) {
    return ModelError{checkpoint.path() + ": " + e.what_without_backtrace()};
  }
}

Result<std::shared_ptr<const Transformer>, ModelError> Transformer::load_weights(
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
  // After a failure, get() returns undefined tensors; these pass them through.
  const auto fuse = [](std::initializer_list<at::Tensor> parts) -> at::Tensor {
    for (const auto& part : parts) {
      if (!part.defined()) return {};
    }
    return at::cat(parts);
  };
  const auto scaled = [](const at::Tensor& w, double s) { return w.defined() ? w * s : w; };
  for (std::size_t i = 0; i < c.n_layer && !failed; ++i) {
    Block b;
    b.attn_norm = get(layer_name(i, "input_layernorm.weight"), {E});
    // Queries come out already scaled by 1/sqrt(D) (RoPE is linear, so the order is free).
    const double q_scale = 1.0 / std::sqrt(static_cast<double>(D));
    b.wqkv = fuse({scaled(get(layer_name(i, "self_attn.q_proj.weight"), {H * D, E}), q_scale),
                   get(layer_name(i, "self_attn.k_proj.weight"), {Hkv * D, E}),
                   get(layer_name(i, "self_attn.v_proj.weight"), {Hkv * D, E})});
    if (c.qkv_bias) {
      b.bqkv = fuse({scaled(get(layer_name(i, "self_attn.q_proj.bias"), {H * D}), q_scale),
                     get(layer_name(i, "self_attn.k_proj.bias"), {Hkv * D}),
                     get(layer_name(i, "self_attn.v_proj.bias"), {Hkv * D})});
    }
    b.wo = get(layer_name(i, "self_attn.o_proj.weight"), {E, H * D});
    b.ffn_norm = get(layer_name(i, "post_attention_layernorm.weight"), {E});
    b.w_gate_up = fuse({get(layer_name(i, "mlp.gate_proj.weight"), {F, E}),
                        get(layer_name(i, "mlp.up_proj.weight"), {F, E})});
    b.w_down = get(layer_name(i, "mlp.down_proj.weight"), {E, F});
    if (!failed && b.wqkv.size(0) != qkv_rows) failed = ModelError{"internal: fused qkv shape"};
    t->blocks_.push_back(std::move(b));
  }
  if (failed) return *failed;
  t->rope_ = rope_tables(c, static_cast<std::int64_t>(t->max_positions()), t->options());
  return std::shared_ptr<const Transformer>(std::move(t));
}

at::Tensor Transformer::forward(const Tokens& tokens, KvCache& cache, bool all_logits) const {
  const ModelConfig& c = config_;
  const auto T = static_cast<std::int64_t>(tokens.size());
  const auto H = static_cast<std::int64_t>(c.n_head), Hkv = static_cast<std::int64_t>(c.n_head_kv);
  const auto D = static_cast<std::int64_t>(c.head_dim);
  const auto pos0 = static_cast<std::int64_t>(cache.size());
  TORCH_CHECK(cache.size() + tokens.size() <= cache.capacity(), "KV cache is full");
  TORCH_CHECK(pos0 + T <= rope_.cos.size(0), "position past the model's context length");

  // A single token's embedding row is a view; a batch gathers rows.
  at::Tensor x = T == 1 ? embedding_.narrow(0, tokens[0], 1)
                        : embedding_.index_select(
                              0, at::from_blob(const_cast<TokenId*>(tokens.data()), {T}, at::kInt)
                                     .to(options().device(), at::kLong));  // [T, E]
  const double eps = c.rms_norm_eps;

  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    const at::Tensor h = rms_norm(x, b.attn_norm, eps);
    const at::Tensor qkv =
        b.bqkv.defined() ? at::addmm(b.bqkv, h, b.wqkv.t()) : at::mm(h, b.wqkv.t());
    // RoPE on q and k together: [T, H + Hkv, D].
    const at::Tensor qk_rot =
        apply_rope(qkv.narrow(1, 0, (H + Hkv) * D).view({T, H + Hkv, D}), rope_, pos0);
    const at::Tensor q = qk_rot.narrow(1, 0, H).transpose(0, 1);  // [H, T, D]
    const at::Tensor k = qk_rot.narrow(1, H, Hkv);                // [T, Hkv, D]
    const at::Tensor v = qkv.narrow(1, (H + Hkv) * D, Hkv * D).view({T, Hkv, D});
    cache.write(l, k, v);
    const AttentionOutput att = attention(q, cache.keys(l, tokens.size()),
                                          cache.values(l, tokens.size()), pos0, /*scale=*/1.0);
    x = at::addmm(x, att.o.transpose(0, 1).reshape({T, H * D}), b.wo.t());
    const at::Tensor gate_up = at::mm(rms_norm(x, b.ffn_norm, eps), b.w_gate_up.t());  // [T, 2F]
    const auto F = gate_up.size(1) / 2;
    const at::Tensor act = at::silu(gate_up.narrow(1, 0, F)).mul_(gate_up.narrow(1, F, F));
    x = at::addmm(x, act, b.w_down.t());
  }
  cache.commit(tokens.size());
  if (!all_logits) x = x.narrow(0, T - 1, 1);
  return at::mm(rms_norm(x, output_norm_, c.rms_norm_eps), output_.t());
}

}  // namespace mnemo::model
