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
)

namespace pb::cpu {

// The fixed partition of the fused reductions: it depends on (N, C, S) only, never on the thread
// count, and the per-item partials are combined in item order, so results are bitwise
// reproducible for any number of threads.
//   S > 1:  an item is one channel and either a block of `rows` planes (S < kBnItem) or a piece
//           of kBnItem elements of one plane (S >= kBnItem; `pieces` per plane).
//   S == 1: an item is a block of `rows` rows and `cb` channels (vectorized across channels).
constexpr int64_t kBnItem = 1 << 16;  // elements per item (target)
constexpr int64_t kBnSub = 1 << 12;   // elements per two-pass sub-chunk: the second pass reads L1
constexpr int64_t kBnMaxCb = 256;     // channels per item when S == 1

struct BnPartition {
  int64_t cb = 1;      // channels per item
  int64_t nj = 1;      // items along C
  int64_t rows = 1;    // rows (planes) of N per item
  int64_t pieces = 1;  // items per plane (S >= kBnItem)
  int64_t nk = 1;      // items along N (x pieces) per channel block
};

PB_INLINE BnPartition bn_partition(int64_t N, int64_t C, int64_t S) {
  BnPartition p;
  if (S > 1) {
    p.cb = 1;
    p.nj = C;
    if (S >= kBnItem) {
      p.pieces = (S + kBnItem - 1) / kBnItem;
      p.rows = 1;
      p.nk = N * p.pieces;
    } else {
      p.rows = kBnItem / S;
      p.nk = (N + p.rows - 1) / p.rows;
    }
  } else {
    p.cb = C < kBnMaxCb ? C : kBnMaxCb;
    p.nj = (C + p.cb - 1) / p.cb;
    p.rows = kBnItem / p.cb > 1 ? kBnItem / p.cb : 1;
    p.nk = (N + p.rows - 1) / p.rows;
  }
  return p;
}

// Scratch (doubles) the fused reductions need: two partials per channel and item along N.
PB_INLINE int64_t bn_work_size(int64_t N, int64_t C, int64_t S) { return 2 * C * bn_partition(N, C, S).nk; }

}  // namespace pb::cpu
