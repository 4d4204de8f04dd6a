// Softmax variants of the dev build (softmax_dev.cpp): rows of the softmax tables in
// csrc/ops/activation.cpp under #ifdef PB_DEV_KERNELS. Shapes as cpu/softmax.h.
#pragma once
#include <cstdint>

#include "core/isa.h"

PB_CPU_DECLARE(
  template <class T> void softmax_forward_stream(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_stream(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_lean(T* y, const T* x, int64_t rows, int64_t cols, bool log);
)
