// JSON-RPC 2.0 over a Transport: classifies incoming messages, dispatches requests and
// notifications to registered handlers, matches responses to server-initiated requests,
// and owns the table of in-flight requests that $/cancelRequest, latest-wins and
// document invalidation act on. Every failure becomes a JSON-RPC error here, once
// (ccls-style single catch at dispatch), so handlers may throw.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "lsp/cancellation.h"
#include "lsp/result.h"
#include "lsp/transport.h"

namespace mnemo::lsp {

using json = nlohmann::json;

enum class ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kServerNotInitialized = -32002,
  kRequestFailed = -32803,
  kRequestCancelled = -32800,
  kContentModified = -32801,
};

struct ResponseError {
  ErrorCode code = ErrorCode::kInternalError;
  std::string message;
};

template <class T>
using RpcResult = Result<T, ResponseError>;

/// Thrown by handlers whose params do not match the method's schema; becomes -32602.
class InvalidParamsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Serialises any JSON for the wire. Invalid UTF-8 inside strings is replaced, never
/// thrown, so a document with stray bytes cannot break a response.
std::string dump_json(const json& value);

class Endpoint;

/// One incoming request, handed to its handler. Copyable; reply() may be called from any
/// thread, and only the first reply is sent (a request cancelled by the endpoint has
/// already been answered with an error, so the handler's late reply is dropped).
class RequestContext {
 public:
  const json& id() const;
  const std::string& method() const;
  CancellationToken token() const;
  void reply(RpcResult<json> result) const;
  /// True once a reply (from the handler or from cancellation) went out.
  bool replied() const;

 private:
  friend class Endpoint;
  struct State;
  explicit RequestContext(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

/// Thread-safety: handlers are registered before start(); messages are dispatched on the
/// transport's (io_context) thread, in arrival order. notify(), call(), cancel*() and
/// RequestContext::reply() may be used from any thread.
class Endpoint : public std::enable_shared_from_this<Endpoint> {
 public:
  using RequestHandler = std::function<void(const json& params, RequestContext context)>;
  using NotificationHandler = std::function<void(const json& params)>;
  using ResponseHandler = std::function<void(RpcResult<json> result)>;
  /// Decides whether a message may be dispatched now (the LSP lifecycle). A refused
  /// request is answered with the returned error; a refused notification is dropped.
  using Admission =
      std::function<std::optional<ResponseError>(const std::string& method, bool is_request)>;

  static std::shared_ptr<Endpoint> create(std::shared_ptr<Transport> transport);

  void on_request(const std::string& method, RequestHandler handler);
  void on_notification(const std::string& method, NotificationHandler handler);
  void set_admission(Admission admission);
  /// Called once the input stream ends (the client went away).
  void on_closed(std::function<void()> handler);

  void start();
  /// Flushes pending output and closes the transport.
  void close();

  void notify(const std::string& method, json params);
  /// A server-initiated request; `on_response` runs on the io thread.
  void call(const std::string& method, json params, ResponseHandler on_response);

  /// Cancels an in-flight request and answers it at once with -32800 (or -32801 for
  /// kContentModified). Returns false if no such request is in flight.
  bool cancel(const json& id, CancelReason reason);
  void cancel_all(CancelReason reason);

  /// Ties a request to a document: a later request bound with the same uri and `kind`
  /// supersedes it (latest wins), and invalidate_document() cancels it.
  void bind_to_document(const RequestContext& context, const std::string& uri,
                        const std::string& kind);
  /// Cancels every in-flight request bound to `uri` with ContentModified.
  void invalidate_document(const std::string& uri);

  /// Entry point for one framed message (public for tests that bypass the transport).
  void handle_message(std::string body);
  void handle_framing_error(const std::string& error);

  std::size_t in_flight() const;

 private:
  friend class RequestContext;
  explicit Endpoint(std::shared_ptr<Transport> transport);
  void send(const json& message);
  void send_error(const json& id, const ResponseError& error);
  void dispatch_request(const json& id, const std::string& method, const json& params);
  void dispatch_notification(const std::string& method, const json& params);
  void dispatch_response(const json& message);
  void finish(const std::string& key);

  std::shared_ptr<Transport> transport_;
  std::map<std::string, RequestHandler> request_handlers_;
  std::map<std::string, NotificationHandler> notification_handlers_;
  Admission admission_;
  std::function<void()> on_closed_;

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<RequestContext::State>> in_flight_;  // by id.dump()
  std::map<std::int64_t, ResponseHandler> outgoing_;                         // by our id
  std::int64_t next_outgoing_id_ = 1;
};

}  // namespace mnemo::lsp
