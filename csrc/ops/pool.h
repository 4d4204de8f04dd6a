#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {

// kernel_size, stride, padding as (h, w) pairs (the Python layer fills stride = kernel_size).
struct Pool2dParams {
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};

// Validates a 4-D input shape (N, C, H, W) and the parameters; returns (N, C, OH, OW).
Shape pool2d_output_shape(const char* op, const Shape& input_shape, const Pool2dParams& p);
// Validates dy (a float input of dy_ndim dims) and the `input_shape` handed to a backward:
// 4 positive extents whose product fits, N and C equal to dy's.
void check_pool_input_shape(const char* op, const Shape& input_shape, const Tensor& dy, int dy_ndim);

void max_pool2d_forward(const Tensor& y, const Tensor& indices, const Tensor& x, const Pool2dParams& p,
                        const std::string& impl);
// dx has the input shape; indices as returned by the forward (int64, dy's shape).
void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const Shape& input_shape,
                         const std::string& impl);
void avg_pool2d_forward(const Tensor& y, const Tensor& x, const Pool2dParams& p, bool count_include_pad,
                        const std::string& impl);
void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const Shape& input_shape, const Pool2dParams& p,
                         bool count_include_pad, const std::string& impl);
// (N, C, H, W) -> (N, C) and back.
void global_avg_pool2d_forward(const Tensor& y, const Tensor& x, const std::string& impl);
void global_avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const Shape& input_shape, const std::string& impl);

}  // namespace pb::ops
