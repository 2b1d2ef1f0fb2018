// Completion by the model (server/completer/model_completer.h): where a suggestion stops, that the
// document's own file is left out of the memory while it is the prompt (and put back),
// and distinct alternatives. The tiny fixture model's weights are random, so the tests
// compare runs with each other rather than with expected text.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "indexer/memory_encoder.h"
#include "indexer/repository_memory.h"
#include "model/memory/exact/exact_tier.h"
#include "model/model_config.h"
#include "model/model_loader.h"
#include "model/transformer_session.h"
#include "server/completer/completion_prompt.h"
#include "server/completer/held_names.h"
#include "server/completer/model_completer.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;

model::LoadedModel tiny_qwen2() {
  auto loaded = model::load_model(
      (fs::path(MNEMO_FIXTURES_DIR) / "tiny-models/tiny-qwen2.F32.gguf").string());
  EXPECT_TRUE(loaded) << loaded.error().message;
  return loaded ? loaded.value() : model::LoadedModel{};
}

const char* kDocument = "int total(int a, int b) {\n  return a + b;\n}\nint main() {\n  return tot";
const char* kOther = "int totally_unrelated_name(int x) { return x * 3; }\n";

/// A memory of `files` (path, text) as the indexer makes it: small blocks, every block
/// retrieved, so that every file can matter.
std::unique_ptr<indexer::RepositoryMemory> memory_of(
    const model::LoadedModel& m, const std::vector<std::pair<std::string, std::string>>& files) {
  auto out = std::make_unique<indexer::RepositoryMemory>();
  out->layers = model::memory_layers(m.transformer->config());
  indexer::MemoryEncoder encoder(m.transformer, m.tokenizer, out->layers, 256, 64);
  auto config = model::memory::exact_tier_config(m.transformer->config(), out->layers.size());
  config.block_size = 8;
  config.top_k = 64;
  out->tier = std::make_unique<model::memory::ExactTier>(config);
  for (const auto& [path, text] : files) {
    const indexer::FileMemory fm = encoder.encode(text);
    out->tier->add_file(path, fm.keys, fm.values);
  }
  return out;
}

/// `text` must outlive the request (the fixtures' literals do).
CompletionRequest request_at_end(std::string_view text) {
  CompletionRequest r;
  r.text = text;
  r.cursor = text.size();
  r.max_tokens = 8;
  return r;
}

TEST(InlineStopRules, CodeBeforeTheCursorEndsTheSuggestionWithItsLine) {
  const std::string text = "  return tot";
  const model::StopRules rules = inline_stop_rules(text, text.size());
  EXPECT_TRUE(rules.end_of_line);
  EXPECT_FALSE(rules.balanced_brackets);
  EXPECT_TRUE(rules.end_of_generation);
}

TEST(InlineStopRules, OnAFreshLineTheSuggestionRunsToTheEndOfTheBlock) {
  const std::string text = "int f() {\n  \t";
  const model::StopRules rules = inline_stop_rules(text, text.size());
  EXPECT_FALSE(rules.end_of_line);
  EXPECT_TRUE(rules.balanced_brackets);
  EXPECT_EQ(rules.stop_strings, std::vector<std::string>{"\n\n"});
  EXPECT_TRUE(inline_stop_rules("", 0).balanced_brackets);  // an empty document
}

TEST(HeldNames, AMemberAccessWeighsItsPriorByTheMemberWeightAndOtherSitesByTheirOwn) {
  CompletionSettings settings;
  settings.name_prior_weight = 1.5f;
  settings.member_prior_weight = 3.0f;
  CursorNames names;
  names.names.resize(2);
  names.names[0].name = "size";
  names.names[1].name = "data";
  names.site.kind = SiteKind::kMember;
  const HeldNames member = held_names(names, settings);
  EXPECT_TRUE(member.slot.required);
  EXPECT_EQ(member.slot.prior_weight, 3.0f);
  ASSERT_NE(member.names, nullptr);
  names.site.kind = SiteKind::kScope;
  const HeldNames scope = held_names(names, settings);
  EXPECT_FALSE(scope.slot.required);
  EXPECT_EQ(scope.slot.prior_weight, 1.5f);
  names.site.kind = SiteKind::kDeclaration;
  EXPECT_EQ(held_names(names, settings).names, nullptr);  // a new name stays free
}

