#include "model/training/training_model.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include "model/training/rotary.h"

namespace mnemo::model::training {
namespace {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor f = x.to(at::kFloat);
  return (f * at::rsqrt(f.pow(2).mean(-1, true) + eps) * weight).to(x.scalar_type());
}

constexpr const char* kShiftName = "model.embed_shift.weight";

std::string layer_name(std::size_t l, const char* rest) {
  return "model.layers." + std::to_string(l) + "." + rest;
}

}  // namespace

ModelConfig ModelShape::config() const {
  ModelConfig c;
  c.architecture = Architecture::kLlama;
  c.n_vocab = static_cast<std::size_t>(vocab);
  c.n_embd = static_cast<std::size_t>(dim);
  c.n_layer = static_cast<std::size_t>(layers);
  c.n_head = static_cast<std::size_t>(heads);
  c.n_head_kv = static_cast<std::size_t>(kv_heads);
  c.head_dim = static_cast<std::size_t>(head_dim);
  c.n_ff = static_cast<std::size_t>(ffn);
  c.n_ctx_train = static_cast<std::size_t>(context);
  c.rms_norm_eps = static_cast<float>(rms_norm_eps);
  c.rope_theta = static_cast<float>(rope_theta);
  return c;
}

nlohmann::json ModelShape::hf_config() const {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", vocab},
          {"hidden_size", dim},
          {"num_hidden_layers", layers},
          {"num_attention_heads", heads},
          {"num_key_value_heads", kv_heads},
          {"head_dim", head_dim},
          {"intermediate_size", ffn},
          {"max_position_embeddings", context},
          {"rms_norm_eps", rms_norm_eps},
          {"rope_theta", rope_theta},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", true},
          {"torch_dtype", "float32"}};
}

nlohmann::json ModelShape::to_json() const {
  nlohmann::json j = {{"vocab", vocab},
                      {"dim", dim},
                      {"layers", layers},
                      {"heads", heads},
                      {"kv_heads", kv_heads},
                      {"head_dim", head_dim},
                      {"ffn", ffn},
                      {"context", context},
                      {"rope_theta", rope_theta},
                      {"rms_norm_eps", rms_norm_eps}};
  // Only when set, so that a checkpoint made before the option resumes as it did.
  if (token_shift) j["token_shift"] = true;
  return j;
}

ModelShape ModelShape::from_json(const nlohmann::json& j) {
  ModelShape s;
  s.vocab = j.at("vocab");
  s.dim = j.at("dim");
  s.layers = j.at("layers");
  s.heads = j.at("heads");
  s.kv_heads = j.at("kv_heads");
  s.head_dim = j.at("head_dim");
  s.ffn = j.at("ffn");
  s.context = j.at("context");
  s.rope_theta = j.at("rope_theta");
  s.rms_norm_eps = j.at("rms_norm_eps");
  s.token_shift = j.value("token_shift", false);
  return s;
}

