// BatchNorm, the per-channel impls for S > 1 (see batchnorm.cpp's header for the overview of all
// impls): l3 (backward) and pipe (forward; its backward lives in dev/kernels/batch_norm). Their sums are fused's / l3's (the shared
// helpers of cpu/batchnorm_internal.h), combined in the same order: bitwise the same results.
#include "cpu/batchnorm_internal.h"

namespace pb::cpu::PB_ISA_NS {

// ---------------------------------------------------------------------------------------------
// l3: backward for S > 1 (NCHW), channel by channel: the dx pass runs right after the channel's
// sums pass, while dy and x are still in cache, so memory sees dy, x and dx about once each
// instead of fused's dy, x twice. Whole channels per thread when C >= 4 * threads (no barrier),
// else all threads on a group of channels of at most kBnL3Bytes (a barrier after the sums).
// dx walks the planes last to first (the most recently read first). The sums use the fixed items
// of a channel, combined in order: bitwise the same for any thread count. Measurements and why it
// stays near 60% of copy: docs/kernels/batchnorm.md.
// ---------------------------------------------------------------------------------------------

namespace {

// Channel c whole, on the calling thread: the sums over its items (the fixed partition of
// batch_norm_backward_l3: planes [b R, b R + R), combined in order), then dx, planes last to first.
template <class T>
PB_INLINE void bn_l3_channel(T* dx, double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean,
                             const double* invstd, const double* weight, int64_t N, int64_t C, int64_t S,
                             bool training, bool nt, int64_t c) {
  const int64_t R = kBnItem / S > 1 ? kBnItem / S : 1;
  double s1 = 0, s2 = 0;
  for (int64_t n0 = 0; n0 < N; n0 += R) {
    double i1, i2;
    planes_dot(i1, i2, dy, x, mean[c], n0, min64(N, n0 + R), C, S, c);
    s1 += i1;
    s2 += i2;
  }
  sum_dy[c] = s1;
  sum_dyxc[c] = s2;
  const double m = static_cast<double>(N) * static_cast<double>(S);
  const math::BnGradCoef k = math::bn_grad_coef(weight[c], invstd[c], s1, s2, m, training);
  const math::BnSplitMean<T> sm = math::bn_split_mean<T>(mean[c]);
  const T kd = static_cast<T>(k.k_dy), kx = static_cast<T>(k.k_x), kc = static_cast<T>(k.k_c);
  for (int64_t n = N - 1; n >= 0; --n) {
    const int64_t off = (n * C + c) * S;
    map_slice(dx + off, 0, S, nt, [sm, kd, kx, kc](auto gv, auto v) {
      using V = decltype(v);
      return math::bn_grad_input_t(gv, v, V(sm.hi), V(sm.lo), V(kd), V(kx), V(kc));
    }, dy + off, x + off);
  }
}

}  // namespace

template <class T>
void batch_norm_backward_l3(T* dx, double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean,
                            const double* invstd, const double* weight, int64_t N, int64_t C, int64_t S,
                            bool training, double* work) {
  const bool nt = stream_out(N * C * S, sizeof(T));
  // Enough channels for every thread: each thread takes whole channels (no barrier between the
  // passes; its channel's dy and x stay in its L2 and the shared L3 between them). Measurements:
  // docs/kernels/batchnorm.md.
  if (C >= 4 * static_cast<int64_t>(max_threads())) {
    parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        bn_l3_channel(dx, sum_dy, sum_dyxc, dy, x, mean, invstd, weight, N, C, S, training, nt, c);
      if (nt) stream_fence();
    });
    return;
  }
  // Few channels: all threads on one group of channels at a time.
  const int64_t G = bn_l3_group(N, S, sizeof(T));                                 // channels per group
  const int64_t R = kBnItem / S > 1 ? kBnItem / S : 1;                            // planes per item
  const int64_t nb = (N + R - 1) / R;                                              // items per channel
  const double m = static_cast<double>(N) * static_cast<double>(S);
  for (int64_t c0 = 0; c0 < C; c0 += G) {
    const int64_t g = min64(G, C - c0);
    // sums: item it = (channel c0 + it / nb, planes [b R, b R + R) with b = it % nb)
    parallel_for(g * nb, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t it = lo; it < hi; ++it) {
        const int64_t c = c0 + it / nb, n0 = (it % nb) * R, n1 = min64(N, n0 + R);
        double s1, s2;
        planes_dot(s1, s2, dy, x, mean[c], n0, n1, C, S, c);
        work[2 * it] = s1;
        work[2 * it + 1] = s2;
      }
    });
    for (int64_t j = 0; j < g; ++j) {
      double s1 = 0, s2 = 0;
      for (int64_t b = 0; b < nb; ++b) {  // item order
        s1 += work[2 * (j * nb + b)];
        s2 += work[2 * (j * nb + b) + 1];
      }
      sum_dy[c0 + j] = s1;
      sum_dyxc[c0 + j] = s2;
    }
    // dx: planes q = (n, c0 + j), j = q % g, split across threads, each thread's last first
    parallel_for(g * N, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t q = hi - 1; q >= lo; --q) {
        const int64_t c = c0 + q % g, n = q / g;
        const math::BnGradCoef k = math::bn_grad_coef(weight[c], invstd[c], sum_dy[c], sum_dyxc[c], m, training);
        const math::BnSplitMean<T> sm = math::bn_split_mean<T>(mean[c]);
        const T kd = static_cast<T>(k.k_dy), kx = static_cast<T>(k.k_x), kc = static_cast<T>(k.k_c);
        const int64_t off = (n * C + c) * S;
        map_slice(dx + off, 0, S, nt, [sm, kd, kx, kc](auto gv, auto v) {
          using V = decltype(v);
          return math::bn_grad_input_t(gv, v, V(sm.hi), V(sm.lo), V(kd), V(kx), V(kc));
        }, dy + off, x + off);
      }
      if (nt) stream_fence();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// pipe: forward (training) for S > 1 (the backward: dev/kernels/batch_norm), whole channels per thread (C >= 4 * threads,
