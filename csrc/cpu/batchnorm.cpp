// BatchNorm passes over (N, C, S) data (S = H*W, or 1 for (N, C)); csrc/math/batchnorm.h has the
// formulas, csrc/ops/batchnorm.cpp the per-channel glue. This file: naive and fused;
// batchnorm_channel.cpp: l3 and pipe; batchnorm_internal.h: what both use.
// naive: single thread, channel by channel, plain two-pass statistics in double.
// fused: threaded over the fixed partition of cpu/batchnorm.h; statistics in one read of x (sums
//        around a pivot per piece: see run_stats; pieces merged with Chan's formula in fixed order).
//        Fixed vector lanes and combines: bitwise reproducible for any thread count.
// l3:    backward only, S > 1: per channel, the dx pass right after the sums pass (dy, x from cache).
// pipe:  S > 1: the reading pass of channel c interleaved with the writing pass of channel c - 1.
// Two reads of x (of dy and x backward) and a channel's planes sharing L3 sets keep these passes
// near 60% of a copy at (64, 64, 128, 128); measurements, variants tried: docs/kernels/batchnorm.md.
#include "cpu/batchnorm_internal.h"

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

// ---- S > 1: the items of the partition (lane sums, run statistics: cpu/batchnorm_internal.h).

// S >= kBnItem: item k of channel c is piece k % pieces of plane k / pieces.
template <class T>
PB_INLINE void stats_item_piece(double* work, const T* x, const BnPartition& p, int64_t C, int64_t S, int64_t c,
                                int64_t k) {
  const int64_t n = k / p.pieces, s0 = (k % p.pieces) * kBnItem, s1 = min64(S, s0 + kBnItem);
  double mean, m2;
  piece_stats(x + (n * C + c) * S, s0, s1, mean, m2);
  work[k * 2 * C + c] = mean;
  work[k * 2 * C + C + c] = m2;
}

template <class T>
PB_INLINE void reduce_item_piece(double* work, const T* dy, const T* x, const double* mean, const BnPartition& p,
                                 int64_t C, int64_t S, int64_t c, int64_t k) {
  const int64_t n = k / p.pieces, s0 = (k % p.pieces) * kBnItem, s1 = min64(S, s0 + kBnItem);
  const int64_t off = (n * C + c) * S + s0;
  Lanes a1, a2;
  lanes_zero(a1);
  lanes_zero(a2);
  lanes_dot(a1, a2, dy + off, x + off, s1 - s0, mean[c]);
  work[k * 2 * C + c] = lanes_total(a1);
  work[k * 2 * C + C + c] = lanes_total(a2);
}

// 1 < S < kBnItem: item (j, k) = rows [n0, n1) x channels [c0, c1), planes in memory order.
template <class T>
PB_INLINE void stats_item_planes(double* work, const T* x, const BnPartition& p, int64_t N, int64_t C, int64_t S,
                                 int64_t j, int64_t k) {
  const int64_t c0 = j * p.cb, c1 = min64(C, c0 + p.cb), n0 = k * p.rows, n1 = min64(N, n0 + p.rows);
  double* mean = work + k * 2 * C;
  double* m2 = mean + C;
  for (int64_t c = c0; c < c1; ++c) mean[c] = m2[c] = 0;
  for (int64_t n = n0; n < n1; ++n) {
    const double before = static_cast<double>(n - n0) * static_cast<double>(S);  // values merged per channel
    if (S <= kBnSub) {
      double w_mean, w_m2;  // the same for every channel
      math::chan_weights(before, static_cast<double>(S), w_mean, w_m2);
      for (int64_t c = c0; c < c1; ++c) {
        double pm, pm2;
        run_stats(x + (n * C + c) * S, S, pm, pm2);
        math::chan_merge_w(mean[c], m2[c], pm, pm2, w_mean, w_m2);
      }
    } else {
      for (int64_t c = c0; c < c1; ++c) plane_runs_merge(x + (n * C + c) * S, S, before, mean[c], m2[c]);
    }
  }
}

