#include "ops/batchnorm.h"

#include <limits>
#include <vector>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/batchnorm.h"
#include "cuda/ops.h"
#ifdef PB_DEV_KERNELS
#include "dev/kernels/batch_norm/batchnorm_dev.h"
#endif
#include "math/batchnorm.h"
#include "ops/copy.h"

namespace pb::ops {

namespace {

// ---- the implementations (kernels: csrc/cpu/batchnorm.h; CUDA entries: csrc/cuda/ops.h) ----
// An implementation is a set of passes over the data; the per-channel work between them is the
// op's (below). pipe: channel c's reading pass interleaved with channel c - 1's writing pass,
// bitwise equal to fused; the forward default. Its backward lost to l3: dev/kernels/batch_norm.
template <class T> using StatsCpu = void(double* mean, double* var, const T* x, int64_t N, int64_t C, int64_t S);
template <class T>
using ApplyCpu = void(T* y, const T* x, const double* mean, const double* scale, const double* shift, int64_t N,
                      int64_t C, int64_t S);
template <class T>
using ForwardPassCpu = void(T* y, double* mean, double* var, const T* x, const double* weight, const double* bias,
                            double eps, int64_t N, int64_t C, int64_t S, double* work);
template <class T>
using ReduceCpu = void(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, int64_t N,
                       int64_t C, int64_t S);
template <class T>
using GradInputCpu = void(T* dx, const T* dy, const T* x, const double* mean, const math::BnGradCoef* k, int64_t N,
                          int64_t C, int64_t S);
template <class T>
using BackwardPassCpu = void(T* dx, double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean,
                             const double* invstd, const double* weight, int64_t N, int64_t C, int64_t S,
                             bool training, double* work);

// Forward: the statistics (training), then y = (x - mean) * scale + shift; one_pass, where given,
// does both in one call for (N, C, H, W) in training (the running statistics stay the op's).
struct ForwardCpu {
  CpuKernel<StatsCpu> stats;
  CpuKernel<ApplyCpu> apply;
  CpuKernel<ForwardPassCpu> one_pass;
  constexpr bool present() const { return apply.present(); }
};
// Backward: the sums, then dx; one_pass, where given, does both for (N, C, H, W) when the sums
// are needed (training, or a weight to differentiate).
struct BackwardCpu {
  CpuKernel<ReduceCpu> reduce;
  CpuKernel<GradInputCpu> grad_input;
  CpuKernel<BackwardPassCpu> one_pass;
  constexpr bool present() const { return grad_input.present(); }
};
using ForwardCuda = void(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                         const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum, double eps);
using BackwardCuda = void(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                          const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                          bool training);

// The fused reductions with the signature of the naive ones: each brings its scratch.
template <class T> void stats_fused(double* mean, double* var, const T* x, int64_t N, int64_t C, int64_t S) {
  std::vector<double> work(cpu::bn_work_size(N, C, S));
  PB_CPU_CALL(batch_norm_stats_fused<T>, mean, var, x, N, C, S, work.data());
}
template <class T>
void reduce_fused(double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, int64_t N, int64_t C,
                  int64_t S) {
  std::vector<double> work(cpu::bn_work_size(N, C, S));
  PB_CPU_CALL(batch_norm_reduce_fused<T>, sum_dy, sum_dyxc, dy, x, mean, N, C, S, work.data());
}

constexpr const char* kNaive = "plain loops, one thread; CUDA: two passes for the statistics, one for the sums";
constexpr const char* kFused =
    "threads over a fixed partition, one-pass statistics per piece combined in a fixed order";

const OpImpl<ForwardCpu, ForwardCuda> kForward[] = {
    {"naive", kNaive, {PB_CPU_KERNEL(batch_norm_stats_naive), PB_CPU_KERNEL(batch_norm_apply_naive), {}},
     PB_CUDA_ENTRY(batch_norm_forward), kDefaultCuda},
    {"fused", kFused, {PB_HOST_KERNEL(stats_fused), PB_CPU_KERNEL(batch_norm_apply_fused), {}}},
    {"pipe", "training (N, C, H, W): statistics and y in one call, channels pipelined; else fused",
     {PB_HOST_KERNEL(stats_fused), PB_CPU_KERNEL(batch_norm_apply_fused), PB_CPU_KERNEL(batch_norm_forward_pipe)},
     nullptr, kDefaultCpu},
};
const OpImpl<BackwardCpu, BackwardCuda> kBackward[] = {
    {"naive", kNaive, {PB_CPU_KERNEL(batch_norm_reduce_naive), PB_CPU_KERNEL(batch_norm_grad_input_naive), {}},
     PB_CUDA_ENTRY(batch_norm_backward), kDefaultCuda},
    {"fused", kFused, {PB_HOST_KERNEL(reduce_fused), PB_CPU_KERNEL(batch_norm_grad_input_fused), {}}},
#ifdef PB_DEV_KERNELS
    {"pipe", "dev: (N, C, H, W): sums and dx in one call, channels pipelined; else fused",
     {PB_HOST_KERNEL(reduce_fused), PB_CPU_KERNEL(batch_norm_grad_input_fused),
      PB_CPU_KERNEL(batch_norm_backward_pipe)}},
#endif
    {"l3", "(N, C, H, W): sums and dx in one call, groups of channels while they are in L3; else fused",
     {PB_HOST_KERNEL(reduce_fused), PB_CPU_KERNEL(batch_norm_grad_input_fused), PB_CPU_KERNEL(batch_norm_backward_l3)},
     nullptr, kDefaultCpu},
};
PB_REGISTER_OP("batch_norm_forward", kForward);
PB_REGISTER_OP("batch_norm_backward", kBackward);

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Dims {
  int64_t N, C, S;
};

Dims dims_of(const Tensor& x) {
  return {x.shape[0], x.shape[1], x.ndim == 4 ? x.shape[2] * x.shape[3] : 1};
}

// An optional per-channel input: absent, or a C-contiguous (C,) array of the data's dtype.
void check_channel_input(const char* op, const char* arg, const Tensor& t, DType dtype, int64_t C) {
  if (!t.present) return;
  check_input(op, arg, t, {1});
  check_dtype(op, arg, t, dtype);
  check_shape(op, arg, t, {C});
}

template <class T> std::vector<double> to_double(const Tensor& t, int64_t C, double absent) {
  std::vector<double> v(C, absent);
  if (t.present)
    for (int64_t c = 0; c < C; ++c) v[c] = static_cast<double>(t.ptr<T>()[c]);
  return v;
}

}  // namespace

void batch_norm_forward(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                        const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps,
                        const std::string& impl) {
  const char* op = "batch_norm_forward";
  check_input(op, "x", x, {2, 4}, Empty::batch);
  const Dims d = dims_of(x);
  check_channel_input(op, "weight", weight, x.dtype, d.C);
  check_channel_input(op, "bias", bias, x.dtype, d.C);
  check_range(op, "momentum", momentum, 0.0, 1.0);
  check_finite_nonneg(op, "eps", eps);
  if (running_mean.present != running_var.present)
    value_error(op, running_mean.present ? "running_var" : "running_mean",
                "an array (running_mean and running_var come together)", "None");
  const bool have_running = running_mean.present;
  if (!training && !have_running)
    value_error(op, "running_mean", "running statistics when training=False", "None");
  if (training) {
    const int64_t m = checked_mul(op, "x", d.N, d.S);
    if (m == 1)  // PyTorch's "Expected more than 1 value per channel when training" (0 values: see below)
      value_error(op, "x", "more than 1 value per channel when training",
                  "input of shape " + shape_str(x) + " (" + std::to_string(m) + " value per channel)");
  }
  if (have_running) {
    if (training) {  // updated in place
      check_output(op, "running_mean", running_mean, x.dtype, {d.C}, {&x, &weight, &bias});
      check_output(op, "running_var", running_var, x.dtype, {d.C}, {&x, &weight, &bias});
      check_disjoint(op, "running_var", running_var, running_mean);
    } else {
      check_channel_input(op, "running_mean", running_mean, x.dtype, d.C);
      check_channel_input(op, "running_var", running_var, x.dtype, d.C);
    }
  }
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x, &weight, &bias, &running_mean, &running_var});
  check_output(op, "save_mean", save_mean, x.dtype, {d.C}, {&x, &weight, &bias, &running_mean, &running_var, &y});
  check_output(op, "save_invstd", save_invstd, x.dtype, {d.C},
               {&x, &weight, &bias, &running_mean, &running_var, &y, &save_mean});
  const bool cuda =
      on_cuda(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}, {"running_mean", &running_mean},
                   {"running_var", &running_var}, {"out", &y}, {"save_mean", &save_mean}, {"save_invstd", &save_invstd}});
  const auto& e = pick(kForward, op, impl, cuda, x.dtype);
  if (training && x.numel == 0) {  // as PyTorch: y empty, running statistics untouched;
    fill(op, save_mean, kNaN);      // the mean and invstd of no values are NaN
    fill(op, save_invstd, kNaN);
    return;
  }
  // An empty batch in eval mode goes on: save_mean / save_invstd still come from the running
  // statistics, and the kernels skip the empty y.
  if (cuda)
    return e.cuda(y, save_mean, save_invstd, x, weight, bias, running_mean, running_var, training, momentum, eps);

  PB_DISPATCH_FLOAT(x.dtype, T, {
    std::vector<double> mean(d.C), var(d.C);
    // one pass (pipe), training, (N, C, H, W): statistics and y in one call; the rest below
    const bool one_pass = e.cpu.one_pass.present() && training && d.S > 1;
    if (one_pass) {
      const std::vector<double> w = to_double<T>(weight, d.C, 1.0), b = to_double<T>(bias, d.C, 0.0);
      std::vector<double> work(cpu::bn_work_size(d.N, d.C, d.S));
      e.cpu.one_pass.call<T>(y.ptr<T>(), mean.data(), var.data(), x.ptr<T>(), w.data(), b.data(), eps, d.N, d.C, d.S,
                             work.data());
    }
    if (training) {
      if (!one_pass) e.cpu.stats.call<T>(mean.data(), var.data(), x.ptr<T>(), d.N, d.C, d.S);
      if (have_running) {
        const double m = static_cast<double>(d.N) * static_cast<double>(d.S);
        T* rm = running_mean.ptr<T>();
        T* rv = running_var.ptr<T>();
        for (int64_t c = 0; c < d.C; ++c) {
          rm[c] = static_cast<T>(math::bn_running_update(rm[c], mean[c], momentum));
          rv[c] = static_cast<T>(math::bn_running_update(rv[c], math::bn_unbiased(var[c], m), momentum));
        }
      }
    } else {
      mean = to_double<T>(running_mean, d.C, 0.0);
      var = to_double<T>(running_var, d.C, 0.0);
    }
    const std::vector<double> w = to_double<T>(weight, d.C, 1.0), b = to_double<T>(bias, d.C, 0.0);
    std::vector<double> scale(d.C);
    for (int64_t c = 0; c < d.C; ++c) {
      const double invstd = math::bn_invstd(var[c], eps);
      scale[c] = invstd * w[c];
      save_mean.ptr<T>()[c] = static_cast<T>(mean[c]);
      save_invstd.ptr<T>()[c] = static_cast<T>(invstd);
    }
    if (!one_pass && x.numel != 0)
      e.cpu.apply.call<T>(y.ptr<T>(), x.ptr<T>(), mean.data(), scale.data(), b.data(), d.N, d.C, d.S);
  });
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                         const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         bool training, const std::string& impl) {
  const char* op = "batch_norm_backward";
  check_input(op, "dy", dy, {2, 4}, Empty::batch);
  check_input(op, "x", x, {dy.ndim}, Empty::batch);
  check_dtype(op, "x", x, dy.dtype);
  check_shape(op, "x", x, dy.shape_vec());
  const Dims d = dims_of(x);
  check_channel_input(op, "weight", weight, x.dtype, d.C);
  if (!save_mean.present) value_error(op, "save_mean", "an array", "None");
  if (!save_invstd.present) value_error(op, "save_invstd", "an array", "None");
  check_channel_input(op, "save_mean", save_mean, x.dtype, d.C);
  check_channel_input(op, "save_invstd", save_invstd, x.dtype, d.C);
  check_output(op, "dx", dx, x.dtype, x.shape_vec(), {&dy, &x, &weight, &save_mean, &save_invstd});
  if (weight.present) {
    check_output(op, "dweight", dweight, x.dtype, {d.C}, {&dy, &x, &weight, &save_mean, &save_invstd, &dx});
    check_output(op, "dbias", dbias, x.dtype, {d.C}, {&dy, &x, &weight, &save_mean, &save_invstd, &dx, &dweight});
  } else {
    if (dweight.present) value_error(op, "dweight", "None (weight is None)", "an array");
    if (dbias.present) value_error(op, "dbias", "None (weight is None)", "an array");
  }
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"x", &x}, {"weight", &weight}, {"save_mean", &save_mean},
                                  {"save_invstd", &save_invstd}, {"dx", &dx}, {"dweight", &dweight}, {"dbias", &dbias}});
  const auto& e = pick(kBackward, op, impl, cuda, x.dtype);
  if (x.numel == 0) {  // an empty batch: dx empty, dweight / dbias sums over nothing (zeros, as PyTorch)
    if (weight.present) {
      fill(op, dweight, 0.0);
      fill(op, dbias, 0.0);
    }
    return;
  }
  if (cuda) return e.cuda(dx, dweight, dbias, dy, x, weight, save_mean, save_invstd, training);

  PB_DISPATCH_FLOAT(x.dtype, T, {
    const std::vector<double> mean = to_double<T>(save_mean, d.C, 0.0), invstd = to_double<T>(save_invstd, d.C, 0.0);
    const std::vector<double> w = to_double<T>(weight, d.C, 1.0);
    std::vector<double> sum_dy(d.C, 0.0), sum_dyxc(d.C, 0.0);
    const double m = static_cast<double>(d.N) * static_cast<double>(d.S);
    // one pass (l3; pipe in the dev build): sums, coefficients and dx in one call; (N, C) data and
    // eval without weight take the passes below
    if (e.cpu.one_pass.present() && d.S > 1 && (training || weight.present)) {
      std::vector<double> work(cpu::bn_l3_work_size(d.N, d.C, d.S, sizeof(T)));
      e.cpu.one_pass.call<T>(dx.ptr<T>(), sum_dy.data(), sum_dyxc.data(), dy.ptr<T>(), x.ptr<T>(), mean.data(),
                             invstd.data(), w.data(), d.N, d.C, d.S, training, work.data());
      if (weight.present)
        for (int64_t c = 0; c < d.C; ++c) {
          dweight.ptr<T>()[c] = static_cast<T>(sum_dyxc[c] * invstd[c]);
          dbias.ptr<T>()[c] = static_cast<T>(sum_dy[c]);
        }
      return;
    }
    if (training || weight.present)
      e.cpu.reduce.call<T>(sum_dy.data(), sum_dyxc.data(), dy.ptr<T>(), x.ptr<T>(), mean.data(), d.N, d.C, d.S);
    std::vector<math::BnGradCoef> k(d.C);
    for (int64_t c = 0; c < d.C; ++c) {
      k[c] = math::bn_grad_coef(w[c], invstd[c], sum_dy[c], sum_dyxc[c], m, training);
      if (weight.present) {
        dweight.ptr<T>()[c] = static_cast<T>(sum_dyxc[c] * invstd[c]);
        dbias.ptr<T>()[c] = static_cast<T>(sum_dy[c]);
      }
    }
    e.cpu.grad_input.call<T>(dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), mean.data(), k.data(), d.N, d.C, d.S);
  });
}

}  // namespace pb::ops
