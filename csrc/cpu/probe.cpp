// The FMA-throughput probe (csrc/cpu/probe.h): one loop of independent register chains per ISA
// build (figures measured with it: docs/kernels/gemm.md).
#include "cpu/probe.h"

#include <omp.h>

#include "core/common.h"
#include "core/parallel.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace pb::cpu::PB_ISA_NS {

namespace {

#if defined(__AVX512F__)
using V = __m512;
constexpr int kLanes = 16, kChains = 16;  // 16 of the 32 zmm registers: >= 2 pipes x 4-cycle latency x 2
PB_INLINE V vset1(float v) { return _mm512_set1_ps(v); }
PB_INLINE V vstep(V acc, V m, V c) { return _mm512_fmadd_ps(acc, m, c); }
PB_INLINE float vsum(V v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0.0f;
  for (int i = 0; i < 16; ++i) s += t[i];
  return s;
}
constexpr int kFlopsPerLane = 2;
#elif defined(__AVX2__)
using V = __m256;
constexpr int kLanes = 8, kChains = 12;  // 12 of the 16 ymm registers (+ m and c)
PB_INLINE V vset1(float v) { return _mm256_set1_ps(v); }
PB_INLINE V vstep(V acc, V m, V c) { return _mm256_fmadd_ps(acc, m, c); }
PB_INLINE float vsum(V v) {
  alignas(32) float t[8];
  _mm256_store_ps(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}
constexpr int kFlopsPerLane = 2;
#else
// Baseline x86-64 has no FMA: a multiply and an add (2 flops per lane, 2 instructions).
typedef float V __attribute__((vector_size(16)));
constexpr int kLanes = 4, kChains = 8;
PB_INLINE V vset1(float v) { return V{} + v; }
PB_INLINE V vstep(V acc, V m, V c) { return acc * m + c; }
PB_INLINE float vsum(V v) { return (v[0] + v[1]) + (v[2] + v[3]); }
constexpr int kFlopsPerLane = 2;
#endif

// kChains chains of `iters` steps. acc -> c / (1 - m) = 1e-3 / 1e-6 ... stays finite and never
// denormal (a denormal would slow the loop); the starting values differ per chain and thread.
// The empty asm keeps the accumulators in registers and hides m and c from constant folding.
__attribute__((noinline)) float chains(int64_t iters, float seed) {
  V acc[kChains];
  V m = vset1(0.999999f), c = vset1(1e-3f);
#pragma GCC unroll 16
  for (int i = 0; i < kChains; ++i) acc[i] = vset1(seed + 0.01f * static_cast<float>(i));
  __asm__ volatile("" : "+x"(m), "+x"(c));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = vstep(acc[i], m, c);
  }
  float s = 0.0f;
  for (int i = 0; i < kChains; ++i) s += vsum(acc[i]);
  return s;
}

}  // namespace

void fma_probe(double* seconds, double* flops, float* sink, int64_t iters) {
  const int nt = omp_in_parallel() ? 1 : max_threads();
  double worst = 0.0;
  float total = 0.0f;
#pragma omp parallel num_threads(nt) reduction(max : worst) reduction(+ : total)
  {
    const double t0 = omp_get_wtime();
    total += chains(iters, 1.0f + static_cast<float>(omp_get_thread_num()));
    worst = omp_get_wtime() - t0;
  }
  *seconds = worst;
  *flops = static_cast<double>(nt) * static_cast<double>(iters) * kChains * kLanes * kFlopsPerLane;
  *sink = total;
}

int fma_probe_lanes() { return kLanes; }

}  // namespace pb::cpu::PB_ISA_NS
