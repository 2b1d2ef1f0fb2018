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
  const auto apply = [&](const LinearPart& part) {
    return part.is_quantized() ? part.quantized.matmul(x) : at::mm(x, part.weight.t());
  };
  if (parts_.size() == 1) {
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

void Linear::forward_into(const at::Tensor& x, at::Tensor& out) const {
  std::int64_t row = 0;
  for (const LinearPart& part : parts_) {
    at::Tensor slice = out.narrow(1, row, part.rows());  // contiguous: out has one row
    if (part.is_quantized()) {
      part.quantized.matmul_into(x, slice);
    } else if (x.is_cpu()) {
      // One row goes through BLAS gemv (gemm with M = 1 runs 1.5-3x slower in OpenBLAS);
      // addmv into itself with beta = 0 is gemv with no temporary (mv_out makes one).
      at::Tensor column = slice.view({part.rows()});
      at::addmv_out(column, column, part.weight, x.view({x.size(1)}), /*beta=*/0, /*alpha=*/1);
    } else {
      at::mm_out(slice, x, part.weight.t());
    }
    row += part.rows();
  }
  if (bias_.defined()) out.add_(bias_);
}

at::Tensor Linear::forward_add(const at::Tensor& x, const at::Tensor& residual) const {
  if (parts_.size() == 1 && !parts_[0].is_quantized() && !bias_.defined()) {
    return at::addmm(residual, x, parts_[0].weight.t());
  }
  return forward(x).add_(residual);
}

}  // namespace mnemo::model
