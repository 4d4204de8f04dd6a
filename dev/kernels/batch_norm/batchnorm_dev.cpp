// batch_norm_backward "pipe", only in the dev build (-DPYBENCH_DEV_KERNELS=ON): l3 is faster on
// every measured shape. What it does and the measurement: README.md here.
#include "dev/kernels/batch_norm/batchnorm_dev.h"

#include "cpu/batchnorm.h"
#include "cpu/batchnorm_internal.h"

namespace pb::cpu::PB_ISA_NS {

// The reading pass (sums) of channel c interleaved with the dx pass of channel c - 1, walked last
// to first; l3's items and combine order: bitwise l3's results. Few channels: l3.
template <class T>
void batch_norm_backward_pipe(T* dx, double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean,
                              const double* invstd, const double* weight, int64_t N, int64_t C, int64_t S,
                              bool training, double* work) {
  if (S <= 1 || C < 4 * static_cast<int64_t>(max_threads())) {
    batch_norm_backward_l3(dx, sum_dy, sum_dyxc, dy, x, mean, invstd, weight, N, C, S, training, work);
    return;
  }
  const bool nt = stream_out(N * C * S, sizeof(T));
  const double m = static_cast<double>(N) * static_cast<double>(S);
  const int64_t R = kBnItem / S > 1 ? kBnItem / S : 1;  // planes per item (as l3)
  const int64_t nk = (N + R - 1) / R;
  parallel_for(C, 1, [&](int64_t c0, int64_t c1) {
    double s1 = 0, s2 = 0;
    math::BnSplitMean<T> sm{};
    T kd = 0, kx = 0, kc = 0;
    for (int64_t c = c0; c <= c1; ++c) {
      for (int64_t k = 0; k < nk; ++k) {
        if (c < c1) {  // item k of channel c (bn_l3_channel)
          double i1, i2;
          planes_dot(i1, i2, dy, x, mean[c], k * R, min64(N, k * R + R), C, S, c);
          if (k == 0) s1 = s2 = 0;
          s1 += i1;
          s2 += i2;
        }
        if (c > c0) {  // item nk - 1 - k of channel c - 1, planes last to first
          const int64_t v = nk - 1 - k;
          for (int64_t n = min64(N, v * R + R) - 1; n >= v * R; --n) {
            const int64_t off = (n * C + c - 1) * S;
            map_slice(dx + off, 0, S, nt, [sm, kd, kx, kc](auto gv, auto xv) {
              using V = decltype(xv);
              return math::bn_grad_input_t(gv, xv, V(sm.hi), V(sm.lo), V(kd), V(kx), V(kc));
            }, dy + off, x + off);
          }
        }
      }
      if (c == c1) break;
      sum_dy[c] = s1;
      sum_dyxc[c] = s2;
      const math::BnGradCoef k = math::bn_grad_coef(weight[c], invstd[c], s1, s2, m, training);
      sm = math::bn_split_mean<T>(mean[c]);
      kd = static_cast<T>(k.k_dy);
      kx = static_cast<T>(k.k_x);
      kc = static_cast<T>(k.k_c);
    }
    if (nt) stream_fence();
  });
}

#define PB_INSTANTIATE(T)                                                                            \
  template void batch_norm_backward_pipe<T>(T*, double*, double*, const T*, const T*, const double*, \
                                            const double*, const double*, int64_t, int64_t, int64_t, bool, double*);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
