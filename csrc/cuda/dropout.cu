// CUDA dropout; the mask scheme and formula from math/dropout.h (Philox4x32-10 of the global
// element index, keep decided on the integer), so the mask is the CPU's bit for bit.
//   y, x: (n,) flattened (forward on x, backward on dy: the same kernel).
#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "math/dropout.h"

namespace pb::cuda {

// naive: a thread per element, one Philox call each (uses one of its four words).
// vec4:  a thread per Philox block of 4 elements (global index g = 4q..4q+3): all four words
//        used, a quarter of the generator work.

namespace {

template <class T>
__global__ void dropout_naive(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t thr, T scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t u = math::dropout_bits(seed, offset + static_cast<uint64_t>(i));
    y[i] = math::dropout_apply(x[i], math::dropout_keep(u, thr), scale);
  }
}

// Thread q' covers Philox block q = offset/4 + q' (global elements 4q..4q+3 that fall in the call).
template <class T>
__global__ void dropout_vec4(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t thr, T scale) {
  const uint64_t first = offset >> 2, last = (offset + static_cast<uint64_t>(n) - 1) >> 2;
  const int64_t nblocks = static_cast<int64_t>(last - first + 1);
  uint32_t key[2];
  math::dropout_key(key, seed);
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < nblocks; b += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t q = first + static_cast<uint64_t>(b);
    const uint32_t ctr[4] = {static_cast<uint32_t>(q), static_cast<uint32_t>(q >> 32), 0u, 0u};
    uint32_t u[4];
    math::philox4x32_10(u, ctr, key);
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint64_t g = 4 * q + w;
      if (g < offset) continue;
      const uint64_t i = g - offset;
      if (i >= static_cast<uint64_t>(n)) break;
      y[i] = math::dropout_apply(x[i], math::dropout_keep(u[w], thr), scale);
    }
  }
}

// y, x: (n,)
template <class T> __global__ void copy_kernel(T* y, const T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i];
}

constexpr int kBlock = 256;

}  // namespace

template <Variant V>
void dropout_forward(const Tensor& y, const Tensor& x, double p, uint64_t seed, uint64_t offset, bool training) {
  const int64_t n = x.numel;
  const uint64_t thr = math::dropout_threshold(p);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    const T scale = math::dropout_scale<T>(p);
    if (!training)
      copy_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), n);
    else if (V == Variant::naive)
      dropout_naive<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), n, seed, offset, thr, scale);
    else
      dropout_vec4<T><<<grid_for(n / 4 + 2, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), n, seed, offset, thr,
                                                                             scale);
  });
  check_launch("dropout_forward");
}
template void dropout_forward<Variant::naive>(const Tensor&, const Tensor&, double, uint64_t, uint64_t, bool);
template void dropout_forward<Variant::vec4>(const Tensor&, const Tensor&, double, uint64_t, uint64_t, bool);

}  // namespace pb::cuda
