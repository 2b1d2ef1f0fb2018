#include "lsp/utf8.h"

#include <cstdint>

namespace mnemo::lsp {
namespace {

/// Length of the valid UTF-8 sequence at text[i], or 0 if invalid (RFC 3629: no overlongs,
/// no surrogates, nothing above U+10FFFF).
std::size_t valid_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  const std::uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint8_t lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

/// Length of the maximal prefix of an invalid sequence at text[i] (at least 1).
std::size_t invalid_subpart_length(std::string_view text, std::size_t i) {
  const auto b0 = static_cast<std::uint8_t>(text[i]);
  // An encoded surrogate ED A0..BF 80..BF is one UTF-16 unit on the client's side.
  if (b0 == 0xED && i + 2 < text.size() &&
      (static_cast<std::uint8_t>(text[i + 1]) & 0xE0) == 0xA0 &&
      (static_cast<std::uint8_t>(text[i + 2]) & 0xC0) == 0x80) {
    return 3;
  }
  std::size_t n = 0;
  std::uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF)
    n = 2;
  else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else
    return 1;
  std::size_t k = 1;
  for (; k < n && i + k < text.size(); ++k) {
    const auto b = static_cast<std::uint8_t>(text[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
  }
  return k;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = valid_sequence_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string repair_utf8(std::string_view text, std::size_t* replaced) {
  std::string out;
  out.reserve(text.size());
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = valid_sequence_length(text, i);
    if (n > 0) {
      out.append(text.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += invalid_subpart_length(text, i);
      ++count;
    }
  }
  if (replaced) *replaced = count;
  return out;
}

}  // namespace mnemo::lsp
