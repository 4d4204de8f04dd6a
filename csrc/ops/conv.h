#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {

// stride, padding, dilation as (h, w) pairs; groups.
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
};

// Validates x (N, C, H, W), weight (O, C/groups, KH, KW) and the parameters; returns the output
// shape (N, O, OH, OW). `op` names the caller in messages.
Shape conv2d_output_shape(const char* op, const Tensor& x, const Tensor& weight, const Conv2dParams& p);

// y (N, O, OH, OW) = conv2d(x, weight) + bias (bias optional: present == false).
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dParams& p, const std::string& impl);
// dx (skipped when not present), dweight, dbias (skipped when not present) from dy, x, weight.
void conv2d_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                     const Tensor& x, const Tensor& weight, const Conv2dParams& p, const std::string& impl);

}  // namespace pb::ops
