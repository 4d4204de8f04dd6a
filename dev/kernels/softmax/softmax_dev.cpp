// Softmax variants only the dev build compiles (-DPYBENCH_DEV_KERNELS=ON): no default runs them.
// Why they left the mainline, and the command that measures them: README.md here.
#include "dev/kernels/softmax/softmax_dev.h"

#include "cpu/softmax.h"
#include "cpu/softmax_rows.h"

namespace pb::cpu::PB_ISA_NS {

// vec + streaming stores of y for large outputs: exp(x - m) goes to an L1 row buffer (rows up to
// kRowBuf; longer rows recompute it from the cached x), then y = buf / s is streamed out.
template <class T> void softmax_forward_stream(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
  if (rows * cols * static_cast<int64_t>(sizeof(T)) < kStreamBytes) return softmax_forward_vec(y, x, rows, cols, log);
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    alignas(64) T ebuf[kRowBuf];
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict xr = x + r * cols;
      const T m = row_max(xr, cols);
      if (log) {
        const T s = row_sum<T>(cols, [&](int64_t j) { return fm::exp(xr[j] - m); });
        const T ls = std::log(s);
        stream_slice<false>(y + r * cols, 0, cols, [&](T* __restrict buf, int64_t i0, int64_t len) {
          const T* __restrict xs = xr + i0;
          for (int64_t j = 0; j < len; ++j) buf[j] = (xs[j] - m) - ls;
        });
      } else if (cols <= kRowBuf) {
        T* __restrict e = ebuf;
        const T inv = T(1) / row_sum<T>(cols, [&](int64_t j) { return e[j] = fm::exp(xr[j] - m); });
        stream_slice<false>(y + r * cols, 0, cols, [&](T* __restrict buf, int64_t i0, int64_t len) {
          const T* __restrict es = e + i0;
          for (int64_t j = 0; j < len; ++j) buf[j] = es[j] * inv;
        });
      } else {
        const T inv = T(1) / row_sum<T>(cols, [&](int64_t j) { return fm::exp(xr[j] - m); });
        stream_slice<false>(y + r * cols, 0, cols, [&](T* __restrict buf, int64_t i0, int64_t len) {
          const T* __restrict xs = xr + i0;
          for (int64_t j = 0; j < len; ++j) buf[j] = fm::exp(xs[j] - m) * inv;
        });
      }
    }
    stream_fence();
  });
}

// vec + streaming stores of dx for large outputs
template <class T> void softmax_backward_stream(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log) {
  if (rows * cols * static_cast<int64_t>(sizeof(T)) < kStreamBytes) return softmax_backward_vec(dx, dy, y, rows, cols, log);
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* __restrict dyr = dy + r * cols;
      const T* __restrict yr = y + r * cols;
      if (log) {
        const T s = row_sum<T>(cols, [&](int64_t j) { return dyr[j]; });
        stream_slice<false>(dx + r * cols, 0, cols, [&](T* __restrict buf, int64_t i0, int64_t len) {
          for (int64_t j = 0; j < len; ++j) buf[j] = dyr[i0 + j] - fm::exp(yr[i0 + j]) * s;
        });
      } else {
        const T s = row_sum<T>(cols, [&](int64_t j) { return dyr[j] * yr[j]; });
        stream_slice<false>(dx + r * cols, 0, cols, [&](T* __restrict buf, int64_t i0, int64_t len) {
          for (int64_t j = 0; j < len; ++j) buf[j] = yr[i0 + j] * (dyr[i0 + j] - s);
        });
      }
    }
    stream_fence();
  });
}

