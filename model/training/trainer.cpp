#include "model/training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <nlohmann/json.hpp>

#include "model/model_config.h"
#include "model/training/export.h"
#include "model/training/heldout_eval.h"
#include "model/training/safetensors_writer.h"
#include "model/training/training_corpus.h"
#include "model/training/window_batch.h"

namespace mnemo::model::training {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

/// The projects' order in an epoch: a permutation drawn from the seed and the epoch.
std::vector<std::size_t> project_order(std::size_t n, std::uint64_t seed, std::int64_t epoch) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 random(seed * 1000003u + static_cast<std::uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), random);
  return order;
}

/// AdamW's moments, by parameter name.
struct Moments {
  std::map<std::string, at::Tensor> m, v;
};

double learning_rate(const TrainOptions& o, std::int64_t tokens) {
  if (tokens < o.warmup_tokens)
    return o.lr * static_cast<double>(tokens + 1) / static_cast<double>(o.warmup_tokens);
  const double progress = std::min(
      1.0, static_cast<double>(tokens - o.warmup_tokens) /
               static_cast<double>(std::max<std::int64_t>(1, o.planned_tokens - o.warmup_tokens)));
  const double cosine = 0.5 * (1 + std::cos(M_PI * progress));
  return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * cosine);
}

/// Matrices decay; norms' gains do not.
bool decays(const at::Tensor& parameter) {
  return parameter.dim() >= 2;
}

