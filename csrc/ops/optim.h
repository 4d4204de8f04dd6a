#pragma once
#include <string>

#include "core/tensor.h"
#include "math/optim.h"

namespace pb::ops {
// In-place optimizer updates (torch.optim single-tensor semantics). Updated arrays first (param,
// then state), then grad, then the config. A state array the config does not need may be absent.
// `impl` "" picks the default (fastest).
void sgd_step(const Tensor& param, const Tensor& momentum_buf, const Tensor& grad, const math::SgdConfig& cfg,
              const std::string& impl);
void adagrad_step(const Tensor& param, const Tensor& state_sum, const Tensor& grad, const math::AdagradConfig& cfg,
                  const std::string& impl);
void rmsprop_step(const Tensor& param, const Tensor& square_avg, const Tensor& momentum_buf, const Tensor& grad_avg,
                  const Tensor& grad, const math::RmspropConfig& cfg, const std::string& impl);
// Adam (cfg.decoupled == false) and AdamW (true); `op` names the entry in messages.
void adam_step(const Tensor& param, const Tensor& exp_avg, const Tensor& exp_avg_sq, const Tensor& grad,
               const math::AdamConfig& cfg, const std::string& impl);
}  // namespace pb::ops
