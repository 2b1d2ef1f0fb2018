#include "model/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <variant>

#include <nlohmann/json.hpp>

#include "model/gguf_reader.h"

namespace mnemo::model {
namespace {

ModelError error(const std::string& file, const std::string& what) {
  return ModelError{file + ": " + what};
}

Result<Architecture, ModelError> parse_architecture(const std::string& file,
                                                    const std::string& name) {
  if (name == "llama" || name == "mistral") return Architecture::kLlama;
  if (name == "qwen2") return Architecture::kQwen2;
  return error(file, "unsupported architecture '" + name + "' (supported: llama, mistral, qwen2)");
}

/// GGUF integers come as unsigned or signed variants depending on the writer.
const std::uint64_t* as_unsigned(const GgufValue* value) {
  return value ? std::get_if<std::uint64_t>(&value->value) : nullptr;
}

Result<std::size_t, ModelError> gguf_count(const GgufFile& gguf, const std::string& key,
                                           std::optional<std::size_t> fallback = std::nullopt) {
  const GgufValue* value = gguf.find(key);
  if (value == nullptr) {
    if (fallback) return *fallback;
    return error(gguf.path(), "missing metadata key '" + key + "'");
  }
  if (const auto* u = as_unsigned(value)) return static_cast<std::size_t>(*u);
  if (const auto* i = std::get_if<std::int64_t>(&value->value); i && *i >= 0) {
    return static_cast<std::size_t>(*i);
  }
  return error(gguf.path(), "metadata key '" + key + "' is not a non-negative integer");
}

Result<float, ModelError> gguf_float(const GgufFile& gguf, const std::string& key, float fallback) {
  const GgufValue* value = gguf.find(key);
  if (value == nullptr) return fallback;
  if (const auto* d = std::get_if<double>(&value->value)) return static_cast<float>(*d);
  return error(gguf.path(), "metadata key '" + key + "' is not a number");
}

/// Llama 3.1's frequency-dependent scaling, as transformers' _compute_llama3_parameters.
std::vector<float> llama3_freq_factors(std::size_t head_dim, float theta, float factor,
                                       float low_freq_factor, float high_freq_factor,
                                       float original_context) {
  std::vector<float> factors;
  const double low_wavelen = original_context / low_freq_factor;
  const double high_wavelen = original_context / high_freq_factor;
  for (std::size_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(theta, static_cast<double>(i) / head_dim);
    const double wavelen = 2 * M_PI / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(factor);
    } else {
      const double smooth =
          (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / factor + smooth)));
    }
  }
  return factors;
}

Result<bool, ModelError> check(const std::string& file, const ModelConfig& c) {
  if (c.n_vocab == 0 || c.n_embd == 0 || c.n_layer == 0 || c.n_head == 0 || c.n_head_kv == 0 ||
      c.head_dim == 0 || c.n_ff == 0) {
    return error(file, "a model dimension is zero");
  }
  if (c.n_head % c.n_head_kv != 0) {
    return error(file, "head count " + std::to_string(c.n_head) +
                           " is not a multiple of the key/value head count " +
                           std::to_string(c.n_head_kv));
  }
  if (c.head_dim % 2 != 0) return error(file, "odd head dimension");
  // Far beyond any real model; a corrupted file must not make us allocate terabytes.
  constexpr std::size_t kLimit = std::size_t{1} << 24;
  for (std::size_t dim :
       {c.n_vocab, c.n_embd, c.n_layer, c.n_head, c.n_head_kv, c.head_dim, c.n_ff}) {
    if (dim > kLimit) return error(file, "implausible model dimension " + std::to_string(dim));
  }
  if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0)) {
    return error(file, "rms_norm_eps and rope_theta must be positive");
  }
  return true;
}

}  // namespace

std::string to_string(Architecture architecture) {
  return architecture == Architecture::kQwen2 ? "qwen2" : "llama";
}

