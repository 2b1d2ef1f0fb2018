// `mnemo serve`: runs LSP sessions on stdio or on a TCP listener until the client exits.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <functional>

#include <nlohmann/json.hpp>

#include "server/completion/completion_settings.h"
#include "server/completion/model_completion_engine.h"
#include "server/completion/semantic_completion_engine.h"
#include "server/workspace/unsaved_edit_memory.h"
#include "server/workspace/workspace_symbol_index.h"

namespace mnemo::server {

struct ServeOptions {
  /// "HOST:PORT", "[V6]:PORT" or "PORT"; unset means stdio. Loopback when HOST is omitted.
  std::optional<std::string> listen;
  std::size_t max_message_bytes = 64u << 20;
  unsigned worker_threads = 0;  ///< 0: hardware concurrency (at least 2)
  /// For protocol tests: every completion takes this long (see DelayedCompletionEngine).
  unsigned test_completion_delay_ms = 0;
  /// Keeps each session's workspace symbol index current; no `run` (--no-index): off.
  WorkspaceSymbolIndexOptions symbol_index;
  /// How open documents' unsaved text reaches the memory (`--model`); none by default.
  UnsavedEditMemoryOptions unsaved_edits;
  /// The menu of C/C++ documents as the compiler sees them (libclang in a worker); none:
  /// the workspace's identifiers.
  SemanticSource semantic_source;
  SemanticPrepare semantic_prepare;  ///< with semantic_source: parses opened files ahead
  /// Inline suggestions from the model over the memory; none: the symbols' alone. Used once
  /// the settings name a model.
  InlineModel inline_model;
  /// Ranks the menu's first items by the model, with inline_model.
  MenuRanker menu_ranker;
  /// The command line's settings layer (completion_settings.h), over each session's
  /// repository file and initializationOptions.
  nlohmann::json settings_flags;
  /// Gives the process's part of a session's settings (the model, the memory, the prompt)
  /// to the model's owner; an error when it cannot take them (it already runs another
  /// model). None: only the session's own part (the debounce) applies.
  std::function<std::optional<std::string>(const CompletionSettings&)> apply_settings;
};

struct ListenAddress {
  std::string host;
  unsigned short port = 0;
};
/// Parses the --listen argument; nullopt with a message in `error` when malformed.
std::optional<ListenAddress> parse_listen_address(const std::string& text, std::string& error);

/// Returns the process exit code: on stdio, 0 after shutdown + exit and 1 otherwise; on
/// TCP, 0 when stopped by SIGINT/SIGTERM (each connection is its own session).
int serve(const ServeOptions& options);

}  // namespace mnemo::server
