// Semantic code completion by libclang: what may be written at a point of a
// file as clang's Sema sees it with the file's compile command: after `.`, `->` or `::` the
// members of the type or scope on the left, elsewhere the names in scope. The menu offers
// nothing else, so it never offers a name that would not compile there.
//
// It runs in the parse worker (parse_worker.h), where a libclang crash costs the worker, not
// the server. The completer keeps the last few files' translation units: the first request
// on a file parses it with its headers and precompiles the preamble (the includes), the
// next ones reparse only the file's own text.
#pragma once

#include <cstddef>
#include <filesystem>
#include <list>
#include <string>
#include <string_view>
#include <vector>

#include "indexer/clang_symbols.h"
#include "indexer/compile_flags.h"
#include "model/result.h"

namespace mnemo::indexer {

struct SemanticCandidate {
  enum class Kind { kFunction, kVariable, kField, kType, kNamespace, kMacro, kKeyword, kOther };
  std::string name;         ///< what is typed: "push_back"
  std::string signature;    ///< the name with its parameters: "push_back(const T &value)"
  std::string result_type;  ///< "void"; empty when it has none (a type, a keyword)
  std::string brief;        ///< the declaration's brief comment, if any
  Kind kind = Kind::kOther;
  unsigned priority = 0;  ///< clang's: smaller is likelier in this context
};

struct SemanticCompletions {
  std::vector<SemanticCandidate> candidates;  ///< by priority, then name
  bool truncated = false;                     ///< more matched than `max_candidates`
};

/// Where to complete and what has been typed of the name there.
struct SemanticRequest {
  std::filesystem::path file;  ///< absolute
  std::string contents;        ///< the file as the editor has it
  CompileCommand command;
  unsigned line = 1;    ///< 1-based, of the start of the name being typed (clang completes
  unsigned column = 1;  ///< there; 1-based, in bytes)
  /// The name's typed start: candidates whose names start with it, in any case.
  std::string prefix;
  std::size_t max_candidates = 1000;
};

/// Single-threaded; owns a CXIndex and its translation units.
class ClangCompleter {
 public:
  explicit ClangCompleter(std::size_t cached_units = 4);
  ~ClangCompleter();
  ClangCompleter(const ClangCompleter&) = delete;
  ClangCompleter& operator=(const ClangCompleter&) = delete;

  /// Fails when libclang cannot parse the file at all (an IndexError names it and why).
  model::Result<SemanticCompletions, IndexError> complete(const SemanticRequest& request);

 private:
  struct Unit;
  Unit* unit_for(const SemanticRequest& request, std::string& error);

  void* index_;  ///< CXIndex
  std::size_t cached_units_;
  std::list<Unit> units_;  ///< most recently used first
};

}  // namespace mnemo::indexer
