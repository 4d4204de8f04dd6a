// Small reductions shared by the CPU kernels (conv2d bias gradients, pooling).
#pragma once
#include <cstdint>

#include "core/common.h"

namespace pb::cpu {

// Sum of a[0..n) with 16 independent partial sums: vectorizes without reassociation flags, and
// the order (hence the result) depends only on n.
template <class T> PB_INLINE T sum_row(const T* __restrict a, int64_t n) {
  T acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j];
  T s = 0;
  for (int j = 0; j < 16; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i];
  return s;
}

}  // namespace pb::cpu
