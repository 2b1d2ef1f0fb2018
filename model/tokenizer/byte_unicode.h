// GPT-2's bytes_to_unicode: the bijection between the 256 byte values and 256 printable
// Unicode characters that byte-level BPE vocabularies are written in (byte 0x20 is "Ġ",
// 0x0A is "Ċ"). The tokenizer works on byte values directly and needs this table only to
// read vocabulary texts and to give tokens their bytes back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mnemo::model {

/// The code point that stands for `byte` in vocabulary texts.
std::uint32_t byte_to_codepoint(std::uint8_t byte);

/// That code point as UTF-8 (one or two bytes).
const std::string& byte_to_utf8(std::uint8_t byte);

/// The byte that `codepoint` stands for; nullopt for code points outside the table.
std::optional<std::uint8_t> codepoint_to_byte(std::uint32_t codepoint);

/// `bytes` written in the byte-level alphabet (what a vocabulary entry looks like).
std::string bytes_to_vocab_text(std::string_view bytes);

/// The bytes a vocabulary text stands for. Characters outside the table (and invalid UTF-8)
/// are copied unchanged, so every text has an answer.
std::string vocab_text_to_bytes(std::string_view text);

/// Decodes one UTF-8 sequence at `text[pos]`: the code point and the sequence length, or
/// nullopt when the bytes there are not a valid, shortest-form sequence.
struct Utf8Char {
  std::uint32_t codepoint = 0;
  std::size_t length = 0;
};
std::optional<Utf8Char> decode_utf8(std::string_view text, std::size_t pos);

}  // namespace mnemo::model
