#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {
// Outputs first, then inputs, then parameters; `impl` "" picks the default (fastest).

// Validates a and b and returns the shape of C = op(a) op(b): (M, N).
Shape gemm_out_shape(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
// c = alpha * op(a) op(b) + beta * c; c absent (present == false) is refused when beta != 0.
void gemm(const Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha, double beta,
          const std::string& impl);

// Validates x, weight (and bias) and returns the shape of y: (N, out).
Shape linear_forward_out_shape(const Tensor& x, const Tensor& weight, const Tensor& bias);
void linear_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const std::string& impl);
// dx absent when !compute_dx; dbias absent when !bias.
void linear_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, bool bias, bool compute_dx, const std::string& impl);
}  // namespace pb::ops
