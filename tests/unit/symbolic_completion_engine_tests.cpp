// SymbolicCompletionEngine end to end: fixtures are the code a user sees, with `^` where
// the cursor is; expectations are the menu (labels in order) or the ghost text offered.
#include "server/completion/symbolic_completion_engine.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "lsp/uri.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/annotated_text.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCurrentUri = "file:///project/current.cc";

DocumentView make_view(const std::string& uri, std::string text) {
  DocumentView view;
  view.uri = uri;
  view.language_id = "cpp";
  view.version = 1;
  view.document = std::make_shared<const lsp::TextDocument>(std::move(text));
  return view;
}

std::vector<std::string> labels(const CompletionList& list) {
  std::vector<std::string> out;
  for (const auto& item : list.items) out.push_back(item.label);
  return out;
}

std::vector<std::string> texts(const std::vector<InlineSuggestion>& suggestions) {
  std::vector<std::string> out;
  for (const auto& suggestion : suggestions) out.push_back(suggestion.insert_text);
  return out;
}

class SymbolicCompletionEngineTest : public ::testing::Test {
 protected:
  CompletionList complete(std::string_view markup, std::size_t max_items = 100,
                          const std::string& uri = kCurrentUri) {
    const auto annotated = test::parse_cursor(markup);
    CompletionQuery query;
    query.document = make_view(uri, annotated.text);
    query.cursor = annotated.cursor;
    query.max_items = max_items;
    auto result = engine_.complete(query, lsp::CancellationToken());
    EXPECT_TRUE(result.has_value());
    return result ? std::move(result).value() : CompletionList{};
  }

  std::vector<InlineSuggestion> complete_inline(std::string_view markup, InlineTrigger trigger,
                                                std::optional<SelectedCompletion> selected = {}) {
    const auto annotated = test::parse_cursor(markup);
    InlineCompletionQuery query;
    query.document = make_view(kCurrentUri, annotated.text);
    query.cursor = annotated.cursor;
    query.trigger = trigger;
    query.selected = std::move(selected);
    auto result = engine_.complete_inline(query, lsp::CancellationToken());
    EXPECT_TRUE(result.has_value());
    return result ? std::move(result).value() : std::vector<InlineSuggestion>{};
  }

  SymbolicCompletionEngine engine_;
};

// --- complete --------------------------------------------------------------------

TEST_F(SymbolicCompletionEngineTest, FiltersByPrefixCaseInsensitivelyExactCaseFirst) {
  const CompletionList list = complete("FooBaz fooBar FOOQUX other\nfo^");
  EXPECT_EQ(labels(list), (std::vector<std::string>{"fooBar", "FOOQUX", "FooBaz"}));
  EXPECT_FALSE(list.incomplete);
  ASSERT_FALSE(list.items.empty());
  const CompletionCandidate& item = list.items.front();
  EXPECT_EQ(item.insert_text, "fooBar");
  EXPECT_EQ(item.replace_begin, 27u);
  EXPECT_EQ(item.replace_end, 29u);
  EXPECT_EQ(item.kind, CompletionItemKind::kIdentifier);
  EXPECT_EQ(item.detail, "identifier \u00b7 1 use in this file");
  EXPECT_GT(list.items[0].score, list.items[1].score);
}

TEST_F(SymbolicCompletionEngineTest, RanksByFrequency) {
  EXPECT_EQ(labels(complete("alphaRare alphaCommon alphaCommon alphaCommon\nalp^")),
            (std::vector<std::string>{"alphaCommon", "alphaRare"}));
}

TEST_F(SymbolicCompletionEngineTest, RanksByProximity) {
  std::string text = "betaFar\n";
  for (int i = 0; i < 40; ++i) text += "x;\n";
  text += "betaNear\nbe^ta\n";
  EXPECT_EQ(labels(complete(text)), (std::vector<std::string>{"betaNear", "betaFar"}));
  // Uses below the cursor count as near too.
  EXPECT_EQ(labels(complete("betaFar\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nbe^\nbetaNear")),
            (std::vector<std::string>{"betaNear", "betaFar"}));
}

