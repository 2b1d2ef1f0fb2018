// The client side of `mnemo bench complete`'s latency as an editor sees it: a Session (the
// server's own, with its JSON-RPC, LSP and completion layers and worker threads) on one end
// of a socket pair, and a blocking client on the other that times each request from its
// first byte written to its answer's last byte read.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "server/completion/completion_engine.h"
#include "server/session/session.h"

namespace mnemo::server {

class BenchLspClient {
 public:
  /// Starts a session serving `engine` and initializes it (UTF-8 positions, no workspace).
  explicit BenchLspClient(std::shared_ptr<CompletionEngine> engine);
  ~BenchLspClient();
  BenchLspClient(const BenchLspClient&) = delete;
  BenchLspClient& operator=(const BenchLspClient&) = delete;

  void notify(const std::string& method, nlohmann::json params);
  /// Sends a request and waits for its answer, answering what the server asks meanwhile;
  /// the answer (with "result" or "error") and the round trip's milliseconds.
  nlohmann::json request(const std::string& method, nlohmann::json params, double& ms);

 private:
  void write(const nlohmann::json& message);
  nlohmann::json read();

  boost::asio::io_context io_;
  boost::asio::thread_pool workers_{2};
  std::unique_ptr<Session> session_;
  std::thread io_thread_;
  int fd_ = -1;  ///< the client's end
  std::string buffer_;
  int next_id_ = 1;
};

}  // namespace mnemo::server
