// DocumentStore: didOpen/didChange/didClose bookkeeping, and incremental edits applied
// exactly as a client sends them (each change against the result of the previous one).
#include "lsp/document_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::lsp {
namespace {

constexpr char kUri[] = "file:///src/main.cpp";

TextChange insert_at(Position at, std::string text) {
  return TextChange{Range{at, at}, std::move(text)};
}

TextChange replace(Position start, Position end, std::string text) {
  return TextChange{Range{start, end}, std::move(text)};
}

TextChange replace_all(std::string text) {
  return TextChange{std::nullopt, std::move(text)};
}

/// The current text of kUri (or of `uri`); fails the test if it is not open.
std::string text_of(const DocumentStore& store, const std::string& uri = kUri) {
  const auto snapshot = store.get(uri);
  if (!snapshot) {
    ADD_FAILURE() << uri << " is not open";
    return {};
  }
  return snapshot->document->text();
}

/// Applies one didChange and expects it to succeed.
DocumentStore::ChangeOutcome apply(DocumentStore& store, std::int64_t version,
                                   const std::vector<TextChange>& changes,
                                   PositionEncoding encoding = PositionEncoding::kUtf16) {
  auto result = store.change(kUri, version, changes, encoding);
  if (!result) {
    ADD_FAILURE() << "change failed: " << result.error().message;
    return {};
  }
  return result.value();
}

TEST(DocumentStoreTest, OpenStoresSnapshotAtVersion) {
  DocumentStore store;
  const auto outcome = store.open(kUri, "cpp", 1, "int x;\n");
  EXPECT_FALSE(outcome.replaced);
  EXPECT_EQ(outcome.snapshot.uri, kUri);
  EXPECT_EQ(outcome.snapshot.language_id, "cpp");
  EXPECT_EQ(outcome.snapshot.version, 1);
  EXPECT_EQ(outcome.snapshot.document->text(), "int x;\n");

  const auto snapshot = store.get(kUri);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->version, 1);
  EXPECT_EQ(snapshot->document->line_count(), 2u);
}

TEST(DocumentStoreTest, ReopenReplacesDocumentAndSaysSo) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "old");
  apply(store, 2, {insert_at({0, 3}, " edit")});
  const auto outcome = store.open(kUri, "c", 1, "new");
  EXPECT_TRUE(outcome.replaced);
  EXPECT_EQ(text_of(store), "new");
  EXPECT_EQ(store.get(kUri)->version, 1);
  EXPECT_EQ(store.get(kUri)->language_id, "c");
  EXPECT_EQ(store.all().size(), 1u);
}

TEST(DocumentStoreTest, FullReplacementReplacesWholeText) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "int x;\nint y;\n");
  const auto outcome = apply(store, 2, {replace_all("void f();")});
  EXPECT_FALSE(outcome.stale_version);
  EXPECT_EQ(outcome.snapshot.version, 2);
  EXPECT_EQ(outcome.snapshot.document->text(), "void f();");
  EXPECT_EQ(outcome.snapshot.document->line_count(), 1u);
  EXPECT_EQ(text_of(store), "void f();");
}

TEST(DocumentStoreTest, IncrementalInsert) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "int x;\n");
  apply(store, 2, {insert_at({0, 5}, " = 42")});
  EXPECT_EQ(text_of(store), "int x = 42;\n");
}

TEST(DocumentStoreTest, IncrementalDelete) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "int unused_x;\n");
  apply(store, 2, {replace({0, 4}, {0, 11}, "")});
  EXPECT_EQ(text_of(store), "int x;\n");
}

TEST(DocumentStoreTest, ReplaceSpanningLinesJoinsThem) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "int f() {\n  return\n    1;\n}\n");
  apply(store, 2, {replace({1, 8}, {2, 4}, " ")});
  EXPECT_EQ(text_of(store), "int f() {\n  return 1;\n}\n");
  EXPECT_EQ(store.get(kUri)->document->line_count(), 4u);
}

