// BatchNorm passes over (N, C, S) data (S = H*W, or 1 for (N, C)); csrc/math/batchnorm.h has the
// formulas, csrc/ops/batchnorm.cpp the per-channel glue.
// naive: single thread, channel by channel, plain two-pass statistics in double.
// fused: threaded over the fixed partition of csrc/cpu/batchnorm.h. Statistics in one read of x
//        from memory: each item splits into L1-sized sub-chunks, each gets an exact two-pass mean
//        and M2 (the second pass re-reads L1), merged with Chan's formula in a fixed order, so
//        large means do not cancel. Normalize + affine is one read of x and one write of y.
//        Backward: one pass reading dy and x for sum(dy) and sum(dy * (x - mean)), one pass
//        reading dy and x and writing dx. Sums use 16 fixed lanes (vectorizable without
//        reassociation) and fixed-order combines: bitwise reproducible for any thread count.
#include "cpu/batchnorm.h"

#include "core/parallel.h"

// The 64-byte vector type below is only ever inlined; the ABI note about passing it is moot.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace pb::cpu::PB_ISA_NS {

// ---------------------------------------------------------------------------------------------
// naive
// ---------------------------------------------------------------------------------------------

template <class T>
void batch_norm_stats_naive(double* mean, double* var, const T* x, int64_t N, int64_t C, int64_t S) {
  const double m = static_cast<double>(N) * static_cast<double>(S);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) s += static_cast<double>(x[(n * C + c) * S + i]);
    const double mu = s / m;
    double v = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const double d = static_cast<double>(x[(n * C + c) * S + i]) - mu;
        v += d * d;
      }
    mean[c] = mu;
    var[c] = v / m;
  }
}

template <class T>
void batch_norm_apply_naive(T* y, const T* x, const double* mean, const double* scale, const double* shift, int64_t N,
                            int64_t C, int64_t S) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) {
        const int64_t at = (n * C + c) * S + i;
        y[at] = math::bn_apply(x[at], mean[c], scale[c], shift[c]);
      }
}

template <class T>
void batch_norm_reduce_naive(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, int64_t N,
                             int64_t C, int64_t S) {
  for (int64_t c = 0; c < C; ++c) {
    double a = 0, b = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const int64_t at = (n * C + c) * S + i;
        a += static_cast<double>(dy[at]);
        b += static_cast<double>(dy[at]) * (static_cast<double>(x[at]) - mean[c]);
      }
    sum_dy[c] = a;
    sum_dyxc[c] = b;
  }
}

template <class T>
void batch_norm_grad_input_naive(T* dx, const T* dy, const T* x, const double* mean, const math::BnGradCoef* k,
                                 int64_t N, int64_t C, int64_t S) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) {
        const int64_t at = (n * C + c) * S + i;
        dx[at] = math::bn_grad_input(dy[at], x[at], mean[c], k[c]);
      }
}

// ---------------------------------------------------------------------------------------------
// fused
// ---------------------------------------------------------------------------------------------

