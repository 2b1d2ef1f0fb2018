// What kind of place a cursor is at, read from the text before it: where a member of
// something goes (after `.`, `->` or `::`), where a new name is being declared (after a
// type: `int ^`, `struct page *^`, `#define ^`), or elsewhere, where a name in scope goes.
// Completion holds the identifier at the cursor to the names that exist there, so it must
// know when a new one is legitimate (a declaration stays free) and when an identifier is
// the only thing that may follow (a member access).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace mnemo::server {

enum class SiteKind {
  kMember,       ///< after `.`, `->` or `::`: a member of what is on the left
  kScope,        ///< a name in scope (or no name at all: a bracket, a literal, a keyword)
  kDeclaration,  ///< a new name: after a type, after `#define`
};

/// "member", "scope", "declaration".
const char* to_string(SiteKind kind);

struct CursorSite {
  SiteKind kind = SiteKind::kScope;
  std::size_t word_begin = 0;  ///< where the identifier at the cursor starts (<= cursor)
  std::string typed;           ///< what is typed of it: text[word_begin, cursor)
  std::string access;          ///< kMember: ".", "->" or "::"
  /// kMember: the identifier just left of the operator ("env_" in `env_->`, "std" in
  /// `std::`); empty when something else is there (`f()->`, `a[i].`).
  std::string object;
};

/// Whether an identifier names a type (a typedef, class, struct or enum the caller knows).
using IsTypeName = std::function<bool(std::string_view)>;

/// The site at byte `cursor` of `text` (clamped to its size). Builtin type keywords
/// (`int`, `unsigned`, `char`, ...) are types without asking `is_type`; `struct X`,
/// `union X`, `enum X` and `class X` are types too. `is_type` may be empty.
CursorSite cursor_site(std::string_view text, std::size_t cursor, const IsTypeName& is_type = {});

}  // namespace mnemo::server
