// The LSP edge of the completion engine: textDocument/completion and
// textDocument/inlineCompletion requests become CompletionEngine queries on the worker
// pool, and the engine's byte-offset results become LSP items in the session's position
// encoding. Like clangd's ClangdLSPServer, this is the only place where both the protocol
// and the engine are known.
#pragma once

#include <memory>
#include <thread>

#include <boost/asio/thread_pool.hpp>

#include "lsp/language_server.h"
#include "server/completion/completion_engine.h"

namespace mnemo::server {

/// Thread-safety: handlers are invoked on the io thread; engine work runs on `workers`.
/// Worker jobs hold only shared state (the engine, the request context), so this object
/// may be destroyed while they still run; their replies are then dropped.
class LspCompletion {
 public:
  LspCompletion(lsp::LanguageServer& server, std::shared_ptr<CompletionEngine> engine,
                boost::asio::thread_pool& workers);

  /// Cancels and joins background work (workspace indexing) started by this session.
  void stop();
  ~LspCompletion();

 private:
  void complete(const lsp::json& params, lsp::RequestContext context);
  void complete_inline(const lsp::json& params, lsp::RequestContext context);
  void index_workspace(const lsp::ClientInfo& client);

  lsp::LanguageServer& server_;
  std::shared_ptr<CompletionEngine> engine_;
  boost::asio::thread_pool& workers_;
  lsp::CancellationSource background_;
  /// Workspace indexing runs on its own thread so that it never occupies a completion
  /// worker: a large repository must not delay the first completions.
  std::thread indexer_;
};

}  // namespace mnemo::server
