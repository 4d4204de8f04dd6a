#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {
// Mean-reduced losses. Forward returns the loss (float64 value, accumulated in double);
// backward writes d(loss)/d(input) * grad into dx. `impl` "" picks the default (fastest).
double cross_entropy_forward(const Tensor& logits, const Tensor& labels, const std::string& impl);
void cross_entropy_backward(const Tensor& dx, const Tensor& logits, const Tensor& labels, double grad,
                            const std::string& impl);
double mse_forward(const Tensor& input, const Tensor& target, const std::string& impl);
void mse_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double grad, const std::string& impl);
double huber_forward(const Tensor& input, const Tensor& target, double delta, const std::string& impl);
void huber_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double delta, double grad,
                    const std::string& impl);
double bce_with_logits_forward(const Tensor& input, const Tensor& target, const std::string& impl);
void bce_with_logits_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double grad,
                              const std::string& impl);
}  // namespace pb::ops