namespace {

constexpr int64_t kGrain = 1 << 15;

PB_INLINE int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Lane sums: 4 vectors of 8 doubles (GCC vector extensions: the same lanes and order on every
// ISA build, compiled to zmm on AVX-512, ymm pairs on AVX2, xmm quads on the baseline), 32
// elements per step, the leftover (< 32) summed in order into a scalar.
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
constexpr int kV = 4, kStep = 8 * kV;

PB_INLINE v8d load8(const float* p) {
  v8f f;
  __builtin_memcpy(&f, p, sizeof f);
  return __builtin_convertvector(f, v8d);
}
PB_INLINE v8d load8(const double* p) {
  v8d d;
  __builtin_memcpy(&d, p, sizeof d);
  return d;
}

struct Lanes {
  v8d v[kV];
  double tail;
};
PB_INLINE void lanes_zero(Lanes& a) {
  for (int k = 0; k < kV; ++k) a.v[k] = v8d{} ;
  a.tail = 0;
}
PB_INLINE double lanes_total(const Lanes& a) {  // fixed order
  const v8d s = (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]);
  return (((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))) + a.tail;
}

// acc += x
template <class T> PB_INLINE void lanes_sum(Lanes& acc, const T* __restrict x, int64_t len) {
  int64_t i = 0;
  for (; i + kStep <= len; i += kStep)
    for (int k = 0; k < kV; ++k) acc.v[k] += load8(x + i + 8 * k);
  for (; i < len; ++i) acc.tail += static_cast<double>(x[i]);
}

// a1 += x - m, a2 += (x - m)^2
template <class T> PB_INLINE void lanes_dev(Lanes& a1, Lanes& a2, const T* __restrict x, int64_t len, double m) {
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

// S > 1: calls f(offset, planes, len) for the sub-chunks of item k of channel c: `planes` runs of
// `len` contiguous elements, the first at `offset`, the others C*S apart.
template <class F>
PB_INLINE void for_each_sub(const BnPartition& p, int64_t N, int64_t C, int64_t S, int64_t c, int64_t k, F f) {
  if (S >= kBnItem) {
    const int64_t n = k / p.pieces, s0 = (k % p.pieces) * kBnItem, s1 = min64(S, s0 + kBnItem);
    for (int64_t s = s0; s < s1; s += kBnSub) f((n * C + c) * S + s, int64_t(1), min64(kBnSub, s1 - s));
    return;
  }
  const int64_t n0 = k * p.rows, n1 = min64(N, n0 + p.rows);
  if (S >= kBnSub) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t s = 0; s < S; s += kBnSub) f((n * C + c) * S + s, int64_t(1), min64(kBnSub, S - s));
  } else {
    const int64_t g = kBnSub / S;
    for (int64_t n = n0; n < n1; n += g) f((n * C + c) * S, min64(g, n1 - n), S);
  }
}

// Number of values of one channel in item k.
PB_INLINE double item_count(const BnPartition& p, int64_t N, int64_t S, int64_t k) {
  if (S >= kBnItem) {
    const int64_t s0 = (k % p.pieces) * kBnItem;
    return static_cast<double>(min64(S, s0 + kBnItem) - s0);
  }
  const int64_t n0 = k * p.rows;
  return static_cast<double>(min64(N, n0 + p.rows) - n0) * static_cast<double>(S);
}

// Merge a sub-chunk's two-pass results (count, mean m, sums of d = x - m and d^2) into (n, mean, m2).
PB_INLINE void merge_sub(double& n, double& mean, double& m2, double cnt, double m, double s1, double s2) {
  double sub_m2 = s2 - s1 * s1 / cnt;  // corrected two-pass: removes the rounding of m
  if (sub_m2 < 0) sub_m2 = 0;
  math::chan_merge(n, mean, m2, cnt, m + s1 / cnt, sub_m2);
}

template <class T>
PB_INLINE void stats_item_planes(double* work, const T* x, const BnPartition& p, int64_t N, int64_t C, int64_t S,
                                 int64_t c, int64_t k) {
  const int64_t stride = C * S;
  double n = 0, mean = 0, m2 = 0;
  for_each_sub(p, N, C, S, c, k, [&](int64_t off, int64_t planes, int64_t len) {
    Lanes acc, a1, a2;
    lanes_zero(acc);
    for (int64_t q = 0; q < planes; ++q) lanes_sum(acc, x + off + q * stride, len);
    const double cnt = static_cast<double>(planes * len), m = lanes_total(acc) / cnt;
    lanes_zero(a1);
    lanes_zero(a2);
    for (int64_t q = 0; q < planes; ++q) lanes_dev(a1, a2, x + off + q * stride, len, m);
    merge_sub(n, mean, m2, cnt, m, lanes_total(a1), lanes_total(a2));
  });
  work[(c * p.nk + k) * 2] = mean;
  work[(c * p.nk + k) * 2 + 1] = m2;
}

