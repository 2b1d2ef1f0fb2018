#include "model/transformer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "model/attention.h"
#include "model/memory/memory_source.h"
#include "model/rms_norm.h"
#include "model/rope.h"

namespace mnemo::model {
namespace {

std::string layer_name(std::size_t i, const char* part) {
  return "model.layers." + std::to_string(i) + "." + part;
}

/// Where a read keeps its choice for the next steps: one slot per memory layer, then the
/// next-token read's; none when every step chooses anew.
std::unique_ptr<memory::MemoryChoice>* choice_slot(const MemoryReader& memory, DecodeWorkspace& ws,
                                                   std::size_t slot) {
  if (memory.tokens_per_choice <= 1) return nullptr;
  ws.memory_choices.resize(memory.layers.size() + 1);
  return &ws.memory_choices[slot];
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
  const bool keep_quantized = device.is_cpu();
  // Row blocks of one linear layer, each kept in the file's format where it can be.
  const auto linear = [&](const std::vector<std::pair<std::string, std::int64_t>>& parts,
                          std::int64_t cols, const std::vector<std::string>& biases) -> Linear {
    std::vector<LinearPart> out;
    for (const auto& [name, rows] : parts) {
      if (failed) return {};
      if (keep_quantized) {
        auto q = checkpoint.quantized_weight(name);
        if (!q) {
          failed = q.error();
          return {};
        }
        if (q.value()) {
          if (q.value()->rows() != rows || q.value()->cols() != cols) {
            failed = ModelError{checkpoint.path() + ": tensor '" + name + "' has shape [" +
                                std::to_string(q.value()->rows()) + ", " +
                                std::to_string(q.value()->cols()) + "], expected [" +
                                std::to_string(rows) + ", " + std::to_string(cols) + "]"};
            return {};
          }
          out.push_back({at::Tensor(), std::move(*q.value())});
          continue;
        }
      }
      out.push_back({get(name, {rows, cols}), {}});
    }
    std::vector<at::Tensor> bias_parts;
    for (std::size_t k = 0; k < biases.size(); ++k) {
      bias_parts.push_back(get(biases[k], {parts[k].second}));
    }
    if (failed) return {};
    return Linear(std::move(out), bias_parts.empty() ? at::Tensor() : at::cat(bias_parts));
  };

  t->embedding_ = get("model.embed_tokens.weight", {V, E});
  if (checkpoint.has("model.embed_shift.weight")) t->shift_ = get("model.embed_shift.weight", {E});
  t->output_norm_ = get("model.norm.weight", {E});
  if (checkpoint.has("lm_head.weight")) {
    t->output_ = linear({{"lm_head.weight", V}}, E, {});
  } else if (keep_quantized) {  // tied: the embedding matrix, in its file format
    t->output_ = linear({{"model.embed_tokens.weight", V}}, E, {});
  } else {
    t->output_ = Linear({{t->embedding_, {}}}, at::Tensor());
  }
  for (std::size_t i = 0; i < c.n_layer && !failed; ++i) {
    const auto name = [&](const char* part) { return layer_name(i, part); };
    Block b;
    b.attn_norm = get(name("input_layernorm.weight"), {E});
    std::vector<std::string> qkv_biases;
    if (c.qkv_bias) {
      qkv_biases = {name("self_attn.q_proj.bias"), name("self_attn.k_proj.bias"),
                    name("self_attn.v_proj.bias")};
    }
    b.qkv = linear({{name("self_attn.q_proj.weight"), H * D},
                    {name("self_attn.k_proj.weight"), Hkv * D},
                    {name("self_attn.v_proj.weight"), Hkv * D}},
                   E, qkv_biases);
    b.o = linear({{name("self_attn.o_proj.weight"), E}}, H * D, {});
    b.ffn_norm = get(name("post_attention_layernorm.weight"), {E});
    b.gate_up = linear({{name("mlp.gate_proj.weight"), F}, {name("mlp.up_proj.weight"), F}}, E, {});
    b.down = linear({{name("mlp.down_proj.weight"), E}}, F, {});
    t->blocks_.push_back(std::move(b));
  }
  if (failed) return *failed;
  t->rope_ = rope_tables(c, static_cast<std::int64_t>(t->max_positions()), t->options());
  return std::shared_ptr<const Transformer>(std::move(t));
}

at::Tensor Transformer::run_blocks(const Tokens& tokens, KvCache& cache, KeyValueTap* tap,
                                   std::size_t n_blocks) const {
  const ModelConfig& c = config_;
  const auto T = static_cast<std::int64_t>(tokens.size());
  const auto H = static_cast<std::int64_t>(c.n_head), Hkv = static_cast<std::int64_t>(c.n_head_kv);
  const auto D = static_cast<std::int64_t>(c.head_dim);
  const auto pos0 = static_cast<std::int64_t>(cache.size());
  TORCH_CHECK(cache.size() + tokens.size() <= cache.capacity(), "KV cache is full");
  TORCH_CHECK(pos0 + T <= rope_.cos.size(0), "position past the model's context length");

  // A single token's embedding row is a view; a batch gathers rows.
  const auto embed = [&](const TokenId* ids, std::int64_t n) {
    return n == 1
               ? embedding_.narrow(0, ids[0], 1)
               : embedding_.index_select(0, at::from_blob(const_cast<TokenId*>(ids), {n}, at::kInt)
                                                .to(options().device(), at::kLong));  // [n, E]
  };
  at::Tensor x = embed(tokens.data(), T);
  if (shift_.defined()) {
    // Each token's predecessor: the cache's last token for the first (none at position 0).
    at::Tensor before = at::zeros({T, x.size(1)}, x.options());
    if (pos0 > 0) {
      const TokenId last = cache.tokens().back();
      before.narrow(0, 0, 1).copy_(embed(&last, 1));
    }
    if (T > 1) before.narrow(0, 1, T - 1).copy_(x.narrow(0, 0, T - 1));
    x = x.add(before.mul_(shift_));
  }
  const double eps = c.rms_norm_eps;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  if (tap != nullptr) {
    tap->keys.assign(tap->layers.size(), at::Tensor());
    tap->values.assign(tap->layers.size(), at::Tensor());
    tap->inputs.assign(tap->layers.size(), at::Tensor());
  }

  for (std::size_t l = 0; l < n_blocks; ++l) {
    const Block& b = blocks_[l];
    const at::Tensor h = rms_norm(x, b.attn_norm, eps);
    const at::Tensor qkv = b.qkv.forward(h);
    if (tap != nullptr) {
      for (std::size_t i = 0; i < tap->layers.size(); ++i) {
        if (tap->layers[i] != l) continue;
        tap->keys[i] = qkv.narrow(1, H * D, Hkv * D).view({T, Hkv, D}).transpose(0, 1).contiguous();
        tap->values[i] =
            qkv.narrow(1, (H + Hkv) * D, Hkv * D).view({T, Hkv, D}).transpose(0, 1).contiguous();
        tap->inputs[i] = h;
      }
    }
    if (l + 1 == n_blocks && n_blocks < blocks_.size()) break;  // the tap had what it needs
    // RoPE on q and k together: [T, H + Hkv, D].
    const at::Tensor qk_rot =
        apply_rope(qkv.narrow(1, 0, (H + Hkv) * D).view({T, H + Hkv, D}), rope_, pos0);
    const at::Tensor q = qk_rot.narrow(1, 0, H).transpose(0, 1);  // [H, T, D]
    const at::Tensor k = qk_rot.narrow(1, H, Hkv);                // [T, Hkv, D]
    const at::Tensor v = qkv.narrow(1, (H + Hkv) * D, Hkv * D).view({T, Hkv, D});
    cache.write(l, k, v);
    const AttentionOutput att = attention(q, cache.keys(l, tokens.size()),
                                          cache.values(l, tokens.size()), pos0, scale, Lse::kSkip);
    x = b.o.forward_add(att.o.transpose(0, 1).reshape({T, H * D}), x);
    const at::Tensor gate_up = b.gate_up.forward(rms_norm(x, b.ffn_norm, eps));  // [T, 2F]
    const auto F = gate_up.size(1) / 2;
    const at::Tensor act = at::silu(gate_up.narrow(1, 0, F)).mul_(gate_up.narrow(1, F, F));
    x = b.down.forward_add(act, x);
  }
  return x;
}

at::Tensor Transformer::forward(const Tokens& tokens, KvCache& cache, bool all_logits,
                                KeyValueTap* tap) const {
  at::Tensor x = run_blocks(tokens, cache, tap, blocks_.size());
  cache.commit(tokens.data(), tokens.size());
  if (!all_logits) x = x.narrow(0, x.size(0) - 1, 1);
  return output_.forward(rms_norm(x, output_norm_, config_.rms_norm_eps));
}

void Transformer::forward_tap(const Tokens& tokens, KvCache& cache, KeyValueTap& tap) const {
  TORCH_CHECK(!tap.layers.empty(), "forward_tap: no layer to tap");
  const std::size_t last = *std::max_element(tap.layers.begin(), tap.layers.end());
  TORCH_CHECK(last < blocks_.size(), "forward_tap: layer ", last, " past the model's layers");
  const at::Tensor x =
      run_blocks(tokens, cache, &tap, tap.final_states ? blocks_.size() : last + 1);
  if (tap.final_states) tap.states = rms_norm(x, output_norm_, config_.rms_norm_eps);
  cache.commit(tokens.data(), tokens.size());
}

DecodeWorkspace Transformer::make_workspace(std::size_t capacity) const {
  const ModelConfig& c = config_;
  const auto E = static_cast<std::int64_t>(c.n_embd), V = static_cast<std::int64_t>(c.n_vocab);
  const auto H = static_cast<std::int64_t>(c.n_head), Hkv = static_cast<std::int64_t>(c.n_head_kv);
  const auto D = static_cast<std::int64_t>(c.head_dim), F = static_cast<std::int64_t>(c.n_ff);
  const at::TensorOptions o = options();
  DecodeWorkspace ws;
  ws.x = at::empty({1, E}, o);
  ws.h = at::empty({1, E}, o);
  ws.qkv = at::empty({1, (H + 2 * Hkv) * D}, o);
  ws.qk_rot = at::empty({1, H + Hkv, D}, o);
  ws.o = at::empty({H, 1, D}, o);
  ws.lse = at::empty({H, 1}, o);
  ws.gate_up = at::empty({1, 2 * F}, o);
  ws.act = at::empty({1, F}, o);
  ws.logits = at::empty({1, V}, o);
  ws.scores.resize(capacity);
  return ws;
}

void Transformer::read_memory(const MemoryReader& memory, std::size_t layer, DecodeWorkspace& ws,
                              double scale) const {
  const auto at_layer = std::find(memory.layers.begin(), memory.layers.end(), layer);
  if (at_layer == memory.layers.end() || memory.source == nullptr) return;
  const auto H = static_cast<std::int64_t>(config_.n_head);
  const auto D = static_cast<std::int64_t>(config_.head_dim);
  memory::MemoryQuery query;
  query.layer = static_cast<std::size_t>(at_layer - memory.layers.begin());
  query.q_raw = ws.qkv.narrow(1, 0, H * D).reshape({H, D});
  query.q_rot = ws.qk_rot.narrow(1, 0, H).reshape({H, D});
  query.window_start = 0;
  query.scale = scale;
  query.choice = choice_slot(memory, ws, query.layer);
  const AttentionOutput merged = merge_attention({{ws.o, ws.lse}, memory.source->attend(query)});
  ws.o.copy_(merged.o);
  ws.lse.copy_(merged.lse);
}

void Transformer::read_next_token(const MemoryReader& memory, TokenId token,
                                  DecodeWorkspace& ws) const {
  if (memory.source == nullptr || !(memory.next_token_weight > 0)) return;
  memory::NextTokenQuery query;
  query.state = ws.h[0];
  query.choice = choice_slot(memory, ws, memory.layers.size());
  query.token = token;
  const memory::NextTokenVotes votes = memory.source->next_token(query);
  if (votes.tokens.empty()) return;
  const double weight = std::min(1.0, static_cast<double>(memory.next_token_weight));
  at::Tensor p = ws.logits.softmax(1).mul_(1.0 - weight);  // [1, V]
  float* row = p.data_ptr<float>();
  for (std::size_t i = 0; i < votes.tokens.size(); ++i) {
    const std::int32_t voted = votes.tokens[i];
    if (voted >= 0 && voted < p.size(1)) row[voted] += static_cast<float>(weight) * votes.shares[i];
  }
  at::log_out(ws.logits, p);
}

const at::Tensor& Transformer::decode(TokenId token, KvCache& cache, DecodeWorkspace& ws,
                                      const MemoryReader* memory) const {
  const ModelConfig& c = config_;
  const auto H = static_cast<std::int64_t>(c.n_head), Hkv = static_cast<std::int64_t>(c.n_head_kv);
  const auto D = static_cast<std::int64_t>(c.head_dim);
  const auto F = ws.act.size(1);
  const auto pos0 = static_cast<std::int64_t>(cache.size());
  TORCH_CHECK(cache.size() < cache.capacity(), "KV cache is full");
  TORCH_CHECK(pos0 < rope_.cos.size(0), "position past the model's context length");
  const double eps = c.rms_norm_eps;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  ws.x.copy_(embedding_.narrow(0, token, 1));
  if (shift_.defined() && pos0 > 0)
    ws.x.addcmul_(embedding_.narrow(0, cache.tokens().back(), 1), shift_);
  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    rms_norm_into(ws.x, b.attn_norm, eps, ws.h);
    b.qkv.forward_into(ws.h, ws.qkv);
    apply_rope_into(ws.qkv.narrow(1, 0, (H + Hkv) * D).view({1, H + Hkv, D}), rope_, pos0,
                    ws.qk_rot);
    cache.write(l, ws.qk_rot.narrow(1, H, Hkv),
                ws.qkv.narrow(1, (H + Hkv) * D, Hkv * D).view({1, Hkv, D}));
    attention_into(ws.qk_rot.narrow(1, 0, H).transpose(0, 1), cache.keys(l, 1), cache.values(l, 1),
                   pos0, scale, ws.o, ws.lse, ws.scores);
    if (memory != nullptr) read_memory(*memory, l, ws, scale);
    b.o.forward_into(ws.o.view({1, H * D}), ws.h);  // [H, 1, D] is [1, H D] in memory
    ws.x.add_(ws.h);
    rms_norm_into(ws.x, b.ffn_norm, eps, ws.h);
    b.gate_up.forward_into(ws.h, ws.gate_up);
    at::silu_out(ws.act, ws.gate_up.narrow(1, 0, F)).mul_(ws.gate_up.narrow(1, F, F));
    b.down.forward_into(ws.act, ws.h);
    ws.x.add_(ws.h);
  }
  cache.commit(&token, 1);
  rms_norm_into(ws.x, output_norm_, eps, ws.h);
  output_.forward_into(ws.h, ws.logits);
  if (memory != nullptr) read_next_token(*memory, token, ws);
  return ws.logits;
}

}  // namespace mnemo::model
