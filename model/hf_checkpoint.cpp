// Checkpoint over a Hugging Face folder: config.json plus model.safetensors, or the sharded
// form whose model.safetensors.index.json maps each tensor to its shard.
#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "model/checkpoint_formats.h"
#include "model/dequantize.h"
#include "model/safetensors_reader.h"

namespace mnemo::model {
namespace {

namespace fs = std::filesystem;

class HfCheckpoint final : public Checkpoint {
 public:
  HfCheckpoint(std::string folder, ModelConfig config,
               std::vector<std::shared_ptr<SafetensorsFile>> shards,
               std::map<std::string, std::pair<const SafetensorsFile*, std::string>> index)
      : folder_(std::move(folder)),
        config_(std::move(config)),
        shards_(std::move(shards)),
        index_(std::move(index)) {}

  const std::string& path() const override { return folder_; }
  const ModelConfig& config() const override { return config_; }
  TokenizerSource tokenizer_source() const override {
    return {nullptr, (fs::path(folder_) / "tokenizer.json").string()};
  }

  bool has(const std::string& hf_name) const override { return index_.count(hf_name) != 0; }

  Result<at::Tensor, ModelError> weight(const std::string& hf_name) const override {
    const auto it = index_.find(hf_name);
    if (it == index_.end()) return ModelError{folder_ + ": no tensor '" + hf_name + "'"};
    const auto& [file, shard_name] = it->second;
    const SafetensorsTensor& t = file->tensors().at(hf_name);
    std::vector<std::int64_t> shape(t.shape.begin(), t.shape.end());
    at::Tensor out = at::empty(shape, at::kFloat);
    float* dst = out.data_ptr<float>();
    const std::size_t n = static_cast<std::size_t>(out.numel());
    const std::size_t width = t.dtype == "F32"                          ? 4
                              : (t.dtype == "F16" || t.dtype == "BF16") ? 2
                                                                        : 0;
    if (width == 0) {
      return ModelError{shard_name + ": tensor '" + hf_name + "' has unsupported dtype " + t.dtype};
    }
    if (t.n_bytes != n * width) {
      return ModelError{shard_name + ": tensor '" + hf_name + "' size does not match its shape"};
    }
    if (width == 4) {
      std::memcpy(dst, t.data, t.n_bytes);  // the data may not be 4-byte aligned
    } else {
      const auto convert = t.dtype == "F16" ? fp16_to_fp32 : bf16_to_fp32;
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        dst[i] = convert(h);
      }
    }
    return out;
  }

 private:
  std::string folder_;
  ModelConfig config_;
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  /// tensor name → (its shard, the shard's path for messages)
  std::map<std::string, std::pair<const SafetensorsFile*, std::string>> index_;
};

/// The shard files of the folder: model.safetensors, or those the index names.
Result<std::vector<std::string>, ModelError> shard_names(const fs::path& folder) {
  const fs::path single = folder / "model.safetensors";
  const fs::path index = folder / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index);
    const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      return ModelError{index.string() + ": not a safetensors index (no weight_map object)"};
    }
    std::vector<std::string> names;
    for (const auto& [tensor, file] : j["weight_map"].items()) {
      if (!file.is_string()) {
        return ModelError{index.string() + ": weight_map entry '" + tensor +
                          "' is not a file name"};
      }
      const std::string name = file.get<std::string>();
      if (name.find('/') != std::string::npos || name == ".." || name.empty()) {
        return ModelError{index.string() + ": shard name '" + name + "' leaves the folder"};
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return names;
  }
  if (fs::exists(single)) return std::vector<std::string>{"model.safetensors"};
  return ModelError{folder.string() +
                    ": neither model.safetensors nor model.safetensors.index.json"};
}

}  // namespace

Result<std::unique_ptr<Checkpoint>, ModelError> open_hf_checkpoint(const std::string& folder) {
  const fs::path dir(folder);
  auto config = config_from_hf_json((dir / "config.json").string());
  if (!config) return config.error();
  auto names = shard_names(dir);
  if (!names) return names.error();

  std::vector<std::shared_ptr<SafetensorsFile>> shards;
  std::map<std::string, std::pair<const SafetensorsFile*, std::string>> index;
  for (const std::string& name : names.value()) {
    const std::string shard_path = (dir / name).string();
    auto shard = SafetensorsFile::open(shard_path);
    if (!shard) return ModelError{shard.error().message};
    for (const auto& entry : shard.value()->tensors()) {
      index[entry.first] = {shard.value().get(), shard_path};
    }
    shards.push_back(std::move(shard).value());
  }
  for (std::size_t i = 0; i < config.value().n_layer; ++i) {
    for (const char* part : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                             "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      const std::string name = "model.layers." + std::to_string(i) + "." + part + ".weight";
      if (index.count(name) == 0) return ModelError{folder + ": missing tensor '" + name + "'"};
    }
  }
  return std::unique_ptr<Checkpoint>(
      new HfCheckpoint(folder, std::move(config).value(), std::move(shards), std::move(index)));
}

Result<std::unique_ptr<Checkpoint>, ModelError> Checkpoint::open(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return open_hf_checkpoint(path);
  if (!fs::exists(path, ec)) return ModelError{path + ": no such file or folder"};
  return open_gguf_checkpoint(path);
}

}  // namespace mnemo::model
