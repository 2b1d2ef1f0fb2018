// Identifier tokenising shared by the open-document counts, the workspace scan and the
// cursor analysis of each completion request (see identifier_scan.h for the rules).
#include "server/text/identifier_scan.h"

#include <algorithm>

namespace mnemo::server {

bool starts_with_folded(std::string_view text, std::string_view prefix) {
  if (prefix.size() > text.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (fold_case(static_cast<unsigned char>(text[i])) !=
        fold_case(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

int compare_folded(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char ca = fold_case(static_cast<unsigned char>(a[i]));
    const unsigned char cb = fold_case(static_cast<unsigned char>(b[i]));
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

std::size_t utf8_length(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::size_t line_of_offset(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
    } else if (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) {
      ++line;
    }
  }
  return line;
}

CursorToken token_at_cursor(std::string_view text, std::size_t cursor) {
  CursorToken token;
  token.begin = cursor;
  while (token.begin > 0 && is_identifier_byte(static_cast<unsigned char>(text[token.begin - 1]))) {
    --token.begin;
  }
  token.end = cursor;
  while (token.end < text.size() &&
         is_identifier_byte(static_cast<unsigned char>(text[token.end]))) {
    ++token.end;
  }
  token.is_identifier =
      token.begin == token.end || !is_digit_byte(static_cast<unsigned char>(text[token.begin]));
  return token;
}

bool is_member_access_before(std::string_view text, std::size_t offset) {
  if (offset == 0 || offset > text.size()) return false;
  const char c = text[offset - 1];
  if (c == '.') {
    const std::size_t before = offset - 1;
    if (before == 0 || !is_identifier_byte(static_cast<unsigned char>(text[before - 1]))) {
      return true;  // `.member` at the start of a chained line, or `).member`
    }
    return token_at_cursor(text, before).is_identifier;  // `obj.` yes, `3.` no
  }
  if (offset < 2) return false;
  if (c == '>') return text[offset - 2] == '-';
  if (c == ':') return text[offset - 2] == ':';
  return false;
}

IdentifierCounts count_identifiers(std::string_view text) {
  // Count over views into `text` first so each occurrence costs a hash, not an allocation.
  std::unordered_map<std::string_view, std::uint32_t> views;
  for_each_identifier(text, [&](std::string_view name, std::size_t, std::size_t) {
    if (utf8_length(name) >= kMinIdentifierLength) ++views[name];
  });
  IdentifierCounts counts;
  counts.reserve(views.size());
  for (const auto& [name, count] : views) counts.emplace(std::string(name), count);
  return counts;
}

}  // namespace mnemo::server