template <class T>
PB_INLINE void reduce_item_planes(double* work, const T* dy, const T* x, const double* mean, const BnPartition& p,
                                  int64_t N, int64_t C, int64_t S, int64_t j, int64_t k) {
  const int64_t c0 = j * p.cb, c1 = min64(C, c0 + p.cb), n0 = k * p.rows, n1 = min64(N, n0 + p.rows);
  double* s1 = work + k * 2 * C;
  double* s2 = s1 + C;
  for (int64_t c = c0; c < c1; ++c) s1[c] = s2[c] = 0;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t c = c0; c < c1; ++c) {
      Lanes a1, a2;
      lanes_zero(a1);
      lanes_zero(a2);
      lanes_dot(a1, a2, dy + (n * C + c) * S, x + (n * C + c) * S, S, mean[c]);
      s1[c] += lanes_total(a1);
      s2[c] += lanes_total(a2);
    }
}

// ---- S == 1: a band of `rows` rows x 8*NV channels (x at the band's first element, rows ld
// apart), accumulators in registers. band_stats: one-pass mean/M2 of each channel in the band
// (pivot: the band's first row, as run_stats), merged into the item's running (mean, m2) with
// weights shared by all channels (equal counts).

template <int NV, class T>
PB_INLINE void band_stats(double* mean, double* m2, const T* x, int64_t ld, int64_t rows, double inv, double w_mean,
                          double w_m2) {
  v8d k[NV], s1[NV], s2[NV];
  for (int v = 0; v < NV; ++v) {
    k[v] = load8(x + 8 * v);
    s1[v] = s2[v] = v8d{};
  }
  for (int64_t r = 1; r < rows; ++r)
    for (int v = 0; v < NV; ++v) {
      const v8d d = load8(x + r * ld + 8 * v) - k[v];
      s1[v] += d;
      s2[v] += d * d;
    }
  for (int v = 0; v < NV; ++v) {
    v8d am = load8(mean + 8 * v), a2 = load8(m2 + 8 * v);
    math::chan_merge_w(am, a2, k[v] + s1[v] * inv, s2[v] - s1[v] * s1[v] * inv, w_mean, w_m2);
    store8(mean + 8 * v, am);
    store8(m2 + 8 * v, a2);
  }
}
template <class T>
PB_INLINE void band_stats1(double* mean, double* m2, const T* x, int64_t ld, int64_t rows, double inv, double w_mean,
                           double w_m2) {
  const double k = static_cast<double>(x[0]);
  double s1 = 0, s2 = 0;
  for (int64_t r = 1; r < rows; ++r) {
    const double d = static_cast<double>(x[r * ld]) - k;
    s1 += d;
    s2 += d * d;
  }
  math::chan_merge_w(*mean, *m2, k + s1 * inv, s2 - s1 * s1 * inv, w_mean, w_m2);
}

// band_dot: sum_dy += sum(dy), sum_dyxc += sum(dy * (x - mean)) over the band.
template <int NV, class T>
PB_INLINE void band_dot(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, int64_t ld, int64_t rows,
                        const double* mean) {
  v8d a1[NV], a2[NV], m[NV];
  for (int v = 0; v < NV; ++v) {
    a1[v] = a2[v] = v8d{};
    m[v] = load8(mean + 8 * v);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int v = 0; v < NV; ++v) {
      const v8d g = load8(dy + r * ld + 8 * v);
      a1[v] += g;
      a2[v] += g * (load8(x + r * ld + 8 * v) - m[v]);
    }
  for (int v = 0; v < NV; ++v) {
    store8(sum_dy + 8 * v, load8(sum_dy + 8 * v) + a1[v]);
    store8(sum_dyxc + 8 * v, load8(sum_dyxc + 8 * v) + a2[v]);
  }
}
template <class T>
PB_INLINE void band_dot1(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, int64_t ld, int64_t rows,
                         const double* mean) {
  double a1 = 0, a2 = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const double g = static_cast<double>(dy[r * ld]);
    a1 += g;
    a2 += g * (static_cast<double>(x[r * ld]) - *mean);
  }
  *sum_dy += a1;
  *sum_dyxc += a2;
}

