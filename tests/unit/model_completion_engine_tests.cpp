// The engine of `mnemo serve --model` (server/completion/model_completion_engine.h) with a scripted
// model: how many suggestions each trigger gets, a selected menu item extending into the
// suggestion, and the symbolic engine answering whatever the model cannot.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lsp/uri.h"
#include "server/completion/model_completion_engine.h"
#include "tests/support/fake_completion_engine.h"

namespace mnemo::server {
namespace {

using testing::FakeCompletionEngine;

struct ScriptedModel {
  std::vector<ModelSuggestion> answer;
  std::optional<EngineError> error;
  std::vector<ModelInlineRequest> asked;

  InlineModel function() {
    return [this](const ModelInlineRequest& r,
                  const lsp::CancellationToken&) -> EngineResult<std::vector<ModelSuggestion>> {
      asked.push_back(r);
      if (error) return *error;
      return answer;
    };
  }
};

InlineCompletionQuery query(const std::string& marked, InlineTrigger trigger) {
  std::string text = marked;
  const auto cursor = text.find('^');
  text.erase(cursor, 1);
  InlineCompletionQuery q;
  q.document.uri = lsp::path_to_file_uri("/repo/src/main.cpp");
  q.document.document = std::make_shared<const lsp::TextDocument>(text);
  q.cursor = cursor;
  q.trigger = trigger;
  return q;
}

TEST(ModelCompletionEngine, InvokedAsksForThreeDistinctSuggestionsAutomaticForOne) {
  auto symbols = std::make_shared<FakeCompletionEngine>();
  ScriptedModel model;
  model.answer = {{"norm()", -1}, {"norm()", -2}, {"", -3}, {"normal", -4}, {"nor", -5}};
  ModelCompletionEngine engine(symbols, model.function());

  auto invoked = engine.complete_inline(query("x = p.^;", InlineTrigger::kInvoked), {});
  ASSERT_TRUE(invoked);
  ASSERT_EQ(model.asked.size(), 1u);
  EXPECT_EQ(model.asked[0].alternatives, 3u);
  EXPECT_EQ(model.asked[0].file, "/repo/src/main.cpp");
  EXPECT_EQ(model.asked[0].text, "x = p.;");
  EXPECT_EQ(model.asked[0].cursor, 6u);
  std::vector<std::string> texts;
  for (const auto& s : invoked.value()) {
    texts.push_back(s.insert_text);
    EXPECT_EQ(s.replace_begin, 6u);
    EXPECT_EQ(s.replace_end, 6u);
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"norm()", "normal", "nor"}));

  // The same place again: the last answer, cut to one.
  auto automatic = engine.complete_inline(query("x = p.^;", InlineTrigger::kAutomatic), {});
  ASSERT_TRUE(automatic);
  EXPECT_EQ(model.asked.size(), 1u);
  ASSERT_EQ(automatic.value().size(), 1u);
  EXPECT_EQ(automatic.value()[0].insert_text, "norm()");
  // Elsewhere: automatic asks the model for one.
  ASSERT_TRUE(engine.complete_inline(query("y = p.^;", InlineTrigger::kAutomatic), {}));
  ASSERT_EQ(model.asked.size(), 2u);
  EXPECT_EQ(model.asked[1].alternatives, 1u);
  // Invoked there wants three: an answer of one is not enough.
  ASSERT_TRUE(engine.complete_inline(query("y = p.^;", InlineTrigger::kInvoked), {}));
  EXPECT_EQ(model.asked.size(), 3u);
}

TEST(ModelCompletionEngine, ASelectedMenuItemIsInTheModelsTextAndStartsEverySuggestion) {
  auto symbols = std::make_shared<FakeCompletionEngine>();
  ScriptedModel model;
  model.answer = {{"(a, b);", -1}};
  ModelCompletionEngine engine(symbols, model.function());
  // The user typed "geo::no" and selected "norm" in the menu (replacing "no").
  InlineCompletionQuery q = query("r = geo::no^\n", InlineTrigger::kAutomatic);
  q.selected = SelectedCompletion{9, 11, "norm"};
  auto result = engine.complete_inline(q, {});
  ASSERT_TRUE(result);
  EXPECT_EQ(model.asked[0].text, "r = geo::norm\n");
  EXPECT_EQ(model.asked[0].cursor, 13u);
  ASSERT_EQ(result.value().size(), 1u);
  EXPECT_EQ(result.value()[0].insert_text, "norm(a, b);");
  EXPECT_EQ(result.value()[0].replace_begin, 9u);
  EXPECT_EQ(result.value()[0].replace_end, 11u);
}

