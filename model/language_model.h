// A causal language model as decoding sees it: a session holds one token sequence and its
// KV cache; appending tokens returns the next-token logits. Free of LibTorch so that
// decoding and its tests compile without it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "model/result.h"
#include "model/token.h"

namespace mnemo::model {

struct ModelError {
  enum class Kind {
    kFailed,     ///< bad input, a broken checkpoint, a failed forward pass
    kCancelled,  ///< the caller's CancelCheck stopped the work
  };
  std::string message;
  Kind kind = Kind::kFailed;
};

/// Polled between decoding steps; true stops the work with a "cancelled" error.
using CancelCheck = std::function<bool()>;

/// Next-token logits of one position: n_vocab floats, valid until the session's next call.
struct LogitsView {
  const float* data = nullptr;
  std::size_t size = 0;
  float operator[](std::size_t i) const { return data[i]; }
};

class ModelSession {
 public:
  virtual ~ModelSession() = default;

  /// The tokens whose keys and values are cached, in order.
  virtual const Tokens& tokens() const = 0;

  /// Appends `tokens` (at least one) in one batched forward and returns the logits after
  /// the last of them.
  virtual Result<LogitsView, ModelError> append(const Tokens& tokens) = 0;

  /// Makes the sequence equal to `tokens` (non-empty), keeping the cache of the longest
  /// prefix it shares with the current sequence, and returns the logits after the last
  /// token. A prompt that only grew by a keystroke costs only the new tokens.
  virtual Result<LogitsView, ModelError> reset_to(const Tokens& tokens) = 0;

  /// Drops everything from position `n` on.
  virtual void truncate(std::size_t n) = 0;

  /// An independent copy (cache included), for beam search.
  virtual std::unique_ptr<ModelSession> fork() const = 0;

  virtual std::size_t n_vocab() const = 0;
  /// The most positions a sequence may hold.
  virtual std::size_t max_tokens() const = 0;
};

}  // namespace mnemo::model
