// Code completion by the model at a cursor: the prompt from the document
// (completion_prompt.h), decoding that reads the repository's long-term memory, and the
// rules that end a suggestion. The core of `mnemo complete`; the language server's engine
// wraps the same calls.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "indexer/repository_memory.h"
#include "model/decoding/identifier_bias.h"
#include "model/decoding/name_constraint.h"
#include "model/decoding/stop_rules.h"
#include "model/language_model.h"
#include "model/model_loader.h"
#include "model/result.h"
#include "model/transformer_session.h"
#include "server/completer/completion_prompt.h"

namespace mnemo::server {

struct CompletionRequest {
  std::string_view text;   ///< the document as the editor has it
  std::size_t cursor = 0;  ///< byte offset into text
  /// The document's file in the memory (relative to the repository root, as indexed):
  /// read as `text` in the prompt, so its stored segment is left out of the memory while
  /// the request runs. Empty: nothing is left out.
  std::string memory_file;
  std::size_t max_tokens = 48;   ///< 0: nothing written (with `names`, they are only ranked)
  std::size_t alternatives = 1;  ///< distinct suggestions wanted (beam search when > 1)
  /// Replaces inline_stop_rules(text, cursor) (a benchmark's fixed length: no rule).
  std::optional<model::StopRules> stop;
  /// The names the identifier at the cursor is held to (cursor_names.h), and how: the
  /// suggestions then begin with the best of them by the model's log-probability plus
  /// their prior (name_constraint.h). Null, or a word typed that begins none of them (a new
  /// name): the model writes freely.
  std::shared_ptr<const model::NameSet> names;
  model::NameSlot slot;
  /// Names ranked before the suggestions are written (the beam that ranks them): at least
  /// `alternatives`. With one suggestion and 1 here, a single held greedy generation both
  /// chooses the name and writes the suggestion (what an automatic inline request needs).
  std::size_t ranked_names = 1;
  /// Text the prompt carries before the document's prefix, within the prefix's budget (the
  /// declarations the suggestion is likely to need: declaration_block.h). Empty: none.
  std::string context;
};

/// A name the identifier at the cursor may be, as the model ranks it.
struct RankedName {
  std::string name;
  double score = 0;  ///< log-probability under the held, prior-weighted model
};

struct Suggestion {
  std::string text;  ///< what is inserted at the cursor
  double score = 0;  ///< the model's log-probability of it (higher is likelier)
};

struct CompletionResult {
  std::vector<Suggestion> suggestions;  ///< best first, distinct
  std::size_t prompt_tokens = 0;
  std::size_t prompt_tokens_cached = 0;  ///< of them, reused from the previous request's cache
  bool fill_in_middle = false;
  bool read_memory = false;
  /// With CompletionRequest::names: the names ranked as if one had to be written, best first
  /// (the menu's order; the suggestions that begin with a name begin with these, in this
  /// order). Empty when the names did not apply.
  std::vector<RankedName> names;
};

/// Single-threaded: one request at a time (it owns one session and may change its memory).
class ModelCompleter {
 public:
  /// `memory` may be null (no memory: the document alone); the caller may share it (and
  /// change it between requests, never during one).
  ModelCompleter(model::LoadedModel model, std::shared_ptr<indexer::RepositoryMemory> memory,
                 PromptBudget budget = {});

  model::Result<CompletionResult, model::ModelError> complete(
      const CompletionRequest& request, const model::CancelCheck& cancelled = {});

  /// While a suggestion writes an identifier, tokens on the way to one of `repository`'s or
  /// the document's own get `boost` added to their logits (model/decoding/identifier_bias.h);
  /// a null set or a boost of 0 turns this off. Not while a request runs.
  void set_identifiers(std::shared_ptr<const model::KnownIdentifiers> repository, float boost);
  /// The share of each next token the memory's votes get (model::MemoryReader::
  /// next_token_weight); 0, until set, the model's alone (CompletionSettings::
  /// memory_next_token_weight). Not while a request runs.
  void set_next_token_weight(float weight);

  const indexer::RepositoryMemory* memory() const { return memory_.get(); }
  /// The prompt's budgets as given, shrunk to fit the model's context when they did not.
  const PromptBudget& budget() const { return budget_; }

 private:
  /// Reads the memory without `memory_file` (left out by the caller) from now on, starting
  /// the cache again when another file was left out before.
  model::Result<bool, model::ModelError> read_memory_without(const std::string& memory_file);
  /// The names the identifier at the cursor may be, best first: a beam search of `width`
  /// held to `names` that ends each hypothesis with its identifier. `healed`: the bytes the
  /// prompt left out, which every hypothesis writes first.
  model::Result<std::vector<RankedName>, model::ModelError> rank_names(
      const model::Tokens& prompt, const std::string& healed, const model::NameSet& names,
      const model::NameSlot& slot, std::size_t width, std::size_t max_tokens,
      const model::CancelCheck& cancelled);
  /// Every token's bytes, for the biases (made on first use).
  const model::TokenIdentifierTable& token_table();

  model::LoadedModel model_;
  std::shared_ptr<indexer::RepositoryMemory> memory_;
  std::shared_ptr<const model::KnownIdentifiers> identifiers_;
  float identifier_boost_ = 0;
  float next_token_weight_ = 0;
  std::unique_ptr<model::TokenIdentifierTable> token_table_;  ///< token_table()'s
  PromptBudget budget_;
  model::TransformerSession session_;
  std::string memory_file_;  ///< the file left out of the memory while session_ was filled
};

/// Where a suggestion at `cursor` ends: on a line that already has code before the cursor,
/// at the end of that line; on a fresh line, at a blank line or where the text closes a
/// bracket it did not open (the end of the block). Always at the model's end of generation.
model::StopRules inline_stop_rules(std::string_view text, std::size_t cursor);

}  // namespace mnemo::server
