#pragma once
#include <cstdint>

#include "core/isa.h"

// Softmax family (cpu/softmax.cpp): x, y, dy, dx: (rows, cols), reduced over cols; `log` selects
// log_softmax.
//   naive, vec, stream, simd: the element-wise levels of cpu/activation.h, threaded over rows.
//   lean:   AVX-512 float: softmax / log_softmax forward with the rows pipelined (the stores of a
//           row overlap the exp of the next); backward, other builds, double: simd.
//   online: softmax / log_softmax forward, AVX-512 float: exp(x - running max) in the loop that
//           reads the row, then y from L1; other builds, double, rows > kRowBuf: lean.
PB_CPU_DECLARE(
  template <class T> void softmax_forward_naive(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_vec(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_stream(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_simd(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_naive(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_vec(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_stream(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_simd(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_lean(T* y, const T* x, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_backward_lean(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
  template <class T> void softmax_forward_online(T* y, const T* x, int64_t rows, int64_t cols, bool log);
)