TEST_F(SymbolicCompletionEngineTest, TiesBreakByName) {
  EXPECT_EQ(labels(complete("gammaB gammaA gammaC\ngam^")),
            (std::vector<std::string>{"gammaA", "gammaB", "gammaC"}));
}

TEST_F(SymbolicCompletionEngineTest, ExcludesTheWordBeingTyped) {
  EXPECT_EQ(labels(complete("int counter;\nunique_na^")), std::vector<std::string>{});
  // The whole word around the cursor is the one being typed.
  EXPECT_EQ(labels(complete("int counter;\ncount^Xyz")), (std::vector<std::string>{"counter"}));
  // Used elsewhere, it is a real candidate.
  EXPECT_EQ(labels(complete("unique_name = 1;\nunique_na^")),
            (std::vector<std::string>{"unique_name"}));
  const CompletionList list = complete("countXyz = 1;\ncount^Xyz");
  EXPECT_EQ(labels(list), (std::vector<std::string>{"countXyz"}));
  EXPECT_EQ(list.items[0].detail, "identifier \u00b7 1 use in this file");
}

TEST_F(SymbolicCompletionEngineTest, NothingWithoutPrefixOrTrigger) {
  EXPECT_TRUE(complete("value other\nx = ^").items.empty());
  EXPECT_TRUE(complete("value other\na >^").items.empty());
  EXPECT_TRUE(complete("value other\n^").items.empty());
  EXPECT_TRUE(complete("value other\n3.^").items.empty());
}

TEST_F(SymbolicCompletionEngineTest, MemberAccessOffersEverything) {
  const std::pair<const char*, std::vector<std::string>> cases[] = {
      {"size data; obj.^", {"data", "obj", "size"}},
      {"size data; ptr->^", {"data", "ptr", "size"}},
      {"size data; std::^", {"data", "size", "std"}},
  };
  for (const auto& [markup, expected] : cases) {
    const CompletionList list = complete(markup);
    EXPECT_EQ(labels(list), expected) << markup;
    EXPECT_TRUE(list.incomplete) << markup;
  }
}

TEST_F(SymbolicCompletionEngineTest, MaxItemsTruncatesAndMarksIncomplete) {
  const std::string markup = "item1 item2 item3 item4 item5\nit^";
  CompletionList list = complete(markup, 3);
  EXPECT_EQ(labels(list), (std::vector<std::string>{"item1", "item2", "item3"}));
  EXPECT_TRUE(list.incomplete);
  list = complete(markup, 5);
  EXPECT_EQ(list.items.size(), 5u);
  EXPECT_FALSE(list.incomplete);
}

TEST_F(SymbolicCompletionEngineTest, NumbersAreNotIdentifiers) {
  EXPECT_TRUE(complete("0x1F 0xFF value\n0x^").items.empty());
  EXPECT_EQ(labels(complete("0x1F x1Fun\nx1^")), (std::vector<std::string>{"x1Fun"}));
}

TEST_F(SymbolicCompletionEngineTest, Utf8Identifiers) {
  EXPECT_EQ(labels(complete("größe größenordnung grün\ngrö^")),
            (std::vector<std::string>{"größe", "größenordnung"}));
  EXPECT_EQ(labels(complete("変数名 変数値 変数値\n変数^")),
            (std::vector<std::string>{"変数値", "変数名"}));
  // "é" is one character (two bytes): too short to offer.
  EXPECT_EQ(labels(complete("é éa\né^")), (std::vector<std::string>{"éa"}));
}

TEST_F(SymbolicCompletionEngineTest, OtherOpenDocumentsContributeUntilClosed) {
  engine_.document_updated(
      make_view("file:///project/other.cc", "deltaOther deltaOther deltaBoth"));
  CompletionList list = complete("deltaBoth deltaBoth\ndel^");
  EXPECT_EQ(labels(list), (std::vector<std::string>{"deltaBoth", "deltaOther"}));
  EXPECT_EQ(list.items[0].detail, "identifier \u00b7 2 uses in this file, 1 in other files");
  EXPECT_EQ(list.items[1].detail, "identifier \u00b7 2 uses in other files");

  // An update replaces the document's counts.
  engine_.document_updated(make_view("file:///project/other.cc", "deltaNew"));
  EXPECT_EQ(labels(complete("deltaBoth\ndel^")),
            (std::vector<std::string>{"deltaBoth", "deltaNew"}));

  engine_.document_closed("file:///project/other.cc");
  EXPECT_EQ(labels(complete("deltaBoth\ndel^")), (std::vector<std::string>{"deltaBoth"}));
}

