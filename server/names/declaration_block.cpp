#include "server/names/declaration_block.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace {

/// Lines before the cursor whose names are looked up (the code being written).
constexpr std::size_t kNearLines = 24;
/// Members, and unused functions of the includes, looked up at most (each costs a query).
constexpr std::size_t kMostLookups = 48;
/// A declaration longer than this is cut (a long parameter list says little more).
constexpr std::size_t kMostLineBytes = 160;

/// One declaration as one commented line: its white space squeezed, cut when too long.
std::string commented(const std::string& signature) {
  std::string line = "// ";
  bool space = false;
  for (const char c : signature) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = true;
      continue;
    }
    if (space && line.size() > 3) line += ' ';
    space = false;
    line += c;
    if (line.size() >= kMostLineBytes) break;
  }
  if (line.back() != ';' && line.back() != '}') line += ';';
  return line + "\n";
}

/// The identifiers of the `lines` lines before `cursor`, nearest first, each once.
std::vector<std::string> names_before(std::string_view text, std::size_t cursor,
                                      std::size_t lines) {
  std::size_t from = std::min(cursor, text.size());
  for (std::size_t n = 0; n <= lines && from > 0; ++n) {
    const std::size_t newline = text.rfind('\n', from - 1);
    if (newline == std::string_view::npos) {
      from = 0;
      break;
    }
    from = newline;
  }
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  std::size_t end = std::min(cursor, text.size());
  // Backwards, so the nearest come first; the word at the cursor is skipped.
  while (end > from && is_identifier_char(text[end - 1])) --end;
  while (end > from) {
    if (!is_identifier_char(text[end - 1])) {
      --end;
      continue;
    }
    std::size_t begin = end;
    while (begin > from && is_identifier_char(text[begin - 1])) --begin;
    const std::string word(text.substr(begin, end - begin));
    if (!is_digit_byte(static_cast<unsigned char>(word[0])) && seen.insert(word).second)
      out.push_back(word);
    end = begin;
  }
  return out;
}

class Block {
 public:
  Block(const TokenCounter& count, std::size_t budget, std::string own_file)
      : count_(count), budget_(budget), own_file_(std::move(own_file)) {}

  /// Adds a declaration if it is new, from another file, and fits; false once the budget
  /// is spent.
  bool add(const IndexedName& d) {
    if (full_) return false;
    if (d.signature.empty() || d.file.empty() || d.file == own_file_) return true;
    std::string line = commented(d.signature);
    if (!lines_.insert(line).second) return true;
    auto file = files_.find(d.file);
    std::size_t cost = count_(line);
    if (file == files_.end()) cost += count_(header(d.file));
    if (used_ + cost > budget_) {
      // A shorter one may still fit; three misses in a row end the block.
      full_ = ++misses_ >= 3;
      return !full_;
    }
    misses_ = 0;
    used_ += cost;
    if (file == files_.end()) {
      file = files_.emplace(d.file, order_.size()).first;
      order_.push_back({d.file, {}});
    }
    order_[file->second].second.push_back(std::move(line));
    return true;
  }

  /// The files' lines, the most relevant file last (nearest the document), each file's
  /// lines in the order they were added.
  std::string text() const {
    std::string out;
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
      out += header(it->first);
      for (const std::string& line : it->second) out += line;
    }
    return out;
  }

 private:
  static std::string header(const std::string& file) {
    return "// declarations in " + file + ":\n";
  }

  const TokenCounter& count_;
  std::size_t budget_;
  std::string own_file_;
  std::size_t used_ = 0;
  std::size_t misses_ = 0;
  bool full_ = false;
  std::set<std::string> lines_;
  std::unordered_map<std::string, std::size_t> files_;
  std::vector<std::pair<std::string, std::vector<std::string>>> order_;
};

bool is_function_like(const std::string& kind) {
  return kind == "function" || kind == "function_template" || kind == "macro";
}

}  // namespace

std::string declaration_block(NameIndex& index, const DeclarationBlockRequest& r,
                              const TokenCounter& count_tokens) {
  if (r.budget_tokens == 0) return {};
  Block block(count_tokens, r.budget_tokens, r.file);
  std::size_t lookups = 0;
  const auto first_declaration = [&](const std::string& name) -> std::vector<IndexedName> {
    ++lookups;
    std::vector<IndexedName> found = index.declarations(name);
    if (found.size() > 1) found.resize(1);  // the definition, or the first declaration
    return found;
  };

  // 1. The members that can go after `.`, `->` or `::`.
  if (r.names != nullptr && r.names->site.kind == SiteKind::kMember) {
    for (const NameCandidate& c : r.names->names) {
      if (lookups >= kMostLookups) break;
      for (const IndexedName& d : first_declaration(c.name))
        if (!block.add(d)) return block.text();
    }
  }
  // 2. The names used just before the cursor that other files declare.
  const std::vector<std::string> near = names_before(r.text, r.cursor, kNearLines);
  for (const std::string& name : near) {
    for (const IndexedName& d : first_declaration(name))
      if (!block.add(d)) return block.text();
  }
  // 3. What the file's headers offer that it does not use yet.
  std::unordered_set<std::string> in_document;
  {
    std::size_t i = 0;
    const std::string_view text = r.text;
    while (i < text.size()) {
      if (!is_identifier_char(text[i])) {
        ++i;
        continue;
      }
      const std::size_t start = i;
      while (i < text.size() && is_identifier_char(text[i])) ++i;
      in_document.emplace(text.substr(start, i - start));
    }
  }
  std::vector<const IndexedName*> unused;
  for (const IndexedName& d : index.file_scope(r.file)) {
    if (d.file != r.file && is_function_like(d.kind) && !in_document.count(d.name))
      unused.push_back(&d);
  }
  const auto& uses = index.uses();
  const auto uses_of = [&](const std::string& name) {
    const auto found = uses.find(name);
    return found == uses.end() ? 0 : found->second;
  };
  std::stable_sort(unused.begin(), unused.end(), [&](const IndexedName* a, const IndexedName* b) {
    return uses_of(a->name) > uses_of(b->name);
  });
  for (const IndexedName* d : unused)
    if (!block.add(*d)) break;
  return block.text();
}

}  // namespace mnemo::server