// Item k = rows [n0, n1), all channels, band by band; its partials accumulate in place.
template <class T>
PB_INLINE void stats_item_rows(double* work, const T* x, const BnPartition& p, int64_t N, int64_t C, int64_t k) {
  const int64_t n0 = k * p.rows, n1 = min64(N, n0 + p.rows);
  double* mean = work + k * 2 * C;
  double* m2 = mean + C;
  for (int64_t c = 0; c < 2 * C; ++c) mean[c] = 0;
  double n = 0;
  for (int64_t r0 = n0; r0 < n1; r0 += p.band) {
    const int64_t rows = min64(p.band, n1 - r0);
    const double cnt = static_cast<double>(rows), inv = 1.0 / cnt;
    double w_mean, w_m2;
    math::chan_weights(n, cnt, w_mean, w_m2);
    const T* xr = x + r0 * C;
    int64_t c = 0;
    for (; c + 64 <= C; c += 64) band_stats<8>(mean + c, m2 + c, xr + c, C, rows, inv, w_mean, w_m2);
    for (; c + 8 <= C; c += 8) band_stats<1>(mean + c, m2 + c, xr + c, C, rows, inv, w_mean, w_m2);
    for (; c < C; ++c) band_stats1(mean + c, m2 + c, xr + c, C, rows, inv, w_mean, w_m2);
    n += cnt;
  }
}

constexpr int64_t kBnDotBandElems = 2048;

template <class T>
PB_INLINE void reduce_item_rows(double* work, const T* dy, const T* x, const double* mean, const BnPartition& p,
                                int64_t N, int64_t C, int64_t k) {
  const int64_t n0 = k * p.rows, n1 = min64(N, n0 + p.rows);
  double* s1 = work + k * 2 * C;
  double* s2 = s1 + C;
  for (int64_t c = 0; c < 2 * C; ++c) s1[c] = 0;
  // Bands of about kBnSub elements: no second pass here, and with long rows every band row is a
  // separate DRAM stream (8 rows x 2 arrays looked slower than 2 x 2 at C = 1024; noisy).
  const int64_t band = kBnDotBandElems / C > 1 ? kBnDotBandElems / C : 1;
  for (int64_t r0 = n0; r0 < n1; r0 += band) {
    const int64_t rows = min64(band, n1 - r0);
    const T* g = dy + r0 * C;
    const T* v = x + r0 * C;
    int64_t c = 0;
    for (; c + 64 <= C; c += 64) band_dot<8>(s1 + c, s2 + c, g + c, v + c, C, rows, mean + c);
    for (; c + 8 <= C; c += 8) band_dot<1>(s1 + c, s2 + c, g + c, v + c, C, rows, mean + c);
    for (; c < C; ++c) band_dot1(s1 + c, s2 + c, g + c, v + c, C, rows, mean + c);
  }
}

// ---- both layouts

// Runs item(j, k) over every item of the partition, threaded (static split of the item list).
template <class F> PB_INLINE void for_each_item(const BnPartition& p, F item) {
  parallel_for(p.nj * p.nk, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; ++it) item(it % p.nj, it / p.nj);  // row-block-major: memory order
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
    stream_fence();  // the streaming stores of this thread's pieces (cpu/elementwise.h)
  });
}

// ---- element-wise passes over (N, C) data: units of kBnBand rows x up to kBnColChunk channels.
// Rows are cut only when long: when C * sizeof(T) is a multiple of 4 KiB, the first loads of a
// row 4K-alias the stores just made and wait for them, once per cut (docs/kernels/batchnorm.md).
constexpr int64_t kBnColChunk = 8192;
// Coefficient rows are C + kCoefPad apart so that they do not share their offset within a 4 KiB
// page when C * sizeof(T) is a multiple of 4 KiB.
constexpr int64_t kCoefPad = 16;

