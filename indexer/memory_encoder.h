// A file's tokens through the model, keeping what the long-term memory stores of them (issue
// 5, item 3): the keys (before RoPE) and values of the memory layers, ready for
// ExactTier::add_file.
//
// A file is read in windows of `window` tokens, each a context of its own (a token sees the
// tokens before it in its window, at most window - 1 of them), and each window in chunks of
// `chunk` tokens through one KV cache, so that memory stays bounded by the window while the
// matrix products stay large enough to be efficient.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/token.h"
#include "model/tokenizer/tokenizer.h"
#include "model/transformer.h"

namespace mnemo::indexer {

struct FileMemory {
  std::int64_t tokens = 0;
  at::Tensor keys, values;  ///< [L, Hkv, tokens, D] float32, L = the memory layers
  at::Tensor inputs;        ///< [L, tokens, E] float32: the layers' normed inputs
  /// With final states (MemoryEncoder's): [tokens, E] float32 the final normed state of
  /// each token, and [tokens] int32 the token after it (-1 after the last); else undefined.
  at::Tensor states, next;
  /// Tokens the model read to make this: all of them, or for reencode_tokens those from
  /// the first window it could not copy.
  std::int64_t tokens_read = 0;
};

class MemoryEncoder {
 public:
  /// `memory_layers`: the model's layers whose keys and values the memory keeps;
  /// `final_states`: keep each token's final state too (the memory's next-token read), at
  /// the cost of running every layer.
  MemoryEncoder(std::shared_ptr<const model::Transformer> transformer,
                std::shared_ptr<const model::Tokenizer> tokenizer,
                std::vector<std::size_t> memory_layers, std::size_t window = 1024,
                std::size_t chunk = 256, bool final_states = false);

  /// Tokenizes `contents` (no special tokens: a file is plain text to the model).
  FileMemory encode(std::string_view contents) const;
  /// The same for tokens already made.
  FileMemory encode_tokens(const model::Tokens& tokens) const;
  /// encode_tokens(tokens) for a text that was `before` (encoded as `previous`) and was
  /// edited: windows are contexts of their own, so the windows before the first token that
  /// differs are copied from `previous` and only the rest are read again. Equal to
  /// encode_tokens(tokens), at the cost of the windows from the edit on.
  FileMemory reencode_tokens(const model::Tokens& tokens, const model::Tokens& before,
                             const FileMemory& previous) const;
  model::Tokens tokenize(std::string_view contents) const;

  const std::vector<std::size_t>& memory_layers() const { return layers_; }
  std::size_t window() const { return window_; }
  bool final_states() const { return final_states_; }

 private:
  std::shared_ptr<const model::Transformer> transformer_;
  std::shared_ptr<const model::Tokenizer> tokenizer_;
  std::vector<std::size_t> layers_;
  std::size_t window_, chunk_;
  bool final_states_;
};

}  // namespace mnemo::indexer
