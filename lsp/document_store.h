// The documents the client has opened, at the versions it sent, kept exactly in sync
// through full and incremental didChange notifications.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lsp/result.h"
#include "lsp/text_document.h"

namespace mnemo::lsp {

/// One document at one version. Snapshots are immutable and cheap to copy, so worker
/// threads can hold one while the I/O thread applies newer edits.
struct DocumentSnapshot {
  std::string uri;
  std::string language_id;
  std::int64_t version = 0;
  std::shared_ptr<const TextDocument> document;
};

/// One entry of DidChangeTextDocumentParams.contentChanges: a replacement of `range`
/// (positions in the session's encoding), or of the whole text when `range` is empty.
struct TextChange {
  std::optional<Range> range;
  std::string text;
};

struct DocumentError {
  std::string message;
};

/// Thread-safe: every method locks; snapshots returned stay valid after later edits.
class DocumentStore {
 public:
  /// didOpen. Opening a URI that is already open replaces it (and says so in the error-free
  /// result's `replaced` flag) rather than failing, as clients do this after a reload.
  struct OpenOutcome {
    DocumentSnapshot snapshot;
    bool replaced = false;
  };
  OpenOutcome open(std::string uri, std::string language_id, std::int64_t version,
                   std::string text);

  /// didChange: applies `changes` in order, each against the result of the previous one.
  /// Fails (and leaves the document unchanged) if the URI is not open or a range is invalid
  /// (end before start). A range beyond the end of the text is clamped, per the LSP spec.
  /// A version that does not increase is accepted (the client is authoritative) but
  /// reported through `stale_version`.
  struct ChangeOutcome {
    DocumentSnapshot snapshot;
    bool stale_version = false;
  };
  Result<ChangeOutcome, DocumentError> change(const std::string& uri, std::int64_t version,
                                              const std::vector<TextChange>& changes,
                                              PositionEncoding encoding);

  /// didClose. Returns false if the URI was not open.
  bool close(const std::string& uri);

  std::optional<DocumentSnapshot> get(const std::string& uri) const;
  std::vector<DocumentSnapshot> all() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, DocumentSnapshot> documents_;  // guarded by mutex_
};

}  // namespace mnemo::lsp
