#include "server/cli/train_command.h"

#include <malloc.h>

#include <algorithm>
#include <climits>
#include <iostream>

#include <ATen/Context.h>
#include <CLI/CLI.hpp>

#include "model/model_config.h"

namespace mnemo::server {

CLI::App* add_train_command(CLI::App& app, model::training::TrainOptions& o) {
  auto* cmd = app.add_subcommand(
      "train",
      "Train mnemo's own model on a folder of projects with the memory in the loop; resumes "
      "from OUT/checkpoint.safetensors and exports OUT/model");
  cmd->add_option("corpus", o.corpus,
                  "a folder of project folders (scripts/make-corpus.py's train/)")
      ->required();
  cmd->add_option("--tokenizer", o.tokenizer_dir, "the folder `mnemo train-tokenizer` wrote")
      ->required();
  cmd->add_option("--out", o.out, "checkpoint, loss.jsonl and model/ go here")->required();
  cmd->add_option("--tokens", o.planned_tokens, "tokens to train on in all (the schedule)")
      ->capture_default_str();
  cmd->add_option("--minutes", o.max_minutes, "stop this run after so many minutes (0: none)")
      ->capture_default_str();
  cmd->add_option("--max-steps", o.max_steps,
                  "stop this run at the first file boundary after so many steps (0: none)")
      ->capture_default_str();
  cmd->add_option("--checkpoint-minutes", o.checkpoint_minutes, "minutes between checkpoints")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "initial weights and data order")->capture_default_str();
  cmd->add_option("--init-from", o.init_from,
                  "start from an exported model folder's weights (OUT/model of an earlier run, "
                  "or model/builtin) with a new schedule and data order; on resume only the memory "
                  "layers it reads at are taken from it")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--batch-tokens", o.batch_tokens, "tokens per optimizer step")
      ->capture_default_str();
  cmd->add_option("--threads", o.threads,
                  "threads a forward pass's windows are shared among, one core each")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--max-windows", o.max_windows, "windows per forward pass")
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  cmd->add_option("--warmup-tokens", o.warmup_tokens, "tokens of linear warm-up")
      ->capture_default_str();
  cmd->add_option("--fim-rate", o.fim_rate, "share of fill-in-the-middle windows")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--dim", o.shape.dim, "model width")->capture_default_str();
  cmd->add_option("--layers", o.shape.layers, "decoder layers")->capture_default_str();
  cmd->add_option("--heads", o.shape.heads, "query heads")->capture_default_str();
  cmd->add_option("--kv-heads", o.shape.kv_heads, "key/value heads")->capture_default_str();
  cmd->add_option("--ffn", o.shape.ffn, "SwiGLU width")->capture_default_str();
  cmd->add_option("--context", o.shape.context, "tokens per training window")
      ->capture_default_str();
  cmd->add_flag("--token-shift", o.shape.token_shift,
                "add each token's predecessor's embedding to its own, with learned weights "
                "(from zero, so a model started --init-from one without it is unchanged)");
  cmd->add_option("--memory-layers", o.memory_layers,
                  "the layers that read the memory (default: --init-from's, else two, at a half "
                  "and three quarters of the depth; the export records them for the indexer "
                  "and the server)")
      ->delimiter(',');
  cmd->add_option("--memory-top-k", o.memory_top_k, "memory blocks each query head reads")
      ->capture_default_str();
  cmd->add_option(
         "--memory-query-group", o.memory_query_group,
         "consecutive queries that share their memory blocks in training (1: each its own)")
      ->capture_default_str();
  cmd->add_option("--heldout", o.heldout,
                  "held-out projects: bits per byte with the memory and without, after the run")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--heldout-bytes", o.heldout_bytes, "bytes of each held-out project read")
      ->capture_default_str();
  cmd->add_flag("--evaluate-only", o.evaluate_only,
                "no training: export the checkpoint and evaluate it on --heldout");
  cmd->add_option("--memory-copy-rate", o.memory_copy_rate,
                  "share of files the memory already holds when they are trained on (teaches "
                  "the memory layers to find and copy)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--repeat-rate", o.repeat_rate,
                  "share of plain windows with a slice of their text copied in again further on "
                  "(teaches copying from the context)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option(
         "--copy-lesson-rate", o.copy_lesson_rate,
         "share of plain windows replaced by a span of random tokens repeated after random "
         "gaps (copying alone)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--copy-lesson-scale", o.copy_lesson_scale,
                  "those lessons' span lengths (16-128 tokens) and gaps (0-64) times this: "
                  "0.25 repeats each span within 48 positions, which is learned sooner")
      ->check(CLI::Range(0.05, 4.0))
      ->capture_default_str();
  cmd->add_option("--copy-lesson-alphabet", o.copy_lesson_alphabet,
                  "the ids each lesson draws from, chosen anew for each: under 4096, a token "
                  "recurs, and only matching the tokens before it finds where a span went on")
      ->check(CLI::Range(2, 4096))
      ->capture_default_str();
  cmd->add_option("--rename-rate", o.rename_rate,
                  "share of files whose repeated names get random hex suffixes (half of them, "
                  "the same suffix at every use): teaches copying a whole name")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("!--no-bf16", o.bf16,
                "matrix products in float32 instead of bfloat16 (on a CPU; a GPU uses TF32)");
  cmd->add_option_function<std::string>(
         "--device", [&o](const std::string& name) { o.device = at::Device(name); },
         "where to train: cpu, or cuda (a LibTorch with CUDA and a visible GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->default_str("cpu");
  return cmd;
}

int run_train(model::training::TrainOptions o) {
  if (o.shape.heads % o.shape.kv_heads != 0 || o.shape.dim % o.shape.heads != 0) {
    std::cerr << "mnemo train: --heads must divide --dim, and --kv-heads --heads\n";
    return 2;
  }
  o.shape.head_dim = o.shape.dim / o.shape.heads;
  if (o.device.is_cuda() && !at::hasCUDA()) {
    std::cerr << "mnemo train: --device cuda: this LibTorch has no CUDA or sees no GPU\n";
    return 2;
  }
  // Every step allocates and frees tensors of megabytes. With glibc's defaults those go
  // back to the kernel at once (mmap, trim) and come back as fresh pages to fault in: a
  // third of the run's time went to the kernel. Keeping them in the heap made training
  // 1.33x faster (1,291 -> 1,713 tokens/s over the first 84 s of the same run).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  mallopt(M_TOP_PAD, 256 << 20);
  std::sort(o.memory_layers.begin(), o.memory_layers.end());
  o.memory_layers.erase(std::unique(o.memory_layers.begin(), o.memory_layers.end()),
                        o.memory_layers.end());
  if (!o.memory_layers.empty() &&
      o.memory_layers.back() >= static_cast<std::size_t>(o.shape.layers)) {
    std::cerr << "mnemo train: --memory-layers: a model of " << o.shape.layers
              << " layers has layers 0 to " << o.shape.layers - 1 << "\n";
    return 2;
  }
  const auto failed =
      model::training::train(o, [](const std::string& line) { std::cerr << line << "\n"; });
  if (failed) {
    std::cerr << "mnemo train: " << *failed << "\n";
    return 1;
  }
  std::cout << (o.out / "model").string() << "\n";
  return 0;
}

}  // namespace mnemo::server
