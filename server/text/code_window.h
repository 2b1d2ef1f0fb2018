// Lines of a repository's file, as a retriever hands them to a prompt.
#pragma once

#include <cstddef>
#include <string>

namespace mnemo::server {

struct CodeWindow {
  std::string file;            ///< relative to the repository
  std::size_t first_line = 0;  ///< 1-based
  std::size_t last_line = 0;   ///< inclusive
  std::string text;            ///< its lines, each with its line break
};

}  // namespace mnemo::server
