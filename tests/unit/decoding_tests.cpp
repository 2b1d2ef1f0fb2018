// Decoding: sampling, stop rules, the generate loop, beam search and FIM prompts, against a
// scripted FakeSession and a FakeTokenizer (tests/support/fake_language_model.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/decoding/beam_search.h"
#include "model/decoding/decode_error.h"
#include "model/decoding/fim_prompt.h"
#include "model/decoding/generate.h"
#include "model/decoding/sampler.h"
#include "model/decoding/stop_rules.h"
#include "tests/support/fake_language_model.h"

namespace mnemo::model {
namespace {

using testing::FakeSession;
using testing::FakeTokenizer;
using testing::ScriptedLogits;
using testing::SessionCall;

constexpr float kInf = std::numeric_limits<float>::infinity();

LogitsView view(const std::vector<float>& logits) {
  return LogitsView{logits.data(), logits.size()};
}

/// How often each id comes out of `draws` calls of sampler.sample(logits), as fractions.
std::map<TokenId, double> frequencies(Sampler& sampler, const std::vector<float>& logits,
                                      int draws) {
  std::map<TokenId, double> counts;
  for (int i = 0; i < draws; ++i) counts[sampler.sample(view(logits))] += 1.0 / draws;
  return counts;
}

std::set<TokenId> keys(const std::map<TokenId, double>& counts) {
  std::set<TokenId> out;
  for (const auto& [id, fraction] : counts) out.insert(id);
  return out;
}

std::vector<float> log_probs(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

// ---------------------------------------------------------------------------------------
// Sampler

TEST(SamplerTest, GreedyPicksTheArgmax) {
  Sampler sampler;
  EXPECT_EQ(sampler.sample(view({0.1f, 2.0f, -1.0f, 1.9f})), 1);
  EXPECT_EQ(sampler.sample(view({-3.0f, -2.0f, -1.0f})), 2);
}

TEST(SamplerTest, GreedyBreaksTiesTowardTheLowestId) {
  Sampler sampler;
  EXPECT_EQ(sampler.sample(view({1.0f, 3.0f, 0.0f, 3.0f, 3.0f})), 1);
  EXPECT_EQ(argmax(view({5.0f, 5.0f})), 0);
}

TEST(SamplerTest, TopKOfOneIsGreedyWhateverTheTemperatureAndSeed) {
  const std::vector<float> logits{0.5f, 3.0f, 3.0f, -2.0f, 2.9f};
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    Sampler sampler(SamplingParams{5.0f, 1, 1.0f, seed});
    EXPECT_EQ(sampler.sample(view(logits)), 1) << "seed " << seed;
  }
}

TEST(SamplerTest, NearZeroTemperatureApproachesGreedy) {
  const std::vector<float> logits{1.0f, 1.5f, 1.49f, 0.0f};
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Sampler sampler(SamplingParams{1e-4f, 0, 1.0f, seed});
    EXPECT_EQ(sampler.sample(view(logits)), 1) << "seed " << seed;
  }
}

TEST(SamplerTest, TemperatureOneDrawsInProportionToTheSoftmax) {
  Sampler sampler(SamplingParams{1.0f, 0, 1.0f, 7});
  auto counts = frequencies(sampler, log_probs({0.5, 0.3, 0.2}), 20000);
  EXPECT_NEAR(counts[0], 0.5, 0.02);
  EXPECT_NEAR(counts[1], 0.3, 0.02);
  EXPECT_NEAR(counts[2], 0.2, 0.02);
}

TEST(SamplerTest, HighTemperatureFlattensTheDistribution) {
  Sampler sampler(SamplingParams{100.0f, 0, 1.0f, 7});
  auto counts = frequencies(sampler, log_probs({0.7, 0.2, 0.1}), 20000);
  for (TokenId id = 0; id < 3; ++id) EXPECT_NEAR(counts[id], 1.0 / 3, 0.03) << id;
}

TEST(SamplerTest, TopKDrawsOnlyFromTheKBest) {
  Sampler sampler(SamplingParams{1.0f, 2, 1.0f, 3});
  auto counts = frequencies(sampler, {0.0f, 3.0f, 1.0f, 2.0f, -1.0f}, 20000);
  EXPECT_EQ(keys(counts), (std::set<TokenId>{1, 3}));
  EXPECT_NEAR(counts[1], std::exp(3.0) / (std::exp(3.0) + std::exp(2.0)), 0.02);
}

TEST(SamplerTest, TopPKeepsExactlyTheNucleus) {
  // Sorted: id 1 (0.5), id 3 (0.3), id 2 (0.15), id 0 (0.05).
  const std::vector<float> logits = log_probs({0.05, 0.5, 0.15, 0.3});
  {
    Sampler sampler(SamplingParams{1.0f, 0, 0.79f, 11});
    auto counts = frequencies(sampler, logits, 20000);
    EXPECT_EQ(keys(counts), (std::set<TokenId>{1, 3}));
    EXPECT_NEAR(counts[1], 0.5 / 0.8, 0.02);
  }
  {
    Sampler sampler(SamplingParams{1.0f, 0, 0.81f, 11});
    auto counts = frequencies(sampler, logits, 20000);
    EXPECT_EQ(keys(counts), (std::set<TokenId>{1, 2, 3}));
    EXPECT_NEAR(counts[2], 0.15 / 0.95, 0.02);
  }
  {
    Sampler sampler(SamplingParams{1.0f, 0, 0.3f, 11});
    auto counts = frequencies(sampler, logits, 1000);
    EXPECT_EQ(keys(counts), (std::set<TokenId>{1}));
  }
}

TEST(SamplerTest, TopPOverAFlatVocabularyKeepsTheLowestIdsPastTheFirstSortedChunk) {
  const std::vector<float> logits(1000, 0.0f);
  Sampler sampler(SamplingParams{1.0f, 0, 0.5f, 5});
  auto counts = frequencies(sampler, logits, 20000);
  EXPECT_EQ(counts.begin()->first, 0);
  EXPECT_EQ(counts.rbegin()->first, 499);
  EXPECT_GT(counts.size(), 480u);
}

TEST(SamplerTest, TopKThenTopPApplyInThatOrder) {
  // Top-2 leaves ids 1 (0.5) and 3 (0.3), renormalized 0.625 / 0.375; top-p 0.6 keeps id 1.
  Sampler sampler(SamplingParams{1.0f, 2, 0.6f, 2});
  auto counts = frequencies(sampler, log_probs({0.05, 0.5, 0.15, 0.3}), 1000);
  EXPECT_EQ(keys(counts), (std::set<TokenId>{1}));
}

TEST(SamplerTest, EqualSeedsGiveEqualDrawsAndReseedRestarts) {
  const std::vector<float> logits(16, 0.0f);
  Sampler a(SamplingParams{1.0f, 0, 1.0f, 42});
  Sampler b(SamplingParams{1.0f, 0, 1.0f, 42});
  Sampler c(SamplingParams{1.0f, 0, 1.0f, 43});
  std::vector<TokenId> draws_a, draws_b, draws_c;
  for (int i = 0; i < 32; ++i) {
    draws_a.push_back(a.sample(view(logits)));
    draws_b.push_back(b.sample(view(logits)));
    draws_c.push_back(c.sample(view(logits)));
  }
  EXPECT_EQ(draws_a, draws_b);
  EXPECT_NE(draws_a, draws_c);
  a.reseed(42);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(a.sample(view(logits)), draws_a[static_cast<size_t>(i)]);
}

TEST(SamplerTest, NeverDrawsMinusInfinityOrNaN) {
  Sampler sampler(SamplingParams{1.0f, 0, 1.0f, 9});
  auto counts = frequencies(
      sampler, {-kInf, 0.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f, -kInf}, 2000);
  EXPECT_EQ(keys(counts), (std::set<TokenId>{1, 3}));
}

TEST(SamplerTest, LogSumExpNormalizesLogProbabilities) {
  EXPECT_NEAR(log_sum_exp(view(log_probs({0.25, 0.25, 0.5}))), 0.0, 1e-6);
  EXPECT_NEAR(log_sum_exp(view({1000.0f, 1000.0f})), 1000.0 + std::log(2.0), 1e-6);
  EXPECT_EQ(log_sum_exp(view({-kInf, -kInf})), -std::numeric_limits<double>::infinity());
}

// ---------------------------------------------------------------------------------------
// StopChecker

TEST(StopCheckerTest, HoldsBackOnlyTextThatCanStillBeginAStopString) {
  StopRules rules;
  rules.stop_strings = {"END", "<|"};
  StopChecker checker(rules);
  EXPECT_FALSE(checker.feed("foo E"));
  EXPECT_EQ(checker.settled_size(), 4u);  // "E" may begin "END"
  EXPECT_FALSE(checker.feed("Nx <"));
  EXPECT_EQ(checker.settled_size(), 8u);  // "<" may begin "<|"
  auto hit = checker.feed("|x");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->reason, StopReason::kStopString);
  EXPECT_EQ(checker.text(), "foo ENx ");
}

