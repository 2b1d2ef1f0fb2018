#include "lsp/json_rpc.h"

#include <spdlog/spdlog.h>

#include "lsp/utf8.h"

namespace mnemo::lsp {

struct RequestContext::State {
  json id;
  std::string key;  // id.dump(): the in-flight table's key
  std::string method;
  CancellationSource source;
  std::atomic<bool> replied{false};
  std::weak_ptr<Endpoint> endpoint;
  // Set by bind_to_document; guarded by the endpoint's mutex.
  std::string document;
  std::string kind;
};

const json& RequestContext::id() const {
  return state_->id;
}
const std::string& RequestContext::method() const {
  return state_->method;
}
CancellationToken RequestContext::token() const {
  return state_->source.token();
}
bool RequestContext::replied() const {
  return state_->replied.load();
}

void RequestContext::reply(RpcResult<json> result) const {
  if (state_->replied.exchange(true)) return;
  auto endpoint = state_->endpoint.lock();
  if (!endpoint) return;
  if (result) {
    endpoint->send({{"jsonrpc", "2.0"}, {"id", state_->id}, {"result", std::move(result).value()}});
  } else {
    endpoint->send_error(state_->id, result.error());
  }
  endpoint->finish(state_->key);
}

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

ResponseError error_for(CancelReason reason) {
  switch (reason) {
    case CancelReason::kContentModified:
      return {ErrorCode::kContentModified, "the document changed; the result would be stale"};
    case CancelReason::kSuperseded:
      return {ErrorCode::kRequestCancelled, "superseded by a newer request for the document"};
    case CancelReason::kShutdown:
      return {ErrorCode::kRequestCancelled, "the server is shutting down"};
    case CancelReason::kCancelRequest:
    case CancelReason::kNone:
      break;
  }
  return {ErrorCode::kRequestCancelled, "cancelled by $/cancelRequest"};
}

bool valid_id(const json& id) {
  return id.is_string() || id.is_number_integer();
}

}  // namespace

std::shared_ptr<Endpoint> Endpoint::create(std::shared_ptr<Transport> transport) {
  return std::shared_ptr<Endpoint>(new Endpoint(std::move(transport)));
}

Endpoint::Endpoint(std::shared_ptr<Transport> transport) : transport_(std::move(transport)) {}

void Endpoint::on_request(const std::string& method, RequestHandler handler) {
  request_handlers_[method] = std::move(handler);
}
void Endpoint::on_notification(const std::string& method, NotificationHandler handler) {
  notification_handlers_[method] = std::move(handler);
}
void Endpoint::set_admission(Admission admission) {
  admission_ = std::move(admission);
}
void Endpoint::on_closed(std::function<void()> handler) {
  on_closed_ = std::move(handler);
}

void Endpoint::start() {
  if (!transport_) return;
  std::weak_ptr<Endpoint> weak = shared_from_this();
  transport_->start({
      [weak](std::string body) {
        if (auto self = weak.lock()) self->handle_message(std::move(body));
      },
      [weak](const std::string& error) {
        if (auto self = weak.lock()) self->handle_framing_error(error);
      },
      [weak] {
        if (auto self = weak.lock(); self && self->on_closed_) self->on_closed_();
      },
  });
}

void Endpoint::close() {
  if (transport_) transport_->close();
}

void Endpoint::send(const json& message) {
  if (transport_) transport_->send(dump_json(message));
}

void Endpoint::send_error(const json& id, const ResponseError& error) {
  send({{"jsonrpc", "2.0"},
        {"id", id},
        {"error", {{"code", static_cast<int>(error.code)}, {"message", error.message}}}});
}

void Endpoint::notify(const std::string& method, json params) {
  send({{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
}

void Endpoint::call(const std::string& method, json params, ResponseHandler on_response) {
  std::int64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    id = next_outgoing_id_++;
    outgoing_[id] = std::move(on_response);
  }
  send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}});
}

