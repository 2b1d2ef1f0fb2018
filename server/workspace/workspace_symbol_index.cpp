#include "server/workspace/workspace_symbol_index.h"

#include <cstdio>

#include <spdlog/spdlog.h>

#include "lsp/protocol.h"
#include "lsp/uri.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;
using lsp::json;
using Clock = std::chrono::steady_clock;

/// Lexical containment: clients send the paths they were given, so no symlinks are resolved.
bool is_within(const fs::path& path, const fs::path& dir) {
  const fs::path relative = path.lexically_normal().lexically_relative(dir.lexically_normal());
  return !relative.empty() && relative != "." && *relative.begin() != "..";
}

std::string progress_message(const indexer::IndexProgress& p, double elapsed_seconds) {
  // The stage's own clock when it has one: the memory's rate starts after the symbols.
  const double seconds = p.seconds > 0 ? p.seconds : elapsed_seconds;
  char buffer[96];
  if (p.stage == "memory") {
    const double tokens_per_s = seconds > 0 ? static_cast<double>(p.tokens_done) / seconds : 0.0;
    std::snprintf(buffer, sizeof buffer, "memory: %zu/%zu files, %.0f tokens/s", p.files_done,
                  p.files_total, tokens_per_s);
  } else {
    const double files_per_s = seconds > 0 ? static_cast<double>(p.files_done) / seconds : 0.0;
    std::snprintf(buffer, sizeof buffer, "%zu/%zu files, %.1f files/s", p.files_done, p.files_total,
                  files_per_s);
  }
  std::string message = buffer;
  if (!p.current.empty()) message += ": " + p.current;
  return message;
}

std::string summary(const indexer::IndexReport& r) {
  std::string text = std::to_string(r.files_indexed) + " files indexed, " +
                     std::to_string(r.files_unchanged) + " unchanged, " +
                     std::to_string(r.failed.size()) + " failed";
  if (r.files_removed > 0) text += ", " + std::to_string(r.files_removed) + " removed";
  if (r.cancelled) text += " (cancelled)";
  return text;
}

}  // namespace

WorkspaceSymbolIndex::WorkspaceSymbolIndex(lsp::LanguageServer& server,
                                           WorkspaceSymbolIndexOptions options)
    : server_(server), options_(std::move(options)) {
  server_.on_initialized([this](const lsp::ClientInfo& client) { start(client); });
  server_.on_document_saved([this](const std::string& uri) {
    if (auto path = lsp::file_uri_to_path(uri)) paths_changed({*path});
  });
  server_.endpoint().on_notification("workspace/didChangeWatchedFiles", [this](const json& params) {
    const json& changes = lsp::require(params, "changes", "params");
    if (!changes.is_array()) throw lsp::InvalidParamsError("params.changes must be an array");
    std::vector<fs::path> paths;
    for (std::size_t i = 0; i < changes.size(); ++i) {
      const std::string uri =
          lsp::require_string(changes[i], "uri", "params.changes[" + std::to_string(i) + "]");
      if (auto path = lsp::file_uri_to_path(uri)) paths.push_back(std::move(*path));
    }
    paths_changed(paths);
  });
}

WorkspaceSymbolIndex::~WorkspaceSymbolIndex() {
  stop();
}

void WorkspaceSymbolIndex::start(const lsp::ClientInfo& client) {
  if (client.workspace_roots.empty() || thread_.joinable() || !options_.run) return;
  if (client.workspace_roots.size() > 1)
    spdlog::info("symbol index: indexing the first of {} workspace roots",
                 client.workspace_roots.size());
  root_ = client.workspace_roots.front().lexically_normal();
  if (!root_.has_filename()) root_ = root_.parent_path();  // "file:///repo/" names /repo
  index_dir_ = options_.index_dir.empty() ? root_ / ".mnemo" : fs::absolute(options_.index_dir);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    pending_ = true;
  }
  thread_ = std::thread([this] { loop(); });
  register_file_watchers(client);
}

