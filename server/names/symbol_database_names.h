// The NameIndex of a repository's symbol index (indexer/symbol_database.h): what completion
// asks of names, answered from SQLite and kept for the next request (a file's include
// closure, the repository's member names and reference counts), since consecutive
// requests mostly ask about the same file.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "indexer/symbol_database.h"
#include "server/names/name_index.h"

namespace mnemo::server {

/// Thread-safety: none (as the connection it uses). The answers reflect the index as it
/// was when each was first asked for; refresh() forgets them.
class SymbolDatabaseNames final : public NameIndex {
 public:
  /// `database` must outlive this object.
  explicit SymbolDatabaseNames(indexer::SymbolDatabase& database);

  const std::vector<IndexedName>& file_scope(const std::string& file) override;
  std::vector<IndexedName> members_of(const std::string& type) override;
  const std::vector<IndexedName>& member_names() override;
  const std::unordered_map<std::string, std::uint64_t>& uses() override;
  std::unordered_map<std::string, std::uint64_t> members_used_on(
      const std::string& receiver, indexer::MemberAccess access,
      const std::string& except_file) override;
  const std::vector<std::string>& names() override;
  std::vector<IndexedName> declarations(const std::string& name) override;

  /// Forgets what was read: the index changed.
  void refresh();

 private:
  indexer::SymbolDatabase& database_;
  std::map<std::string, std::vector<IndexedName>> file_scopes_;  ///< the last few files'
  std::optional<std::vector<IndexedName>> member_names_;
  std::optional<std::unordered_map<std::string, std::uint64_t>> uses_;
  std::optional<std::vector<std::string>> names_;
  std::map<std::string, std::vector<IndexedName>> members_;  ///< by type name
};

}  // namespace mnemo::server
