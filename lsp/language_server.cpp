#include "lsp/language_server.h"

#include <spdlog/spdlog.h>

#include <iterator>

#include "lsp/protocol.h"
#include "lsp/uri.h"

namespace mnemo::lsp {
namespace {

void merge_into(json& target, const json& fragment) {
  for (auto it = fragment.begin(); it != fragment.end(); ++it) {
    if (it->is_object() && target.contains(it.key()) && target[it.key()].is_object())
      merge_into(target[it.key()], *it);
    else
      target[it.key()] = *it;
  }
}

std::vector<std::filesystem::path> workspace_roots(const json& params) {
  std::vector<std::filesystem::path> roots;
  if (const json& folders = lookup(params, {"workspaceFolders"}); folders.is_array()) {
    for (const auto& folder : folders)
      if (folder.is_object() && folder.contains("uri") && folder["uri"].is_string())
        if (auto path = file_uri_to_path(folder["uri"].get<std::string>())) roots.push_back(*path);
  }
  if (roots.empty()) {
    if (const json& root = lookup(params, {"rootUri"}); root.is_string()) {
      if (auto path = file_uri_to_path(root.get<std::string>())) roots.push_back(*path);
    } else if (const json& root_path = lookup(params, {"rootPath"}); root_path.is_string()) {
      roots.emplace_back(root_path.get<std::string>());
    }
  }
  return roots;
}

}  // namespace

LanguageServer::LanguageServer(std::shared_ptr<Endpoint> endpoint, Options options)
    : endpoint_(std::move(endpoint)), options_(std::move(options)) {
  capabilities_ = {
      {"textDocumentSync",
       {{"openClose", true}, {"change", 2 /* Incremental */}, {"save", {{"includeText", false}}}}},
  };
}

void LanguageServer::add_capabilities(const json& fragment) {
  merge_into(capabilities_, fragment);
}

void LanguageServer::on_initialized(std::function<void(const ClientInfo&)> hook) {
  initialized_hooks_.push_back(std::move(hook));
}
void LanguageServer::on_document_updated(std::function<void(const DocumentSnapshot&)> hook) {
  updated_hooks_.push_back(std::move(hook));
}
void LanguageServer::on_document_closed(std::function<void(const std::string&)> hook) {
  closed_hooks_.push_back(std::move(hook));
}
void LanguageServer::on_document_saved(std::function<void(const std::string&)> hook) {
  saved_hooks_.push_back(std::move(hook));
}
void LanguageServer::on_exit(std::function<void(int)> hook) {
  exit_hook_ = std::move(hook);
}

std::optional<ResponseError> LanguageServer::admit(const std::string& method,
                                                   bool is_request) const {
  switch (state_.load()) {
    case State::kUninitialized:
      if (method == "initialize" || method == "exit") return std::nullopt;
      return ResponseError{ErrorCode::kServerNotInitialized,
                           "the server is not initialized; send 'initialize' first"};
    case State::kInitializing:
    case State::kRunning:
      if (method == "initialize")
        return ResponseError{ErrorCode::kInvalidRequest, "'initialize' may only be sent once"};
      return std::nullopt;
    case State::kShutdown:
      if (method == "exit") return std::nullopt;
      return ResponseError{
          ErrorCode::kInvalidRequest,
          is_request ? "the server is shutting down; only 'exit' is accepted" : "after shutdown"};
    case State::kExited:
      break;
  }
  return ResponseError{ErrorCode::kInvalidRequest, "the session has ended"};
}

void LanguageServer::start() {
  endpoint_->set_admission(
      [this](const std::string& method, bool is_request) { return admit(method, is_request); });
  endpoint_->on_request("initialize", [this](const json& params, RequestContext context) {
    context.reply(initialize(params));
  });
  endpoint_->on_notification("initialized", [this](const json&) {
    if (state_ != State::kInitializing) return;
    state_ = State::kRunning;
    for (auto& hook : initialized_hooks_) hook(client_);
  });
  endpoint_->on_request("shutdown", [this](const json&, RequestContext context) {
    // Requests already in flight still get their answers; exit cancels what remains.
    state_ = State::kShutdown;
    context.reply(json(nullptr));
  });
  endpoint_->on_notification("exit",
                             [this](const json&) { exit(state_ == State::kShutdown ? 0 : 1); });
  endpoint_->on_notification("textDocument/didOpen", [this](const json& p) { did_open(p); });
  endpoint_->on_notification("textDocument/didChange", [this](const json& p) { did_change(p); });
  endpoint_->on_notification("textDocument/didClose", [this](const json& p) { did_close(p); });
  endpoint_->on_notification("textDocument/didSave", [this](const json& p) { did_save(p); });
  endpoint_->on_notification("window/workDoneProgress/cancel", [this](const json& params) {
    const json& token = lookup(params, {"token"});
    const std::string key = token.is_string() ? token.get<std::string>() : token.dump();
    std::lock_guard<std::mutex> lock(progress_mutex_);
    if (auto it = progress_.find(key); it != progress_.end())
      if (auto progress = it->second.lock()) progress->cancel_from_client();
  });
  endpoint_->on_notification("$/setTrace", [](const json&) {});
  endpoint_->on_closed([this] {
    if (state_ != State::kExited) {
      spdlog::info("lsp: the client closed the stream without 'exit'");
      exit(state_ == State::kShutdown ? 0 : 1);
    }
  });
  endpoint_->start();
}

json LanguageServer::initialize(const json& params) {
  if (!params.is_object()) throw InvalidParamsError("params must be an object");
  client_.capabilities = lookup(params, {"capabilities"});
  if (client_.capabilities.is_null()) client_.capabilities = json::object();
  if (const json& info = lookup(params, {"clientInfo"}); info.is_object()) {
    client_.name = info.value("name", "");
    client_.version = info.value("version", "");
  }
  client_.workspace_roots = workspace_roots(params);
  client_.initialization_options = lookup(params, {"initializationOptions"});
  client_.supports_work_done_progress =
      lookup(client_.capabilities, {"window", "workDoneProgress"}) == true;
  encoding_ = negotiate_position_encoding(client_.capabilities);
  state_ = State::kInitializing;
  spdlog::info("lsp: initialize from {} {} ({} workspace root(s), position encoding {})",
               client_.name.empty() ? "an unnamed client" : client_.name, client_.version,
               client_.workspace_roots.size(), to_string(encoding_.load()));

  json capabilities = capabilities_;
  capabilities["positionEncoding"] = std::string(to_string(encoding_.load()));
  return {{"capabilities", capabilities},
          {"serverInfo", {{"name", options_.name}, {"version", options_.version}}}};
}

void LanguageServer::did_open(const json& params) {
  const json& item = require(params, "textDocument", "params");
  auto outcome = documents_.open(require_string(item, "uri", "params.textDocument"),
                                 item.value("languageId", ""),
                                 require_integer(item, "version", "params.textDocument"),
                                 require_string(item, "text", "params.textDocument"));
  if (outcome.replaced) spdlog::info("lsp: {} reopened; replaced", outcome.snapshot.uri);
  for (auto& hook : updated_hooks_) hook(outcome.snapshot);
}

void LanguageServer::did_change(const json& params) {
  const json& id = require(params, "textDocument", "params");
  const std::string uri = require_string(id, "uri", "params.textDocument");
  const std::int64_t version = require_integer(id, "version", "params.textDocument");
  const auto changes =
      parse_content_changes(require(params, "contentChanges", "params"), "params.contentChanges");
  auto outcome = documents_.change(uri, version, changes, encoding_.load());
  if (!outcome) {
    spdlog::error("lsp: didChange rejected: {}", outcome.error().message);
    return;
  }
  if (outcome.value().stale_version)
    spdlog::warn("lsp: didChange for {} has version {} which does not increase", uri, version);
  endpoint_->invalidate_document(uri);
  for (auto& hook : updated_hooks_) hook(outcome.value().snapshot);
}

void LanguageServer::did_close(const json& params) {
  const std::string uri =
      require_string(require(params, "textDocument", "params"), "uri", "params.textDocument");
  if (!documents_.close(uri)) {
    spdlog::warn("lsp: didClose for {} which is not open", uri);
    return;
  }
  endpoint_->invalidate_document(uri);
  for (auto& hook : closed_hooks_) hook(uri);
}

void LanguageServer::did_save(const json& params) {
  const std::string uri =
      require_string(require(params, "textDocument", "params"), "uri", "params.textDocument");
  for (auto& hook : saved_hooks_) hook(uri);
}

void LanguageServer::exit(int code) {
  if (state_.exchange(State::kExited) == State::kExited) return;
  spdlog::info("lsp: exit ({})", code);
  endpoint_->cancel_all(CancelReason::kShutdown);
  endpoint_->close();
  if (exit_hook_) exit_hook_(code);
}

std::shared_ptr<WorkDoneProgress> LanguageServer::create_progress(
    std::optional<CancellationSource> on_client_cancel) {
  std::string token = "mnemo/" + std::to_string(next_progress_++);
  auto progress = WorkDoneProgress::create(endpoint_, client_.supports_work_done_progress, token,
                                           std::move(on_client_cancel));
  std::lock_guard<std::mutex> lock(progress_mutex_);
  // Forget the bars nobody holds any more: a session that indexes on every save makes one
  // per save, and the map would otherwise grow for as long as the session lasts.
  for (auto it = progress_.begin(); it != progress_.end();)
    it = it->second.expired() ? progress_.erase(it) : std::next(it);
  progress_[token] = progress;
  return progress;
}

}  // namespace mnemo::lsp
