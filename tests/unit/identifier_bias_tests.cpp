// Identifier-aware decoding (model/decoding/identifier_bias.h): which next tokens are
// preferred while an identifier is being written, and the bias steering generate() and
// beam_search() to a known identifier the model alone would miss. Token healing
// (model/decoding/token_healing.h): the generation writes the typed word again first.
#include "model/decoding/identifier_bias.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/decoding/beam_search.h"
#include "model/decoding/generate.h"
#include "model/decoding/token_healing.h"
#include "tests/support/fake_language_model.h"

namespace mnemo::model {
namespace {

using testing::FakeSession;
using testing::FakeTokenizer;
using testing::ScriptedLogits;

const std::vector<std::string> kPieces = {"z", "p", "al", "al_count", "em", "x", ";", "al;", " "};

/// The pieces the bias prefers after `before` + `generated`, and that each gets `boost`.
std::set<std::string> preferred(const std::string& before, const std::string& generated) {
  const FakeTokenizer tokenizer(kPieces);
  const TokenIdentifierTable table(tokenizer);
  const KnownIdentifiers known({"total", "total_count", "totem", "total"});
  const LogitBias bias = identifier_bias(table, {&known}, before, 2.5f);
  std::vector<std::pair<TokenId, float>> add;
  bias(generated, add);
  std::set<std::string> out;
  for (const auto& [id, boost] : add) {
    EXPECT_EQ(boost, 2.5f);
    out.insert(kPieces[static_cast<std::size_t>(id)]);
  }
  return out;
}

TEST(IdentifierBias, InsideAnIdentifierTokensTowardAKnownOneArePreferred) {
  // "tot": on the way to total, total_count and totem; ";" would end it unknown.
  EXPECT_EQ(preferred("  return tot", ""), (std::set<std::string>{"al", "al_count", "em", "al;"}));
  // The generation continues the document's identifier.
  EXPECT_EQ(preferred("  return t", "ot"), (std::set<std::string>{"al", "al_count", "em", "al;"}));
  // "total" is known: ending it (";", " ") is preferred; no piece goes on to total_count.
  EXPECT_EQ(preferred("  return tot", "al"), (std::set<std::string>{";", " "}));
}

TEST(IdentifierBias, OutsideAKnownIdentifierNothingIsPreferred) {
  EXPECT_TRUE(preferred("  return ", "").empty());          // not inside an identifier
  EXPECT_TRUE(preferred("  return x", "").empty());         // no known one starts with x
  EXPECT_TRUE(preferred("  x = 12", "").empty());           // a number
  EXPECT_TRUE(preferred("  return tot", "al; f").empty());  // a new identifier, unknown
}

TEST(IdentifierBias, AnIdentifierKnownToAnyOfTheSetsCounts) {
  const FakeTokenizer tokenizer(kPieces);
  const TokenIdentifierTable table(tokenizer);
  const KnownIdentifiers repository({"totem"}), document({"total"});
  std::vector<std::pair<TokenId, float>> add;
  identifier_bias(table, {&repository, &document}, "tot", 1.0f)("", add);
  std::set<std::string> pieces;
  for (const auto& [id, boost] : add) pieces.insert(kPieces[static_cast<std::size_t>(id)]);
  EXPECT_EQ(pieces, (std::set<std::string>{"al", "em", "al;"}));  // total, totem, total;
}

TEST(IdentifierBias, TheIdentifiersOfATextSkipNumbersAndPunctuation) {
  const KnownIdentifiers words = identifiers_of("int total_2 = 12 + x1;\n  caf\xc3\xa9(total_2);");
  EXPECT_EQ(words.size(), 4u);  // int, total_2, x1, café
  EXPECT_TRUE(words.contains("total_2") && words.contains("x1") && words.contains("caf\xc3\xa9"));
  EXPECT_FALSE(words.contains("12"));
}

TEST(IdentifierBias, KnownIdentifiersAnswerPrefixAndWholeWordQuestions) {
  const KnownIdentifiers known({"beta", "alpha", "alphabet", "beta"});
  EXPECT_EQ(known.size(), 3u);
  EXPECT_TRUE(known.has_prefix("alph"));
  EXPECT_TRUE(known.has_prefix(""));
  EXPECT_FALSE(known.has_prefix("alphas"));
  EXPECT_TRUE(known.contains("alpha"));
  EXPECT_FALSE(known.contains("alph"));
}

/// After the prompt the model prefers "x" (logit 1) to "al" (0); after "al", ";" is likeliest.
struct Scene {
  Scene()
      : tokenizer(kPieces),
        script(std::make_shared<ScriptedLogits>(kPieces.size())),
        session(script, 64),
        table(tokenizer),
        known({"total"}) {
    std::vector<float> first(kPieces.size(), -5.0f);
    first[5] = 1.0f;  // x
    first[2] = 0.0f;  // al
    script->after({1}, first);
    std::vector<float> second(kPieces.size(), -5.0f);
    second[6] = 1.0f;  // ;
    script->after({1, 2}, second);
    script->after({1, 5}, second);
  }
  FakeTokenizer tokenizer;
  std::shared_ptr<ScriptedLogits> script;
  FakeSession session;
  TokenIdentifierTable table;
  KnownIdentifiers known;
};

TEST(IdentifierBias, SteersGreedyDecodingToTheKnownIdentifier) {
  Scene unbiased;
  GenerationRequest request;
  request.max_tokens = 2;
  auto plain = generate(unbiased.session, unbiased.tokenizer, {1}, request);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain.value().text, "x;");

