#pragma once
#include <cstdint>

#include "core/isa.h"

// x: (n, in), weight: (out, in), bias: (out,) or null, y / dy: (n, out),
// dx: (n, in) or null (not computed), dweight: (out, in), dbias: (out,) or null (not computed).
PB_CPU_DECLARE(
  template <class T>
  void linear_forward_naive(T* y, const T* x, const T* weight, const T* bias, int64_t n, int64_t in, int64_t out);
  template <class T>
  void linear_forward_gemm(T* y, const T* x, const T* weight, const T* bias, int64_t n, int64_t in, int64_t out);
  template <class T>
  void linear_forward_smallm(T* y, const T* x, const T* weight, const T* bias, int64_t n, int64_t in, int64_t out);
  template <class T>
  void linear_backward_naive(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, int64_t n,
                             int64_t in, int64_t out);
  template <class T>
  void linear_backward_gemm(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, int64_t n,
                            int64_t in, int64_t out);
  template <class T>
  void linear_backward_smallm(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, int64_t n,
                              int64_t in, int64_t out);
  // db[j] = sum_i dy[i][j] over rows i = 0..n-1 in order (deterministic for any thread count).
  template <class T>
  void column_sums(T* db, const T* dy, int64_t n, int64_t cols);
)
