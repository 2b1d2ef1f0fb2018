// Cross-file completion cases, read from a repository's symbol index: at
// every use of a symbol whose definition is in another file of the repository, the file is
// cut there. The identifier level asks for the symbol's name, the line level for the rest
// of the line. A symbol's first use in a file is kept apart from its later ones: before
// it, nothing in the file gives the name away.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "indexer/symbol_database.h"
#include "lsp/result.h"
#include "server/text/code_window.h"

namespace mnemo::server {

struct EvalCase {
  std::string file;             ///< relative to the repository, as indexed
  std::size_t offset = 0;       ///< where the use starts: a byte offset into the file
  std::uint32_t line = 0;       ///< 1-based, as libclang counts
  std::uint32_t column = 0;     ///< 1-based, in bytes
  std::string identifier;       ///< the symbol's name, as written there
  std::string rest_of_line;     ///< from the use to the end of its line (no line break)
  std::string definition_file;  ///< where the symbol is defined (the first, by path)
  /// The definition's lines there (1-based, inclusive): the whole declaration, body and all.
  std::uint32_t definition_first_line = 0, definition_last_line = 0;
  bool first_use = false;  ///< the file's first use of this symbol
};

struct EvalCaseOptions {
  std::uint64_t seed = 1;
  std::size_t max_cases = 0;  ///< 0: every case
};

struct EvalCases {
  std::vector<EvalCase> cases;
  std::map<std::string, std::string> texts;  ///< the contents of the cases' files, by file
};

/// The cases of the repository at `root` whose index is `db`, in (file, offset) order: a
/// deterministic sample of options.max_cases of them (by options.seed) when there are more.
/// A use is kept when its symbol has a definition in the index, none in the use's own file,
/// and the bytes at the use spell its name (not a macro's expansion, not an implicit use);
/// a use on a preprocessor line is not. Fails when the index or a file cannot be read.
Result<EvalCases, std::string> extract_cases(indexer::SymbolDatabase& db,
                                             const std::filesystem::path& root,
                                             const EvalCaseOptions& options = {});

/// The oracle's context for a case: its symbol's definition lines, out of the text of
/// c.definition_file.
CodeWindow definition_window(const EvalCase& c, std::string_view definition_file_text);

}  // namespace mnemo::server
