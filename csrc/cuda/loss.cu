// CUDA losses; formulas from math/loss.h. The forward ops return the mean: the kernels sum the
// terms in double (reduce.cuh: per-block partials, fixed-order combine) and csrc/ops divides.
//   cross-entropy  logits, dx: (N, C); labels: (N,) int64
//   mse / huber / bce_with_logits  input, target, dx: (n,) any shape flattened
#include "cuda/ops.h"
#include "cuda/reduce.cuh"
#include "math/loss.h"

namespace pb::cuda {

// One implementation ("naive" in csrc/ops/loss.cpp's tables): a warp per row for cross-entropy
// (the row's max and sum by butterfly), a thread per element for the point-wise losses; sums
// through reduce.cuh. Memory-bound and already coalesced.

namespace {

// labels: (N,); first: (1,) smallest position of a label outside [0, C) (integer atomicMin: the
// result does not depend on timing), initialized to N.
__global__ void find_bad_label(unsigned long long* first, const int64_t* labels, int64_t N, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < N; i += int64_t(gridDim.x) * blockDim.x)
    if (labels[i] < 0 || labels[i] >= C) atomicMin(first, static_cast<unsigned long long>(i));
}

// row_loss: (N,) in double; logits (N, C); one warp per row.
template <class T>
__global__ void ce_rows(double* row_loss, const T* logits, const int64_t* labels, int64_t N, int64_t C) {
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < N; r += nwarps) {
    const T* x = logits + r * C;
    T m = -INFINITY;
    for (int64_t j = lane; j < C; j += 32) m = math::max_nan(m, x[j]);
    m = warp_max(m);
    double s = 0;
    for (int64_t j = lane; j < C; j += 32) s += static_cast<double>(math::ce_shifted_exp(x[j], m));
    s = warp_sum(s);
    if (lane == 0) row_loss[r] = math::ce_row_loss(m, x[labels[r]], s);
  }
}

// dx, logits: (N, C); one warp per row.
template <class T>
__global__ void ce_backward(T* dx, const T* logits, const int64_t* labels, int64_t N, int64_t C, T scale) {
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < N; r += nwarps) {
    const T* x = logits + r * C;
    T* d = dx + r * C;
    T m = -INFINITY;
    for (int64_t j = lane; j < C; j += 32) m = math::max_nan(m, x[j]);
    m = warp_max(m);
    double s = 0;
    for (int64_t j = lane; j < C; j += 32) s += static_cast<double>(math::ce_shifted_exp(x[j], m));
    s = warp_sum(s);
    const T inv = static_cast<T>(1.0 / s);
    const int64_t label = labels[r];
    for (int64_t j = lane; j < C; j += 32) d[j] = math::ce_grad(x[j], m, inv, j == label, scale);
  }
}

struct RowTerm {
  const double* v;
  __device__ double operator()(int64_t i) const { return v[i]; }
};

template <class T> struct PointTerm {
  Loss loss;
  const T *x, *t;
  T delta;
  __device__ double operator()(int64_t i) const {
    switch (loss) {
      case Loss::mse: return static_cast<double>(math::mse_loss(x[i], t[i]));
      case Loss::huber: return static_cast<double>(math::huber_loss(x[i], t[i], delta));
      default: return static_cast<double>(math::bce_with_logits_loss(x[i], t[i]));
    }
  }
};

// dx, x, t: (n,)
template <class T>
__global__ void point_backward(T* dx, const T* x, const T* t, int64_t n, Loss loss, T delta, T scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    switch (loss) {
      case Loss::mse: dx[i] = math::mse_grad(x[i], t[i], scale); break;
      case Loss::huber: dx[i] = math::huber_grad(x[i], t[i], delta, scale); break;
      default: dx[i] = math::bce_with_logits_grad(x[i], t[i], scale); break;
    }
  }
}

constexpr int kWarps = 8;

}  // namespace

void check_labels_range(const char* op, const Tensor& labels, int64_t C) {
  const int64_t N = labels.numel;
  Scratch s(op, sizeof(unsigned long long));
  auto* first = s.as<unsigned long long>();
  const unsigned long long init = static_cast<unsigned long long>(N);
  check(op, "cudaMemcpyAsync", cudaMemcpyAsync(first, &init, sizeof(init), cudaMemcpyHostToDevice, stream()));
  find_bad_label<<<grid_for(N, 256), 256, 0, stream()>>>(first, labels.ptr<int64_t>(), N, C);
  check_launch(op);
  unsigned long long pos = 0;
  to_host(op, &pos, first, 1);
  if (pos < static_cast<unsigned long long>(N)) {
    int64_t bad = 0;
    to_host(op, &bad, labels.ptr<int64_t>() + pos, 1);
    value_error(op, "labels", "class indices in [0, " + std::to_string(C) + ")",
                std::to_string(bad) + " at position " + std::to_string(pos));
  }
}

double cross_entropy_forward(const Tensor& logits, const Tensor& labels) {
  const char* op = "cross_entropy_forward";
  const int64_t N = logits.shape[0], C = logits.shape[1];
  Scratch rows(op, N * sizeof(double));
  PB_DISPATCH_FLOAT(logits.dtype, T, {
    ce_rows<T><<<grid_for(N, kWarps), 32 * kWarps, 0, stream()>>>(rows.as<double>(), logits.ptr<T>(),
                                                                    labels.ptr<int64_t>(), N, C);
  });
  check_launch(op);
  return device_sum(op, N, RowTerm{rows.as<double>()});
}

void cross_entropy_backward(const Tensor& dx, const Tensor& logits, const Tensor& labels, double scale) {
  const int64_t N = logits.shape[0], C = logits.shape[1];
  PB_DISPATCH_FLOAT(logits.dtype, T, {
    ce_backward<T><<<grid_for(N, kWarps), 32 * kWarps, 0, stream()>>>(dx.ptr<T>(), logits.ptr<T>(),
                                                                        labels.ptr<int64_t>(), N, C, T(scale));
  });
  check_launch("cross_entropy_backward");
}

double pointwise_loss_forward(Loss loss, const Tensor& input, const Tensor& target, double delta) {
  const char* op = "loss_forward";
  double r = 0;
  PB_DISPATCH_FLOAT(input.dtype, T, {
    r = device_sum(op, input.numel, PointTerm<T>{loss, input.ptr<T>(), target.ptr<T>(), T(delta)});
  });
  return r;
}

void pointwise_loss_backward(Loss loss, const Tensor& dx, const Tensor& input, const Tensor& target,
                             double delta, double scale) {
  const int64_t n = input.numel;
  PB_DISPATCH_FLOAT(input.dtype, T, {
    point_backward<T><<<grid_for(n, 256), 256, 0, stream()>>>(dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), n, loss,
                                                              T(delta), T(scale));
  });
  check_launch("loss_backward");
}

}  // namespace pb::cuda
