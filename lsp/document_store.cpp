#include "lsp/document_store.h"

#include <utility>

namespace mnemo::lsp {
namespace {

std::string format_position(Position position) {
  return std::to_string(position.line) + ":" + std::to_string(position.character);
}

}  // namespace

DocumentStore::OpenOutcome DocumentStore::open(std::string uri, std::string language_id,
                                               std::int64_t version, std::string text) {
  // Build the line table before taking the lock: it is the only O(n) work here.
  auto document = std::make_shared<const TextDocument>(std::move(text));
  std::lock_guard<std::mutex> lock(mutex_);
  DocumentSnapshot snapshot{uri, std::move(language_id), version, std::move(document)};
  const bool replaced = !documents_.insert_or_assign(std::move(uri), snapshot).second;
  return OpenOutcome{std::move(snapshot), replaced};
}

Result<DocumentStore::ChangeOutcome, DocumentError> DocumentStore::change(
    const std::string& uri, std::int64_t version, const std::vector<TextChange>& changes,
    PositionEncoding encoding) {
  // Edits are applied under the lock so that two batches for one document can never
  // interleave; didChange arrives on one thread in order, so this costs readers little.
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = documents_.find(uri);
  if (it == documents_.end()) {
    return DocumentError{"cannot change " + uri + ": the document is not open"};
  }

  // Work on a local pointer and publish only when every change applied: all-or-nothing.
  std::shared_ptr<const TextDocument> document = it->second.document;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const TextChange& text_change = changes[i];
    if (!text_change.range) {
      document = std::make_shared<const TextDocument>(text_change.text);
      continue;
    }
    const Range& range = *text_change.range;
    if (range.end < range.start) {
      return DocumentError{"cannot change " + uri + ": change " + std::to_string(i) +
                           " has its end " + format_position(range.end) + " before its start " +
                           format_position(range.start)};
    }
    // offset_at clamps a range beyond the text, and is monotonic, so begin <= end here.
    const std::size_t begin = document->offset_at(range.start, encoding);
    const std::size_t end = document->offset_at(range.end, encoding);
    document =
        std::make_shared<const TextDocument>(document->replaced(begin, end, text_change.text));
  }

  DocumentSnapshot& current = it->second;
  const bool stale_version = version <= current.version;
  current.version = version;
  current.document = std::move(document);
  return ChangeOutcome{current, stale_version};
}

bool DocumentStore::close(const std::string& uri) {
  std::lock_guard<std::mutex> lock(mutex_);
  return documents_.erase(uri) > 0;
}

std::optional<DocumentSnapshot> DocumentStore::get(const std::string& uri) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = documents_.find(uri);
  if (it == documents_.end()) return std::nullopt;
  return it->second;
}

std::vector<DocumentSnapshot> DocumentStore::all() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<DocumentSnapshot> snapshots;
  snapshots.reserve(documents_.size());
  for (const auto& entry : documents_) snapshots.push_back(entry.second);
  return snapshots;
}

}  // namespace mnemo::lsp
