// libclang's strings as std::string, for the files that call libclang; clang-c stays out of
// the public headers.
#pragma once

#include <clang-c/CXString.h>

#include <string>

namespace mnemo::indexer {

/// The text of `s` (empty for a null string), disposing of `s`.
inline std::string take(CXString s) {
  const char* c = clang_getCString(s);
  std::string out = c != nullptr ? c : "";
  clang_disposeString(s);
  return out;
}

}  // namespace mnemo::indexer
