#include "server/bench/index_benchmark.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <shared_mutex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "indexer/content_hash.h"
#include "indexer/memory_indexer.h"
#include "indexer/repository_indexer.h"
#include "indexer/repository_memory.h"
#include "indexer/repository_walk.h"
#include "model/memory/exact/exact_tier_store.h"
#include "model/model_loader.h"
#include "server/completer/serve_memory.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double per_s(double amount, double seconds) {
  return seconds > 0 ? amount / seconds : 0.0;
}

/// A fresh folder under the system's temporary directory.
fs::path temporary_folder() {
  std::string pattern = (fs::temp_directory_path() / "mnemo-bench-index-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("cannot make a temporary folder");
  return pattern;
}

/// Re-opens the memory in `store_dir` as a server does: the headers and small tensors
/// checked before it answers (reopen_s), each file's token blocks checksummed and admitted
/// after (until then it is absent from the memory: reopen_verified_s).
nlohmann::json time_memory_reopen(const fs::path& store_dir,
                                  const model::memory::ExactTierConfig& config,
                                  const model::memory::store::StringMap& fields) {
  const auto start = Clock::now();
  auto store = model::memory::store::MemoryStore::open(store_dir, fields);
  if (!store) throw std::runtime_error(store.error().message);
  model::memory::LoadTierOptions load_options;
  load_options.token_check = model::memory::LoadTierOptions::TokenCheck::kDeferred;
  auto tier = model::memory::load_tier(*store.value(), config, load_options);
  if (!tier) throw std::runtime_error(tier.error().message);
  const double load_s = seconds_since(start);
  std::shared_mutex tier_lock;
  const auto problems =
      model::memory::admit_pending(*tier.value().tier, tier_lock, tier.value().pending);
  const double verified_s = seconds_since(start);
  const model::memory::LoadTierStats& stats = tier.value().stats;
  return {{"reopen_s", load_s},
          {"reopen_store_open_s", load_s - stats.total_ms / 1e3},
          {"reopen_store_load_s", stats.store_load_ms / 1e3},
          {"reopen_adopt_s", stats.adopt_ms / 1e3},
          {"reopen_verified_s", verified_s},
          {"reopen_files", tier.value().tier->file_ids().size()},
          {"reopen_tokens", tier.value().tier->stats().tokens},
          {"reopen_problems", problems.size() + tier.value().to_reindex.size()}};
}

}  // namespace

