// Cooperative cancellation shared by the protocol layer and long-running engine work.
//
// A request's CancellationSource stays with the dispatcher; the engine receives a
// CancellationToken and polls it between steps (decode steps, indexing batches). Nothing
// is interrupted preemptively: work that never polls simply finishes and its result is
// dropped.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace mnemo::lsp {

/// Why a piece of work was asked to stop; the protocol layer maps it to an error code.
enum class CancelReason : int {
  kNone = 0,
  kCancelRequest,    ///< the client sent $/cancelRequest (-32800 RequestCancelled)
  kSuperseded,       ///< a newer request of the same kind replaced it (-32800)
  kContentModified,  ///< the document changed under it (-32801 ContentModified)
  kShutdown,         ///< the session is ending
};

/// Read side. Cheap to copy; thread-safe. A default-constructed token is never cancelled.
class CancellationToken {
 public:
  CancellationToken() = default;

  bool cancelled() const { return state_ && state_->load(std::memory_order_acquire) != 0; }
  CancelReason reason() const {
    return state_ ? static_cast<CancelReason>(state_->load(std::memory_order_acquire))
                  : CancelReason::kNone;
  }

  /// Waits `duration`, polling every 2 ms; returns false as soon as the token is cancelled
  /// (a debounce, or a test's stand-in for slow work).
  bool wait_for(std::chrono::milliseconds duration) const {
    const auto until = std::chrono::steady_clock::now() + duration;
    for (auto now = std::chrono::steady_clock::now(); now < until;
         now = std::chrono::steady_clock::now()) {
      if (cancelled()) return false;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(2), until - now));
    }
    return !cancelled();
  }

 private:
  friend class CancellationSource;
  explicit CancellationToken(std::shared_ptr<std::atomic<int>> state) : state_(std::move(state)) {}
  std::shared_ptr<std::atomic<int>> state_;
};

/// Write side. Thread-safe; copies share one state; the first cancel() wins and later
/// reasons are ignored.
class CancellationSource {
 public:
  CancellationSource() : state_(std::make_shared<std::atomic<int>>(0)) {}

  /// Returns true if this call cancelled the work (false if it was already cancelled).
  bool cancel(CancelReason reason) const {
    int expected = 0;
    return state_->compare_exchange_strong(expected, static_cast<int>(reason),
                                           std::memory_order_acq_rel);
  }
  CancellationToken token() const { return CancellationToken(state_); }

 private:
  std::shared_ptr<std::atomic<int>> state_;
};

}  // namespace mnemo::lsp
