// Prefill and decode speed of the transformer at batch 1 on the CPU, as JSON, with the time
// per decoded token split into compute and framework overhead, and (given llama.cpp's
// numbers from scripts/bench-llama-cpp.py on the same files) the ratio to llama.cpp.
//
//   model_bench [--llama-cpp llama.json] [--prompt N] [--decode N] [--runs N] [--threads N]
//               MODEL...
//
// MODEL is a GGUF file, an HF folder, "random-30m" (a ~30M-parameter Llama with random
// weights built here) or "random-7m" (the built-in model's size). The
// overhead of a model is measured on a structurally identical one (same layers and ops)
// whose dimensions are all tiny, so its step time is per-op cost only; compute = step time
// - that.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "model/transformer.h"
#include "model/transformer_session.h"

namespace mnemo::model {
namespace {

using Clock = std::chrono::steady_clock;

/// Weights drawn from N(0, 1/in) for any config: a checkpoint that exists only in memory.
class RandomCheckpoint final : public Checkpoint {
 public:
  explicit RandomCheckpoint(ModelConfig config) : config_(std::move(config)) {}
  const std::string& path() const override { return name_; }
  const ModelConfig& config() const override { return config_; }
  TokenizerSource tokenizer_source() const override { return {}; }
  /// A plain Llama: a tied output, no token shift.
  bool has(const std::string& name) const override {
    return name != "lm_head.weight" && name != "model.embed_shift.weight";
  }
  Result<at::Tensor, ModelError> weight(const std::string& name) const override {
    const auto& c = config_;
    const auto E = static_cast<std::int64_t>(c.n_embd), V = static_cast<std::int64_t>(c.n_vocab);
    const auto qd = static_cast<std::int64_t>(c.n_head * c.head_dim);
    const auto kvd = static_cast<std::int64_t>(c.n_head_kv * c.head_dim);
    const auto F = static_cast<std::int64_t>(c.n_ff);
    std::vector<std::int64_t> shape;
    if (name == "model.embed_tokens.weight")
      shape = {V, E};
    else if (name.find("norm") != std::string::npos)
      return at::ones({E});
    else if (name.find("q_proj") != std::string::npos)
      shape = {qd, E};
    else if (name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos)
      shape = {kvd, E};
    else if (name.find("o_proj") != std::string::npos)
      shape = {E, qd};
    else if (name.find("gate_proj") != std::string::npos ||
             name.find("up_proj") != std::string::npos)
      shape = {F, E};
    else if (name.find("down_proj") != std::string::npos)
      shape = {E, F};
    else
      return ModelError{"random checkpoint has no '" + name + "'"};
    return at::randn(shape) / std::sqrt(static_cast<double>(shape.back()));
  }

 private:
  std::string name_ = "random";
  ModelConfig config_;
};

ModelConfig random_30m() {
  ModelConfig c;
  c.n_vocab = 8192;
  c.n_embd = 512;
  c.n_layer = 8;
  c.n_head = 8;
  c.n_head_kv = 4;
  c.head_dim = 64;
  c.n_ff = 1408;
  c.n_ctx_train = 2048;
  c.rope_theta = 10000.0f;
  return c;
}

/// The built-in model's size: d 256, 4 layers, vocab 8K (~7.4M
/// parameters with an untied output), the model the indexer's throughput targets assume.
ModelConfig random_7m() {
  ModelConfig c = random_30m();
  c.n_embd = 256;
  c.n_layer = 4;
  c.n_head = 4;
  c.n_head_kv = 4;
  c.n_ff = 704;
  return c;
}

/// Same layers, heads and ops; every width minimal.
ModelConfig skeleton_of(ModelConfig c) {
  c.n_vocab = 8;
  c.head_dim = 2;
  c.n_embd = 2;
  c.n_ff = 2;
  c.rope_freq_factors.clear();
  return c;
}

std::size_t n_params(const ModelConfig& c, bool tied_output) {
  const std::size_t attn =
      c.n_embd * (c.n_head + 2 * c.n_head_kv) * c.head_dim + c.n_head * c.head_dim * c.n_embd;
  return (tied_output ? 1 : 2) * c.n_vocab * c.n_embd + c.n_embd +
         c.n_layer * (attn + 3 * c.n_embd * c.n_ff + 2 * c.n_embd);
}

struct Timing {
  double prefill_s = 1e30;
  double decode_s = 1e30;
};

/// Best of `runs` (after a warm-up): one forward of `n_prompt` tokens, then `n_decode`
/// forwards of one token each, reading the logits each time as a sampler would.
Timing measure(const std::shared_ptr<const Transformer>& model, std::size_t n_prompt,
               std::size_t n_decode, int runs) {
  const auto n_vocab = static_cast<TokenId>(model->config().n_vocab);
  Tokens stream(n_prompt + n_decode);
  for (std::size_t i = 0; i < stream.size(); ++i)
    stream[i] = static_cast<TokenId>((i * 7919 + 13) % n_vocab);
  const Tokens prompt(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(n_prompt));
  TransformerSession session(model, n_prompt + n_decode);
  Timing best;
  volatile float sink = 0;
  for (int run = 0; run <= runs; ++run) {
    session.truncate(0);
    const auto t0 = Clock::now();
    auto logits = session.append(prompt);
    if (!logits) throw std::runtime_error(logits.error().message);
    const auto t1 = Clock::now();
    for (std::size_t i = n_prompt; i < stream.size(); ++i) {
      logits = session.append({stream[i]});
      if (!logits) throw std::runtime_error(logits.error().message);
      sink = sink + logits.value()[0];
    }
    const auto t2 = Clock::now();
    if (run == 0) continue;  // warm-up
    best.prefill_s = std::min(best.prefill_s, std::chrono::duration<double>(t1 - t0).count());
    best.decode_s = std::min(best.decode_s, std::chrono::duration<double>(t2 - t1).count());
  }
  return best;
}

std::shared_ptr<const Transformer> load_or_die(const Checkpoint& checkpoint) {
  auto model = Transformer::load(checkpoint);
  if (!model) {
    std::cerr << model.error().message << "\n";
    std::exit(1);
  }
  return model.value();
}

int run(int argc, char** argv) {
  std::size_t n_prompt = 128, n_decode = 128;
  int runs = 3;
  int threads = 0;  // LibTorch's default (1 on these machines)
  std::string llama_cpp_file;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (arg == "--prompt")
      n_prompt = std::stoul(next());
    else if (arg == "--decode")
      n_decode = std::stoul(next());
    else if (arg == "--runs")
      runs = std::stoi(next());
    else if (arg == "--threads")
      threads = std::stoi(next());
    else if (arg == "--llama-cpp")
      llama_cpp_file = next();
    else
      models.push_back(arg);
  }
  if (models.empty()) models = {"random-30m"};
  // LibTorch's intra-op threads (the quantized matmuls, some ATen ops). OpenBLAS keeps its
  // own pool (one thread per core), so more intra-op threads oversubscribe the cores: on
  // 2 cores, 2 of them make prefill several times slower.
  if (threads > 0) at::set_num_threads(threads);
  nlohmann::json llama_cpp;
  if (!llama_cpp_file.empty()) {
    std::ifstream in(llama_cpp_file);
    llama_cpp = nlohmann::json::parse(in, nullptr, false);
    if (llama_cpp.is_discarded()) {
      std::cerr << llama_cpp_file << ": not JSON\n";
      return 1;
    }
  }

