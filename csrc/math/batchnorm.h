// BatchNorm formulas (PyTorch semantics), written once for the CPU loops and the CUDA kernels.
// Per channel c over its M = N*H*W values:
//   training: mean, var = batch mean and biased variance;  eval: running_mean, running_var
//   invstd = 1 / sqrt(var + eps),   y = (x - mean) * invstd * weight + bias
//   running = (1 - momentum) * running + momentum * batch   (running_var gets var * M / (M - 1))
//   backward (training): xhat = (x - mean) * invstd,
//     dbias = sum(dy), dweight = sum(dy * xhat),
//     dx = weight * invstd * (dy - dbias / M - xhat * dweight / M)
//   backward (eval, mean and invstd constants): dx = weight * invstd * dy, same dweight/dbias.
// Per element, bn_apply / bn_grad_input work in double (naive CPU loops, CUDA); the _t forms work
// in T with the mean split in two T words (the fast CPU loops). Either way x - mean comes before
// scaling, so large means (mean >> std) do not cancel.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/common.h"

namespace pb::math {

// Mean and sum of squared deviations (M2) of a set, merged with another set's (Chan, Golub and
// LeVeque): exact in exact arithmetic, stable in floating point. The weights depend on the
// counts only, so loops merging many channels with equal counts compute them once.
PB_INLINE void chan_weights(double n_a, double n_b, double& w_mean, double& w_m2) {
  const double n = n_a + n_b;
  w_mean = n_b / n;
  w_m2 = n_a * n_b / n;
}
template <class V>  // double or a vector of doubles
PB_INLINE void chan_merge_w(V& mean_a, V& m2_a, V mean_b, V m2_b, double w_mean, double w_m2) {
  const V delta = mean_b - mean_a;
  mean_a += delta * w_mean;
  m2_a += m2_b + delta * delta * w_m2;
}
PB_INLINE void chan_merge(double& n_a, double& mean_a, double& m2_a, double n_b, double mean_b, double m2_b) {
  if (n_b == 0) return;
  double w_mean, w_m2;
  chan_weights(n_a, n_b, w_mean, w_m2);
  chan_merge_w(mean_a, m2_a, mean_b, m2_b, w_mean, w_m2);
  n_a += n_b;
}

PB_INLINE double bn_invstd(double var, double eps) { return 1.0 / std::sqrt(var + eps); }

PB_INLINE double bn_running_update(double running, double batch, double momentum) {
  return (1.0 - momentum) * running + momentum * batch;
}

// Unbiased variance from the biased one (M > 1).
PB_INLINE double bn_unbiased(double var_biased, double m) { return var_biased * (m / (m - 1.0)); }

// Forward, per element: y = (x - mean) * scale + shift with scale = invstd * weight, shift = bias.
// The plain form, in double:
template <class T> PB_INLINE T bn_apply(T x, double mean, double scale, double shift) {
  return static_cast<T>((static_cast<double>(x) - mean) * scale + shift);
}

// The same in T arithmetic (the fast loops): mean is carried as hi + lo in T, so x - mean stays
// accurate when mean >> std (x - hi is exact for x near the mean); the rest rounds like any T
// expression (float32: a few ulp of y).
template <class T> struct BnSplitMean {
  T hi, lo;
};
template <class T> PB_INLINE BnSplitMean<T> bn_split_mean(double mean) {
  const T hi = static_cast<T>(mean);
  return {hi, static_cast<T>(mean - static_cast<double>(hi))};
}
template <class T> PB_INLINE T bn_centered(T x, T mean_hi, T mean_lo) { return (x - mean_hi) - mean_lo; }
template <class T> PB_INLINE T bn_apply_t(T x, T mean_hi, T mean_lo, T scale, T shift) {
  return bn_centered(x, mean_hi, mean_lo) * scale + shift;
}

// Backward, per channel: dx = k_dy * dy + k_x * (x - mean) + k_c from the channel sums
// sum_dy = sum(dy) and sum_dyxc = sum(dy * (x - mean)) over m values.
struct BnGradCoef {
  double k_dy, k_x, k_c;
};
PB_INLINE BnGradCoef bn_grad_coef(double weight, double invstd, double sum_dy, double sum_dyxc, double m, bool training) {
  const double a = weight * invstd;
  if (!training) return {a, 0.0, 0.0};
  return {a, -a * invstd * invstd * sum_dyxc / m, -a * sum_dy / m};
}
template <class T> PB_INLINE T bn_grad_input(T dy, T x, double mean, BnGradCoef k) {
  return static_cast<T>(k.k_dy * static_cast<double>(dy) + k.k_x * (static_cast<double>(x) - mean) + k.k_c);
}
// The same in T arithmetic (coefficients rounded to T, mean split as above).
template <class T> PB_INLINE T bn_grad_input_t(T dy, T x, T mean_hi, T mean_lo, T k_dy, T k_x, T k_c) {
  return k_dy * dy + (k_x * bn_centered(x, mean_hi, mean_lo) + k_c);
}

}  // namespace pb::math
