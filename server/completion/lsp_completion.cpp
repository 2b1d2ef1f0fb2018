#include "server/completion/lsp_completion.h"

#include <cstdio>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "lsp/protocol.h"
#include "lsp/uri.h"

namespace mnemo::server {
namespace {

using lsp::json;

// LSP CompletionItemKind values.
int lsp_kind(CompletionItemKind kind) {
  switch (kind) {
    case CompletionItemKind::kText:
      return 1;
    case CompletionItemKind::kFunction:
      return 3;
    case CompletionItemKind::kIdentifier:
      return 6;  // Variable: the closest LSP kind
    case CompletionItemKind::kField:
      return 5;
    case CompletionItemKind::kType:
      return 7;  // Class
    case CompletionItemKind::kNamespace:
      return 9;  // Module
    case CompletionItemKind::kMacro:
      return 21;  // Constant
    case CompletionItemKind::kKeyword:
      return 14;
    case CompletionItemKind::kSnippet:
      return 15;
  }
  return 1;
}

lsp::ResponseError to_response_error(const EngineError& error,
                                     const lsp::CancellationToken& token) {
  switch (error.kind) {
    case EngineError::Kind::kCancelled:
      return {token.reason() == lsp::CancelReason::kContentModified
                  ? lsp::ErrorCode::kContentModified
                  : lsp::ErrorCode::kRequestCancelled,
              error.message};
    case EngineError::Kind::kInvalidArgument:
      return {lsp::ErrorCode::kInvalidParams, error.message};
    case EngineError::Kind::kInternal:
      break;
  }
  return {lsp::ErrorCode::kInternalError, error.message};
}

/// Where a document request points, resolved against the current document version.
struct Target {
  DocumentView view;
  std::size_t cursor = 0;
};

Target resolve_target(lsp::LanguageServer& server, const json& params) {
  const json& id = lsp::require(params, "textDocument", "params");
  const std::string uri = lsp::require_string(id, "uri", "params.textDocument");
  const auto position =
      lsp::parse_position(lsp::require(params, "position", "params"), "params.position");
  auto snapshot = server.documents().get(uri);
  if (!snapshot) throw lsp::InvalidParamsError("document " + uri + " is not open");
  Target target;
  target.cursor = snapshot->document->offset_at(position, server.encoding());
  target.view = {snapshot->uri, snapshot->language_id, snapshot->version, snapshot->document};
  return target;
}

json to_lsp_range(const lsp::TextDocument& document, std::size_t begin, std::size_t end,
                  lsp::PositionEncoding encoding) {
  return lsp::to_json(
      lsp::Range{document.position_at(begin, encoding), document.position_at(end, encoding)});
}

/// Adapts engine progress to an LSP progress bar.
class LspProgressSink : public ProgressSink {
 public:
  explicit LspProgressSink(std::shared_ptr<lsp::WorkDoneProgress> progress)
      : progress_(std::move(progress)) {}
  void begin(const std::string& title, const std::string& message) override {
    progress_->begin(title, message, 0);
  }
  void report(const std::string& message, std::optional<unsigned> percentage) override {
    progress_->report(message, percentage);
  }
  void end(const std::string& message) override { progress_->end(message); }

