// CUDA 2-D pooling over N*C planes, PyTorch's rules as the CPU kernels (csrc/cpu/pool.cpp):
// max takes a tap when strictly greater or NaN (first maximum wins, index h*W + w in the plane);
// average divides by PyTorch's divisor (count_include_pad). No atomics anywhere, so two runs are
// bitwise equal: avg backward is a gather (a thread per input element sums the outputs whose
// window holds it, in output order); max backward scatters a plane per thread.
//   x, dx: (planes, H, W); y, dy, indices: (planes, OH, OW); global: y, dy (planes,)
#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "math/pool.h"
#include "math/window.h"

namespace pb::cuda {

// naive: a thread per output (forward); backward: a thread per input element (avg, gather) or
// per plane (max: the indices are arbitrary, so a serial scatter in output order).
// global_avg_pool2d_forward, naive: a thread per plane; warp: a warp per plane (coalesced reads,
// butterfly sum).

namespace {

#define PB_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

using math::max64;
using math::min64;

// Output rows [lo, hi) whose window (start o*s - p, length k) holds input row i.
__device__ __forceinline__ void covering(int64_t i, int64_t k, int64_t s, int64_t p, int64_t O, int64_t& lo,
                                         int64_t& hi) {
  const int64_t t = i + p - k + 1;  // o*s >= t
  lo = t <= 0 ? 0 : (t + s - 1) / s;
  hi = min64((i + p) / s + 1, O);
}

template <class T> __global__ void max_fwd(T* y, int64_t* idx, const T* x, PoolGeom g) {
  PB_GRID_STRIDE(o, g.planes * g.OH * g.OW) {
    const int64_t ow = o % g.OW, oh = (o / g.OW) % g.OH, p = o / (g.OW * g.OH);
    const int64_t hs = math::window_start(oh, g.sh, g.ph), ws = math::window_start(ow, g.sw, g.pw);
    const int64_t he = min64(hs + g.KH, g.H), we = min64(ws + g.KW, g.W);
    y[o] = math::max_pool_window(x + p * g.H * g.W, g.W, max64(hs, 0), he, max64(ws, 0), we, &idx[o]);
  }
}

// bad: (1,) count of out-of-range indices (integer atomics: the count is exact).
__global__ void count_bad(unsigned long long* bad, const int64_t* idx, int64_t n, int64_t HW) {
  PB_GRID_STRIDE(i, n) {
    if (idx[i] < 0 || idx[i] >= HW) atomicAdd(bad, 1ull);
  }
}

// The backward gets only the indices (no window geometry), so any index in the plane is possible:
// a thread per plane scatters in output order, as the CPU naive loop (no atomics, exact order).
template <class T> __global__ void max_bwd_scatter(T* dx, const T* dy, const int64_t* idx, PoolGeom g) {
  const int64_t HW = g.H * g.W, P = g.OH * g.OW;
  PB_GRID_STRIDE(p, g.planes) {
    for (int64_t i = 0; i < HW; ++i) dx[p * HW + i] = T(0);
    for (int64_t i = 0; i < P; ++i) {
      const int64_t k = idx[p * P + i];
      if (k >= 0 && k < HW) dx[p * HW + k] += dy[p * P + i];
    }
  }
}

template <class T> __global__ void avg_fwd(T* y, const T* x, PoolGeom g, bool include_pad) {
  PB_GRID_STRIDE(o, g.planes * g.OH * g.OW) {
    const int64_t ow = o % g.OW, oh = (o / g.OW) % g.OH, p = o / (g.OW * g.OH);
    const int64_t hs = math::window_start(oh, g.sh, g.ph), ws = math::window_start(ow, g.sw, g.pw);
    const int64_t he = min64(hs + g.KH, g.H), we = min64(ws + g.KW, g.W);
    T s = 0;
    for (int64_t ih = max64(hs, 0); ih < he; ++ih)
      for (int64_t iw = max64(ws, 0); iw < we; ++iw) s += x[(p * g.H + ih) * g.W + iw];
    y[o] = s / T(math::avg_pool_divisor(g, hs, ws, include_pad));
  }
}

template <class T> __global__ void avg_bwd(T* dx, const T* dy, PoolGeom g, bool include_pad) {
  PB_GRID_STRIDE(i, g.planes * g.H * g.W) {
    const int64_t iw = i % g.W, ih = (i / g.W) % g.H, p = i / (g.W * g.H);
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.KH, g.sh, g.ph, g.OH, oh0, oh1);
    covering(iw, g.KW, g.sw, g.pw, g.OW, ow0, ow1);
    T acc = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t hs = math::window_start(oh, g.sh, g.ph), ws = math::window_start(ow, g.sw, g.pw);
        acc += dy[(p * g.OH + oh) * g.OW + ow] / T(math::avg_pool_divisor(g, hs, ws, include_pad));
      }
    dx[i] = acc;
  }
}

