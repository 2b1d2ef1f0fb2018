#include "server/eval/bm25_windows.h"

#include <algorithm>
#include <set>

#include <sqlite3.h>

#include "server/eval/eval_metrics.h"

namespace mnemo::server {
namespace {

struct Finalize {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;

std::string sqlite_error(sqlite3* db, const char* doing) {
  return std::string("BM25 windows: ") + doing + ": " + sqlite3_errmsg(db);
}

Result<Statement, std::string> prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK)
    return sqlite_error(db, "preparing a statement");
  return Statement(statement);
}

/// Byte offsets of each line's start, and the text's end as the last entry.
std::vector<std::size_t> line_bounds(std::string_view text) {
  std::vector<std::size_t> bounds{0};
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n' && i + 1 < text.size()) bounds.push_back(i + 1);
  bounds.push_back(text.size());
  return bounds;
}

/// An FTS5 query matching any of the text's terms: each distinct identifier, quoted (the
/// tokenizer's own rules then make it one term).
std::string any_term_of(std::string_view text) {
  std::set<std::string> terms;
  for (std::string term : identifiers_in(text)) {
    std::transform(term.begin(), term.end(), term.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    terms.insert(std::move(term));
  }
  std::string query;
  for (const std::string& term : terms) {
    if (!query.empty()) query += " OR ";
    query += '"' + term + '"';
  }
  return query;
}

}  // namespace

void Bm25Windows::Close::operator()(sqlite3* db) const {
  sqlite3_close(db);
}

Result<Bm25Windows, std::string> Bm25Windows::build(
    const std::vector<std::pair<std::string, std::string>>& files, const WindowOptions& options) {
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, Close> db(raw);
  if (opened != SQLITE_OK) return sqlite_error(raw, "opening a database in memory");
  if (sqlite3_exec(db.get(),
                   "CREATE VIRTUAL TABLE windows USING fts5(body, file UNINDEXED, "
                   "first_line UNINDEXED, last_line UNINDEXED, "
                   "tokenize = \"unicode61 tokenchars '_'\");"
                   "BEGIN;",
                   nullptr, nullptr, nullptr) != SQLITE_OK)
    return sqlite_error(db.get(), "making the FTS5 table");
  auto insert = prepare(db.get(), "INSERT INTO windows VALUES (?, ?, ?, ?)");
  if (!insert) return insert.error();
  sqlite3_stmt* row = insert.value().get();
  const std::size_t lines = std::max<std::size_t>(options.lines, 1);
  const std::size_t stride = std::clamp<std::size_t>(options.stride, 1, lines);
  std::size_t count = 0;
  for (const auto& [path, contents] : files) {
    const std::vector<std::size_t> bounds = line_bounds(contents);
    const std::size_t n_lines = bounds.size() - 1;
    for (std::size_t first = 0; first < n_lines; first += stride) {
      const std::size_t end = std::min(first + lines, n_lines);
      const std::string_view body =
          std::string_view(contents).substr(bounds[first], bounds[end] - bounds[first]);
      sqlite3_bind_text(row, 1, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      sqlite3_bind_text(row, 2, path.data(), static_cast<int>(path.size()), SQLITE_STATIC);
      sqlite3_bind_int64(row, 3, static_cast<sqlite3_int64>(first + 1));
      sqlite3_bind_int64(row, 4, static_cast<sqlite3_int64>(end));
      if (sqlite3_step(row) != SQLITE_DONE) return sqlite_error(db.get(), "adding a window");
      sqlite3_reset(row);
      ++count;
      if (end == n_lines) break;
    }
  }
  insert.value().reset();
  if (sqlite3_exec(db.get(), "COMMIT;", nullptr, nullptr, nullptr) != SQLITE_OK)
    return sqlite_error(db.get(), "committing the windows");
  return Bm25Windows(std::move(db), count);
}

Result<std::vector<CodeWindow>, std::string> Bm25Windows::search(std::string_view query,
                                                                 const std::string& excluded_file,
                                                                 std::size_t count) {
  std::vector<CodeWindow> out;
  const std::string terms = any_term_of(query);
  if (terms.empty() || count == 0) return out;
  // `rank` is bm25(windows), lower is better. Windows overlapping a better one are skipped
  // here, so more rows are asked for than wanted (with a stride of half a window, a window
  // overlaps at most two others of its file on each side).
  auto select = prepare(db_.get(),
                        "SELECT file, first_line, last_line, body FROM windows "
                        "WHERE windows MATCH ? AND file != ? ORDER BY rank LIMIT ?");
  if (!select) return select.error();
  sqlite3_stmt* row = select.value().get();
  sqlite3_bind_text(row, 1, terms.data(), static_cast<int>(terms.size()), SQLITE_STATIC);
  sqlite3_bind_text(row, 2, excluded_file.data(), static_cast<int>(excluded_file.size()),
                    SQLITE_STATIC);
  sqlite3_bind_int64(row, 3, static_cast<sqlite3_int64>(count * 5));
  int step = SQLITE_ROW;
  while (out.size() < count && (step = sqlite3_step(row)) == SQLITE_ROW) {
    CodeWindow w;
    w.file = reinterpret_cast<const char*>(sqlite3_column_text(row, 0));
    w.first_line = static_cast<std::size_t>(sqlite3_column_int64(row, 1));
    w.last_line = static_cast<std::size_t>(sqlite3_column_int64(row, 2));
    const bool overlaps = std::any_of(out.begin(), out.end(), [&](const CodeWindow& better) {
      return better.file == w.file && better.first_line <= w.last_line &&
             w.first_line <= better.last_line;
    });
    if (overlaps) continue;
    const auto* body = reinterpret_cast<const char*>(sqlite3_column_text(row, 3));
    w.text.assign(body, static_cast<std::size_t>(sqlite3_column_bytes(row, 3)));
    out.push_back(std::move(w));
  }
  if (step != SQLITE_ROW && step != SQLITE_DONE) return sqlite_error(db_.get(), "searching");
  return out;
}

std::string_view lines_before(std::string_view text, std::size_t cursor, std::size_t lines) {
  cursor = std::min(cursor, text.size());
  std::size_t start = cursor;
  // The cursor's own line counts as the first.
  for (std::size_t seen = 0; start > 0; --start) {
    if (text[start - 1] == '\n' && ++seen == lines) break;
  }
  return text.substr(start, cursor - start);
}

}  // namespace mnemo::server