TEST(StopCheckerTest, NoRuleStopsUnlessAskedFor) {
  StopRules rules;
  StopChecker checker(rules);
  EXPECT_FALSE(checker.feed("a)\n}END"));
  EXPECT_EQ(checker.text(), "a)\n}END");
}

TEST(StopCheckerTest, BracketsOfTheGenerationItselfBalanceAcrossLines) {
  StopRules rules;
  rules.balanced_brackets = true;
  StopChecker checker(rules);
  EXPECT_FALSE(checker.feed("if (x) {\n  f(\"}\");\n"));
  auto hit = checker.feed("}\n}");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->reason, StopReason::kBalancedBrackets);
  EXPECT_EQ(checker.text(), "if (x) {\n  f(\"}\");\n}\n}");
}

// ---------------------------------------------------------------------------------------
// generate()

/// A FakeTokenizer over `pieces` and a FakeSession whose script forces chosen continuations.
/// Piece 0 is what the model produces where nothing is scripted (all logits equal).
struct Scripted {
  explicit Scripted(std::vector<std::string> pieces, std::size_t max_tokens = 1 << 20)
      : tokenizer(pieces),
        script(std::make_shared<ScriptedLogits>(pieces.size())),
        session(script, max_tokens) {}

  TokenId id(const std::string& piece) const {
    auto found = tokenizer.find(piece);
    if (!found) throw std::invalid_argument("no piece " + piece);
    return *found;
  }
  Tokens ids(const std::vector<std::string>& pieces) const {
    Tokens out;
    for (const auto& piece : pieces) out.push_back(id(piece));
    return out;
  }
  /// Greedy decoding after `prompt` produces `continuation`: one-hot logits (10 vs 0).
  void force(const Tokens& prompt, const std::vector<std::string>& continuation) {
    Tokens sequence = prompt;
    for (const auto& piece : continuation) {
      std::vector<float> logits(script->n_vocab(), 0.0f);
      logits[static_cast<std::size_t>(id(piece))] = 10.0f;
      script->after(sequence, logits);
      sequence.push_back(id(piece));
    }
  }
  /// The log-probability of a forced token: 10 - log(e^10 + n_vocab - 1).
  double forced_logprob() const {
    return 10.0 - std::log(std::exp(10.0) + static_cast<double>(script->n_vocab() - 1));
  }
  std::size_t appends() const {
    std::size_t n = 0;
    for (const auto& call : session.log().calls)
      n += call.kind == SessionCall::Kind::kAppend ? 1 : 0;
    return n;
  }

