// Pooling window rules, written once for the CPU loops (csrc/cpu/pool.cpp) and the CUDA kernels
// (csrc/cuda/pool.cu). `G` is either side's PoolGeom: any struct with KH, KW, H, W, ph, pw.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/common.h"
#include "math/reduce.h"

namespace pb::math {

PB_INLINE int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
PB_INLINE int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// PyTorch's max rule (math/reduce.h): the first maximum wins ties, a NaN anywhere in the window
// propagates (with its index).
template <class T> PB_INLINE bool max_pool_takes(T v, T m) { return max_takes(v, m); }

// Max of the clamped window [hs, he) x [ws, we) of a plane of width W, taps in (h, w) order;
// *at = h * W + w of the winner (the window's first element if every tap is -inf).
template <class T>
PB_INLINE T max_pool_window(const T* plane, int64_t W, int64_t hs, int64_t he, int64_t ws, int64_t we, int64_t* at) {
  T m = -T(INFINITY);
  int64_t mi = hs * W + ws;
  for (int64_t ih = hs; ih < he; ++ih)
    for (int64_t iw = ws; iw < we; ++iw) {
      const T v = plane[ih * W + iw];
      if (max_pool_takes(v, m)) {
        m = v;
        mi = ih * W + iw;
      }
    }
  *at = mi;
  return m;
}

// Divisor of the average window starting at (hs, ws) (unclamped), PyTorch's rule: the window
// clipped to the padded input with count_include_pad, else to the input itself.
template <class G> PB_INLINE int64_t avg_pool_divisor(const G& g, int64_t hs, int64_t ws, bool count_include_pad) {
  int64_t he = min64(hs + g.KH, g.H + g.ph), we = min64(ws + g.KW, g.W + g.pw);
  if (count_include_pad) return (he - hs) * (we - ws);
  he = min64(he, g.H);
  we = min64(we, g.W);
  return (he - max64(hs, 0)) * (we - max64(ws, 0));
}

}  // namespace pb::math
