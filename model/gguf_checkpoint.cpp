// Checkpoint over a GGUF file: maps Hugging Face tensor names to llama.cpp's, dequantizes,
// and undoes convert_hf_to_gguf.py's q/k row permutation for the llama architecture.
#include <ATen/ATen.h>

#include <regex>

#include "model/checkpoint.h"
#include "model/checkpoint_formats.h"
#include "model/dequantize.h"
#include "model/gguf_reader.h"

namespace mnemo::model {
namespace {

/// Hugging Face name → GGUF name; empty when the name has no GGUF counterpart.
std::string gguf_name(const std::string& hf) {
  static const std::pair<const char*, const char*> kTop[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  for (const auto& [from, to] : kTop) {
    if (hf == from) return to;
  }
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  static const std::regex kLayerName(R"(model\.layers\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(hf, m, kLayerName)) return {};
  for (const auto& [from, to] : kLayer) {
    if (m[2] == from) return "blk." + m[1].str() + "." + to;
  }
  return {};
}

/// The inverse of convert_hf_to_gguf.py's LlamaModel.permute, as a row order: row r of the
/// HF layout (half-split RoPE pairs) is row order[r] of GGUF's (adjacent pairs, for
/// llama.cpp's RoPE). Float and quantized matrices are both reordered with it.
std::vector<std::int64_t> unpermuted_order(std::int64_t rows, std::int64_t n_head) {
  const std::int64_t per_head = rows / n_head, half = per_head / 2;
  std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t h = r / per_head, j = (r % per_head) / half, i = r % half;
    order[static_cast<std::size_t>(r)] = h * per_head + i * 2 + j;
  }
  return order;
}

class GgufCheckpoint final : public Checkpoint {
 public:
  GgufCheckpoint(std::shared_ptr<const GgufFile> gguf, ModelConfig config)
      : gguf_(std::move(gguf)), config_(std::move(config)) {}

  const std::string& path() const override { return gguf_->path(); }
  const ModelConfig& config() const override { return config_; }
  TokenizerSource tokenizer_source() const override { return {gguf_, {}}; }

  bool has(const std::string& hf_name) const override {
    const std::string name = gguf_name(hf_name);
    return !name.empty() && gguf_->tensor(name) != nullptr;
  }

  Result<at::Tensor, ModelError> weight(const std::string& hf_name) const override {
    try {
      return read(hf_name);
    } catch (const c10::Error& e) {
      return ModelError{path() + ": tensor for '" + hf_name + "': " + e.what_without_backtrace()};
    }
  }

  Result<std::optional<QuantizedMatrix>, ModelError> quantized_weight(
      const std::string& hf_name) const override {
    const std::string name = gguf_name(hf_name);
    const GgufTensor* t = name.empty() ? nullptr : gguf_->tensor(name);
    if (t == nullptr) return ModelError{path() + ": no tensor for '" + hf_name + "'"};
    if (t->shape.size() != 2 || t->type == static_cast<std::uint32_t>(GgufType::kF32)) {
      return std::optional<QuantizedMatrix>();
    }
    auto matrix =
        QuantizedMatrix::create(t->type, static_cast<std::int64_t>(t->shape[1]),
                                static_cast<std::int64_t>(t->shape[0]), t->data, t->n_bytes);
    if (!matrix) return ModelError{path() + ": tensor '" + name + "': " + matrix.error().message};
    const std::int64_t heads = permuted_heads(hf_name);
    if (heads == 0) return std::optional<QuantizedMatrix>(std::move(matrix).value());
    const auto rows = matrix.value().rows();
    if (rows % (2 * heads) != 0) {
      return ModelError{path() + ": tensor '" + name + "' rows are not a multiple of 2 x heads"};
    }
    return std::optional<QuantizedMatrix>(
        matrix.value().gather_rows(unpermuted_order(rows, heads)));
  }

 private:
  /// The head count whose rows the converter permuted (llama q and k), or 0.
  std::int64_t permuted_heads(const std::string& hf_name) const {
    if (config_.architecture != Architecture::kLlama) return 0;
    if (hf_name.find("self_attn.q_proj") != std::string::npos) {
      return static_cast<std::int64_t>(config_.n_head);
    }
    if (hf_name.find("self_attn.k_proj") != std::string::npos) {
      return static_cast<std::int64_t>(config_.n_head_kv);
    }
    return 0;
  }

  Result<at::Tensor, ModelError> read(const std::string& hf_name) const {
    const std::string name = gguf_name(hf_name);
    const GgufTensor* t = name.empty() ? nullptr : gguf_->tensor(name);
    if (t == nullptr) {
      return ModelError{path() + ": no tensor for '" + hf_name + "'" +
                        (name.empty() ? "" : " ('" + name + "')")};
    }
    auto out = dequantized(*t);
    if (!out) return out.error();
    const std::int64_t heads = permuted_heads(hf_name);
    if (heads == 0) return out;
    const std::int64_t rows = out.value().size(0);
    TORCH_CHECK(rows % (2 * heads) == 0, "rows (", rows, ") are not a multiple of 2 x heads (",
                heads, ")");
    const std::vector<std::int64_t> order = unpermuted_order(rows, heads);
    return out.value().index_select(
        0, at::from_blob(const_cast<std::int64_t*>(order.data()), {rows}, at::kLong));
  }

  Result<at::Tensor, ModelError> dequantized(const GgufTensor& t) const {
    if (t.shape.empty() || t.shape.size() > 2) {
      return ModelError{path() + ": tensor '" + t.name + "' has " + std::to_string(t.shape.size()) +
                        " dimensions; weights have 1 or 2"};
    }
    // GGUF lists ne0 (the fastest, "in") first; PyTorch wants [out, in].
    std::vector<std::int64_t> shape(t.shape.rbegin(), t.shape.rend());
    at::Tensor out = at::empty(shape, at::kFloat);
    auto ok = dequantize(t.type, t.data, out.data_ptr<float>(), t.n_elements);
    if (!ok) return ModelError{path() + ": tensor '" + t.name + "': " + ok.error().message};
    return out;
  }

  std::shared_ptr<const GgufFile> gguf_;
  ModelConfig config_;
};

}  // namespace

Result<std::unique_ptr<Checkpoint>, ModelError> open_gguf_checkpoint(const std::string& path) {
  auto gguf = GgufFile::open(path);
  if (!gguf) return ModelError{gguf.error().message};
  auto config = config_from_gguf(*gguf.value());
  if (!config) return config.error();
  ModelConfig c = config.value();
  // Llama 3.1 files store the RoPE frequency divisors as a tensor.
  if (const GgufTensor* factors = gguf.value()->tensor("rope_freqs.weight")) {
    if (factors->type != static_cast<std::uint32_t>(GgufType::kF32) ||
        factors->n_elements != c.head_dim / 2) {
      return ModelError{path + ": rope_freqs.weight must be F32 with head_dim/2 elements"};
    }
    const auto* data = reinterpret_cast<const float*>(factors->data);
    c.rope_freq_factors.assign(data, data + factors->n_elements);
  }
  for (std::size_t i = 0; i < c.n_layer; ++i) {
    for (const char* part : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                             "ffn_down", "attn_norm", "ffn_norm"}) {
      const std::string name = "blk." + std::to_string(i) + "." + part + ".weight";
      if (gguf.value()->tensor(name) == nullptr) {
        return ModelError{path + ": missing tensor '" + name + "'"};
      }
    }
  }
  return std::unique_ptr<Checkpoint>(new GgufCheckpoint(std::move(gguf).value(), std::move(c)));
}

}  // namespace mnemo::model
