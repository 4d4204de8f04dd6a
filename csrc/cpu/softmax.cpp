// Softmax / log_softmax over the last axis: naive, vec, simd (the element-wise levels of
// cpu/activation.cpp, threaded over rows), online (forward: exp in the loop that reads the row,
// against a running max). Measurements: docs/kernels/softmax.md; stream and lean: dev/kernels/softmax.
#include "cpu/softmax.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "cpu/elementwise.h"
#include "cpu/softmax_rows.h"
#include "math/activation.h"
#include "math/fastmath.h"

namespace pb::cpu::PB_ISA_NS {

// ---- softmax / log_softmax over the last axis -----------------------------------------------
// Forward: m = max(x); s = sum exp(x - m); softmax y = exp(x - m) / s, log_softmax
// y = (x - m) - log(s) (x - m first, exactly, as PyTorch); NaN and inf rows as in PyTorch (see
// math::softmax_row_naive, which the naive loops run row by row).
// Backward (y = forward output): softmax dx = y (dy - sum(dy y)); log_softmax dx = dy - exp(y) sum(dy).

// y, x: (rows, cols)
template <class T> void softmax_forward_naive(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
  for (int64_t r = 0; r < rows; ++r) math::softmax_row_naive(y + r * cols, x + r * cols, cols, log);
}

// dx, dy, y: (rows, cols)
template <class T> void softmax_backward_naive(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log) {
  for (int64_t r = 0; r < rows; ++r)
    math::softmax_backward_row_naive(dx + r * cols, dy + r * cols, y + r * cols, cols, log);
}

// threads over rows + vectorized fastmath; softmax stores exp(x - m) and rescales it in place
// (the row is in cache), log_softmax reads x twice.
template <class T> void softmax_forward_vec(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict xr = x + r * cols;
      T* __restrict yr = y + r * cols;
      const T m = row_max(xr, cols);
      if (log) {
        const T s = row_sum<T>(cols, [&](int64_t j) { return fm::exp(xr[j] - m); });
        const T ls = std::log(s);
        for (int64_t j = 0; j < cols; ++j) yr[j] = math::log_softmax_out(xr[j], m, ls);
      } else {
        const T s = row_sum<T>(cols, [&](int64_t j) { return yr[j] = fm::exp(xr[j] - m); });
        const T inv = T(1) / s;
        for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
      }
    }
  });
}

// threads over rows + vectorized sums
template <class T> void softmax_backward_vec(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log) {
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict dyr = dy + r * cols;
      const T* __restrict yr = y + r * cols;
      T* __restrict dxr = dx + r * cols;
      if (log) {
        const T s = row_sum<T>(cols, [&](int64_t j) { return dyr[j]; });
        for (int64_t j = 0; j < cols; ++j) dxr[j] = math::log_softmax_grad<fm::Fast>(dyr[j], yr[j], s);
      } else {
        const T s = row_sum<T>(cols, [&](int64_t j) { return dyr[j] * yr[j]; });
        for (int64_t j = 0; j < cols; ++j) dxr[j] = math::softmax_grad(dyr[j], yr[j], s);
      }
    }
  });
}

