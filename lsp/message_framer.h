// Splits a byte stream into LSP base-protocol messages ("Content-Length: N\r\n\r\n" + N
// bytes of JSON), independent of any I/O so that every split, merge and corruption of the
// stream can be tested byte by byte.
//
// Recovery: a malformed header (no or invalid Content-Length, overlong header block) or a
// message larger than the cap is reported once, and the framer resynchronises by
// discarding bytes up to the next "Content-Length: <digits>\r\n". That pattern cannot occur
// inside a valid JSON body (a raw CR is only legal as whitespace between tokens, and a
// header name is not a JSON token), so a stream of valid messages is never misframed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::lsp {

/// Not thread-safe: one framer per input stream, fed from the reading thread.
class MessageFramer {
 public:
  static constexpr std::size_t kDefaultMaxMessageBytes = 64u << 20;
  /// Header blocks are a few dozen bytes; this bounds memory spent on garbage.
  static constexpr std::size_t kMaxHeaderBytes = 8u << 10;

  struct Event {
    enum class Kind { kMessage, kError };
    Kind kind;
    std::string payload;  ///< the JSON body, or a human-readable error
  };

  explicit MessageFramer(std::size_t max_message_bytes = kDefaultMaxMessageBytes);

  /// Consumes `bytes` and appends every message and error completed by them to `events`.
  void feed(std::string_view bytes, std::vector<Event>& events);

  /// Bytes held for an incomplete message (bounded by the header and message caps).
  std::size_t buffered_bytes() const { return buffer_.size(); }

 private:
  enum class State { kHeader, kBody, kResync };

  /// Each returns true if it made progress and the loop in feed() should continue.
  bool parse_headers(std::vector<Event>& events);
  bool take_body(std::vector<Event>& events);
  bool resync();
  /// Reports `error`, drops `consumed` bytes and starts looking for the next header.
  void fail(std::string error, std::size_t consumed, std::vector<Event>& events);

  std::size_t max_message_bytes_;
  State state_ = State::kHeader;
  std::string buffer_;
  std::size_t body_length_ = 0;
};

}  // namespace mnemo::lsp
