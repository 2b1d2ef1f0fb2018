#include "lsp/utf8.h"

#include <cstdint>

namespace mnemo::lsp {
namespace {

/// What a lead byte promises (RFC 3629): the sequence length, and the range allowed for the
/// second byte, which excludes overlongs, surrogates and code points above U+10FFFF.
/// Length 0 for a byte that cannot start a sequence.
struct LeadByte {
  std::size_t length = 0;
  std::uint8_t second_min = 0x80;
  std::uint8_t second_max = 0xBF;
};

LeadByte lead_byte(std::uint8_t b0) {
  if (b0 < 0x80) return {1};
  if (b0 >= 0xC2 && b0 <= 0xDF) return {2};
  if (b0 >= 0xE0 && b0 <= 0xEF)
    return {3, static_cast<std::uint8_t>(b0 == 0xE0 ? 0xA0 : 0x80),
            static_cast<std::uint8_t>(b0 == 0xED ? 0x9F : 0xBF)};
  if (b0 >= 0xF0 && b0 <= 0xF4)
    return {4, static_cast<std::uint8_t>(b0 == 0xF0 ? 0x90 : 0x80),
            static_cast<std::uint8_t>(b0 == 0xF4 ? 0x8F : 0xBF)};
  return {0};
}

/// How many bytes from text[i] continue the sequence its lead byte started (counting the
/// lead byte), stopping at the first byte that does not fit.
std::size_t matching_prefix(std::string_view text, std::size_t i, const LeadByte& lead) {
  std::size_t k = 1;
  for (; k < lead.length && i + k < text.size(); ++k) {
    const auto b = static_cast<std::uint8_t>(text[i + k]);
    if (k == 1 ? (b < lead.second_min || b > lead.second_max) : (b & 0xC0) != 0x80) break;
  }
  return k;
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
  const LeadByte lead = lead_byte(b0);
  return lead.length == 0 ? 1 : matching_prefix(text, i, lead);
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const LeadByte lead = lead_byte(static_cast<std::uint8_t>(text[i]));
  if (lead.length <= 1) return lead.length;
  return matching_prefix(text, i, lead) == lead.length ? lead.length : 0;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence_length(text, i);
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
    const std::size_t n = utf8_sequence_length(text, i);
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
