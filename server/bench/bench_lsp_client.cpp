#include "server/bench/bench_lsp_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mnemo::server {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

BenchLspClient::BenchLspClient(std::shared_ptr<CompletionEngine> engine) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
  fd_ = fds[1];
  session_ = std::make_unique<Session>(io_, workers_, fds[0], fds[0], SessionOptions{},
                                       std::move(engine), [](int) {});
  session_->start();
  io_thread_ = std::thread([this] { io_.run(); });  // until the session ends
  double ms = 0;
  request("initialize",
          {{"processId", nullptr},
           {"rootUri", nullptr},
           {"capabilities", {{"general", {{"positionEncodings", {"utf-8"}}}}}}},
          ms);
  notify("initialized", json::object());
}

BenchLspClient::~BenchLspClient() {
  try {
    double ms = 0;
    request("shutdown", nullptr, ms);
    notify("exit", nullptr);
  } catch (const std::exception&) {
    // The session is gone already; closing our end below ends it otherwise.
  }
  ::shutdown(fd_, SHUT_RDWR);  // end of input: the session ends, and io_.run() returns
  if (io_thread_.joinable()) io_thread_.join();
  workers_.join();
  session_.reset();  // on this thread, now the only one
  ::close(fd_);
}

void BenchLspClient::write(const json& message) {
  const std::string body = message.dump();
  const std::string frame = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("bench client: the server closed the connection");
    sent += static_cast<std::size_t>(n);
  }
}

json BenchLspClient::read() {
  for (;;) {
    const std::size_t header_end = buffer_.find("\r\n\r\n");
    if (header_end != std::string::npos) {
      const std::size_t at = buffer_.find("Content-Length: ");
      if (at == std::string::npos || at > header_end)
        throw std::runtime_error("bench client: a message without Content-Length");
      const std::size_t length = std::stoul(buffer_.substr(at + 16, header_end - at - 16));
      if (buffer_.size() >= header_end + 4 + length) {
        json message = json::parse(buffer_.substr(header_end + 4, length));
        buffer_.erase(0, header_end + 4 + length);
        return message;
      }
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("bench client: the server closed the connection");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

void BenchLspClient::notify(const std::string& method, json params) {
  write({{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
}

json BenchLspClient::request(const std::string& method, json params, double& ms) {
  const int id = next_id_++;
  const auto start = Clock::now();
  write({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}});
  for (;;) {
    json message = read();
    if (message.contains("method")) {
      // The server's own requests (progress tokens) get a null answer; notifications none.
      if (message.contains("id"))
        write({{"jsonrpc", "2.0"}, {"id", message["id"]}, {"result", nullptr}});
      continue;
    }
    if (message.value("id", json()) == id) {
      ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      return message;
    }
  }
}

}  // namespace mnemo::server
