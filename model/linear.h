// A linear layer y = x·Wᵀ (+ b) whose weight is float32 (any device) or kept in its GGUF
// block format (CPU), possibly made of several row blocks of different formats (a fused
// q|k|v whose v is quantized differently, as llama-quantize's fallbacks produce).
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "model/quantized_matrix.h"

namespace mnemo::model {

/// One row block of a weight: float32 [rows, cols], or quantized.
struct LinearPart {
  at::Tensor weight;
  QuantizedMatrix quantized;
  bool is_quantized() const { return !weight.defined(); }
  std::int64_t rows() const { return is_quantized() ? quantized.rows() : weight.size(0); }
};

/// Immutable after construction; forward() may run concurrently.
class Linear {
 public:
  Linear() = default;
  /// Adjacent float parts are fused into one matrix, and adjacent quantized parts of one
  /// type into one QuantizedMatrix, so a fused q|k|v is one matmul when it can be.
  Linear(std::vector<LinearPart> parts, at::Tensor bias);

  /// x: [T, cols] → [T, rows].
  at::Tensor forward(const at::Tensor& x) const;
  /// One row x [1, cols] into out [1, rows] (contiguous), allocating no tensor storage.
  void forward_into(const at::Tensor& x, at::Tensor& out) const;
  /// residual + x·Wᵀ (+ b), fused into one matmul where the weight is float.
  at::Tensor forward_add(const at::Tensor& x, const at::Tensor& residual) const;
  std::int64_t rows() const;

 private:
  std::vector<LinearPart> parts_;
  at::Tensor bias_;  // [rows] or undefined
};

}  // namespace mnemo::model