TEST_F(SymbolicCompletionEngineTest, CurrentDocumentIsCountedFromTheQueryOnly) {
  // The stored copy of the current document is stale: the query's text wins.
  engine_.document_updated(make_view(kCurrentUri, "epsilonOld epsilonOld"));
  const CompletionList list = complete("epsilonNew\neps^");
  EXPECT_EQ(labels(list), (std::vector<std::string>{"epsilonNew"}));
  EXPECT_EQ(list.items[0].detail, "identifier \u00b7 1 use in this file");
}

TEST_F(SymbolicCompletionEngineTest, RejectsACursorPastTheEnd) {
  CompletionQuery query;
  query.document = make_view(kCurrentUri, "abc");
  query.cursor = 4;
  const auto result = engine_.complete(query, lsp::CancellationToken());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, EngineError::Kind::kInvalidArgument);
}

// --- cancellation ---------------------------------------------------------------------

TEST_F(SymbolicCompletionEngineTest, PreCancelledTokenCancelsCompletion) {
  lsp::CancellationSource source;
  source.cancel(lsp::CancelReason::kCancelRequest);
  const auto annotated = test::parse_cursor("alpha alpha\nal^");

  CompletionQuery query;
  query.document = make_view(kCurrentUri, annotated.text);
  query.cursor = annotated.cursor;
  const auto list = engine_.complete(query, source.token());
  ASSERT_FALSE(list.has_value());
  EXPECT_EQ(list.error().kind, EngineError::Kind::kCancelled);

  InlineCompletionQuery inline_query;
  inline_query.document = query.document;
  inline_query.cursor = annotated.cursor;
  const auto suggestions = engine_.complete_inline(inline_query, source.token());
  ASSERT_FALSE(suggestions.has_value());
  EXPECT_EQ(suggestions.error().kind, EngineError::Kind::kCancelled);
}

// --- inline ---------------------------------------------------------------------------

TEST_F(SymbolicCompletionEngineTest, InlineAutomaticGivesTheBestOne) {
  const auto suggestions = complete_inline(
      "renderFrame renderFrame renderScene renderer\nint x = ren^;", InlineTrigger::kAutomatic);
  ASSERT_EQ(suggestions.size(), 1u);
  EXPECT_EQ(suggestions[0].insert_text, "renderFrame");
  EXPECT_EQ(suggestions[0].replace_begin, 53u);
  EXPECT_EQ(suggestions[0].replace_end, 56u);
}

TEST_F(SymbolicCompletionEngineTest, InlineInvokedGivesUpToThreeDistinct) {
  const auto suggestions = complete_inline(
      "renderFrame renderFrame renderScene renderer renderAll\nren^", InlineTrigger::kInvoked);
  EXPECT_EQ(texts(suggestions),
            (std::vector<std::string>{"renderFrame", "renderAll", "renderScene"}));
}

TEST_F(SymbolicCompletionEngineTest, InlineOnlyExtendsTheTypedWordExactly) {
  // Equal to the prefix, or in another case: not ghost text.
  EXPECT_EQ(
      texts(complete_inline("render Render RENDERING rendered\nrender^", InlineTrigger::kInvoked)),
      (std::vector<std::string>{"rendered"}));
}

TEST_F(SymbolicCompletionEngineTest, InlineNeedsAPrefixAtTheEndOfAWord) {
  EXPECT_TRUE(complete_inline("renderFrame\nobj.^", InlineTrigger::kInvoked).empty());
  EXPECT_TRUE(complete_inline("renderFrame\n^", InlineTrigger::kInvoked).empty());
  EXPECT_TRUE(complete_inline("renderFrame\nren^d", InlineTrigger::kInvoked).empty());
  EXPECT_TRUE(complete_inline("0x10 0x1000\n0x1^", InlineTrigger::kInvoked).empty());
}

