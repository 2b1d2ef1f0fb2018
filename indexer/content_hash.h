// A file's content hash for incremental indexing: git's blob id (the hex SHA-1 of
// "blob <size>\0<contents>"), so it equals `git hash-object <file>` and the ids git already
// keeps for committed files.
#pragma once

#include <string>
#include <string_view>

namespace mnemo::indexer {

std::string git_blob_id(std::string_view contents);

}  // namespace mnemo::indexer
