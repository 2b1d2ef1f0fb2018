// What counts as an identifier, for every language at once: the symbolic completion
// engine reads C++, Python, Rust, JSON and Markdown alike, so it cannot use a real lexer.
//
// An identifier is a maximal run of `[A-Za-z0-9_]` and bytes >= 0x80 (so UTF-8 names such
// as `größe` or `変数` are single identifiers) that does not start with a digit. A run that
// starts with a digit is a number (`0x1F`, `12px`, `1e10`) and is skipped as a whole, so
// `x1F` inside `0x1F` never becomes a candidate. Comments and strings are not special:
// words in them are identifiers too, which is what a user typing prose expects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mnemo::server {

inline bool is_identifier_byte(unsigned char c) {
  return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_';
}

/// is_identifier_byte for a char of a string.
inline bool is_identifier_char(char c) {
  return is_identifier_byte(static_cast<unsigned char>(c));
}

inline bool is_digit_byte(unsigned char c) {
  return c >= '0' && c <= '9';
}

/// ASCII-only case folding: bytes >= 0x80 are left alone (no locale, no Unicode tables),
/// which keeps folding byte-length-preserving and UTF-8 safe.
inline unsigned char fold_case(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

/// True when `text` starts with `prefix`, comparing ASCII letters case-insensitively.
bool starts_with_folded(std::string_view text, std::string_view prefix);
/// Orders strings by their folded bytes (a total order only together with a tie-break).
int compare_folded(std::string_view a, std::string_view b);

/// Number of code points in UTF-8 `text` (bytes that are not continuation bytes).
std::size_t utf8_length(std::string_view text);

/// Candidates shorter than this many code points are never offered: completing `i` or `x`
/// saves nothing and floods the menu.
inline constexpr std::size_t kMinIdentifierLength = 2;

/// Calls `fn(std::string_view name, std::size_t offset, std::size_t line)` for every
/// identifier of `text`, in order. Lines are counted as LSP does ("\n", "\r\n", "\r").
template <class Fn>
void for_each_identifier(std::string_view text, Fn&& fn) {
  std::size_t line = 0;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!is_identifier_byte(c)) {
      if (c == '\n' || (c == '\r' && (i + 1 == n || text[i + 1] != '\n'))) ++line;
      ++i;
      continue;
    }
    const std::size_t begin = i;
    while (i < n && is_identifier_byte(static_cast<unsigned char>(text[i]))) ++i;
    if (!is_digit_byte(c)) fn(text.substr(begin, i - begin), begin, line);
  }
}

/// Zero-based line of byte `offset` (clamped to the text), counted like for_each_identifier.
std::size_t line_of_offset(std::string_view text, std::size_t offset);

/// The run of identifier bytes around a cursor: [begin, cursor) is what the user has typed
/// so far (the prefix), [begin, end) the whole word the cursor is in.
struct CursorToken {
  std::size_t begin = 0;
  std::size_t end = 0;
  /// False when the run is a number (starts with a digit): there is nothing to complete.
  bool is_identifier = true;
};

/// Precondition: cursor <= text.size().
CursorToken token_at_cursor(std::string_view text, std::size_t cursor);

/// True when the bytes just before `offset` are a member access: `.`, `->` or `::`.
/// A `.` after a number (`3.`) is a decimal point, not a member access.
bool is_member_access_before(std::string_view text, std::size_t offset);

/// How often each identifier of at least kMinIdentifierLength code points occurs.
using IdentifierCounts = std::unordered_map<std::string, std::uint32_t>;
IdentifierCounts count_identifiers(std::string_view text);

}  // namespace mnemo::server
