#pragma once
#include <string>

#include "core/tensor.h"

namespace pb::ops {
// y = x, element for element (same shape and dtype). The memory-bandwidth ceiling that
// `pybench bench` reports the memory-bound ops against.
void copy(const Tensor& y, const Tensor& x, const std::string& impl);
}  // namespace pb::ops
