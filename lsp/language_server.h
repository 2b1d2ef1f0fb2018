// The LSP session: lifecycle (initialize / initialized / shutdown / exit), capability and
// position-encoding negotiation, text synchronisation into the DocumentStore, and the
// progress factory. Features (completion, later hover etc.) live outside lsp/ and plug in
// by registering handlers and capabilities before start(); this class knows nothing of
// what answers them.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lsp/document_store.h"
#include "lsp/json_rpc.h"
#include "lsp/work_done_progress.h"

namespace mnemo::lsp {

/// What the client told us in `initialize`, in native form.
struct ClientInfo {
  std::string name;
  std::string version;
  json capabilities;
  std::vector<std::filesystem::path> workspace_roots;  ///< workspaceFolders, else rootUri
  json initialization_options;                         ///< as the client sent it; null when absent
  bool supports_work_done_progress = false;
};

/// Thread-safety: message handlers run on the io thread. documents(), encoding(),
/// client() and create_progress() may be used from any thread after initialize.
class LanguageServer {
 public:
  struct Options {
    std::string name = "mnemo";
    std::string version;
  };
  LanguageServer(std::shared_ptr<Endpoint> endpoint, Options options);

  Endpoint& endpoint() { return *endpoint_; }
  const std::shared_ptr<Endpoint>& endpoint_ptr() { return endpoint_; }
  DocumentStore& documents() { return documents_; }
  PositionEncoding encoding() const { return encoding_.load(); }
  const ClientInfo& client() const { return client_; }

  /// Merged (recursively) into the ServerCapabilities sent in the initialize result.
  void add_capabilities(const json& fragment);

  /// Hooks for features. All run on the io thread, in message order.
  void on_initialized(std::function<void(const ClientInfo&)> hook);
  void on_document_updated(std::function<void(const DocumentSnapshot&)> hook);
  void on_document_closed(std::function<void(const std::string& uri)> hook);
  void on_document_saved(std::function<void(const std::string& uri)> hook);
  /// Called once when the session ends: with 0 after shutdown + exit, 1 when exit came
  /// without shutdown or the client closed the stream.
  void on_exit(std::function<void(int exit_code)> hook);

  /// A progress bar in the client (no-op if the client lacks window.workDoneProgress).
  /// See WorkDoneProgress::create for `on_client_cancel`.
  std::shared_ptr<WorkDoneProgress> create_progress(
      std::optional<CancellationSource> on_client_cancel = std::nullopt);

  bool shutdown_requested() const { return state_ == State::kShutdown; }

  void start();

 private:
  enum class State { kUninitialized, kInitializing, kRunning, kShutdown, kExited };

  std::optional<ResponseError> admit(const std::string& method, bool is_request) const;
  json initialize(const json& params);
  void did_open(const json& params);
  void did_change(const json& params);
  void did_close(const json& params);
  void did_save(const json& params);
  void exit(int code);

  std::shared_ptr<Endpoint> endpoint_;
  Options options_;
  DocumentStore documents_;
  json capabilities_;
  ClientInfo client_;
  std::atomic<PositionEncoding> encoding_{PositionEncoding::kUtf16};
  std::atomic<State> state_{State::kUninitialized};
  std::atomic<int> next_progress_{1};

  std::vector<std::function<void(const ClientInfo&)>> initialized_hooks_;
  std::vector<std::function<void(const DocumentSnapshot&)>> updated_hooks_;
  std::vector<std::function<void(const std::string&)>> closed_hooks_;
  std::vector<std::function<void(const std::string&)>> saved_hooks_;
  std::function<void(int)> exit_hook_;

  std::mutex progress_mutex_;
  std::map<std::string, std::weak_ptr<WorkDoneProgress>> progress_;  // guarded by progress_mutex_
};

}  // namespace mnemo::lsp
