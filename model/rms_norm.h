// RMSNorm, y = x / sqrt(mean(x²) + eps) · w, as one fused loop on the CPU: at batch 1 the
// half-dozen ATen ops of the plain formula cost more than the arithmetic. Other devices
// (and the test that checks the loop) use rms_norm_reference.
#pragma once

#include <ATen/core/Tensor.h>

namespace mnemo::model {

/// x: [T, E] (rows may be strided, elements contiguous), weight: [E]. Returns [T, E].
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

/// The same into `out` ([T, E], contiguous): no allocation on the CPU path.
void rms_norm_into(const at::Tensor& x, const at::Tensor& weight, double eps, at::Tensor& out);

/// The same with ATen ops, on any device.
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace mnemo::model
