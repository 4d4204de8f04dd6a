// Reduction rules shared by the CPU loops and the CUDA kernels.
#pragma once
#include "core/common.h"

namespace pb::math {

// PyTorch's max: v replaces the running max m when strictly greater or NaN, so the first maximum
// wins ties and a NaN anywhere propagates (NaN > x is false, so a NaN m stays).
template <class T> PB_INLINE bool max_takes(T v, T m) { return v > m || v != v; }
template <class T> PB_INLINE T max_nan(T m, T v) { return max_takes(v, m) ? v : m; }

}  // namespace pb::math