  FakeTokenizer tokenizer;
  std::shared_ptr<ScriptedLogits> script;
  FakeSession session;
};

GenerationRequest line_request() {
  GenerationRequest request;
  request.max_tokens = 16;
  request.stop.end_of_line = true;
  return request;
}

TEST(GenerateTest, EndOfLineCutsTheTextInsideTheTokenThatHoldsTheNewline) {
  Scripted s({"z", "p", "foo", "(x);\nbar"});
  s.force({1}, {"foo", "(x);\nbar", "foo"});
  auto result = generate(s.session, s.tokenizer, {1}, line_request());
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result.value().text, "foo(x);");
  EXPECT_EQ(result.value().tokens, s.ids({"foo", "(x);\nbar"}));
  EXPECT_EQ(result.value().stop_reason, StopReason::kEndOfLine);
  // The stopping token is never appended: the session holds the prompt and "foo".
  EXPECT_EQ(s.session.tokens(), (Tokens{1, s.id("foo")}));
  EXPECT_EQ(s.appends(), 1u);
}

TEST(GenerateTest, EndOfLineAtTheStartOfATokenDropsThatToken) {
  Scripted s({"z", "p", "foo", "\nbar"});
  s.force({1}, {"foo", "\nbar"});
  auto result = generate(s.session, s.tokenizer, {1}, line_request());
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "foo");
  EXPECT_EQ(result.value().tokens, s.ids({"foo"}));
  ASSERT_EQ(result.value().token_logprobs.size(), 1u);
  // The path's log-probability counts the dropped newline token too.
  EXPECT_NEAR(result.value().logprob, 2 * s.forced_logprob(), 1e-6);
}

TEST(GenerateTest, NewlinesAreKeptWithoutTheEndOfLineRule) {
  Scripted s({"z", "p", "foo", "\n"});
  s.force({1}, {"foo", "\n"});
  GenerationRequest request;
  request.max_tokens = 3;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "foo\nz");
  EXPECT_EQ(result.value().stop_reason, StopReason::kMaxTokens);
}

GenerationRequest bracket_request() {
  GenerationRequest request;
  request.max_tokens = 16;
  request.stop.balanced_brackets = true;
  return request;
}

TEST(GenerateTest, BalancedBracketsStopAtACloseTheGenerationDidNotOpen) {
  // The prompt ends in "foo(a, ": the completion "b)" closes the call and ends there.
  Scripted s({"z", "foo(a, ", "b", ")", ";"});
  s.force({1}, {"b", ")", ";"});
  auto result = generate(s.session, s.tokenizer, {1}, bracket_request());
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "b)");
  EXPECT_EQ(result.value().tokens, s.ids({"b", ")"}));
  EXPECT_EQ(result.value().stop_reason, StopReason::kBalancedBrackets);
}