TEST(ModelCompletionEngine, TheSymbolsAnswerWhatTheModelCannotButNotACancelledRequest) {
  auto symbols = std::make_shared<FakeCompletionEngine>();
  ScriptedModel model;
  model.error = EngineError{EngineError::Kind::kInternal, "the memory is not open yet"};
  ModelCompletionEngine engine(symbols, model.function());
  auto fallback = engine.complete_inline(query("a^", InlineTrigger::kInvoked), {});
  ASSERT_TRUE(fallback);
  ASSERT_EQ(fallback.value().size(), 1u);
  EXPECT_EQ(fallback.value()[0].insert_text, "from the wrapped engine");

  model.error = EngineError{EngineError::Kind::kCancelled, "cancelled"};
  auto cancelled = engine.complete_inline(query("a^", InlineTrigger::kInvoked), {});
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().kind, EngineError::Kind::kCancelled);

  // Menu items and documents are the symbolic engine's.
  CompletionQuery menu;
  menu.document = query("a^", InlineTrigger::kInvoked).document;
  auto items = engine.complete(menu, {});
  ASSERT_TRUE(items);
  EXPECT_EQ(items.value().items[0].label, "from the wrapped engine");
  engine.document_updated(menu.document);
  EXPECT_EQ(symbols->documents, 1);
  EXPECT_EQ(model.asked.size(), 2u);  // the menu asked the model nothing
}

TEST(ModelCompletionEngine, TypingTheStartOfASuggestionAnswersWithItsRestWithoutTheModel) {
  auto symbols = std::make_shared<FakeCompletionEngine>();
  ScriptedModel model;
  model.answer = {{"norm(p);", -1}, {"normal(p);", -2}};
  ModelCompletionEngine engine(symbols, model.function());
  ASSERT_TRUE(engine.complete_inline(query("x = ^\n}", InlineTrigger::kInvoked), {}));

  // "no" typed: both suggestions go on; the model is not asked.
  auto rest = engine.complete_inline(query("x = no^\n}", InlineTrigger::kInvoked), {});
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest.value().size(), 2u);
  EXPECT_EQ(rest.value()[0].insert_text, "rm(p);");
  EXPECT_EQ(rest.value()[0].replace_begin, 6u);
  EXPECT_EQ(rest.value()[1].insert_text, "rmal(p);");
  // "norma": only the second still matches.
  auto one = engine.complete_inline(query("x = norma^\n}", InlineTrigger::kAutomatic), {});
  ASSERT_TRUE(one);
  ASSERT_EQ(one.value().size(), 1u);
  EXPECT_EQ(one.value()[0].insert_text, "l(p);");
  EXPECT_EQ(model.asked.size(), 1u);

  // Something else typed, an edit elsewhere, or the whole suggestion typed: the model again.
  ASSERT_TRUE(engine.complete_inline(query("x = nx^\n}", InlineTrigger::kInvoked), {}));
  EXPECT_EQ(model.asked.size(), 2u);
  ASSERT_TRUE(engine.complete_inline(query("y = nxa^\n}", InlineTrigger::kInvoked), {}));
  EXPECT_EQ(model.asked.size(), 3u);
  ASSERT_TRUE(engine.complete_inline(query("y = nxa^", InlineTrigger::kInvoked), {}));
  EXPECT_EQ(model.asked.size(), 4u);
}

TEST(ModelCompletionEngine, WhileNoModelIsConfiguredTheSymbolsAnswerWithoutADebounce) {
  auto symbols = std::make_shared<FakeCompletionEngine>();
  ScriptedModel model;
  model.answer = {{"x", -1}};
  ModelCompletionEngine engine(symbols, model.function(), {false, std::chrono::hours(1)});
  auto answered = engine.complete_inline(query("a^", InlineTrigger::kAutomatic), {});
  ASSERT_TRUE(answered);
  ASSERT_EQ(answered.value().size(), 1u);
  EXPECT_EQ(answered.value()[0].insert_text, "from the wrapped engine");
  EXPECT_TRUE(model.asked.empty());

  engine.configure({true, std::chrono::milliseconds(0)});
  answered = engine.complete_inline(query("a^", InlineTrigger::kAutomatic), {});
  ASSERT_TRUE(answered);
  ASSERT_EQ(answered.value().size(), 1u);
  EXPECT_EQ(answered.value()[0].insert_text, "x");
  EXPECT_EQ(model.asked.size(), 1u);
}

