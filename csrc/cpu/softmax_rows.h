// Row helpers of the softmax loops (cpu/softmax.cpp), shared with the variants that only the dev
// build compiles (dev/kernels/softmax): reductions in a fixed order, threads over rows, 16-lane sums.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/elementwise.h"
#include "math/activation.h"
#include "math/fastmath.h"

namespace pb::cpu::PB_ISA_NS {

// Row reductions with kLanes independent accumulators (a vectorizable element-wise update; GCC
// does not vectorize a plain float reduction without -ffast-math), combined in a fixed order.
constexpr int kLanes = 32;

template <class T> PB_INLINE T row_max(const T* __restrict x, int64_t n) {
  const T ninf = -std::numeric_limits<T>::infinity();
  T acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = ninf;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
  T m = ninf;
  for (int l = 0; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// sum_j g(j) for a vectorizable g.
template <class T, class G> PB_INLINE T row_sum(int64_t n, G g) {
  T acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = T(0);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += g(j + l);
  T s = 0;
  for (; j < n; ++j) s += g(j);
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

// Threads over rows, each at least ~kElementwiseGrain elements of work.
template <class F> PB_INLINE void for_rows(int64_t rows, int64_t cols, F f) {
  const int64_t grain = cols >= kElementwiseGrain ? 1 : kElementwiseGrain / cols;
  parallel_for(rows, grain, f);
}

// Rows up to this many elements keep exp(x - m) in an L1 buffer; longer ones recompute it.
constexpr int64_t kRowBuf = 4096;

#if defined(__AVX512F__)
namespace {

using fm::V16;

// Horizontal max / sum of 16 lanes in a fixed order (halves, quarters, pairs, lanes), through
// two-source shuffles (masked forms and no _mm512_reduce_*: GCC 12 bug 105593, see fastmath.h).
template <class Op> PB_INLINE float hreduce16(__m512 v, Op op) {
  v = op(v, _mm512_mask_shuffle_f32x4(v, fm::kAll16, v, v, 0x4e));
  v = op(v, _mm512_mask_shuffle_f32x4(v, fm::kAll16, v, v, 0xb1));
  v = op(v, _mm512_shuffle_ps(v, v, 0x4e));
  v = op(v, _mm512_shuffle_ps(v, v, 0xb1));
  return _mm512_cvtss_f32(v);
}
PB_INLINE float hmax16(__m512 v) { return hreduce16(v, [](__m512 a, __m512 b) { return fm::vmax_(a, b); }); }
PB_INLINE float hsum16(__m512 v) { return hreduce16(v, [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); }); }

// The max ignores NaN lanes or not (vmaxps order): either way a NaN makes the row NaN (see above).
PB_INLINE float row_max16(const float* __restrict x, int64_t n) {
  __m512 m0 = _mm512_set1_ps(-std::numeric_limits<float>::infinity()), m1 = m0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = fm::vmax_(m0, _mm512_loadu_ps(x + i));
    m1 = fm::vmax_(m1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < n; i += 16) {
    const __mmask16 k = mask_first(n - i < 16 ? n - i : 16);
    m0 = _mm512_mask_max_ps(m0, k, m0, _mm512_maskz_loadu_ps(k, x + i));
  }
  return hmax16(fm::vmax_(m0, m1));
}

// sum over j < n of g(j, mask) (a V16 of lanes j..j+15; lanes outside the mask are dropped).
template <class G> PB_INLINE float row_sum16(int64_t n, G g) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_add_ps(s0, g(i, __mmask16(0xffff)).v);
    s1 = _mm512_add_ps(s1, g(i + 16, __mmask16(0xffff)).v);
  }
  for (; i < n; i += 16) {
    const __mmask16 k = mask_first(n - i < 16 ? n - i : 16);
    s0 = _mm512_mask_add_ps(s0, k, s0, g(i, k).v);
  }
  return hsum16(_mm512_add_ps(s0, s1));
}

}  // namespace
#endif

}  // namespace pb::cpu::PB_ISA_NS