TEST(GenerateTest, BalancedBracketsSkipPairsTheGenerationOpenedAndCutInsideAToken) {
  Scripted s({"z", "p", "g(", "h[1]", ", {2})", ");\n"});
  s.force({1}, {"g(", "h[1]", ", {2})", ");\n"});
  auto result = generate(s.session, s.tokenizer, {1}, bracket_request());
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "g(h[1], {2}))");
  EXPECT_EQ(result.value().tokens, s.ids({"g(", "h[1]", ", {2})", ");\n"}));
  EXPECT_EQ(result.value().stop_reason, StopReason::kBalancedBrackets);
}

TEST(GenerateTest, BalancedBracketsIgnoreLiteralsAndComments) {
  const std::vector<std::string> pieces = {
      "\"a)\\\"]\"",     // "a)\"]"  a string with an escaped quote
      ", ')'",           // a character literal
      ", '\\''",         // an escaped quote in a character literal
      " // ) ]",         // a line comment ...
      "\n",              // ... that ends here
      " /* } */ 1'000",  // a block comment and a digit separator
      ")",
      ";"};
  std::vector<std::string> vocab = {"z", "p"};
  vocab.insert(vocab.end(), pieces.begin(), pieces.end());
  Scripted s(vocab);
  s.force({1}, pieces);
  auto result = generate(s.session, s.tokenizer, {1}, bracket_request());
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "\"a)\\\"]\", ')', '\\'' // ) ]\n /* } */ 1'000)");
  EXPECT_EQ(result.value().stop_reason, StopReason::kBalancedBrackets);
}

TEST(GenerateTest, EndOfGenerationTokenEndsWithoutJoiningTheText) {
  Scripted s({"z", "p", "foo", "<eos>"});
  s.tokenizer.set_control(3).set_end_of_generation(3);
  s.force({1}, {"foo", "<eos>"});
  GenerationRequest request;
  request.stop.end_of_generation = true;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "foo");
  EXPECT_EQ(result.value().tokens, s.ids({"foo"}));
  EXPECT_EQ(result.value().stop_reason, StopReason::kEndOfGeneration);
  EXPECT_NEAR(result.value().logprob, 2 * s.forced_logprob(), 1e-6);
}

TEST(GenerateTest, EndOfGenerationStopsOnlyWhenAskedFor) {
  Scripted s({"z", "p", "foo", "<eos>"});
  s.tokenizer.set_control(3).set_end_of_generation(3);
  s.force({1}, {"foo", "<eos>"});
  GenerationRequest request;
  request.max_tokens = 2;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().tokens, s.ids({"foo", "<eos>"}));
  EXPECT_EQ(result.value().text, "foo");  // a control token decodes to nothing
  EXPECT_EQ(result.value().stop_reason, StopReason::kMaxTokens);
}

TEST(GenerateTest, MaxTokensLimitsTheGenerationAndItsForwardPasses) {
  Scripted s({"z", "p"});
  GenerationRequest request;
  request.max_tokens = 3;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().tokens, (Tokens{0, 0, 0}));
  EXPECT_EQ(result.value().stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(s.appends(), 2u);
  EXPECT_EQ(result.value().timing.decode_ms.size(), 2u);
}

TEST(GenerateTest, ZeroMaxTokensLeavesTheSessionAlone) {
  Scripted s({"z", "p"});
  GenerationRequest request;
  request.max_tokens = 0;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result.value().tokens.empty());
  EXPECT_EQ(s.session.log().forward_calls, 0u);
}

TEST(GenerateTest, StopStringSpanningTokensCutsTextAndTokens) {
  Scripted s({"z", "p", "foo", "E", "ND;"});
  s.force({1}, {"foo", "E", "ND;"});
  GenerationRequest request;
  request.stop.stop_strings = {"END"};
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "foo");
  EXPECT_EQ(result.value().tokens, s.ids({"foo"}));
  EXPECT_EQ(result.value().stop_reason, StopReason::kStopString);
}

TEST(GenerateTest, TheRuleThatFiresFirstInTheTextWins) {
  {
    Scripted s({"z", "p", "a\nEND"});
    s.force({1}, {"a\nEND"});
    GenerationRequest request = line_request();
    request.stop.stop_strings = {"END"};
    auto result = generate(s.session, s.tokenizer, {1}, request);
    ASSERT_TRUE(result);
    EXPECT_EQ(result.value().text, "a");
    EXPECT_EQ(result.value().stop_reason, StopReason::kEndOfLine);
  }
  {
    Scripted s({"z", "p", "ab)\n"});
    s.force({1}, {"ab)\n"});
    GenerationRequest request = bracket_request();
    request.stop.end_of_line = true;
    request.stop.stop_strings = {"b)"};
    auto result = generate(s.session, s.tokenizer, {1}, request);
    ASSERT_TRUE(result);
    EXPECT_EQ(result.value().text, "a");  // "b)" ends on the ')' that closes: a tie
    EXPECT_EQ(result.value().stop_reason, StopReason::kStopString);
  }
}

