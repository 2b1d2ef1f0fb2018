#include "server/names/cursor_names.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "indexer/member_uses.h"
#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace {

/// The most names libclang is asked for: a file of a large C++ library sees tens of
/// thousands, and the likeliest (clang's priority) come first.
constexpr std::size_t kMostCompilerNames = 20000;
/// How long the names wait for libclang while it answers the menu (which a trigger character
/// asks for together with the inline suggestion): the index's names are poorer.
constexpr std::chrono::milliseconds kCompilerBusyWait{200};
/// The answers kept for the words being typed (several documents, or going back and forth).
constexpr std::size_t kCachedAnswers = 8;
/// Uses of the left side's name looked at for its declaration, nearest first.
constexpr std::size_t kDeclarationSearches = 64;

/// Where each identifier of the text occurs: how often, and its last start before `cursor`.
struct Occurrences {
  std::uint32_t count = 0;
  std::size_t last_before = std::string::npos;
};

/// Every identifier of the code of `text` (not in comments, strings or character literals)
/// but the one that spans `cursor` (the word being typed). A word of a comment is prose,
/// not a name the code uses.
std::unordered_map<std::string, Occurrences> document_identifiers(std::string_view text,
                                                                  std::size_t cursor) {
  std::unordered_map<std::string, Occurrences> out;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (c == '/' && i + 1 < n && text[i + 1] == '/') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      const std::size_t end = text.find("*/", i + 2);
      i = end == std::string_view::npos ? n : end + 2;
      continue;
    }
    if (c == '"' || c == '\'') {
      // To the closing quote, or the end of the line for an unterminated one.
      for (++i; i < n && text[i] != c && text[i] != '\n'; ++i)
        if (text[i] == '\\') ++i;
      ++i;
      continue;
    }
    if (!is_identifier_char(c)) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < n && is_identifier_char(text[i])) ++i;
    if (is_digit_byte(static_cast<unsigned char>(text[start]))) {
      // A number; its digit separators (1'000) are not character literals.
      while (i < n && (is_identifier_char(text[i]) || text[i] == '\'')) ++i;
      continue;
    }
    if (start <= cursor && cursor <= i) continue;
    Occurrences& o = out[std::string(text.substr(start, i - start))];
    ++o.count;
    if (i <= cursor) o.last_before = start;
  }
  return out;
}

CompletionItemKind item_kind_of(const std::string& kind) {
  if (kind == "function" || kind == "method" || kind == "constructor" || kind == "destructor" ||
      kind == "conversion" || kind == "function_template")
    return CompletionItemKind::kFunction;
  if (kind == "field") return CompletionItemKind::kField;
  if (kind == "macro") return CompletionItemKind::kMacro;
  if (kind == "namespace") return CompletionItemKind::kNamespace;
  if (kind == "class" || kind == "struct" || kind == "union" || kind == "enum" ||
      kind == "typedef" || kind == "type_alias" || kind == "class_template")
    return CompletionItemKind::kType;
  return CompletionItemKind::kIdentifier;
}

/// Whether `name` is one identifier (not `operator=`, `~Point`, `Point::`).
bool is_identifier_name(std::string_view name) {
  return !name.empty() && !is_digit_byte(static_cast<unsigned char>(name.front())) &&
         std::all_of(name.begin(), name.end(), is_identifier_char);
}

/// A cheap stable key for a text: its size and FNV-1a hash.
std::string text_key(std::string_view text) {
  std::uint64_t hash = 1469598103934665603ull;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return std::to_string(text.size()) + ":" + std::to_string(hash);
}

/// 1-based line and byte column of `offset` in `text`.
std::pair<unsigned, unsigned> line_column(std::string_view text, std::size_t offset) {
  const auto line = static_cast<unsigned>(std::count(text.begin(), text.begin() + offset, '\n'));
  const std::size_t newline = offset == 0 ? std::string_view::npos : text.rfind('\n', offset - 1);
  const std::size_t start = newline == std::string_view::npos ? 0 : newline + 1;
  return {line + 1, static_cast<unsigned>(offset - start + 1)};
}

