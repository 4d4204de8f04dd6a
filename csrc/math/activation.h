// Activation formulas, written once for the CPU loops (csrc/cpu) and the CUDA kernels (csrc/cuda).
//
// Selects use fm::select, never `?:`: GCC sinks an arm's arithmetic into a branch and, with its
// default -ftrapping-math, will not if-convert (and so not vectorize) a branch holding a division
// (see math/fastmath.h); and T may be fm::V16 (16 floats, the AVX-512 loops), whose comparisons
// give a lane mask that only fm::select takes.
//
// Each formula takes a math tag M (fm::Std: std:: functions, the naive loops; fm::Fast: the
// vectorizable float code of math/fastmath.h) and follows PyTorch's CPU kernels, including what
// they do with NaN (comparisons are written so a NaN input lands where PyTorch puts it).
// Where PyTorch's own formula overflows to NaN/inf for a finite input (softplus with a
// threshold above ~88, its backward), the stable form here gives the mathematically right value.
#pragma once
#include <cmath>
#include <cstdint>
#include "core/common.h"
#include "math/fastmath.h"

namespace pb::math {

// relu: `x < 0 ? 0 : x` (not `x > 0 ? x : 0`) so that NaN propagates, as in PyTorch.
// Backward as PyTorch's threshold_backward: dx = x <= 0 ? 0 : dy (a NaN x passes dy through).
template <class T> PB_INLINE T relu(T x) { return fm::max0(x); }
template <class T> PB_INLINE T relu_grad(T dy, T x) { return fm::select(x <= T(0), T(0), dy); }

// leaky_relu: x > 0 ? x : x * slope (NaN: NaN * slope = NaN); backward x > 0 ? dy : dy * slope.
template <class T> PB_INLINE T leaky_relu(T x, T slope) { return fm::select(x > T(0), x, x * slope); }
template <class T> PB_INLINE T leaky_relu_grad(T dy, T x, T slope) { return fm::select(x > T(0), dy, dy * slope); }

// elu: x <= 0 ? alpha * expm1(x) : x; backward x > 0 ? dy : dy * alpha * exp(x), so a NaN x gives
// NaN (as PyTorch's float64 kernel; its float32 kernel passes dy through).
template <class M, class T> PB_INLINE T elu(T x, T alpha) {
  const T neg = alpha * fm::expm1(M{}, x);
  return fm::select(x <= T(0), neg, x);
}
template <class M, class T> PB_INLINE T elu_grad(T dy, T x, T alpha) {
  const T neg = dy * (alpha * fm::exp(M{}, x));
  return fm::select(x > T(0), dy, neg);
}

// sigmoid = 1 / (1 + e^-x): e^-x overflows to inf for x < -88 (float) and gives exactly 0, never NaN.
// Backward: s (1 - s) = e / (1 + e)^2 with e = e^-|x| (PyTorch's (1 - s) s cancels for large |x|).
template <class M, class T> PB_INLINE T sigmoid(T x) { return T(1) / (T(1) + fm::exp(M{}, -x)); }
template <class M, class T> PB_INLINE T sigmoid_slope(T x) {  // s (1 - s), accurate for any x
  const T e = fm::exp(M{}, -fm::fabs_(x));
  const T r = T(1) / (T(1) + e);
  return e * r * r;
}
template <class M, class T> PB_INLINE T sigmoid_grad(T dy, T x) { return dy * sigmoid_slope<M>(x); }

// tanh; backward 1 - tanh^2 = 4 e / (1 + e)^2 with e = e^{-2|x|} (no cancellation near |t| = 1).
template <class M, class T> PB_INLINE T tanh(T x) { return fm::tanh(M{}, x); }
template <class M, class T> PB_INLINE T tanh_grad(T dy, T x) {
  return dy * (T(4) * sigmoid_slope<M>(T(2) * x));
}

// silu = x * sigmoid(x) = x / (1 + e^-x); backward dy (s + x s (1 - s)).
template <class M, class T> PB_INLINE T silu(T x) { return x / (T(1) + fm::exp(M{}, -x)); }
template <class M, class T> PB_INLINE T silu_grad(T dy, T x) {
  const T e = fm::exp(M{}, -fm::fabs_(x));
  const T r = T(1) / (T(1) + e);
  const T s = fm::select(x < T(0), e * r, r);  // sigmoid(x) from the same e
  return dy * (s + x * (e * r * r));
}

// gelu, approximate='none': x/2 (1 + erf(x / sqrt 2)); backward dy (cdf + x pdf).
constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
template <class M, class T> PB_INLINE T gelu(T x) {
  return x * T(0.5) * (T(1) + fm::erf(M{}, x * T(kSqrt1_2)));
}
template <class M, class T> PB_INLINE T gelu_grad(T dy, T x) {
  const T cdf = T(0.5) * (T(1) + fm::erf(M{}, x * T(kSqrt1_2)));
  const T pdf = T(kInvSqrt2Pi) * fm::exp(M{}, T(-0.5) * x * x);
  return dy * (cdf + x * pdf);
}

// gelu, approximate='tanh': x/2 (1 + tanh(k)), k = sqrt(2/pi) (x + 0.044715 x^3), computed as
// x * sigmoid(2k) (the same function: (1 + tanh k) / 2 = sigmoid(2k)), one exp and one division,
// and without PyTorch's cancellation in 1 + tanh k for negative x. Backward with s = sigmoid(2k):
// d/dx = s + x s (1 - s) * 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2), i.e. PyTorch's
// 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 kappa x^2) with t = 2s - 1.
constexpr double kGeluBeta = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluKappa = 0.044715;
// 2k is computed as x (2 sqrt(2/pi) + 2 sqrt(2/pi) 0.044715 x^2): one FMA and one multiply.
template <class M, class T> PB_INLINE T gelu_tanh(T x) {
  const T minus_k2 = x * fm::fma_(x * x, T(-2 * kGeluBeta * kGeluKappa), T(-2 * kGeluBeta));
  return x / (T(1) + fm::exp(M{}, minus_k2));
}
template <class M, class T> PB_INLINE T gelu_tanh_grad(T dy, T x) {
  const T x2 = x * x;
  const T k2 = x * fm::fma_(x2, T(2 * kGeluBeta * kGeluKappa), T(2 * kGeluBeta));
  const T e = fm::exp(M{}, -fm::fabs_(k2));
  const T r = T(1) / (T(1) + e);
  const T s = fm::select(k2 < T(0), e * r, r);  // sigmoid(2k); s (1 - s) = e r^2
  const T dk2 = fm::fma_(x2, T(6 * kGeluBeta * kGeluKappa), T(2 * kGeluBeta));
  return dy * (s + x * (e * r * r) * dk2);
}

// softplus: x beta > threshold ? x : log(1 + e^{x beta}) / beta (times 1/beta, exact for beta = 1), the log term in the stable form
// max(z, 0) + log1p(e^-|z|) (PyTorch's log1p(exp(z)) overflows for z > 88 in float when the
// threshold allows it); backward dy * sigmoid(x beta) (PyTorch's z/(z+1) form gives NaN there).
template <class M, class T> PB_INLINE T softplus(T x, T beta, T threshold) {
  const T z = x * beta;
  const T az = fm::fabs_(z);  // NaN stays NaN
  const T pos = fm::max0(z);
  const T soft = (pos + fm::log1p_01(M{}, fm::exp(M{}, -az))) * (T(1) / beta);  // 1/beta: hoisted
  return fm::select(z > threshold, x, soft);
}
template <class M, class T> PB_INLINE T softplus_grad(T dy, T x, T beta, T threshold) {
  const T z = x * beta;
  const T soft = dy * sigmoid<M>(z);
  return fm::select(z > threshold, dy, soft);
}

// softmax / log_softmax over a row, per element, given the row's max m and s = sum exp(x - m):
// softmax y = exp(x - m) * (1 / s) (e = exp(x - m) passed in), log_softmax y = (x - m) - log(s)
// ((x - m) first: exact, as PyTorch). Backward with the forward output y: softmax
// dx = y (dy - sum(dy y)), log_softmax dx = dy - exp(y) sum(dy).
template <class T> PB_INLINE T softmax_out(T e, T inv_s) { return e * inv_s; }
template <class T> PB_INLINE T log_softmax_out(T x, T m, T log_s) { return (x - m) - log_s; }
template <class T> PB_INLINE T softmax_grad(T dy, T y, T sum_dy_y) { return y * (dy - sum_dy_y); }
template <class M, class T> PB_INLINE T log_softmax_grad(T dy, T y, T sum_dy) {
  return dy - fm::exp(M{}, y) * sum_dy;
}

// One row, plainly: the naive kernels of the CPU (a loop over rows) and of CUDA (a thread per
// row) both run these. Sums in double: a float32 running sum of 10^4 terms loses ~1e-5. The max
// skips NaN, which is harmless: a NaN makes s NaN and so the whole row NaN, as in PyTorch; a row
// of -inf or one holding +inf gives NaN from inf - inf, as PyTorch.
template <class T> PB_INLINE void softmax_row_naive(T* y, const T* x, int64_t cols, bool log) {
  T m = -T(INFINITY);
  for (int64_t j = 0; j < cols; ++j) m = x[j] > m ? x[j] : m;
  double s = 0;
  for (int64_t j = 0; j < cols; ++j) s += std::exp(x[j] - m);
  if (log) {
    const T ls = static_cast<T>(std::log(s));
    for (int64_t j = 0; j < cols; ++j) y[j] = log_softmax_out(x[j], m, ls);
  } else {
    const T inv = static_cast<T>(1 / s);
    for (int64_t j = 0; j < cols; ++j) y[j] = softmax_out(std::exp(x[j] - m), inv);
  }
}
template <class T> PB_INLINE void softmax_backward_row_naive(T* dx, const T* dy, const T* y, int64_t cols, bool log) {
  double acc = 0;
  if (log) {
    for (int64_t j = 0; j < cols; ++j) acc += dy[j];
    const T s = static_cast<T>(acc);
    for (int64_t j = 0; j < cols; ++j) dx[j] = log_softmax_grad<fm::Std>(dy[j], y[j], s);
  } else {
    for (int64_t j = 0; j < cols; ++j) acc += static_cast<double>(dy[j]) * y[j];
    const T s = static_cast<T>(acc);
    for (int64_t j = 0; j < cols; ++j) dx[j] = softmax_grad(dy[j], y[j], s);
  }
}

}  // namespace pb::math
