#include "server/session/session.h"

#include <spdlog/spdlog.h>

#include "lsp/stream_transport.h"

#include "server/session/version.h"

namespace mnemo::server {

Session::Session(boost::asio::io_context& io, boost::asio::thread_pool& workers, int read_fd,
                 int write_fd, const SessionOptions& options,
                 std::shared_ptr<CompletionEngine> engine, std::function<void(int)> on_end)
    : endpoint_(lsp::Endpoint::create(
          lsp::StreamTransport::create(io, read_fd, write_fd, options.max_message_bytes))),
      server_(endpoint_, {"mnemo", kVersion}),
      completion_(server_, std::move(engine), workers) {
  if (options.configure) {
    // Registered before the features' hooks, which run after it in this order.
    server_.on_initialized([this, configure = options.configure](const lsp::ClientInfo& client) {
      for (const std::string& problem : configure(client)) {
        spdlog::warn("settings: {}", problem);
        server_.endpoint().notify("window/showMessage",
                                  {{"type", 2}, {"message", "mnemo settings: " + problem}});
      }
    });
  }
  if (options.symbol_index.run)
    symbol_index_ = std::make_unique<WorkspaceSymbolIndex>(server_, options.symbol_index);
  if (options.unsaved_edits.encode)
    unsaved_edits_ = std::make_unique<UnsavedEditMemory>(server_, options.unsaved_edits);
  server_.on_exit([this, on_end = std::move(on_end)](int code) {
    completion_.stop();
    if (symbol_index_) symbol_index_->stop();
    if (unsaved_edits_) unsaved_edits_->stop();
    on_end(code);
  });
}

void Session::start() {
  server_.start();
}

void Session::stop() {
  completion_.stop();
  if (symbol_index_) symbol_index_->stop();
  if (unsaved_edits_) unsaved_edits_->stop();
  endpoint_->cancel_all(lsp::CancelReason::kShutdown);
  endpoint_->close();
}

}  // namespace mnemo::server
