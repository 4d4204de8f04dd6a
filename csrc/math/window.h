// Index arithmetic of the windowed ops (conv2d, pooling; geometry in core/geometry.h), written
// once for the CPU loops (csrc/cpu) and the CUDA kernels (csrc/cuda). int64 throughout: csrc/ops
// bounds the geometry so that none of these overflows.
#pragma once
#include <cstdint>

#include "core/common.h"

namespace pb::math {

// First input row (or column) of output o's window: o * stride - pad (negative inside the padding).
PB_INLINE int64_t window_start(int64_t o, int64_t stride, int64_t pad) { return o * stride - pad; }

// Input row (or column) that tap k of output o reads: o * stride - pad + k * dilation.
PB_INLINE int64_t conv_in(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t dilation) {
  return window_start(o, stride, pad) + k * dilation;
}

// Outputs o in [lo, hi) of a row of OW whose input column o * s + off lies in [0, W); off is
// conv_in(0, ...) of the tap.
PB_INLINE void valid_cols(int64_t W, int64_t OW, int64_t s, int64_t off, int64_t* lo, int64_t* hi) {
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t h = (W - 1 - off) < 0 ? 0 : (W - 1 - off) / s + 1;
  if (h > OW) h = OW;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

}  // namespace pb::math
