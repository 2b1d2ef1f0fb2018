#include "server/completer/held_names.h"

#include <string>
#include <utility>
#include <vector>

namespace mnemo::server {

HeldNames held_names(const CursorNames& names, const CompletionSettings& settings) {
  HeldNames out;
  out.slot.required = names.site.kind == SiteKind::kMember;
  out.slot.prior_weight =
      out.slot.required ? settings.member_prior_weight : settings.name_prior_weight;
  if (names.site.kind == SiteKind::kDeclaration || names.names.empty()) return out;
  std::vector<model::WeightedName> weighted;
  weighted.reserve(names.names.size());
  for (const NameCandidate& c : names.names) weighted.push_back({c.name, c.prior});
  out.names = std::make_shared<const model::NameSet>(std::move(weighted));
  return out;
}

}  // namespace mnemo::server
