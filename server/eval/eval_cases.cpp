#include "server/eval/eval_cases.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "indexer/repository_walk.h"
#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace fs = std::filesystem;

namespace {

/// Byte offsets of each line's start (line 1 at index 0).
std::vector<std::size_t> line_starts(const std::string& text) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') starts.push_back(i + 1);
  return starts;
}

/// The symbol's name and the files that define it, by USR (one index lookup per symbol).
struct Definition {
  std::string name;
  std::vector<std::string> files;  ///< sorted, unique
  indexer::SourceRange first;      ///< the definition in files.front() that starts first
};

}  // namespace

Result<EvalCases, std::string> extract_cases(indexer::SymbolDatabase& db, const fs::path& root,
                                             const EvalCaseOptions& options) {
  auto files = db.files();
  if (!files) return files.error().message;
  std::map<std::string, Definition> definitions;
  EvalCases out;
  std::vector<EvalCase>& cases = out.cases;
  for (const std::string& file : files.value()) {
    auto references = db.references_in_file(file);
    if (!references) return references.error().message;
    if (references.value().empty()) continue;
    auto text = indexer::read_file_contents(root / file);
    if (!text) return std::string((root / file).string() + ": cannot be read");
    const std::vector<std::size_t> starts = line_starts(*text);
    std::set<std::string> used;  // USRs this file has used so far
    std::set<std::size_t> seen;  // offsets already made a case
    for (const indexer::Reference& r : references.value()) {
      auto found = definitions.find(r.usr);
      if (found == definitions.end()) {
        auto declarations = db.declarations_of(r.usr);
        if (!declarations) return declarations.error().message;
        Definition d;
        for (const indexer::SymbolInFile& s : declarations.value()) {
          d.name = s.symbol.name;
          if (s.symbol.is_definition) d.files.push_back(s.file);
        }
        std::sort(d.files.begin(), d.files.end());
        d.files.erase(std::unique(d.files.begin(), d.files.end()), d.files.end());
        for (const indexer::SymbolInFile& s : declarations.value()) {
          if (!s.symbol.is_definition || d.files.empty() || s.file != d.files.front()) continue;
          if (d.first.start_line == 0 || s.symbol.range.start_line < d.first.start_line)
            d.first = s.symbol.range;
        }
        found = definitions.emplace(r.usr, std::move(d)).first;
      }
      const Definition& d = found->second;
      const bool first_use = used.insert(r.usr).second;
      if (d.files.empty() || d.name.empty() ||
          std::binary_search(d.files.begin(), d.files.end(), file))
        continue;
      if (r.line == 0 || r.line > starts.size() || r.column == 0) continue;
      const std::size_t line_start = starts[r.line - 1];
      const std::size_t offset = line_start + r.column - 1;
      const std::size_t line_end = std::min(text->find('\n', line_start), text->size());
      if (offset + d.name.size() > line_end || text->compare(offset, d.name.size(), d.name) != 0 ||
          (offset + d.name.size() < text->size() &&
           is_identifier_byte(static_cast<unsigned char>((*text)[offset + d.name.size()]))))
        continue;  // the bytes there are not the name: a macro's expansion, an implicit use
      const std::size_t code = text->find_first_not_of(" \t", line_start);
      if (code < line_end && (*text)[code] == '#') continue;  // a preprocessor line
      if (!seen.insert(offset).second) continue;
      EvalCase c;
      c.file = file;
      c.offset = offset;
      c.line = r.line;
      c.column = r.column;
      c.identifier = d.name;
      c.rest_of_line = text->substr(offset, line_end - offset);
      if (!c.rest_of_line.empty() && c.rest_of_line.back() == '\r') c.rest_of_line.pop_back();
      c.definition_file = d.files.front();
      c.definition_first_line = d.first.start_line;
      c.definition_last_line = d.first.end_line;
      c.first_use = first_use;
      cases.push_back(std::move(c));
    }
    if (!cases.empty() && cases.back().file == file) out.texts.emplace(file, std::move(*text));
  }
  const auto by_position = [](const EvalCase& a, const EvalCase& b) {
    return std::tie(a.file, a.offset) < std::tie(b.file, b.offset);
  };
  std::sort(cases.begin(), cases.end(), by_position);
  if (options.max_cases > 0 && cases.size() > options.max_cases) {
    std::mt19937_64 random(options.seed);
    std::shuffle(cases.begin(), cases.end(), random);
    cases.resize(options.max_cases);
    std::sort(cases.begin(), cases.end(), by_position);
    std::set<std::string> sampled;
    for (const EvalCase& c : cases) sampled.insert(c.file);
    for (auto it = out.texts.begin(); it != out.texts.end();)
      it = sampled.count(it->first) != 0 ? std::next(it) : out.texts.erase(it);
  }
  return out;
}

CodeWindow definition_window(const EvalCase& c, std::string_view definition_file_text) {
  CodeWindow w{c.definition_file, c.definition_first_line, c.definition_last_line, {}};
  std::size_t line = 1;
  for (std::size_t start = 0; start < definition_file_text.size() && line <= w.last_line; ++line) {
    const std::size_t end =
        std::min(definition_file_text.find('\n', start), definition_file_text.size() - 1) + 1;
    if (line >= w.first_line) w.text += definition_file_text.substr(start, end - start);
    start = end;
  }
  return w;
}

}  // namespace mnemo::server
