// Server-initiated progress (LSP "WorkDoneProgress"): creates a token with
// window/workDoneProgress/create and reports begin/report/end through $/progress. This is
// the API long-running work (workspace indexing) uses to show a progress bar in the editor.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lsp/cancellation.h"

namespace mnemo::lsp {

class Endpoint;

/// Thread-safety: all methods may be called from any thread. Calls made before the client
/// acknowledged the token are queued and sent once it does (the spec forbids using a token
/// before the create request succeeded); if the client refuses, or never declared
/// window.workDoneProgress support, every call is a no-op.
class WorkDoneProgress : public std::enable_shared_from_this<WorkDoneProgress> {
 public:
  /// Sends window/workDoneProgress/create when `client_supports_progress`. With
  /// `on_client_cancel`, the bar shows a cancel button, and pressing it (the client's
  /// window/workDoneProgress/cancel) cancels that source.
  static std::shared_ptr<WorkDoneProgress> create(
      std::shared_ptr<Endpoint> endpoint, bool client_supports_progress, std::string token,
      std::optional<CancellationSource> on_client_cancel);

  void begin(const std::string& title, const std::string& message,
             std::optional<unsigned> percentage = std::nullopt);
  /// Reports are rate-limited (at most one per 50 ms) except when the percentage changes
  /// by whole steps of 10 or more, so tight loops can call this freely.
  void report(const std::string& message, std::optional<unsigned> percentage = std::nullopt);
  void end(const std::string& message);

  const std::string& token() const { return token_; }
  void cancel_from_client() {
    if (on_client_cancel_) on_client_cancel_->cancel(CancelReason::kCancelRequest);
  }

 private:
  enum class State { kCreating, kReady, kDisabled };
  WorkDoneProgress(std::shared_ptr<Endpoint> endpoint, std::string token,
                   std::optional<CancellationSource> on_client_cancel);
  void emit(nlohmann::json value);  // requires mutex_ held

  std::weak_ptr<Endpoint> endpoint_;
  const std::string token_;
  const std::optional<CancellationSource> on_client_cancel_;

  std::mutex mutex_;
  State state_ = State::kCreating;                       // guarded by mutex_
  std::vector<nlohmann::json> queued_;                   // guarded by mutex_
  std::chrono::steady_clock::time_point last_report_{};  // guarded by mutex_
  std::optional<unsigned> last_percentage_;              // guarded by mutex_
  bool begun_ = false;                                   // guarded by mutex_
  bool ended_ = false;                                   // guarded by mutex_
};

}  // namespace mnemo::lsp