// Calls f(r0, rows, c0, c1) on the units, threaded.
template <class F> PB_INLINE void for_each_band(int64_t N, int64_t C, F f) {
  const int64_t nb = (N + kBnBand - 1) / kBnBand, nc = (C + kBnColChunk - 1) / kBnColChunk;
  const int64_t unit = kBnBand * (C < kBnColChunk ? C : kBnColChunk);
  parallel_for(nb * nc, kGrain / unit > 1 ? kGrain / unit : 1, [&](int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; ++u) {
      const int64_t b = u / nc, j = u % nc;
      const int64_t r0 = b * kBnBand, c0 = j * kBnColChunk;
      f(r0, min64(kBnBand, N - r0), c0, min64(C, c0 + kBnColChunk));
    }
    stream_fence();
  });
}

}  // namespace

template <class T>
void batch_norm_stats_fused(double* mean, double* var, const T* x, int64_t N, int64_t C, int64_t S, double* work) {
  const BnPartition p = bn_partition(N, C, S);
  for_each_item(p, [&](int64_t j, int64_t k) {
    if (S >= kBnItem) stats_item_piece(work, x, p, C, S, j, k);
    else if (S > 1) stats_item_planes(work, x, p, N, C, S, j, k);
    else stats_item_rows(work, x, p, N, C, k);
  });
  // Combine the items in order (k outer: the weights depend on the counts only).
  const double total = static_cast<double>(N) * static_cast<double>(S);
  double* m2 = var;
  for (int64_t c = 0; c < C; ++c) mean[c] = m2[c] = 0;
  double n = 0;
  for (int64_t k = 0; k < p.nk; ++k) {
    const double cnt = item_count(p, N, S, k);
    double w_mean, w_m2;
    math::chan_weights(n, cnt, w_mean, w_m2);
    const double* wk = work + k * 2 * C;
    for (int64_t c = 0; c < C; ++c) math::chan_merge_w(mean[c], m2[c], wk[c], wk[C + c], w_mean, w_m2);
    n += cnt;
  }
  for (int64_t c = 0; c < C; ++c) var[c] = m2[c] > 0 ? m2[c] / total : 0.0;  // rounding can leave -tiny
}

// Per-element work in T (math::bn_apply_t): float32 stays float32, which keeps the pass
// memory-bound (the double form needs more vector ops per float). Outputs of kStreamBytes or
// more are written with streaming stores (map_slice, cpu/elementwise.h: no read-for-ownership).
template <class T>
void batch_norm_apply_fused(T* y, const T* x, const double* mean, const double* scale, const double* shift, int64_t N,
                            int64_t C, int64_t S) {
  const bool nt = stream_out(N * C * S, sizeof(T));
  if (S > 1) {
    for_each_segment(N * C, S, [&](int64_t q, int64_t s0, int64_t s1, int64_t off) {
      const int64_t c = q % C;
      const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
      const T a = static_cast<T>(scale[c]), b = static_cast<T>(shift[c]);
      map_slice(y + off, 0, s1 - s0, nt, [m, a, b](auto v) {
        using V = decltype(v);
        return math::bn_apply_t(v, V(m.hi), V(m.lo), V(a), V(b));
      }, x + off);
    });
    return;
  }
  // mean hi, mean lo, scale, shift in T, per channel; rows ld apart (padded: see kCoefPad)
  const int64_t ld = C + kCoefPad;
  T* coef = new T[4 * ld];
  for (int64_t c = 0; c < C; ++c) {
    const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
    coef[c] = m.hi;
    coef[ld + c] = m.lo;
    coef[2 * ld + c] = static_cast<T>(scale[c]);
    coef[3 * ld + c] = static_cast<T>(shift[c]);
  }
  for_each_band(N, C, [=](int64_t r0, int64_t rows, int64_t c0, int64_t c1) {
    const T* mh = coef + c0;
    const T* ml = coef + ld + c0;
    const T* a = coef + 2 * ld + c0;
    const T* b = coef + 3 * ld + c0;
    for (int64_t r = r0; r < r0 + rows; ++r)
      map_slice(y + r * C + c0, 0, c1 - c0, nt, [](auto v, auto h, auto l, auto sc, auto sh) {
        return math::bn_apply_t(v, h, l, sc, sh);
      }, x + r * C + c0, mh, ml, a, b);
  });
  delete[] coef;
}

