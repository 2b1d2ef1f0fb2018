// The symbol index as completion asks it about names: which declarations a file can see
// (its own and those of the repository's headers it includes), what members a type has,
// how often the repository uses each name, and the one-line declaration of a name. The
// seam between completion and the SQLite index (symbol_database_names.h), so that the
// candidate and prompt code is tested with a table in memory.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "indexer/member_uses.h"

namespace mnemo::server {

/// One declaration, as the index has it.
struct IndexedName {
  std::string name;
  /// The index's kind: "function", "field", "struct", "macro", ... (indexer/file_symbols.h).
  std::string kind;
  std::string signature;   ///< one line: "int ext4_foo(struct super_block *sb)"
  std::string file;        ///< where it is declared, relative to the repository
  std::uint32_t line = 0;  ///< 1-based
};

/// Thread-safety: none; one caller at a time (implementations cache what they read).
class NameIndex {
 public:
  virtual ~NameIndex() = default;

  /// The declarations a file sees at file scope: its own and those of the repository's
  /// headers it includes, directly or not (not the members of records). Empty for a file
  /// the index does not have.
  virtual const std::vector<IndexedName>& file_scope(const std::string& file) = 0;
  /// The members of the records, enums and namespaces named `type` ("ext4_sb_info",
  /// "Env", "detail"), of every one so named; a typedef of a record counts as the record.
  virtual std::vector<IndexedName> members_of(const std::string& type) = 0;
  /// The names declared inside records (fields, methods): what may follow `.` or `->`
  /// when the type on the left is unknown.
  virtual const std::vector<IndexedName>& member_names() = 0;
  /// How many references the repository makes to each name.
  virtual const std::unordered_map<std::string, std::uint64_t>& uses() = 0;
  /// How often the repository's files other than `except_file` write each member after
  /// `receiver` with `access` (`sbi->s_flags`, `std::move`): indexer/member_uses.h.
  virtual std::unordered_map<std::string, std::uint64_t> members_used_on(
      const std::string& receiver, indexer::MemberAccess access,
      const std::string& except_file) = 0;
  /// Every name the repository declares, each once, sorted: where the name being typed
  /// begins none of those in scope, it may still be one of these (a header not included).
  virtual const std::vector<std::string>& names() = 0;
  /// The declarations of `name` (definitions first).
  virtual std::vector<IndexedName> declarations(const std::string& name) = 0;
};

/// The type a declaration's signature gives a name: "ext4_sb_info" for
/// "struct ext4_sb_info *sbi", "Env" for "Env *env_", "string" for
/// "const std::string &s"; empty when there is none to read.
std::string declared_type(const std::string& signature, const std::string& name);

}  // namespace mnemo::server
