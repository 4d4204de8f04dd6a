// 2-D pooling (max, average, global average), forward and backward, over N*C planes.
// `naive` loops per output element; `fast` threads over planes and turns the window loops into
// row loops the compiler vectorizes (measurements: docs/kernels/pool.md).
#include "cpu/pool.h"

#include <cstdlib>
#include <limits>
#include <new>

#include "core/common.h"
#include "core/parallel.h"
#include "cpu/reduce.h"
#include "cpu/scratch.h"
#include "math/fastmath.h"
#include "math/pool.h"
#include "math/window.h"

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12's cast/extract intrinsics start from an undefined vector and warn (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace pb::cpu::PB_ISA_NS {

namespace {

using math::valid_cols;
using math::max64;
using math::min64;

// The window taps of output row oh, in naive's order (kh, then kw), skipping rows outside the
// input: calls f(base, lo, hi) where output columns [lo, hi) read input element base + ow*sw of
// the plane. The fast kernels turn each tap into one vectorizable row loop.
template <class F> PB_INLINE void for_each_row_tap(const PoolGeom& g, int64_t oh, F&& f) {
  const int64_t hs = math::window_start(oh, g.sh, g.ph);
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = hs + kh;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t off = math::conv_in(0, g.sw, g.pw, kw, 1);  // + ow * sw
      int64_t lo, hi;
      valid_cols(g.W, g.OW, g.sw, off, &lo, &hi);
      f(ih * g.W + off, lo, hi);
    }
  }
}


// A row of divisors per thread.
thread_local Scratch tl_row;



// One window tap over an output row: y[ow] = max(y[ow], x[ow*s]) keeping the argmax (PyTorch's
// rule: strictly greater or NaN replaces). S > 0 is a compile-time stride, S == 0 uses s.
template <class T, int S>
PB_INLINE void max_taps(T* __restrict yr, int64_t* __restrict ir, const T* __restrict xr, int64_t base, int64_t lo,
                        int64_t hi, int64_t s) {
  const int64_t st = S > 0 ? S : s;
  for (int64_t ow = lo; ow < hi; ++ow) {
    const T v = xr[ow * st], m = yr[ow];
    const bool take = math::max_pool_takes(v, m);
    yr[ow] = take ? v : m;
    ir[ow] = take ? base + ow * st : ir[ow];
  }
}

}  // namespace

// ---- max_pool2d ----------------------------------------------------------------------------

// x (planes, H, W) -> y, idx (planes, OH, OW).
template <class T> void max_pool2d_forward_naive(T* y, int64_t* idx, const T* x, const PoolGeom& g) {
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t hs = math::window_start(oh, g.sh, g.ph), ws = math::window_start(ow, g.sw, g.pw);
        const int64_t he = min64(hs + g.KH, g.H), we = min64(ws + g.KW, g.W);
        const int64_t o = (p * g.OH + oh) * g.OW + ow;
        y[o] = math::max_pool_window(x + p * g.H * g.W, g.W, max64(hs, 0), he, max64(ws, 0), we, &idx[o]);
      }
}

// 2x2 windows at stride 2, no padding (the CNNs' pooling): the four taps of an output in one
// pass, in naive's order, with blends (a scalar `?:` compiles to jumps, mispredicted on data).
template <class T>
PB_INLINE void max_2x2s2_row(T* __restrict yr, int64_t* __restrict ir, const T* __restrict r0, const T* __restrict r1,
                             int64_t base, int64_t W, int64_t OW) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    T m = r0[2 * ow];
    int64_t k = 0;
    const auto tap = [&](T v, int64_t at) {
      const bool take = (v > m) | (v != v);
      const int64_t keep = int64_t(take) - 1;  // all ones where m stays
      m = fm::select(take, v, m);
      k = (k & keep) | (at & ~keep);
    };
    tap(r0[2 * ow + 1], 1);
    tap(r1[2 * ow], W);
    tap(r1[2 * ow + 1], W + 1);
    yr[ow] = m;
    ir[ow] = base + 2 * ow + k;
  }
}

