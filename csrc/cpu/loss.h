#pragma once
#include <cstdint>

#include "core/isa.h"

// Losses. Forward kernels return the SUM of the per-sample terms in double (the op divides by
// the count); backward kernels write d(mean)/d(input) * grad, with scale = grad / count given.
// Labels are validated (in [0, C)) by the caller.
PB_CPU_DECLARE(
  // logits, dx: (N, C); labels: (N,) int64.
  template <class T> double cross_entropy_forward_naive(const T* logits, const int64_t* labels, int64_t N, int64_t C);
  template <class T> double cross_entropy_forward_vec(const T* logits, const int64_t* labels, int64_t N, int64_t C);
  template <class T> void cross_entropy_backward_naive(T* dx, const T* logits, const int64_t* labels, int64_t N, int64_t C, T scale);
  template <class T> void cross_entropy_backward_vec(T* dx, const T* logits, const int64_t* labels, int64_t N, int64_t C, T scale);

  // x (input), t (target), dx: (n,) -- element-wise losses; shapes are the caller's business.
  template <class T> double mse_forward_naive(const T* x, const T* t, int64_t n);
  template <class T> double mse_forward_vec(const T* x, const T* t, int64_t n);
  template <class T> void mse_backward_naive(T* dx, const T* x, const T* t, int64_t n, T scale);
  template <class T> void mse_backward_vec(T* dx, const T* x, const T* t, int64_t n, T scale);

  template <class T> double huber_forward_naive(const T* x, const T* t, int64_t n, T delta);
  template <class T> double huber_forward_vec(const T* x, const T* t, int64_t n, T delta);
  template <class T> void huber_backward_naive(T* dx, const T* x, const T* t, int64_t n, T delta, T scale);
  template <class T> void huber_backward_vec(T* dx, const T* x, const T* t, int64_t n, T delta, T scale);

  template <class T> double bce_with_logits_forward_naive(const T* x, const T* t, int64_t n);
  template <class T> double bce_with_logits_forward_vec(const T* x, const T* t, int64_t n);
  template <class T> void bce_with_logits_backward_naive(T* dx, const T* x, const T* t, int64_t n, T scale);
  template <class T> void bce_with_logits_backward_vec(T* dx, const T* x, const T* t, int64_t n, T scale);
)