  Scene biased;
  request.bias = identifier_bias(biased.table, {&biased.known}, "return tot", 2.0f);
  auto steered = generate(biased.session, biased.tokenizer, {1}, request);
  ASSERT_TRUE(steered) << steered.error().message;
  EXPECT_EQ(steered.value().text, "al;");
  // The log-probabilities are the biased distribution's: "al" has logit 0 + 2 against
  // "x" at 1, "al;" at -5 + 2 and five more at -5.
  const double normalizer =
      std::log(std::exp(2.0) + std::exp(1.0) + std::exp(-3.0) + 6 * std::exp(-5.0));
  EXPECT_NEAR(steered.value().token_logprobs[0], 2.0 - normalizer, 1e-5);
}

TEST(IdentifierBias, SteersBeamSearchToTheKnownIdentifier) {
  Scene s;
  BeamSearchRequest request;
  request.beam_width = 2;
  request.max_tokens = 2;
  request.bias = identifier_bias(s.table, {&s.known}, "return tot", 2.0f);
  auto found = beam_search(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_FALSE(found.value().empty());
  EXPECT_EQ(found.value()[0].text, "al;");
}

/// The pieces `require_text(text)` leaves possible after `generated`.
std::set<std::string> allowed(const std::string& text, const std::string& generated) {
  std::vector<std::string> pieces = kPieces;
  pieces.push_back("");  // a token of no bytes, as end of text decodes
  const FakeTokenizer tokenizer(pieces);
  const TokenIdentifierTable table(tokenizer);
  std::vector<std::pair<TokenId, float>> add;
  require_text(table, text)(generated, add);
  std::set<std::string> out(pieces.begin(), pieces.end());
  for (const auto& [id, addition] : add) {
    EXPECT_LT(addition, -1e29f);
    out.erase(pieces[static_cast<std::size_t>(id)]);
  }
  return out;
}

TEST(TokenHealing, TheGenerationMustFirstWriteTheTypedBytesInAnyPieces) {
  // "al" typed: a piece of it ("al"), or one that starts with all of it ("al_count", "al;").
  EXPECT_EQ(allowed("al", ""), (std::set<std::string>{"al", "al_count", "al;"}));
  // "al_c" typed, "al" written: what remains is "_c"; no piece starts so.
  EXPECT_EQ(allowed("al_c", ""), (std::set<std::string>{"al", "al_count"}));
  EXPECT_TRUE(allowed("al_c", "al").empty());
  // Written: anything goes, end of text too.
  EXPECT_EQ(allowed("al", "al").size(), kPieces.size() + 1);
  EXPECT_EQ(allowed("", "").size(), kPieces.size() + 1);
}

TEST(TokenHealing, CombinedWithTheIdentifierBiasBothApply) {
  Scene s;
  GenerationRequest request;
  request.max_tokens = 2;
  // The model prefers "x"; the typed "al" must come first, then the bias ends "total".
  request.bias = combine(require_text(s.table, "al"),
                         identifier_bias(s.table, {&s.known}, "return tot", 2.0f));
  auto healed = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(healed) << healed.error().message;
  EXPECT_EQ(healed.value().text, "al;");
  EXPECT_FALSE(combine(nullptr, nullptr));
}

}  // namespace
}  // namespace mnemo::model