 private:
  std::shared_ptr<lsp::WorkDoneProgress> progress_;
};

}  // namespace

LspCompletion::LspCompletion(lsp::LanguageServer& server, std::shared_ptr<CompletionEngine> engine,
                             boost::asio::thread_pool& workers)
    : server_(server), engine_(std::move(engine)), workers_(workers) {
  server_.add_capabilities({
      {"completionProvider", {{"triggerCharacters", {".", ">", ":"}}, {"resolveProvider", false}}},
      {"inlineCompletionProvider", json::object()},
  });
  server_.endpoint().on_request("textDocument/completion",
                                [this](const json& params, lsp::RequestContext context) {
                                  complete(params, std::move(context));
                                });
  server_.endpoint().on_request("textDocument/inlineCompletion",
                                [this](const json& params, lsp::RequestContext context) {
                                  complete_inline(params, std::move(context));
                                });
  server_.on_document_updated([this](const lsp::DocumentSnapshot& snapshot) {
    engine_->document_updated(
        {snapshot.uri, snapshot.language_id, snapshot.version, snapshot.document});
  });
  server_.on_document_closed([this](const std::string& uri) { engine_->document_closed(uri); });
  server_.on_initialized([this](const lsp::ClientInfo& client) { index_workspace(client); });
}

void LspCompletion::stop() {
  background_.cancel(lsp::CancelReason::kShutdown);
  if (indexer_.joinable()) indexer_.join();
}

LspCompletion::~LspCompletion() {
  stop();
}

void LspCompletion::complete(const json& params, lsp::RequestContext context) {
  Target target = resolve_target(server_, params);
  server_.endpoint().bind_to_document(context, target.view.uri, "completion");
  const auto encoding = server_.encoding();
  // Jobs capture what they use, never `this`: the session may end while they run.
  boost::asio::post(workers_, [engine = engine_, context, target = std::move(target), encoding] {
    const auto token = context.token();
    if (token.cancelled()) return;  // answered when it was cancelled
    try {
      CompletionQuery query{target.view, target.cursor};
      auto result = engine->complete(query, token);
      if (!result) return context.reply(to_response_error(result.error(), token));
      const auto& document = *target.view.document;
      json items = json::array();
      char sort_text[16];
      std::size_t rank = 0;
      for (const auto& candidate : result.value().items) {
        std::snprintf(sort_text, sizeof sort_text, "%08zu", rank++);
        json item = {
            {"label", candidate.label},
            {"kind", lsp_kind(candidate.kind)},
            {"sortText", sort_text},
            {"filterText", candidate.label},
            {"insertTextFormat", 1},
            {"textEdit",
             {{"range",
               to_lsp_range(document, candidate.replace_begin, candidate.replace_end, encoding)},
              {"newText", candidate.insert_text}}},
        };
        if (!candidate.detail.empty()) item["detail"] = candidate.detail;
        if (!candidate.documentation.empty()) item["documentation"] = candidate.documentation;
        items.push_back(std::move(item));
      }
      context.reply(json{{"isIncomplete", result.value().incomplete}, {"items", std::move(items)}});
    } catch (const std::exception& e) {
      spdlog::error("completion: {}", e.what());
      context.reply(lsp::ResponseError{lsp::ErrorCode::kInternalError, e.what()});
    }
  });
}

void LspCompletion::complete_inline(const json& params, lsp::RequestContext context) {
  Target target = resolve_target(server_, params);
  InlineCompletionQuery query;
  query.cursor = target.cursor;
  const json& completion_context = lsp::require(params, "context", "params");
  const auto trigger = lsp::require_integer(completion_context, "triggerKind", "params.context");
  if (trigger != 1 && trigger != 2)
    throw lsp::InvalidParamsError(
        "params.context.triggerKind must be 1 (Invoked) or 2 (Automatic)");
  query.trigger = trigger == 1 ? InlineTrigger::kInvoked : InlineTrigger::kAutomatic;
  const auto encoding = server_.encoding();
  if (const json& selected = lsp::lookup(completion_context, {"selectedCompletionInfo"});
      selected.is_object()) {
    const auto range =
        lsp::parse_range(lsp::require(selected, "range", "params.context.selectedCompletionInfo"),
                         "params.context.selectedCompletionInfo.range");
    query.selected = SelectedCompletion{
        target.view.document->offset_at(range.start, encoding),
        target.view.document->offset_at(range.end, encoding),
        lsp::require_string(selected, "text", "params.context.selectedCompletionInfo")};
  }
  query.document = std::move(target.view);
  server_.endpoint().bind_to_document(context, query.document.uri, "inlineCompletion");
  boost::asio::post(workers_, [engine = engine_, context, query = std::move(query), encoding] {
    const auto token = context.token();
    if (token.cancelled()) return;
    try {
      auto result = engine->complete_inline(query, token);
      if (!result) return context.reply(to_response_error(result.error(), token));
      json items = json::array();
      for (const auto& suggestion : result.value()) {
        items.push_back({{"insertText", suggestion.insert_text},
                         {"range", to_lsp_range(*query.document.document, suggestion.replace_begin,
                                                suggestion.replace_end, encoding)}});
      }
      context.reply(json{{"items", std::move(items)}});
    } catch (const std::exception& e) {
      spdlog::error("inline completion: {}", e.what());
      context.reply(lsp::ResponseError{lsp::ErrorCode::kInternalError, e.what()});
    }
  });
}

void LspCompletion::index_workspace(const lsp::ClientInfo& client) {
  if (client.workspace_roots.empty() || indexer_.joinable()) return;
  // The same source is cancelled by stop() (session end) and by the progress bar's
  // cancel button.
  auto progress = server_.create_progress(background_);
  indexer_ = std::thread(
      [engine = engine_, roots = client.workspace_roots, progress, token = background_.token()] {
        LspProgressSink sink(progress);
        try {
          engine->index_workspace(roots, sink, token);
        } catch (const std::exception& e) {
          spdlog::error("workspace indexing failed: {}", e.what());
          sink.end("failed: " + std::string(e.what()));
        }
      });
}

}  // namespace mnemo::server