#if defined(__AVX512F__)
// The same for float with AVX-512, 16 outputs a step: the two input rows' 32 columns are loaded
// (masked at the row's end, so a 14-wide output row is one step, not a scalar tail) and split
// into even/odd columns by permutes; the taps are compared in naive's order (strictly greater or
// NaN replaces: GT_OQ | UNORD) and the window offset of the winner is widened to int64.
PB_INLINE void max_2x2s2_row(float* __restrict yr, int64_t* __restrict ir, const float* __restrict r0,
                             const float* __restrict r1, int64_t base, int64_t W, int64_t OW) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i cols = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);  // 2*ow within 8 outputs
  const __m512i k1 = _mm512_set1_epi32(1), kW = _mm512_set1_epi32(static_cast<int32_t>(W)),
                kW1 = _mm512_set1_epi32(static_cast<int32_t>(W + 1));
  for (int64_t ow = 0; ow < OW; ow += 16) {
    const int64_t n = OW - ow < 16 ? OW - ow : 16, nin = 2 * n;
    const __mmask16 mo = static_cast<__mmask16>((1u << n) - 1);
    const __mmask16 ml = static_cast<__mmask16>(nin >= 16 ? 0xFFFFu : (1u << nin) - 1);
    const __mmask16 mh = static_cast<__mmask16>(nin <= 16 ? 0u : (1u << (nin - 16)) - 1);
    const float* p0 = r0 + 2 * ow;
    const float* p1 = r1 + 2 * ow;
    const __m512 a0 = _mm512_maskz_loadu_ps(ml, p0), a1 = _mm512_maskz_loadu_ps(mh, p0 + 16);
    const __m512 b0 = _mm512_maskz_loadu_ps(ml, p1), b1 = _mm512_maskz_loadu_ps(mh, p1 + 16);
    __m512 m = _mm512_permutex2var_ps(a0, even, a1);
    __m512i k = _mm512_setzero_si512();
    const auto tap = [&](__m512 v, __m512i at) {
      const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      m = _mm512_mask_blend_ps(take, m, v);
      k = _mm512_mask_blend_epi32(take, k, at);
    };
    tap(_mm512_permutex2var_ps(a0, odd, a1), k1);
    tap(_mm512_permutex2var_ps(b0, even, b1), kW);
    tap(_mm512_permutex2var_ps(b0, odd, b1), kW1);
    _mm512_mask_storeu_ps(yr + ow, mo, m);
    const __m512i start = _mm512_add_epi64(_mm512_set1_epi64(base + 2 * ow), cols);
    const __m512i lo = _mm512_add_epi64(start, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(k)));
    const __m512i hi = _mm512_add_epi64(_mm512_add_epi64(start, _mm512_set1_epi64(16)),
                                        _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(k, 1)));
    _mm512_mask_storeu_epi64(ir + ow, static_cast<__mmask8>(mo), lo);
    _mm512_mask_storeu_epi64(ir + ow + 8, static_cast<__mmask8>(mo >> 8), hi);
  }
}
#endif

// Threads over planes; each output row is updated tap by tap (kh, kw in naive's order, so the
// same element wins) with the ow loop vectorized.
template <class T> void max_pool2d_forward_fast(T* y, int64_t* idx, const T* x, const PoolGeom& g) {
  const bool k2s2 = g.KH == 2 && g.KW == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
  parallel_for(g.planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * g.H * g.W;
      if (k2s2) {
        for (int64_t oh = 0; oh < g.OH; ++oh)
          max_2x2s2_row(y + (p * g.OH + oh) * g.OW, idx + (p * g.OH + oh) * g.OW, xp + 2 * oh * g.W,
                        xp + (2 * oh + 1) * g.W, 2 * oh * g.W, g.W, g.OW);
        continue;
      }
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* __restrict yr = y + (p * g.OH + oh) * g.OW;
        int64_t* __restrict ir = idx + (p * g.OH + oh) * g.OW;
        const int64_t hs = math::window_start(oh, g.sh, g.ph), hs0 = max64(hs, 0);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          yr[ow] = -std::numeric_limits<T>::infinity();
          ir[ow] = hs0 * g.W + max64(math::window_start(ow, g.sw, g.pw), 0);
        }
        for_each_row_tap(g, oh, [&](int64_t base, int64_t lo, int64_t hi) {
          const T* __restrict xr = xp + base;
          // Branch-free select so the compiler can vectorize (masked blends) per ISA; the
          // common strides are constants so strided loads become permutes, not gathers.
          if (g.sw == 1)
            max_taps<T, 1>(yr, ir, xr, base, lo, hi, 1);
          else if (g.sw == 2)
            max_taps<T, 2>(yr, ir, xr, base, lo, hi, 2);
          else
            max_taps<T, 0>(yr, ir, xr, base, lo, hi, g.sw);
        });
      }
    }
  });
}