TEST(DocumentStoreTest, DeletingCrlfLineBreakJoinsLines) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "a\r\nb\r\n");
  apply(store, 2, {replace({0, 1}, {1, 0}, "")});
  EXPECT_EQ(text_of(store), "ab\r\n");
}

// What VS Code sends while a user types a new statement: Enter (with auto-indent), one
// didChange per keystroke, a backspace, then accepting a completion that replaces the
// word typed so far.
TEST(DocumentStoreTest, KeystrokeSequenceAsVsCodeSendsIt) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "int main() {\n  int x = 0;\n}\n");
  apply(store, 2, {insert_at({1, 12}, "\n  ")});
  apply(store, 3, {insert_at({2, 2}, "r")});
  apply(store, 4, {insert_at({2, 3}, "e")});
  apply(store, 5, {insert_at({2, 4}, "y")});
  apply(store, 6, {replace({2, 4}, {2, 5}, "")});  // backspace over the typo
  apply(store, 7, {insert_at({2, 4}, "t")});
  apply(store, 8, {replace({2, 2}, {2, 5}, "return")});  // completion item accepted
  const auto outcome = apply(store, 9, {insert_at({2, 8}, " x;")});
  EXPECT_EQ(outcome.snapshot.version, 9);
  EXPECT_EQ(text_of(store), "int main() {\n  int x = 0;\n  return x;\n}\n");
}

// Multi-cursor typing: VS Code sends one change per cursor in one notification, last
// cursor first, so that each range is still valid after the changes before it.
TEST(DocumentStoreTest, MultiCursorBatchAppliesChangesInOrder) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "int x = 1;\nint y = x + x;\n");
  apply(store, 2,
        {replace({1, 12}, {1, 13}, "count"), replace({1, 8}, {1, 9}, "count"),
         replace({0, 4}, {0, 5}, "count")});
  EXPECT_EQ(text_of(store), "int count = 1;\nint y = count + count;\n");
}

// Each change is against the text the previous one produced: the second range is only
// right after the first has inserted a line above it.
TEST(DocumentStoreTest, BatchAppliesEachChangeToResultOfPreviousOne) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "int main() { puts(\"hi\"); }\n");
  apply(store, 2,
        {insert_at({0, 0}, "#include <cstdio>\n"), replace({1, 13}, {1, 17}, "std::puts")});
  EXPECT_EQ(text_of(store), "#include <cstdio>\nint main() { std::puts(\"hi\"); }\n");
}

TEST(DocumentStoreTest, FullReplacementInsideBatchResetsBaseForLaterChanges) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "first\n");
  apply(store, 2, {insert_at({0, 0}, "x"), replace_all("second"), insert_at({0, 6}, "!")});
  EXPECT_EQ(text_of(store), "second!");
}

// 😀 (U+1F600) is 4 UTF-8 bytes, 2 UTF-16 units and 1 code point; the same edit has a
// different character offset in each encoding.
TEST(DocumentStoreTest, EditsAfterEmojiUseNegotiatedEncoding) {
  struct Case {
    PositionEncoding encoding;
    std::uint32_t after_emoji;
  };
  for (const Case c : {Case{PositionEncoding::kUtf8, 9}, Case{PositionEncoding::kUtf16, 7},
                       Case{PositionEncoding::kUtf32, 6}}) {
    SCOPED_TRACE(std::string(to_string(c.encoding)));
    DocumentStore store;
    store.open(kUri, "cpp", 1, "int a;\ns = \"😀\";\n");
    apply(store, 2, {insert_at({1, c.after_emoji}, "!")}, c.encoding);
    EXPECT_EQ(text_of(store), "int a;\ns = \"😀!\";\n");
  }
}

TEST(DocumentStoreTest, Utf16RangeCoveringSurrogatePairDeletesWholeEmoji) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "s = \"😀中\";\n");
  apply(store, 2, {replace({0, 5}, {0, 7}, "")});
  EXPECT_EQ(text_of(store), "s = \"中\";\n");
  apply(store, 3, {replace({0, 5}, {0, 6}, "x")});
  EXPECT_EQ(text_of(store), "s = \"x\";\n");
}

