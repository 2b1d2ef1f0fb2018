#include "server/session/serve.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <list>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include "lsp/stream_transport.h"
#include "server/completion/delayed_completion_engine.h"
#include "server/completion/symbolic_completion_engine.h"
#include "server/session/session.h"

namespace mnemo::server {
namespace asio = boost::asio;

std::optional<ListenAddress> parse_listen_address(const std::string& text, std::string& error) {
  ListenAddress address{"127.0.0.1", 0};
  std::string port = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "expected [IPV6]:PORT";
      return std::nullopt;
    }
    address.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    if (colon > 0) address.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
      std::stoul(port) > 65535) {
    error = "invalid port '" + port + "'";
    return std::nullopt;
  }
  address.port = static_cast<unsigned short>(std::stoul(port));
  return address;
}

namespace {

/// One session's engine and the options it is started with.
struct SessionSetup {
  std::shared_ptr<CompletionEngine> engine;
  SessionOptions options;
};

SessionSetup session_setup(const ServeOptions& options) {
  SessionSetup setup;
  setup.engine = std::make_shared<SymbolicCompletionEngine>();
  if (options.semantic_source)
    setup.engine = std::make_shared<SemanticCompletionEngine>(setup.engine, options.semantic_source,
                                                              options.semantic_prepare);
  std::shared_ptr<ModelCompletionEngine> model;
  if (options.inline_model) {
    // Off until the settings name a model.
    model = std::make_shared<ModelCompletionEngine>(
        setup.engine, options.inline_model, ModelCompletionOptions{false}, options.menu_ranker);
    setup.engine = model;
  }
  if (options.test_completion_delay_ms > 0)
    setup.engine = std::make_shared<DelayedCompletionEngine>(
        setup.engine, std::chrono::milliseconds(options.test_completion_delay_ms));
  SessionOptions& session = setup.options;
  session.max_message_bytes = options.max_message_bytes;
  session.symbol_index = options.symbol_index;
  session.unsaved_edits = options.unsaved_edits;
  session.configure = [flags = options.settings_flags, apply = options.apply_settings,
                       model](const lsp::ClientInfo& client) {
    const std::filesystem::path root =
        client.workspace_roots.empty() ? std::filesystem::path() : client.workspace_roots.front();
    std::vector<std::string> problems;
    const CompletionSettings settings =
        resolve_settings(root, client.initialization_options, flags, problems);
    std::optional<std::string> refused;
    if (apply) {
      refused = apply(settings);
    } else if (!settings.model.empty()) {
      refused = "the model " + settings.model.string() +
                " is not used: it reads the index's memory, and this server runs with --no-index";
    }
    if (refused) problems.push_back(*refused);
    if (model) model->configure({!settings.model.empty() && !refused, settings.debounce});
    spdlog::info("settings: model {}, debounce {} ms",
                 settings.model.empty() ? "none" : settings.model.string(),
                 settings.debounce.count());
    return problems;
  };
  return setup;
}

unsigned worker_count(const ServeOptions& options) {
  if (options.worker_threads > 0) return options.worker_threads;
  return std::max(2u, std::thread::hardware_concurrency());
}

int serve_stdio(const ServeOptions& options) {
  asio::io_context io;
  asio::thread_pool workers(worker_count(options));
  auto input = lsp::make_pollable(STDIN_FILENO, /*for_reading=*/true);
  auto output = lsp::make_pollable(STDOUT_FILENO, /*for_reading=*/false);
  // The transport owns and closes what it is given; fds 0 and 1 stay open for the process
  // (nothing else writes to stdout: logs go to stderr or a file).
  const int read_fd = input.fd == STDIN_FILENO ? ::dup(STDIN_FILENO) : input.fd;
  const int write_fd = output.fd == STDOUT_FILENO ? ::dup(STDOUT_FILENO) : output.fd;

  int exit_code = 1;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  SessionSetup setup = session_setup(options);
  Session session(io, workers, read_fd, write_fd, setup.options, std::move(setup.engine),
                  [&](int code) {
                    exit_code = code;
                    signals.cancel();  // the only work left is flushing the output
                  });
  signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
    if (error) return;
    spdlog::info("serve: signal {}, stopping", signal_number);
    session.stop();
  });
  session.start();
  spdlog::info("serve: LSP on stdio");
  io.run();
  workers.join();
  if (output.pump.joinable()) output.pump.join();
  return exit_code;
}

int serve_tcp(const ServeOptions& options, const ListenAddress& address) {
  asio::io_context io;
  asio::thread_pool workers(worker_count(options));
  // Resolve so that names such as "localhost" work; take the first address offered.
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code resolve_error;
  const auto resolved = resolver.resolve(address.host, std::to_string(address.port),
                                         asio::ip::resolver_base::numeric_service, resolve_error);
  if (resolve_error || resolved.empty()) {
    spdlog::error("serve: cannot resolve {}: {}", address.host, resolve_error.message());
    return 2;
  }
  asio::ip::tcp::acceptor acceptor(io);
  boost::system::error_code listen_error;
  const auto endpoint = resolved.begin()->endpoint();
  acceptor.open(endpoint.protocol(), listen_error);
  if (!listen_error) acceptor.set_option(asio::socket_base::reuse_address(true), listen_error);
  if (!listen_error) acceptor.bind(endpoint, listen_error);
  if (!listen_error) acceptor.listen(asio::socket_base::max_listen_connections, listen_error);
  if (listen_error) {
    spdlog::error("serve: cannot listen on {}:{}: {}", address.host, address.port,
                  listen_error.message());
    return 2;
  }
  spdlog::info("serve: LSP on tcp {}:{}", acceptor.local_endpoint().address().to_string(),
               acceptor.local_endpoint().port());
  std::list<std::unique_ptr<Session>> sessions;

  std::function<void()> accept = [&] {
    acceptor.async_accept([&](const boost::system::error_code& error,
                              asio::ip::tcp::socket socket) {
      if (error) {
        if (error != asio::error::operation_aborted)
          spdlog::error("serve: accept failed: {}", error.message());
        return;
      }
      const auto peer = socket.remote_endpoint();
      spdlog::info("serve: connection from {}:{}", peer.address().to_string(), peer.port());
      const int fd = socket.release();
      sessions.push_back(nullptr);
      const auto slot = std::prev(sessions.end());
      SessionSetup setup = session_setup(options);
      *slot =
          std::make_unique<Session>(io, workers, fd, fd, setup.options, std::move(setup.engine),
                                    [&io, &sessions, slot](int code) {
                                      spdlog::info("serve: session ended ({})", code);
                                      asio::post(io, [&sessions, slot] { sessions.erase(slot); });
                                    });
      (*slot)->start();
      accept();
    });
  };
  accept();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int signal_number) {
    if (error) return;
    spdlog::info("serve: signal {}, stopping", signal_number);
    acceptor.close();
    for (auto& session : sessions) session->stop();
  });
  io.run();
  workers.join();
  return 0;
}

}  // namespace

int serve(const ServeOptions& options) {
  // A client that disappears mid-write must not kill the server with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  if (!options.listen) return serve_stdio(options);
  std::string error;
  const auto address = parse_listen_address(*options.listen, error);
  if (!address) {
    spdlog::error("serve: --listen {}: {}", *options.listen, error);
    return 2;
  }
  return serve_tcp(options, *address);
}

}  // namespace mnemo::server
