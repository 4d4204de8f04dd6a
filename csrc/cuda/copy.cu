// CUDA copy: the device-memory bandwidth ceiling `pybench bench --device cuda` reports the
// memory-bound ops against. y, x: (n,) flattened.
#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace pb::cuda {

// naive: a thread per element, grid-stride; memcpy: cudaMemcpyAsync device to device (the
// driver's copy engine path, the reference ceiling).

namespace {
template <class T> __global__ void copy_naive(T* y, const T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i];
}
template <class T> __global__ void fill_kernel(T* y, int64_t n, T v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = v;
}
}  // namespace

template <Variant V> void copy(const Tensor& y, const Tensor& x) {
  if constexpr (V == Variant::memcpy) {
    check("copy", "cudaMemcpyAsync", cudaMemcpyAsync(y.data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, stream()));
  } else {
    PB_DISPATCH_FLOAT(x.dtype, T, {
      copy_naive<T><<<grid_for(x.numel, 256), 256, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), x.numel);
    });
    check_launch("copy");
  }
}
template void copy<Variant::naive>(const Tensor&, const Tensor&);
template void copy<Variant::memcpy>(const Tensor&, const Tensor&);

void fill(const char* op, const Tensor& out, double value) {
  if (out.numel == 0) return;  // no empty grid
  PB_DISPATCH_FLOAT(out.dtype, T, {
    fill_kernel<T><<<grid_for(out.numel, 256), 256, 0, stream()>>>(out.ptr<T>(), out.numel, static_cast<T>(value));
  });
  check_launch(op);
}

}  // namespace pb::cuda
