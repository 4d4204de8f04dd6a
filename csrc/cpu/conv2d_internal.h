// Internal to the conv2d kernels (csrc/cpu/conv2d*.cpp): helpers shared by the algorithm files
// and the entry points one file offers another. Compiled into each ISA namespace like them.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>

#include "core/common.h"
#include "core/parallel.h"
#include "cpu/conv2d.h"
#include "cpu/scratch.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace pb::cpu::PB_ISA_NS {

PB_INLINE int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
PB_INLINE int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

template <class T> PB_INLINE void fill(T* p, int64_t n, T v) {
  for (int64_t i = 0; i < n; ++i) p[i] = v;
}

// ---- transposes ----------------------------------------------------------------------------
// dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols: square tiles through SIMD shuffles
// (16x16 floats with AVX-512, 8x8 with AVX2), the edges and other types in scalar loops.
#if defined(__AVX512F__) || defined(__AVX2__)
// GCC 12's unpack/shuffle intrinsics start from an undefined vector and warn (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__AVX512F__)
constexpr int64_t kTransposeTile = 16;
PB_INLINE void transpose_tile(float* __restrict d, int64_t ldd, const float* __restrict s, int64_t lds) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(s + i * lds);
  for (int i = 0; i < 16; i += 2) {  // per 128-bit lane: (a0 b0 a1 b1), (a2 b2 a3 b3)
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // r[i + k]: lane-local column k of rows i..i+3
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int k = 0; k < 4; ++k) {  // lanes (0, 2) and (1, 3) of row groups 0-3 with 4-7, 8-11 with 12-15
    t[k] = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88);
    t[4 + k] = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xDD);
    t[8 + k] = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88);
    t[12 + k] = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xDD);
  }
  for (int k = 0; k < 8; ++k) {  // column k: t[k] with t[8 + k]; column 8 + k likewise
    _mm512_storeu_ps(d + k * ldd, _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88));
    _mm512_storeu_ps(d + (8 + k) * ldd, _mm512_shuffle_f32x4(t[k], t[8 + k], 0xDD));
  }
}
#elif defined(__AVX2__)
constexpr int64_t kTransposeTile = 8;
PB_INLINE void transpose_tile(float* __restrict d, int64_t ldd, const float* __restrict s, int64_t lds) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(s + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(d + k * ldd, _mm256_permute2f128_ps(r[k], r[4 + k], 0x20));
    _mm256_storeu_ps(d + (4 + k) * ldd, _mm256_permute2f128_ps(r[k], r[4 + k], 0x31));
  }
}
#else
constexpr int64_t kTransposeTile = 8;
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
#pragma GCC diagnostic pop
#endif

template <class T>
PB_INLINE void transpose(T* __restrict dst, int64_t ldd, const T* __restrict src, int64_t lds, int64_t rows, int64_t cols) {
  constexpr int64_t TB = kTransposeTile;
  for (int64_t i0 = 0; i0 < rows; i0 += TB)
    for (int64_t j0 = 0; j0 < cols; j0 += TB) {
      const int64_t ni = min_i64(TB, rows - i0), nj = min_i64(TB, cols - j0);
#if defined(__AVX512F__) || defined(__AVX2__)
      if constexpr (sizeof(T) == sizeof(float)) {
        if (ni == TB && nj == TB) {
          transpose_tile(dst + j0 * ldd + i0, ldd, src + i0 * lds + j0, lds);
          continue;
        }
      }
#endif
      for (int64_t j = 0; j < nj; ++j)
        for (int64_t i = 0; i < ni; ++i) dst[(j0 + j) * ldd + i0 + i] = src[(i0 + i) * lds + j0 + j];
    }
}

// Calls f(i, ws) for i in [0, n), threads over i, ws a scratch buffer of ws_elems elements owned
// by the running thread (`slot` picks one of the thread's buffers). Items are handed out in
// order through an atomic counter, not split statically: f(i) must not depend on which thread
// runs it (each item writes its own outputs), so results stay bitwise reproducible, and when
// another job preempts one thread the other keeps taking items instead of leaving half the work
// for the join. Throws std::bad_alloc when a thread could not get its buffer (no exception may
// leave the parallel region itself).
template <class T, class F> void for_each_with_scratch(Scratch& (*slot)(), int64_t n, int64_t ws_elems, F f) {
  bool oom = false;
  int64_t next = 0;
  parallel_for(min_i64(n, max_threads()), 1, [&](int64_t, int64_t) {
    T* ws = ws_elems > 0 ? slot().template get<T>(ws_elems) : nullptr;
    if (ws_elems > 0 && !ws) {
      __atomic_store_n(&oom, true, __ATOMIC_RELAXED);
      return;
    }
    for (int64_t i; (i = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)) < n;) f(i, ws);
  });
  if (__atomic_load_n(&oom, __ATOMIC_RELAXED)) throw std::bad_alloc();
}

// ---- Winograd F(2x2,3x3) (conv2d_winograd.cpp) ---------------------------------------------
// For 3x3, stride 1, dilation 1, groups 1, padding <= 2 (winograd_applies).
PB_INLINE bool winograd_applies(const ConvGeom& g) { return winograd_handles(g); }
// y = conv(x, w) + b (b may be null).
template <class T> void winograd_forward(T* y, const T* x, const T* w, const T* b, const ConvGeom& g);
// dw, db (may be null) and dx (may be null) from dy. dx is the convolution of dy with the flipped,
// transposed filters (padding 2 - p); dw and db are reduced in an order that depends on the shape
// only (not on the thread count).
template <class T>
void winograd_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g);

}  // namespace pb::cpu::PB_ISA_NS