TEST(ModelCompletionEngine, AnAutomaticRequestCancelledWhileDebouncingNeverReachesTheModel) {
  auto symbols = std::make_shared<FakeCompletionEngine>();
  ScriptedModel model;
  model.answer = {{"x", -1}};
  ModelCompletionEngine engine(symbols, model.function(), {true, std::chrono::milliseconds(200)});
  lsp::CancellationSource source;
  std::thread typist([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    source.cancel(lsp::CancelReason::kCancelRequest);  // the next keystroke
  });
  auto superseded = engine.complete_inline(query("a^", InlineTrigger::kAutomatic), source.token());
  typist.join();
  ASSERT_FALSE(superseded);
  EXPECT_EQ(superseded.error().kind, EngineError::Kind::kCancelled);
  EXPECT_TRUE(model.asked.empty());
  // Uncancelled, it waits out the debounce and asks; an invoked request never waits.
  ASSERT_TRUE(engine.complete_inline(query("b^", InlineTrigger::kAutomatic), {}));
  ASSERT_TRUE(engine.complete_inline(query("c^", InlineTrigger::kInvoked), {}));
  EXPECT_EQ(model.asked.size(), 2u);
}

/// A wrapped engine whose menu is `names`, each over two typed characters.
std::shared_ptr<FakeCompletionEngine> menu_of(std::vector<std::string> names) {
  auto engine = std::make_shared<FakeCompletionEngine>();
  engine->menu = std::move(names);
  engine->typed = 2;
  return engine;
}

std::vector<std::string> labels(const CompletionList& list) {
  std::vector<std::string> out;
  for (const CompletionCandidate& c : list.items) out.push_back(c.label);
  return out;
}

CompletionQuery menu_query(const std::string& marked) {
  CompletionQuery q;
  const InlineCompletionQuery inline_query = query(marked, InlineTrigger::kInvoked);
  q.document = inline_query.document;
  q.cursor = inline_query.cursor;
  return q;
}

TEST(ModelCompletionEngine, TheModelRanksTheFirstMenuItemsAheadOfTheRest) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < ModelCompletionEngine::kRankedItems + 2; ++i)
    names.push_back("na" + std::to_string(i));
  std::vector<ModelRankRequest> asked;
  MenuRanker ranker = [&](const ModelRankRequest& r,
                          const lsp::CancellationToken&) -> EngineResult<std::vector<double>> {
    asked.push_back(r);
    std::vector<double> scores;  // the model likes later names better
    for (std::size_t i = 0; i < r.candidates.size(); ++i) scores.push_back(-100.0 + i);
    return scores;
  };
  ScriptedModel model;
  ModelCompletionEngine engine(menu_of(names), model.function(), {}, ranker);
  auto list = engine.complete(menu_query("x = na^;"), {});
  ASSERT_TRUE(list);
  ASSERT_EQ(asked.size(), 1u);
  // The model sees the text without the typed part, and the first kRankedItems names.
  EXPECT_EQ(asked[0].text, "x = ;");
  EXPECT_EQ(asked[0].cursor, 4u);
  EXPECT_EQ(asked[0].candidates.size(), ModelCompletionEngine::kRankedItems);
  const auto order = labels(list.value());
  const std::size_t last_ranked = ModelCompletionEngine::kRankedItems - 1;
  EXPECT_EQ(order.front(), "na" + std::to_string(last_ranked));
  EXPECT_EQ(order[last_ranked], "na0");
  EXPECT_EQ(order[last_ranked + 1], "na" + std::to_string(last_ranked + 1));  // unranked, in order
  for (std::size_t i = 1; i < list.value().items.size(); ++i)
    EXPECT_GT(list.value().items[i - 1].score, list.value().items[i].score) << i;
}

TEST(ModelCompletionEngine, WithoutAModelOrWhenRankingFailsTheMenuKeepsItsOrder) {
  const std::vector<std::string> names = {"nb", "na"};
  MenuRanker failing = [](const ModelRankRequest&,
                          const lsp::CancellationToken&) -> EngineResult<std::vector<double>> {
    return EngineError{EngineError::Kind::kInternal, "the memory is not open yet"};
  };
  ScriptedModel model;
  ModelCompletionEngine engine(menu_of(names), model.function(), {}, failing);
  auto list = engine.complete(menu_query("n^"), {});
  ASSERT_TRUE(list);
  EXPECT_EQ(labels(list.value()), names);

  int asked = 0;
  MenuRanker counting = [&](const ModelRankRequest& r,
                            const lsp::CancellationToken&) -> EngineResult<std::vector<double>> {
    ++asked;
    return std::vector<double>(r.candidates.size(), 0.0);
  };
  ModelCompletionEngine off(menu_of(names), model.function(), {false}, counting);
  ASSERT_TRUE(off.complete(menu_query("n^"), {}));
  EXPECT_EQ(asked, 0);
}

}  // namespace
}  // namespace mnemo::server