TEST(GenerateTest, StreamingDeliversTheFinalTextWithoutWhatAStopStringTakesBack) {
  {
    Scripted s({"z", "p", "foo", " E", "N", "D"});
    s.force({1}, {"foo", " E", "N", "D"});
    GenerationRequest request;
    request.stop.stop_strings = {"END"};
    std::vector<std::string> chunks;
    request.on_text = [&](std::string_view text) { chunks.emplace_back(text); };
    auto result = generate(s.session, s.tokenizer, {1}, request);
    ASSERT_TRUE(result);
    EXPECT_EQ(result.value().text, "foo ");
    EXPECT_EQ(chunks, (std::vector<std::string>{"foo", " "}));
  }
  {
    Scripted s({"z", "p", "foo", " E", "x"});
    s.force({1}, {"foo", " E", "x"});
    GenerationRequest request;
    request.max_tokens = 3;
    request.stop.stop_strings = {"END"};
    std::vector<std::string> chunks;
    request.on_text = [&](std::string_view text) { chunks.emplace_back(text); };
    auto result = generate(s.session, s.tokenizer, {1}, request);
    ASSERT_TRUE(result);
    EXPECT_EQ(result.value().text, "foo Ex");
    EXPECT_EQ(chunks, (std::vector<std::string>{"foo", " ", "Ex"}));
  }
}

TEST(GenerateTest, CancelledBeforeTheFirstStepRunsNoForwardPass) {
  Scripted s({"z", "p"});
  auto result = generate(s.session, s.tokenizer, {1}, line_request(), [] { return true; });
  ASSERT_FALSE(result);
  EXPECT_TRUE(is_cancelled(result.error()));
  EXPECT_NE(result.error().message.find("cancelled"), std::string::npos);
  EXPECT_EQ(s.session.log().forward_calls, 0u);
}

TEST(GenerateTest, CancelledMidwayStopsBeforeTheNextForwardPass) {
  Scripted s({"z", "p"});
  int polls = 0;
  auto result = generate(s.session, s.tokenizer, {1}, line_request(), [&] { return ++polls == 3; });
  ASSERT_FALSE(result);
  EXPECT_TRUE(is_cancelled(result.error()));
  EXPECT_EQ(polls, 3);
  EXPECT_EQ(s.session.log().forward_calls, 2u);  // the prompt and one append
}

TEST(GenerateTest, ModelErrorsArePassedOnAndAreNotCancellations) {
  Scripted s({"z", "p"});
  s.session.log().fail_on_call = 2;
  auto result = generate(s.session, s.tokenizer, {1}, line_request());
  ASSERT_FALSE(result);
  EXPECT_FALSE(is_cancelled(result.error()));
  EXPECT_EQ(result.error().message, "FakeSession: scripted failure");
}

TEST(GenerateTest, BadPromptsAreErrors) {
  Scripted s({"z", "p"}, 4);
  EXPECT_FALSE(generate(s.session, s.tokenizer, {}, line_request()));
  EXPECT_FALSE(generate(s.session, s.tokenizer, {1, 1, 1, 1, 1}, line_request()));
  EXPECT_EQ(s.session.log().forward_calls, 0u);
}

TEST(GenerateTest, ResetToReusesTheCachedPrefixOfTheNextPrompt) {
  Scripted s({"z", "p", "q", "r"});
  GenerationRequest request;
  request.max_tokens = 4;
  const Tokens prompt{1, 2, 1, 2, 1};
  ASSERT_TRUE(generate(s.session, s.tokenizer, prompt, request));
  ASSERT_EQ(s.session.log().calls.front().kind, SessionCall::Kind::kResetTo);
  EXPECT_EQ(s.session.log().calls.front().processed, 5u);
  for (const auto& call : s.session.log().calls) {
    if (call.kind == SessionCall::Kind::kAppend) {
      EXPECT_EQ(call.processed, 1u);
    }
  }

  // A keystroke later the prompt grew by one token: only that token is computed.
  Tokens next = prompt;
  next.push_back(3);
  const std::size_t before = s.session.log().calls.size();
  ASSERT_TRUE(generate(s.session, s.tokenizer, next, request));
  const SessionCall& reset = s.session.log().calls[before];
  EXPECT_EQ(reset.kind, SessionCall::Kind::kResetTo);
  EXPECT_EQ(reset.processed, 1u);
}

