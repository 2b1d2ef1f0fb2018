// What a user configures about completion, and where it comes from. The
// layers, each overriding the one before: the built-in defaults, the repository's
// .mnemo/config.json, the client's LSP initializationOptions, and the flags given to the
// command. Every source has the same JSON shape, so a setting has one name everywhere
// (README.md, "Configuration"; docs/protocol.md, "Settings"):
//
//   {"model": PATH,
//    "memory": {"window": TOKENS, "topK": BLOCKS, "budgetMB": MB, "nextTokenWeight": SHARE,
//               "include": [GLOB...], "exclude": [GLOB...]},
//    "prompt": {"prefixTokens": TOKENS, "suffixTokens": TOKENS, "declarationTokens": TOKENS},
//    "names": {"hold": BOOL, "priorWeight": WEIGHT},
//    "inline": {"debounceMs": MS, "identifierBoost": LOGITS}}
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lsp/result.h"

namespace mnemo::server {

struct CompletionSettings {
  /// The model (GGUF file or Hugging Face folder); empty: none, the symbols complete alone.
  /// resolve_settings starts from the built-in model (builtin_model.h); "model": "" turns
  /// it off.
  std::filesystem::path model;
  std::size_t memory_window = 1024;    ///< tokens of context each file is read in
  std::int64_t memory_top_k = 8;       ///< memory blocks each query head reads
  std::uint64_t memory_budget_mb = 0;  ///< the memory's token blocks kept in RAM; 0: all
  /// The share of each next token the memory's votes get (model::MemoryReader::
  /// next_token_weight, kNN-LM's λ; 0.5 measured on the held-out projects,
  /// docs/names-at-the-cursor.md); 0 turns the next-token read off.
  float memory_next_token_weight = 0.5f;
  /// Files the memory reads besides, and never reads, whatever its rule says of code and
  /// data (indexer/memory_content.h): glob patterns over paths relative to the root.
  std::vector<std::string> memory_include, memory_exclude;
  std::size_t prefix_tokens = 1536;  ///< prompt budget before the cursor
  std::size_t suffix_tokens = 512;   ///< and after it
  /// The declarations block's budget (declaration_block.h), taken from the prefix's (at
  /// most half of it); 0: no block.
  std::size_t declaration_tokens = 256;
  /// Whether the identifier a suggestion begins with is held to the names that can go at
  /// the cursor (cursor_names.h, model/decoding/name_constraint.h).
  bool hold_names = true;
  /// λ: how much the names' prior adds to the model's log-probability when they are ranked,
  /// at a member access (after `.`, `->`, `::`) and elsewhere.
  float member_prior_weight = 1.75f;
  float name_prior_weight = 1.0f;
  std::chrono::milliseconds debounce{75};  ///< automatic inline requests wait this long
  /// Added to the logits of tokens on the way to a known identifier while a suggestion writes
  /// one (model/decoding/identifier_bias.h); 0, the default until `mnemo eval` has measured
  /// it, turns it off.
  float identifier_boost = 0;

  bool operator==(const CompletionSettings& other) const;
  bool operator!=(const CompletionSettings& other) const { return !(*this == other); }
};

/// Applies one layer onto `settings`. Unknown keys and values of the wrong type or out of
/// range are skipped and described in the returned list, each naming `source` and the key:
/// a typo must be seen, and must not stop the server. A relative model path is taken from
/// `base_dir`; "~/" from $HOME.
std::vector<std::string> apply_settings(const nlohmann::json& layer, const std::string& source,
                                        const std::filesystem::path& base_dir,
                                        CompletionSettings& settings);

/// `settings` in the shape apply_settings reads (the model as an absolute path): what is in
/// effect, for `mnemo doctor` and the logs.
nlohmann::json settings_json(const CompletionSettings& settings);

struct SettingsFileError {
  std::string message;  ///< names the file and what is wrong with it
};

/// <root>/.mnemo/config.json: nothing when there is none; an error when it cannot be read or
/// is not a JSON object (comments are allowed).
Result<std::optional<nlohmann::json>, SettingsFileError> read_repository_settings(
    const std::filesystem::path& root);

/// The settings for a repository: the defaults (with the built-in model, when this build
/// has one), then its config file, then `client`
/// (initializationOptions; null for none), then `flags` (the command line's layer, its
/// paths already absolute). `problems` receives what apply_settings and the file reported.
CompletionSettings resolve_settings(const std::filesystem::path& root, const nlohmann::json& client,
                                    const nlohmann::json& flags,
                                    std::vector<std::string>& problems);

}  // namespace mnemo::server
