#pragma once
#include <cstdint>

#include "core/common.h"
#include "core/isa.h"
#include "math/batchnorm.h"

// x, y, dy, dx: (N, C, S) C-contiguous, S = H*W for (N, C, H, W) and S = 1 for (N, C).
// Per-channel vectors (C,) are double: mean, var (biased), scale = invstd * weight, shift = bias,
// the backward sums and coefficients. The ops layer turns them into the per-channel results
// (csrc/math/batchnorm.h); these kernels do the passes over the data.
PB_CPU_DECLARE(
  // mean[c], var[c] = mean and biased variance of channel c.
  template <class T> void batch_norm_stats_naive(double* mean, double* var, const T* x, int64_t N, int64_t C, int64_t S);
  template <class T> void batch_norm_stats_fused(double* mean, double* var, const T* x, int64_t N, int64_t C, int64_t S, double* work);
  // y = (x - mean[c]) * scale[c] + shift[c].
  template <class T> void batch_norm_apply_naive(T* y, const T* x, const double* mean, const double* scale, const double* shift, int64_t N, int64_t C, int64_t S);
  template <class T> void batch_norm_apply_fused(T* y, const T* x, const double* mean, const double* scale, const double* shift, int64_t N, int64_t C, int64_t S);
  // sum_dy[c] = sum(dy), sum_dyxc[c] = sum(dy * (x - mean[c])) over channel c.
  template <class T> void batch_norm_reduce_naive(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, int64_t N, int64_t C, int64_t S);
  template <class T> void batch_norm_reduce_fused(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, int64_t N, int64_t C, int64_t S, double* work);
  // dx = k_dy[c] * dy + k_x[c] * (x - mean[c]) + k_c[c].
  template <class T> void batch_norm_grad_input_naive(T* dx, const T* dy, const T* x, const double* mean, const pb::math::BnGradCoef* k, int64_t N, int64_t C, int64_t S);
  template <class T> void batch_norm_grad_input_fused(T* dx, const T* dy, const T* x, const double* mean, const pb::math::BnGradCoef* k, int64_t N, int64_t C, int64_t S);
  // The whole backward for S > 1, channel by channel (whole channels per thread when
  // C >= 4 * threads, else groups of channels shared by all threads): sum_dy, sum_dyxc as reduce,
  // the coefficients (math::bn_grad_coef from weight, invstd, the sums) and dx as grad_input.
  // work: bn_l3_work_size(N, C, S, sizeof(T)) doubles.
  template <class T> void batch_norm_backward_l3(T* dx, double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, const double* invstd, const double* weight, int64_t N, int64_t C, int64_t S, bool training, double* work);
  // pipe: the training forward for S > 1 in one call: mean, var (as stats_fused, bitwise) and
  // y = (x - mean) * invstd(var, eps) * weight + bias. Whole channels per thread, the reading
  // pass of channel c interleaved with the writing pass of channel c - 1 (walked last to first).
  // work: bn_work_size(N, C, S) doubles, for the fused fallback (few channels).
  template <class T> void batch_norm_forward_pipe(T* y, double* mean, double* var, const T* x, const double* weight, const double* bias, double eps, int64_t N, int64_t C, int64_t S, double* work);
)

namespace pb::cpu {

// The fixed partition of the fused reductions: it depends on (N, C, S) only, never on the thread
// count, and the per-item partials are combined in item order, so results are bitwise
// reproducible for any number of threads. Items are numbered row-block-major so that each
// thread reads memory front to back.
//   S >= kBnItem:     an item is a piece of kBnItem elements of one plane (`pieces` per plane)
//                     of one channel; one-pass statistics per kBnSub sub-chunk.
//   1 < S < kBnItem:  an item is a block of `rows` rows (n) x `cb` channels, walked in memory
//                     order; each plane (n, c) gets a one-pass mean/M2 (per kBnSub piece) merged
//                     into the channel's running partial.
//   S == 1:           an item is a block of `rows` rows, all channels; it walks bands of `band`
//                     rows (few DRAM streams; one-pass statistics per band), each band in strips of 64
//                     channels held in registers.
// Partials: work[k * 2C + c] (mean or sum) and work[k * 2C + C + c] (M2 or second sum).
constexpr int64_t kBnItem = 1 << 16;  // elements per item (target)
constexpr int64_t kBnSub = 1 << 12;   // elements per statistics piece (one pivot per piece: see run_stats)
constexpr int64_t kBnBand = 8;        // S == 1: rows per statistics band
constexpr int64_t kBnMinRows = 256;   // S == 1: rows per item at least (bounds the partials to numel / 128 doubles)

struct BnPartition {
  int64_t cb = 1;      // channels per item
  int64_t nj = 1;      // items along C
  int64_t rows = 1;    // rows (n) per item
  int64_t pieces = 1;  // items per plane (S >= kBnItem)
  int64_t nk = 1;      // items along N (x pieces)
  int64_t band = 1;    // S == 1: rows per band (kBnBand, more when C is small)
};

PB_INLINE BnPartition bn_partition(int64_t N, int64_t C, int64_t S) {
  BnPartition p;
  if (S >= kBnItem) {
    p.cb = 1;
    p.nj = C;
    p.pieces = (S + kBnItem - 1) / kBnItem;
    p.rows = 1;
    p.nk = N * p.pieces;
  } else if (S > 1) {
    p.cb = kBnItem / S < C ? kBnItem / S : C;  // >= 1 since S < kBnItem
    p.nj = (C + p.cb - 1) / p.cb;
    p.rows = kBnItem / (p.cb * S) > 1 ? kBnItem / (p.cb * S) : 1;
    p.nk = (N + p.rows - 1) / p.rows;
  } else {
    p.cb = C;
    p.nj = 1;
    p.band = kBnSub / C > kBnBand ? kBnSub / C : kBnBand;
    const int64_t r = kBnItem / C > kBnMinRows ? kBnItem / C : kBnMinRows;
    p.rows = (r + p.band - 1) / p.band * p.band;
    p.nk = (N + p.rows - 1) / p.rows;
  }
  return p;
}

// batch_norm_backward_l3: channels per group such that the group's dy and x (2 arrays) take at
// most kBnL3Bytes (at least one channel), so that they are still in the 32 MiB L3 for the dx pass.
constexpr int64_t kBnL3Bytes = int64_t(12) << 20;
PB_INLINE int64_t bn_l3_group(int64_t N, int64_t S, int64_t elem_size) {
  const int64_t per_channel = 2 * N * S * elem_size;
  return kBnL3Bytes / per_channel > 1 ? kBnL3Bytes / per_channel : 1;
}
PB_INLINE int64_t bn_l3_work_size(int64_t N, int64_t C, int64_t S, int64_t elem_size) {
  const int64_t G = bn_l3_group(N, S, elem_size);
  const int64_t R = kBnItem / S > 1 ? kBnItem / S : 1;
  return 2 * (G < C ? G : C) * ((N + R - 1) / R);
}

// Scratch (doubles) the fused reductions need: two partials per channel and item along N.
PB_INLINE int64_t bn_work_size(int64_t N, int64_t C, int64_t S) { return 2 * C * bn_partition(N, C, S).nk; }

}  // namespace pb::cpu
