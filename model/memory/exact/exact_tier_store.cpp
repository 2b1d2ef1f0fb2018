#include "model/memory/exact/exact_tier_store.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>

#include "model/memory/memory_log.h"

namespace mnemo::model::memory {
namespace {

using store::LoadedSegment;
using store::SegmentProblem;
using store::StoreError;
using Clock = std::chrono::steady_clock;

/// Bumped when the tensors of a segment change meaning (names, shapes, tiling).
constexpr const char* kExactTierLayout = "1";

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string float_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}

const char* storage_name(ExactStorage storage) {
  switch (storage) {
    case ExactStorage::kFloat32:
      return "fp32";
    case ExactStorage::kFloat16:
      return "fp16";
    case ExactStorage::kBFloat16:
      return "bf16";
    case ExactStorage::kInt8:
      return "int8";
  }
  return "?";
}

/// The tensors checksummed at load in either mode: everything but the token blocks.
std::set<std::string> small_tensor_names() {
  return {"n_tokens",   "representatives", "rep_min",    "rep_max",
          "key_scales", "value_scales",    "state_means"};
}

/// n_tokens of a segment whose small tensors passed (0 when it has none: add refuses it).
std::int64_t segment_tokens(const LoadedSegment& segment) {
  auto t = segment.tensor("n_tokens");
  if (!t || t.value().numel() != 1) return 0;
  try {
    return std::max<std::int64_t>(0, t.value().to(at::kLong).item<std::int64_t>());
  } catch (const c10::Error&) {
    return 0;
  }
}

/// Every tensor of `segment` (each checksummed by tensor() if not yet), or the reason why not.
std::variant<ExactTier::FileTensors, std::string> segment_tensors(const LoadedSegment& segment) {
  ExactTier::FileTensors file{segment.key(), {}};
  for (const store::SegmentTensor& info : segment.tensors()) {
    auto t = segment.tensor(info.name);
    if (!t) return t.error().message;
    file.tensors.emplace_back(info.name, std::move(t).value());
  }
  return file;
}

/// Hands the segments to the tier in one batch (ExactTier::add_files_from_tensors); returns
/// the refused ones with their reasons. The others are in the tier.
std::vector<std::pair<const LoadedSegment*, std::string>> add_segments(
    ExactTier& tier, const std::vector<const LoadedSegment*>& segments) {
  std::vector<std::pair<const LoadedSegment*, std::string>> refused;
  std::vector<ExactTier::FileTensors> batch;
  std::vector<const LoadedSegment*> in_batch;
  for (const LoadedSegment* segment : segments) {
    auto tensors = segment_tensors(*segment);
    if (auto* reason = std::get_if<std::string>(&tensors)) {
      refused.emplace_back(segment, std::move(*reason));
      continue;
    }
    batch.push_back(std::get<ExactTier::FileTensors>(std::move(tensors)));
    in_batch.push_back(segment);
  }
  for (auto& r : tier.add_files_from_tensors(batch))
    refused.emplace_back(in_batch[r.index], std::move(r.reason));
  return refused;
}

SegmentProblem problem_of(const LoadedSegment& segment, std::string reason) {
  return SegmentProblem{segment.key(), segment.file_name(), std::move(reason)};
}

std::size_t thread_count(std::size_t requested, std::size_t items) {
  const std::size_t n =
      requested != 0 ? requested : std::max(1u, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min({n, std::size_t{16}, items}));
}

}  // namespace

store::StringMap store_fields(const ExactTierConfig& c, const store::StringMap& extra) {
  store::StringMap fields = extra;
  fields["exact.layout"] = kExactTierLayout;
  fields["exact.layers"] = std::to_string(c.n_layers);
  fields["exact.heads"] = std::to_string(c.n_head);
  fields["exact.kv_heads"] = std::to_string(c.n_head_kv);
  fields["exact.head_dim"] = std::to_string(c.head_dim);
  fields["exact.block_size"] = std::to_string(c.block_size);
  fields["exact.storage"] = storage_name(c.storage);
  fields["exact.representative"] =
      c.representative == BlockRepresentative::kMean ? "mean" : "minmax";
  fields["exact.rope"] = c.rope ? "1" : "0";
  if (c.next_token_dim > 0) fields["exact.next_token_dim"] = std::to_string(c.next_token_dim);
  if (c.rope) {
    fields["exact.rope_theta"] = float_text(c.rope_theta);
    fields["exact.rope_freq_scale"] = float_text(c.rope_freq_scale);
    std::string factors;
    for (const float f : c.rope_freq_factors) {
      if (!factors.empty()) factors += ',';
      factors += float_text(f);
    }
    fields["exact.rope_freq_factors"] = factors;
  }
  return fields;
}

Result<void, StoreError> save_file(store::MemoryStore& memory_store, const ExactTier& tier,
                                   const std::string& file_id, const store::StringMap& metadata) {
  auto tensors = tier.file_tensors(file_id);
  if (tensors.empty()) {
    return StoreError{StoreError::Kind::kInvalidArgument,
                      "exact memory: no token blocks for " + file_id +
                          (tier.contains(file_id) ? " (dropped by the budget)" : " (not indexed)")};
  }
  std::map<std::string, at::Tensor> named;
  for (auto& [name, t] : tensors) named.emplace(std::move(name), std::move(t));
  return memory_store.put(file_id, named, metadata);
}

