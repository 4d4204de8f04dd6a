// Internal to the batch_norm kernels (csrc/cpu/batchnorm*.cpp): what batchnorm.cpp (naive,
// fused) and batchnorm_channel.cpp (l3, pipe) both use: the vector types, the lane sums, the
// run / piece statistics, planes_dot and the item counts of the partition (cpu/batchnorm.h).
// Compiled into each ISA namespace like them; include it first (the pragmas cover the file).
#pragma once

// The 64-byte vector types below are only ever inlined; the ABI note about passing them is moot.
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive in its own intrinsics (bug 105593)

#include <cstdint>

#include "core/common.h"
#include "core/parallel.h"
#include "cpu/batchnorm.h"
#include "cpu/elementwise.h"
#include "math/batchnorm.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace pb::cpu::PB_ISA_NS {

PB_INLINE int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Vectors of 8 doubles (GCC vector extensions: the same lanes and order on every ISA build,
// compiled to zmm on AVX-512, ymm pairs on AVX2, xmm quads on the baseline).
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

PB_INLINE v8d load8(const float* p) {
#if defined(__AVX512F__)
  return reinterpret_cast<v8d>(_mm512_cvtps_pd(_mm256_loadu_ps(p)));  // GCC 12 splits the generic form
#else
  v8f f;
  __builtin_memcpy(&f, p, sizeof f);
  return __builtin_convertvector(f, v8d);
#endif
}
PB_INLINE v8d load8(const double* p) {
  v8d d;
  __builtin_memcpy(&d, p, sizeof d);
  return d;
}
PB_INLINE void store8(double* p, v8d d) { __builtin_memcpy(p, &d, sizeof d); }

// ---- S > 1: contiguous runs, lane sums (4 vectors = 32 elements per step, the leftover summed
// in order into a scalar).

constexpr int kV = 4, kStep = 8 * kV;

struct Lanes {
  v8d v[kV];
  double tail;
};
PB_INLINE void lanes_zero(Lanes& a) {
  for (int k = 0; k < kV; ++k) a.v[k] = v8d{};
  a.tail = 0;
}
PB_INLINE double lanes_total(const Lanes& a) {  // fixed order
  const v8d s = (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]);
  return (((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))) + a.tail;
}

// a1 += x - m, a2 += (x - m)^2
template <class T>
PB_INLINE void lanes_dev(Lanes& a1, Lanes& a2, const T* __restrict x, int64_t len, double m) {
  int64_t i = 0;
  for (; i + kStep <= len; i += kStep)
    for (int k = 0; k < kV; ++k) {
      const v8d d = load8(x + i + 8 * k) - m;
      a1.v[k] += d;
      a2.v[k] += d * d;
    }
  for (; i < len; ++i) {
    const double d = static_cast<double>(x[i]) - m;
    a1.tail += d;
    a2.tail += d * d;
  }
}

// a1 += dy, a2 += dy * (x - m)
template <class T>
PB_INLINE void lanes_dot(Lanes& a1, Lanes& a2, const T* __restrict dy, const T* __restrict x, int64_t len, double m) {
  int64_t i = 0;
  for (; i + kStep <= len; i += kStep)
    for (int k = 0; k < kV; ++k) {
      const v8d g = load8(dy + i + 8 * k);
      a1.v[k] += g;
      a2.v[k] += g * (load8(x + i + 8 * k) - m);
    }
  for (; i < len; ++i) {
    const double g = static_cast<double>(dy[i]);
    a1.tail += g;
    a2.tail += g * (static_cast<double>(x[i]) - m);
  }
}

// Backward sums of one item: planes [n0, n1) of channel c, each plane's lanes totalled, then added
// in plane order (the fixed order every backward impl shares, so their sums are bitwise equal).
template <class T>
PB_INLINE void planes_dot(double& s1, double& s2, const T* dy, const T* x, double m, int64_t n0, int64_t n1, int64_t C,
                          int64_t S, int64_t c) {
  s1 = s2 = 0;
  for (int64_t n = n0; n < n1; ++n) {
    Lanes a1, a2;
    lanes_zero(a1);
    lanes_zero(a2);
    const int64_t off = (n * C + c) * S;
    lanes_dot(a1, a2, dy + off, x + off, S, m);
    s1 += lanes_total(a1);
    s2 += lanes_total(a2);
  }
}

// Mean and M2 of x[0, len) in one pass: sums of d = x - k and d^2 in double, with the pivot k
// = x[0], a value of the run; then mean = k + sum(d) / len, M2 = sum(d^2) - sum(d)^2 / len. The
// cancellation in M2 is bounded because k is one of the values: (k - mean)^2 <= len * var, so
// the relative error of M2 is at most ~3 len (len / 32) 2^-53 (1.7e-10 for len = kBnSub, in the
// worst case of k the one extreme outlier; ~1e-15 for ordinary data). One pass, not two: a
// second pass over the L1 copy left the memory idle (docs/kernels/batchnorm.md).
template <class T>
PB_INLINE void run_stats(const T* x, int64_t len, double& mean, double& m2) {
  const double k = static_cast<double>(x[0]), inv = 1.0 / static_cast<double>(len);
  Lanes s1, s2;
  lanes_zero(s1);
  lanes_zero(s2);
  lanes_dev(s1, s2, x, len, k);
  const double d1 = lanes_total(s1), d2 = lanes_total(s2);
  mean = k + d1 * inv;
  m2 = d2 - d1 * d1 * inv;
}

// Mean and M2 of plane[s0, s1) from its kBnSub runs, merged in order (one item of a plane).
template <class T>
PB_INLINE void piece_stats(const T* plane, int64_t s0, int64_t s1, double& mean, double& m2) {
  double cnt = 0;
  mean = m2 = 0;
  for (int64_t s = s0; s < s1; s += kBnSub) {
    const int64_t len = min64(kBnSub, s1 - s);
    double pm, pm2;
    run_stats(plane + s, len, pm, pm2);
    math::chan_merge(cnt, mean, m2, static_cast<double>(len), pm, pm2);
  }
}

// Merge a whole plane of S > kBnSub values, run by run, into (mean, m2) of `before` values.
template <class T>
PB_INLINE void plane_runs_merge(const T* plane, int64_t S, double before, double& mean, double& m2) {
  double cnt = before;
  for (int64_t s = 0; s < S; s += kBnSub) {
    const int64_t len = min64(kBnSub, S - s);
    double pm, pm2;
    run_stats(plane + s, len, pm, pm2);
    math::chan_merge(cnt, mean, m2, static_cast<double>(len), pm, pm2);
  }
}

// Number of values of one channel in item k (the same for every channel).
PB_INLINE double item_count(const BnPartition& p, int64_t N, int64_t S, int64_t k) {
  if (S >= kBnItem) {
    const int64_t s0 = (k % p.pieces) * kBnItem;
    return static_cast<double>(min64(S, s0 + kBnItem) - s0);
  }
  const int64_t n0 = k * p.rows;
  return static_cast<double>(min64(N, n0 + p.rows) - n0) * static_cast<double>(S);
}

}  // namespace pb::cpu::PB_ISA_NS
