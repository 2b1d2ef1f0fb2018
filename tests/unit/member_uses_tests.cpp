// The member accesses read from a file's text (indexer/member_uses.h): which names are
// written after which receiver, counted, with comments, literals and numbers left out.
#include "indexer/member_uses.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::indexer {
namespace {

std::vector<std::string> described(std::string_view text) {
  std::vector<std::string> out;
  for (const MemberUse& m : member_uses(text))
    out.push_back(m.receiver + (m.access == MemberAccess::kScope ? "::" : ".") + m.member + " x" +
                  std::to_string(m.uses));
  return out;
}

TEST(MemberUses, EachReceiverAccessAndMemberIsCountedOnce) {
  EXPECT_EQ(described("sbi->s_flags = 1; if (sbi->s_flags) sbi->s_mount = sbi . s_flags;\n"
                      "auto v = std::move(w); p.x = q->\n   y;"),
            (std::vector<std::string>{"p.x x1", "q.y x1", "sbi.s_flags x3", "sbi.s_mount x1",
                                      "std::move x1"}));
}

TEST(MemberUses, OnlyANameOnTheLeftIsAReceiver) {
  // A call, a subscript, a number, a pointer to member and an ellipsis have no receiver.
  EXPECT_EQ(described("f()->x; a[i].y; x = 1.f + 2.5e3; p->*pm; g(args...); (s).z;"),
            std::vector<std::string>{});
  // In a chain each link is the next one's receiver.
  EXPECT_EQ(described("a.b->c::d"), (std::vector<std::string>{"a.b x1", "b.c x1", "c::d x1"}));
}

TEST(MemberUses, CommentsAndLiteralsAreNotCode) {
  EXPECT_EQ(described("// dev->name\n/* dev->id */ s = \"dev->path\"; c = '.'; dev->ok;\n"
                      "#define F(d) ((d)->flags + d->mode)\n"
                      "e = \"unclosed\n x.y;"),
            (std::vector<std::string>{"d.mode x1", "dev.ok x1", "x.y x1"}));
}

TEST(MemberUses, AnUnclosedCommentOrBinaryBytesEndTheScanQuietly) {
  EXPECT_EQ(described("a.b /* never closed a.c"), (std::vector<std::string>{"a.b x1"}));
  const std::string binary("\x00\xff.\x80->\x01q.r", 11);
  // Sorted by bytes, as SQLite sorts them: 0xff after every ASCII byte.
  EXPECT_EQ(described(binary), (std::vector<std::string>{"q.r x1", "\xff.\x80 x1"}));
}

}  // namespace
}  // namespace mnemo::indexer