TrainingModel::TrainingModel(ModelShape shape, std::vector<std::size_t> memory_layers,
                             std::uint64_t seed, at::Device device)
    : shape_(shape), memory_layers_(std::move(memory_layers)) {
  const at::Generator generator = at::detail::createCPUGenerator(seed);
  const double std = 0.02, residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(shape.layers));
  const auto normal = [&](std::vector<std::int64_t> size, double s) {
    return at::normal(0.0, s, size, generator).to(device).requires_grad_(true);
  };
  const auto ones = [&](std::int64_t n) {
    return at::ones({n}, at::TensorOptions().device(device)).requires_grad_(true);
  };
  const std::int64_t E = shape.dim, H = shape.heads, Hkv = shape.kv_heads, D = shape.head_dim;
  parameters_["model.embed_tokens.weight"] = normal({shape.vocab, E}, std);
  if (shape.token_shift)
    parameters_[kShiftName] =
        at::zeros({E}, at::TensorOptions().device(device)).requires_grad_(true);
  for (std::size_t l = 0; l < static_cast<std::size_t>(shape.layers); ++l) {
    parameters_[layer_name(l, "input_layernorm.weight")] = ones(E);
    parameters_[layer_name(l, "self_attn.q_proj.weight")] = normal({H * D, E}, std);
    parameters_[layer_name(l, "self_attn.k_proj.weight")] = normal({Hkv * D, E}, std);
    parameters_[layer_name(l, "self_attn.v_proj.weight")] = normal({Hkv * D, E}, std);
    parameters_[layer_name(l, "self_attn.o_proj.weight")] = normal({E, H * D}, residual_std);
    parameters_[layer_name(l, "post_attention_layernorm.weight")] = ones(E);
    parameters_[layer_name(l, "mlp.gate_proj.weight")] = normal({shape.ffn, E}, std);
    parameters_[layer_name(l, "mlp.up_proj.weight")] = normal({shape.ffn, E}, std);
    parameters_[layer_name(l, "mlp.down_proj.weight")] = normal({E, shape.ffn}, residual_std);
  }
  parameters_["model.norm.weight"] = ones(E);
  // Local positions 0..context-1, and the memory's queries at slots + t (at most top_k
  // blocks of 64 before the window: 16 blocks is more than any setting uses).
  rope_ = rope_tables(shape.config(), shape.context + 16 * 64,
                      at::TensorOptions().dtype(at::kFloat).device(device));
}

void TrainingModel::load(const std::map<std::string, at::Tensor>& values) {
  at::NoGradGuard no_grad;
  for (auto& [name, tensor] : parameters_) {
    const auto found = values.find(name);
    if (found == values.end() && name == kShiftName) {
      tensor.zero_();
      continue;
    }
    if (found == values.end()) throw std::invalid_argument("no tensor " + name);
    if (found->second.sizes() != tensor.sizes())
      throw std::invalid_argument(name + " has the wrong shape");
    tensor.copy_(found->second);
  }
  // Weights this shape has no place for would be dropped without a word.
  for (const auto& [name, tensor] : values) {
    if (parameters_.count(name) != 0) continue;
    if (name == kShiftName)
      throw std::invalid_argument("the weights have a token shift (" + name +
                                  "): train with --token-shift");
    throw std::invalid_argument("the weights have " + name + ", which this shape lacks");
  }
}

std::int64_t TrainingModel::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& [name, tensor] : parameters_) n += tensor.numel();
  return n;
}

MemoryTap TrainingModel::encode(const at::Tensor& tokens) const {
  at::NoGradGuard no_grad;
  MemoryTap tap;
  run(tokens, nullptr, &tap, false);
  return tap;
}

at::Tensor TrainingModel::forward(const at::Tensor& tokens, const TrainingMemory* memory,
                                  MemoryTap* tap) const {
  return run(tokens, memory, tap, true);
}

