// A bounds-checked reader over a byte range, for the parsers of on-disk formats (GGUF, memory
// segments): every read first checks that its bytes are there, so a truncated or corrupted
// file becomes a Failure exception that the parser turns into an error naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace mnemo::model {

/// `Failure` is the parser's exception type, constructible from a message.
template <class Failure>
class ByteCursor {
 public:
  ByteCursor(const std::uint8_t* begin, std::size_t size) : base_(begin), size_(size) {}

  /// Throws Failure unless `n` more bytes are there.
  void need(std::uint64_t n, const char* what) const {
    if (n > size_ - pos_) {
      throw Failure(std::string("truncated: ") + what + " at byte " + std::to_string(pos_) +
                    " needs " + std::to_string(n) + " bytes, past the end");
    }
  }

  /// A little-endian scalar (the formats' byte order, and this machine's).
  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  /// `n` raw bytes.
  std::string read_bytes(std::uint64_t n, const char* what) {
    need(n, what);
    std::string s(reinterpret_cast<const char*>(base_ + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }

  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return size_ - pos_; }
  std::size_t size() const { return size_; }
  const std::uint8_t* base() const { return base_; }

 private:
  const std::uint8_t* base_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace mnemo::model
