#pragma once
#include <cstdint>

#include "core/isa.h"
#include "math/optim.h"

// Optimizer updates, in place, one pass over param / grad / state.
// param, grad and every state array: (n,); a state array the config does not use may be null
// (SGD's momentum_buf when momentum == 0; RMSprop's momentum_buf when momentum == 0 and grad_avg
// when not centered).
PB_CPU_DECLARE(
  template <class T> void sgd_step_naive(T* param, T* momentum_buf, const T* grad, int64_t n, const math::SgdConfig& cfg);
  template <class T> void sgd_step_vec(T* param, T* momentum_buf, const T* grad, int64_t n, const math::SgdConfig& cfg);
  template <class T> void adagrad_step_naive(T* param, T* state_sum, const T* grad, int64_t n, const math::AdagradConfig& cfg);
  template <class T> void adagrad_step_vec(T* param, T* state_sum, const T* grad, int64_t n, const math::AdagradConfig& cfg);
  template <class T>
  void rmsprop_step_naive(T* param, T* square_avg, T* momentum_buf, T* grad_avg, const T* grad, int64_t n,
                          const math::RmspropConfig& cfg);
  template <class T>
  void rmsprop_step_vec(T* param, T* square_avg, T* momentum_buf, T* grad_avg, const T* grad, int64_t n,
                        const math::RmspropConfig& cfg);
  // Adam and AdamW (cfg.decoupled).
  template <class T> void adam_step_naive(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, int64_t n, const math::AdamConfig& cfg);
  template <class T> void adam_step_vec(T* param, T* exp_avg, T* exp_avg_sq, const T* grad, int64_t n, const math::AdamConfig& cfg);
)
