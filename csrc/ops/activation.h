#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {
// Outputs first, then inputs, then parameters; `impl` "" picks the default (fastest).
void relu_forward(const Tensor& y, const Tensor& x, const std::string& impl);
void relu_backward(const Tensor& dx, const Tensor& dy, const Tensor& x, const std::string& impl);
}  // namespace pb::ops
