// Dequantization of GGUF tensor data to float32, block by block as ggml defines the formats
// (ggml-quants.c, dequantize_row_*), in the same multiply order so that results match
// ggml's bit for bit. The reference every faster kernel is tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "model/gguf_reader.h"

namespace mnemo::model {

float fp16_to_fp32(std::uint16_t h);
float bf16_to_fp32(std::uint16_t h);

struct DequantizeError {
  std::string message;
};

/// Writes `n` floats to `dst` from `src` holding data of GGUF type `type`. `n` must be a
/// multiple of the type's block size; `src` must hold n / block_elements blocks.
Result<bool, DequantizeError> dequantize(std::uint32_t type, const std::uint8_t* src, float* dst,
                                         std::size_t n);

}  // namespace mnemo::model