// ---- simd: AVX-512 float rows as fm::V16 -----------------------------------------------------
// Forward: one read of x from memory (the max pass; the row, <= kRowBuf floats, then sits in L1),
// exp(x - m) into an L1 row buffer while summing, y = buf / s streamed out from registers (rows
// longer than kRowBuf recompute exp from the cached x). Backward: a sum pass reading dy and y,
// then dx streamed out. Masked vector ends, lane sums combined in a fixed order: the result
// depends on cols only. Other builds and double: `vec`. The passes over the L1 copy of a row
// prefetch the next row, one line per 16 floats: the hardware prefetcher runs only a few lines
// ahead of the loads, so without it memory idled while the exp and store passes ran. Lambdas
// capture by value: stores through y must not make GCC reload the row pointers and constants.
// The forward's exp pass and store pass add up at 64M floats: `online` below overlaps them.
#if defined(__AVX512F__)
namespace {

void softmax_forward_simd_f32(float* y, const float* x, int64_t rows, int64_t cols, bool log) {
  const bool nt = stream_out(rows * cols, sizeof(float));
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    alignas(64) float ebuf[kRowBuf];
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict xr = x + r * cols;
      float* yr = y + r * cols;
      const V16 m(row_max16(xr, cols));
      if (log) {
        const float s = row_sum16(cols, [=](int64_t j, __mmask16 k) {
          __builtin_prefetch(xr + cols + j);  // the next row: see above
          return fm::exp(load16(xr + j, k) - m);
        });
        const V16 ls(std::log(s));
        store_slice16(yr, 0, cols, nt, [=](int64_t j, __mmask16 k) {
          return math::log_softmax_out(load16(xr + j, k), m, ls);
        });
      } else if (cols <= kRowBuf) {
        float* __restrict e = ebuf;
        const float s = row_sum16(cols, [=](int64_t j, __mmask16 k) {
          __builtin_prefetch(xr + cols + j);
          const V16 v = fm::exp(load16(xr + j, k) - m);
          _mm512_mask_store_ps(e + j, k, v.v);
          return v;
        });
        const V16 inv(1.0f / s);
        store_slice16(yr, 0, cols, nt, [=](int64_t j, __mmask16 k) { return math::softmax_out(load16(e + j, k), inv); });
      } else {
        const float s = row_sum16(cols, [=](int64_t j, __mmask16 k) { return fm::exp(load16(xr + j, k) - m); });
        const V16 inv(1.0f / s);
        store_slice16(yr, 0, cols, nt, [=](int64_t j, __mmask16 k) {
          return math::softmax_out(fm::exp(load16(xr + j, k) - m), inv);
        });
      }
    }
    if (nt) stream_fence();
  });
}

void softmax_backward_simd_f32(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols, bool log) {
  const bool nt = stream_out(rows * cols, sizeof(float));
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict dyr = dy + r * cols;
      const float* __restrict yr = y + r * cols;
      float* dxr = dx + r * cols;
      if (log) {
        const V16 s(row_sum16(cols, [=](int64_t j, __mmask16 k) { return load16(dyr + j, k); }));
        store_slice16(dxr, 0, cols, nt, [=](int64_t j, __mmask16 k) {
          __builtin_prefetch(dyr + cols + j);
          __builtin_prefetch(yr + cols + j);
          return math::log_softmax_grad<fm::Fast>(load16(dyr + j, k), load16(yr + j, k), s);
        });
      } else {
        const V16 s(row_sum16(cols, [=](int64_t j, __mmask16 k) { return load16(dyr + j, k) * load16(yr + j, k); }));
        store_slice16(dxr, 0, cols, nt, [=](int64_t j, __mmask16 k) {
          __builtin_prefetch(dyr + cols + j);
          __builtin_prefetch(yr + cols + j);
          return math::softmax_grad(load16(dyr + j, k), load16(yr + j, k), s);
        });
      }
    }
    if (nt) stream_fence();
  });
}

// ---- online: one read of x overlapped with the exp work --------------------------------------
// simd and lean (dev/kernels/softmax) read a row in a max pass (memory busy, compute idle), then
// compute exp (compute busy, memory idle): at (65536, 1024) 2 threads the op took ~ compute +
// memory time. online
// computes exp(x - m) in the same loop that reads the row, with m a lane-wise running max kept
// per block of 4 vectors, so the loads of the row overlap its exp work; pass 2 runs from L1:
// softmax y = e f (f = exp(m - M) / S per lane), log_softmax y = (x - M) - log S (math's
// formulas, M the max of the lane maxima). m grows only when a block's lane max exceeds it by
// more than kOnlineSlack (then that lane's sum is rescaled by exp(m_old - m_new)): with m growing
// at every new lane maximum, 16 lanes x 4 vectors per block changed m in most blocks of a row
// of 1024 (records of a random sequence), an exp per block in pass 1 and in pass 2. With the
// slack, the exp arguments are <= kOnlineSlack (e <= e^8, sums of 4096 of them are far from
// overflow) and m usually changes in the first block only. Softmax keeps each block's e with the
// m it used; blocks whose m was later raised are rescaled in place in L1 before pass 2 (none in
// the usual case). Lanes follow the column index (j mod 16 from the row start, as simd): the
// result depends on cols only; pass 2 stores through store_slice16 (64-byte aligned streaming
// stores) with f rotated to y's alignment. m starts at -FLT_MAX, so -inf elements give exp(-inf)
// = 0 and an all -inf row gives 0 / 0 = NaN as simd; +inf or NaN elements make the lane sum NaN:
// the row is NaN, as simd. Differs from simd in the last bits (e = exp(x - m) exp(m - M) vs
// exp(x - M); x - m is rounded for |x - m| up to the slack: <= 8 * 2^-24 relative).
// More instructions than lean, but overlapped with the row's reads: the forward default.
// Measurements and the variants tried (pipelined rows, prefetch): docs/kernels/softmax.md.
constexpr float kOnlineSlack = 8.0f;
constexpr int64_t kOnlineSegs = kRowBuf / 64 + 4;  // blocks of a row of kRowBuf (+ the tail's)

