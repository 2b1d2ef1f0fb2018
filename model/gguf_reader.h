// Reads GGUF v2/v3 files (the llama.cpp checkpoint format) through a read-only mmap.
// Every count, length, offset and tensor extent is checked against the file size before
// it is used, so a truncated or corrupted file yields an error naming the file and the
// problem, never an out-of-bounds read. Tensor data is not copied: tensors point into the
// mapping, which lives as long as the GgufFile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "model/result.h"

namespace mnemo::model {

enum class GgufType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

/// Elements per block and bytes per block of a tensor type; nullopt for unknown types.
struct GgufTypeTraits {
  const char* name;
  std::size_t block_elements;
  std::size_t block_bytes;
};
std::optional<GgufTypeTraits> gguf_type_traits(std::uint32_t type);

/// One metadata value. Arrays hold their elements converted to these alternatives.
struct GgufValue;
using GgufArray = std::vector<GgufValue>;
struct GgufValue {
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, GgufArray> value;
};

struct GgufTensor {
  std::string name;
  std::vector<std::uint64_t> shape;  ///< GGUF order: shape[0] (ne0) varies fastest
  std::uint32_t type = 0;
  std::uint64_t n_elements = 0;
  const std::uint8_t* data = nullptr;  ///< into the mapping
  std::size_t n_bytes = 0;
};

struct GgufError {
  std::string message;  ///< starts with the file path
};

/// Immutable after open(); thread-safe for readers.
class GgufFile {
 public:
  static Result<std::shared_ptr<GgufFile>, GgufError> open(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint32_t version() const { return version_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufValue* find(const std::string& key) const;
  const GgufTensor* tensor(const std::string& name) const;

 private:
  GgufFile() = default;
  std::string path_;
  std::uint32_t version_ = 0;
  const std::uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
  friend class GgufParser;
};

}  // namespace mnemo::model
