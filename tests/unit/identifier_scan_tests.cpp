// Tokenising rules of the symbolic engine: what is an identifier, which word the cursor
// is typing, and what counts as a member access.
#include "server/text/identifier_scan.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/unit/annotated_text.h"

namespace mnemo::server {
namespace {

using Occurrence = std::pair<std::string, std::size_t>;  // name, line

std::vector<Occurrence> identifiers_of(std::string_view text) {
  std::vector<Occurrence> out;
  for_each_identifier(text, [&](std::string_view name, std::size_t offset, std::size_t line) {
    EXPECT_EQ(text.substr(offset, name.size()), name);
    out.emplace_back(std::string(name), line);
  });
  return out;
}

TEST(IdentifierScanTest, SplitsOnNonIdentifierBytesAndSkipsNumbers) {
  EXPECT_EQ(identifiers_of("int x1 = 0x1F + y_2*3e10;"),
            (std::vector<Occurrence>{{"int", 0}, {"x1", 0}, {"y_2", 0}}));
}

TEST(IdentifierScanTest, CountsLinesLikeLsp) {
  EXPECT_EQ(identifiers_of("a\nb\r\nc\rd\n\ne"),
            (std::vector<Occurrence>{{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}, {"e", 5}}));
}

TEST(IdentifierScanTest, Utf8BytesAreIdentifierCharacters) {
  EXPECT_EQ(identifiers_of("größe=変数名;"),
            (std::vector<Occurrence>{{"größe", 0}, {"変数名", 0}}));
}

TEST(IdentifierScanTest, CountIdentifiersDropsSingleCharacterNames) {
  const IdentifierCounts counts = count_identifiers("i j ab ab é éa 42");
  EXPECT_EQ(counts, (IdentifierCounts{{"ab", 2}, {"éa", 1}}));
}

TEST(IdentifierScanTest, LineOfOffset) {
  EXPECT_EQ(line_of_offset("ab\ncd\r\nef", 0), 0u);
  EXPECT_EQ(line_of_offset("ab\ncd\r\nef", 3), 1u);
  EXPECT_EQ(line_of_offset("ab\ncd\r\nef", 7), 2u);
  EXPECT_EQ(line_of_offset("ab\ncd\r\nef", 100), 2u);
}

TEST(IdentifierScanTest, TokenAtCursor) {
  auto at = [](std::string_view markup) {
    const auto annotated = test::parse_cursor(markup);
    return token_at_cursor(annotated.text, annotated.cursor);
  };
  CursorToken token = at("x = count^er + 1");
  EXPECT_EQ(token.begin, 4u);
  EXPECT_EQ(token.end, 11u);
  EXPECT_TRUE(token.is_identifier);

  token = at("x = ^");
  EXPECT_EQ(token.begin, 4u);
  EXPECT_EQ(token.end, 4u);
  EXPECT_TRUE(token.is_identifier);

  EXPECT_FALSE(at("0x1^F").is_identifier);
  EXPECT_TRUE(at("_1^").is_identifier);
}

TEST(IdentifierScanTest, MemberAccess) {
  auto member = [](std::string_view markup) {
    const auto annotated = test::parse_cursor(markup);
    return is_member_access_before(annotated.text, annotated.cursor);
  };
  EXPECT_TRUE(member("obj.^"));
  EXPECT_TRUE(member("ptr->^"));
  EXPECT_TRUE(member("std::^"));
  EXPECT_TRUE(member("f().^"));
  EXPECT_TRUE(member("v2.^"));
  EXPECT_FALSE(member("3.^"));
  EXPECT_FALSE(member("a > ^"));
  EXPECT_FALSE(member("a >^"));
  EXPECT_FALSE(member("case 1:^"));
  EXPECT_FALSE(member("^"));
}

TEST(IdentifierScanTest, FoldedComparisons) {
  EXPECT_TRUE(starts_with_folded("FooBar", "foob"));
  EXPECT_FALSE(starts_with_folded("Foo", "foob"));
  EXPECT_TRUE(starts_with_folded("Größe", "grö"));
  EXPECT_FALSE(starts_with_folded("GRÖSSE", "grö"));  // only ASCII folds
  EXPECT_EQ(compare_folded("abc", "ABC"), 0);
  EXPECT_LT(compare_folded("ab", "ABC"), 0);
  EXPECT_GT(compare_folded("b", "A"), 0);
  EXPECT_EQ(utf8_length("größe"), 5u);
}

}  // namespace
}  // namespace mnemo::server
