// Which members a file accesses on which names: `sbi->s_mount_opt`, `it.first`,
// `std::move`, counted per (receiver, access, member). Completion after `sbi->` ranks the
// members by how often the rest of the repository writes them after the same name: in
// C and C++ a receiver's name says much of its type and of what code does with it, and
// the count needs no type resolution, so it holds where libclang cannot resolve the left
// side (a template's dependent type, a header not found).
//
// Read from the text, without the preprocessor: comments and string and character
// literals are skipped; macro bodies count (they are code a user also writes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::indexer {

/// How a member is reached: `.` and `->` are one (the same object, held or pointed to),
/// `::` is another (a namespace's or a class's own names).
enum class MemberAccess : std::uint8_t { kObject, kScope };

/// "object" or "scope" (the index's column value).
const char* to_string(MemberAccess access);
/// MemberAccess of an operator as written: "." and "->" are kObject, "::" is kScope.
MemberAccess member_access_of(std::string_view op);

struct MemberUse {
  std::string receiver;  ///< the identifier just left of the operator
  MemberAccess access = MemberAccess::kObject;
  std::string member;  ///< the identifier just right of it
  std::uint32_t uses = 0;

  bool operator==(const MemberUse& o) const {
    return receiver == o.receiver && access == o.access && member == o.member && uses == o.uses;
  }
};

/// The member accesses of `text` whose left side is an identifier (`f()->x` and `a[i].x`
/// have none), each (receiver, access, member) once with its count, sorted by receiver,
/// access, member.
std::vector<MemberUse> member_uses(std::string_view text);

}  // namespace mnemo::indexer