/// Collects names, each once: the first source to give a name sets its kind and signature.
class NameTable {
 public:
  NameCandidate& add(const std::string& name, CompletionItemKind kind,
                     const std::string& signature) {
    const auto [it, inserted] = at_.emplace(name, names_.size());
    if (inserted) {
      NameCandidate c;
      c.name = name;
      c.kind = kind;
      c.signature = signature;
      names_.push_back(std::move(c));
    } else if (names_[it->second].signature.empty()) {
      names_[it->second].signature = signature;
    }
    return names_[it->second];
  }
  std::vector<NameCandidate> take() { return std::move(names_); }

 private:
  std::unordered_map<std::string, std::size_t> at_;
  std::vector<NameCandidate> names_;
};

}  // namespace

const std::vector<std::string>& c_family_keywords() {
  static const std::vector<std::string> words{"alignas",
                                              "alignof",
                                              "auto",
                                              "bool",
                                              "break",
                                              "case",
                                              "catch",
                                              "char",
                                              "class",
                                              "const",
                                              "constexpr",
                                              "const_cast",
                                              "continue",
                                              "decltype",
                                              "default",
                                              "delete",
                                              "do",
                                              "double",
                                              "dynamic_cast",
                                              "else",
                                              "enum",
                                              "explicit",
                                              "extern",
                                              "false",
                                              "float",
                                              "for",
                                              "friend",
                                              "goto",
                                              "if",
                                              "inline",
                                              "int",
                                              "long",
                                              "mutable",
                                              "namespace",
                                              "new",
                                              "noexcept",
                                              "nullptr",
                                              "operator",
                                              "private",
                                              "protected",
                                              "public",
                                              "register",
                                              "reinterpret_cast",
                                              "return",
                                              "short",
                                              "signed",
                                              "sizeof",
                                              "static",
                                              "static_assert",
                                              "static_cast",
                                              "struct",
                                              "switch",
                                              "template",
                                              "this",
                                              "throw",
                                              "true",
                                              "try",
                                              "typedef",
                                              "typeid",
                                              "typename",
                                              "union",
                                              "unsigned",
                                              "using",
                                              "virtual",
                                              "void",
                                              "volatile",
                                              "while"};
  return words;
}

CursorNameFinder::CursorNameFinder(SemanticSource compiler, NameIndex* index,
                                   NamePriorWeights weights)
    : compiler_(std::move(compiler)), index_(index), weights_(weights) {}

CursorNames CursorNameFinder::find(const CursorNamesRequest& request,
                                   const lsp::CancellationToken& token) {
  const std::size_t cursor = std::min(request.cursor, request.text.size());
  const CursorSite lexical = cursor_site(request.text, cursor);
  // What libclang and the index see depends on the text before the word: typing the word
  // changes nothing of it.
  const std::string key = request.file + "\n" + request.path.string() + "\n" +
                          text_key(request.text.substr(0, lexical.word_begin));
  CursorNames names;
  bool cached = false;
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->key != key) continue;
    cache_.splice(cache_.begin(), cache_, it);
    names = cache_.front().names;
    names.site.typed = lexical.typed;
    cached = true;
    break;
  }
  if (!cached) {
    bool lasting = true;
    names = compute(request, lexical, token, lasting);
    if (lasting) {
      cache_.push_front({key, names});
      if (cache_.size() > kCachedAnswers) cache_.pop_back();
    }
  }
  add_repository_names(names);
  return names;
}

void CursorNameFinder::add_repository_names(CursorNames& names) {
  const std::string& typed = names.site.typed;
  if (index_ == nullptr || typed.empty() || names.site.kind == SiteKind::kDeclaration) return;
  const bool in_scope = std::any_of(
      names.names.begin(), names.names.end(),
      [&](const NameCandidate& c) { return c.name.compare(0, typed.size(), typed) == 0; });
  if (in_scope) return;
  // The name typed begins none in scope: one the repository declares elsewhere (a header
  // the file does not include yet) is likelier than a new one.
  const std::vector<std::string>& all = index_->names();
  const auto& uses = index_->uses();
  const NamePriorWeights::Set& w =
      names.site.kind == SiteKind::kMember ? weights_.member : weights_.other;
  for (auto it = std::lower_bound(all.begin(), all.end(), typed);
       it != all.end() && it->compare(0, typed.size(), typed) == 0; ++it) {
    NameCandidate c;
    c.name = *it;
    if (const auto found = uses.find(c.name); found != uses.end())
      c.repository_uses = found->second;
    c.prior = w.repository_uses * std::log1p(static_cast<double>(c.repository_uses));
    names.names.push_back(std::move(c));
  }
  if (!names.names.empty() && names.source != "repository") names.source += "+repository";
}

