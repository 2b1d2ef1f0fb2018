// The names that can be written at a cursor, each with the signals that rank it before the
// model reads anything. After `.`, `->` or `::` they are the members libclang finds for
// what is on the left; where libclang cannot tell (a file whose headers are not found),
// the members the symbol index has for the left side's declared type, else every member
// name of the repository. Elsewhere they are the names in scope: libclang's, the
// declarations the file sees in the index (its own, its headers', transitively), the
// document's own identifiers (its locals and parameters) and the language's keywords.
//
// Completion holds the identifier a suggestion begins with to these names
// (model/decoding/name_constraint.h) and ranks them by the model's log-probability plus the
// prior computed here, the cheap signals as one log-weight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/completion/completion_engine.h"
#include "server/completion/semantic_completion_engine.h"
#include "server/names/cursor_site.h"
#include "server/names/name_index.h"

namespace mnemo::server {

/// How much each signal adds to a name's log-weight, one set for member accesses and one
/// for the other sites. The defaults are fitted to the cross-file uses of 13 training
/// projects (never the held-out ones) by scripts/fit-name-prior.py: a conditional logit of
/// the name the code has among the names at its cursor.
struct NamePriorWeights {
  struct Set {
    double document_uses;    ///< × log(1 + uses of the name in the document's code)
    double recency;          ///< × 1 / (1 + lines from its last use before the cursor / 8)
    double used_before;      ///< used before the cursor at all
    double repository_uses;  ///< × log(1 + the repository's references to it)
    double file_scope;       ///< declared in this file or a header it includes (the index)
    double compiler;         ///< offered by libclang at the cursor
    double field, function, type, namespace_, macro;  ///< its kind (none: a variable)
    /// × log(1 + the times the repository writes it after the same receiver: `sbi->`)
    double receiver_uses;
  };
  Set member{-0.356, 2.357, 0.367, 0.735, 0.0, -0.87, -1.316, -1.098, 1.014, -1.083, -0.26, 0.298};
  Set other{-0.372, 2.252, 2.116, 1.184, -0.475, 4.091, 0.2, 1.535, 1.685, 1.646, 1.061, 0.0};
};

struct NameCandidate {
  std::string name;
  CompletionItemKind kind = CompletionItemKind::kIdentifier;
  std::string signature;  ///< one line; empty when unknown
  bool from_compiler = false;
  bool in_file_scope = false;
  std::uint32_t document_uses = 0;
  /// Lines from its last use before the cursor to the cursor; -1 when not used before.
  std::int64_t lines_since_use = -1;
  std::uint64_t repository_uses = 0;
  /// At a member access with a name on the left (`sbi->`): how often the repository's
  /// other files and the document before the cursor write this member after that name.
  std::uint64_t receiver_uses = 0;
  /// The log-weight (NamePriorWeights over the signals above); a keyword weighs as a name
  /// libclang offers that the file does not use.
  double prior = 0;
};

struct CursorNames {
  CursorSite site;
  /// Where the names came from: libclang answered ("compiler"), or the index's members of
  /// the left side's type ("index_type"), or every member name of the repository
  /// ("index_members"), or the names in scope the index and the document give ("scope").
  std::string source;
  std::vector<NameCandidate> names;  ///< best prior first, each name once
};

/// Where to find the names: the document and where it lives.
struct CursorNamesRequest {
  std::filesystem::path path;  ///< the document's absolute path (for libclang)
  std::filesystem::path root;  ///< the repository root (empty: none)
  std::string file;            ///< the document relative to the root, as indexed
  std::string_view text;       ///< the document as the editor has it
  std::size_t cursor = 0;      ///< byte offset into text
};

/// C and C++ keywords, which may begin a suggestion wherever a name in scope may.
const std::vector<std::string>& c_family_keywords();

/// Single-threaded (it keeps the last answers). The names at a cursor depend on the text
/// before the word being typed, so they are computed once per word and reused while it is
/// typed.
class CursorNameFinder {
 public:
  /// `compiler` (may be empty: no libclang) answers SemanticQuery at a word's start;
  /// `index` may be null (no symbol index).
  CursorNameFinder(SemanticSource compiler, NameIndex* index, NamePriorWeights weights = {});

  CursorNames find(const CursorNamesRequest& request, const lsp::CancellationToken& token);
  const NamePriorWeights& weights() const { return weights_; }

 private:
  /// `lasting` is cleared when libclang was asked and did not answer (busy with the menu,
  /// a failed parse): the next keystroke asks again rather than reuse the poorer answer.
  CursorNames compute(const CursorNamesRequest& request, const CursorSite& site,
                      const lsp::CancellationToken& token, bool& lasting);
  /// Where the name typed begins none of `names`, the repository's names that it begins.
  void add_repository_names(CursorNames& names);
  /// At a member access after a name: how often each member follows that name elsewhere
  /// in the repository and in the document before the cursor.
  std::unordered_map<std::string, std::uint64_t> members_used_on(const CursorNamesRequest& request,
                                                                 const CursorSite& site);
  /// The members of `object`'s type, from its declaration in the text or in the index.
  std::vector<IndexedName> members_of_object(std::string_view before, const std::string& object);

  SemanticSource compiler_;
  NameIndex* index_;
  NamePriorWeights weights_;
  struct Cached {
    std::string key;
    CursorNames names;
  };
  std::list<Cached> cache_;  ///< most recent first
};

}  // namespace mnemo::server