template <class T>
void batch_norm_reduce_fused(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, int64_t N,
                             int64_t C, int64_t S, double* work) {
  const BnPartition p = bn_partition(N, C, S);
  for_each_item(p, [&](int64_t j, int64_t k) {
    if (S >= kBnItem) reduce_item_piece(work, dy, x, mean, p, C, S, j, k);
    else if (S > 1) reduce_item_planes(work, dy, x, mean, p, N, C, S, j, k);
    else reduce_item_rows(work, dy, x, mean, p, N, C, k);
  });
  for (int64_t c = 0; c < C; ++c) sum_dy[c] = sum_dyxc[c] = 0;
  for (int64_t k = 0; k < p.nk; ++k) {  // in item order
    const double* wk = work + k * 2 * C;
    for (int64_t c = 0; c < C; ++c) {
      sum_dy[c] += wk[c];
      sum_dyxc[c] += wk[C + c];
    }
  }
}

template <class T>
void batch_norm_grad_input_fused(T* dx, const T* dy, const T* x, const double* mean, const math::BnGradCoef* k,
                                 int64_t N, int64_t C, int64_t S) {
  bool uses_x = false;  // eval mode (k_x = k_c = 0): dx = k_dy * dy, x is not read at all
  for (int64_t c = 0; c < C; ++c) uses_x = uses_x || k[c].k_x != 0 || k[c].k_c != 0;
  const bool nt = stream_out(N * C * S, sizeof(T));  // streaming stores: see batch_norm_apply_fused
  if (S > 1) {
    for_each_segment(N * C, S, [&](int64_t q, int64_t s0, int64_t s1, int64_t off) {
      const int64_t c = q % C;
      const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
      const T kd = static_cast<T>(k[c].k_dy), kx = static_cast<T>(k[c].k_x), kc = static_cast<T>(k[c].k_c);
      if (uses_x)
        map_slice(dx + off, 0, s1 - s0, nt, [m, kd, kx, kc](auto g, auto v) {
          using V = decltype(v);
          return math::bn_grad_input_t(g, v, V(m.hi), V(m.lo), V(kd), V(kx), V(kc));
        }, dy + off, x + off);
      else
        map_slice(dx + off, 0, s1 - s0, nt, [kd](auto g) { return decltype(g)(kd) * g; }, dy + off);
    });
    return;
  }
  // mean hi, mean lo, k_dy, k_x, k_c in T, per channel; rows ld apart (padded: see kCoefPad)
  const int64_t ld = C + kCoefPad;
  T* coef = new T[5 * ld];
  for (int64_t c = 0; c < C; ++c) {
    const math::BnSplitMean<T> m = math::bn_split_mean<T>(mean[c]);
    coef[c] = m.hi;
    coef[ld + c] = m.lo;
    coef[2 * ld + c] = static_cast<T>(k[c].k_dy);
    coef[3 * ld + c] = static_cast<T>(k[c].k_x);
    coef[4 * ld + c] = static_cast<T>(k[c].k_c);
  }
  for_each_band(N, C, [=](int64_t r0, int64_t rows, int64_t c0, int64_t c1) {
    const T* mh = coef + c0;
    const T* ml = coef + ld + c0;
    const T* kd = coef + 2 * ld + c0;
    const T* kx = coef + 3 * ld + c0;
    const T* kc = coef + 4 * ld + c0;
    for (int64_t r = r0; r < r0 + rows; ++r) {
      T* o = dx + r * C + c0;
      const T* g = dy + r * C + c0;
      const T* v = x + r * C + c0;
      if (uses_x)
        map_slice(o, 0, c1 - c0, nt, [](auto g_, auto v_, auto h, auto l, auto a, auto b, auto c) {
          return math::bn_grad_input_t(g_, v_, h, l, a, b, c);
        }, g, v, mh, ml, kd, kx, kc);
      else
        map_slice(o, 0, c1 - c0, nt, [](auto g_, auto a) { return a * g_; }, g, kd);
    }
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
