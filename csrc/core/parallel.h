// Threading: one OpenMP pool, static partitions, so the same inputs and thread count give the
// same work split and therefore bitwise-identical results.
#pragma once
#include <cstdint>

#include <omp.h>

namespace pb {

int max_threads();
void set_num_threads(int n);

// Calls f(begin, end) on contiguous slices of [0, n), one slice per thread, each at least
// `grain` long (fewer threads for small n). Slices depend only on n, grain and the thread count.
template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int64_t nt = max_threads();
  if (grain < 1) grain = 1;
  if (nt > (n + grain - 1) / grain) nt = (n + grain - 1) / grain;
  if (nt <= 1 || omp_in_parallel()) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t b = n * t / nt, e = n * (t + 1) / nt;
    if (b < e) f(b, e);
  }
}

// For reductions that must not depend on the thread count: split [0, n) into fixed chunks of
// `chunk` elements (independent of threads); the caller reduces each chunk into its own slot and
// combines the slots in order afterwards.
inline int64_t num_chunks(int64_t n, int64_t chunk) { return (n + chunk - 1) / chunk; }

}  // namespace pb
