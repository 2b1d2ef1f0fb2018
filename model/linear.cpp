#include "model/linear.h"

#include <ATen/ATen.h>

namespace mnemo::model {

Linear::Linear(std::vector<LinearPart> parts, at::Tensor bias) : bias_(std::move(bias)) {
  for (LinearPart& part : parts) {
    if (!parts_.empty()) {
      LinearPart& last = parts_.back();
      if (!last.is_quantized() && !part.is_quantized()) {
        last.weight = at::cat({last.weight, part.weight});
        continue;
      }
      if (last.is_quantized() && part.is_quantized() &&
          last.quantized.type() == part.quantized.type()) {
        auto fused = QuantizedMatrix::concat_rows({&last.quantized, &part.quantized});
        if (fused) {
          last.quantized = std::move(fused).value();
          continue;
        }
      }
    }
    parts_.push_back(std::move(part));
  }
}

std::int64_t Linear::rows() const {
  std::int64_t rows = 0;
  for (const LinearPart& part : parts_) rows += part.rows();
  return rows;
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  // One row (decoding) goes through BLAS gemv, which streams the weight at close to memory
  // bandwidth; gemm with M = 1 runs 1.5-3x slower in OpenBLAS.
  const auto apply = [&](const LinearPart& part) {
    if (part.is_quantized()) return part.quantized.matmul(x);
    if (x.size(0) == 1 && x.is_cpu()) return at::mv(part.weight, x[0]).unsqueeze(0);
    return at::mm(x, part.weight.t());
  };
  if (parts_.size() == 1) {
    if (bias_.defined() && x.size(0) == 1) return apply(parts_[0]).add_(bias_);
    if (bias_.defined()) {
      return parts_[0].is_quantized() ? apply(parts_[0]).add_(bias_)
                                      : at::addmm(bias_, x, parts_[0].weight.t());
    }
    return apply(parts_[0]);
  }
  std::vector<at::Tensor> outputs;
  for (const LinearPart& part : parts_) outputs.push_back(apply(part));
  at::Tensor y = at::cat(outputs, 1);
  return bias_.defined() ? y.add_(bias_) : y;
}

at::Tensor Linear::forward_add(const at::Tensor& x, const at::Tensor& residual) const {
  if (parts_.size() == 1 && !parts_[0].is_quantized() && !bias_.defined() && x.size(0) > 1) {
    return at::addmm(residual, x, parts_[0].weight.t());
  }
  return forward(x).add_(residual);
}

}  // namespace mnemo::model
