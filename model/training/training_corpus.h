// The training data: a corpus folder of projects (scripts/make-corpus.py lays it
// out), each project's files in the order the memory accumulates them (headers first, so a
// source is trained on with the headers it uses already in memory), and the windows each
// file is trained on: plain next-token windows, or fill-in-the-middle ones in the PSM form
// the server's prompts use (model/decoding/fim_prompt.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "model/token.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::model::training {

struct Project {
  std::string name;                ///< its folder's name
  std::vector<std::string> files;  ///< relative to the project folder, headers first
};

/// The projects under `root` (its folders, by name) with their C and C++ files of at most
/// 1 MiB (like the indexer). Projects without such files are left out.
std::vector<Project> list_projects(const std::filesystem::path& root);

struct FimTokens {
  TokenId prefix, suffix, middle, end;
  FimLayout layout = FimLayout::kPrefixSuffixMiddle;
};
/// The tokenizer's fill-in-the-middle markers, end of text and layout; nothing when it lacks
/// one of the tokens.
std::optional<FimTokens> fim_tokens(const Tokenizer& tokenizer);

/// A file's tokens with `end` (end of text) appended, and its size in bytes; a file that
/// cannot be read gives `end` alone and 0 bytes.
struct FileTokens {
  Tokens tokens;
  std::int64_t bytes = 0;
};
FileTokens file_tokens(const Tokenizer& tokenizer, const std::filesystem::path& path, TokenId end);
/// The same for a file's text, read by the caller.
FileTokens text_tokens(const Tokenizer& tokenizer, const std::string& text, TokenId end);
/// A file's bytes (empty when it cannot be read).
std::string read_text(const std::filesystem::path& path);

/// `text` with some of its names made unique: each identifier of at least 3 characters
/// that occurs twice or more (C and C++ keywords and preprocessor directives aside) is, with
/// probability `share`, followed by `_` and 4 to 8 random hex digits wherever it occurs,
/// in comments and strings too. A new name's first occurrence cannot be predicted and every
/// later one can be copied exactly: the lesson in copying a whole name (a project's
/// identifiers, a needle's digits) that matching one token back does not pass, since the
/// `_` before the digits follows other tokens elsewhere.
std::string renamed_identifiers(const std::string& text, std::mt19937_64& random, double share);

/// One training sequence of `length` + 1 tokens (inputs are the first `length`, targets the
/// last `length`); `valid` targets count in the loss (the rest is padding).
struct Window {
  Tokens tokens;
  std::int64_t valid = 0;
};

/// The windows of a file's tokens (its end-of-text token appended by the caller): chunks of
/// `length` + 1 tokens every `length`, the last padded with `pad`.
std::vector<Window> plain_windows(const Tokens& tokens, std::int64_t length, TokenId pad);

/// A fill-in-the-middle window: its tokens cut at two points (`a` <= `b`, offsets in [0, n]
/// of the n = length - 3 tokens it keeps) into prefix, middle and suffix, laid out as the
/// tokenizer's prompts are (fim.layout), PSM:
///   <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle <end>
/// or SPM:
///   <fim_prefix> <fim_suffix> suffix <fim_middle> prefix middle <end>
/// so the model learns to write a middle and stop. `source` is a plain window.
Window fim_window(const Window& source, std::int64_t length, const FimTokens& fim, std::int64_t a,
                  std::int64_t b, TokenId pad);

/// A window of a text and the same text again: the first half of the source's real tokens
/// (at most (length + 1) / 2), then those tokens once more, padded to length + 1. The loss on
/// the second copy measures copying from what was just read (held-out in_context_copy). Not
/// a lesson: its repeat always lies half a window back, which attention can find by position.
Window repeated_window(const Window& source, std::int64_t length, TokenId pad);

/// The source window with a slice of its own text (16 to 128 tokens, at most a third of it)
/// copied in again at a random later point, then the rest of the text, cut to length + 1.
/// The lesson in copying code from the context: the copy lies at a random distance behind,
/// so only matching what was just read finds it. A source of under 6 real tokens is
/// returned as it is.
Window inserted_copy_window(const Window& source, std::mt19937_64& random, std::int64_t length,
                            TokenId pad);

/// A window of random tokens, drawn from the first 4096 of `vocab` ids (the `special` ones
/// never): one span of 16 to 128 of them, again and again, each time after a gap of 0 to 64
/// other random tokens; length + 1 tokens in all. Only copying predicts the repeats, and
/// only by matching content: the distance back to the span's last reading changes with
/// every gap. A span repeated at a fixed period (128 once) taught the built-in model to look
/// back 128 positions, which copied such windows perfectly (0.11 nats) and code not at all.
/// `scale` multiplies the span's bounds (at least 4) and the gap's: at 0.25, spans of 4 to 32
/// after gaps of 0 to 16, so every repeat is at most 48 positions on (a small model learns to
/// copy those several times sooner).
/// `alphabet` below 4096 draws the window's tokens from that many ids of those, chosen anew
/// for each window: a token then recurs within the span and the gaps, and matching it alone
/// finds several places, as `_` does in code; matching what came before it tells them apart.
Window random_repeated_window(std::mt19937_64& random, std::int64_t length, std::int64_t vocab,
                              const std::vector<TokenId>& special, double scale = 1.0,
                              std::int64_t alphabet = 4096);

}  // namespace mnemo::model::training