#if defined(__AVX512F__)
namespace {

// ---- lean: simd with the rows pipelined ---------------------------------------------------
// One loop over the columns does row r's exp(x - m) (into an L1 buffer, summing) and streams out
// row r-1's output (softmax: its buffer times 1/s; log_softmax: (x - m) - log s from its cached
// x), so the stores drain while the exp work runs; simd runs them as a burst after the exp pass.
// Row r-1's vectors go out half a row rotated from row r's loads: with rows of 4 KiB, a streaming
// store and the next load at the same address modulo 4 KiB make the load wait (4K aliasing).
// exp with one clamp (x - m <= 0). The sums are simd's (same lanes, same order): simd's bits.
template <bool Cur, bool Prev, bool Log, bool Nt>
PB_INLINE void softmax_lean_step(const float* __restrict xr, V16 m, float* __restrict ec, __m512& s0, __m512& s1,
                                 const float* __restrict xp, V16 mp, V16 ap, const float* __restrict ep, float* yp,
                                 int64_t n, int64_t h) {
  // row r-1's output, the lanes of k of the 16 elements from i (the others read nothing)
  const auto out = [=](int64_t i, __mmask16 k) {
    return Log ? math::log_softmax_out(load16(xp + i, k), mp, ap) : math::softmax_out(load16(ep + i, k), ap);
  };
  const int64_t nq = (n - h) / 16;  // whole aligned vectors of y's row (from h on)
  const int64_t half = nq / 2;
  const auto one = [&](int64_t j, __m512& acc) {
    if constexpr (Cur) {
      __builtin_prefetch(xr + n + j);  // the next row
      const V16 e = math::lean::exp_nonpos(_mm512_loadu_ps(xr + j) - m);
      if constexpr (!Log) _mm512_store_ps(ec + j, e.v);
      acc = _mm512_add_ps(acc, e.v);
    }
    if constexpr (Prev) {
      int64_t q = j / 16;
      if (q < nq) {
        q += half;
        if (q >= nq) q -= nq;
        const int64_t i = h + 16 * q;
        if constexpr (Nt) _mm512_stream_ps(yp + i, out(i, 0xffff).v);
        else _mm512_storeu_ps(yp + i, out(i, 0xffff).v);
      }
    }
  };
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    one(j, s0);
    one(j + 16, s1);
  }
  if (j < n) one(j, s0);  // n % 16 == 0 here
  if constexpr (Prev) {
    if (h > 0) {  // the ragged ends of the row: h elements before the first aligned vector, 16 - h after
      _mm512_mask_storeu_ps(yp, mask_first(h), out(0, mask_first(h)).v);
      _mm512_mask_storeu_ps(yp + n - 16 + h, mask_first(16 - h), out(n - 16 + h, mask_first(16 - h)).v);
    }
  }
}

template <bool Log, bool Nt>
void softmax_forward_lean_rows(float* y, const float* x, int64_t r0, int64_t r1, int64_t cols, int64_t h) {
  alignas(64) float ebuf[2][kRowBuf];
  float* ec = ebuf[0];
  float* ep = ebuf[1];
  V16 mp(0.0f), ap(0.0f);
  for (int64_t r = r0; r <= r1; ++r) {
    const float* xr = x + r * cols;
    const float* xp = xr - cols;
    float* yp = y + (r - 1) * cols;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    V16 m(0.0f);
    if (r < r1) m = V16(row_max16(xr, cols));
    if (r == r0) softmax_lean_step<true, false, Log, Nt>(xr, m, ec, s0, s1, xp, mp, ap, ep, yp, cols, h);
    else if (r < r1) softmax_lean_step<true, true, Log, Nt>(xr, m, ec, s0, s1, xp, mp, ap, ep, yp, cols, h);
    else softmax_lean_step<false, true, Log, Nt>(xr, m, ec, s0, s1, xp, mp, ap, ep, yp, cols, h);
    if (r < r1) {
      const float s = hsum16(_mm512_add_ps(s0, s1));
      mp = m;
      ap = V16(Log ? std::log(s) : 1.0f / s);
      float* t = ep;
      ep = ec;
      ec = t;
    }
  }
  if (Nt) stream_fence();
}

void softmax_forward_lean_f32(float* y, const float* x, int64_t rows, int64_t cols, bool log) {
  const bool nt = stream_out(rows * cols, sizeof(float));
  // whole vectors per row (then every row of y has the same alignment) and an element-aligned y
  // (NumPy allows float32 at odd addresses); else simd
  if (cols > kRowBuf || cols % 16 != 0 || (reinterpret_cast<uintptr_t>(y) & 3u) != 0)
    return softmax_forward_simd<float>(y, x, rows, cols, log);
  const int64_t h = nt ? to_align64(y) : 0;  // elements before y's first 64-byte boundary
  for_rows(rows, cols, [&](int64_t r0, int64_t r1) {
    if (log) nt ? softmax_forward_lean_rows<true, true>(y, x, r0, r1, cols, h) : softmax_forward_lean_rows<true, false>(y, x, r0, r1, cols, h);
    else nt ? softmax_forward_lean_rows<false, true>(y, x, r0, r1, cols, h) : softmax_forward_lean_rows<false, false>(y, x, r0, r1, cols, h);
  });
}

}  // namespace
#endif

// simd with the rows pipelined (see "lean" above); simd elsewhere. Backward: = simd.
template <class T> void softmax_forward_lean(T* y, const T* x, int64_t rows, int64_t cols, bool log) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return softmax_forward_lean_f32(y, x, rows, cols, log);
#endif
  softmax_forward_simd(y, x, rows, cols, log);
}

#define PB_INSTANTIATE(T)                                                                   \
  template void softmax_forward_stream<T>(T*, const T*, int64_t, int64_t, bool);           \
  template void softmax_backward_stream<T>(T*, const T*, const T*, int64_t, int64_t, bool); \
  template void softmax_forward_lean<T>(T*, const T*, int64_t, int64_t, bool);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
