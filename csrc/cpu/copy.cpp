// A plain copy, used as the memory-bandwidth ceiling of the memory-bound ops.
#include "cpu/copy.h"

#include <cstdint>
#include <cstring>

#include "core/common.h"
#include "core/parallel.h"
#include "cpu/elementwise.h"

namespace pb::cpu::PB_ISA_NS {

// Below this many elements a copy runs on one thread (the fork costs more than it saves).
constexpr int64_t kCopyGrain = int64_t(1) << 16;
// Streaming (non-temporal) stores pay off once the destination cannot stay in the caches; below
// this many bytes of destination, ordinary stores are used (the data is likely read again soon).
// The crossover was measured between 4 and 8 MiB (docs/kernels/copy.md).
constexpr int64_t kStreamMinBytes = int64_t(8) << 20;

// The reading copy: one thread, one element at a time.
template <class T> void copy_naive(T* y, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i];
}

// Adds threads: one contiguous slice per thread, each slice one libc memcpy.
template <class T> void copy_parallel(T* y, const T* x, int64_t n) {
  parallel_for(n, kCopyGrain, [&](int64_t b, int64_t e) {
    std::memcpy(y + b, x + b, static_cast<size_t>(e - b) * sizeof(T));
  });
}

// Adds streaming stores (widest vectors of this ISA build) for copies of >= 8 MiB: no
// read-for-ownership of y (figures: docs/kernels/copy.md).
template <class T> void copy_stream(T* y, const T* x, int64_t n) {
  if (n * static_cast<int64_t>(sizeof(T)) < kStreamMinBytes) {
    copy_parallel(y, x, n);
    return;
  }
  parallel_for(n, kCopyGrain, [&](int64_t b, int64_t e) {
    stream_copy(y + b, x + b, e - b);  // cpu/elementwise.h: the streaming loop every kernel shares
    stream_fence();
  });
}

#define PB_INSTANTIATE(T)                                     \
  template void copy_naive<T>(T*, const T*, int64_t);        \
  template void copy_parallel<T>(T*, const T*, int64_t);     \
  template void copy_stream<T>(T*, const T*, int64_t);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