// which bounds the imbalance to 25%; else fused / l3), no staging buffer: the reading pass of
// channel c runs interleaved, unit by unit (units: the fixed items), with the writing pass of
// channel c - 1 walking its units last to first, so memory sees reads and writes together (as in
// a copy) and the writing pass starts on the planes the cache still holds. Partials: fused's
// items (statistics) and l3's (sums), combined in item order: bitwise the same results as those.
// The forward default; l3 stays the backward default (docs/kernels/batchnorm.md).
// ---------------------------------------------------------------------------------------------

namespace {

// Forward units: S >= kBnItem: a plane (p.pieces items), else a block of p.rows planes (1 item).
PB_INLINE int64_t pipe_unit_planes(const BnPartition& p, int64_t S) { return S >= kBnItem ? 1 : p.rows; }

// Items of unit u of channel c: (mean, m2) into part[k], part[nk + k] as stats_fused's items.
template <class T>
PB_INLINE void pipe_stats_unit(double* part, int64_t nk, const T* x, const BnPartition& p, int64_t N, int64_t C,
                               int64_t S, int64_t c, int64_t u) {
  if (S >= kBnItem) {
    const T* plane = x + (u * C + c) * S;
    for (int64_t j = 0; j < p.pieces; ++j) {
      const int64_t s0 = j * kBnItem;
      double mean, m2;
      piece_stats(plane, s0, min64(S, s0 + kBnItem), mean, m2);
      part[u * p.pieces + j] = mean;
      part[nk + u * p.pieces + j] = m2;
    }
    return;
  }
  const int64_t n0 = u * p.rows, n1 = min64(N, n0 + p.rows);
  double mean = 0, m2 = 0;
  for (int64_t n = n0; n < n1; ++n) {
    const T* plane = x + (n * C + c) * S;
    const double before = static_cast<double>(n - n0) * static_cast<double>(S);
    if (S <= kBnSub) {
      double w_mean, w_m2, pm, pm2;
      math::chan_weights(before, static_cast<double>(S), w_mean, w_m2);
      run_stats(plane, S, pm, pm2);
      math::chan_merge_w(mean, m2, pm, pm2, w_mean, w_m2);
    } else {
      plane_runs_merge(plane, S, before, mean, m2);
    }
  }
  part[u] = mean;
  part[nk + u] = m2;
}

}  // namespace

template <class T>
void batch_norm_forward_pipe(T* y, double* mean, double* var, const T* x, const double* weight, const double* bias,
                             double eps, int64_t N, int64_t C, int64_t S, double* work) {
  if (S <= 1 || C < 4 * static_cast<int64_t>(max_threads())) {  // fused
    batch_norm_stats_fused(mean, var, x, N, C, S, work);
    double* scale = work;  // bn_work_size >= 2 C
    for (int64_t c = 0; c < C; ++c) scale[c] = math::bn_invstd(var[c], eps) * weight[c];
    batch_norm_apply_fused(y, x, mean, scale, bias, N, C, S);
    return;
  }
  const bool nt = stream_out(N * C * S, sizeof(T));
  const BnPartition p = bn_partition(N, C, S);
  const int64_t up = pipe_unit_planes(p, S), U = (N + up - 1) / up, nk = p.nk;
  const double total = static_cast<double>(N) * static_cast<double>(S);
  parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    double* part = new double[2 * nk];
    math::BnSplitMean<T> m{};
    T a = 0, b = 0;
    for (int64_t c = c0; c <= c1; ++c) {
      for (int64_t u = 0; u < U; ++u) {
        if (c < c1) pipe_stats_unit(part, nk, x, p, N, C, S, c, u);
        if (c > c0) {
          const int64_t v = U - 1 - u, n0 = v * up, n1 = min64(N, n0 + up);
          for (int64_t n = n1 - 1; n >= n0; --n) {
            const int64_t off = (n * C + c - 1) * S;
            map_slice(y + off, 0, S, nt, [m, a, b](auto xv) {
              using V = decltype(xv);
              return math::bn_apply_t(xv, V(m.hi), V(m.lo), V(a), V(b));
            }, x + off);
          }
        }
      }
      if (c == c1) break;
      double n = 0, mu = 0, m2 = 0;  // the items in order (batch_norm_stats_fused)
      for (int64_t k = 0; k < nk; ++k) {
        const double cnt = item_count(p, N, S, k);
        double w_mean, w_m2;
        math::chan_weights(n, cnt, w_mean, w_m2);
        math::chan_merge_w(mu, m2, part[k], part[nk + k], w_mean, w_m2);
        n += cnt;
      }
      mean[c] = mu;
      var[c] = m2 > 0 ? m2 / total : 0.0;
      m = math::bn_split_mean<T>(mu);
      a = static_cast<T>(math::bn_invstd(var[c], eps) * weight[c]);
      b = static_cast<T>(bias[c]);
    }
    if (nt) stream_fence();
    delete[] part;
  });
}

#define PB_INSTANTIATE(T)                                                                                          \
  template void batch_norm_backward_l3<T>(T*, double*, double*, const T*, const T*, const double*, const double*,  \
                                          const double*, int64_t, int64_t, int64_t, bool, double*);            \
  template void batch_norm_forward_pipe<T>(T*, double*, double*, const T*, const double*, const double*, double,    \
                                           int64_t, int64_t, int64_t, double*);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