TEST(GenerateTest, LogprobIsTheSumOfTheTokensLogSoftmax) {
  Scripted s({"z", "p", "a", "b", "c", "d"});
  s.script->after_probs({1}, {{2, 0.6}, {3, 0.4}});
  s.script->after_probs({1, 2}, {{4, 0.5}, {5, 0.5}});
  GenerationRequest request;
  request.max_tokens = 2;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().text, "ac");  // the tie goes to the lower id
  ASSERT_EQ(result.value().token_logprobs.size(), 2u);
  EXPECT_NEAR(result.value().token_logprobs[0], std::log(0.6), 1e-6);
  EXPECT_NEAR(result.value().token_logprobs[1], std::log(0.5), 1e-6);
  EXPECT_NEAR(result.value().logprob, std::log(0.3), 1e-6);
}

TEST(GenerateTest, TimingIsMeasured) {
  Scripted s({"z", "p"});
  GenerationRequest request;
  request.max_tokens = 5;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result);
  const GenerationTiming& timing = result.value().timing;
  EXPECT_GE(timing.prompt_ms, 0.0);
  EXPECT_EQ(timing.decode_ms.size(), 4u);
  for (double ms : timing.decode_ms) EXPECT_GE(ms, 0.0);
  EXPECT_GE(timing.total_ms, timing.prompt_ms);
}

