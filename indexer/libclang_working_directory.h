// libclang's driver makes a parse's `-working-directory` the process's working directory
// (LLVM's real file system links the two) and leaves it there. Every relative path the
// process holds (a repository named on the command line, an index folder) then resolves
// under the last parse's directory instead. For clang_symbols.cpp and clang_completion.cpp.
#pragma once

namespace mnemo::indexer {

/// Held around a libclang call that may parse: when the last of the overlapping holders
/// lets go, the process is back in the working directory it had before the first of them
/// (parses on several threads share one process-wide directory).
class LibclangWorkingDirectory {
 public:
  LibclangWorkingDirectory();
  ~LibclangWorkingDirectory();
  LibclangWorkingDirectory(const LibclangWorkingDirectory&) = delete;
  LibclangWorkingDirectory& operator=(const LibclangWorkingDirectory&) = delete;
};

}  // namespace mnemo::indexer
