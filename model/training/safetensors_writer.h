// Writes tensors as a safetensors file (the format model/safetensors_reader.h reads and
// Hugging Face loads): an 8-byte little-endian header length, a JSON header (each tensor's
// dtype, shape and byte range, and string metadata under "__metadata__"), then the data.
// The file appears whole or not at all: it is written beside the target, flushed to disk
// and renamed over it, so a crash mid-write leaves the previous file as it was.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

namespace mnemo::model::training {

/// float32, bfloat16, float16 and int64 tensors (any device, any layout: copied). An error
/// message when the file cannot be written.
std::optional<std::string> write_safetensors(const std::string& path,
                                             const std::map<std::string, at::Tensor>& tensors,
                                             const std::map<std::string, std::string>& metadata);

/// Every tensor of a safetensors file as a CPU tensor (copied out of the mapping), with
/// its metadata; an error message when it cannot be read.
struct LoadedTensors {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};
std::optional<std::string> read_safetensors(const std::string& path, LoadedTensors& out);

}  // namespace mnemo::model::training