TEST(ModelCompleter, TheDocumentsOwnFileIsLeftOutOfTheMemoryWhileItIsThePrompt) {
  const model::LoadedModel m = tiny_qwen2();
  ASSERT_TRUE(m.transformer);
  // The memory holds an old version of the document's file beside another file.
  ModelCompleter with_both(
      m, memory_of(m, {{"main.cpp", "int stale() { return 0; }\n"}, {"other.cpp", kOther}}));
  ModelCompleter with_other(m, memory_of(m, {{"other.cpp", kOther}}));
  ModelCompleter with_none(m, nullptr);

  CompletionRequest r = request_at_end(kDocument);
  r.memory_file = "main.cpp";
  const auto left_out = with_both.complete(r);
  ASSERT_TRUE(left_out) << left_out.error().message;
  EXPECT_TRUE(left_out.value().read_memory);
  EXPECT_TRUE(left_out.value().fill_in_middle);
  // ... it is back for the next request.
  EXPECT_TRUE(with_both.memory()->tier->contains("main.cpp"));

  r.memory_file.clear();
  const auto other_only = with_other.complete(r);
  const auto kept = with_both.complete(r);
  const auto alone = with_none.complete(r);
  ASSERT_TRUE(other_only && kept && alone);
  ASSERT_FALSE(left_out.value().suggestions.empty());
  ASSERT_FALSE(other_only.value().suggestions.empty());
  EXPECT_EQ(left_out.value().suggestions[0].text, other_only.value().suggestions[0].text);
  EXPECT_NEAR(left_out.value().suggestions[0].score, other_only.value().suggestions[0].score, 1e-4);
  // The memory is read: with it, the same prompt is scored otherwise than without it.
  EXPECT_FALSE(alone.value().read_memory);
  EXPECT_NE(kept.value().suggestions[0].score, alone.value().suggestions[0].score);
}

TEST(ModelCompleter, AlternativesAreDistinctAndBestFirst) {
  const model::LoadedModel m = tiny_qwen2();
  ASSERT_TRUE(m.transformer);
  ModelCompleter completer(m, nullptr);
  CompletionRequest r = request_at_end(kDocument);
  r.alternatives = 3;
  const auto result = completer.complete(r);
  ASSERT_TRUE(result) << result.error().message;
  const auto& s = result.value().suggestions;
  ASSERT_GE(s.size(), 2u);
  EXPECT_LE(s.size(), 3u);
  for (std::size_t i = 1; i < s.size(); ++i) {
    EXPECT_GE(s[i - 1].score, s[i].score);
    for (std::size_t j = 0; j < i; ++j) EXPECT_NE(s[i].text, s[j].text);
  }
}

TEST(ModelCompleter, TypingReusesTheCachedPromptUpToTheCursor) {
  const model::LoadedModel m = tiny_qwen2();
  ASSERT_TRUE(m.transformer);
  ModelCompleter completer(m, nullptr);
  std::string text = "int total(int a, int b) {\n  return a + b;\n}\nint main() {\n  return ";
  const std::string after = "\n}\n";
  CompletionRequest r;
  r.max_tokens = 4;
  for (const char c : std::string("to")) {
    text += c;
    const std::string document = text + after;
    r.text = document;
    r.cursor = text.size();
    const auto result = completer.complete(r);
    ASSERT_TRUE(result) << result.error().message;
    if (c == 't') continue;  // the first request has nothing cached
    // The word being typed and the space before it are left out of the prompt (token
    // healing), so the prompt is the last one's: all of it but its last token comes from
    // the cache.
    EXPECT_EQ(result.value().prompt_tokens_cached, result.value().prompt_tokens - 1);
  }
  // After a space the word is part of the prefix (the space is healed): the prompt is
  // [fim_prefix] prefix [fim_suffix] suffix [fim_middle], so all of the prefix but its last
  // token or two (re-tokenized) comes from the cache, and the suffix runs again.
  text += " ";
  const std::string document = text + after;
  r.text = document;
  r.cursor = text.size();
  const auto result = completer.complete(r);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_GT(result.value().prompt_tokens_cached, 10u);
  EXPECT_LT(result.value().prompt_tokens_cached + 2, result.value().prompt_tokens);
}

