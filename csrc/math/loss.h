// Loss formulas, written once for the CPU loops (csrc/cpu/loss.cpp) and the CUDA kernels.
//
// Each loss is a per-element (or per-row, for cross-entropy) term; the op is its mean, so the
// loops sum the terms (in double) and divide by the count, and backward multiplies each
// derivative by grad / count. The derivative helpers return d(term)/d(input) times `scale`.
#pragma once
#include <cmath>

#include "core/common.h"

namespace pb::math {

// The one place the losses pick their exp / log / log1p: std:: on both backends. The vectorizable
// float code of math/fastmath.h (fm::exp(fm::Fast{}, x), ...) would go here, changing the bits.
template <class T> PB_INLINE T loss_exp(T x) { return std::exp(x); }
template <class T> PB_INLINE T loss_log(T x) { return std::log(x); }
template <class T> PB_INLINE T loss_log1p(T x) { return std::log1p(x); }

// ---- softmax cross-entropy with integer labels -------------------------------------------
// Row loss = logsumexp(x) - x[label], computed with the max shift m = max_j x[j]:
//   (m - x[label]) + log(sum_j exp(x[j] - m)),   sum >= 1,
// so logits of +-1e4 stay finite and the large terms cancel exactly before the log is added.
template <class T> PB_INLINE T ce_shifted_exp(T x, T m) { return loss_exp(x - m); }
PB_INLINE double ce_row_loss(double m, double x_label, double sum_exp) {
  return (m - x_label) + loss_log(sum_exp);
}
// d(row loss)/dx[j] * scale = scale * (softmax_j - [j == label]), softmax_j = e_j / sum with
// e_j = exp(x[j] - m) (the _from_exp form takes e_j already computed).
template <class T> PB_INLINE T ce_grad_from_exp(T e, T inv_sum_exp, bool is_label, T scale) {
  return scale * (e * inv_sum_exp - (is_label ? T(1) : T(0)));
}
template <class T> PB_INLINE T ce_grad(T x, T m, T inv_sum_exp, bool is_label, T scale) {
  return ce_grad_from_exp(ce_shifted_exp(x, m), inv_sum_exp, is_label, scale);
}

// ---- mean squared error ---------------------------------------------------------------------
template <class T> PB_INLINE T mse_loss(T x, T t) {
  const T d = x - t;
  return d * d;
}
template <class T> PB_INLINE T mse_grad(T x, T t, T scale) { return scale * (T(2) * (x - t)); }

// ---- Huber (PyTorch HuberLoss), delta > 0 ----------------------------------------------------
// 0.5 d^2 where |d| < delta, else delta (|d| - delta / 2); d = x - t. NaN propagates.
template <class T> PB_INLINE T huber_loss(T x, T t, T delta) {
  const T z = std::fabs(x - t);
  return z < delta ? T(0.5) * z * z : delta * (z - T(0.5) * delta);
}
// d clipped to [-delta, delta] (as PyTorch's huber_loss_backward; NaN stays NaN).
template <class T> PB_INLINE T huber_grad(T x, T t, T delta, T scale) {
  const T d = x - t;
  return scale * (d < -delta ? -delta : (d > delta ? delta : d));
}

// ---- binary cross-entropy with logits ------------------------------------------------------
// max(x, 0) - x t + log1p(exp(-|x|)): never exponentiates a positive number.
template <class T> PB_INLINE T bce_with_logits_loss(T x, T t) {
  const T e = loss_exp(-std::fabs(x));
  return (x > T(0) ? x : T(0)) - x * t + loss_log1p(e);
}
// sigmoid(x) - t, with the sigmoid formed from exp(-|x|) <= 1 (no overflow for either sign).
template <class T> PB_INLINE T bce_with_logits_grad(T x, T t, T scale) {
  const T e = loss_exp(-std::fabs(x));
  const T sig = (x >= T(0) ? T(1) : e) / (T(1) + e);
  return scale * (sig - t);
}

}  // namespace pb::math
