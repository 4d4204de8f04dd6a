// Shared by every csrc/cuda/*.cu: the current stream, launch checks, grid sizes, scratch memory
// and warp / block reductions. Host entry points (csrc/cuda/ops.h) take pb::Tensor views already
// validated by csrc/ops, and launch on the stream of the call (cuda_enter, from on_cuda()).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/common.h"
#include "core/dispatch.h"
#include "core/tensor.h"
#include "math/reduce.h"

namespace pb::cuda {

// The stream of the current call (set per thread by cuda_enter; 0 = the legacy default stream).
cudaStream_t stream();

// RuntimeError "<op>: CUDA <what>: <error string>" for a failed runtime call or launch.
[[noreturn]] void fail(const char* op, const char* what, cudaError_t err);
inline void check(const char* op, const char* what, cudaError_t err) {
  if (err != cudaSuccess) fail(op, what, err);
}
// After each launch: a bad configuration shows here; faults inside the kernel show at the next sync.
inline void check_launch(const char* op) { check(op, "kernel launch", cudaGetLastError()); }

// Grid for n elements at `block` threads each, `per_thread` elements a thread; grid-stride loops
// in the kernels cover the rest (the x dimension allows 2^31 - 1 blocks).
inline unsigned grid_for(int64_t n, int block, int per_thread = 1) {
  const int64_t per_block = int64_t(block) * per_thread;
  int64_t g = (n + per_block - 1) / per_block;
  if (g < 1) g = 1;
  if (g > 65535 * 32) g = 65535 * 32;  // grid-stride beyond this; plenty of blocks for any GPU
  return static_cast<unsigned>(g);
}

// Device scratch on the call's stream (stream-ordered allocator): freed when the owner leaves scope.
struct Scratch {
  void* p = nullptr;
  const char* op;
  Scratch(const char* op_, size_t bytes) : op(op_) {
    check(op, "cudaMallocAsync", cudaMallocAsync(&p, bytes ? bytes : 1, stream()));
  }
  ~Scratch() {
    if (p) cudaFreeAsync(p, stream());
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T> T* as() const { return static_cast<T*>(p); }
};

// Copy n values back to the host and wait for the stream (the losses return a Python float).
template <class T> void to_host(const char* op, T* host, const T* dev, size_t n) {
  check(op, "cudaMemcpyAsync", cudaMemcpyAsync(host, dev, n * sizeof(T), cudaMemcpyDeviceToHost, stream()));
  check(op, "cudaStreamSynchronize", cudaStreamSynchronize(stream()));
}

constexpr unsigned kFullMask = 0xffffffffu;

// Sum / max over the 32 lanes of a warp (butterfly: every lane gets the result, in a fixed order,
// so the result does not depend on timing).
template <class T> __device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}
template <class T> __device__ __forceinline__ T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    const T w = __shfl_xor_sync(kFullMask, v, o);
    v = math::max_nan(v, w);  // a NaN in either lane wins
  }
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets the
// result. `sh` holds 32 values. Fixed order: warps first, then warp 0 over the warp sums.
template <class T> __device__ __forceinline__ T block_sum(T v, T* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // sh may still be read from a previous call
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  T r = lane < nwarps ? sh[lane] : T(0);
  r = warp_sum(r);
  return r;
}

}  // namespace pb::cuda