Result<ModelConfig, ModelError> config_from_gguf(const GgufFile& gguf) {
  const GgufValue* arch_value = gguf.find("general.architecture");
  const auto* arch_name = arch_value ? std::get_if<std::string>(&arch_value->value) : nullptr;
  if (arch_name == nullptr) return error(gguf.path(), "missing 'general.architecture'");
  auto arch = parse_architecture(gguf.path(), *arch_name);
  if (!arch) return arch.error();
  const std::string p = *arch_name + ".";

  ModelConfig c;
  c.architecture = arch.value();
  c.qkv_bias = c.architecture == Architecture::kQwen2;
  // Each read may fail; the first failure is returned.
  std::optional<ModelError> failed;
  const auto count = [&](std::size_t& field, const std::string& key,
                         std::optional<std::size_t> fallback = std::nullopt) {
    if (failed) return;
    auto r = gguf_count(gguf, p + key, fallback);
    if (r) {
      field = r.value();
    } else {
      failed = r.error();
    }
  };
  count(c.n_embd, "embedding_length");
  count(c.n_layer, "block_count");
  count(c.n_ff, "feed_forward_length");
  count(c.n_head, "attention.head_count");
  count(c.n_head_kv, "attention.head_count_kv", c.n_head);
  count(c.n_ctx_train, "context_length", 2048);
  count(c.head_dim, "attention.key_length", c.n_head ? c.n_embd / c.n_head : 0);
  if (failed) return *failed;
  auto rope_dims = gguf_count(gguf, p + "rope.dimension_count", c.head_dim);
  if (!rope_dims) return rope_dims.error();
  if (rope_dims.value() != c.head_dim) {
    return error(gguf.path(), "partial RoPE (rope.dimension_count " +
                                  std::to_string(rope_dims.value()) +
                                  " < head dim) is not supported");
  }
  if (const GgufValue* tokens = gguf.find("tokenizer.ggml.tokens")) {
    if (const auto* list = std::get_if<GgufArray>(&tokens->value)) c.n_vocab = list->size();
  }
  auto n_vocab = gguf_count(gguf, p + "vocab_size", c.n_vocab);
  if (!n_vocab) return n_vocab.error();
  c.n_vocab = n_vocab.value();
  if (const GgufTensor* embd = gguf.tensor("token_embd.weight"); embd && embd->shape.size() == 2) {
    c.n_vocab = embd->shape[1];  // the tensor is the truth when metadata and tensor disagree
  }

  auto eps = gguf_float(gguf, p + "attention.layer_norm_rms_epsilon", 1e-5f);
  auto theta = gguf_float(gguf, p + "rope.freq_base", 10000.0f);
  auto freq_scale = gguf_float(gguf, p + "rope.scale_linear", 1.0f);
  if (!eps) return eps.error();
  if (!theta) return theta.error();
  if (!freq_scale) return freq_scale.error();
  c.rms_norm_eps = eps.value();
  c.rope_theta = theta.value();
  c.rope_freq_scale = 1.0f / freq_scale.value();
  if (const GgufValue* type = gguf.find(p + "rope.scaling.type")) {
    const auto* name = std::get_if<std::string>(&type->value);
    if (name == nullptr || (*name != "none" && *name != "linear")) {
      return error(gguf.path(), "unsupported RoPE scaling '" + (name ? *name : "?") + "'");
    }
    if (*name == "linear") {
      auto factor = gguf_float(gguf, p + "rope.scaling.factor", 1.0f);
      if (!factor) return factor.error();
      c.rope_freq_scale = 1.0f / factor.value();
    }
  }
  // Llama 3.1 files carry the per-frequency factors as a tensor; the checkpoint loader
  // reads it into rope_freq_factors.
  if (auto ok = check(gguf.path(), c); !ok) return ok.error();
  return c;
}

Result<ModelConfig, ModelError> config_from_hf_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return error(path, "cannot be read");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return error(path, "is not a JSON object");

  try {
    std::string type = j.value("model_type", "");
    auto arch = parse_architecture(path, type);
    if (!arch) return arch.error();
    if (type == "mistral" && j.value("use_sliding_window", true) &&
        !j["sliding_window"].is_null()) {
      return error(path, "sliding-window attention is not supported");
    }
    ModelConfig c;
    c.architecture = arch.value();
    c.qkv_bias = c.architecture == Architecture::kQwen2 || j.value("attention_bias", false);
    c.n_vocab = j.at("vocab_size").get<std::size_t>();
    c.n_embd = j.at("hidden_size").get<std::size_t>();
    c.n_layer = j.at("num_hidden_layers").get<std::size_t>();
    c.n_head = j.at("num_attention_heads").get<std::size_t>();
    c.n_head_kv = j.value("num_key_value_heads", c.n_head);
    c.n_ff = j.at("intermediate_size").get<std::size_t>();
    c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null()
                     ? j["head_dim"].get<std::size_t>()
                     : (c.n_head ? c.n_embd / c.n_head : 0);
    c.n_ctx_train = j.value("max_position_embeddings", std::size_t{2048});
    c.rms_norm_eps = j.value("rms_norm_eps", 1e-6f);
    c.rope_theta = j.value("rope_theta", 10000.0f);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
      const auto& s = j["rope_scaling"];
      const std::string kind = s.value("rope_type", s.value("type", std::string("default")));
      const float factor = s.value("factor", 1.0f);
      if (kind == "linear") {
        c.rope_freq_scale = 1.0f / factor;
      } else if (kind == "llama3") {
        c.rope_freq_factors =
            llama3_freq_factors(c.head_dim, c.rope_theta, factor, s.value("low_freq_factor", 1.0f),
                                s.value("high_freq_factor", 4.0f),
                                s.value("original_max_position_embeddings", 8192.0f));
      } else if (kind != "default") {
        return error(path, "unsupported rope_scaling type '" + kind + "'");
      }
    }
    if (j.contains("mnemo") && j["mnemo"].contains("memory_layers")) {
      c.memory_layers = j["mnemo"]["memory_layers"].get<std::vector<std::size_t>>();
      for (const std::size_t l : c.memory_layers)
        if (l >= c.n_layer)
          return error(path, "mnemo.memory_layers names layer " + std::to_string(l) + " of " +
                                 std::to_string(c.n_layer));
    }
    if (auto ok = check(path, c); !ok) return ok.error();
    return c;
  } catch (const nlohmann::json::exception& e) {
    return error(path, std::string("malformed config: ") + e.what());
  }
}

std::vector<std::size_t> default_memory_layers(std::size_t n_layer) {
  if (n_layer <= 1) return {0};
  std::vector<std::size_t> layers{n_layer / 2, (3 * n_layer) / 4};
  if (layers[1] == layers[0]) layers[1] = std::min(n_layer - 1, layers[0] + 1);
  if (layers[1] == layers[0]) layers.pop_back();
  return layers;
}

std::vector<std::size_t> memory_layers(const ModelConfig& config) {
  return config.memory_layers.empty() ? default_memory_layers(config.n_layer)
                                      : config.memory_layers;
}

}  // namespace mnemo::model
