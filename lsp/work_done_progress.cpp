#include "lsp/work_done_progress.h"

#include <spdlog/spdlog.h>

#include "lsp/json_rpc.h"

namespace mnemo::lsp {

std::shared_ptr<WorkDoneProgress> WorkDoneProgress::create(
    std::shared_ptr<Endpoint> endpoint, bool client_supports_progress, std::string token,
    std::optional<CancellationSource> on_client_cancel) {
  auto progress = std::shared_ptr<WorkDoneProgress>(
      new WorkDoneProgress(endpoint, std::move(token), std::move(on_client_cancel)));
  if (!client_supports_progress || !endpoint) {
    progress->state_ = State::kDisabled;
    return progress;
  }
  // The reply handler owns the progress: work that ends before the client answers has
  // queued begin/end, which must still be sent once the token exists.
  endpoint->call("window/workDoneProgress/create", {{"token", progress->token_}},
                 [self = progress](RpcResult<json> result) {
                   std::lock_guard<std::mutex> lock(self->mutex_);
                   if (!result) {
                     spdlog::warn("progress {}: client refused the token: {}", self->token_,
                                  result.error().message);
                     self->state_ = State::kDisabled;
                     self->queued_.clear();
                     return;
                   }
                   self->state_ = State::kReady;
                   auto queued = std::move(self->queued_);
                   self->queued_.clear();
                   for (auto& value : queued) self->emit(std::move(value));
                 });
  return progress;
}

WorkDoneProgress::WorkDoneProgress(std::shared_ptr<Endpoint> endpoint, std::string token,
                                   std::optional<CancellationSource> on_client_cancel)
    : endpoint_(endpoint),
      token_(std::move(token)),
      on_client_cancel_(std::move(on_client_cancel)) {}

void WorkDoneProgress::emit(json value) {
  if (state_ == State::kCreating) {
    queued_.push_back(std::move(value));
    return;
  }
  if (state_ != State::kReady) return;
  if (auto endpoint = endpoint_.lock())
    endpoint->notify("$/progress", {{"token", token_}, {"value", std::move(value)}});
}

void WorkDoneProgress::begin(const std::string& title, const std::string& message,
                             std::optional<unsigned> percentage) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (begun_ || ended_ || state_ == State::kDisabled) return;
  begun_ = true;
  json value = {
      {"kind", "begin"}, {"title", title}, {"cancellable", on_client_cancel_.has_value()}};
  if (!message.empty()) value["message"] = message;
  if (percentage) value["percentage"] = std::min(*percentage, 100u);
  last_percentage_ = percentage;
  last_report_ = std::chrono::steady_clock::now();
  emit(std::move(value));
}

void WorkDoneProgress::report(const std::string& message, std::optional<unsigned> percentage) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!begun_ || ended_ || state_ == State::kDisabled) return;
  const auto now = std::chrono::steady_clock::now();
  const bool big_step = percentage && (!last_percentage_ || *percentage >= *last_percentage_ + 10);
  if (!big_step && now - last_report_ < std::chrono::milliseconds(50)) return;
  last_report_ = now;
  if (percentage) last_percentage_ = std::min(*percentage, 100u);
  json value = {{"kind", "report"}};
  if (!message.empty()) value["message"] = message;
  if (percentage) value["percentage"] = *last_percentage_;
  emit(std::move(value));
}

void WorkDoneProgress::end(const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!begun_ || ended_ || state_ == State::kDisabled) return;
  json value = {{"kind", "end"}};
  if (!message.empty()) value["message"] = message;
  ended_ = true;
  emit(std::move(value));
}

}  // namespace mnemo::lsp
