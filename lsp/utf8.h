// UTF-8 validation and repair for text arriving from clients. JSON-RPC bodies must be
// UTF-8, but a client bug or a file with stray bytes must not cost the user an edit:
// invalid sequences are replaced by U+FFFD and the message is processed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mnemo::lsp {

/// Length of the valid UTF-8 sequence starting at text[i] (1 to 4), or 0 if the bytes there
/// are not one (RFC 3629: no overlongs, surrogates, or code points above U+10FFFF).
/// Precondition: i < text.size().
std::size_t utf8_sequence_length(std::string_view text, std::size_t i);

bool is_valid_utf8(std::string_view text);

/// Replaces each maximal invalid subsequence (Unicode's "substitution of maximal subparts")
/// with U+FFFD. An encoded UTF-16 surrogate (WTF-8, as written by clients for a lone
/// surrogate) becomes a single U+FFFD so that it still counts as one UTF-16 unit, keeping
/// positions aligned with the client. Returns the number of replacements via `replaced`.
std::string repair_utf8(std::string_view text, std::size_t* replaced = nullptr);

}  // namespace mnemo::lsp