at::Tensor TrainingModel::run(const at::Tensor& tokens, const TrainingMemory* memory,
                              MemoryTap* tap, bool logits) const {
  const std::int64_t B = tokens.size(0), T = tokens.size(1);
  const std::int64_t E = shape_.dim, H = shape_.heads, Hkv = shape_.kv_heads, D = shape_.head_dim;
  if (T > shape_.context) throw std::invalid_argument("a window longer than the context");
  const double scale = 1.0 / std::sqrt(static_cast<double>(D)), eps = shape_.rms_norm_eps;
  const at::Tensor& embedding = p("model.embed_tokens.weight");
  at::Tensor x = embedding.index_select(0, tokens.flatten().to(device())).view({B, T, E});
  if (shape_.token_shift) {  // each position gets its predecessor's embedding (none at 0)
    const at::Tensor before = at::constant_pad_nd(x, {0, 0, 1, 0}).narrow(1, 0, T);
    x = x + before * p(kShiftName);
  }
  const at::Tensor causal =
      at::ones({T, T}, at::TensorOptions().dtype(at::kBool).device(device())).triu(1);  // masked
  const at::Tensor cos = rope_.cos.narrow(0, 0, T).view({1, T, 1, D});
  const at::Tensor sin = rope_.sin.narrow(0, 0, T).view({1, T, 1, D});
  if (tap != nullptr) *tap = MemoryTap();
  for (std::size_t l = 0; l < static_cast<std::size_t>(shape_.layers); ++l) {
    const at::Tensor h = rms_norm(x, p(layer_name(l, "input_layernorm.weight")), eps);
    const at::Tensor q =
        at::linear(h, p(layer_name(l, "self_attn.q_proj.weight"))).view({B, T, H, D});
    const at::Tensor k =
        at::linear(h, p(layer_name(l, "self_attn.k_proj.weight"))).view({B, T, Hkv, D});
    const at::Tensor v =
        at::linear(h, p(layer_name(l, "self_attn.v_proj.weight"))).view({B, T, Hkv, D});
    const auto memory_index = std::find(memory_layers_.begin(), memory_layers_.end(), l);
    const bool reads_memory = memory_index != memory_layers_.end();
    if (tap != nullptr && reads_memory) {
      tap->keys.push_back(k.detach().permute({0, 2, 1, 3}).contiguous());
      tap->values.push_back(v.detach().permute({0, 2, 1, 3}).contiguous());
      if (!logits && tap->keys.size() == memory_layers_.size()) return {};
    }
    const at::Tensor q_rot = rotate(q, cos, sin).transpose(1, 2);  // [B, H, T, D]
    const at::Tensor k_rot =
        rotate(k, cos, sin).transpose(1, 2).repeat_interleave(H / Hkv, 1);  // [B, H, T, D]
    const at::Tensor values = v.transpose(1, 2).repeat_interleave(H / Hkv, 1);
    const at::Tensor scores = at::matmul(q_rot, k_rot.transpose(2, 3))
                                  .to(at::kFloat)
                                  .mul(scale)
                                  .masked_fill(causal, -std::numeric_limits<float>::infinity());
    const at::Tensor lse = at::logsumexp(scores, -1);  // [B, H, T]
    at::Tensor o = at::matmul(at::softmax(scores, -1).to(values.scalar_type()), values)
                       .transpose(1, 2)
                       .to(at::kFloat);  // [B, T, H, D]
    if (reads_memory && memory != nullptr && memory->blocks() > 0) {
      const std::int64_t slots = memory->slots();
      const at::Tensor q_mem = rotate(q, rope_.cos.narrow(0, slots, T).view({1, T, 1, D}),
                                      rope_.sin.narrow(0, slots, T).view({1, T, 1, D}));
      const TrainingMemory::Read read = memory->attend(
          static_cast<std::int64_t>(memory_index - memory_layers_.begin()), q, q_mem, scale);
      const at::Tensor local_lse = lse.transpose(1, 2);  // [B, T, H]
      const at::Tensor merged = at::logaddexp(local_lse, read.lse.to(at::kFloat));
      const at::Tensor share = (read.lse.to(at::kFloat) - merged).exp();  // [B, T, H]
      o = o * (local_lse - merged).exp().unsqueeze(-1) +
          read.o.to(at::kFloat) * share.unsqueeze(-1);
      if (tap != nullptr) tap->memory_share.push_back(share.detach());
    }
    x = x + at::linear(o.reshape({B, T, H * D}).to(h.scalar_type()),
                       p(layer_name(l, "self_attn.o_proj.weight")));
    const at::Tensor h2 = rms_norm(x, p(layer_name(l, "post_attention_layernorm.weight")), eps);
    const at::Tensor gate = at::linear(h2, p(layer_name(l, "mlp.gate_proj.weight")));
    const at::Tensor up = at::linear(h2, p(layer_name(l, "mlp.up_proj.weight")));
    x = x + at::linear(at::silu(gate) * up, p(layer_name(l, "mlp.down_proj.weight")));
  }
  x = rms_norm(x, p("model.norm.weight"), eps);
  return at::linear(x, embedding);
}

}  // namespace mnemo::model::training
