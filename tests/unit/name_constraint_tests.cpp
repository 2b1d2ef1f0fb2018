// Names held to (model/decoding/name_constraint.h): which next tokens the constraint
// leaves while the identifier at the cursor is written, how it spreads the names' priors
// over their tokens, and decoding held to the names where the model alone writes another.
// The stop rule that ends a text with its first identifier (stop_rules.h) is checked here
// too, since ranking names is what it is for.
#include "model/decoding/name_constraint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/decoding/beam_search.h"
#include "model/decoding/generate.h"
#include "model/decoding/stop_rules.h"
#include "tests/support/fake_language_model.h"

namespace mnemo::model {
namespace {

using testing::FakeSession;
using testing::FakeTokenizer;
using testing::ScriptedLogits;

// Ids:                                   0    1     2     3      4      5     6    7     8
const std::vector<std::string> kPieces = {"", "Ne", "w", "File", "Sync", "(", " ", " Ne", "7",
                                          // 9    10       11     12        13
                                          ";", "NewF", "ile(", "Sy", "nc_all"};

/// What the constraint does to each piece after `generated`: absent = left as it is,
/// "x" = ruled out, else the addition.
std::map<std::string, std::string> effect(const NameSet& names, NameSlot slot,
                                          const std::string& generated) {
  const FakeTokenizer tokenizer(kPieces);
  const TokenIdentifierTable table(tokenizer);
  std::vector<std::pair<TokenId, float>> add;
  name_constraint(table, names, slot)(generated, add);
  std::map<std::string, std::string> out;
  for (const auto& [id, addition] : add) {
    const std::string& piece = kPieces[static_cast<std::size_t>(id)];
    out[piece.empty() ? "<end>" : piece] =
        addition < kRuledOutBelow ? "x" : std::to_string(addition).substr(0, 5);
  }
  return out;
}

std::set<std::string> ruled_out(const NameSet& names, NameSlot slot, const std::string& generated) {
  std::set<std::string> out;
  for (const auto& [piece, what] : effect(names, slot, generated))
    if (what == "x") out.insert(piece);
  return out;
}

TEST(NameSet, AnswersPrefixWholeNameAndBestWeightQuestions) {
  const NameSet names({{"NewFile", -1}, {"Sync", -3}, {"NewFile", -0.5}, {"Sync_all", -2}});
  EXPECT_EQ(names.size(), 3u);  // NewFile once, with its larger weight
  EXPECT_TRUE(names.has_prefix("Ne"));
  EXPECT_TRUE(names.has_prefix(""));
  EXPECT_FALSE(names.has_prefix("Nx"));
  EXPECT_TRUE(names.contains("Sync"));
  EXPECT_FALSE(names.contains("Syn"));
  EXPECT_DOUBLE_EQ(names.weight("NewFile"), -0.5);
  EXPECT_DOUBLE_EQ(names.best_weight("Sy"), -2);  // Sync_all's
  EXPECT_DOUBLE_EQ(names.best_weight(""), -0.5);
  EXPECT_TRUE(std::isinf(names.best_weight("Q")));
  EXPECT_EQ(names.next_bytes(""), "NS");
  EXPECT_EQ(names.next_bytes("Sync"), "_");
  EXPECT_EQ(names.next_bytes("NewFile"), "");
}

TEST(NameConstraint, AtARequiredSlotOnlyTokensOnTheWayToANameRemain) {
  const NameSet names({{"NewFile", 0}, {"Sync_all", 0}});
  NameSlot slot;
  slot.required = true;
  slot.prior_weight = 0;
  // Before anything: "Sync" leads to Sync_all; "(", ";", "7" and the end cannot begin a
  // name; blanks do not begin anything yet; " Ne" begins NewFile after its blank.
  EXPECT_EQ(ruled_out(names, slot, ""),
            (std::set<std::string>{"<end>", "w", "File", "(", "7", ";", "ile(", "nc_all"}));
  // "Sy" written: only "nc_all" goes on (to Sync_all); nothing may end it, since Sy is no
  // name here, not a blank either.
  const std::set<std::string> after_sy = ruled_out(names, slot, "Sy");
  EXPECT_EQ(after_sy.size(), kPieces.size() - 1);
  EXPECT_FALSE(after_sy.count("nc_all"));
  // "NewF" written (after a blank): "ile(" ends it as NewFile inside the token.
  EXPECT_FALSE(ruled_out(names, slot, " NewF").count("ile("));
  EXPECT_TRUE(ruled_out(names, slot, " NewF").count("nc_all"));
}

TEST(NameConstraint, AtAnOptionalSlotTheSuggestionMayBeginWithSomethingElse) {
  const NameSet names({{"NewFile", 0}});
  NameSlot slot;
  slot.prior_weight = 0;
  const std::set<std::string> out = ruled_out(names, slot, "");
  EXPECT_FALSE(out.count("(") || out.count("7") || out.count("<end>") || out.count(";"));
  EXPECT_TRUE(out.count("Sync") && out.count("Sy"));  // an identifier must still be a name
  // Once something else began the suggestion, or the name ended, nothing is held.
  EXPECT_TRUE(effect(names, slot, "(").empty());
  EXPECT_TRUE(effect(names, slot, "NewFile(").empty());
  EXPECT_TRUE(effect(names, slot, "7").empty());
  // A name no candidate begins with (the user's new one) is left free.
  EXPECT_TRUE(effect(names, slot, "Sync").empty());
}

TEST(NameConstraint, ThePriorsDeficitIsSpreadOverTheTokensOfEachName) {
  // NewFile's prior is the best: its tokens add nothing. Sync_all's deficit of 2 (times λ
  // 0.5) is paid as soon as a token leads only to it.
  const NameSet names({{"NewFile", -1}, {"Sync_all", -3}});
  NameSlot slot;
  slot.prior_weight = 0.5f;
  const auto first = effect(names, slot, "");
  EXPECT_EQ(first.count("Ne"), 0u);  // no addition
  EXPECT_EQ(first.at("Sync"), "-1.00");
  EXPECT_EQ(first.at("Sy"), "-1.00");
  EXPECT_EQ(effect(names, slot, "Sy").count("nc_all"), 0u);  // the deficit is paid already
  EXPECT_EQ(effect(names, slot, "Sy").at("Ne"), "x");
}

/// The model prefers "Sync" (a name that does not exist here) at the cursor; NewFile is
/// the only member. Then "(" either way.
struct Scene {
  Scene()
      : tokenizer(kPieces),
        script(std::make_shared<ScriptedLogits>(kPieces.size())),
        table(tokenizer) {
    tokenizer.set_end_of_generation(0);
    std::vector<float> first(kPieces.size(), -6.0f);
    first[4] = 2.0f;    // Sync
    first[1] = 0.0f;    // Ne
    first[10] = -1.0f;  // NewF
    script->after({9}, first);
    std::vector<float> after_ne(kPieces.size(), -6.0f);
    after_ne[2] = 1.0f;  // w
    script->after({9, 1}, after_ne);
    std::vector<float> after_new(kPieces.size(), -6.0f);
    after_new[3] = 1.0f;  // File
    script->after({9, 1, 2}, after_new);
    std::vector<float> after_name(kPieces.size(), -6.0f);
    after_name[5] = 1.0f;  // (
    script->after({3}, after_name);
    script->after({4}, after_name);
    script->after({11}, after_name);
    std::vector<float> after_newf(kPieces.size(), -6.0f);
    after_newf[11] = 1.0f;  // ile(
    script->after({9, 10}, after_newf);
  }
  FakeTokenizer tokenizer;
  std::shared_ptr<ScriptedLogits> script;
  TokenIdentifierTable table;
};

TEST(NameConstraint, GreedyDecodingWritesTheMemberTheModelAloneMisses) {
  Scene s;
  GenerationRequest request;
  request.max_tokens = 4;
  FakeSession free_session(s.script, 64);
  auto free = generate(free_session, s.tokenizer, {9}, request);
  ASSERT_TRUE(free);
  EXPECT_EQ(free.value().text.substr(0, 5), "Sync(");

  const NameSet members({{"NewFile", 0}});
  request.bias = name_constraint(s.table, members, {true, 1.0f});
  FakeSession held_session(s.script, 64);
  auto held = generate(held_session, s.tokenizer, {9}, request);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(held.value().text.substr(0, 8), "NewFile(");
}

TEST(NameConstraint, BeamSearchEndingAtTheIdentifierRanksWholeNames) {
  Scene s;
  const NameSet names({{"NewFile", 0}, {"Sync", 0}});
  BeamSearchRequest request;
  request.beam_width = 4;
  request.n_best = 4;
  request.max_tokens = 6;
  request.stop.end_of_identifier = true;
  request.bias = name_constraint(s.table, names, {true, 0.0f});
  FakeSession session(s.script, 64);
  auto found = beam_search(session, s.tokenizer, {9}, request);
  ASSERT_TRUE(found) << found.error().message;
  std::vector<std::string> texts;
  for (const Generation& g : found.value()) texts.push_back(g.text);
  // The two names, then the same after a blank (" Ne" begins NewFile too), far less likely.
  ASSERT_EQ(texts.size(), 4u);
  EXPECT_EQ(texts[0], "Sync");  // the model's choice, and a name here
  EXPECT_EQ(texts[1], "NewFile");
  EXPECT_EQ(std::set<std::string>(texts.begin() + 2, texts.end()),
            (std::set<std::string>{" Sync", " NewFile"}));
  for (const Generation& g : found.value()) EXPECT_EQ(g.stop_reason, StopReason::kEndOfIdentifier);
}

TEST(NameConstraint, RequireNameWritesTheNameAndEndsItThere) {
  const FakeTokenizer tokenizer(kPieces);
  const TokenIdentifierTable table(tokenizer);
  const auto left = [&](const std::string& generated) {
    std::vector<std::pair<TokenId, float>> add;
    require_name(table, " Sy")(generated, add);
    std::set<std::string> out(kPieces.begin(), kPieces.end());
    for (const auto& [id, addition] : add) out.erase(kPieces[static_cast<std::size_t>(id)]);
    return out;
  };
  EXPECT_EQ(left(""), (std::set<std::string>{" "}));
  // " Sy" is written by "Sy"; "Sync" or "Sy" + "nc_all" would make the name longer.
  EXPECT_EQ(left(" "), (std::set<std::string>{"Sy"}));
  EXPECT_EQ(left(" Sy"), (std::set<std::string>{"", "(", " ", " Ne", ";"}));
  EXPECT_EQ(left(" Sy(").size(), kPieces.size());
}

TEST(StopCheckerTest, EndOfIdentifierKeepsTheBlanksAndTheFirstIdentifier) {
  StopRules rules;
  rules.end_of_identifier = true;
  StopChecker name(rules);
  EXPECT_FALSE(name.feed("  "));
  EXPECT_FALSE(name.feed("New"));
  EXPECT_FALSE(name.feed("File2"));
  const auto hit = name.feed("(x);");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->reason, StopReason::kEndOfIdentifier);
  EXPECT_EQ(name.text(), "  NewFile2");

  StopChecker punctuation(rules);
  ASSERT_TRUE(punctuation.feed(" (a"));
  EXPECT_EQ(punctuation.text(), " ");
  StopChecker number(rules);
  ASSERT_TRUE(number.feed("12"));
  EXPECT_EQ(number.text(), "");
}

}  // namespace
}  // namespace mnemo::model
