#pragma once
#include <cstdint>

#include "core/isa.h"

// y, x, dy, dx: (n,) -- activations are element-wise; shapes are the caller's business.
PB_CPU_DECLARE(
  template <class T> void relu_forward_naive(T* y, const T* x, int64_t n);
  template <class T> void relu_forward_vec(T* y, const T* x, int64_t n);
  template <class T> void relu_backward_naive(T* dx, const T* dy, const T* x, int64_t n);
  template <class T> void relu_backward_vec(T* dx, const T* dy, const T* x, int64_t n);
)