nlohmann::json run_index_benchmark(const IndexBenchmarkOptions& o) {
  const fs::path index_dir = temporary_folder();
  nlohmann::json out;
  out["root"] = o.root;
  out["index_dir"] = index_dir.string();
  try {
    // Walk, then read and hash every listed file.
    auto start = Clock::now();
    auto walked = indexer::walk_repository(o.root);
    if (!walked) throw std::runtime_error(walked.error().message);
    const double walk_s = seconds_since(start);
    std::uint64_t bytes = 0;
    start = Clock::now();
    for (const indexer::WalkedFile& f : walked.value().files) {
      if (const auto contents = indexer::read_file_contents(fs::path(o.root) / f.path)) {
        bytes += contents->size();
        (void)indexer::git_blob_id(*contents);
      }
    }
    const double hash_s = seconds_since(start);
    out["walk"] = {
        {"files", walked.value().files.size()},
        {"skipped", walked.value().skipped.size()},
        {"bytes", bytes},
        {"walk_s", walk_s},
        {"hash_s", hash_s},
        {"walk_and_hash_mb_per_s", per_s(static_cast<double>(bytes) / 1e6, walk_s + hash_s)}};
    std::cerr << "walked and hashed " << walked.value().files.size() << " files\n";

    // Symbols: a first run parses every C/C++ file; a second finds them all current.
    indexer::IndexOptions options;
    options.root = o.root;
    options.index_dir = index_dir;
    options.parse_worker = {"/proc/self/exe", "parse-worker"};
    options.parse_jobs = o.jobs != 0 ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
    auto first = indexer::index_repository(options);
    if (!first) throw std::runtime_error(first.error().message);
    const indexer::IndexReport& r = first.value();
    start = Clock::now();
    auto second = indexer::index_repository(options);
    if (!second) throw std::runtime_error(second.error().message);
    const double reopen_s = seconds_since(start);
    out["symbols"] = {
        {"files", r.files_total},
        {"indexed", r.files_indexed},
        {"failed", r.failed.size()},
        {"parse_errors", r.parse_errors},
        {"units_parsed", r.units_parsed},
        {"jobs", options.parse_jobs},
        {"seconds", r.total_seconds},
        {"files_per_s", per_s(static_cast<double>(r.files_indexed), r.total_seconds)},
        {"mb_per_s", per_s(static_cast<double>(r.bytes_parsed) / 1e6, r.total_seconds)},
        {"parse_s_summed_over_jobs", r.parse_seconds},
        {"store_s", r.store_seconds},
        {"reopen_s", reopen_s},
        {"reopen_unchanged", second.value().files_unchanged}};
    std::cerr << "indexed the symbols of " << r.files_indexed << " files\n";

    if (!o.model.empty()) {
      auto loaded = model::load_model(o.model);
      if (!loaded) throw std::runtime_error(loaded.error().message);
      auto memory_options = indexer::MemoryIndexOptions::in_index(index_dir);
      memory_options.window = o.window;
      auto memory =
          indexer::MemoryIndexer::open(loaded.value(), memory_model_id(o.model), memory_options);
      if (!memory) throw std::runtime_error(memory.error().message);
      auto m = memory.value()->update(o.root, walked.value().files);
      if (!m) throw std::runtime_error(m.error().message);
      const auto config = memory.value()->tier_config();
      const auto fields = memory.value()->store().fields();
      memory.value().reset();  // releases the store's lock
      // The run's writes reach the disk first, timed apart (sync_s): re-opening is measured
      // as a later session meets the index, not behind the writeback of what this run has
      // just written.
      start = Clock::now();
      ::sync();
      const double sync_s = seconds_since(start);
      const nlohmann::json reopened = time_memory_reopen(memory_options.store_dir, config, fields);
      const auto& mr = m.value();
      out["memory"] = {{"files", mr.files_encoded},
                       {"tokens", mr.tokens_encoded},
                       {"forward_tokens_per_s",
                        per_s(static_cast<double>(mr.tokens_encoded), mr.encode_seconds)},
                       {"encode_s", mr.encode_seconds},
                       {"write_s", mr.store_seconds},
                       {"seconds", mr.total_seconds},
                       {"sync_s", sync_s}};
      out["memory"].update(reopened);
      std::cerr << "encoded " << mr.tokens_encoded << " tokens into the memory\n";
    }
  } catch (...) {
    if (!o.keep) fs::remove_all(index_dir);
    throw;
  }
  if (!o.keep) fs::remove_all(index_dir);
  return out;
}

nlohmann::json run_reopen_benchmark(const ReopenBenchmarkOptions& o) {
  const fs::path index_dir =
      o.index_dir.empty() ? fs::path(o.root) / ".mnemo" : fs::path(o.index_dir);
  auto loaded = model::load_model(o.model);
  if (!loaded) throw std::runtime_error(loaded.error().message);
  auto options = indexer::MemoryIndexOptions::in_index(index_dir);
  options.window = o.window;
  const indexer::MemoryLayout layout = indexer::memory_layout(loaded.value().transformer->config(),
                                                              memory_model_id(o.model), options);
  nlohmann::json out = {{"index_dir", index_dir.string()}, {"caches_dropped", o.drop_caches}};
  if (o.drop_caches) {
    ::sync();
    std::ofstream drop("/proc/sys/vm/drop_caches");
    drop << "3\n";
    drop.close();
    if (!drop) throw std::runtime_error("cannot write /proc/sys/vm/drop_caches (root only)");
  }
  out.update(time_memory_reopen(options.store_dir, layout.tier, layout.fields));
  return out;
}

}  // namespace mnemo::server
