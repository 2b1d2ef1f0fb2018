#include "model/tokenizer/byte_unicode.h"

#include <array>

namespace mnemo::model {
namespace {

struct Tables {
  std::array<std::uint32_t, 256> codepoint{};
  std::array<std::string, 256> utf8;
  std::array<std::int16_t, 324> byte_of{};  // code points 0..323 cover the whole table
};

std::string encode_utf8(std::uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {  // the table only reaches U+0143
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

Tables make_tables() {
  Tables t;
  t.byte_of.fill(-1);
  auto printable = [](int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  std::uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const std::uint32_t cp = printable(b) ? static_cast<std::uint32_t>(b) : next++;
    t.codepoint[static_cast<std::size_t>(b)] = cp;
    t.utf8[static_cast<std::size_t>(b)] = encode_utf8(cp);
    t.byte_of[cp] = static_cast<std::int16_t>(b);
  }
  return t;
}

const Tables& tables() {
  static const Tables t = make_tables();
  return t;
}

}  // namespace

std::uint32_t byte_to_codepoint(std::uint8_t byte) {
  return tables().codepoint[byte];
}

const std::string& byte_to_utf8(std::uint8_t byte) {
  return tables().utf8[byte];
}

std::optional<std::uint8_t> codepoint_to_byte(std::uint32_t codepoint) {
  const Tables& t = tables();
  if (codepoint >= t.byte_of.size() || t.byte_of[codepoint] < 0) return std::nullopt;
  return static_cast<std::uint8_t>(t.byte_of[codepoint]);
}

std::string bytes_to_vocab_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) out += byte_to_utf8(static_cast<std::uint8_t>(c));
  return out;
}

std::string vocab_text_to_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::optional<Utf8Char> ch = decode_utf8(text, pos);
    if (!ch) {
      out.push_back(text[pos++]);
      continue;
    }
    if (const std::optional<std::uint8_t> byte = codepoint_to_byte(ch->codepoint)) {
      out.push_back(static_cast<char>(*byte));
    } else {
      out.append(text.substr(pos, ch->length));
    }
    pos += ch->length;
  }
  return out;
}

std::optional<Utf8Char> decode_utf8(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return std::nullopt;
  const auto at = [&](std::size_t i) { return static_cast<std::uint8_t>(text[pos + i]); };
  const std::uint8_t lead = at(0);
  if (lead < 0x80) return Utf8Char{lead, 1};
  std::size_t length = 0;
  std::uint32_t cp = 0;
  std::uint32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1Fu, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0Fu, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07u, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (pos + length > text.size()) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    if ((at(i) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (at(i) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  return Utf8Char{cp, length};
}

}  // namespace mnemo::model
