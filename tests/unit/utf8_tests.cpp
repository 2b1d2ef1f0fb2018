#include "lsp/utf8.h"

#include <gtest/gtest.h>

namespace mnemo::lsp {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextIsRecognised) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("größe 漢字 😀"));
}

TEST(Utf8, OverlongsSurrogatesAndTruncationAreInvalid) {
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // encoded surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("abc\xE2\x82"));       // truncated at the end
  EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(Utf8, RepairReplacesEachMaximalInvalidSubpart) {
  std::size_t replaced = 0;
  EXPECT_EQ(repair_utf8("a\xFF"
                        "b",
                        &replaced),
            "a" + kReplacement + "b");
  EXPECT_EQ(replaced, 1u);
  // A truncated 3-byte sequence is one maximal subpart, so one replacement.
  EXPECT_EQ(repair_utf8("x\xE2\x82y", &replaced), "x" + kReplacement + "y");
  EXPECT_EQ(replaced, 1u);
}

TEST(Utf8, RepairKeepsALoneSurrogateAsOneUtf16Unit) {
  // WTF-8 for U+D800: a client's lone surrogate must stay one position wide.
  std::size_t replaced = 0;
  EXPECT_EQ(repair_utf8("a\xED\xA0\x80"
                        "b",
                        &replaced),
            "a" + kReplacement + "b");
  EXPECT_EQ(replaced, 1u);
}

TEST(Utf8, RepairLeavesValidTextUntouched) {
  const std::string text = "ok 😀 漢字";
  std::size_t replaced = 7;
  EXPECT_EQ(repair_utf8(text, &replaced), text);
  EXPECT_EQ(replaced, 0u);
}

}  // namespace
}  // namespace mnemo::lsp
