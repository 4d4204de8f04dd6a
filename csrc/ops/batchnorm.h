#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {
// Outputs first, then inputs, then parameters; `impl` "" picks the default (fastest).
// x (N, C) or (N, C, H, W); weight, bias, running_mean, running_var (C,) or absent (present=false).
// Training updates running_mean / running_var in place (when given); y, save_mean and
// save_invstd are outputs. Eval uses the running statistics (required) and saves them.
void batch_norm_forward(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                        const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps,
                        const std::string& impl);
// dx; dweight and dbias only when weight is present (they must be absent otherwise).
void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                         const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         bool training, const std::string& impl);
}  // namespace pb::ops