void Endpoint::handle_framing_error(const std::string& error) {
  // No id can be known for a message that could not be framed, so there is nothing to
  // answer; the log is the record.
  spdlog::error("jsonrpc: framing error: {}", error);
}

void Endpoint::handle_message(std::string body) {
  std::size_t repaired = 0;
  if (!is_valid_utf8(body)) {
    body = repair_utf8(body, &repaired);
    spdlog::warn("jsonrpc: message contained {} invalid UTF-8 sequence(s), replaced by U+FFFD",
                 repaired);
  }
  json message;
  try {
    message = json::parse(body);
  } catch (const json::parse_error& e) {
    spdlog::error("jsonrpc: parse error: {}", e.what());
    send_error(nullptr, {ErrorCode::kParseError, std::string("Parse error: ") + e.what()});
    return;
  }
  if (!message.is_object()) {
    send_error(nullptr, {ErrorCode::kInvalidRequest, message.is_array()
                                                         ? "batch messages are not used by LSP"
                                                         : "a message must be a JSON object"});
    return;
  }
  const auto id_it = message.find("id");
  const bool has_id = id_it != message.end();
  const json id = has_id && valid_id(*id_it) ? *id_it : json(nullptr);
  const auto version = message.find("jsonrpc");
  if (version == message.end() || *version != "2.0") {
    send_error(id, {ErrorCode::kInvalidRequest, "\"jsonrpc\" must be \"2.0\""});
    return;
  }
  const auto method = message.find("method");
  if (method == message.end()) {
    if (has_id && (message.contains("result") || message.contains("error"))) {
      dispatch_response(message);
    } else {
      send_error(id,
                 {ErrorCode::kInvalidRequest, "neither a request, a notification nor a response"});
    }
    return;
  }
  if (!method->is_string()) {
    send_error(id, {ErrorCode::kInvalidRequest, "\"method\" must be a string"});
    return;
  }
  const auto params_it = message.find("params");
  const json params = params_it == message.end() ? json(nullptr) : *params_it;
  if (!params.is_null() && !params.is_object() && !params.is_array()) {
    if (has_id)
      send_error(id, {ErrorCode::kInvalidRequest, "\"params\" must be an object or array"});
    else
      spdlog::error("jsonrpc: notification {}: params must be an object or array",
                    method->get<std::string>());
    return;
  }
  if (!has_id) {
    dispatch_notification(method->get<std::string>(), params);
    return;
  }
  if (!valid_id(*id_it)) {
    send_error(nullptr, {ErrorCode::kInvalidRequest, "\"id\" must be an integer or a string"});
    return;
  }
  dispatch_request(id, method->get<std::string>(), params);
}

void Endpoint::dispatch_request(const json& id, const std::string& method, const json& params) {
  if (admission_) {
    if (auto refused = admission_(method, true)) {
      send_error(id, *refused);
      return;
    }
  }
  const auto handler = request_handlers_.find(method);
  if (handler == request_handlers_.end()) {
    send_error(id, {ErrorCode::kMethodNotFound, "method not found: " + method});
    return;
  }
  auto state = std::make_shared<RequestContext::State>();
  state->id = id;
  state->key = id.dump();
  state->method = method;
  state->endpoint = weak_from_this();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!in_flight_.emplace(state->key, state).second) {
      send_error(
          id, {ErrorCode::kInvalidRequest, "request id " + state->key + " is already in flight"});
      return;
    }
  }
  RequestContext context(state);
  try {
    handler->second(params, context);
  } catch (const InvalidParamsError& e) {
    context.reply(ResponseError{ErrorCode::kInvalidParams, method + ": " + e.what()});
  } catch (const json::exception& e) {
    context.reply(
        ResponseError{ErrorCode::kInvalidParams, method + ": invalid params: " + e.what()});
  } catch (const std::exception& e) {
    spdlog::error("jsonrpc: {} failed: {}", method, e.what());
    context.reply(ResponseError{ErrorCode::kInternalError, method + ": " + e.what()});
  }
}

