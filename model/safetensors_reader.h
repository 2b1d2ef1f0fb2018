// Reads a safetensors file (8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw data) through a read-only mmap. Every
// range is checked against the file; errors name the file. Data is not copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/result.h"

namespace mnemo::model {

struct SafetensorsTensor {
  std::string dtype;                 ///< "F32", "F16", "BF16", ...
  std::vector<std::uint64_t> shape;  ///< row-major, slowest first (PyTorch order)
  const std::uint8_t* data = nullptr;
  std::size_t n_bytes = 0;
};

struct SafetensorsError {
  std::string message;  ///< starts with the file path
};

/// Immutable after open(); thread-safe for readers.
class SafetensorsFile {
 public:
  static Result<std::shared_ptr<SafetensorsFile>, SafetensorsError> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  const std::uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  std::map<std::string, SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace mnemo::model
