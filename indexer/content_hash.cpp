#include "indexer/content_hash.h"

#include <git2.h>

#include <stdexcept>

namespace mnemo::indexer {

std::string git_blob_id(std::string_view contents) {
  git_oid oid;
  // Hashing needs no repository and no libgit2 initialization.
  if (git_odb_hash(&oid, contents.data(), contents.size(), GIT_OBJECT_BLOB) != 0)
    throw std::runtime_error("git_odb_hash failed");
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, &oid);
  return hex;
}

}  // namespace mnemo::indexer
