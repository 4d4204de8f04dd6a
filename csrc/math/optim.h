// Optimizer update formulas (torch.optim's single-tensor algorithms), written once for the CPU
// loops (csrc/cpu/optim.cpp) and the CUDA kernels.
//
// Each optimizer has
//   - a Config: the hyperparameters as the caller gave them (double, validated in csrc/ops);
//   - a Coef<T>: what the element loop needs, derived once per call in double and then rounded
//     to T, exactly where PyTorch rounds its Python-float scalars to the tensor's dtype
//     (so e.g. Adam's step size lr / (1 - beta1^step) is formed in double, as in torch);
//   - an update on one element, in T, with PyTorch's operation order (add(alpha=), mul_,
//     addcmul_ = s + value * a * b, addcdiv_ = s + value * a / b as ATen's CPU kernels group
//     them, lerp_), so float64 agrees with torch.optim to rounding.
// `step` is 1-based: the value of PyTorch's state["step"] after its increment.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/common.h"

namespace pb::math {

// torch.lerp: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w) (exact at both ends).
template <class T> PB_INLINE T lerp(T a, T b, T w) {
  return std::fabs(w) < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

// ---- SGD ------------------------------------------------------------------------------------
struct SgdConfig {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  int64_t step = 1;  // step == 1 initializes the momentum buffer to the gradient
};
template <class T> struct SgdCoef {
  T neg_lr, momentum, one_minus_dampening, weight_decay;
  bool has_wd, has_momentum, nesterov, first;
};
template <class T> PB_INLINE SgdCoef<T> sgd_coef(const SgdConfig& c) {
  SgdCoef<T> k;
  k.neg_lr = T(-c.lr);
  k.momentum = T(c.momentum);
  k.one_minus_dampening = T(1.0 - c.dampening);
  k.weight_decay = T(c.weight_decay);
  k.has_wd = c.weight_decay != 0;
  k.has_momentum = c.momentum != 0;
  k.nesterov = c.nesterov;
  k.first = c.step == 1;
  return k;
}
// Returns the new parameter; `buf` (the momentum buffer) is read and written only when momentum != 0.
template <class T> PB_INLINE T sgd_update(const SgdCoef<T>& k, T p, T g, T& buf) {
  if (k.has_wd) g = g + k.weight_decay * p;                       // grad.add(param, alpha=wd)
  if (k.has_momentum) {
    buf = k.first ? g : buf * k.momentum + k.one_minus_dampening * g;  // buf.mul_(m).add_(g, alpha=1-d)
    g = k.nesterov ? g + k.momentum * buf : buf;                  // grad.add(buf, alpha=m) or buf
  }
  return p + k.neg_lr * g;                                        // param.add_(g, alpha=-lr)
}

// ---- AdaGrad --------------------------------------------------------------------------------
struct AdagradConfig {
  double lr = 0.01, lr_decay = 0, weight_decay = 0, eps = 1e-10;
  int64_t step = 1;
};
template <class T> struct AdagradCoef {
  T neg_clr, weight_decay, eps;
  bool has_wd;
};
template <class T> PB_INLINE AdagradCoef<T> adagrad_coef(const AdagradConfig& c) {
  AdagradCoef<T> k;
  k.neg_clr = T(-(c.lr / (1.0 + double(c.step - 1) * c.lr_decay)));  // clr = lr / (1 + (step-1) lr_decay)
  k.weight_decay = T(c.weight_decay);
  k.eps = T(c.eps);
  k.has_wd = c.weight_decay != 0;
  return k;
}
template <class T> PB_INLINE T adagrad_update(const AdagradCoef<T>& k, T p, T g, T& sum) {
  if (k.has_wd) g = g + k.weight_decay * p;  // grad.add(param, alpha=wd)
  sum = sum + g * g;                         // state_sum.addcmul_(g, g, value=1)
  const T std_ = std::sqrt(sum) + k.eps;     // state_sum.sqrt().add_(eps)
  return p + k.neg_clr * g / std_;           // param.addcdiv_(g, std, value=-clr)
}

// ---- RMSprop --------------------------------------------------------------------------------
struct RmspropConfig {
  double lr = 0.01, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false;
};
template <class T> struct RmspropCoef {
  T neg_lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  bool has_wd, has_momentum, centered;
};
template <class T> PB_INLINE RmspropCoef<T> rmsprop_coef(const RmspropConfig& c) {
  RmspropCoef<T> k;
  k.neg_lr = T(-c.lr);
  k.alpha = T(c.alpha);
  k.one_minus_alpha = T(1.0 - c.alpha);
  k.eps = T(c.eps);
  k.weight_decay = T(c.weight_decay);
  k.momentum = T(c.momentum);
  k.has_wd = c.weight_decay != 0;
  k.has_momentum = c.momentum > 0;
  k.centered = c.centered;
  return k;
}
// square_avg always; grad_avg only when centered; buf only when momentum > 0.
template <class T> PB_INLINE T rmsprop_update(const RmspropCoef<T>& k, T p, T g, T& sq, T& gavg, T& buf) {
  if (k.has_wd) g = g + k.weight_decay * p;          // grad.add(param, alpha=wd)
  sq = sq * k.alpha + k.one_minus_alpha * g * g;     // square_avg.mul_(alpha).addcmul_(g, g, value=1-alpha)
  T avg;
  if (k.centered) {
    gavg = lerp(gavg, g, k.one_minus_alpha);         // grad_avg.lerp_(g, 1-alpha)
    avg = std::sqrt(sq + T(-1) * gavg * gavg);       // square_avg.addcmul(ga, ga, value=-1).sqrt_()
  } else {
    avg = std::sqrt(sq);
  }
  avg = avg + k.eps;                                 // .add_(eps)
  if (k.has_momentum) {
    buf = buf * k.momentum + T(1) * g / avg;         // buf.mul_(m).addcdiv_(g, avg)
    return p + k.neg_lr * buf;                       // param.add_(buf, alpha=-lr)
  }
  return p + k.neg_lr * g / avg;                     // param.addcdiv_(g, avg, value=-lr)
}

// ---- Adam / AdamW ---------------------------------------------------------------------------
struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW: param *= 1 - lr * wd instead of adding wd * param to the grad
  int64_t step = 1;
};
template <class T> struct AdamCoef {
  T one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps, weight_decay, decay;
  bool l2, decoupled;
};
template <class T> PB_INLINE AdamCoef<T> adam_coef(const AdamConfig& c) {
  AdamCoef<T> k;
  const double bc1 = 1.0 - std::pow(c.beta1, double(c.step));
  const double bc2 = 1.0 - std::pow(c.beta2, double(c.step));
  k.one_minus_beta1 = T(1.0 - c.beta1);
  k.beta2 = T(c.beta2);
  k.one_minus_beta2 = T(1.0 - c.beta2);
  k.neg_step_size = T(-(c.lr / bc1));
  k.bias_correction2_sqrt = T(std::sqrt(bc2));
  k.eps = T(c.eps);
  k.weight_decay = T(c.weight_decay);
  k.decay = T(1.0 - c.lr * c.weight_decay);
  k.l2 = c.weight_decay != 0 && !c.decoupled;
  k.decoupled = c.weight_decay != 0 && c.decoupled;
  return k;
}
template <class T> PB_INLINE T adam_update(const AdamCoef<T>& k, T p, T g, T& m, T& v) {
  if (k.decoupled) p = p * k.decay;                       // AdamW: param.mul_(1 - lr*wd)
  if (k.l2) g = g + k.weight_decay * p;                   // Adam: grad.add(param, alpha=wd)
  m = lerp(m, g, k.one_minus_beta1);                      // exp_avg.lerp_(g, 1-beta1)
  v = v * k.beta2 + k.one_minus_beta2 * g * g;            // exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
  const T denom = std::sqrt(v) / k.bias_correction2_sqrt + k.eps;  // (v.sqrt() / bc2_sqrt).add_(eps)
  return p + k.neg_step_size * m / denom;                 // param.addcdiv_(m, denom, value=-step_size)
}

}  // namespace pb::math