struct OnlineRow {
  __m512 m, s0, s1;
  int nseg;                      // blocks where m grew (segments of e computed with one m)
  int64_t segq[kOnlineSegs];     // first column of each segment
  __m512 segm[kOnlineSegs];      // its m
};

// One block of N vectors at column j (the last may be partial: mask k): lane max, maybe raise m,
// e = exp(x - m) (stored to e + j when Store), summed into s0 / s1.
template <int N, bool Store>
PB_INLINE void online_block(OnlineRow& w, const float* __restrict xr, float* __restrict e, int64_t j, __mmask16 k) {
  __m512 v[N];
  for (int i = 0; i < N; ++i)
    v[i] = (i == N - 1 && k != 0xffff) ? _mm512_mask_loadu_ps(_mm512_set1_ps(-std::numeric_limits<float>::infinity()), k, xr + j + 16 * i)
                                       : _mm512_loadu_ps(xr + j + 16 * i);
  __m512 bm = v[0];
  for (int i = 1; i < N; ++i) bm = fm::vmax_(v[i], bm);  // a NaN lane keeps bm: the sum catches it
  const __mmask16 g = _mm512_cmp_ps_mask(bm, _mm512_add_ps(w.m, _mm512_set1_ps(kOnlineSlack)), _CMP_GT_OQ);
  if (__builtin_expect(g != 0, 0)) {
    const __m512 mn = _mm512_mask_mov_ps(w.m, g, bm);
    const __m512 r = math::lean::exp_nonpos(V16(_mm512_sub_ps(w.m, mn))).v;
    w.s0 = _mm512_mask_mul_ps(w.s0, g, w.s0, r);
    w.s1 = _mm512_mask_mul_ps(w.s1, g, w.s1, r);
    w.m = mn;
    if constexpr (Store) {
      w.segq[w.nseg] = j;
      w.segm[w.nseg] = mn;
      ++w.nseg;
    }
  }
  const V16 m(w.m);
  for (int i = 0; i < N; ++i) {
    const __m512 ev = math::lean::exp_nonpos(V16(v[i]) - m).v;  // argument <= kOnlineSlack: no overflow
    if constexpr (Store) _mm512_store_ps(e + j + 16 * i, ev);
    __m512& s = (i & 1) ? w.s1 : w.s0;
    s = (i == N - 1 && k != 0xffff) ? _mm512_mask_add_ps(s, k, s, ev) : _mm512_add_ps(s, ev);
  }
}

// Pass 1 over a row: blocks of 4 vectors, then single vectors (the last one masked).
template <bool Store> PB_INLINE void online_pass1(OnlineRow& w, const float* __restrict xr, float* __restrict e, int64_t n) {
  w.m = _mm512_set1_ps(-std::numeric_limits<float>::max());
  w.s0 = _mm512_setzero_ps();
  w.s1 = w.s0;
  w.nseg = 0;
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) online_block<4, Store>(w, xr, e, j, 0xffff);
  for (; j < n; j += 16) online_block<1, Store>(w, xr, e, j, mask_first(n - j < 16 ? n - j : 16));
}