// dy, idx (planes, OH, OW) -> dx (planes, H, W).
template <class T>
int64_t max_pool2d_backward_naive(T* dx, const T* dy, const int64_t* idx, const PoolGeom& g) {
  const int64_t HW = g.H * g.W, P = g.OH * g.OW;
  int64_t bad = 0;
  for (int64_t i = 0; i < g.planes * HW; ++i) dx[i] = T(0);
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t i = 0; i < P; ++i) {
      const int64_t k = idx[p * P + i];
      if (k < 0 || k >= HW) {
        ++bad;
        continue;
      }
      dx[p * HW + k] += dy[p * P + i];
    }
  return bad;
}

// Threads over planes (each plane scattered in naive's order) after a zero-fill; zero-fill +
// scatter already runs near copy speed (a direct writer measured slower: docs/kernels/pool.md).
template <class T>
int64_t max_pool2d_backward_fast(T* dx, const T* dy, const int64_t* idx, const PoolGeom& g) {
  const int64_t HW = g.H * g.W, P = g.OH * g.OW;
  int64_t bad = 0;
  parallel_for(g.planes, 1, [&](int64_t p0, int64_t p1) {
    int64_t b = 0;
    for (int64_t p = p0; p < p1; ++p) {
      T* __restrict d = dx + p * HW;
      const T* __restrict s = dy + p * P;
      const int64_t* __restrict k = idx + p * P;
      for (int64_t i = 0; i < HW; ++i) d[i] = T(0);
      for (int64_t i = 0; i < P; ++i) {
        if (k[i] < 0 || k[i] >= HW) {
          ++b;
          continue;
        }
        d[k[i]] += s[i];
      }
    }
    if (b) __atomic_fetch_add(&bad, b, __ATOMIC_RELAXED);
  });
  return bad;
}

// ---- avg_pool2d ----------------------------------------------------------------------------

template <class T> void avg_pool2d_forward_naive(T* y, const T* x, const PoolGeom& g, bool count_include_pad) {
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t hs = math::window_start(oh, g.sh, g.ph), ws = math::window_start(ow, g.sw, g.pw);
        const int64_t he = min64(hs + g.KH, g.H), we = min64(ws + g.KW, g.W);
        T s = 0;
        for (int64_t ih = max64(hs, 0); ih < he; ++ih)
          for (int64_t iw = max64(ws, 0); iw < we; ++iw) s += x[(p * g.H + ih) * g.W + iw];
        y[(p * g.OH + oh) * g.OW + ow] = s / T(math::avg_pool_divisor(g, hs, ws, count_include_pad));
      }
}

// Threads over planes; rows summed tap by tap (naive's order per element), ow vectorized.
template <class T> void avg_pool2d_forward_fast(T* y, const T* x, const PoolGeom& g, bool count_include_pad) {
  parallel_for(g.planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * g.H * g.W;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* __restrict yr = y + (p * g.OH + oh) * g.OW;
        const int64_t hs = math::window_start(oh, g.sh, g.ph);
        for (int64_t ow = 0; ow < g.OW; ++ow) yr[ow] = T(0);
        for_each_row_tap(g, oh, [&](int64_t base, int64_t lo, int64_t hi) {
          const T* __restrict xr = xp + base;
          if (g.sw == 1)
            for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += xr[ow];
          else
            for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += xr[ow * g.sw];
        });
        for (int64_t ow = 0; ow < g.OW; ++ow)
          yr[ow] /= T(math::avg_pool_divisor(g, hs, math::window_start(ow, g.sw, g.pw), count_include_pad));
      }
    }
  });
}

template <class T> void avg_pool2d_backward_naive(T* dx, const T* dy, const PoolGeom& g, bool count_include_pad) {
  for (int64_t i = 0; i < g.planes * g.H * g.W; ++i) dx[i] = T(0);
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t hs = math::window_start(oh, g.sh, g.ph), ws = math::window_start(ow, g.sw, g.pw);
        const int64_t he = min64(hs + g.KH, g.H), we = min64(ws + g.KW, g.W);
        const T d = dy[(p * g.OH + oh) * g.OW + ow] / T(math::avg_pool_divisor(g, hs, ws, count_include_pad));
        for (int64_t ih = max64(hs, 0); ih < he; ++ih)
          for (int64_t iw = max64(ws, 0); iw < we; ++iw) dx[(p * g.H + ih) * g.W + iw] += d;
      }
}

