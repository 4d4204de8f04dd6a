// Optimizer updates: one pass over param / grad / state, the update formula from math/optim.h.
// Each optimizer: `naive` (single thread, plain loop: the reading copy) and `vec` (threaded in
// static slices; the optional state arrays are resolved outside the loop, by instantiating the
// slice for each combination, so the loop has no conditional loads/stores and vectorizes).
#include "cpu/optim.h"

#include "core/parallel.h"
#include "cpu/elementwise.h"

namespace pb::cpu::PB_ISA_NS {

namespace {

constexpr int64_t kGrain = kElementwiseGrain;

template <bool kMomentum, class T>
PB_INLINE void sgd_slice(T* __restrict param, T* __restrict buf, const T* __restrict grad, int64_t b, int64_t e,
                         math::SgdCoef<T> k) {
  k.has_momentum = kMomentum;  // a constant from here on: the buffer branch folds away
  for (int64_t i = b; i < e; ++i) {
    T mb = kMomentum ? buf[i] : T(0);
    param[i] = math::sgd_update(k, param[i], grad[i], mb);
    if (kMomentum) buf[i] = mb;
  }
}

template <bool kCentered, bool kMomentum, class T>
PB_INLINE void rmsprop_slice(T* __restrict param, T* __restrict sq, T* __restrict buf, T* __restrict gavg,
                             const T* __restrict grad, int64_t b, int64_t e, math::RmspropCoef<T> k) {
  k.centered = kCentered;
  k.has_momentum = kMomentum;
  for (int64_t i = b; i < e; ++i) {
    T s = sq[i], ga = kCentered ? gavg[i] : T(0), mb = kMomentum ? buf[i] : T(0);
    param[i] = math::rmsprop_update(k, param[i], grad[i], s, ga, mb);
    sq[i] = s;
    if (kCentered) gavg[i] = ga;
    if (kMomentum) buf[i] = mb;
  }
}

}  // namespace

// ---- SGD ----
template <class T> void sgd_step_naive(T* param, T* momentum_buf, const T* grad, int64_t n, const math::SgdConfig& cfg) {
  const math::SgdCoef<T> k = math::sgd_coef<T>(cfg);
  for (int64_t i = 0; i < n; ++i) {
    T mb = k.has_momentum ? momentum_buf[i] : T(0);
    param[i] = math::sgd_update(k, param[i], grad[i], mb);
    if (k.has_momentum) momentum_buf[i] = mb;
  }
}
template <class T> void sgd_step_vec(T* param, T* momentum_buf, const T* grad, int64_t n, const math::SgdConfig& cfg) {
  const math::SgdCoef<T> k = math::sgd_coef<T>(cfg);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (k.has_momentum) sgd_slice<true>(param, momentum_buf, grad, b, e, k);
    else sgd_slice<false>(param, momentum_buf, grad, b, e, k);
  });
}

// ---- AdaGrad ----
template <class T> void adagrad_step_naive(T* param, T* state_sum, const T* grad, int64_t n, const math::AdagradConfig& cfg) {
  const math::AdagradCoef<T> k = math::adagrad_coef<T>(cfg);
  for (int64_t i = 0; i < n; ++i) param[i] = math::adagrad_update(k, param[i], grad[i], state_sum[i]);
}
template <class T> void adagrad_step_vec(T* param, T* state_sum, const T* grad, int64_t n, const math::AdagradConfig& cfg) {
  const math::AdagradCoef<T> k = math::adagrad_coef<T>(cfg);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    T* __restrict p = param;
    T* __restrict s = state_sum;
    const T* __restrict g = grad;
    for (int64_t i = b; i < e; ++i) {
      T si = s[i];
      p[i] = math::adagrad_update(k, p[i], g[i], si);
      s[i] = si;
    }
  });
}

// ---- RMSprop ----
template <class T>
void rmsprop_step_naive(T* param, T* square_avg, T* momentum_buf, T* grad_avg, const T* grad, int64_t n,
                        const math::RmspropConfig& cfg) {
  const math::RmspropCoef<T> k = math::rmsprop_coef<T>(cfg);
  for (int64_t i = 0; i < n; ++i) {
    T ga = k.centered ? grad_avg[i] : T(0), mb = k.has_momentum ? momentum_buf[i] : T(0);
    param[i] = math::rmsprop_update(k, param[i], grad[i], square_avg[i], ga, mb);
    if (k.centered) grad_avg[i] = ga;
    if (k.has_momentum) momentum_buf[i] = mb;
  }
}
template <class T>
void rmsprop_step_vec(T* param, T* square_avg, T* momentum_buf, T* grad_avg, const T* grad, int64_t n,
                      const math::RmspropConfig& cfg) {
  const math::RmspropCoef<T> k = math::rmsprop_coef<T>(cfg);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (k.centered && k.has_momentum) rmsprop_slice<true, true>(param, square_avg, momentum_buf, grad_avg, grad, b, e, k);
    else if (k.centered) rmsprop_slice<true, false>(param, square_avg, momentum_buf, grad_avg, grad, b, e, k);
    else if (k.has_momentum) rmsprop_slice<false, true>(param, square_avg, momentum_buf, grad_avg, grad, b, e, k);
    else rmsprop_slice<false, false>(param, square_avg, momentum_buf, grad_avg, grad, b, e, k);
  });
}

// ---- Adam / AdamW ----
template <class T>
void adam_step_naive(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, int64_t n, const math::AdamConfig& cfg) {
  const math::AdamCoef<T> k = math::adam_coef<T>(cfg);
  for (int64_t i = 0; i < n; ++i) param[i] = math::adam_update(k, param[i], grad[i], exp_avg[i], exp_avg_sq[i]);
}
template <class T>
void adam_step_vec(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, int64_t n, const math::AdamConfig& cfg) {
  const math::AdamCoef<T> k = math::adam_coef<T>(cfg);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    T* __restrict p = param;
    T* __restrict m = exp_avg;
    T* __restrict v = exp_avg_sq;
    const T* __restrict g = grad;
    for (int64_t i = b; i < e; ++i) {
      T mi = m[i], vi = v[i];
      p[i] = math::adam_update(k, p[i], g[i], mi, vi);
      m[i] = mi;
      v[i] = vi;
    }
  });
}

#define PB_INSTANTIATE(T)                                                                                  \
  template void sgd_step_naive<T>(T*, T*, const T*, int64_t, const math::SgdConfig&);                     \
  template void sgd_step_vec<T>(T*, T*, const T*, int64_t, const math::SgdConfig&);                       \
  template void adagrad_step_naive<T>(T*, T*, const T*, int64_t, const math::AdagradConfig&);             \
  template void adagrad_step_vec<T>(T*, T*, const T*, int64_t, const math::AdagradConfig&);               \
  template void rmsprop_step_naive<T>(T*, T*, T*, T*, const T*, int64_t, const math::RmspropConfig&);     \
  template void rmsprop_step_vec<T>(T*, T*, T*, T*, const T*, int64_t, const math::RmspropConfig&);       \
  template void adam_step_naive<T>(T*, T*, T*, const T*, int64_t, const math::AdamConfig&);               \
  template void adam_step_vec<T>(T*, T*, T*, const T*, int64_t, const math::AdamConfig&);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