/// One AdamW step on the accumulated gradients (scaled by `scale` first), clipped to
/// grad_clip in global norm; returns the norm before clipping.
double adamw_step(const TrainOptions& o, const std::map<std::string, at::Tensor>& parameters,
                  Moments& moments, std::int64_t step, double lr, double scale) {
  at::NoGradGuard no_grad;
  double norm2 = 0;
  for (const auto& [name, p] : parameters) {
    if (!p.grad().defined()) continue;
    p.mutable_grad().mul_(scale);
    norm2 += p.grad().pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(norm2);
  const double clip = norm > o.grad_clip ? o.grad_clip / norm : 1.0;
  const double correction1 = 1 - std::pow(o.beta1, static_cast<double>(step));
  const double correction2 = 1 - std::pow(o.beta2, static_cast<double>(step));
  for (const auto& [name, p] : parameters) {
    if (!p.grad().defined()) continue;
    const at::Tensor g = p.grad() * clip;
    at::Tensor& m = moments.m[name];
    at::Tensor& v = moments.v[name];
    if (!m.defined()) {
      m = at::zeros_like(p);
      v = at::zeros_like(p);
    }
    m.mul_(o.beta1).add_(g, 1 - o.beta1);
    v.mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
    if (decays(p)) p.mul_(1 - lr * o.weight_decay);
    const at::Tensor denominator = (v / correction2).sqrt_().add_(1e-8);
    p.addcdiv_(m, denominator, -lr / correction1);
    p.mutable_grad().zero_();
  }
  return norm;
}

/// The summed loss of `part` (target -100 ignored); its gradients, divided by batch_tokens,
/// are returned by parameter in parameters() order.
std::pair<double, std::vector<at::Tensor>> loss_and_gradients(const TrainOptions& o,
                                                              const TrainingModel& model,
                                                              const TrainingMemory& memory,
                                                              const std::vector<Window>& part) {
  const at::Tensor batch = batch_tensor(part);
  const at::Tensor targets = batch_targets(batch, part).to(o.device);
  const bool autocast = o.bf16 && o.device.is_cpu();
  if (autocast) {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  const at::Tensor logits = model.forward(batch.narrow(1, 0, o.shape.context), &memory);
  if (autocast) {
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
  const at::Tensor loss = at::cross_entropy_loss(logits.to(at::kFloat).flatten(0, 1),
                                                 targets.flatten(), {}, at::Reduction::Sum, -100);
  std::vector<at::Tensor> parameters;
  for (const auto& [name, p] : model.parameters()) parameters.push_back(p);
  return {loss.item<double>(),
          torch::autograd::grad({loss / static_cast<double>(o.batch_tokens)}, parameters)};
}

/// Adds the gradients of `windows` to the parameters' .grad and returns their summed loss.
/// The windows are shared among `threads` threads, each running ATen on one core: the ops
/// of a few 512-token windows are too small for LibTorch to spread over the cores (one
/// thread did ~85% of the work, the other idled). The shares' gradients are added in a
/// fixed order, so a run takes the same steps at every resume with the same --threads.
double accumulate_gradients(const TrainOptions& o, const TrainingModel& model,
                            const TrainingMemory& memory, const std::vector<Window>& windows) {
  // A GPU runs a pass's windows at once: they are shared among threads on a CPU only.
  const std::size_t shares =
      o.device.is_cpu()
          ? std::min(windows.size(), static_cast<std::size_t>(std::max<std::int64_t>(1, o.threads)))
          : 1;
  std::vector<std::pair<double, std::vector<at::Tensor>>> results(shares);
  if (shares == 1) {
    results[0] = loss_and_gradients(o, model, memory, windows);
  } else {
    memory.prepare_read();  // attend() from several threads reads, never builds
    std::vector<std::exception_ptr> errors(shares);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < shares; ++i) {
      threads.emplace_back([&, i] {
        try {
          at::set_num_threads(1);
          std::vector<Window> share;
          for (std::size_t w = i; w < windows.size(); w += shares) share.push_back(windows[w]);
          results[i] = loss_and_gradients(o, model, memory, share);
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
  }
  at::NoGradGuard no_grad;
  double loss = 0;
  for (const auto& [share_loss, gradients] : results) {
    loss += share_loss;
    std::size_t i = 0;
    for (const auto& [name, p] : model.parameters()) {
      const at::Tensor& g = gradients[i++];
      if (!g.defined()) continue;
      if (p.grad().defined()) {
        p.mutable_grad().add_(g);
      } else {
        p.mutable_grad() = g.clone();
      }
    }
  }
  return loss;
}

fs::path checkpoint_path(const TrainOptions& o) {
  return o.out / "checkpoint.safetensors";
}

json options_json(const TrainOptions& o) {
  json j = {{"shape", o.shape.to_json()},
            {"memory_layers", o.memory_layers},
            {"memory_top_k", o.memory_top_k},
            {"memory_block", o.memory_block},
            {"memory_query_group", o.memory_query_group},
            {"seed", o.seed},
            {"planned_tokens", o.planned_tokens},
            {"batch_tokens", o.batch_tokens},
            {"lr", o.lr},
            {"fim_rate", o.fim_rate},
            {"bf16", o.bf16}};
  // Only when used, so that a checkpoint made before these options resumes as it did.
  if (o.memory_copy_rate > 0) j["memory_copy_rate"] = o.memory_copy_rate;
  if (o.repeat_rate > 0) j["repeat_rate"] = o.repeat_rate;
  if (o.copy_lesson_rate > 0) j["copy_lesson_rate"] = o.copy_lesson_rate;
  if (o.copy_lesson_scale != 1) j["copy_lesson_scale"] = o.copy_lesson_scale;
  if (o.copy_lesson_alphabet != 4096) j["copy_lesson_alphabet"] = o.copy_lesson_alphabet;
  if (o.rename_rate > 0) j["rename_rate"] = o.rename_rate;
  return j;
}

std::optional<std::string> save_checkpoint(const TrainOptions& o, const TrainingModel& model,
                                           const Moments& moments, const TrainState& s,
                                           const json& continued_from) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, p] : model.parameters()) tensors.emplace("param/" + name, p.detach());
  for (const auto& [name, m] : moments.m) tensors.emplace("adam_m/" + name, m);
  for (const auto& [name, v] : moments.v) tensors.emplace("adam_v/" + name, v);
  for (const auto& [name, p] : model.parameters())
    if (p.grad().defined()) tensors.emplace("grad/" + name, p.grad());
  const json state = {{"step", s.step},         {"tokens", s.tokens},
                      {"epoch", s.epoch},       {"project", s.project},
                      {"file", s.file},         {"accumulated", s.accumulated},
                      {"loss_sum", s.loss_sum}, {"seconds", s.seconds}};
  return write_safetensors(checkpoint_path(o).string(), tensors,
                           {{"state", state.dump()},
                            {"options", options_json(o).dump()},
                            {"continued_from", continued_from.dump()}});
}

/// Restores a checkpoint made with the same options (shape, memory, seed, schedule).
std::optional<std::string> load_checkpoint(const TrainOptions& o, TrainingModel& model,
                                           Moments& moments, TrainState& s, json& continued_from) {
  LoadedTensors loaded;
  if (auto failed = read_safetensors(checkpoint_path(o).string(), loaded)) return failed;
  try {
    const json saved = json::parse(loaded.metadata.at("options"));
    if (saved != options_json(o))
      return checkpoint_path(o).string() + ": made with other options (" + saved.dump() +
             "); use another --out or the same options";
    const json state = json::parse(loaded.metadata.at("state"));
    s.step = state.at("step");
    s.tokens = state.at("tokens");
    s.epoch = state.at("epoch");
    s.project = state.at("project");
    s.file = state.at("file");
    s.accumulated = state.at("accumulated");
    s.loss_sum = state.at("loss_sum");
    s.seconds = state.at("seconds");
    const auto earlier = loaded.metadata.find("continued_from");
    continued_from = earlier == loaded.metadata.end() ? json() : json::parse(earlier->second);
    std::map<std::string, at::Tensor> parameters, gradients;
    for (const auto& [name, tensor] : loaded.tensors) {
      const at::Tensor t = tensor.to(o.device);
      if (name.rfind("param/", 0) == 0) parameters.emplace(name.substr(6), t);
      if (name.rfind("adam_m/", 0) == 0) moments.m.emplace(name.substr(7), t);
      if (name.rfind("adam_v/", 0) == 0) moments.v.emplace(name.substr(7), t);
      if (name.rfind("grad/", 0) == 0) gradients.emplace(name.substr(5), t);
    }
    model.load(parameters);
    for (const auto& [name, p] : model.parameters()) {
      const auto g = gradients.find(name);
      if (g != gradients.end()) p.mutable_grad() = g->second.clone();
    }
  } catch (const std::exception& e) {
    return checkpoint_path(o).string() + ": " + e.what();
  }
  return std::nullopt;
}

/// Starts the model from an exported model folder's weights; returns what its config.json
/// says of its training (the "mnemo" object) for the new export's continued_from.
std::optional<std::string> load_initial_weights(const fs::path& folder, TrainingModel& model,
                                                json& continued_from) {
  const fs::path weights = folder / "model.safetensors", config = folder / "config.json";
  LoadedTensors loaded;
  if (auto failed = read_safetensors(weights.string(), loaded)) return failed;
  try {
    model.load(loaded.tensors);
    std::ifstream in(config);
    if (!in) return config.string() + ": cannot be read";
    continued_from = json::parse(in).at("mnemo");
  } catch (const std::exception& e) {
    return folder.string() + ": " + e.what();
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> train(const TrainOptions& options,
                                 const std::function<void(const std::string&)>& progress) {
  TrainOptions o = options;
  auto tokenizer = Tokenizer::from_tokenizer_json((o.tokenizer_dir / "tokenizer.json").string());
  if (!tokenizer) return tokenizer.error().message;
  const Tokenizer& tok = *tokenizer.value();
  const auto fim = fim_tokens(tok);
  if (!fim) return o.tokenizer_dir.string() + ": the tokenizer has no fill-in-the-middle tokens";
  o.shape.vocab = static_cast<std::int64_t>(tok.n_vocab());
  const std::vector<Project> projects = list_projects(o.corpus);
  if (projects.empty()) return o.corpus.string() + ": no project folder with C or C++ files";
  std::error_code error;
  fs::create_directories(o.out, error);
  if (error) return o.out.string() + ": " + error.message();

  if (o.device.is_cuda()) at::globalContext().setFloat32MatmulPrecision("high");  // TF32
  if (o.memory_layers.empty()) {
    // Going on from a model reads the memory where it does. On resume too: the checkpoint's
    // options, compared with these, were resolved so.
    o.memory_layers = model::default_memory_layers(static_cast<std::size_t>(o.shape.layers));
    if (!o.init_from.empty()) {
      auto config = model::config_from_hf_json((o.init_from / "config.json").string());
      if (!config) return config.error().message;
      o.memory_layers = model::memory_layers(config.value());
    }
  }
  TrainingModel model(o.shape, o.memory_layers, o.seed, o.device);
  Moments moments;
  TrainState s;
  json continued_from;  // null, or the training of the model this run started from
  if (fs::exists(checkpoint_path(o))) {
    if (auto failed = load_checkpoint(o, model, moments, s, continued_from)) return failed;
    progress("resumed at step " + std::to_string(s.step) + ", " + std::to_string(s.tokens) +
             " tokens");
  } else if (!o.init_from.empty()) {
    if (auto failed = load_initial_weights(o.init_from, model, continued_from)) return failed;
    progress("starting from the weights of " + o.init_from.string());
  }
  TrainingMemoryConfig memory_config;
  memory_config.n_layers = static_cast<std::int64_t>(o.memory_layers.size());
  memory_config.n_head = o.shape.heads;
  memory_config.n_head_kv = o.shape.kv_heads;
  memory_config.head_dim = o.shape.head_dim;
  memory_config.block_size = o.memory_block;
  memory_config.top_k = o.memory_top_k;
  memory_config.query_group = o.memory_query_group;
  memory_config.device = o.device;
  TrainingMemory memory(memory_config, o.shape.config());

  std::ofstream log(o.out / "loss.jsonl", std::ios::app);
  const std::int64_t T = o.shape.context;
  const TokenId pad = fim->end;
  const std::vector<TokenId> special{fim->prefix, fim->suffix, fim->middle, fim->end};
  const auto run_start = Clock::now();
  auto last_checkpoint = run_start;
  double seconds_before = s.seconds;
  bool rebuild_memory = s.file > 0;  // resumed inside a project
  const auto minutes = [](Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count() / 60.0;
  };

  // A file's tokens as trained on: renamed (rename_rate) by a draw of its own, from its place
  // in the data, so that a resumed run's memory holds the same text.
  const auto training_tokens = [&](std::size_t project, std::int64_t file, const fs::path& path) {
    std::string text = read_text(path);
    if (o.rename_rate > 0) {
      std::mt19937_64 random(
          o.seed ^ 0x72656e616d65ULL ^ (static_cast<std::uint64_t>(s.epoch) << 48) ^
          (static_cast<std::uint64_t>(project) << 24) ^ static_cast<std::uint64_t>(file));
      if (std::uniform_real_distribution<double>(0, 1)(random) < o.rename_rate)
        text = renamed_identifiers(text, random, 0.5);
    }
    return text_tokens(tok, text, fim->end);
  };

  const std::int64_t first_step = s.step;
  while (!o.evaluate_only && s.tokens < o.planned_tokens &&
         (o.max_minutes <= 0 || minutes(run_start) < o.max_minutes) &&
         (o.max_steps <= 0 || s.step - first_step < o.max_steps)) {
    const std::vector<std::size_t> order = project_order(projects.size(), o.seed, s.epoch);
    if (s.project >= static_cast<std::int64_t>(order.size())) {
      ++s.epoch;
      s.project = s.file = 0;
      continue;
    }
    const std::size_t project_index = order[static_cast<std::size_t>(s.project)];
    const Project& project = projects[project_index];
    if (s.file == 0 || rebuild_memory) {
      memory.clear();
      // Resumed inside a project: its earlier files go into the memory again.
      for (std::int64_t f = 0; rebuild_memory && f < s.file; ++f) {
        const FileTokens earlier = training_tokens(
            project_index, f, o.corpus / project.name / project.files[static_cast<std::size_t>(f)]);
        if (memory.tokens() < o.max_memory_tokens)
          remember(model, memory, plain_windows(earlier.tokens, T, pad));
      }
      rebuild_memory = false;
    }
    if (s.file >= static_cast<std::int64_t>(project.files.size())) {
      ++s.project;
      s.file = 0;
      continue;
    }
    const std::string& file = project.files[static_cast<std::size_t>(s.file)];
    const std::vector<Window> plain = plain_windows(
        training_tokens(project_index, s.file, o.corpus / project.name / file).tokens, T, pad);
    // Whether the memory holds the file already, which windows are fill-in-the-middle and
    // where they are cut: drawn from the position in the data, so a resumed run draws the
    // same.
    std::mt19937_64 random(o.seed ^ (static_cast<std::uint64_t>(s.epoch) << 48) ^
                           (static_cast<std::uint64_t>(project_index) << 24) ^
                           static_cast<std::uint64_t>(s.file));
    const bool remembered_first =
        o.memory_copy_rate > 0 &&
        std::uniform_real_distribution<double>(0, 1)(random) < o.memory_copy_rate &&
        memory.tokens() < o.max_memory_tokens;
    if (remembered_first) remember(model, memory, plain);
    std::vector<Window> windows;
    for (const Window& w : plain) {
      if (std::uniform_real_distribution<double>(0, 1)(random) < o.fim_rate && w.valid > 8) {
        const std::int64_t n = std::min(w.valid + 1, T - 3);
        std::int64_t a = std::uniform_int_distribution<std::int64_t>(0, n)(random);
        std::int64_t b = std::uniform_int_distribution<std::int64_t>(0, n)(random);
        if (a > b) std::swap(a, b);
        windows.push_back(fim_window(w, T, *fim, a, b, pad));
      } else if (o.repeat_rate > 0 && w.valid >= 16 &&
                 std::uniform_real_distribution<double>(0, 1)(random) < o.repeat_rate) {
        windows.push_back(inserted_copy_window(w, random, T, pad));
      } else if (o.copy_lesson_rate > 0 &&
                 std::uniform_real_distribution<double>(0, 1)(random) < o.copy_lesson_rate) {
        windows.push_back(random_repeated_window(random, T, o.shape.vocab, special,
                                                 o.copy_lesson_scale, o.copy_lesson_alphabet));
      } else {
        windows.push_back(w);
      }
    }
    for (const std::vector<Window>& part : passes(windows, o.max_windows)) {
      std::int64_t valid = 0;
      for (const Window& w : part) valid += w.valid;
      s.loss_sum += accumulate_gradients(o, model, memory, part);
      s.accumulated += valid;
      if (s.accumulated >= o.batch_tokens) {
        ++s.step;
        const double lr = learning_rate(o, s.tokens);
        const double norm =
            adamw_step(o, model.parameters(), moments, s.step, lr,
                       static_cast<double>(o.batch_tokens) / static_cast<double>(s.accumulated));
        s.tokens += s.accumulated;
        const double elapsed = seconds_before + minutes(run_start) * 60;
        const json line = {
            {"step", s.step},
            {"tokens", s.tokens},
            {"loss", s.loss_sum / static_cast<double>(s.accumulated)},
            {"lr", lr},
            {"grad_norm", norm},
            {"memory_tokens", memory.tokens()},
            {"seconds", elapsed},
            {"tokens_per_s", static_cast<double>(s.tokens) / std::max(1.0, elapsed)}};
        log << line.dump() << "\n";
        log.flush();
        progress(line.dump());
        s.accumulated = 0;
        s.loss_sum = 0;
      }
    }
    if (!remembered_first && memory.tokens() < o.max_memory_tokens) remember(model, memory, plain);
    ++s.file;
    if (minutes(last_checkpoint) >= o.checkpoint_minutes) {
      s.seconds = seconds_before + minutes(run_start) * 60;
      if (auto failed = save_checkpoint(o, model, moments, s, continued_from)) return failed;
      last_checkpoint = Clock::now();
    }
  }
  s.seconds = seconds_before + minutes(run_start) * 60;
  if (auto failed = save_checkpoint(o, model, moments, s, continued_from)) return failed;
  json facts = {{"trained_tokens", s.tokens},     {"steps", s.step},
                {"training_seconds", s.seconds},  {"options", options_json(o)},
                {"memory_top_k", o.memory_top_k}, {"memory_block", o.memory_block}};
  facts["device"] = o.device.str();  // this run's: the one that exported the weights
  if (!continued_from.is_null()) facts["continued_from"] = continued_from;
  if (auto failed = export_model(model, o.tokenizer_dir, o.out / "model", facts)) return failed;
  if (o.heldout.empty()) return std::nullopt;
  HeldoutOptions heldout;
  heldout.max_bytes_per_project = o.heldout_bytes;
  const BitsPerByte with = bits_per_byte(model, tok, o.heldout, &memory_config, heldout);
  const BitsPerByte without = bits_per_byte(model, tok, o.heldout, nullptr, heldout);
  const InContextCopy copy = in_context_copy(model, tok, o.heldout, heldout);
  const MemoryCopy copied_from_memory = memory_copy(model, tok, o.heldout, memory_config, heldout);
  const json report = {{"step", s.step},
                       {"trained_tokens", s.tokens},
                       {"heldout", o.heldout.string()},
                       {"bytes_per_project", o.heldout_bytes},
                       {"with_memory", with.to_json()},
                       {"without_memory", without.to_json()},
                       {"in_context_copy", copy.to_json()},
                       {"memory_copy", copied_from_memory.to_json()}};
  progress(report.dump());
  std::ofstream out(o.out / "heldout.json");
  out << report.dump(2) << "\n";
  out.close();
  if (!out) return (o.out / "heldout.json").string() + ": cannot be written";
  return std::nullopt;
}

}  // namespace mnemo::model::training