TEST(DocumentStoreTest, Utf16PositionInsideSurrogatePairRoundsDownToEmojiStart) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "a😀b");
  apply(store, 2, {insert_at({0, 2}, "|")});
  EXPECT_EQ(text_of(store), "a|😀b");
}

TEST(DocumentStoreTest, RangeBeyondEndOfTextIsClamped) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "ab\ncd");
  apply(store, 2, {replace({0, 50}, {0, 60}, "!")});
  EXPECT_EQ(text_of(store), "ab!\ncd");
  apply(store, 3, {replace({1, 1}, {9, 0}, "")});
  EXPECT_EQ(text_of(store), "ab!\nc");
}

TEST(DocumentStoreTest, RangeEndingBeforeStartFailsAndLeavesDocumentUnchanged) {
  DocumentStore store;
  store.open(kUri, "cpp", 3, "int x;\nint y;\n");
  // The first change is valid; the batch must still be rejected as a whole.
  const auto result =
      store.change(kUri, 4, {insert_at({0, 0}, "// header\n"), replace({1, 4}, {1, 1}, "z")},
                   PositionEncoding::kUtf16);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find(kUri), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("1:4"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("1:1"), std::string::npos) << result.error().message;
  const auto snapshot = store.get(kUri);
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->version, 3);
  EXPECT_EQ(snapshot->document->text(), "int x;\nint y;\n");
}

TEST(DocumentStoreTest, ChangeToUnknownDocumentFails) {
  DocumentStore store;
  const auto result =
      store.change("file:///nowhere.cpp", 2, {replace_all("x")}, PositionEncoding::kUtf16);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("file:///nowhere.cpp"), std::string::npos);
  EXPECT_NE(result.error().message.find("not open"), std::string::npos);
  EXPECT_FALSE(store.get("file:///nowhere.cpp"));
}

TEST(DocumentStoreTest, NonIncreasingVersionIsAppliedButFlaggedStale) {
  DocumentStore store;
  store.open(kUri, "cpp", 5, "a");
  const auto same = apply(store, 5, {insert_at({0, 1}, "b")});
  EXPECT_TRUE(same.stale_version);
  EXPECT_EQ(text_of(store), "ab");

  const auto older = apply(store, 2, {insert_at({0, 2}, "c")});
  EXPECT_TRUE(older.stale_version);
  EXPECT_EQ(older.snapshot.version, 2);  // the client is authoritative
  EXPECT_EQ(text_of(store), "abc");

  const auto newer = apply(store, 3, {insert_at({0, 3}, "d")});
  EXPECT_FALSE(newer.stale_version);
  EXPECT_EQ(text_of(store), "abcd");
}

TEST(DocumentStoreTest, CloseForgetsDocument) {
  DocumentStore store;
  store.open(kUri, "cpp", 1, "x");
  EXPECT_TRUE(store.close(kUri));
  EXPECT_FALSE(store.get(kUri));
  EXPECT_TRUE(store.all().empty());
  EXPECT_FALSE(store.close(kUri));
  EXPECT_FALSE(store.change(kUri, 2, {replace_all("y")}, PositionEncoding::kUtf16));
}

TEST(DocumentStoreTest, SnapshotsStayValidAfterLaterEdits) {
  DocumentStore store;
  const auto opened = store.open(kUri, "cpp", 1, "v1");
  apply(store, 2, {replace_all("v2")});
  store.close(kUri);
  EXPECT_EQ(opened.snapshot.version, 1);
  EXPECT_EQ(opened.snapshot.document->text(), "v1");
}

TEST(DocumentStoreTest, AllListsEveryOpenDocument) {
  DocumentStore store;
  store.open("file:///b.cpp", "cpp", 1, "b");
  store.open("file:///a.h", "cpp", 7, "a");
  const auto all = store.all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].uri, "file:///a.h");
  EXPECT_EQ(all[0].version, 7);
  EXPECT_EQ(all[1].uri, "file:///b.cpp");
}

}  // namespace
}  // namespace mnemo::lsp
