// A CompletionEngine for the tests of the engines that wrap one (model, semantic): it answers
// every menu request with `menu` and every inline request with `inline_text`, and records
// the documents and workspace roots it is given.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "server/completion/completion_engine.h"

namespace mnemo::server::testing {

class FakeCompletionEngine final : public CompletionEngine {
 public:
  /// The menu's labels, each inserted over the `typed` bytes before the cursor.
  std::vector<std::string> menu = {"from the wrapped engine"};
  std::size_t typed = 0;
  std::string inline_text = "from the wrapped engine";

  int documents = 0;                           ///< document_updated() calls
  std::vector<std::filesystem::path> indexed;  ///< the last index_workspace() roots

  void document_updated(const DocumentView&) override { ++documents; }
  void document_closed(const std::string&) override {}
  void index_workspace(const std::vector<std::filesystem::path>& roots, ProgressSink&,
                       const lsp::CancellationToken&) override {
    indexed = roots;
  }
  EngineResult<CompletionList> complete(const CompletionQuery& q,
                                        const lsp::CancellationToken&) override {
    CompletionList list;
    for (const std::string& label : menu) {
      CompletionCandidate item;
      item.label = item.insert_text = label;
      item.replace_begin = q.cursor - typed;
      item.replace_end = q.cursor;
      list.items.push_back(item);
    }
    return list;
  }
  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& q, const lsp::CancellationToken&) override {
    return std::vector<InlineSuggestion>{{inline_text, q.cursor, q.cursor, 0}};
  }
};

}  // namespace mnemo::server::testing
