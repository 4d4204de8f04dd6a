// Loop shapes shared by the element-wise CPU kernels: split across cores in slices long enough
// to amortize the fork, each slice a plain loop the compiler vectorizes for the ISA this
// translation unit is built for.
#pragma once
#include <cstdint>

#include "core/common.h"
#include "core/parallel.h"

namespace pb::cpu {

constexpr int64_t kElementwiseGrain = 1 << 15;

template <class T, class F>
PB_INLINE void map1(T* __restrict y, const T* __restrict x, int64_t n, F f) {
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}

template <class T, class F>
PB_INLINE void map2(T* __restrict y, const T* __restrict a, const T* __restrict b, int64_t n, F f) {
  parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = f(a[i], b[i]);
  });
}

}  // namespace pb::cpu
