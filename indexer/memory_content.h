// What the long-term memory holds of a repository: its code and the documentation of that
// code, not its data. A memory filled with test corpora, HTML pages, minified bundles and
// license texts makes the model continue code with "11px; font-weight : 700;" and "OR
// BUSINESS INTERRUPTION) HOWEVER CAUSED AND": every file the walk lists is classified here
// first, and a kept file's leading license block is left out of what the model reads.
//
// The rule (ContentRules::describe) is shown by `mnemo index --status`; a repository's
// .mnemo/config.json overrides it with glob patterns ("memory": {"include": [...],
// "exclude": [...]}; an include wins over every other reason).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mnemo::indexer {

struct ContentRules {
  /// Glob patterns (fnmatch, `*` crossing folders) over the path relative to the root.
  std::vector<std::string> include;  ///< always kept, whatever the defaults say
  std::vector<std::string> exclude;  ///< never kept
  /// One paragraph: what is kept and what is left out, with the overrides.
  std::string describe() const;
};

struct ContentDecision {
  bool keep = true;
  /// Why a file is left out: "excluded by the configuration", "data (.json)", "test data
  /// folder", "generated", "minified", "binary-like text"; empty when kept.
  std::string reason;
};

/// Whether the memory reads `path` (relative to the root, '/'-separated) with `contents`.
ContentDecision classify_for_memory(std::string_view path, std::string_view contents,
                                    const ContentRules& rules);

/// The text the memory reads of a kept file: the file without its leading license block (a
/// first comment that states a copyright or license), which says nothing of the code.
std::string_view memory_text(std::string_view contents);

/// Bumped whenever the defaults or memory_text change: a memory made under others is made
/// again.
constexpr const char* kContentRulesVersion = "code-and-docs-1";

}  // namespace mnemo::indexer