TEST_F(SymbolicCompletionEngineTest, InlineExtendsTheSelectedMenuItem) {
  const std::string markup = "rangeBegin rangeBeginAll rangeEnd rangeBeginning\n$ran^";
  const std::size_t cursor = test::parse_cursor(markup).cursor;
  SelectedCompletion selected;
  selected.replace_begin = cursor - 4;  // the client's item also replaces the `$`
  selected.replace_end = cursor;
  selected.text = "rangeBegin";
  const auto suggestions = complete_inline(markup, InlineTrigger::kInvoked, selected);
  EXPECT_EQ(texts(suggestions), (std::vector<std::string>{"rangeBeginAll", "rangeBeginning"}));
  for (const auto& suggestion : suggestions) {
    EXPECT_EQ(suggestion.replace_begin, selected.replace_begin);
    EXPECT_EQ(suggestion.replace_end, selected.replace_end);
  }
  selected.text = "rangeEnd";  // nothing extends it
  EXPECT_TRUE(complete_inline(markup, InlineTrigger::kInvoked, selected).empty());
  // Automatic: only the best.
  selected.text = "rangeBegin";
  EXPECT_EQ(texts(complete_inline(markup, InlineTrigger::kAutomatic, selected)),
            (std::vector<std::string>{"rangeBeginAll"}));
}

TEST_F(SymbolicCompletionEngineTest, InlineRejectsASelectionOutsideTheDocument) {
  InlineCompletionQuery query;
  query.document = make_view(kCurrentUri, "abc ab");
  query.cursor = 6;
  query.selected = SelectedCompletion{2, 9, "abc"};
  const auto result = engine_.complete_inline(query, lsp::CancellationToken());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, EngineError::Kind::kInvalidArgument);
}

// --- workspace --------------------------------------------------------------------------

class RecordingProgress : public ProgressSink {
 public:
  void begin(const std::string&, const std::string&) override { ++begins; }
  void report(const std::string&, std::optional<unsigned> percentage) override {
    ++reports;
    if (percentage) {
      EXPECT_LE(*percentage, 100u);
    }
  }
  void end(const std::string& message) override {
    ++ends;
    last_end = message;
  }
  int begins = 0;
  int reports = 0;
  int ends = 0;
  std::string last_end;
};

using mnemo::testing::TempDir;

class SymbolicWorkspaceTest : public SymbolicCompletionEngineTest {
 protected:
  void index(const fs::path& root, const lsp::CancellationToken& token = {}) {
    engine_.index_workspace({root}, progress_, token);
  }
  RecordingProgress progress_;
};

TEST_F(SymbolicWorkspaceTest, IndexesSourceFilesOnly) {
  TempDir dir;
  dir.write("src/main.cc", "wsVisible wsVisible wsShared");
  dir.write("My Dir/größe.py", "wsUnicodePath");
  dir.write(".hidden/a.cc", "wsHidden");
  dir.write("node_modules/lib/index.js", "wsNodeModules");
  dir.write("build-debug/gen.cc", "wsBuild");
  dir.write("src/image.png", "wsPng");
  dir.write("src/blob.h", std::string("wsBinary\0\x01\x02", 11));
  dir.write("src/huge.txt", std::string(1 << 20, ' ') + "wsLarge");
  fs::create_directory_symlink(dir.path(), dir.path() / "src" / "loop");  // a cycle
  fs::create_symlink(dir.path() / "src" / "main.cc", dir.path() / "src" / "alias.cc");

  index(dir.path());
  EXPECT_EQ(progress_.begins, 1);
  EXPECT_EQ(progress_.ends, 1);
  EXPECT_GE(progress_.reports, 1);
  EXPECT_EQ(engine_.indexed_file_count(), 2u);

  const CompletionList list = complete("ws^");
  EXPECT_EQ(labels(list), (std::vector<std::string>{"wsVisible", "wsShared", "wsUnicodePath"}));
  EXPECT_EQ(list.items[0].detail, "identifier \u00b7 2 uses in other files");
}

