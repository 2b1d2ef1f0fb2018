// The real Transport: framed LSP messages over stdio pipes or a TCP connection, both
// through Boost.Asio on one io_context thread. Knows nothing of JSON.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "lsp/message_framer.h"
#include "lsp/transport.h"

namespace mnemo::lsp {

/// Thread-safety: start() and the callbacks run on the io_context's thread; send() and
/// close() may be called from any thread.
class StreamTransport : public Transport, public std::enable_shared_from_this<StreamTransport> {
 public:
  /// Takes ownership of both descriptors (they may be the same socket). Asio's
  /// stream_descriptor serves pipes, ttys and sockets alike; regular files are not
  /// pollable, see make_pollable().
  static std::shared_ptr<StreamTransport> create(boost::asio::io_context& io, int read_fd,
                                                 int write_fd, std::size_t max_message_bytes);
  ~StreamTransport() override;

  void start(Callbacks callbacks) override;
  void send(std::string body) override;
  void close() override;

 private:
  StreamTransport(boost::asio::io_context& io, int read_fd, int write_fd,
                  std::size_t max_message_bytes);
  void read_some();
  void write_next();
  void close_output_if_done();

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor input_;
  boost::asio::posix::stream_descriptor output_;
  bool same_descriptor_;
  MessageFramer framer_;
  Callbacks callbacks_;
  std::vector<char> read_buffer_;
  // Touched only on the io_context thread:
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool input_closed_ = false;
};

/// A descriptor Asio can poll. If the original `fd` is a regular file (e.g.
/// `mnemo serve < transcript > out`), `fd` is a pipe end that a thread copies from (or
/// into) the file. For output, join `pump` after the transport closed `fd`, or the tail of
/// the output may be lost at exit.
struct PollableDescriptor {
  int fd = -1;
  std::thread pump;
};
/// `for_reading` says which side the caller uses.
PollableDescriptor make_pollable(int fd, bool for_reading);

}  // namespace mnemo::lsp