std::vector<IndexedName> CursorNameFinder::members_of_object(std::string_view before,
                                                             const std::string& object) {
  if (index_ == nullptr || object.empty()) return {};
  // Its declaration in the document (a local, a parameter): the nearest use whose line
  // reads as one.
  std::size_t at = before.size();
  for (std::size_t searched = 0; searched < kDeclarationSearches; ++searched) {
    at = at == 0 ? std::string_view::npos : before.rfind(object, at - 1);
    if (at == std::string_view::npos) break;
    const std::size_t end = at + object.size();
    if ((at > 0 && is_identifier_char(before[at - 1])) ||
        (end < before.size() && is_identifier_char(before[end])))
      continue;
    const std::size_t line = at == 0 ? std::string_view::npos : before.rfind('\n', at - 1);
    const std::size_t line_start = line == std::string_view::npos ? 0 : line + 1;
    const std::string type =
        declared_type(std::string(before.substr(line_start, end - line_start)), object);
    if (type.empty()) continue;
    std::vector<IndexedName> members = index_->members_of(type);
    if (!members.empty()) return members;
  }
  // Its declaration in the index: a field, a global.
  for (const IndexedName& declaration : index_->declarations(object)) {
    const std::string type = declared_type(declaration.signature, object);
    if (type.empty()) continue;
    std::vector<IndexedName> members = index_->members_of(type);
    if (!members.empty()) return members;
  }
  return {};
}

std::unordered_map<std::string, std::uint64_t> CursorNameFinder::members_used_on(
    const CursorNamesRequest& request, const CursorSite& site) {
  std::unordered_map<std::string, std::uint64_t> used;
  if (site.kind != SiteKind::kMember || site.object.empty()) return used;
  const indexer::MemberAccess access = indexer::member_access_of(site.access);
  if (index_ != nullptr) used = index_->members_used_on(site.object, access, request.file);
  // The document as the editor has it, up to the word typed: the index's copy of it is
  // left out above, being older.
  const std::string_view before =
      request.text.substr(0, std::min(site.word_begin, request.text.size()));
  for (const indexer::MemberUse& m : indexer::member_uses(before))
    if (m.receiver == site.object && m.access == access) used[m.member] += m.uses;
  return used;
}

