// TextDocument: the line table and the position <-> offset mapping in all three LSP
// position encodings. Fixtures mark points with `^`; expected byte offsets come from where
// the markers stand, so no test hard-codes an offset it would have to count by hand.
#include "lsp/text_document.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace mnemo::lsp {
namespace {

constexpr PositionEncoding kUtf8 = PositionEncoding::kUtf8;
constexpr PositionEncoding kUtf16 = PositionEncoding::kUtf16;
constexpr PositionEncoding kUtf32 = PositionEncoding::kUtf32;
constexpr PositionEncoding kAllEncodings[] = {kUtf8, kUtf16, kUtf32};

/// A fixture with its `^` markers removed, and the byte offset at which each one stood.
struct Marked {
  std::string text;
  std::vector<std::size_t> points;
};

Marked parse_markers(std::string_view marked) {
  Marked result;
  for (const char c : marked) {
    if (c == '^') {
      result.points.push_back(result.text.size());
    } else {
      result.text += c;
    }
  }
  return result;
}

/// Checks both directions: `offset` maps to `position`, and `position` back to `offset`.
void expect_maps(const TextDocument& document, std::size_t offset, Position position,
                 PositionEncoding encoding) {
  SCOPED_TRACE(std::string(to_string(encoding)) + " offset " + std::to_string(offset) + " <-> " +
               std::to_string(position.line) + ":" + std::to_string(position.character));
  EXPECT_EQ(document.position_at(offset, encoding), position);
  EXPECT_EQ(document.offset_at(position, encoding), offset);
}

TEST(PositionEncodingTest, NamesRoundTripAndUnknownNamesAreRejected) {
  for (const PositionEncoding encoding : kAllEncodings)
    EXPECT_EQ(parse_position_encoding(to_string(encoding)), encoding);
  EXPECT_EQ(to_string(kUtf16), "utf-16");
  EXPECT_EQ(parse_position_encoding("UTF-16"), std::nullopt);
  EXPECT_EQ(parse_position_encoding("utf16"), std::nullopt);
  EXPECT_EQ(parse_position_encoding(""), std::nullopt);
}

TEST(TextDocumentTest, SplitsLinesOnLfCrlfAndLoneCr) {
  const TextDocument document("lf\ncrlf\r\ncr\rlast");
  ASSERT_EQ(document.line_count(), 4u);
  EXPECT_EQ(document.line_text(0), "lf");
  EXPECT_EQ(document.line_text(1), "crlf");
  EXPECT_EQ(document.line_text(2), "cr");
  EXPECT_EQ(document.line_text(3), "last");
  EXPECT_EQ(document.line_start(1), 3u);
  EXPECT_EQ(document.line_start(2), 9u);
  EXPECT_EQ(document.line_start(3), 12u);
}

TEST(TextDocumentTest, CrFollowedByLfIsOneTerminatorButLfCrIsTwo) {
  const TextDocument document("a\n\rb");
  ASSERT_EQ(document.line_count(), 3u);
  EXPECT_EQ(document.line_text(1), "");
  EXPECT_EQ(document.line_text(2), "b");
}

TEST(TextDocumentTest, TextEndingInTerminatorHasEmptyLastLine) {
  for (const char* text : {"a\n", "a\r\n", "a\r"}) {
    SCOPED_TRACE(::testing::PrintToString(text));
    const TextDocument document(text);
    ASSERT_EQ(document.line_count(), 2u);
    EXPECT_EQ(document.line_text(0), "a");
    EXPECT_EQ(document.line_text(1), "");
    expect_maps(document, std::string(text).size(), {1, 0}, kUtf16);
  }
}

TEST(TextDocumentTest, EmptyDocumentHasOneEmptyLine) {
  const TextDocument document("");
  EXPECT_EQ(document.line_count(), 1u);
  EXPECT_EQ(document.line_text(0), "");
  for (const PositionEncoding encoding : kAllEncodings) {
    expect_maps(document, 0, {0, 0}, encoding);
    EXPECT_EQ(document.offset_at({0, 7}, encoding), 0u);
    EXPECT_EQ(document.offset_at({3, 1}, encoding), 0u);
    EXPECT_EQ(document.position_at(5, encoding), (Position{0, 0}));
  }
}

TEST(TextDocumentTest, LineAccessorsClampToLastLine) {
  const TextDocument document("one\ntwo");
  EXPECT_EQ(document.line_start(9), 4u);
  EXPECT_EQ(document.line_text(9), "two");
}

TEST(TextDocumentTest, AsciiPositionsAreTheSameInEveryEncoding) {
  const Marked marked = parse_markers("^int main() {\n  ^return 0;^\n}^");
  const TextDocument document(marked.text);
  for (const PositionEncoding encoding : kAllEncodings) {
    expect_maps(document, marked.points[0], {0, 0}, encoding);
    expect_maps(document, marked.points[1], {1, 2}, encoding);
    expect_maps(document, marked.points[2], {1, 11}, encoding);
    expect_maps(document, marked.points[3], {2, 1}, encoding);
  }
}

TEST(TextDocumentTest, CrlfLinesMapLikeLfLines) {
  const Marked marked = parse_markers("one^\r\n^tw^o\r\n^");
  const TextDocument document(marked.text);
  expect_maps(document, marked.points[0], {0, 3}, kUtf16);
  expect_maps(document, marked.points[1], {1, 0}, kUtf16);
  expect_maps(document, marked.points[2], {1, 2}, kUtf16);
  expect_maps(document, marked.points[3], {2, 0}, kUtf16);
}

TEST(TextDocumentTest, LoneCrEndsALine) {
  const Marked marked = parse_markers("one^\r^two\r^three^");
  const TextDocument document(marked.text);
  expect_maps(document, marked.points[0], {0, 3}, kUtf16);
  expect_maps(document, marked.points[1], {1, 0}, kUtf16);
  expect_maps(document, marked.points[2], {2, 0}, kUtf16);
  expect_maps(document, marked.points[3], {2, 5}, kUtf16);
}

TEST(TextDocumentTest, PositionBetweenCrAndLfRoundsDownToEndOfLine) {
  const Marked marked = parse_markers("ab^\r^\ncd");
  const TextDocument document(marked.text);
  EXPECT_EQ(marked.points[1], marked.points[0] + 1);  // the fixture does point inside "\r\n"
  for (const PositionEncoding encoding : kAllEncodings)
    EXPECT_EQ(document.position_at(marked.points[1], encoding), (Position{0, 2}));
}

TEST(TextDocumentTest, CharacterPastEndOfLineClampsBeforeTerminator) {
  for (const char* fixture : {"abc^\ndef", "abc^\r\ndef", "abc^\rdef", "abc^"}) {
    SCOPED_TRACE(::testing::PrintToString(fixture));
    const Marked marked = parse_markers(fixture);
    const TextDocument document(marked.text);
    for (const PositionEncoding encoding : kAllEncodings) {
      EXPECT_EQ(document.offset_at({0, 4}, encoding), marked.points[0]);
      EXPECT_EQ(document.offset_at({0, 1000}, encoding), marked.points[0]);
    }
  }
}

TEST(TextDocumentTest, LinePastLastLineClampsToEndOfDocument) {
  const TextDocument document("abc\ndef");
  for (const PositionEncoding encoding : kAllEncodings) {
    EXPECT_EQ(document.offset_at({2, 0}, encoding), document.text().size());
    EXPECT_EQ(document.offset_at({99, 99}, encoding), document.text().size());
  }
}

TEST(TextDocumentTest, OffsetPastEndClampsToEndOfDocument) {
  const TextDocument document("abc\ndef");
  EXPECT_EQ(document.position_at(document.text().size() + 10, kUtf16), (Position{1, 3}));
}

// 😀 is U+1F600: 4 UTF-8 bytes, 2 UTF-16 units (a surrogate pair), 1 code point.
// 中 is U+4E2D: 3 UTF-8 bytes, 1 UTF-16 unit, 1 code point.
TEST(TextDocumentTest, EmojiAndCjkOnOneLineInEachEncoding) {
  const Marked marked = parse_markers("x\n^a^😀^b^中^c^");
  const TextDocument document(marked.text);
  struct Expected {
    PositionEncoding encoding;
    std::vector<std::uint32_t> characters;  // one per marker
  };
  const Expected table[] = {
      {kUtf8, {0, 1, 5, 6, 9, 10}},
      {kUtf16, {0, 1, 3, 4, 5, 6}},
      {kUtf32, {0, 1, 2, 3, 4, 5}},
  };
  for (const Expected& expected : table) {
    ASSERT_EQ(expected.characters.size(), marked.points.size());
    for (std::size_t i = 0; i < marked.points.size(); ++i)
      expect_maps(document, marked.points[i], {1, expected.characters[i]}, expected.encoding);
  }
}

TEST(TextDocumentTest, CharacterInsideSurrogatePairRoundsDownToEmojiStart) {
  const Marked marked = parse_markers("a^😀^b");
  const TextDocument document(marked.text);
  // UTF-16 character 2 is between the emoji's high and low surrogate.
  EXPECT_EQ(document.offset_at({0, 2}, kUtf16), marked.points[0]);
  EXPECT_EQ(document.offset_at({0, 3}, kUtf16), marked.points[1]);
  // Byte offsets inside the emoji's UTF-8 sequence round down the same way.
  for (std::size_t offset = marked.points[0] + 1; offset < marked.points[1]; ++offset)
    EXPECT_EQ(document.position_at(offset, kUtf16), (Position{0, 1})) << "offset " << offset;
}

TEST(TextDocumentTest, Utf8CharacterInsideMultibyteSequenceRoundsDown) {
  const Marked marked = parse_markers("^中^😀^");
  const TextDocument document(marked.text);
  EXPECT_EQ(document.offset_at({0, 1}, kUtf8), marked.points[0]);
  EXPECT_EQ(document.offset_at({0, 2}, kUtf8), marked.points[0]);
  EXPECT_EQ(document.offset_at({0, 4}, kUtf8), marked.points[1]);
  EXPECT_EQ(document.offset_at({0, 6}, kUtf8), marked.points[1]);
  EXPECT_EQ(document.position_at(marked.points[1] + 3, kUtf8), (Position{0, 3}));
  EXPECT_EQ(document.offset_at({0, 7}, kUtf8), marked.points[2]);
}

TEST(TextDocumentTest, InvalidUtf8BytesCountAsOneCodePointEach) {
  // A stray continuation byte, a byte that never starts a sequence, and a 3-byte lead
  // cut short by an ASCII byte: five undecodable bytes, each U+FFFD (1 UTF-16 unit).
  const std::string text =
      "a\x80\xFF\xE4\xB8"
      "b";
  const TextDocument document(text);
  for (const PositionEncoding encoding : kAllEncodings) {
    for (std::uint32_t i = 0; i <= text.size(); ++i) expect_maps(document, i, {0, i}, encoding);
  }
}

TEST(TextDocumentTest, TruncatedSequenceAtEndOfLineOrTextNeverSwallowsTerminator) {
  const TextDocument document("\xF0\x9F\n\xE4");
  ASSERT_EQ(document.line_count(), 2u);
  expect_maps(document, 2, {0, 2}, kUtf16);
  expect_maps(document, 3, {1, 0}, kUtf16);
  expect_maps(document, 4, {1, 1}, kUtf16);
  EXPECT_EQ(document.offset_at({1, 5}, kUtf16), 4u);
}

TEST(TextDocumentTest, EveryCodePointBoundaryRoundTripsInEveryEncoding) {
  const Marked marked = parse_markers("^i^n^t^ ^中^\r\n^😀^=^\xFF^\r^é^🎉^🎉^;^\n^");
  const TextDocument document(marked.text);
  for (const PositionEncoding encoding : kAllEncodings) {
    for (const std::size_t offset : marked.points) {
      const Position position = document.position_at(offset, encoding);
      EXPECT_EQ(document.offset_at(position, encoding), offset)
          << to_string(encoding) << " offset " << offset;
    }
  }
}

TEST(TextDocumentTest, ReplacedRebuildsLineTable) {
  const Marked marked = parse_markers("one\n^two^\nthree");
  const TextDocument before(marked.text);
  const TextDocument after = before.replaced(marked.points[0], marked.points[1], "2\r\n2b");
  EXPECT_EQ(after.text(), "one\n2\r\n2b\nthree");
  ASSERT_EQ(after.line_count(), 4u);
  EXPECT_EQ(after.line_text(2), "2b");
  EXPECT_EQ(before.text(), marked.text);  // the original is untouched
}

TEST(TextDocumentTest, ReplacedJoinsCrAndLfAcrossEditIntoOneTerminator) {
  const Marked marked = parse_markers("a\r^X^b");
  const TextDocument before(marked.text);
  ASSERT_EQ(before.line_count(), 2u);
  const TextDocument after = before.replaced(marked.points[0], marked.points[1], "\n");
  EXPECT_EQ(after.line_count(), 2u);
  EXPECT_EQ(after.line_text(1), "b");
}

TEST(TextDocumentTest, LargeDocumentMapsLastLine) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "    int value_" + std::to_string(i) + " = 0;\r\n";
  text += "last 😀 line";
  const TextDocument document(text);
  ASSERT_EQ(document.line_count(), 20001u);
  const std::size_t end = text.size();
  expect_maps(document, end, {20000, 12}, kUtf16);
  expect_maps(document, document.line_start(12345), {12345, 0}, kUtf16);
}

}  // namespace
}  // namespace mnemo::lsp
