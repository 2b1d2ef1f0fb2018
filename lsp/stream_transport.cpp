#include "lsp/stream_transport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace mnemo::lsp {
namespace asio = boost::asio;

std::shared_ptr<StreamTransport> StreamTransport::create(asio::io_context& io, int read_fd,
                                                         int write_fd,
                                                         std::size_t max_message_bytes) {
  return std::shared_ptr<StreamTransport>(
      new StreamTransport(io, read_fd, write_fd, max_message_bytes));
}

StreamTransport::StreamTransport(asio::io_context& io, int read_fd, int write_fd,
                                 std::size_t max_message_bytes)
    : io_(io),
      input_(io),
      output_(io),
      same_descriptor_(read_fd == write_fd),
      framer_(max_message_bytes),
      read_buffer_(64 * 1024) {
  input_.assign(read_fd);
  // A socket serves both directions; give the writer its own descriptor so the two
  // stream_descriptors can be closed independently.
  output_.assign(same_descriptor_ ? ::dup(write_fd) : write_fd);
}

StreamTransport::~StreamTransport() {
  boost::system::error_code ignored;
  input_.close(ignored);
  output_.close(ignored);
}

void StreamTransport::start(Callbacks callbacks) {
  callbacks_ = std::move(callbacks);
  asio::post(io_, [self = shared_from_this()] { self->read_some(); });
}

void StreamTransport::read_some() {
  input_.async_read_some(
      asio::buffer(read_buffer_),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t n) {
        if (n > 0) {
          std::vector<MessageFramer::Event> events;
          self->framer_.feed(std::string_view(self->read_buffer_.data(), n), events);
          for (auto& event : events) {
            if (self->input_closed_) break;
            if (event.kind == MessageFramer::Event::Kind::kMessage)
              self->callbacks_.on_message(std::move(event.payload));
            else
              self->callbacks_.on_framing_error(event.payload);
          }
        }
        if (self->input_closed_) return;
        if (error) {
          if (error != asio::error::eof && error != asio::error::operation_aborted)
            spdlog::warn("transport: read failed: {}", error.message());
          if (self->framer_.buffered_bytes() > 0)
            spdlog::warn("transport: input ended inside a message ({} bytes dropped)",
                         self->framer_.buffered_bytes());
          self->input_closed_ = true;
          if (self->callbacks_.on_closed) self->callbacks_.on_closed();
          return;
        }
        self->read_some();
      });
}

void StreamTransport::send(std::string body) {
  std::string framed = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  framed += body;
  asio::post(io_, [self = shared_from_this(), framed = std::move(framed)]() mutable {
    if (self->closing_ && !self->output_.is_open()) return;
    self->write_queue_.push_back(std::move(framed));
    if (!self->writing_) self->write_next();
  });
}

void StreamTransport::write_next() {
  if (write_queue_.empty()) {
    writing_ = false;
    close_output_if_done();
    return;
  }
  writing_ = true;
  asio::async_write(
      output_, asio::buffer(write_queue_.front()),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
        self->write_queue_.pop_front();
        if (error) {
          spdlog::warn("transport: write failed: {}", error.message());
          self->write_queue_.clear();
          self->writing_ = false;
          boost::system::error_code ignored;
          self->output_.close(ignored);
          return;
        }
        self->write_next();
      });
}

void StreamTransport::close() {
  asio::post(io_, [self = shared_from_this()] {
    if (self->closing_) return;
    self->closing_ = true;
    self->input_closed_ = true;
    boost::system::error_code ignored;
    self->input_.cancel(ignored);
    self->input_.close(ignored);
    self->close_output_if_done();
  });
}

void StreamTransport::close_output_if_done() {
  if (closing_ && !writing_ && write_queue_.empty()) {
    boost::system::error_code ignored;
    output_.close(ignored);
  }
}

namespace {

void pump(int from, int to) {
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(to, buffer + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return;
      done += w;
    }
  }
  ::close(to);
}

}  // namespace

PollableDescriptor make_pollable(int fd, bool for_reading) {
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) return {fd, {}};
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  if (for_reading) {
    // Reading a regular file never blocks for long; the thread ends at end of file.
    std::thread(pump, fd, pipe_fds[1]).detach();
    return {pipe_fds[0], {}};
  }
  return {pipe_fds[1], std::thread(pump, pipe_fds[0], fd)};
}

}  // namespace mnemo::lsp
