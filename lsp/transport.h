// The seam between JSON-RPC and bytes: a Transport delivers whole message bodies and
// sends bodies back, framed however the medium requires. StreamTransport is the real one;
// tests use an in-memory double.
#pragma once

#include <functional>
#include <string>

namespace mnemo::lsp {

/// Thread-safety: callbacks are invoked on one thread (the transport's), in order.
/// send() and close() may be called from any thread.
class Transport {
 public:
  struct Callbacks {
    std::function<void(std::string body)> on_message;
    /// A framing problem (bad header, oversized message); the stream keeps going.
    std::function<void(const std::string& error)> on_framing_error;
    /// The input reached end of stream or failed; called once.
    std::function<void()> on_closed;
  };

  virtual ~Transport() = default;
  virtual void start(Callbacks callbacks) = 0;
  /// Queues one message body; messages go out in call order.
  virtual void send(std::string body) = 0;
  /// Stops reading; queued messages are still delivered, then the channel closes.
  virtual void close() = 0;
};

}  // namespace mnemo::lsp
