#include "server/names/name_index.h"

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace {

/// Words that qualify or introduce a type but are not its name.
bool is_not_a_type_name(std::string_view word) {
  for (const std::string_view w :
       {"const",     "volatile", "restrict", "__restrict", "static",   "extern",   "inline",
        "struct",    "union",    "enum",     "class",      "typename", "register", "mutable",
        "constexpr", "return",   "void",     "char",       "short",    "int",      "long",
        "float",     "double",   "signed",   "unsigned",   "bool",     "_Bool",    "auto",
        "typedef",   "case",     "goto",     "sizeof",     "new",      "delete"}) {
    if (word == w) return true;
  }
  return false;
}

}  // namespace

std::string declared_type(const std::string& signature, const std::string& name) {
  if (name.empty()) return {};
  // The name's last whole-word occurrence: the declarator (a parameter list may come after).
  std::size_t at = std::string::npos;
  for (std::size_t from = signature.find(name); from != std::string::npos;
       from = signature.find(name, from + 1)) {
    const std::size_t end = from + name.size();
    if ((from == 0 || !is_identifier_char(signature[from - 1])) &&
        (end == signature.size() || !is_identifier_char(signature[end])))
      at = from;
  }
  if (at == std::string::npos) return {};
  std::string_view before(signature.data(), at);
  for (;;) {
    while (!before.empty() && (before.back() == ' ' || before.back() == '\t' ||
                               before.back() == '*' || before.back() == '&'))
      before.remove_suffix(1);
    if (!before.empty() && before.back() == '>') {  // template arguments: the template's name
      int depth = 0;
      std::size_t i = before.size();
      while (i > 0) {
        const char c = before[--i];
        if (c == '>') ++depth;
        if (c == '<' && --depth == 0) break;
      }
      if (depth != 0) return {};
      before = before.substr(0, i);
      continue;
    }
    std::size_t start = before.size();
    while (start > 0 && is_identifier_char(before[start - 1])) --start;
    const std::string_view word = before.substr(start);
    if (word.empty() || is_digit_byte(static_cast<unsigned char>(word[0]))) return {};
    if (word == "const" || word == "volatile" || word == "restrict" || word == "__restrict") {
      before = before.substr(0, start);
      continue;
    }
    if (is_not_a_type_name(word)) return {};
    return std::string(word);
  }
}

}  // namespace mnemo::server
