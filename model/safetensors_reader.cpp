#include "model/safetensors_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

namespace mnemo::model {
namespace {

std::size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2")
    return 1;
  return 0;
}

}  // namespace

Result<std::shared_ptr<SafetensorsFile>, SafetensorsError> SafetensorsFile::open(
    const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SafetensorsError{path + ": cannot open: " + std::strerror(errno)};
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return SafetensorsError{path + ": not a regular file"};
  }
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->size_ = static_cast<std::size_t>(info.st_size);
  if (file->size_ < 8) {
    ::close(fd);
    return SafetensorsError{path + ": truncated: shorter than the 8-byte header length"};
  }
  void* mapped = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) return SafetensorsError{path + ": cannot map: " + std::strerror(errno)};
  file->base_ = static_cast<const std::uint8_t*>(mapped);

  std::uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, file->base_, 8);
  if (header_bytes > file->size_ - 8)
    return SafetensorsError{path + ": header of " + std::to_string(header_bytes) +
                            " bytes extends past the end of the file"};
  const std::size_t data_start = 8 + static_cast<std::size_t>(header_bytes);
  const std::size_t data_size = file->size_ - data_start;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file->base_ + 8, file->base_ + data_start);
  } catch (const nlohmann::json::exception& e) {
    return SafetensorsError{path + ": header is not valid JSON: " + e.what()};
  }
  if (!header.is_object()) return SafetensorsError{path + ": header is not a JSON object"};
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_object())
        for (const auto& [key, value] : entry.items())
          if (value.is_string()) file->metadata_[key] = value.get<std::string>();
      continue;
    }
    const auto bad = [&](const std::string& what) {
      return SafetensorsError{path + ": tensor '" + name + "': " + what};
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry["dtype"].is_string() ||
        !entry.contains("shape") || !entry["shape"].is_array() || !entry.contains("data_offsets") ||
        !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
      return bad("needs dtype, shape and data_offsets [begin, end]");
    SafetensorsTensor tensor;
    tensor.dtype = entry["dtype"].get<std::string>();
    const std::size_t element_bytes = dtype_bytes(tensor.dtype);
    if (element_bytes == 0) return bad("unknown dtype " + tensor.dtype);
    std::uint64_t n_elements = 1;
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_unsigned()) return bad("shape must hold non-negative integers");
      const auto d = dim.get<std::uint64_t>();
      if (d != 0 && n_elements > (std::uint64_t{1} << 48) / d) return bad("absurd shape");
      n_elements *= d;
      tensor.shape.push_back(d);
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      return bad("data_offsets must be non-negative integers");
    const auto begin = offsets[0].get<std::uint64_t>();
    const auto end = offsets[1].get<std::uint64_t>();
    if (begin > end || end > data_size) return bad("data extends past the end of the file");
    if (end - begin != n_elements * element_bytes)
      return bad("holds " + std::to_string(end - begin) + " bytes but its shape needs " +
                 std::to_string(n_elements * element_bytes));
    tensor.data = file->base_ + data_start + begin;
    tensor.n_bytes = static_cast<std::size_t>(end - begin);
    file->tensors_.emplace(name, std::move(tensor));
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (base_) ::munmap(const_cast<std::uint8_t*>(base_), size_);
}

}  // namespace mnemo::model
