// The order in which an index run parses the files that changed (repository_indexer.h).
//
// A parse records the repository's headers it includes (clang_symbols.h), so a header
// parsed after a file that includes it costs nothing more. The order is therefore: sources
// (a build's translation units), then headers that no changed file names in an #include
// (a header-only library's top-level headers), then the rest, each group by path; a header
// that a parse has already recorded is skipped when its turn comes. Which file includes
// which is read from the text, without the preprocessor: it only orders the work, and a
// header that an #if kept out of every parse is parsed on its own in the last group.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mnemo::indexer {

/// The names of a file's #include and #import directives, as written between <> or "".
std::vector<std::string> included_names(std::string_view text);

/// `paths` (relative, '/'-separated) in parse order; `includes[i]` are the names
/// paths[i] includes. A name matches a path it is a whole-component suffix of.
std::vector<std::string> parse_order(const std::vector<std::string>& paths,
                                     const std::vector<std::vector<std::string>>& includes);

}  // namespace mnemo::indexer