TEST(ModelCompleter, TheWordBeingTypedAndTheBlanksBeforeItAreLeftOutForTheModelToWriteAgain) {
  const model::LoadedModel m = tiny_qwen2();
  ASSERT_TRUE(m.transformer);
  ModelCompleter completer(m, nullptr);
  const std::string text = "int main() {\n  return zqxv";
  const std::size_t cursor = text.size();
  CompletionRequest request = request_at_end(text);
  auto healed = completer.complete(request);
  ASSERT_TRUE(healed) << healed.error().message;
  // The prompt stops before " zqxv", which the generation wrote first and which was taken
  // off (TheIdentifierBiasSteers... shows what follows it: the rest of a known name).
  EXPECT_EQ(healed.value().prompt_tokens,
            completion_prompt(*m.tokenizer, text, cursor, {}, 5).tokens.size());
  EXPECT_NE(healed.value().prompt_tokens,
            completion_prompt(*m.tokenizer, text, cursor, {}, 4).tokens.size());
  // After a space or tab there is no word, and the blanks alone are healed: the tokenizer
  // joins a space to the word after it, so a prompt ending in one ends where it never does.
  const std::string spaced = text + " \t ";
  auto after_space = completer.complete(request_at_end(spaced));
  ASSERT_TRUE(after_space) << after_space.error().message;
  EXPECT_EQ(after_space.value().prompt_tokens,
            completion_prompt(*m.tokenizer, spaced, spaced.size(), {}, 3).tokens.size());
  // Blanks before the line's start stay: the line break and what comes before it are
  // prompt.
  const std::string indented = "int main() {\n    ";
  auto at_indent = completer.complete(request_at_end(indented));
  ASSERT_TRUE(at_indent) << at_indent.error().message;
  EXPECT_EQ(at_indent.value().prompt_tokens,
            completion_prompt(*m.tokenizer, indented, indented.size(), {}, 4).tokens.size());
}

TEST(ModelCompleter, AnEmptyDocumentOrNoTokensAskedForGivesNoSuggestion) {
  const model::LoadedModel m = tiny_qwen2();
  ASSERT_TRUE(m.transformer);
  ModelCompleter completer(m, nullptr);
  CompletionRequest r = request_at_end(kDocument);
  r.max_tokens = 0;
  const auto none = completer.complete(r);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none.value().suggestions.empty());
}

TEST(ModelCompleter, TheIdentifierBiasSteersASuggestionToAKnownIdentifier) {
  const model::LoadedModel m = tiny_qwen2();
  ASSERT_TRUE(m.transformer);
  ModelCompleter completer(m, nullptr);
  const std::string text = "int main() {\n  return zq";
  CompletionRequest request = request_at_end(text);
  request.max_tokens = 12;
  auto plain = completer.complete(request);
  ASSERT_TRUE(plain) << plain.error().message;
  ASSERT_FALSE(plain.value().suggestions.empty());
  EXPECT_NE(plain.value().suggestions[0].text.rfind("xv_unique", 0), 0u);  // random weights

  // A boost that outweighs the random model: the known name is spelled out, then ended.
  completer.set_identifiers(
      std::make_shared<const model::KnownIdentifiers>(std::vector<std::string>{"zqxv_unique"}),
      50.0f);
  auto steered = completer.complete(request);
  ASSERT_TRUE(steered) << steered.error().message;
  ASSERT_FALSE(steered.value().suggestions.empty());
  const std::string& suggestion = steered.value().suggestions[0].text;
  EXPECT_EQ(suggestion.rfind("xv_unique", 0), 0u) << ::testing::PrintToString(suggestion);
  EXPECT_TRUE(suggestion.size() == 9 || !std::isalnum(static_cast<unsigned char>(suggestion[9])))
      << suggestion;

  completer.set_identifiers(nullptr, 0);  // off again
  auto again = completer.complete(request);
  ASSERT_TRUE(again);
  EXPECT_EQ(again.value().suggestions[0].text, plain.value().suggestions[0].text);

  // The document's own names count too; the one being typed ("zq") does not.
  completer.set_identifiers(
      std::make_shared<const model::KnownIdentifiers>(std::vector<std::string>{}), 50.0f);
  const std::string with_local = "int zqxv_local = 1;\nint main() {\n  return zq";
  auto local = completer.complete(request_at_end(with_local));
  ASSERT_TRUE(local);
  ASSERT_FALSE(local.value().suggestions.empty());
  EXPECT_EQ(local.value().suggestions[0].text.rfind("xv_local", 0), 0u)
      << ::testing::PrintToString(local.value().suggestions[0].text);
}

}  // namespace
}  // namespace mnemo::server