  c10::InferenceMode guard;
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& name : models) {
    std::unique_ptr<Checkpoint> checkpoint;
    if (name == "random-30m" || name == "random-7m") {
      at::manual_seed(30);
      checkpoint =
          std::make_unique<RandomCheckpoint>(name == "random-30m" ? random_30m() : random_7m());
    } else {
      auto opened = Checkpoint::open(name);
      if (!opened) {
        std::cerr << opened.error().message << "\n";
        return 1;
      }
      checkpoint = std::move(opened).value();
    }
    const auto model = load_or_die(*checkpoint);
    const Timing t = measure(model, n_prompt, n_decode, runs);
    const auto skeleton = load_or_die(RandomCheckpoint(skeleton_of(model->config())));
    const Timing s = measure(skeleton, n_prompt, n_decode, runs);

    const double decode_ms = 1e3 * t.decode_s / static_cast<double>(n_decode);
    const double overhead_ms = 1e3 * s.decode_s / static_cast<double>(n_decode);
    nlohmann::json r = {
        {"model", std::filesystem::path(name).filename().string()},
        {"n_params", n_params(model->config(), !checkpoint->has("lm_head.weight"))},
        {"prefill_tokens_per_s", static_cast<double>(n_prompt) / t.prefill_s},
        {"decode_tokens_per_s", static_cast<double>(n_decode) / t.decode_s},
        {"decode_ms_per_token", decode_ms},
        {"decode_overhead_ms_per_token", overhead_ms},
        {"decode_compute_ms_per_token", std::max(0.0, decode_ms - overhead_ms)},
    };
    const nlohmann::json peers = llama_cpp.is_object()
                                     ? llama_cpp.value("results", nlohmann::json::array())
                                     : nlohmann::json::array();
    for (const auto& peer : peers) {
      if (peer.value("model", "") != r["model"]) continue;
      const double peer_decode = peer.value("decode_tokens_per_s", 0.0);
      const double peer_prefill = peer.value("prefill_tokens_per_s", 0.0);
      r["llama_cpp_decode_tokens_per_s"] = peer_decode;
      r["llama_cpp_prefill_tokens_per_s"] = peer_prefill;
      if (peer_decode > 0)
        r["decode_ratio_to_llama_cpp"] = r["decode_tokens_per_s"].get<double>() / peer_decode;
      if (peer_prefill > 0)
        r["prefill_ratio_to_llama_cpp"] = r["prefill_tokens_per_s"].get<double>() / peer_prefill;
    }
    results.push_back(r);
  }
  nlohmann::json out = {{"n_threads_aten", at::get_num_threads()},
                        {"n_threads_blas", "OpenBLAS default (one per core)"},
                        {"n_prompt", n_prompt},
                        {"n_decode", n_decode},
                        {"runs", runs},
                        {"statistic", "best of runs after one warm-up"},
                        {"results", results}};
  if (!llama_cpp.is_null()) {
    out["llama_cpp"] = {{"llama_cpp_python", llama_cpp.value("llama_cpp_python", "")},
                        {"llama_cpp_commit", llama_cpp.value("llama_cpp_commit", "")},
                        {"kv_cache_type", llama_cpp.value("kv_cache_type", "")}};
  }
  std::cout << out.dump(1) << "\n";
  return 0;
}

}  // namespace
}  // namespace mnemo::model

int main(int argc, char** argv) {
  return mnemo::model::run(argc, argv);
}
