// Element-wise activations. Each op: a naive loop (single thread, the reading copy) and `vec`
// (threaded; the loop body is the same formula, vectorized by the compiler per ISA build).
#include "cpu/activation.h"

#include "cpu/elementwise.h"
#include "math/activation.h"

namespace pb::cpu::PB_ISA_NS {

template <class T> void relu_forward_naive(T* y, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = math::relu(x[i]);
}
template <class T> void relu_forward_vec(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) { return math::relu(v); });
}
template <class T> void relu_backward_naive(T* dx, const T* dy, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = math::relu_grad(dy[i], x[i]);
}
template <class T> void relu_backward_vec(T* dx, const T* dy, const T* x, int64_t n) {
  map2(dx, dy, x, n, [](T g, T v) { return math::relu_grad(g, v); });
}

#define PB_INSTANTIATE(T)                                                  \
  template void relu_forward_naive<T>(T*, const T*, int64_t);             \
  template void relu_forward_vec<T>(T*, const T*, int64_t);               \
  template void relu_backward_naive<T>(T*, const T*, const T*, int64_t);  \
  template void relu_backward_vec<T>(T*, const T*, const T*, int64_t);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
