#include "server/workspace/unsaved_edit_memory.h"

#include <spdlog/spdlog.h>

#include <fstream>
#include <iterator>

#include "lsp/uri.h"

namespace mnemo::server {
namespace fs = std::filesystem;

UnsavedEditMemory::UnsavedEditMemory(lsp::LanguageServer& server, UnsavedEditMemoryOptions options)
    : options_(std::move(options)) {
  if (!options_.encode) return;
  server.on_initialized([this](const lsp::ClientInfo& client) {
    if (client.workspace_roots.empty()) return;
    root_ = client.workspace_roots.front().lexically_normal();
    if (!root_.has_filename()) root_ = root_.parent_path();  // "file:///repo/" names /repo
    thread_ = std::thread([this] { loop(); });
  });
  server.on_document_updated([this](const lsp::DocumentSnapshot& s) { edited(s); });
  server.on_document_closed([this](const std::string& uri) { closed(uri); });
}

UnsavedEditMemory::~UnsavedEditMemory() {
  stop();
}

void UnsavedEditMemory::edited(const lsp::DocumentSnapshot& snapshot) {
  // The text is copied: the snapshot's document may be replaced by the next change.
  if (snapshot.document)
    schedule(snapshot.uri, snapshot.document->text(), Clock::now() + options_.debounce, false);
}

void UnsavedEditMemory::closed(const std::string& uri) {
  const auto path = lsp::file_uri_to_path(uri);
  if (!path) return;
  std::ifstream in(*path, std::ios::binary);
  if (!in) return;  // deleted: the next workspace run removes its segment
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  schedule(uri, std::move(text), Clock::now(), /*from_disk=*/true);
}

void UnsavedEditMemory::schedule(const std::string& uri, std::string text, Clock::time_point due,
                                 bool from_disk) {
  if (root_.empty()) return;
  const auto path = lsp::file_uri_to_path(uri);
  if (!path) return;
  const fs::path relative = path->lexically_normal().lexically_relative(root_);
  if (relative.empty() || *relative.begin() == ".." || relative == ".") return;  // not ours
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  pending_[relative.generic_string()] = {std::move(text), due, from_disk};
  changed_.notify_all();
}

void UnsavedEditMemory::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    pending_.clear();
    changed_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

bool UnsavedEditMemory::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] { return pending_.empty() && !encoding_; });
}

void UnsavedEditMemory::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stopping_) return;
    if (pending_.empty()) {
      changed_.wait(lock);
      continue;
    }
    // The document whose pause ended first; wait for it unless a change comes sooner.
    auto next = pending_.begin();
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->second.due < next->second.due) next = it;
    }
    if (Clock::now() < next->second.due) {
      changed_.wait_until(lock, next->second.due);
      continue;  // re-examine: the text may have changed, or stop() come
    }
    const std::string path = next->first;
    const std::string text = std::move(next->second.text);
    const char* source = next->second.from_disk ? "the file on disk" : "the editor's text";
    pending_.erase(next);
    encoding_ = true;
    lock.unlock();
    const auto start = Clock::now();
    const std::optional<std::string> error = options_.encode(root_, path, text);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (error) {
      spdlog::warn("memory: {} not updated from {}: {}", path, source, *error);
    } else {
      spdlog::info("memory: {} updated from {} in {:.0f} ms", path, source, ms);
    }
    lock.lock();
    encoding_ = false;
    changed_.notify_all();
  }
}

}  // namespace mnemo::server