TEST(GenerateTest, SamplingIsReproducibleFromTheSeed) {
  auto run = [](std::uint64_t seed) {
    Scripted s({"a", "b", "c", "d", "e", "f", "g", "h"});
    GenerationRequest request;
    request.max_tokens = 24;
    request.sampling = SamplingParams{1.0f, 0, 1.0f, seed};
    return generate(s.session, s.tokenizer, {1}, request).value().text;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

TEST(GenerateTest, StopsWhenTheContextIsFull) {
  Scripted s({"z", "p"}, 3);
  GenerationRequest request;
  request.max_tokens = 10;
  auto result = generate(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result.value().stop_reason, StopReason::kContextFull);
  EXPECT_EQ(result.value().tokens.size(), 3u);  // two appended, the last sampled from position 3
}

TEST(GenerateTest, PaddedLogitsPastTheTokenizerAreNeverSampled) {
  // The model has 6 logits, the tokenizer knows 4 ids; the padding has the highest logit.
  FakeTokenizer tokenizer({"z", "p", "a", "b"});
  auto script = std::make_shared<ScriptedLogits>(6);
  script->after({1}, {0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 50.0f});
  FakeSession session(script);
  GenerationRequest request;
  request.max_tokens = 1;
  auto result = generate(session, tokenizer, {1}, request);
  ASSERT_TRUE(result);
  EXPECT_EQ(result.value().tokens, (Tokens{2}));
}

// ---------------------------------------------------------------------------------------
// beam_search()

/// After "p": A 0.6, B 0.4. After "pA": C, D, E, F 0.25 each. After "pB": C 0.9, D 0.1.
/// Greedy takes A and ends at probability 0.15; "BC" has 0.36.
struct GreedyTrap : Scripted {
  GreedyTrap() : Scripted({"z", "p", "A", "B", "C", "D", "E", "F"}) {
    script->after_probs({1}, {{2, 0.6}, {3, 0.4}});
    script->after_probs({1, 2}, {{4, 0.25}, {5, 0.25}, {6, 0.25}, {7, 0.25}});
    script->after_probs({1, 3}, {{4, 0.9}, {5, 0.1}});
  }
};

BeamSearchRequest beam_request(std::size_t width, std::size_t n_best, std::size_t max_tokens) {
  BeamSearchRequest request;
  request.beam_width = width;
  request.n_best = n_best;
  request.max_tokens = max_tokens;
  return request;
}

TEST(BeamSearchTest, FindsTheSequenceGreedyMisses) {
  GreedyTrap greedy;
  GenerationRequest request;
  request.max_tokens = 2;
  auto greedy_result = generate(greedy.session, greedy.tokenizer, {1}, request);
  ASSERT_TRUE(greedy_result);
  EXPECT_EQ(greedy_result.value().text, "AC");
  EXPECT_NEAR(greedy_result.value().logprob, std::log(0.15), 1e-6);

  GreedyTrap beam;
  auto beam_result = beam_search(beam.session, beam.tokenizer, {1}, beam_request(2, 1, 2));
  ASSERT_TRUE(beam_result) << beam_result.error().message;
  ASSERT_EQ(beam_result.value().size(), 1u);
  EXPECT_EQ(beam_result.value()[0].text, "BC");
  EXPECT_EQ(beam_result.value()[0].tokens, beam.ids({"B", "C"}));
  EXPECT_NEAR(beam_result.value()[0].logprob, std::log(0.36), 1e-6);
}

TEST(BeamSearchTest, ReturnsTheNBestSortedByScoreAndIsDeterministic) {
  GreedyTrap s;
  auto result = beam_search(s.session, s.tokenizer, {1}, beam_request(2, 3, 2));
  ASSERT_TRUE(result);
  ASSERT_EQ(result.value().size(), 3u);
  EXPECT_EQ(result.value()[0].text, "BC");
  EXPECT_EQ(result.value()[1].text, "AC");  // AC and AD tie: the lower id first
  EXPECT_EQ(result.value()[2].text, "AD");
  EXPECT_NEAR(result.value()[1].score, std::log(0.15), 1e-6);
  for (std::size_t i = 1; i < result.value().size(); ++i) {
    EXPECT_GE(result.value()[i - 1].score, result.value()[i].score);
  }

  GreedyTrap again;
  auto repeat = beam_search(again.session, again.tokenizer, {1}, beam_request(2, 3, 2));
  ASSERT_TRUE(repeat);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(repeat.value()[i].tokens, result.value()[i].tokens);
  }
}

TEST(BeamSearchTest, WidthOneIsGreedy) {
  GreedyTrap greedy;
  GenerationRequest request;
  request.max_tokens = 5;
  auto greedy_result = generate(greedy.session, greedy.tokenizer, {1}, request);
  GreedyTrap beam;
  auto beam_result = beam_search(beam.session, beam.tokenizer, {1}, beam_request(1, 1, 5));
  ASSERT_TRUE(greedy_result);
  ASSERT_TRUE(beam_result);
  ASSERT_EQ(beam_result.value().size(), 1u);
  EXPECT_EQ(beam_result.value()[0].tokens, greedy_result.value().tokens);
  EXPECT_NEAR(beam_result.value()[0].logprob, greedy_result.value().logprob, 1e-9);
}

TEST(BeamSearchTest, HypothesesEndByTheStopRulesAndTextsAreDistinct) {
  // "A\n" and "A\nB" both end as "A" (the better is kept); "B" ends at end of generation.
  Scripted s({"z", "p", "A", "B", "\n", "\nB", "<eos>"});
  s.tokenizer.set_control(6).set_end_of_generation(6);
  s.script->after_probs({1}, {{2, 0.7}, {3, 0.3}});
  s.script->after_probs({1, 2}, {{4, 0.6}, {5, 0.4}});
  s.script->after_probs({1, 3}, {{6, 0.9}, {2, 0.1}});
  BeamSearchRequest request = beam_request(3, 5, 8);
  request.stop.end_of_line = true;
  request.stop.end_of_generation = true;
  auto result = beam_search(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_GE(result.value().size(), 2u);
  const Generation& first = result.value()[0];
  EXPECT_EQ(first.text, "A");
  EXPECT_EQ(first.tokens, s.ids({"A"}));
  EXPECT_EQ(first.stop_reason, StopReason::kEndOfLine);
  EXPECT_NEAR(first.logprob, std::log(0.7 * 0.6), 1e-6);
  const Generation& second = result.value()[1];
  EXPECT_EQ(second.text, "B");
  EXPECT_EQ(second.stop_reason, StopReason::kEndOfGeneration);
  EXPECT_NEAR(second.logprob, std::log(0.3 * 0.9), 1e-6);
  std::set<std::string> texts;
  for (const auto& generation : result.value()) texts.insert(generation.text);
  EXPECT_EQ(texts.size(), result.value().size());
}

TEST(BeamSearchTest, LengthPenaltyRanksByTheMeanLogProbability) {
  // "A\n": sum log 0.5 over 2 tokens. "BC\n": sum log 0.405 over 3 tokens, a better mean.
  Scripted s({"z", "p", "A", "B", "C", "D", "E", "\n"});
  s.script->after_probs({1}, {{2, 0.5}, {3, 0.5}});
  s.script->after_probs({1, 2}, {{7, 1.0}});
  s.script->after_probs({1, 3}, {{4, 0.9}, {5, 0.1}});
  s.script->after_probs({1, 3, 4}, {{7, 0.9}, {6, 0.1}});
  BeamSearchRequest request = beam_request(2, 1, 5);
  request.stop.end_of_line = true;
  auto by_sum = beam_search(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(by_sum);
  ASSERT_EQ(by_sum.value().size(), 1u);
  EXPECT_EQ(by_sum.value()[0].text, "A");

  request.length_penalty = 1.0;
  auto by_mean = beam_search(s.session, s.tokenizer, {1}, request);
  ASSERT_TRUE(by_mean);
  ASSERT_EQ(by_mean.value().size(), 1u);
  EXPECT_EQ(by_mean.value()[0].text, "BC");
  EXPECT_NEAR(by_mean.value()[0].score, std::log(0.405) / 3, 1e-6);
}

TEST(BeamSearchTest, EachHypothesisExtendsItsOwnForkedSession) {
  GreedyTrap s;
  auto result = beam_search(s.session, s.tokenizer, {1}, beam_request(2, 2, 3));
  ASSERT_TRUE(result);
  // Step 1 leaves "A" and "B" live: one of them needs a fork of the prompt's session.
  // Step 2 leaves "BC" and "AC": each takes its parent's session, so no more forks.
  EXPECT_EQ(s.session.log().forks, 1u);
  std::vector<Tokens> appended;
  for (const auto& call : s.session.log().calls) {
    if (call.kind != SessionCall::Kind::kAppend) continue;
    EXPECT_EQ(call.processed, 1u);
    appended.push_back(call.sequence);
  }
  EXPECT_EQ(appended, (std::vector<Tokens>{{1, 2}, {1, 3}, {1, 3, 4}, {1, 2, 4}}));
  // The caller's session carries one hypothesis.
  EXPECT_EQ(s.session.tokens(), (Tokens{1, 2, 4}));
  EXPECT_EQ(result.value()[0].text.substr(0, 2), "BC");
}

TEST(BeamSearchTest, IsCancelledBetweenSteps) {
  GreedyTrap s;
  int polls = 0;
  auto result =
      beam_search(s.session, s.tokenizer, {1}, beam_request(2, 1, 5), [&] { return ++polls == 2; });
  ASSERT_FALSE(result);
  EXPECT_TRUE(is_cancelled(result.error()));
  EXPECT_EQ(s.session.log().forward_calls, 1u);

  GreedyTrap t;
  auto at_once =
      beam_search(t.session, t.tokenizer, {1}, beam_request(2, 1, 5), [] { return true; });
  ASSERT_FALSE(at_once);
  EXPECT_TRUE(is_cancelled(at_once.error()));
  EXPECT_EQ(t.session.log().forward_calls, 0u);
}

// ---------------------------------------------------------------------------------------
// fim_prompt()

FakeTokenizer fim_tokenizer() {
  FakeTokenizer tokenizer({"<bos>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "a", "b", "c",
                           "<", ">", "f", "i", "m", "_", "d", "l", "e", "p", "r", "x"});
  for (TokenId id = 0; id < 4; ++id) tokenizer.set_control(id);
  SpecialTokens& special = tokenizer.mutable_special();
  special.bos = 0;
  special.add_bos = true;
  special.fim_prefix = 1;
  special.fim_suffix = 2;
  special.fim_middle = 3;
  return tokenizer;
}

TEST(FimPromptTest, PutsPrefixSuffixMiddleInPsmOrderAfterBos) {
  FakeTokenizer tokenizer = fim_tokenizer();
  auto prompt = fim_prompt(tokenizer, "ab", "c");
  ASSERT_TRUE(prompt) << prompt.error().message;
  EXPECT_EQ(prompt.value(), (Tokens{0, 1, 4, 5, 2, 6, 3}));
}

TEST(FimPromptTest, PutsTheSuffixFirstAndThePrefixLastInSpmLayout) {
  FakeTokenizer tokenizer = fim_tokenizer();
  tokenizer.mutable_special().fim_layout = FimLayout::kSuffixPrefixMiddle;
  auto prompt = fim_prompt(tokenizer, "ab", "c");
  ASSERT_TRUE(prompt) << prompt.error().message;
  EXPECT_EQ(prompt.value(), (Tokens{0, 1, 2, 6, 3, 4, 5}));
}

TEST(FimPromptTest, HasNoBosWhenTheModelAddsNone) {
  FakeTokenizer tokenizer = fim_tokenizer();
  tokenizer.mutable_special().add_bos = false;
  auto prompt = fim_prompt(tokenizer, "a", "");
  ASSERT_TRUE(prompt);
  EXPECT_EQ(prompt.value(), (Tokens{1, 4, 2, 3}));
}

TEST(FimPromptTest, ControlTokenTextInUserCodeStaysPlainText) {
  FakeTokenizer tokenizer = fim_tokenizer();
  auto prompt = fim_prompt(tokenizer, "a<fim_middle>", "<fim_prefix>");
  ASSERT_TRUE(prompt);
  const Tokens& tokens = prompt.value();
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), 3), 1);  // only the real one, last
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), 1), 1);  // only the real one, after bos
  EXPECT_EQ(tokens.back(), 3);
  EXPECT_EQ(tokenizer.decode(tokens, true),
            "<bos><fim_prefix>a<fim_middle><fim_suffix><fim_prefix><fim_middle>");
  for (const auto& call : tokenizer.encode_calls()) {
    EXPECT_FALSE(call.parse_special) << call.text;
    EXPECT_FALSE(call.add_special) << call.text;
  }
}

TEST(FimPromptTest, NamesTheMissingTokens) {
  FakeTokenizer tokenizer = fim_tokenizer();
  tokenizer.mutable_special().fim_suffix.reset();
  tokenizer.mutable_special().fim_middle.reset();
  auto prompt = fim_prompt(tokenizer, "a", "b");
  ASSERT_FALSE(prompt);
  EXPECT_NE(prompt.error().message.find("fim_suffix"), std::string::npos);
  EXPECT_NE(prompt.error().message.find("fim_middle"), std::string::npos);
  EXPECT_EQ(prompt.error().message.find("fim_prefix"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::model
