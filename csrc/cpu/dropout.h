#pragma once
#include <cstdint>

#include "core/isa.h"

// y, x: (n,) flat C order; element i has global index offset + i in the mask stream (see
// csrc/math/dropout.h for the scheme). The backward is the same map applied to dy (the mask is
// regenerated), so it uses these kernels too. threshold = math::dropout_threshold(p) (<= 2^32),
// scale = math::dropout_scale<T>(p). mask: (n,) uint8, 1 where kept.
PB_CPU_DECLARE(
  template <class T>
  void dropout_forward_naive(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold, T scale);
  template <class T>
  void dropout_forward_vec(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold, T scale);
  template <class T>
  void dropout_forward_stream(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold, T scale);
  void dropout_mask_naive(uint8_t* mask, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold);
  void dropout_mask_vec(uint8_t* mask, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold);
  // y = x (training=False), threaded.
  template <class T> void dropout_identity(T* y, const T* x, int64_t n);
)
