#pragma once
#include <cstdint>

#include "core/geometry.h"  // PoolGeom
#include "core/isa.h"

// max_pool2d: y (planes, OH, OW) and idx (planes, OH, OW) = argmax position ih*W + iw within the
//   input plane (as PyTorch: padding acts as -inf, the first maximum wins, NaN wins).
//   backward: dx (planes, H, W) = scatter-add of dy at idx; returns the number of indices that
//   were out of [0, H*W) and skipped (the op turns a non-zero count into an error).
// avg_pool2d: y = window sum / divisor, divisor KH*KW (count_include_pad) or the number of
//   in-bounds taps; backward spreads dy / divisor over the window.
// global_avg_pool2d: y (planes,) = mean of each H*W plane; backward dx = dy / (H*W) broadcast.
//   naive  plain loops, one thread.
//   fast   threads over planes; window loops turned into row loops the compiler vectorizes
//          over ow (same per-element summation order as naive for max/avg).
PB_CPU_DECLARE(
  template <class T> void max_pool2d_forward_naive(T* y, int64_t* idx, const T* x, const PoolGeom& g);
  template <class T> void max_pool2d_forward_fast(T* y, int64_t* idx, const T* x, const PoolGeom& g);
  template <class T> int64_t max_pool2d_backward_naive(T* dx, const T* dy, const int64_t* idx, const PoolGeom& g);
  template <class T> int64_t max_pool2d_backward_fast(T* dx, const T* dy, const int64_t* idx, const PoolGeom& g);
  template <class T> void avg_pool2d_forward_naive(T* y, const T* x, const PoolGeom& g, bool count_include_pad);
  template <class T> void avg_pool2d_forward_fast(T* y, const T* x, const PoolGeom& g, bool count_include_pad);
  template <class T> void avg_pool2d_backward_naive(T* dx, const T* dy, const PoolGeom& g, bool count_include_pad);
  template <class T> void avg_pool2d_backward_fast(T* dx, const T* dy, const PoolGeom& g, bool count_include_pad);
  template <class T> void global_avg_pool2d_forward_naive(T* y, const T* x, int64_t planes, int64_t HW);
  template <class T> void global_avg_pool2d_forward_fast(T* y, const T* x, int64_t planes, int64_t HW);
  template <class T> void global_avg_pool2d_backward_naive(T* dx, const T* dy, int64_t planes, int64_t HW);
  template <class T> void global_avg_pool2d_backward_fast(T* dx, const T* dy, int64_t planes, int64_t HW);
)
