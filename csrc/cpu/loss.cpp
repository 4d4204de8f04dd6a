// Losses. Each op: `naive` (single thread, plain loops, one running double sum: the reading copy)
// and `vec` (threaded over fixed chunks whose partial sums are combined in chunk order, so the
// value does not depend on the thread count; inside a chunk 8 interleaved double accumulators
// let the compiler vectorize the float->double sum).
#include "cpu/loss.h"

#include "core/parallel.h"
#include "cpu/elementwise.h"
#include "math/loss.h"

namespace pb::cpu::PB_ISA_NS {

namespace {

// Elements per partial sum in the `vec` reductions: fixed, independent of the thread count.
constexpr int64_t kSumChunk = 1 << 14;
constexpr int kLanes = 8;

// sum over [b, e) of double(term(i)) in kLanes interleaved accumulators, combined in a fixed tree.
template <class F> PB_INLINE double lane_sum(int64_t b, int64_t e, F term) {
  double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = b;
  for (; i + kLanes <= e; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += double(term(i + j));
  double tail = 0;
  for (; i < e; ++i) tail += double(term(i));
  return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

// sum over [0, n) split into chunks of `chunk` items: chunk_sum(b, e) per chunk (in parallel),
// each into its own slot, then the slots added in order. Deterministic for any thread count.
template <class F> PB_INLINE double chunked_sum(int64_t n, int64_t chunk, F chunk_sum) {
  const int64_t K = num_chunks(n, chunk);
  if (K <= 1) return chunk_sum(int64_t(0), n);
  double stack[64];
  double* part = K <= 64 ? stack : new double[K];
  parallel_for(K, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = c * chunk, e = b + chunk < n ? b + chunk : n;
      part[c] = chunk_sum(b, e);
    }
  });
  double s = 0;
  for (int64_t c = 0; c < K; ++c) s += part[c];
  if (part != stack) delete[] part;
  return s;
}

template <class F> PB_INLINE double serial_sum(int64_t n, F term) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(term(i));
  return s;
}

// ---- cross-entropy rows ----
template <class T> PB_INLINE T row_max_naive(const T* x, int64_t C) {
  T m = x[0];
  for (int64_t j = 1; j < C; ++j) m = x[j] > m ? x[j] : m;
  return m;
}
template <class T> PB_INLINE double row_sum_exp_naive(const T* x, int64_t C, T m) {
  double s = 0;
  for (int64_t j = 0; j < C; ++j) s += double(math::ce_shifted_exp(x[j], m));
  return s;
}

constexpr int kMaxLanes = 16;
template <class T> PB_INLINE T row_max_vec(const T* x, int64_t C) {
  if (C < kMaxLanes) return row_max_naive(x, C);
  T acc[kMaxLanes];
  for (int j = 0; j < kMaxLanes; ++j) acc[j] = x[j];
  int64_t i = kMaxLanes;
  for (; i + kMaxLanes <= C; i += kMaxLanes)
    for (int j = 0; j < kMaxLanes; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  T m = acc[0];
  for (int j = 1; j < kMaxLanes; ++j) m = acc[j] > m ? acc[j] : m;
  for (; i < C; ++i) m = x[i] > m ? x[i] : m;
  // A NaN in a lane may have been skipped by a later lane's compare; the exp sum below turns any
  // NaN logit into a NaN loss regardless, so the max only needs to be finite-correct.
  return m;
}

template <class T> PB_INLINE double ce_row_naive(const T* x, int64_t C, int64_t y) {
  const T m = row_max_naive(x, C);
  return math::ce_row_loss(double(m), double(x[y]), row_sum_exp_naive(x, C, m));
}
template <class T> PB_INLINE double ce_row_vec(const T* x, int64_t C, int64_t y) {
  const T m = row_max_vec(x, C);
  const double s = lane_sum(0, C, [&](int64_t j) { return math::ce_shifted_exp(x[j], m); });
  return math::ce_row_loss(double(m), double(x[y]), s);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// cross-entropy
template <class T> double cross_entropy_forward_naive(const T* logits, const int64_t* labels, int64_t N, int64_t C) {
  double s = 0;
  for (int64_t i = 0; i < N; ++i) s += ce_row_naive(logits + i * C, C, labels[i]);
  return s;
}
// vec: rows in fixed chunks of ~kSumChunk elements across threads; lane-parallel max and exp sum per row.
template <class T> double cross_entropy_forward_vec(const T* logits, const int64_t* labels, int64_t N, int64_t C) {
  const int64_t rows = C >= kSumChunk ? 1 : kSumChunk / C;
  return chunked_sum(N, rows, [&](int64_t b, int64_t e) {
    double s = 0;
    for (int64_t i = b; i < e; ++i) s += ce_row_vec(logits + i * C, C, labels[i]);
    return s;
  });
}

template <class T>
void cross_entropy_backward_naive(T* dx, const T* logits, const int64_t* labels, int64_t N, int64_t C, T scale) {
  for (int64_t i = 0; i < N; ++i) {
    const T* x = logits + i * C;
    const T m = row_max_naive(x, C);
    const T inv = T(1.0 / row_sum_exp_naive(x, C, m));
    for (int64_t j = 0; j < C; ++j) dx[i * C + j] = math::ce_grad(x[j], m, inv, j == labels[i], scale);
  }
}
// vec: rows across threads; exp(x - m) is computed once, parked in dx while the row sum is
// formed, then rescaled in place (naive computes it twice: docs/kernels/loss.md); the label
// column is patched after a branch-free (vectorizable) row.
template <class T>
void cross_entropy_backward_vec(T* dx, const T* logits, const int64_t* labels, int64_t N, int64_t C, T scale) {
  const int64_t grain = C >= kElementwiseGrain ? 1 : kElementwiseGrain / C;
  parallel_for(N, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T* x = logits + i * C;
      T* __restrict d = dx + i * C;
      const T m = row_max_vec(x, C);
      const double s = lane_sum(0, C, [&](int64_t j) {
        const T ej = math::ce_shifted_exp(x[j], m);
        d[j] = ej;
        return ej;
      });
      const T inv = T(1.0 / s);
      const int64_t y = labels[i];
      const T ey = d[y];
      for (int64_t j = 0; j < C; ++j) d[j] = math::ce_grad_from_exp(d[j], inv, false, scale);
      d[y] = math::ce_grad_from_exp(ey, inv, true, scale);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// element-wise losses: naive = one serial double sum / plain loop; vec = chunked_sum of
// lane_sums across threads / map2 across threads (the same formulas from math/loss.h).
template <class T> double mse_forward_naive(const T* x, const T* t, int64_t n) {
  return serial_sum(n, [&](int64_t i) { return math::mse_loss(x[i], t[i]); });
}
template <class T> double mse_forward_vec(const T* x, const T* t, int64_t n) {
  return chunked_sum(n, kSumChunk, [&](int64_t b, int64_t e) {
    return lane_sum(b, e, [&](int64_t i) { return math::mse_loss(x[i], t[i]); });
  });
}
template <class T> void mse_backward_naive(T* dx, const T* x, const T* t, int64_t n, T scale) {
  for (int64_t i = 0; i < n; ++i) dx[i] = math::mse_grad(x[i], t[i], scale);
}
template <class T> void mse_backward_vec(T* dx, const T* x, const T* t, int64_t n, T scale) {
  map2(dx, x, t, n, [scale](T xi, T ti) { return math::mse_grad(xi, ti, scale); });
}

template <class T> double huber_forward_naive(const T* x, const T* t, int64_t n, T delta) {
  return serial_sum(n, [&](int64_t i) { return math::huber_loss(x[i], t[i], delta); });
}
template <class T> double huber_forward_vec(const T* x, const T* t, int64_t n, T delta) {
  return chunked_sum(n, kSumChunk, [&](int64_t b, int64_t e) {
    return lane_sum(b, e, [&](int64_t i) { return math::huber_loss(x[i], t[i], delta); });
  });
}
template <class T> void huber_backward_naive(T* dx, const T* x, const T* t, int64_t n, T delta, T scale) {
  for (int64_t i = 0; i < n; ++i) dx[i] = math::huber_grad(x[i], t[i], delta, scale);
}
template <class T> void huber_backward_vec(T* dx, const T* x, const T* t, int64_t n, T delta, T scale) {
  map2(dx, x, t, n, [delta, scale](T xi, T ti) { return math::huber_grad(xi, ti, delta, scale); });
}

template <class T> double bce_with_logits_forward_naive(const T* x, const T* t, int64_t n) {
  return serial_sum(n, [&](int64_t i) { return math::bce_with_logits_loss(x[i], t[i]); });
}
template <class T> double bce_with_logits_forward_vec(const T* x, const T* t, int64_t n) {
  return chunked_sum(n, kSumChunk, [&](int64_t b, int64_t e) {
    return lane_sum(b, e, [&](int64_t i) { return math::bce_with_logits_loss(x[i], t[i]); });
  });
}
template <class T> void bce_with_logits_backward_naive(T* dx, const T* x, const T* t, int64_t n, T scale) {
  for (int64_t i = 0; i < n; ++i) dx[i] = math::bce_with_logits_grad(x[i], t[i], scale);
}
template <class T> void bce_with_logits_backward_vec(T* dx, const T* x, const T* t, int64_t n, T scale) {
  map2(dx, x, t, n, [scale](T xi, T ti) { return math::bce_with_logits_grad(xi, ti, scale); });
}

#define PB_INSTANTIATE(T)                                                                              \
  template double cross_entropy_forward_naive<T>(const T*, const int64_t*, int64_t, int64_t);          \
  template double cross_entropy_forward_vec<T>(const T*, const int64_t*, int64_t, int64_t);            \
  template void cross_entropy_backward_naive<T>(T*, const T*, const int64_t*, int64_t, int64_t, T);    \
  template void cross_entropy_backward_vec<T>(T*, const T*, const int64_t*, int64_t, int64_t, T);      \
  template double mse_forward_naive<T>(const T*, const T*, int64_t);                                   \
  template double mse_forward_vec<T>(const T*, const T*, int64_t);                                     \
  template void mse_backward_naive<T>(T*, const T*, const T*, int64_t, T);                             \
  template void mse_backward_vec<T>(T*, const T*, const T*, int64_t, T);                               \
  template double huber_forward_naive<T>(const T*, const T*, int64_t, T);                              \
  template double huber_forward_vec<T>(const T*, const T*, int64_t, T);                                \
  template void huber_backward_naive<T>(T*, const T*, const T*, int64_t, T, T);                        \
  template void huber_backward_vec<T>(T*, const T*, const T*, int64_t, T, T);                          \
  template double bce_with_logits_forward_naive<T>(const T*, const T*, int64_t);                       \
  template double bce_with_logits_forward_vec<T>(const T*, const T*, int64_t);                         \
  template void bce_with_logits_backward_naive<T>(T*, const T*, const T*, int64_t, T);                 \
  template void bce_with_logits_backward_vec<T>(T*, const T*, const T*, int64_t, T);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
