// Whether libclang works on this machine for a repository: its version, and a small C++
// file parsed with the repository's compile command for a new source file, which must find
// the C++ standard library's headers. `mnemo doctor` reports it; without those headers
// every menu and symbol of a C++ file is degraded.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mnemo::indexer {

struct LibclangProbe {
  std::string version;               ///< clang_getClangVersion()
  bool parsed = false;               ///< the probe file gave a translation unit
  bool standard_headers = false;     ///< <vector> and <string> were found
  std::vector<std::string> errors;   ///< the parse's error diagnostics, at most a few
  std::vector<std::string> command;  ///< the arguments libclang was given
};

LibclangProbe probe_libclang(const std::filesystem::path& root);

}  // namespace mnemo::indexer
