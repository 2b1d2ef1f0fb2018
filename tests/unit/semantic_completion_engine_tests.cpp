// The compiler's menu (server/completion/semantic_completion_engine.h) with a scripted source:
// where it asks to complete, how its items become menu items, and the identifiers answering
// whatever the compiler cannot (another language, a failure) but not a cancelled request.
#include "server/completion/semantic_completion_engine.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lsp/uri.h"
#include "tests/support/fake_completion_engine.h"

namespace mnemo::server {
namespace {

using testing::FakeCompletionEngine;

struct ScriptedSource {
  SemanticList answer;
  std::optional<EngineError> error;
  std::vector<SemanticQuery> asked;

  SemanticSource function() {
    return [this](const SemanticQuery& q,
                  const lsp::CancellationToken&) -> EngineResult<SemanticList> {
      asked.push_back(q);
      if (error) return *error;
      return answer;
    };
  }
};

class NullProgress final : public ProgressSink {
 public:
  void begin(const std::string&, const std::string&) override {}
  void report(const std::string&, std::optional<unsigned>) override {}
  void end(const std::string&) override {}
};

CompletionQuery query(const std::string& marked, const std::string& language = "cpp") {
  std::string text = marked;
  const auto cursor = text.find('^');
  text.erase(cursor, 1);
  CompletionQuery q;
  q.document.uri = lsp::path_to_file_uri("/repo/src/main.cpp");
  q.document.language_id = language;
  q.document.document = std::make_shared<const lsp::TextDocument>(text);
  q.cursor = cursor;
  return q;
}

TEST(SemanticCompletionEngine, AsksAtTheStartOfTheNameBeingTypedWithItsTypedPart) {
  auto identifiers = std::make_shared<FakeCompletionEngine>();
  ScriptedSource source;
  SemanticCompletionEngine engine(identifiers, source.function());
  NullProgress progress;
  engine.index_workspace({"/repo"}, progress, {});
  EXPECT_EQ(identifiers->indexed, std::vector<std::filesystem::path>{"/repo"});

  ASSERT_TRUE(engine.complete(query("int main() {\n  p.sca^le;\n}"), {}));
  ASSERT_EQ(source.asked.size(), 1u);
  const SemanticQuery& q = source.asked[0];
  EXPECT_EQ(q.file, std::filesystem::path("/repo/src/main.cpp"));
  EXPECT_EQ(q.root, std::filesystem::path("/repo"));
  EXPECT_EQ(q.line, 2u);
  EXPECT_EQ(q.column, 5u);  // 1-based: the `s` after "  p."
  EXPECT_EQ(q.prefix, "sca");
}

TEST(SemanticCompletionEngine, ItemsKeepTheSourcesOrderAndReplaceTheTypedPart) {
  ScriptedSource source;
  source.answer.items = {
      {"scale", "scale(double by)", "void", "Scales.", CompletionItemKind::kFunction},
      {"secret", "secret", "", "", CompletionItemKind::kField}};
  source.answer.truncated = true;
  SemanticCompletionEngine engine(std::make_shared<FakeCompletionEngine>(), source.function());
  auto list = engine.complete(query("p.se^"), {});
  ASSERT_TRUE(list);
  ASSERT_EQ(list.value().items.size(), 2u);
  const CompletionCandidate& first = list.value().items[0];
  EXPECT_EQ(first.label, "scale");
  EXPECT_EQ(first.insert_text, "scale");
  EXPECT_EQ(first.detail, "void scale(double by)");
  EXPECT_EQ(first.documentation, "Scales.");
  EXPECT_EQ(first.kind, CompletionItemKind::kFunction);
  EXPECT_EQ(first.replace_begin, 2u);
  EXPECT_EQ(first.replace_end, 4u);
  EXPECT_EQ(list.value().items[1].detail, "secret");
  EXPECT_GT(first.score, list.value().items[1].score);
  EXPECT_TRUE(list.value().incomplete);
}

TEST(SemanticCompletionEngine, AnOpenedCppDocumentIsPreparedOnceWithItsRoot) {
  ScriptedSource source;
  std::vector<SemanticQuery> prepared;
  SemanticCompletionEngine engine(std::make_shared<FakeCompletionEngine>(), source.function(),
                                  [&](const SemanticQuery& q) { prepared.push_back(q); });
  const DocumentView cpp = query("int x;^").document;
  DocumentView python = cpp;
  python.uri = lsp::path_to_file_uri("/repo/tool.py");
  python.language_id = "python";
  // Opened before the workspace's roots are known: prepared once they are.
  engine.document_updated(cpp);
  engine.document_updated(python);
  EXPECT_TRUE(prepared.empty());
  NullProgress progress;
  engine.index_workspace({"/repo"}, progress, {});
  ASSERT_EQ(prepared.size(), 1u);
  EXPECT_EQ(prepared[0].file, std::filesystem::path("/repo/src/main.cpp"));
  EXPECT_EQ(prepared[0].root, std::filesystem::path("/repo"));
  EXPECT_EQ(prepared[0].text, "int x;");
  // Edits of an open document are not prepared again; after a close and a reopen it is.
  engine.document_updated(cpp);
  EXPECT_EQ(prepared.size(), 1u);
  engine.document_closed(cpp.uri);
  engine.document_updated(cpp);
  EXPECT_EQ(prepared.size(), 2u);
  EXPECT_TRUE(source.asked.empty());  // preparing is not completing
}

TEST(SemanticCompletionEngine, OverloadsAreOneItemWithTheFirstSignature) {
  ScriptedSource source;
  source.answer.items = {
      {"cancel", "cancel()", "std::size_t", "", CompletionItemKind::kFunction},
      {"expiry", "expiry() const", "time_point", "", CompletionItemKind::kFunction},
      {"cancel", "cancel(error_code &ec)", "std::size_t", "", CompletionItemKind::kFunction},
      {"cancel", "cancel(int)", "void", "", CompletionItemKind::kFunction}};
  SemanticCompletionEngine engine(std::make_shared<FakeCompletionEngine>(), source.function());
  auto list = engine.complete(query("t.^"), {});
  ASSERT_TRUE(list);
  ASSERT_EQ(list.value().items.size(), 2u);
  EXPECT_EQ(list.value().items[0].label, "cancel");
  EXPECT_EQ(list.value().items[0].detail, "std::size_t cancel() (+2 overloads)");
  EXPECT_EQ(list.value().items[1].detail, "time_point expiry() const");
}

TEST(SemanticCompletionEngine, TheIdentifiersAnswerWhatTheCompilerCannotButNotACancelledRequest) {
  ScriptedSource source;
  SemanticCompletionEngine engine(std::make_shared<FakeCompletionEngine>(), source.function());
  // Not C or C++: the compiler is not asked.
  auto other = engine.complete(query("x = fo^", "python"), {});
  ASSERT_TRUE(other);
  EXPECT_EQ(other.value().items[0].label, "from the wrapped engine");
  EXPECT_TRUE(source.asked.empty());
  // In a number: nothing to complete by name.
  ASSERT_TRUE(engine.complete(query("x = 12^"), {}));
  EXPECT_TRUE(source.asked.empty());

  source.error = EngineError{EngineError::Kind::kInternal, "libclang could not parse it"};
  auto failed = engine.complete(query("fo^"), {});
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed.value().items[0].label, "from the wrapped engine");

  source.error = EngineError{EngineError::Kind::kCancelled, "cancelled"};
  auto cancelled = engine.complete(query("fo^"), {});
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().kind, EngineError::Kind::kCancelled);
}

}  // namespace
}  // namespace mnemo::server
