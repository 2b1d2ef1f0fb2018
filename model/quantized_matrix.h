// A GGUF weight matrix kept in its block format, multiplied the way llama.cpp's CPU backend
// does it: the activations are quantized to the weight type's `vec_dot_type` (Q8_0 for
// Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for Q4_K/Q5_K/Q6_K, F16/BF16 for F16/BF16
// weights) and every output is ggml's integer block dot product of two rows. Multiplying
// dequantized float weights by float activations instead differs from llama.cpp by about
// 2% of the logits, enough to flip greedy decoding at a near-tie. The result equals ggml's
// up to the order of the float additions; every integer sum is exact.
//
// The activation quantizers follow what llama.cpp's x86 build runs (ggml-cpu/arch/x86/
// quants.c: quantize_row_q8_0 / q8_1 with AVX or AVX2, quantize_row_q8_K = the reference
// quantize_row_q8_K_ref); the dot products follow ggml-cpu/quants.c ggml_vec_dot_*_generic.
// dequantize() (model/dequantize.h) stays the reference the tests compare against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/language_model.h"
#include "model/result.h"

namespace mnemo::model {

/// Rounds to the nearest fp16 / bf16, ties to even, as ggml converts activations
/// (GGML_CPU_FP32_TO_FP16 / ggml_compute_fp32_to_bf16), and returns the bits.
std::uint16_t fp32_to_fp16(float f);
std::uint16_t fp32_to_bf16(float f);

/// A [rows, cols] weight matrix of GGUF type F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
/// Q4_K, Q5_K or Q6_K. Owns a copy of the blocks. Immutable after creation: concurrent
/// matmul calls are safe.
class QuantizedMatrix {
 public:
  QuantizedMatrix() = default;

  /// `data` holds rows * cols / block_elements blocks of `type`, row-major (each row is
  /// cols / block_elements consecutive blocks: GGUF's layout with ne = [cols, rows]).
  /// Errors: unsupported type, cols not a multiple of the block size, negative sizes,
  /// n_bytes different from what rows x cols needs.
  static Result<QuantizedMatrix, ModelError> create(std::uint32_t type, std::int64_t rows,
                                                    std::int64_t cols, const std::uint8_t* data,
                                                    std::size_t n_bytes);

  /// Rows in a new order: row i of the result is row order[i] of this matrix (undoes
  /// convert_hf_to_gguf's q/k permutation, selects or repeats rows). Throws c10::Error on
  /// an index outside [0, rows).
  QuantizedMatrix gather_rows(const std::vector<std::int64_t>& order) const;

  /// The parts stacked vertically (q | k | v fused). Errors: no parts, a null part, or parts
  /// of different type or cols.
  static Result<QuantizedMatrix, ModelError> concat_rows(
      const std::vector<const QuantizedMatrix*>& parts);

  std::uint32_t type() const { return type_; }
  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::size_t n_bytes() const { return data_.size(); }
  std::size_t row_bytes() const { return row_bytes_; }
  /// The raw blocks of row r (row_bytes() bytes).
  const std::uint8_t* row_data(std::int64_t r) const {
    return data_.data() + static_cast<std::size_t>(r) * row_bytes_;
  }

  /// y = x · Wᵀ. x: [..., cols] float32 on the CPU (made contiguous if it is not). Returns
  /// [..., rows] float32. Each row of x is quantized to the vec_dot_type as ggml does, then
  /// each output is ggml's vec_dot of the two rows. Parallel over output rows
  /// (at::parallel_for); the only allocation besides the result is the quantized x.
  /// Throws c10::Error on a wrong dtype, device or last dimension.
  at::Tensor matmul(const at::Tensor& x) const;
  /// The same into `y` ([..., rows] float32, contiguous). The quantized activations live in
  /// a per-thread buffer that grows once, so decoding allocates nothing here.
  void matmul_into(const at::Tensor& x, at::Tensor& y) const;

 private:
  std::uint32_t type_ = 0;
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::size_t row_bytes_ = 0;
  std::vector<std::uint8_t> data_;
};

}  // namespace mnemo::model
