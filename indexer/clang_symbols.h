// One file's symbols through libclang: its declarations and definitions
// (kind, name, qualified name, signature, range), the members of its records, the
// references it makes and the files it includes; see file_symbols.h.
//
// One parse can also record the repository's headers that the file includes, as clangd's
// background index does: a header is then read in the context of a file that uses it (its
// macros, its include paths) instead of alone, and a header-only library needs one parse
// per top-level header instead of one per header, each re-reading the same includes.
//
// Parse errors never stop indexing: libclang keeps what it understood (KeepGoing, so a
// missing header does not end the parse) and the errors are counted. Locals (parameters,
// variables inside functions) and references to them are left out: they are not what a
// reader of the repository looks up.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "indexer/compile_flags.h"
#include "indexer/file_symbols.h"
#include "model/result.h"

namespace mnemo::indexer {

struct IndexError {
  std::string message;
};

/// What one parse records: the main file, and the headers asked for that it included.
struct UnitSymbols {
  FileSymbols main;
  std::vector<FileSymbols> included;
};

class ClangIndexer {
 public:
  ClangIndexer();
  ~ClangIndexer();
  ClangIndexer(const ClangIndexer&) = delete;
  ClangIndexer& operator=(const ClangIndexer&) = delete;

  /// Parses `contents` as the file `root`/`relative_path` with `command` (the file's own
  /// contents are what is parsed, so the hash matches what was indexed; other files are
  /// read from disk). Each file of `record_also` (relative to the root) that the parse
  /// included is recorded too, with the hash of the contents libclang read and the errors
  /// located in it. Fails only when libclang produces no translation unit at all (e.g. a
  /// command it cannot parse).
  model::Result<UnitSymbols, IndexError> index(const std::filesystem::path& root,
                                               const std::string& relative_path,
                                               std::string_view contents,
                                               const CompileCommand& command,
                                               const std::vector<std::string>& record_also = {});

 private:
  void* index_;  ///< CXIndex (an opaque pointer; clang-c stays out of this header)
};

}  // namespace mnemo::indexer
