// Activation formulas, written once for the CPU loops (csrc/cpu) and the CUDA kernels (csrc/cuda).
#pragma once
#include "core/common.h"

namespace pb::math {

// `x < 0 ? 0 : x` (not `x > 0 ? x : 0`) so that NaN propagates, as in PyTorch.
template <class T> PB_INLINE T relu(T x) { return x < T(0) ? T(0) : x; }
template <class T> PB_INLINE T relu_grad(T dy, T x) { return x > T(0) ? dy : T(0); }

}  // namespace pb::math
