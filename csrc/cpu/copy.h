#pragma once
#include <cstdint>

#include "core/isa.h"

// y, x: (n,) elements of T, not overlapping. The copy that bounds every memory-bound kernel:
// `pybench bench` measures it in the same run as the kernels it bounds (read n + write n).
PB_CPU_DECLARE(
  template <class T> void copy_naive(T* y, const T* x, int64_t n);
  template <class T> void copy_parallel(T* y, const T* x, int64_t n);
  template <class T> void copy_stream(T* y, const T* x, int64_t n);
)