// S == 1: rows [n0, n1) x channels [c0, c0 + cw), vectorized across channels.
template <class T>
PB_INLINE void stats_item_rows(double* work, const T* x, const BnPartition& p, int64_t N, int64_t C, int64_t j,
                               int64_t k) {
  const int64_t c0 = j * p.cb, cw = min64(p.cb, C - c0);
  const int64_t n0 = k * p.rows, n1 = min64(N, n0 + p.rows);
  const int64_t g = kBnSub / cw > 1 ? kBnSub / cw : 1;
  double mean[kBnMaxCb], m2[kBnMaxCb], m[kBnMaxCb], s1[kBnMaxCb], s2[kBnMaxCb];
  for (int64_t c = 0; c < cw; ++c) mean[c] = m2[c] = 0;
  double n = 0;
  for (int64_t r0 = n0; r0 < n1; r0 += g) {
    const int64_t r1 = min64(n1, r0 + g);
    const double cnt = static_cast<double>(r1 - r0);
    for (int64_t c = 0; c < cw; ++c) m[c] = s1[c] = s2[c] = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict row = x + r * C + c0;
      for (int64_t c = 0; c < cw; ++c) m[c] += static_cast<double>(row[c]);
    }
    for (int64_t c = 0; c < cw; ++c) m[c] /= cnt;
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict row = x + r * C + c0;
      for (int64_t c = 0; c < cw; ++c) {
        const double d = static_cast<double>(row[c]) - m[c];
        s1[c] += d;
        s2[c] += d * d;
      }
    }
    for (int64_t c = 0; c < cw; ++c) {
      double nc = n;
      merge_sub(nc, mean[c], m2[c], cnt, m[c], s1[c], s2[c]);
    }
    n += cnt;
  }
  for (int64_t c = 0; c < cw; ++c) {
    work[((c0 + c) * p.nk + k) * 2] = mean[c];
    work[((c0 + c) * p.nk + k) * 2 + 1] = m2[c];
  }
}

template <class T>
PB_INLINE void reduce_item_planes(double* work, const T* dy, const T* x, const double* mean, const BnPartition& p,
                                  int64_t N, int64_t C, int64_t S, int64_t c, int64_t k) {
  const int64_t stride = C * S;
  Lanes a1, a2;
  lanes_zero(a1);
  lanes_zero(a2);
  for_each_sub(p, N, C, S, c, k, [&](int64_t off, int64_t planes, int64_t len) {
    for (int64_t q = 0; q < planes; ++q) lanes_dot(a1, a2, dy + off + q * stride, x + off + q * stride, len, mean[c]);
  });
  work[(c * p.nk + k) * 2] = lanes_total(a1);
  work[(c * p.nk + k) * 2 + 1] = lanes_total(a2);
}

template <class T>
PB_INLINE void reduce_item_rows(double* work, const T* dy, const T* x, const double* mean, const BnPartition& p,
                                int64_t N, int64_t C, int64_t j, int64_t k) {
  const int64_t c0 = j * p.cb, cw = min64(p.cb, C - c0);
  const int64_t n0 = k * p.rows, n1 = min64(N, n0 + p.rows);
  double a1[kBnMaxCb], a2[kBnMaxCb];
  for (int64_t c = 0; c < cw; ++c) a1[c] = a2[c] = 0;
  const double* __restrict mu = mean + c0;
  for (int64_t r = n0; r < n1; ++r) {
    const T* __restrict g = dy + r * C + c0;
    const T* __restrict v = x + r * C + c0;
    for (int64_t c = 0; c < cw; ++c) {
      a1[c] += static_cast<double>(g[c]);
      a2[c] += static_cast<double>(g[c]) * (static_cast<double>(v[c]) - mu[c]);
    }
  }
  for (int64_t c = 0; c < cw; ++c) {
    work[((c0 + c) * p.nk + k) * 2] = a1[c];
    work[((c0 + c) * p.nk + k) * 2 + 1] = a2[c];
  }
}

