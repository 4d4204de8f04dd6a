#include "ops/optim.h"

#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "cpu/optim.h"
#include "cuda/ops.h"

namespace pb::ops {

PB_REGISTER_IMPLS("sgd_step", "naive", "vec");
PB_REGISTER_IMPLS("adagrad_step", "naive", "vec");
PB_REGISTER_IMPLS("rmsprop_step", "naive", "vec");
PB_REGISTER_IMPLS("adam_step", "naive", "vec");
PB_REGISTER_IMPLS("adamw_step", "naive", "vec");

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
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) {
    PB_CUDA_ONLY(cuda::sgd_step(v, param, momentum_buf, grad, cfg));
    return;
  }
  PB_DISPATCH_FLOAT(param.dtype, T, {
    T* buf = need_buf ? momentum_buf.ptr<T>() : nullptr;
    if (v == 0) PB_CPU_CALL(sgd_step_naive<T>, param.ptr<T>(), buf, grad.ptr<T>(), param.numel, cfg);
    else PB_CPU_CALL(sgd_step_vec<T>, param.ptr<T>(), buf, grad.ptr<T>(), param.numel, cfg);
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
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) {
    PB_CUDA_ONLY(cuda::adagrad_step(v, param, state_sum, grad, cfg));
    return;
  }
  PB_DISPATCH_FLOAT(param.dtype, T, {
    if (v == 0) PB_CPU_CALL(adagrad_step_naive<T>, param.ptr<T>(), state_sum.ptr<T>(), grad.ptr<T>(), param.numel, cfg);
    else PB_CPU_CALL(adagrad_step_vec<T>, param.ptr<T>(), state_sum.ptr<T>(), grad.ptr<T>(), param.numel, cfg);
  });
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
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) {
    PB_CUDA_ONLY(cuda::rmsprop_step(v, param, square_avg, momentum_buf, grad_avg, grad, cfg));
    return;
  }
  PB_DISPATCH_FLOAT(param.dtype, T, {
    T* buf = need_buf ? momentum_buf.ptr<T>() : nullptr;
    T* gavg = need_gavg ? grad_avg.ptr<T>() : nullptr;
    if (v == 0) PB_CPU_CALL(rmsprop_step_naive<T>, param.ptr<T>(), square_avg.ptr<T>(), buf, gavg, grad.ptr<T>(), param.numel, cfg);
    else PB_CPU_CALL(rmsprop_step_vec<T>, param.ptr<T>(), square_avg.ptr<T>(), buf, gavg, grad.ptr<T>(), param.numel, cfg);
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
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (param.numel == 0) return;  // nothing to update
  if (cuda) {
    PB_CUDA_ONLY(cuda::adam_step(v, param, exp_avg, exp_avg_sq, grad, cfg));
    return;
  }
  PB_DISPATCH_FLOAT(param.dtype, T, {
    if (v == 0) PB_CPU_CALL(adam_step_naive<T>, param.ptr<T>(), exp_avg.ptr<T>(), exp_avg_sq.ptr<T>(), grad.ptr<T>(), param.numel, cfg);
    else PB_CPU_CALL(adam_step_vec<T>, param.ptr<T>(), exp_avg.ptr<T>(), exp_avg_sq.ptr<T>(), grad.ptr<T>(), param.numel, cfg);
  });
}

}  // namespace pb::ops
