// Retrieval of a repository's code by BM25 over windows of lines, RepoCoder's sparse
// retriever (the evaluation's retrieval baseline): every file is cut into windows of `lines`
// lines every `stride` lines, and a query (the lines before a cursor) finds the windows
// that share its rarest names. SQLite's FTS5 does the indexing and ranking (its bm25(),
// k1 = 1.2, b = 0.75) in a database of its own in memory; a term is a run of letters,
// digits and underscores (so an identifier is one term), case-folded.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lsp/result.h"
#include "server/text/code_window.h"

struct sqlite3;

namespace mnemo::server {

struct WindowOptions {
  std::size_t lines = 64;
  std::size_t stride = 32;
};

class Bm25Windows {
 public:
  /// Indexes the windows of `files` (path, contents). Fails when SQLite cannot (no FTS5).
  static Result<Bm25Windows, std::string> build(
      const std::vector<std::pair<std::string, std::string>>& files,
      const WindowOptions& options = {});

  /// The best `count` windows for `query`, best first, none from `excluded_file` and none
  /// overlapping a better one of the same file. Empty when the query has no term.
  Result<std::vector<CodeWindow>, std::string> search(std::string_view query,
                                                      const std::string& excluded_file,
                                                      std::size_t count);

  std::size_t windows() const { return windows_; }

 private:
  struct Close {
    void operator()(sqlite3* db) const;
  };
  explicit Bm25Windows(std::unique_ptr<sqlite3, Close> db, std::size_t windows)
      : db_(std::move(db)), windows_(windows) {}

  std::unique_ptr<sqlite3, Close> db_;
  std::size_t windows_ = 0;
};

/// The query RepoCoder uses: the last `lines` lines before `cursor` (the cursor's own line
/// up to the cursor included).
std::string_view lines_before(std::string_view text, std::size_t cursor, std::size_t lines);

}  // namespace mnemo::server