CursorNames CursorNameFinder::compute(const CursorNamesRequest& request, const CursorSite& lexical,
                                      const lsp::CancellationToken& token, bool& lasting) {
  CursorNames out;
  out.site = lexical;
  const std::string_view text = request.text;
  const std::size_t cursor = std::min(request.cursor, text.size());
  NameTable table;

  std::vector<SemanticItem> compiler_items;
  if (compiler_ && token.cancelled()) {
    lasting = false;
  } else if (compiler_) {
    SemanticQuery query;
    query.file = request.path;
    query.root = request.root;
    query.text = std::string(text);
    const auto [line, column] = line_column(text, lexical.word_begin);
    query.line = line;
    query.column = column;
    query.max_items = kMostCompilerNames;
    query.busy_wait = kCompilerBusyWait;
    auto answered = compiler_(query, token);
    if (answered)
      compiler_items = std::move(answered).value().items;
    else
      lasting = false;
  }
  // After `.` or `->` the names written are members: libclang also offers the class as a
  // qualifier (`q->Point::x`), its destructor and its operators, which nobody types there
  // and which a model held to the names could otherwise begin with.
  const bool object_access =
      lexical.kind == SiteKind::kMember && (lexical.access == "." || lexical.access == "->");
  for (const SemanticItem& item : compiler_items) {
    if (!is_identifier_name(item.name)) continue;
    if (object_access &&
        (item.kind == CompletionItemKind::kType || item.kind == CompletionItemKind::kNamespace))
      continue;
    NameCandidate& c = table.add(item.name, item.kind, item.signature);
    c.from_compiler = true;
  }

  if (lexical.kind == SiteKind::kMember) {
    if (!compiler_items.empty()) {
      out.source = "compiler";
    } else if (index_ != nullptr) {
      std::vector<IndexedName> members;
      if (lexical.access == "::" && !lexical.object.empty())
        members = index_->members_of(lexical.object);
      if (members.empty())
        members = members_of_object(text.substr(0, lexical.word_begin), lexical.object);
      out.source = members.empty() ? "index_members" : "index_type";
      const std::vector<IndexedName>& names = members.empty() ? index_->member_names() : members;
      for (const IndexedName& n : names) table.add(n.name, item_kind_of(n.kind), n.signature);
    } else {
      out.source = "none";
    }
  } else {
    out.source = compiler_items.empty() ? "scope" : "compiler";
    if (index_ != nullptr) {
      for (const IndexedName& n : index_->file_scope(request.file)) {
        NameCandidate& c = table.add(n.name, item_kind_of(n.kind), n.signature);
        c.in_file_scope = true;
      }
    }
  }

  const auto occurrences = document_identifiers(text, cursor);
  if (lexical.kind != SiteKind::kMember) {
    for (const auto& [name, o] : occurrences) table.add(name, CompletionItemKind::kIdentifier, "");
    for (const std::string& keyword : c_family_keywords())
      table.add(keyword, CompletionItemKind::kKeyword, "");
  }

  const std::unordered_map<std::string, std::uint64_t>* uses =
      index_ != nullptr ? &index_->uses() : nullptr;
  const auto on_receiver = members_used_on(request, lexical);
  out.names = table.take();
  const NamePriorWeights::Set& w =
      lexical.kind == SiteKind::kMember ? weights_.member : weights_.other;
  for (NameCandidate& c : out.names) {
    // The prior knows nothing of keywords but that they can go here: a keyword weighs as a
    // name in scope that the file does not use (its uses say how code goes on, which is
    // the model's to know).
    if (c.kind == CompletionItemKind::kKeyword) {
      c.prior = w.compiler;
      continue;
    }
    if (const auto found = occurrences.find(c.name); found != occurrences.end()) {
      c.document_uses = found->second.count;
      if (found->second.last_before != std::string::npos)
        c.lines_since_use =
            std::count(text.begin() + found->second.last_before, text.begin() + cursor, '\n');
    }
    if (uses != nullptr) {
      if (const auto found = uses->find(c.name); found != uses->end())
        c.repository_uses = found->second;
    }
    if (const auto found = on_receiver.find(c.name); found != on_receiver.end())
      c.receiver_uses = found->second;
    const bool used_before = c.lines_since_use >= 0;
    c.prior = w.receiver_uses * std::log1p(static_cast<double>(c.receiver_uses)) +
              w.document_uses * std::log1p(c.document_uses) +
              (used_before ? w.recency / (1.0 + c.lines_since_use / 8.0) + w.used_before : 0.0) +
              w.repository_uses * std::log1p(static_cast<double>(c.repository_uses)) +
              (c.in_file_scope ? w.file_scope : 0.0) + (c.from_compiler ? w.compiler : 0.0);
    switch (c.kind) {
      case CompletionItemKind::kField:
        c.prior += w.field;
        break;
      case CompletionItemKind::kFunction:
        c.prior += w.function;
        break;
      case CompletionItemKind::kType:
        c.prior += w.type;
        break;
      case CompletionItemKind::kNamespace:
        c.prior += w.namespace_;
        break;
      case CompletionItemKind::kMacro:
        c.prior += w.macro;
        break;
      default:
        break;
    }
  }
  std::stable_sort(
      out.names.begin(), out.names.end(),
      [](const NameCandidate& a, const NameCandidate& b) { return a.prior > b.prior; });

  if (lexical.kind != SiteKind::kMember) {
    // A type before the cursor makes it a declaration's name, which stays free.
    std::unordered_set<std::string> types;
    for (const NameCandidate& c : out.names)
      if (c.kind == CompletionItemKind::kType) types.insert(c.name);
    const CursorSite refined = cursor_site(
        text, cursor, [&](std::string_view word) { return types.count(std::string(word)) > 0; });
    out.site.kind = refined.kind;
  }
  return out;
}

}  // namespace mnemo::server
