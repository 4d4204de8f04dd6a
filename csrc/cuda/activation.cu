// CUDA activations and softmax / log_softmax; formulas from math/activation.h (the CPU's own).
//   element-wise  x, y, dy, dx: (n,) any shape flattened, C-contiguous.
//   softmax       x, y, dy, dx: (rows, cols), reduced over cols.
#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "math/activation.h"

namespace pb::cuda {

// naive: one thread per element, grid-stride, std:: math (the CUDA math library).
// vec4:  float4 / double2 loads and stores (16 bytes per access: a quarter of the memory
//        instructions for float), when every pointer is 16-byte aligned; else the naive loop.
// naive: one thread per row (double sums, as the CPU naive); warp: one warp per row, lanes stride
// the row (coalesced), butterfly max / sum (fixed order).

namespace {

using M = fm::Std;

// The formulas of `act` (math::visit_act); act is uniform across the grid: no divergence.
template <class T> struct ActFn {
  Act act;
  T a, b;
  __device__ __forceinline__ T fwd(T x) const {
    return math::visit_act(act, [&](auto tag) { return decltype(tag)::template fwd<M>(x, a, b); });
  }
  __device__ __forceinline__ T bwd(T dy, T x) const {
    return math::visit_act(act, [&](auto tag) { return decltype(tag)::template grad<M>(dy, x, a, b); });
  }
};

constexpr int kBlock = 256;

// y: (n,), x: (n,)
template <class T> __global__ void act_forward_naive(T* y, const T* x, int64_t n, ActFn<T> f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = f.fwd(x[i]);
}
// dx, dy, x: (n,)
template <class T> __global__ void act_backward_naive(T* dx, const T* dy, const T* x, int64_t n, ActFn<T> f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = f.bwd(dy[i], x[i]);
}

// 16-byte vectors: float4 for float, double2 for double.
template <class T> struct Vec;
template <> struct Vec<float> {
  using type = float4;
  static constexpr int n = 4;
};
template <> struct Vec<double> {
  using type = double2;
  static constexpr int n = 2;
};
template <class V, class F> __device__ __forceinline__ V map4(V v, F g) {
  if constexpr (sizeof(v.x) == 4) return V{g(v.x), g(v.y), g(v.z), g(v.w)};
  else return V{g(v.x), g(v.y)};
}

// y, x: (n,), 16-byte aligned; the vector body, then the tail by thread.
template <class T> __global__ void act_forward_vec4(T* y, const T* x, int64_t n, ActFn<T> f) {
  using V = typename Vec<T>::type;
  constexpr int W = Vec<T>::n;
  const int64_t nv = n / W, stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t start = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (int64_t i = start; i < nv; i += stride) {
    const V v = reinterpret_cast<const V*>(x)[i];
    reinterpret_cast<V*>(y)[i] = map4(v, [&](T e) { return f.fwd(e); });
  }
  for (int64_t i = nv * W + start; i < n; i += stride) y[i] = f.fwd(x[i]);
}
// dx, dy, x: (n,), 16-byte aligned.
template <class T> __global__ void act_backward_vec4(T* dx, const T* dy, const T* x, int64_t n, ActFn<T> f) {
  using V = typename Vec<T>::type;
  constexpr int W = Vec<T>::n;
  const int64_t nv = n / W, stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t start = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (int64_t i = start; i < nv; i += stride) {
    const V g = reinterpret_cast<const V*>(dy)[i], v = reinterpret_cast<const V*>(x)[i];
    V r;
    r.x = f.bwd(g.x, v.x);
    r.y = f.bwd(g.y, v.y);
    if constexpr (W == 4) {
      r.z = f.bwd(g.z, v.z);
      r.w = f.bwd(g.w, v.w);
    }
    reinterpret_cast<V*>(dx)[i] = r;
  }
  for (int64_t i = nv * W + start; i < n; i += stride) dx[i] = f.bwd(dy[i], x[i]);
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// ---- softmax ----

// y, x: (rows, cols); thread r owns row r.
template <class T> __global__ void softmax_forward_naive(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r < rows) math::softmax_row_naive(y + r * cols, x + r * cols, cols, log);
}
// dx, dy, y: (rows, cols); thread r owns row r.
template <class T>
__global__ void softmax_backward_naive(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log) {
  const int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (r < rows) math::softmax_backward_row_naive(dx + r * cols, dy + r * cols, y + r * cols, cols, log);
}

constexpr int kWarpsPerBlock = 8;

// y, x: (rows, cols); warp w of the grid owns rows w, w + nwarps, ...
template <class T> __global__ void softmax_forward_warp(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += nwarps) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    T m = -INFINITY;
    for (int64_t j = lane; j < cols; j += 32) m = math::max_nan(m, xr[j]);
    m = warp_max(m);
    T s = 0;
    for (int64_t j = lane; j < cols; j += 32) s += std::exp(xr[j] - m);
    s = warp_sum(s);
    if (log) {
      const T ls = std::log(s);
      for (int64_t j = lane; j < cols; j += 32) yr[j] = math::log_softmax_out(xr[j], m, ls);
    } else {
      const T inv = T(1) / s;
      for (int64_t j = lane; j < cols; j += 32) yr[j] = math::softmax_out(std::exp(xr[j] - m), inv);
    }
  }
}
// dx, dy, y: (rows, cols); one warp per row.
template <class T>
__global__ void softmax_backward_warp(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log) {
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += nwarps) {
    const T *dyr = dy + r * cols, *yr = y + r * cols;
    T* dxr = dx + r * cols;
    T acc = 0;
    if (log) {
      for (int64_t j = lane; j < cols; j += 32) acc += dyr[j];
      acc = warp_sum(acc);
      for (int64_t j = lane; j < cols; j += 32) dxr[j] = math::log_softmax_grad<M>(dyr[j], yr[j], acc);
    } else {
      for (int64_t j = lane; j < cols; j += 32) acc += dyr[j] * yr[j];
      acc = warp_sum(acc);
      for (int64_t j = lane; j < cols; j += 32) dxr[j] = math::softmax_grad(dyr[j], yr[j], acc);
    }
  }
}