// One row: pass 1 (above), then y from L1 (see the comment on kOnlineSlack).
PB_INLINE void softmax_online_row(OnlineRow& w, float* yr, const float* __restrict xr, float* __restrict e, int64_t n,
                                  bool log, bool nt) {
  if (log) online_pass1<false>(w, xr, e, n);
  else online_pass1<true>(w, xr, e, n);
  const float mx = hmax16(w.m);
  const V16 M(mx);
  const V16 sl = V16(_mm512_add_ps(w.s0, w.s1)) * math::lean::exp_nonpos(V16(w.m) - M);
  const float s = hsum16(sl.v);
  if (log) {
    const V16 ls(std::log(s));
    store_slice16(yr, 0, n, nt, [=](int64_t j, __mmask16 k) { return math::log_softmax_out(load16(xr + j, k), M, ls); });
    return;
  }
  // blocks computed with an m below the row's final one: rescale in place (none in the usual case)
  for (int t = -1; t + 1 < w.nseg; ++t) {
    const int64_t b = t < 0 ? 0 : w.segq[t], end = w.segq[t + 1];
    if (b == end) continue;
    const V16 mt(t < 0 ? _mm512_set1_ps(-std::numeric_limits<float>::max()) : w.segm[t]);
    const V16 r = math::lean::exp_nonpos(mt - V16(w.m));
    for (int64_t j = b; j < end; j += 16) _mm512_store_ps(e + j, (V16(_mm512_load_ps(e + j)) * r).v);
  }
  const V16 f = math::lean::exp_nonpos(V16(w.m) - M) * V16(1.0f / s);
  // store_slice16's vectors after its head start at column h (y's misalignment): lanes rotated by h
  const int64_t h = nt ? to_align64(yr) : 0;
  const __m512i idx = _mm512_and_si512(_mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                        _mm512_set1_epi32(static_cast<int>(h))),
                                       _mm512_set1_epi32(15));
  const V16 fr(_mm512_mask_permutexvar_ps(f.v, fm::kAll16, idx, f.v));  // masked form: GCC bug 105593
  store_slice16(yr, 0, n, nt, [=](int64_t j, __mmask16 k) { return math::softmax_out(load16(e + j, k), (j & 15) ? fr : f); });
}

void softmax_forward_online_f32(float* y, const float* x, int64_t rows, int64_t cols, bool log) {
  // rows that fit the L1 buffer, y element-aligned (NumPy allows float32 at odd addresses); else
  // simd's loop (what the pipelined `lean` of dev/kernels/softmax ran there too: the same bits)
  if (cols > kRowBuf || (reinterpret_cast<uintptr_t>(y) & 3u) != 0) return softmax_forward_simd_f32(y, x, rows, cols, log);
  const bool nt = stream_out(rows * cols, sizeof(float));
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    alignas(64) float ebuf[kRowBuf + 16];
    OnlineRow w;
    for (int64_t r = r0; r < r1; ++r) softmax_online_row(w, y + r * cols, x + r * cols, ebuf, cols, log, nt);
    if (nt) stream_fence();
  });
}

}  // namespace
#endif


template <class T> void softmax_forward_simd(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return softmax_forward_simd_f32(y, x, rows, cols, log);
#endif
  softmax_forward_vec(y, x, rows, cols, log);
}
template <class T> void softmax_backward_simd(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return softmax_backward_simd_f32(dx, dy, y, rows, cols, log);
#endif
  softmax_backward_vec(dx, dy, y, rows, cols, log);
}
// forward only: exp in the loop that reads the row (see "online" above); the op table runs it
// on AVX-512 float32 only (elsewhere this is simd, never listed as online).
template <class T> void softmax_forward_online(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return softmax_forward_online_f32(y, x, rows, cols, log);
#endif
  softmax_forward_simd(y, x, rows, cols, log);
}

#define PB_INSTANTIATE(T)                                                                        \
  template void softmax_forward_naive<T>(T*, const T*, int64_t, int64_t, bool);                 \
  template void softmax_forward_vec<T>(T*, const T*, int64_t, int64_t, bool);                   \
  template void softmax_forward_simd<T>(T*, const T*, int64_t, int64_t, bool);                  \
  template void softmax_backward_naive<T>(T*, const T*, const T*, int64_t, int64_t, bool);      \
  template void softmax_backward_vec<T>(T*, const T*, const T*, int64_t, int64_t, bool);        \
  template void softmax_backward_simd<T>(T*, const T*, const T*, int64_t, int64_t, bool);      \
  template void softmax_forward_online<T>(T*, const T*, int64_t, int64_t, bool);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