// Runs item(j, k) over every item of the partition, threaded (static split of the item list).
template <class F> PB_INLINE void for_each_item(const BnPartition& p, F item) {
  parallel_for(p.nj * p.nk, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; ++it) item(it / p.nk, it % p.nk);
  });
}

// Element-wise passes: calls f(row, col0, col1, offset) on the pieces of rows of length L
// (offset = flat index of (row, col0)), the flat range split across threads.
template <class F> PB_INLINE void for_each_segment(int64_t rows, int64_t L, F f) {
  parallel_for(rows * L, kGrain, [&](int64_t b, int64_t e) {
    int64_t r = b / L, c = b % L;
    while (b < e) {
      const int64_t len = min64(L - c, e - b);
      f(r, c, c + len, b);
      b += len;
      ++r;
      c = 0;
    }
  });
}

}  // namespace

template <class T>
void batch_norm_stats_fused(double* mean, double* var, const T* x, int64_t N, int64_t C, int64_t S, double* work) {
  const BnPartition p = bn_partition(N, C, S);
  for_each_item(p, [&](int64_t j, int64_t k) {
    if (S > 1) stats_item_planes(work, x, p, N, C, S, j, k);
    else stats_item_rows(work, x, p, N, C, j, k);
  });
  const double total = static_cast<double>(N) * static_cast<double>(S);
  for (int64_t c = 0; c < C; ++c) {
    double n = 0, mu = 0, m2 = 0;
    for (int64_t k = 0; k < p.nk; ++k)
      math::chan_merge(n, mu, m2, item_count(p, N, S, k), work[(c * p.nk + k) * 2], work[(c * p.nk + k) * 2 + 1]);
    mean[c] = mu;
    var[c] = m2 / total;
  }
}

// Per-element work in T (math::bn_apply_t): float32 stays float32 in the loop, which keeps the
// pass memory-bound (the double form costs ~11 vector ops per 16 floats instead of 3).
template <class T>
void batch_norm_apply_fused(T* y, const T* x, const double* mean, const double* scale, const double* shift, int64_t N,
                            int64_t C, int64_t S) {
  if (S > 1) {
    for_each_segment(N * C, S, [&](int64_t q, int64_t s0, int64_t s1, int64_t off) {
      const int64_t c = q % C;
      const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
      const T a = static_cast<T>(scale[c]), b = static_cast<T>(shift[c]);
      T* __restrict yo = y + off;
      const T* __restrict xi = x + off;
      for (int64_t i = 0; i < s1 - s0; ++i) yo[i] = math::bn_apply_t(xi[i], m.hi, m.lo, a, b);
    });
    return;
  }
  T* coef = new T[4 * C];  // mean hi, mean lo, scale, shift in T, per channel
  for (int64_t c = 0; c < C; ++c) {
    const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
    coef[c] = m.hi;
    coef[C + c] = m.lo;
    coef[2 * C + c] = static_cast<T>(scale[c]);
    coef[3 * C + c] = static_cast<T>(shift[c]);
  }
  for_each_segment(N, C, [&](int64_t, int64_t c0, int64_t c1, int64_t off) {
    T* __restrict yo = y + off;
    const T* __restrict xi = x + off;
    const T* __restrict mh = coef + c0;
    const T* __restrict ml = coef + C + c0;
    const T* __restrict a = coef + 2 * C + c0;
    const T* __restrict b = coef + 3 * C + c0;
    for (int64_t i = 0; i < c1 - c0; ++i) yo[i] = math::bn_apply_t(xi[i], mh[i], ml[i], a[i], b[i]);
  });
  delete[] coef;
}

