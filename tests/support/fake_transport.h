// In-memory Transport for protocol tests: the test plays the client by injecting message
// bodies and reads back what the server sent, waiting (with a deadlock guard, not a
// timing assertion) for replies produced on worker threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lsp/transport.h"

namespace mnemo::testing {

class FakeTransport : public lsp::Transport {
 public:
  using json = nlohmann::json;

  void start(Callbacks callbacks) override { callbacks_ = std::move(callbacks); }
  void send(std::string body) override {
    std::lock_guard<std::mutex> lock(mutex_);
    sent_.push_back(json::parse(body));
    changed_.notify_all();
  }
  void close() override {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }

  /// Delivers one message to the server, as the transport thread would.
  void receive(const json& message) { callbacks_.on_message(message.dump()); }
  void receive_raw(std::string body) { callbacks_.on_message(std::move(body)); }
  void end_of_input() { callbacks_.on_closed(); }

  /// Everything sent so far, removing it from the queue.
  std::vector<json> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    auto out = std::move(sent_);
    sent_.clear();
    return out;
  }

  /// Waits for the response to request `id` and removes it from the queue; null JSON if
  /// none arrives within the guard time.
  json response(const json& id, std::chrono::seconds guard = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mutex_);
    json found;
    changed_.wait_for(lock, guard, [&] {
      for (auto it = sent_.begin(); it != sent_.end(); ++it) {
        if (!it->contains("method") && it->contains("id") && (*it)["id"] == id) {
          found = *it;
          sent_.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }

  /// Waits for the first server-to-client message with `method`; removes it.
  json message(const std::string& method, std::chrono::seconds guard = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock(mutex_);
    json found;
    changed_.wait_for(lock, guard, [&] {
      for (auto it = sent_.begin(); it != sent_.end(); ++it) {
        if (it->value("method", "") == method) {
          found = *it;
          sent_.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }

  bool closed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

 private:
  Callbacks callbacks_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json> sent_;
  bool closed_ = false;
};

}  // namespace mnemo::testing
