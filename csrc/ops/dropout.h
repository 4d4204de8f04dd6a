#pragma once
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace pb::ops {
// Outputs first, then inputs, then parameters; `impl` "" picks the default (fastest).
// The mask scheme is in csrc/math/dropout.h. offset >= 0 and offset + numel must fit in int64.
void dropout_forward(const Tensor& y, const Tensor& x, double p, uint64_t seed, int64_t offset, bool training,
                     const std::string& impl);
void dropout_backward(const Tensor& dx, const Tensor& dy, double p, uint64_t seed, int64_t offset,
                      const std::string& impl);
// Validates the requested mask shape (positive extents, no overflow), p and offset, before the
// caller allocates the mask; returns its numel.
int64_t dropout_mask_check(const Shape& shape, double p, int64_t offset);
// mask: uint8 (numel,) buffer allocated by the caller after dropout_mask_numel.
void dropout_mask(uint8_t* mask, int64_t numel, double p, uint64_t seed, int64_t offset, const std::string& impl);
}  // namespace pb::ops
