#pragma once
#include <cstdint>

#include "core/isa.h"

// Softmax family (cpu/softmax.cpp): x, y, dy, dx: (rows, cols), reduced over cols; `log` selects
// log_softmax.
//   naive, vec: the element-wise levels of cpu/activation.h, threaded over rows.
//   simd:   AVX-512 float32: one read of x, streaming stores from registers (other builds: vec).
//   online: softmax / log_softmax forward, AVX-512 float32: exp(x - running max) in the loop that
//           reads the row, then y from L1; rows > kRowBuf take simd's loop (other builds: simd).
// The op table lists simd and online only where they run as themselves (AVX-512, float32).
PB_CPU_DECLARE(
  template <class T> void softmax_forward_naive(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_vec(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_simd(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_naive(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_vec(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_simd(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_online(T* y, const T* x, int64_t rows, int64_t cols, bool log);
)