void Endpoint::dispatch_notification(const std::string& method, const json& params) {
  if (method == "$/cancelRequest") {
    if (!params.is_object() || !params.contains("id") || !valid_id(params["id"])) {
      spdlog::error("jsonrpc: $/cancelRequest without a valid id");
      return;
    }
    if (!cancel(params["id"], CancelReason::kCancelRequest))
      spdlog::debug("jsonrpc: $/cancelRequest for {}: not in flight", params["id"].dump());
    return;
  }
  if (admission_ && admission_(method, false)) {
    spdlog::warn("jsonrpc: dropped notification {} (not allowed in this state)", method);
    return;
  }
  const auto handler = notification_handlers_.find(method);
  if (handler == notification_handlers_.end()) {
    // "$/" notifications are optional by protocol; others are worth a note in the log.
    if (method.rfind("$/", 0) == 0)
      spdlog::debug("jsonrpc: ignored notification {}", method);
    else
      spdlog::warn("jsonrpc: unknown notification {} ignored", method);
    return;
  }
  try {
    handler->second(params);
  } catch (const std::exception& e) {
    spdlog::error("jsonrpc: notification {} failed: {}", method, e.what());
  }
}

void Endpoint::dispatch_response(const json& message) {
  const json& id = message["id"];
  ResponseHandler handler;
  if (id.is_number_integer()) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = outgoing_.find(id.get<std::int64_t>());
    if (it != outgoing_.end()) {
      handler = std::move(it->second);
      outgoing_.erase(it);
    }
  }
  if (!handler) {
    spdlog::warn("jsonrpc: response to unknown request id {}", id.dump());
    return;
  }
  try {
    if (const auto error = message.find("error"); error != message.end()) {
      ResponseError e;
      e.code =
          static_cast<ErrorCode>(error->value("code", static_cast<int>(ErrorCode::kInternalError)));
      e.message = error->value("message", std::string());
      handler(e);
    } else {
      handler(message["result"]);
    }
  } catch (const std::exception& e) {
    spdlog::error("jsonrpc: handling the response to {} failed: {}", id.dump(), e.what());
  }
}

bool Endpoint::cancel(const json& id, CancelReason reason) {
  std::shared_ptr<RequestContext::State> state;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = in_flight_.find(id.dump());
    if (it == in_flight_.end()) return false;
    state = it->second;
  }
  state->source.cancel(reason);
  RequestContext(state).reply(error_for(reason));
  return true;
}

void Endpoint::cancel_all(CancelReason reason) {
  std::vector<std::shared_ptr<RequestContext::State>> states;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : in_flight_) states.push_back(entry.second);
  }
  for (const auto& state : states) {
    state->source.cancel(reason);
    RequestContext(state).reply(error_for(reason));
  }
}

void Endpoint::bind_to_document(const RequestContext& context, const std::string& uri,
                                const std::string& kind) {
  std::vector<std::shared_ptr<RequestContext::State>> superseded;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    context.state_->document = uri;
    context.state_->kind = kind;
    for (const auto& entry : in_flight_) {
      const auto& other = entry.second;
      if (other != context.state_ && other->document == uri && other->kind == kind)
        superseded.push_back(other);
    }
  }
  for (const auto& state : superseded) {
    state->source.cancel(CancelReason::kSuperseded);
    RequestContext(state).reply(error_for(CancelReason::kSuperseded));
  }
}

void Endpoint::invalidate_document(const std::string& uri) {
  std::vector<std::shared_ptr<RequestContext::State>> stale;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : in_flight_)
      if (entry.second->document == uri) stale.push_back(entry.second);
  }
  for (const auto& state : stale) {
    state->source.cancel(CancelReason::kContentModified);
    RequestContext(state).reply(error_for(CancelReason::kContentModified));
  }
}

void Endpoint::finish(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_.erase(key);
}

std::size_t Endpoint::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_flight_.size();
}

}  // namespace mnemo::lsp
