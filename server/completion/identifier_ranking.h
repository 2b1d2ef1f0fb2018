// Ranking the identifiers that could complete the word at a cursor, from three sources:
// the current document (with proximity to the cursor), the other open documents, and the
// workspace table. Kept apart from the engine so the scoring can be read, tested and
// tuned on its own, and later compared against the model's ranking.
//
// Score (higher is better), all frequencies on a log scale so that a name used 1000 times
// does not bury everything else:
//   1.00 * log2(1 + uses in this document)
// + 0.50 * log2(1 + uses in the other open documents)
// + 0.25 * log2(1 + uses in the workspace's files that are not open)
// + 2.00 / (1 + lines to the nearest use in this document / 8)   (when it is used here)
// + 2.00 when the name starts with the typed prefix in exactly the typed case.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lsp/cancellation.h"
#include "server/completion/completion_engine.h"
#include "server/completion/workspace_identifiers.h"
#include "server/text/identifier_scan.h"

namespace mnemo::server {

/// One open document's identifiers, as of its last update.
struct OpenDocumentIdentifiers {
  /// path_key() of the document's file for `file:` URIs (empty otherwise): while the
  /// document is open its workspace entry is ignored in favour of the live counts.
  std::string path_key;
  IdentifierCounts counts;
};
/// By URI. Held by shared_ptr snapshots, so it is never modified once published.
using OpenDocumentTable = std::map<std::string, std::shared_ptr<const OpenDocumentIdentifiers>>;

struct IdentifierUses {
  std::uint32_t in_document = 0;  ///< the current document, not counting the typed word
  std::uint64_t in_open_documents = 0;
  std::uint64_t in_workspace = 0;  ///< workspace files that are not open
  /// Lines between the cursor and the nearest use in the current document (when
  /// in_document > 0).
  std::size_t nearest_line_distance = 0;
};

struct RankedIdentifier {
  std::string_view name;  ///< points into the request text or the sources' tables
  IdentifierUses uses;
  double score = 0;
};

struct RankingRequest {
  std::string_view text;  ///< the current document
  std::string_view uri;   ///< its URI: excluded from the open-document and workspace sources
  std::size_t cursor = 0;
  /// The word the cursor is in ([begin, end) of token_at_cursor): its own occurrence is
  /// not a use, so a half-typed word is not offered back to the user.
  std::size_t typed_begin = 0;
  std::size_t typed_end = 0;
  std::string_view prefix;          ///< candidates start with it, ASCII case-insensitively
  bool exact_case_only = false;     ///< ... or exactly, when set
  bool longer_than_prefix = false;  ///< drop a candidate equal to the prefix
  std::size_t limit = 100;          ///< how many of the best to return
};

struct Ranking {
  std::vector<RankedIdentifier> top;  ///< best first; ties broken by name
  bool truncated = false;             ///< more candidates matched than `limit`
};

double score_identifier(const IdentifierUses& uses, bool exact_case);

/// Exact: `top` is the same as ranking every candidate and keeping the best `limit`. With
/// an empty prefix the workspace is walked in frequency order and only the names that can
/// still make the cut are visited, which keeps `obj.` fast in a large workspace.
/// Thread-safe as long as the inputs are not modified meanwhile (they are snapshots).
/// Polls `token` every few thousand candidates; fails with kCancelled once it is set.
EngineResult<Ranking> rank_identifiers(const RankingRequest& request,
                                       const OpenDocumentTable& open_documents,
                                       const WorkspaceIdentifiers* workspace,
                                       const lsp::CancellationToken& token);

}  // namespace mnemo::server