// y: (planes,); x: (planes, HW)
template <class T> __global__ void gavg_fwd_naive(T* y, const T* x, int64_t planes, int64_t HW) {
  PB_GRID_STRIDE(p, planes) {
    T s = 0;
    for (int64_t i = 0; i < HW; ++i) s += x[p * HW + i];
    y[p] = s / T(HW);
  }
}
template <class T> __global__ void gavg_fwd_warp(T* y, const T* x, int64_t planes, int64_t HW) {
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t p = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); p < planes; p += nwarps) {
    T s = 0;
    for (int64_t i = lane; i < HW; i += 32) s += x[p * HW + i];
    s = warp_sum(s);
    if (lane == 0) y[p] = s / T(HW);
  }
}
template <class T> __global__ void gavg_bwd(T* dx, const T* dy, int64_t planes, int64_t HW) {
  PB_GRID_STRIDE(i, planes * HW) dx[i] = dy[i / HW] / T(HW);
}

constexpr int kBlock = 256;

}  // namespace

void max_pool2d_forward(const Tensor& y, const Tensor& indices, const Tensor& x, const PoolGeom& g) {
  PB_DISPATCH_FLOAT(x.dtype, T, {
    max_fwd<T><<<grid_for(g.planes * g.OH * g.OW, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), indices.ptr<int64_t>(),
                                                                                   x.ptr<T>(), g);
  });
  check_launch("max_pool2d_forward");
}

int64_t max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const PoolGeom& g) {
  const char* op = "max_pool2d_backward";
  Scratch s(op, sizeof(unsigned long long));
  check(op, "cudaMemsetAsync", cudaMemsetAsync(s.p, 0, sizeof(unsigned long long), stream()));
  count_bad<<<grid_for(indices.numel, kBlock), kBlock, 0, stream()>>>(s.as<unsigned long long>(),
                                                                      indices.ptr<int64_t>(), indices.numel, g.H * g.W);
  check_launch(op);
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    max_bwd_scatter<T><<<grid_for(g.planes, 64), 64, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(), indices.ptr<int64_t>(), g);
  });
  check_launch(op);
  unsigned long long bad = 0;
  to_host(op, &bad, s.as<unsigned long long>(), 1);
  return static_cast<int64_t>(bad);
}

void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeom& g, bool count_include_pad) {
  PB_DISPATCH_FLOAT(x.dtype, T, {
    avg_fwd<T><<<grid_for(g.planes * g.OH * g.OW, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), g,
                                                                                   count_include_pad);
  });
  check_launch("avg_pool2d_forward");
}

void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const PoolGeom& g, bool count_include_pad) {
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    avg_bwd<T><<<grid_for(g.planes * g.H * g.W, kBlock), kBlock, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(), g,
                                                                                count_include_pad);
  });
  check_launch("avg_pool2d_backward");
}

template <Variant V> void global_avg_pool2d_forward(const Tensor& y, const Tensor& x) {
  const int64_t planes = x.shape[0] * x.shape[1], HW = x.shape[2] * x.shape[3];
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (V == Variant::naive)
      gavg_fwd_naive<T><<<grid_for(planes, 128), 128, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), planes, HW);
    else
      gavg_fwd_warp<T><<<grid_for(planes, 8), 256, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), planes, HW);
  });
  check_launch("global_avg_pool2d_forward");
}
template void global_avg_pool2d_forward<Variant::naive>(const Tensor&, const Tensor&);
template void global_avg_pool2d_forward<Variant::warp>(const Tensor&, const Tensor&);

void global_avg_pool2d_backward(const Tensor& dx, const Tensor& dy) {
  const int64_t planes = dx.shape[0] * dx.shape[1], HW = dx.shape[2] * dx.shape[3];
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    gavg_bwd<T><<<grid_for(planes * HW, kBlock), kBlock, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(), planes, HW);
  });
  check_launch("global_avg_pool2d_backward");
}

}  // namespace pb::cuda