template <class T> ActFn<T> make_fn(Act act, double a, double b) { return ActFn<T>{act, T(a), T(b)}; }

}  // namespace

template <Variant V> void act_forward(Act act, double a, double b, const Tensor& y, const Tensor& x) {
  const int64_t n = x.numel;
  PB_DISPATCH_FLOAT(x.dtype, T, {
    const ActFn<T> f = make_fn<T>(act, a, b);
    if (V == Variant::vec4 && aligned16(x.data) && aligned16(y.data))
      act_forward_vec4<T><<<grid_for(n, kBlock, Vec<T>::n), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), n, f);
    else
      act_forward_naive<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), n, f);
  });
  check_launch("activation_forward");
}

template <Variant V>
void act_backward(Act act, double a, double b, const Tensor& dx, const Tensor& dy, const Tensor& x) {
  const int64_t n = x.numel;
  PB_DISPATCH_FLOAT(x.dtype, T, {
    const ActFn<T> f = make_fn<T>(act, a, b);
    if (V == Variant::vec4 && aligned16(x.data) && aligned16(dy.data) && aligned16(dx.data))
      act_backward_vec4<T><<<grid_for(n, kBlock, Vec<T>::n), kBlock, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(),
                                                                                     x.ptr<T>(), n, f);
    else
      act_backward_naive<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), n, f);
  });
  check_launch("activation_backward");
}

template <Variant V> void softmax_forward(bool log, const Tensor& y, const Tensor& x) {
  const int64_t cols = x.size(-1), rows = x.numel / cols;
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (V == Variant::naive)
      softmax_forward_naive<T><<<grid_for(rows, 128), 128, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), rows, cols, log);
    else
      softmax_forward_warp<T><<<grid_for(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(
          y.ptr<T>(), x.ptr<T>(), rows, cols, log);
  });
  check_launch(log ? "log_softmax_forward" : "softmax_forward");
}

template <Variant V> void softmax_backward(bool log, const Tensor& dx, const Tensor& dy, const Tensor& y) {
  const int64_t cols = dy.size(-1), rows = dy.numel / cols;
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    if (V == Variant::naive)
      softmax_backward_naive<T><<<grid_for(rows, 128), 128, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows,
                                                                            cols, log);
    else
      softmax_backward_warp<T><<<grid_for(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(
          dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows, cols, log);
  });
  check_launch(log ? "log_softmax_backward" : "softmax_backward");
}

template void act_forward<Variant::naive>(Act, double, double, const Tensor&, const Tensor&);
template void act_forward<Variant::vec4>(Act, double, double, const Tensor&, const Tensor&);
template void act_backward<Variant::naive>(Act, double, double, const Tensor&, const Tensor&, const Tensor&);
template void act_backward<Variant::vec4>(Act, double, double, const Tensor&, const Tensor&, const Tensor&);
template void softmax_forward<Variant::naive>(bool, const Tensor&, const Tensor&);
template void softmax_forward<Variant::warp>(bool, const Tensor&, const Tensor&);
template void softmax_backward<Variant::naive>(bool, const Tensor&, const Tensor&, const Tensor&);
template void softmax_backward<Variant::warp>(bool, const Tensor&, const Tensor&, const Tensor&);

}  // namespace pb::cuda