// Threads over planes; dy/divisor for a row computed once, then spread tap by tap.
template <class T> void avg_pool2d_backward_fast(T* dx, const T* dy, const PoolGeom& g, bool count_include_pad) {
  bool oom = false;
  parallel_for(g.planes, 1, [&](int64_t p0, int64_t p1) {
    T* q = tl_row.get<T>(g.OW);
    if (!q) {
      __atomic_store_n(&oom, true, __ATOMIC_RELAXED);
      return;
    }
    for (int64_t p = p0; p < p1; ++p) {
      T* dxp = dx + p * g.H * g.W;
      for (int64_t i = 0; i < g.H * g.W; ++i) dxp[i] = T(0);
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const T* __restrict dyr = dy + (p * g.OH + oh) * g.OW;
        const int64_t hs = math::window_start(oh, g.sh, g.ph);
        for (int64_t ow = 0; ow < g.OW; ++ow)
          q[ow] = dyr[ow] / T(math::avg_pool_divisor(g, hs, math::window_start(ow, g.sw, g.pw), count_include_pad));
        for_each_row_tap(g, oh, [&](int64_t base, int64_t lo, int64_t hi) {
          T* __restrict dr = dxp + base;
          if (g.sw == 1)
            for (int64_t ow = lo; ow < hi; ++ow) dr[ow] += q[ow];
          else
            for (int64_t ow = lo; ow < hi; ++ow) dr[ow * g.sw] += q[ow];
        });
      }
    }
  });
  if (__atomic_load_n(&oom, __ATOMIC_RELAXED)) throw std::bad_alloc();
}

// ---- global_avg_pool2d ---------------------------------------------------------------------

// x (planes, HW) -> y (planes,).
template <class T> void global_avg_pool2d_forward_naive(T* y, const T* x, int64_t planes, int64_t HW) {
  for (int64_t p = 0; p < planes; ++p) {
    T s = 0;
    for (int64_t i = 0; i < HW; ++i) s += x[p * HW + i];
    y[p] = s / T(HW);
  }
}

// Threads over planes; 16 partial sums per plane.
template <class T> void global_avg_pool2d_forward_fast(T* y, const T* x, int64_t planes, int64_t HW) {
  parallel_for(planes, (1 << 14) / HW + 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) y[p] = sum_row(x + p * HW, HW) / T(HW);
  });
}

template <class T> void global_avg_pool2d_backward_naive(T* dx, const T* dy, int64_t planes, int64_t HW) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < HW; ++i) dx[p * HW + i] = dy[p] / T(HW);
}

template <class T> void global_avg_pool2d_backward_fast(T* dx, const T* dy, int64_t planes, int64_t HW) {
  parallel_for(planes, (1 << 14) / HW + 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T v = dy[p] / T(HW);
      T* __restrict d = dx + p * HW;
      for (int64_t i = 0; i < HW; ++i) d[i] = v;
    }
  });
}

#define PB_INSTANTIATE(T)                                                                            \
  template void max_pool2d_forward_naive<T>(T*, int64_t*, const T*, const PoolGeom&);                \
  template void max_pool2d_forward_fast<T>(T*, int64_t*, const T*, const PoolGeom&);                 \
  template int64_t max_pool2d_backward_naive<T>(T*, const T*, const int64_t*, const PoolGeom&);      \
  template int64_t max_pool2d_backward_fast<T>(T*, const T*, const int64_t*, const PoolGeom&);       \
  template void avg_pool2d_forward_naive<T>(T*, const T*, const PoolGeom&, bool);                    \
  template void avg_pool2d_forward_fast<T>(T*, const T*, const PoolGeom&, bool);                     \
  template void avg_pool2d_backward_naive<T>(T*, const T*, const PoolGeom&, bool);                   \
  template void avg_pool2d_backward_fast<T>(T*, const T*, const PoolGeom&, bool);                    \
  template void global_avg_pool2d_forward_naive<T>(T*, const T*, int64_t, int64_t);                  \
  template void global_avg_pool2d_forward_fast<T>(T*, const T*, int64_t, int64_t);                   \
  template void global_avg_pool2d_backward_naive<T>(T*, const T*, int64_t, int64_t);                 \
  template void global_avg_pool2d_backward_fast<T>(T*, const T*, int64_t, int64_t);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
