// Deterministic sums for the CUDA kernels: no floating-point atomics. Stage 1: each block sums a
// grid-stride share of the terms (per-thread, then block_sum, fixed order) into partial[block];
// stage 2: one block sums the partials in a fixed order. The grid depends on n only, so two runs
// give the same bits.
#pragma once
#include "cuda/common.cuh"

namespace pb::cuda {

constexpr int kReduceBlock = 256;
constexpr int kReduceMaxBlocks = 1024;

inline unsigned reduce_grid(int64_t n) {
  const unsigned g = grid_for(n, kReduceBlock, 4);
  return g < kReduceMaxBlocks ? g : kReduceMaxBlocks;
}

// partial: (gridDim.x,); term(i) for i in [0, n) as double.
template <class F> __global__ void sum_partials(double* partial, int64_t n, F term) {
  __shared__ double sh[32];
  double acc = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    acc += term(i);
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// out: (1,) = sum of partial (nparts,), one block.
static __global__ void sum_final(double* out, const double* partial, int nparts) {
  __shared__ double sh[32];
  double acc = 0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) out[0] = acc;
}

// The sum of term(i) over [0, n), brought back to the host.
template <class F> double device_sum(const char* op, int64_t n, F term) {
  const unsigned g = reduce_grid(n);
  Scratch s(op, (g + 1) * sizeof(double));
  double* partial = s.as<double>();
  sum_partials<<<g, kReduceBlock, 0, stream()>>>(partial, n, term);
  check_launch(op);
  sum_final<<<1, kReduceBlock, 0, stream()>>>(partial + g, partial, static_cast<int>(g));
  check_launch(op);
  double r = 0;
  to_host(op, &r, partial + g, 1);
  return r;
}

}  // namespace pb::cuda
