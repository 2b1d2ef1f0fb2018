#include "model/training/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "model/safetensors_reader.h"

namespace mnemo::model::training {
namespace {

const char* dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return "F32";
    case at::kBFloat16:
      return "BF16";
    case at::kHalf:
      return "F16";
    case at::kLong:
      return "I64";
    default:
      return nullptr;
  }
}

std::optional<at::ScalarType> dtype_of(const std::string& name) {
  if (name == "F32") return at::kFloat;
  if (name == "BF16") return at::kBFloat16;
  if (name == "F16") return at::kHalf;
  if (name == "I64") return at::kLong;
  return std::nullopt;
}

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* bytes = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t written = ::write(fd, bytes, n);
    if (written < 0) return false;
    bytes += written;
    n -= static_cast<std::size_t>(written);
  }
  return true;
}

}  // namespace

std::optional<std::string> write_safetensors(const std::string& path,
                                             const std::map<std::string, at::Tensor>& tensors,
                                             const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const char* dtype = dtype_name(tensor.scalar_type());
    if (dtype == nullptr) return path + ": " + name + " has a dtype safetensors is not written in";
    const at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
    const std::uint64_t bytes = static_cast<std::uint64_t>(cpu.numel()) * cpu.element_size();
    header[name] = {
        {"dtype", dtype}, {"shape", cpu.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(cpu);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const std::string temporary = path + ".partial";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return temporary + ": " + std::strerror(errno);
  std::uint64_t length = text.size();
  unsigned char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(length >> (8 * i));
  bool ok = write_all(fd, le, 8) && write_all(fd, text.data(), text.size());
  for (const at::Tensor& t : data) {
    if (!ok) break;
    ok = write_all(fd, t.data_ptr(), static_cast<std::size_t>(t.numel()) * t.element_size());
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    std::remove(temporary.c_str());
    return temporary + ": " + std::strerror(saved_errno);
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) return path + ": " + error.message();
  return std::nullopt;
}

std::optional<std::string> read_safetensors(const std::string& path, LoadedTensors& out) {
  auto file = SafetensorsFile::open(path);
  if (!file) return file.error().message;
  out = LoadedTensors();
  out.metadata = file.value()->metadata();
  for (const auto& [name, t] : file.value()->tensors()) {
    const auto dtype = dtype_of(t.dtype);
    if (!dtype) return path + ": " + name + " is " + t.dtype + ", not a dtype mnemo writes";
    std::vector<std::int64_t> shape(t.shape.begin(), t.shape.end());
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(*dtype));
    if (static_cast<std::size_t>(tensor.numel()) * tensor.element_size() != t.n_bytes)
      return path + ": " + name + " has " + std::to_string(t.n_bytes) + " bytes for its shape";
    std::memcpy(tensor.data_ptr(), t.data, t.n_bytes);
    out.tensors.emplace(name, tensor);
  }
  return std::nullopt;
}

}  // namespace mnemo::model::training
