// Candidate gathering and scoring for symbolic completion (see identifier_ranking.h).
#include "server/completion/identifier_ranking.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "lsp/uri.h"

namespace mnemo::server {
namespace {

constexpr double kDocumentWeight = 1.0;
constexpr double kOpenDocumentWeight = 0.5;
constexpr double kWorkspaceWeight = 0.25;
constexpr double kProximityWeight = 2.0;
constexpr double kProximityScaleLines = 8.0;  // the proximity bonus halves at this distance
constexpr double kExactCaseBonus = 2.0;

// Candidates (or table entries) visited between polls of the cancellation token.
constexpr std::size_t kPollInterval = 4096;

class CancellationPoller {
 public:
  explicit CancellationPoller(const lsp::CancellationToken& token) : token_(token) {}
  bool cancelled() { return ++steps_ % kPollInterval == 0 && token_.cancelled(); }

 private:
  const lsp::CancellationToken& token_;
  std::size_t steps_ = 0;
};

EngineError cancelled_error() {
  return EngineError{EngineError::Kind::kCancelled, "symbolic completion cancelled"};
}

bool starts_with_exactly(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

double score_identifier(const IdentifierUses& uses, bool exact_case) {
  double score =
      kDocumentWeight * std::log2(1.0 + uses.in_document) +
      kOpenDocumentWeight * std::log2(1.0 + static_cast<double>(uses.in_open_documents)) +
      kWorkspaceWeight * std::log2(1.0 + static_cast<double>(uses.in_workspace));
  if (uses.in_document > 0) {
    score += kProximityWeight /
             (1.0 + static_cast<double>(uses.nearest_line_distance) / kProximityScaleLines);
  }
  if (exact_case) score += kExactCaseBonus;
  return score;
}

EngineResult<Ranking> rank_identifiers(const RankingRequest& request,
                                       const OpenDocumentTable& open_documents,
                                       const WorkspaceIdentifiers* workspace,
                                       const lsp::CancellationToken& token) {
  if (token.cancelled()) return cancelled_error();
  CancellationPoller poller(token);
  const std::string_view prefix = request.prefix;
  const auto matches = [&](std::string_view name) {
    if (request.longer_than_prefix && name.size() <= prefix.size()) return false;
    return request.exact_case_only ? starts_with_exactly(name, prefix)
                                   : starts_with_folded(name, prefix);
  };

  std::unordered_map<std::string_view, IdentifierUses> uses;
  bool truncated_workspace = false;  // the frequency walk below stopped early

  // 1. The current document, with the distance of each name's nearest use.
  const std::size_t cursor_line = line_of_offset(request.text, request.cursor);
  bool cancelled = false;
  for_each_identifier(
      request.text, [&](std::string_view name, std::size_t offset, std::size_t line) {
        if (cancelled) return;
        if (poller.cancelled()) {
          cancelled = true;
          return;
        }
        if (offset == request.typed_begin && request.typed_end > request.typed_begin) return;
        if (!matches(name) || utf8_length(name) < kMinIdentifierLength) return;
        IdentifierUses& entry = uses[name];
        const std::size_t distance = line > cursor_line ? line - cursor_line : cursor_line - line;
        if (entry.in_document == 0 || distance < entry.nearest_line_distance) {
          entry.nearest_line_distance = distance;
        }
        ++entry.in_document;
      });
  if (cancelled) return cancelled_error();

  // 2. The other open documents.
  for (const auto& [uri, document] : open_documents) {
    if (uri == request.uri) continue;
    for (const auto& [name, count] : document->counts) {
      if (poller.cancelled()) return cancelled_error();
      if (matches(name)) uses[name].in_open_documents += count;
    }
  }

  // 3. The workspace, minus the on-disk counts of files that are open (their live text
  // was counted above, or is the current document).
  if (workspace != nullptr) {
    std::unordered_set<std::string> open_keys;
    for (const auto& [uri, document] : open_documents) {
      if (!document->path_key.empty()) open_keys.insert(document->path_key);
    }
    if (std::string key = lsp::uri_path_key(request.uri); !key.empty())
      open_keys.insert(std::move(key));
    std::unordered_map<WorkspaceIdentifiers::NameId, std::uint64_t> shadowed;
    for (const std::string& key : open_keys) {
      if (const auto* entries = workspace->file(key)) {
        for (const auto& entry : *entries) shadowed[entry.name] += entry.count;
      }
    }
    const auto unshadowed = [&](WorkspaceIdentifiers::NameId id) {
      std::uint64_t count = workspace->total(id);
      if (const auto it = shadowed.find(id); it != shadowed.end()) count -= it->second;
      return count;
    };
    if (prefix.empty()) {
      // Every name matches. Names also used in the documents get their workspace counts
      // by lookup. Among the rest the score grows with the count alone, so they are walked
      // by descending total (ties by name, the ranking's own tie-break): once `limit` of
      // them have been taken at their full total, no later name can outrank any of those.
      // (A name shadowed by an open file counts less than its total, so it is kept but
      // does not count toward the `limit`.)
      for (auto& [name, entry] : uses) {
        if (poller.cancelled()) return cancelled_error();
        if (const auto id = workspace->find(name)) entry.in_workspace += unshadowed(*id);
      }
      std::size_t taken = 0;
      for (const WorkspaceIdentifiers::NameId id : workspace->by_frequency()) {
        if (poller.cancelled()) return cancelled_error();
        const std::string_view name = workspace->name(id);
        if (!matches(name) || uses.count(name) != 0) continue;  // documents' names: done
        const std::uint64_t count = unshadowed(id);
        if (count == 0) continue;
        if (taken >= request.limit) {  // a candidate exists beyond the ones that can rank
          truncated_workspace = true;
          break;
        }
        uses[name].in_workspace = count;
        if (count == workspace->total(id)) ++taken;
      }
    } else {
      const auto [first, last] = workspace->names_with_prefix(prefix);
      for (const WorkspaceIdentifiers::NameId* id = first; id != last; ++id) {
        if (poller.cancelled()) return cancelled_error();
        const std::string_view name = workspace->name(*id);
        if (!matches(name)) continue;
        if (const std::uint64_t count = unshadowed(*id); count > 0)
          uses[name].in_workspace += count;
      }
    }
  }

  Ranking ranking;
  ranking.truncated = truncated_workspace || uses.size() > request.limit;
  ranking.top.reserve(uses.size());
  for (const auto& [name, entry] : uses) {
    if (poller.cancelled()) return cancelled_error();
    const bool exact_case = starts_with_exactly(name, prefix);
    ranking.top.push_back({name, entry, score_identifier(entry, exact_case)});
  }
  const auto better = [](const RankedIdentifier& a, const RankedIdentifier& b) {
    return a.score != b.score ? a.score > b.score : a.name < b.name;
  };
  if (ranking.top.size() > request.limit) {
    std::partial_sort(ranking.top.begin(),
                      ranking.top.begin() + static_cast<std::ptrdiff_t>(request.limit),
                      ranking.top.end(), better);
    ranking.top.resize(request.limit);
  } else {
    std::sort(ranking.top.begin(), ranking.top.end(), better);
  }
  if (token.cancelled()) return cancelled_error();
  return ranking;
}

}  // namespace mnemo::server
