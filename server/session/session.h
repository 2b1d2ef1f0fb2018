// One LSP session: a transport, the JSON-RPC endpoint, the LSP lifecycle and the
// completion features, wired to one engine. `mnemo serve` runs one on stdio, or one per
// accepted TCP connection.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "lsp/language_server.h"
#include "server/completion/completion_engine.h"
#include "server/completion/lsp_completion.h"
#include "server/workspace/unsaved_edit_memory.h"
#include "server/workspace/workspace_symbol_index.h"

namespace mnemo::server {

struct SessionOptions {
  std::size_t max_message_bytes = 64u << 20;
  /// Keeps the workspace's symbol index current; no `run`: the session indexes nothing.
  WorkspaceSymbolIndexOptions symbol_index;
  /// Follows open documents' unsaved text into the memory; no `encode`: not followed.
  UnsavedEditMemoryOptions unsaved_edits;
  /// Applies the settings once the client is initialized, before the features start (so
  /// the first index run sees them); returns the problems found in them, which the user is
  /// shown (window/showMessage) and which go to the log. None: nothing to configure.
  std::function<std::vector<std::string>(const lsp::ClientInfo&)> configure;
};

/// Thread-safety: created, started, stopped and destroyed on the io thread. `on_end` fires
/// on the io thread from inside the session, so destroy it on a later turn (post).
class Session {
 public:
  Session(boost::asio::io_context& io, boost::asio::thread_pool& workers, int read_fd, int write_fd,
          const SessionOptions& options, std::shared_ptr<CompletionEngine> engine,
          std::function<void(int exit_code)> on_end);

  void start();
  /// Stops background work; the session's requests are answered as cancelled.
  void stop();

 private:
  std::shared_ptr<lsp::Endpoint> endpoint_;
  lsp::LanguageServer server_;
  LspCompletion completion_;
  std::unique_ptr<WorkspaceSymbolIndex> symbol_index_;  // null when indexing is off
  std::unique_ptr<UnsavedEditMemory> unsaved_edits_;    // null without a memory
};

}  // namespace mnemo::server
