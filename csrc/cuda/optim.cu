// CUDA optimizer updates; the per-element update and its coefficients from math/optim.h (the
// CPU's own, so float64 agrees with the CPU to rounding). param, grad, states: (n,) flattened.
#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "math/optim.h"

namespace pb::cuda {

// One implementation ("naive" in csrc/ops/optim.cpp's tables): a thread per element, grid-stride
// (memory-bound: each element is read and written once).

namespace {

#define PB_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// param, grad, buf (or null when momentum == 0): (n,)
template <class T> __global__ void sgd_kernel(T* param, T* buf, const T* grad, int64_t n, math::SgdCoef<T> k) {
  PB_GRID_STRIDE(i, n) {
    T b = buf ? buf[i] : T(0);
    param[i] = math::sgd_update(k, param[i], grad[i], b);
    if (buf) buf[i] = b;
  }
}
// param, sum, grad: (n,)
template <class T> __global__ void adagrad_kernel(T* param, T* sum, const T* grad, int64_t n, math::AdagradCoef<T> k) {
  PB_GRID_STRIDE(i, n) {
    T s = sum[i];
    param[i] = math::adagrad_update(k, param[i], grad[i], s);
    sum[i] = s;
  }
}
// param, sq, grad: (n,); buf, gavg: (n,) or null
template <class T>
__global__ void rmsprop_kernel(T* param, T* sq, T* buf, T* gavg, const T* grad, int64_t n, math::RmspropCoef<T> k) {
  PB_GRID_STRIDE(i, n) {
    T s = sq[i], b = buf ? buf[i] : T(0), ga = gavg ? gavg[i] : T(0);
    param[i] = math::rmsprop_update(k, param[i], grad[i], s, ga, b);
    sq[i] = s;
    if (buf) buf[i] = b;
    if (gavg) gavg[i] = ga;
  }
}
// param, m, v, grad: (n,)
template <class T> __global__ void adam_kernel(T* param, T* m, T* v, const T* grad, int64_t n, math::AdamCoef<T> k) {
  PB_GRID_STRIDE(i, n) {
    T mi = m[i], vi = v[i];
    param[i] = math::adam_update(k, param[i], grad[i], mi, vi);
    m[i] = mi;
    v[i] = vi;
  }
}

template <class T> T* opt_ptr(const Tensor& t) { return t.present ? t.ptr<T>() : nullptr; }
constexpr int kBlock = 256;

}  // namespace

void sgd_step(const Tensor& param, const Tensor& momentum_buf, const Tensor& grad, const math::SgdConfig& cfg) {
  const int64_t n = param.numel;
  PB_DISPATCH_FLOAT(param.dtype, T, {
    T* buf = cfg.momentum != 0 ? momentum_buf.ptr<T>() : nullptr;
    sgd_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(param.ptr<T>(), buf, grad.ptr<T>(), n,
                                                                math::sgd_coef<T>(cfg));
  });
  check_launch("sgd_step");
}

void adagrad_step(const Tensor& param, const Tensor& state_sum, const Tensor& grad, const math::AdagradConfig& cfg) {
  const int64_t n = param.numel;
  PB_DISPATCH_FLOAT(param.dtype, T, {
    adagrad_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(param.ptr<T>(), state_sum.ptr<T>(), grad.ptr<T>(),
                                                                    n, math::adagrad_coef<T>(cfg));
  });
  check_launch("adagrad_step");
}

void rmsprop_step(const Tensor& param, const Tensor& square_avg, const Tensor& momentum_buf,
                  const Tensor& grad_avg, const Tensor& grad, const math::RmspropConfig& cfg) {
  const int64_t n = param.numel;
  PB_DISPATCH_FLOAT(param.dtype, T, {
    T* buf = cfg.momentum > 0 ? momentum_buf.ptr<T>() : nullptr;
    T* gavg = cfg.centered ? grad_avg.ptr<T>() : nullptr;
    rmsprop_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(param.ptr<T>(), square_avg.ptr<T>(), buf, gavg,
                                                                    grad.ptr<T>(), n, math::rmsprop_coef<T>(cfg));
  });
  check_launch("rmsprop_step");
}

void adam_step(const Tensor& param, const Tensor& exp_avg, const Tensor& exp_avg_sq, const Tensor& grad,
               const math::AdamConfig& cfg) {
  const int64_t n = param.numel;
  PB_DISPATCH_FLOAT(param.dtype, T, {
    adam_kernel<T><<<grid_for(n, kBlock), kBlock, 0, stream()>>>(param.ptr<T>(), exp_avg.ptr<T>(), exp_avg_sq.ptr<T>(),
                                                                 grad.ptr<T>(), n, math::adam_coef<T>(cfg));
  });
  check_launch(cfg.decoupled ? "adamw_step" : "adam_step");
}

}  // namespace pb::cuda