void WorkspaceSymbolIndex::register_file_watchers(const lsp::ClientInfo& client) {
  if (lsp::lookup(client.capabilities,
                  {"workspace", "didChangeWatchedFiles", "dynamicRegistration"}) != true)
    return;
  // Without watchers the index still follows saves made in the editor; edits by other
  // tools (git checkout, code generators) need the client to watch the files.
  const char* glob = options_.watch_every_file && options_.watch_every_file()
                         ? "**/*"
                         : "**/*.{c,cc,cpp,cxx,c++,m,mm,h,hh,hpp,hxx,h++,inl,ipp,tcc}";
  json registration = {
      {"id", "mnemo/symbol-index/watched-files"},
      {"method", "workspace/didChangeWatchedFiles"},
      {"registerOptions", {{"watchers", json::array({{{"globPattern", glob}}})}}},
  };
  server_.endpoint().call("client/registerCapability",
                          {{"registrations", json::array({registration})}},
                          [](lsp::RpcResult<json> result) {
                            if (!result)
                              spdlog::warn("symbol index: the client refused the file watchers: {}",
                                           result.error().message);
                          });
}

void WorkspaceSymbolIndex::paths_changed(const std::vector<fs::path>& paths) {
  if (root_.empty()) return;  // not started: no root, or indexing is off
  for (const fs::path& path : paths) {
    if (!is_within(path, root_) || is_within(path, index_dir_)) continue;
    spdlog::debug("symbol index: {} changed", path.string());
    request_run();
    return;
  }
}

void WorkspaceSymbolIndex::request_run() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  pending_ = true;
  changed_.notify_all();
}

void WorkspaceSymbolIndex::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    cancel_.store(true);
    changed_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool WorkspaceSymbolIndex::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return !pending_ && !running_; });
}

void WorkspaceSymbolIndex::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] { return pending_ || stopping_; });
      if (stopping_) {
        pending_ = false;  // what was wanted is dropped: wait_idle() must not wait for it
        changed_.notify_all();
        return;
      }
      pending_ = false;
      running_ = true;
      cancel_.store(false);
    }
    run_once();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_ = false;
      changed_.notify_all();
    }
  }
}

void WorkspaceSymbolIndex::run_once() {
  // A fresh source per run: the cancel button stops this run only, and the next change
  // indexes again.
  lsp::CancellationSource client_cancel;
  auto progress = server_.create_progress(client_cancel);
  progress->begin("mnemo: indexing", root_.filename().string(), 0);
  const auto started = Clock::now();
  const auto on_progress = [&](const indexer::IndexProgress& p) {
    if (client_cancel.token().cancelled()) cancel_.store(true);
    if (p.current.empty()) return;  // the end: the summary follows
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    const unsigned percentage =
        p.files_total > 0 ? static_cast<unsigned>(p.files_done * 100 / p.files_total) : 0;
    progress->report(progress_message(p, elapsed), percentage);
  };

  model::Result<indexer::IndexReport, SymbolIndexFailure> result =
      SymbolIndexFailure{SymbolIndexFailure::Kind::kFailed, "indexing failed"};
  try {
    result = options_.run(root_, on_progress, cancel_);
  } catch (const std::exception& e) {
    // Exceptions stop here: the thread must outlive a bad run and serve the next one.
    result = SymbolIndexFailure{SymbolIndexFailure::Kind::kFailed, e.what()};
  }

  if (!result) {
    const SymbolIndexFailure& failure = result.error();
    if (failure.kind == SymbolIndexFailure::Kind::kLockedByAnotherProcess) {
      spdlog::warn("symbol index: {}; serving without updating it", failure.message);
      progress->end("not indexed: the index is being written by another process (" +
                    failure.message + ")");
    } else {
      spdlog::error("symbol index: {}", failure.message);
      progress->end("indexing failed: " + failure.message);
    }
    return;
  }
  const indexer::IndexReport& report = result.value();
  spdlog::info("symbol index: {} in {:.2f} s", summary(report), report.total_seconds);
  for (const auto& failed : report.failed)
    spdlog::warn("symbol index: {}: {}", failed.path, failed.reason);
  progress->end(summary(report));
}

}  // namespace mnemo::server
