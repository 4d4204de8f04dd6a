#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {
// y = x, element for element (same shape and dtype). The memory-bandwidth ceiling that
// `pybench bench` reports the memory-bound ops against.
void copy(const Tensor& y, const Tensor& x, const std::string& impl);
// out = value (rounded to out's float dtype) on its device, after on_cuda() chose the device and
// stream: e.g. zeros for the weight gradients of an empty batch. A no-op for an empty `out`.
void fill(const char* op, const Tensor& out, double value);
}  // namespace pb::ops
