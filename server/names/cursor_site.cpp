#include "server/names/cursor_site.h"

#include <algorithm>

#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/// Where the run of whitespace that ends at `at` begins.
std::size_t skip_spaces_back(std::string_view text, std::size_t at) {
  while (at > 0 && is_space(text[at - 1])) --at;
  return at;
}

/// The identifier that ends at `end` (empty when none does, or a number does).
std::string_view word_ending_at(std::string_view text, std::size_t end) {
  std::size_t begin = end;
  while (begin > 0 && is_identifier_char(text[begin - 1])) --begin;
  const std::string_view word = text.substr(begin, end - begin);
  if (!word.empty() && is_digit_byte(static_cast<unsigned char>(word[0]))) return {};
  return word;
}

bool one_of(std::string_view word, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

/// C and C++ keywords that are types by themselves.
bool is_builtin_type(std::string_view word) {
  return one_of(word,
                {"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned",
                 "bool", "_Bool", "auto", "wchar_t", "char8_t", "char16_t", "char32_t"});
}

bool is_tag_keyword(std::string_view word) {
  return one_of(word, {"struct", "union", "enum", "class"});
}

/// Whether the `>` just before `end` closes a template argument list on its line whose `<`
/// follows a name (`std::vector<int>`), rather than comparing.
bool closes_template_arguments(std::string_view text, std::size_t end) {
  int depth = 0;
  for (std::size_t i = end; i-- > 0;) {
    const char c = text[i];
    if (c == '\n' || c == ';' || c == '{' || c == '}' || c == '(' || c == ')' || c == '=')
      return false;
    if (c == '>') ++depth;
    if (c == '<' && --depth == 0) return !word_ending_at(text, skip_spaces_back(text, i)).empty();
  }
  return false;
}

/// Whether the line that holds `at` is a preprocessor line whose directive is `directive`.
bool on_directive_line(std::string_view text, std::size_t at, std::string_view directive) {
  const std::size_t line = text.rfind('\n', at == 0 ? 0 : at - 1);
  std::size_t i = line == std::string_view::npos || at == 0 ? 0 : line + 1;
  while (i < at && (text[i] == ' ' || text[i] == '\t')) ++i;
  if (i >= at || text[i] != '#') return false;
  ++i;
  while (i < at && (text[i] == ' ' || text[i] == '\t')) ++i;
  return text.substr(i, directive.size()) == directive;
}

/// Whether a new name is declared at `word_begin`: the words before it make a type.
bool declares_new_name(std::string_view text, std::size_t word_begin, const IsTypeName& is_type) {
  std::size_t at = skip_spaces_back(text, word_begin);
  bool declarator = false;  // a `*` or `&` between the type and the name
  while (at > 0 && (text[at - 1] == '*' || text[at - 1] == '&')) {
    declarator = true;
    at = skip_spaces_back(text, at - 1);
  }
  if (at > 0 && text[at - 1] == '>' && (at < 2 || text[at - 2] != '-'))
    return closes_template_arguments(text, at);
  const std::string_view previous = word_ending_at(text, at);
  if (previous.empty()) return false;
  // `#define` declares a macro; `#ifdef`, `#undef` and `namespace` (which reopens one as
  // often as it opens one) name existing ones: a new one is typed, and left free then.
  if (previous == "define") return on_directive_line(text, at, previous);
  if (is_tag_keyword(previous)) return declarator;  // `struct ^` names an existing tag
  if (is_builtin_type(previous)) return true;
  const std::string_view before =
      word_ending_at(text, skip_spaces_back(text, at - previous.size()));
  if (is_tag_keyword(before)) return true;  // `struct page *^`
  return is_type && is_type(previous);
}

}  // namespace

const char* to_string(SiteKind kind) {
  switch (kind) {
    case SiteKind::kMember:
      return "member";
    case SiteKind::kScope:
      return "scope";
    case SiteKind::kDeclaration:
      return "declaration";
  }
  return "scope";
}

CursorSite cursor_site(std::string_view text, std::size_t cursor, const IsTypeName& is_type) {
  cursor = std::min(cursor, text.size());
  CursorSite site;
  site.word_begin = cursor;
  while (site.word_begin > 0 && is_identifier_char(text[site.word_begin - 1])) --site.word_begin;
  site.typed = std::string(text.substr(site.word_begin, cursor - site.word_begin));
  if (!site.typed.empty() && is_digit_byte(static_cast<unsigned char>(site.typed[0])))
    return site;  // a number is being typed
  const std::size_t at = skip_spaces_back(text, site.word_begin);
  const auto ends_with = [&](std::string_view op) {
    return at >= op.size() && text.substr(at - op.size(), op.size()) == op;
  };
  if (ends_with("->")) {
    site.access = "->";
  } else if (ends_with("::")) {
    site.access = "::";
  } else if (ends_with(".") && !ends_with("..")) {
    // `1.` is a number going on, not a member access.
    const std::size_t before = at - 1;
    const bool number = before > 0 && is_digit_byte(static_cast<unsigned char>(text[before - 1])) &&
                        word_ending_at(text, before).empty();
    if (!number) site.access = ".";
  }
  if (!site.access.empty()) {
    site.kind = SiteKind::kMember;
    site.object =
        std::string(word_ending_at(text, skip_spaces_back(text, at - site.access.size())));
    return site;
  }
  if (declares_new_name(text, site.word_begin, is_type)) site.kind = SiteKind::kDeclaration;
  return site;
}

}  // namespace mnemo::server
