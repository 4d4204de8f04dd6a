#include "ops/optim.h"

#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/optim.h"
#include "cuda/ops.h"

namespace pb::ops {

namespace {

// param: float, C-contiguous, writable, not overlapping grad; grad: same dtype and shape. An empty
// param is allowed (the step is a no-op after every check).
void check_param_grad(const char* op, const Tensor& param, const Tensor& grad) {
  check_input(op, "param", param, kAnyNdim, Empty::any);
  check_input(op, "grad", grad, kAnyNdim, Empty::any);
  check_dtype(op, "grad", grad, param.dtype);
  check_shape(op, "grad", grad, param.shape_vec());
  check_output(op, "param", param, param.dtype, param.shape_vec(), {&grad});
}

// A state array updated in place: present (`why` says when it is required), param's dtype and
// shape, C-contiguous, writable, sharing memory with none of param, grad and the earlier states.
void check_state(const char* op, const char* arg, const Tensor& t, const char* why, const Tensor& param,
                 const Tensor& grad, std::initializer_list<const Tensor*> earlier) {
  if (!t.present) value_error(op, arg, std::string("an array (") + why + ")", "None");
  check_output(op, arg, t, param.dtype, param.shape_vec(), {&grad});
  check_disjoint(op, arg, t, param);
  for (const Tensor* e : earlier)
    if (e && e->present) check_disjoint(op, arg, t, *e);
}

void check_lr(const char* op, double lr) { check_finite_nonneg(op, "lr", lr); }
void check_finite(const char* op, const char* arg, double v) {
  if (!std::isfinite(v)) value_error(op, arg, "a finite value", num_str(v));
}
void check_beta(const char* op, const char* arg, double b) {
  if (!(b >= 0 && b < 1)) value_error(op, arg, "a value in [0, 1)", num_str(b));
}
void check_step(const char* op, int64_t step) {
  if (step < 1) value_error(op, "step", "an integer >= 1 (the 1-based count of this update)", std::to_string(step));
}

// ---- the implementations (kernels: csrc/cpu/optim.h; CUDA entries: csrc/cuda/ops.h) ----
template <class T> using SgdCpu = void(T* param, T* momentum_buf, const T* grad, int64_t n, const math::SgdConfig& cfg);
template <class T> using AdagradCpu = void(T* param, T* state_sum, const T* grad, int64_t n, const math::AdagradConfig& cfg);
template <class T>
using RmspropCpu = void(T* param, T* square_avg, T* momentum_buf, T* grad_avg, const T* grad, int64_t n,
                        const math::RmspropConfig& cfg);
template <class T>
using AdamCpu = void(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, int64_t n, const math::AdamConfig& cfg);
using SgdCuda = void(const Tensor& param, const Tensor& momentum_buf, const Tensor& grad, const math::SgdConfig& cfg);
using AdagradCuda = void(const Tensor& param, const Tensor& state_sum, const Tensor& grad, const math::AdagradConfig& cfg);
using RmspropCuda = void(const Tensor& param, const Tensor& square_avg, const Tensor& momentum_buf,
                         const Tensor& grad_avg, const Tensor& grad, const math::RmspropConfig& cfg);
using AdamCuda = void(const Tensor& param, const Tensor& exp_avg, const Tensor& exp_avg_sq, const Tensor& grad,
                      const math::AdamConfig& cfg);

constexpr const char* kNaive = "plain loop, one thread; CUDA: a thread per element";
constexpr const char* kVec = "threads over fixed chunks, a loop the compiler vectorizes";

const OpImpl<CpuKernel<SgdCpu>, SgdCuda> kSgd[] = {
    {"naive", kNaive, PB_CPU_KERNEL(sgd_step_naive), PB_CUDA_ENTRY(sgd_step), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(sgd_step_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<AdagradCpu>, AdagradCuda> kAdagrad[] = {
    {"naive", kNaive, PB_CPU_KERNEL(adagrad_step_naive), PB_CUDA_ENTRY(adagrad_step), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(adagrad_step_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<RmspropCpu>, RmspropCuda> kRmsprop[] = {
    {"naive", kNaive, PB_CPU_KERNEL(rmsprop_step_naive), PB_CUDA_ENTRY(rmsprop_step), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(rmsprop_step_vec), nullptr, kDefaultCpu},
};
// Adam and AdamW (cfg.decoupled) share kernels and table.
const OpImpl<CpuKernel<AdamCpu>, AdamCuda> kAdam[] = {
    {"naive", kNaive, PB_CPU_KERNEL(adam_step_naive), PB_CUDA_ENTRY(adam_step), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(adam_step_vec), nullptr, kDefaultCpu},
};
PB_REGISTER_OP("sgd_step", kSgd);
PB_REGISTER_OP("adagrad_step", kAdagrad);
PB_REGISTER_OP("rmsprop_step", kRmsprop);
PB_REGISTER_OP("adam_step", kAdam);
PB_REGISTER_OP("adamw_step", kAdam);

}  // namespace

void sgd_step(const Tensor& param, const Tensor& momentum_buf, const Tensor& grad, const math::SgdConfig& cfg,
              const std::string& impl) {
  const char* op = "sgd_step";
  check_param_grad(op, param, grad);
  check_lr(op, cfg.lr);
  check_finite_nonneg(op, "momentum", cfg.momentum);
  check_finite(op, "dampening", cfg.dampening);
  check_finite_nonneg(op, "weight_decay", cfg.weight_decay);
  if (cfg.nesterov && !(cfg.momentum > 0 && cfg.dampening == 0))
    value_error(op, "nesterov", "momentum > 0 and dampening == 0 (as torch.optim.SGD)",
                "momentum=" + num_str(cfg.momentum) + ", dampening=" + num_str(cfg.dampening));
  check_step(op, cfg.step);
  const bool need_buf = cfg.momentum != 0;
  if (need_buf) check_state(op, "momentum_buf", momentum_buf, "required when momentum != 0", param, grad, {});
  const bool cuda =
      on_cuda(op, {{"param", &param}, {"grad", &grad}, {"momentum_buf", need_buf ? &momentum_buf : nullptr}});
  const auto& e = pick(kSgd, op, impl, cuda, param.dtype);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) return e.cuda(param, momentum_buf, grad, cfg);
  PB_DISPATCH_FLOAT(param.dtype, T, {
    T* buf = need_buf ? momentum_buf.ptr<T>() : nullptr;
    e.cpu.call<T>(param.ptr<T>(), buf, grad.ptr<T>(), param.numel, cfg);
  });
}

void adagrad_step(const Tensor& param, const Tensor& state_sum, const Tensor& grad, const math::AdagradConfig& cfg,
                  const std::string& impl) {
  const char* op = "adagrad_step";
  check_param_grad(op, param, grad);
  check_lr(op, cfg.lr);
  check_finite_nonneg(op, "lr_decay", cfg.lr_decay);
  check_finite_nonneg(op, "weight_decay", cfg.weight_decay);
  check_finite_nonneg(op, "eps", cfg.eps);
  check_step(op, cfg.step);
  check_state(op, "state_sum", state_sum, "always required", param, grad, {});
  const bool cuda = on_cuda(op, {{"param", &param}, {"grad", &grad}, {"state_sum", &state_sum}});
  const auto& e = pick(kAdagrad, op, impl, cuda, param.dtype);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) return e.cuda(param, state_sum, grad, cfg);
  PB_DISPATCH_FLOAT(param.dtype, T, e.cpu.call<T>(param.ptr<T>(), state_sum.ptr<T>(), grad.ptr<T>(), param.numel, cfg));
}

void rmsprop_step(const Tensor& param, const Tensor& square_avg, const Tensor& momentum_buf, const Tensor& grad_avg,
                  const Tensor& grad, const math::RmspropConfig& cfg, const std::string& impl) {
  const char* op = "rmsprop_step";
  check_param_grad(op, param, grad);
  check_lr(op, cfg.lr);
  check_range(op, "alpha", cfg.alpha, 0.0, 1.0);
  check_finite_nonneg(op, "eps", cfg.eps);
  check_finite_nonneg(op, "weight_decay", cfg.weight_decay);
  check_finite_nonneg(op, "momentum", cfg.momentum);
  const bool need_buf = cfg.momentum > 0, need_gavg = cfg.centered;
  check_state(op, "square_avg", square_avg, "always required", param, grad, {});
  if (need_buf) check_state(op, "momentum_buf", momentum_buf, "required when momentum > 0", param, grad, {&square_avg});
  if (need_gavg)
    check_state(op, "grad_avg", grad_avg, "required when centered=True", param, grad,
                {&square_avg, need_buf ? &momentum_buf : nullptr});
  const bool cuda = on_cuda(op, {{"param", &param}, {"grad", &grad}, {"square_avg", &square_avg},
                                  {"momentum_buf", need_buf ? &momentum_buf : nullptr}, {"grad_avg", need_gavg ? &grad_avg : nullptr}});
  const auto& e = pick(kRmsprop, op, impl, cuda, param.dtype);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) return e.cuda(param, square_avg, momentum_buf, grad_avg, grad, cfg);
  PB_DISPATCH_FLOAT(param.dtype, T, {
    T* buf = need_buf ? momentum_buf.ptr<T>() : nullptr;
    T* gavg = need_gavg ? grad_avg.ptr<T>() : nullptr;
    e.cpu.call<T>(param.ptr<T>(), square_avg.ptr<T>(), buf, gavg, grad.ptr<T>(), param.numel, cfg);
  });
}

void adam_step(const Tensor& param, const Tensor& exp_avg, const Tensor& exp_avg_sq, const Tensor& grad,
               const math::AdamConfig& cfg, const std::string& impl) {
  const char* op = cfg.decoupled ? "adamw_step" : "adam_step";
  check_param_grad(op, param, grad);
  check_lr(op, cfg.lr);
  check_beta(op, "betas[0]", cfg.beta1);
  check_beta(op, "betas[1]", cfg.beta2);
  check_finite_nonneg(op, "eps", cfg.eps);
  check_finite_nonneg(op, "weight_decay", cfg.weight_decay);
  check_step(op, cfg.step);
  check_state(op, "exp_avg", exp_avg, "always required", param, grad, {});
  check_state(op, "exp_avg_sq", exp_avg_sq, "always required", param, grad, {&exp_avg});
  const bool cuda =
      on_cuda(op, {{"param", &param}, {"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}});
  const auto& e = pick(kAdam, op, impl, cuda, param.dtype);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) return e.cuda(param, exp_avg, exp_avg_sq, grad, cfg);
  PB_DISPATCH_FLOAT(param.dtype, T, {
    e.cpu.call<T>(param.ptr<T>(), exp_avg.ptr<T>(), exp_avg_sq.ptr<T>(), grad.ptr<T>(), param.numel, cfg);
  });
}

}  // namespace pb::ops
