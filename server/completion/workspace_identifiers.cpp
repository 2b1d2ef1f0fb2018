// Building and querying the workspace identifier table (see workspace_identifiers.h).
#include "server/completion/workspace_identifiers.h"

#include <algorithm>

#include "server/text/identifier_scan.h"

namespace mnemo::server {

const std::vector<WorkspaceIdentifiers::FileEntry>* WorkspaceIdentifiers::file(
    const std::string& key) const {
  const auto it = files_.find(key);
  return it == files_.end() ? nullptr : &it->second;
}

std::optional<WorkspaceIdentifiers::NameId> WorkspaceIdentifiers::find(
    std::string_view name) const {
  const auto it = ids_.find(name);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::pair<const WorkspaceIdentifiers::NameId*, const WorkspaceIdentifiers::NameId*>
WorkspaceIdentifiers::names_with_prefix(std::string_view prefix) const {
  const NameId* begin = folded_order_.data();
  const NameId* end = begin + folded_order_.size();
  // Names with a given folded prefix are contiguous in folded order: everything before
  // them compares less than the prefix, and they end at the first name that lacks it.
  const NameId* first = std::partition_point(
      begin, end, [&](NameId id) { return compare_folded(names_[id], prefix) < 0; });
  const NameId* last = std::partition_point(
      first, end, [&](NameId id) { return starts_with_folded(names_[id], prefix); });
  return {first, last};
}

WorkspaceIdentifiersBuilder::WorkspaceIdentifiersBuilder()
    : table_(std::make_unique<WorkspaceIdentifiers>()) {}

void WorkspaceIdentifiersBuilder::add_file(std::string key, std::string_view text) {
  WorkspaceIdentifiers& table = *table_;
  const auto [slot, inserted] = table.files_.try_emplace(std::move(key));
  if (!inserted) return;

  std::unordered_map<std::string_view, std::uint32_t> counts;  // views into `text`
  for_each_identifier(text, [&](std::string_view name, std::size_t, std::size_t) {
    if (utf8_length(name) >= kMinIdentifierLength) ++counts[name];
  });

  std::vector<WorkspaceIdentifiers::FileEntry>& entries = slot->second;
  entries.reserve(counts.size());
  for (const auto& [name, count] : counts) {
    auto id_it = table.ids_.find(name);
    if (id_it == table.ids_.end()) {
      const auto id = static_cast<WorkspaceIdentifiers::NameId>(table.names_.size());
      const std::string_view stored = table.storage_.emplace_back(name);
      id_it = table.ids_.emplace(stored, id).first;
      table.names_.push_back(stored);
      table.totals_.push_back(0);
    }
    table.totals_[id_it->second] += count;
    entries.push_back({id_it->second, count});
  }
  entries.shrink_to_fit();
}

std::shared_ptr<const WorkspaceIdentifiers> WorkspaceIdentifiersBuilder::build() && {
  WorkspaceIdentifiers& table = *table_;
  table.folded_order_.resize(table.names_.size());
  for (std::size_t i = 0; i < table.folded_order_.size(); ++i) {
    table.folded_order_[i] = static_cast<WorkspaceIdentifiers::NameId>(i);
  }
  std::sort(table.folded_order_.begin(), table.folded_order_.end(),
            [&](WorkspaceIdentifiers::NameId a, WorkspaceIdentifiers::NameId b) {
              const int c = compare_folded(table.names_[a], table.names_[b]);
              return c != 0 ? c < 0 : table.names_[a] < table.names_[b];
            });
  table.frequency_order_ = table.folded_order_;
  std::sort(table.frequency_order_.begin(), table.frequency_order_.end(),
            [&](WorkspaceIdentifiers::NameId a, WorkspaceIdentifiers::NameId b) {
              if (table.totals_[a] != table.totals_[b]) return table.totals_[a] > table.totals_[b];
              return table.names_[a] < table.names_[b];
            });
  return std::shared_ptr<const WorkspaceIdentifiers>(std::move(table_));
}

}  // namespace mnemo::server