Result<LoadedTier, StoreError> load_tier(const store::MemoryStore& memory_store,
                                         ExactTierConfig config, const LoadTierOptions& options) {
  const auto start = Clock::now();
  const bool deferred = options.token_check == LoadTierOptions::TokenCheck::kDeferred;
  store::LoadOptions load_options;
  load_options.eager = small_tensor_names();
  load_options.verify_all = !deferred;
  load_options.threads = options.threads;
  auto loaded = memory_store.load(load_options);
  if (!loaded) return loaded.error();
  LoadedTier out;
  out.stats.store_load_ms = ms_since(start);
  out.stats.segments = loaded.value().segments.size();
  out.to_reindex = std::move(loaded.value().problems);
  const std::size_t store_problems = out.to_reindex.size();
  out.tier = std::make_unique<ExactTier>(std::move(config));

  const auto adopt_start = Clock::now();
  const std::int64_t c = out.tier->config().block_size;
  std::int64_t blocks = 0;
  for (const auto& segment : loaded.value().segments) {
    blocks += (segment_tokens(*segment) + c - 1) / c;
  }
  // Every block of every segment (partial blocks included) without regrowing.
  out.tier->reserve(blocks * c);
  std::vector<const LoadedSegment*> to_add;
  for (auto& segment : loaded.value().segments) {
    out.stats.tokens += segment_tokens(*segment);
    out.stats.mapped_bytes += segment->file_bytes();
    // kDeferred: the small tensors passed at load; the token blocks wait for admit_pending().
    if (deferred)
      out.pending.push_back(segment);
    else
      to_add.push_back(segment.get());
  }
  auto refused = add_segments(*out.tier, to_add);
  for (auto& [segment, reason] : refused) {
    out.stats.tokens -= segment_tokens(*segment);
    out.stats.mapped_bytes -= segment->file_bytes();
    out.to_reindex.push_back(problem_of(*segment, std::move(reason)));
  }
  out.stats.files_added = to_add.size() - refused.size();
  out.stats.files_pending = out.pending.size();
  out.stats.adopt_ms = ms_since(adopt_start);
  out.stats.total_ms = ms_since(start);
  // The store logged its own problems; these are the tier's.
  for (std::size_t i = store_problems; i < out.to_reindex.size(); ++i) {
    log::warn("exact memory: ", out.to_reindex[i].file_key,
              " not loaded, to be re-indexed: ", out.to_reindex[i].reason);
  }
  return out;
}

template <typename Lock>
std::vector<SegmentProblem> admit_pending(
    ExactTier& tier, Lock& lock, const std::vector<std::shared_ptr<const LoadedSegment>>& pending,
    std::size_t threads) {
  std::vector<SegmentProblem> problems;
  std::mutex problems_mutex;
  std::atomic<std::size_t> next{0};
  const auto refuse = [&](const LoadedSegment& segment, const std::string& reason) {
    log::warn("exact memory: ", segment.key(), " not loaded, to be re-indexed: ", reason);
    std::lock_guard guard(problems_mutex);
    problems.push_back(problem_of(segment, reason));
  };
  const auto work = [&] {
    // Verified segments wait in batches, so that the lock is taken (and the tier's
    // representatives appended) once per batch rather than once per file.
    constexpr std::size_t kBatch = 32;
    std::vector<const LoadedSegment*> verified;
    const auto admit = [&] {
      std::unique_lock guard(lock);
      std::vector<const LoadedSegment*> batch;
      for (const LoadedSegment* segment : verified) {
        // Re-indexed meanwhile: keep that one.
        if (!tier.contains(segment->key())) batch.push_back(segment);
      }
      const auto refused = add_segments(tier, batch);
      guard.unlock();
      for (const auto& [segment, reason] : refused) refuse(*segment, reason);
      verified.clear();
    };
    for (std::size_t i; (i = next.fetch_add(1)) < pending.size();) {
      const LoadedSegment& segment = *pending[i];
      // Checksum outside the lock: attend() keeps running meanwhile.
      if (auto ok = segment.verify(); !ok) {
        refuse(segment, ok.error().message);
        continue;
      }
      verified.push_back(&segment);
      if (verified.size() == kBatch) admit();
    }
    if (!verified.empty()) admit();
  };
  const std::size_t n = thread_count(threads, pending.size());
  std::vector<std::thread> workers;
  for (std::size_t t = 1; t < n; ++t) workers.emplace_back(work);
  work();
  for (std::thread& worker : workers) worker.join();
  std::sort(problems.begin(), problems.end(),
            [](const auto& a, const auto& b) { return a.file_key < b.file_key; });
  return problems;
}

template std::vector<SegmentProblem> admit_pending(
    ExactTier&, std::mutex&, const std::vector<std::shared_ptr<const LoadedSegment>>&, std::size_t);
template std::vector<SegmentProblem> admit_pending(
    ExactTier&, std::shared_mutex&, const std::vector<std::shared_ptr<const LoadedSegment>>&,
    std::size_t);

}  // namespace mnemo::model::memory