template <class T>
void batch_norm_reduce_fused(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, int64_t N,
                             int64_t C, int64_t S, double* work) {
  const BnPartition p = bn_partition(N, C, S);
  for_each_item(p, [&](int64_t j, int64_t k) {
    if (S > 1) reduce_item_planes(work, dy, x, mean, p, N, C, S, j, k);
    else reduce_item_rows(work, dy, x, mean, p, N, C, j, k);
  });
  for (int64_t c = 0; c < C; ++c) {
    double a = 0, b = 0;
    for (int64_t k = 0; k < p.nk; ++k) {
      a += work[(c * p.nk + k) * 2];
      b += work[(c * p.nk + k) * 2 + 1];
    }
    sum_dy[c] = a;
    sum_dyxc[c] = b;
  }
}

template <class T>
void batch_norm_grad_input_fused(T* dx, const T* dy, const T* x, const double* mean, const math::BnGradCoef* k,
                                 int64_t N, int64_t C, int64_t S) {
  if (S > 1) {
    for_each_segment(N * C, S, [&](int64_t q, int64_t s0, int64_t s1, int64_t off) {
      const int64_t c = q % C;
      const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
      const T kd = static_cast<T>(k[c].k_dy), kx = static_cast<T>(k[c].k_x), kc = static_cast<T>(k[c].k_c);
      T* __restrict o = dx + off;
      const T* __restrict g = dy + off;
      const T* __restrict v = x + off;
      for (int64_t i = 0; i < s1 - s0; ++i) o[i] = math::bn_grad_input_t(g[i], v[i], m.hi, m.lo, kd, kx, kc);
    });
    return;
  }
  T* coef = new T[5 * C];  // mean hi, mean lo, k_dy, k_x, k_c in T, per channel
  for (int64_t c = 0; c < C; ++c) {
    const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
    coef[c] = m.hi;
    coef[C + c] = m.lo;
    coef[2 * C + c] = static_cast<T>(k[c].k_dy);
    coef[3 * C + c] = static_cast<T>(k[c].k_x);
    coef[4 * C + c] = static_cast<T>(k[c].k_c);
  }
  for_each_segment(N, C, [&](int64_t, int64_t c0, int64_t c1, int64_t off) {
    T* __restrict o = dx + off;
    const T* __restrict g = dy + off;
    const T* __restrict v = x + off;
    const T* __restrict mh = coef + c0;
    const T* __restrict ml = coef + C + c0;
    const T* __restrict kd = coef + 2 * C + c0;
    const T* __restrict kx = coef + 3 * C + c0;
    const T* __restrict kc = coef + 4 * C + c0;
    for (int64_t i = 0; i < c1 - c0; ++i) o[i] = math::bn_grad_input_t(g[i], v[i], mh[i], ml[i], kd[i], kx[i], kc[i]);
  });
  delete[] coef;
}

#define PB_INSTANTIATE(T)                                                                                          \
  template void batch_norm_stats_naive<T>(double*, double*, const T*, int64_t, int64_t, int64_t);                  \
  template void batch_norm_stats_fused<T>(double*, double*, const T*, int64_t, int64_t, int64_t, double*);         \
  template void batch_norm_apply_naive<T>(T*, const T*, const double*, const double*, const double*, int64_t,      \
                                          int64_t, int64_t);                                                       \
  template void batch_norm_apply_fused<T>(T*, const T*, const double*, const double*, const double*, int64_t,      \
                                          int64_t, int64_t);                                                       \
  template void batch_norm_reduce_naive<T>(double*, double*, const T*, const T*, const double*, int64_t, int64_t,  \
                                           int64_t);                                                               \
  template void batch_norm_reduce_fused<T>(double*, double*, const T*, const T*, const double*, int64_t, int64_t,  \
                                           int64_t, double*);                                                      \
  template void batch_norm_grad_input_naive<T>(T*, const T*, const T*, const double*, const math::BnGradCoef*,     \
                                               int64_t, int64_t, int64_t);                                         \
  template void batch_norm_grad_input_fused<T>(T*, const T*, const T*, const double*, const math::BnGradCoef*,     \
                                               int64_t, int64_t, int64_t);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