TEST_F(SymbolicWorkspaceTest, ReportsProgressEveryHundredFiles) {
  TempDir dir;
  for (int i = 0; i < 250; ++i) dir.write("f" + std::to_string(i) + ".c", "zetaName");
  index(dir.path());
  EXPECT_EQ(progress_.reports, 3);  // at 0, 100 and 200 files
  EXPECT_EQ(progress_.last_end, "Indexed 250 files");
  EXPECT_EQ(complete("zeta^").items.at(0).detail, "identifier \u00b7 250 uses in other files");
}

TEST_F(SymbolicWorkspaceTest, OpenDocumentsShadowTheirFiles) {
  TempDir dir;
  dir.write("src/main.cc", "thetaDisk thetaDisk");
  dir.write("src/util.cc", "thetaUtil");
  index(dir.path());
  const std::string main_uri = lsp::path_to_file_uri(dir.path() / "src" / "main.cc");

  engine_.document_updated(make_view(main_uri, "thetaLive"));
  EXPECT_EQ(labels(complete("the^")), (std::vector<std::string>{"thetaLive", "thetaUtil"}));

  // Completing in the file itself counts its live text once.
  const CompletionList list = complete("thetaDisk\nthe^", 100, main_uri);
  EXPECT_EQ(labels(list), (std::vector<std::string>{"thetaDisk", "thetaUtil"}));
  EXPECT_EQ(list.items[0].detail, "identifier \u00b7 1 use in this file");

  engine_.document_closed(main_uri);
  EXPECT_EQ(labels(complete("the^")), (std::vector<std::string>{"thetaDisk", "thetaUtil"}));
}

TEST_F(SymbolicWorkspaceTest, ANewScanReplacesTheTable) {
  TempDir first;
  first.write("a.cc", "iotaFirst");
  TempDir second;
  second.write("b.cc", "iotaSecond");
  index(first.path());
  index(second.path());
  EXPECT_EQ(labels(complete("io^")), (std::vector<std::string>{"iotaSecond"}));
}

TEST_F(SymbolicWorkspaceTest, CancelledScanStopsAndKeepsThePreviousTable) {
  TempDir first;
  first.write("a.cc", "kappaFirst");
  index(first.path());

  TempDir second;
  second.write("b.cc", "kappaSecond");
  lsp::CancellationSource source;
  source.cancel(lsp::CancelReason::kShutdown);
  progress_ = RecordingProgress();
  index(second.path(), source.token());
  EXPECT_EQ(progress_.begins, 1);
  EXPECT_EQ(progress_.ends, 1);
  EXPECT_EQ(labels(complete("ka^")), (std::vector<std::string>{"kappaFirst"}));
}

TEST_F(SymbolicWorkspaceTest, ConcurrentCallsAreSafe) {
  TempDir dir;
  for (int i = 0; i < 50; ++i)
    dir.write("f" + std::to_string(i) + ".cc", "lambdaDisk lambdaShared");
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    RecordingProgress progress;
    for (int i = 0; i < 3; ++i) engine_.index_workspace({dir.path()}, progress, {});
  });
  threads.emplace_back([&] {
    for (int i = 0; i < 200; ++i) {
      const std::string uri = "file:///project/open" + std::to_string(i % 5) + ".cc";
      engine_.document_updated(make_view(uri, "lambdaOpen" + std::to_string(i)));
      if (i % 3 == 0) engine_.document_closed(uri);
    }
  });
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        const auto annotated = test::parse_cursor("lambdaLocal\nlam^");
        CompletionQuery query;
        query.document = make_view(kCurrentUri, annotated.text);
        query.cursor = annotated.cursor;
        const auto list = engine_.complete(query, {});
        ASSERT_TRUE(list.has_value());
        ASSERT_FALSE(list.value().items.empty());
        InlineCompletionQuery inline_query;
        inline_query.document = query.document;
        inline_query.cursor = query.cursor;
        ASSERT_TRUE(engine_.complete_inline(inline_query, {}).has_value());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(engine_.indexed_file_count(), 50u);
  EXPECT_EQ(complete("lambdaDisk\nlambdaS^").items.at(0).detail,
            "identifier \u00b7 50 uses in other files");
}

}  // namespace
}  // namespace mnemo::server
