// Loop shapes shared by the element-wise CPU kernels: split across cores in slices long enough
// to amortize the fork, each slice a plain loop the compiler vectorizes for the ISA this
// translation unit is built for.
//
// map1/map2 store normally. map1_stream/map2_stream compute a block into an L1-resident buffer
// and copy it out with non-temporal (streaming) stores: a normal store of a line that is not in
// cache first reads it (read-for-ownership), so an element-wise op over tensors far larger than
// the caches moves 12 B/elt (float, one input) instead of 8. Streaming only pays when the output
// will not be read again soon from cache, so callers use it above kStreamBytes of output.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/common.h"
#include "core/parallel.h"
#include "math/fastmath.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace pb::cpu {

constexpr int64_t kElementwiseGrain = 1 << 15;
// Outputs at least this large (bytes) are written with streaming stores by the *_stream loops
// (half the 32 MiB L3 of the reference machine: smaller outputs are likely still cached when
// the next op reads them).
constexpr int64_t kStreamBytes = int64_t(16) << 20;
constexpr int64_t kStreamBlock = 1024;  // elements per L1 block (4 KiB float, 8 KiB double)

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

// The one streaming copy (cpu/copy.cpp's copy op, the bandwidth ceiling of `pybench bench`, and
// the L1-buffer loops below use it): d <- s, `bytes` bytes, non-temporal stores for the 64-byte
// aligned part of d (no read-for-ownership of its lines: a large copy moves 2 bytes per byte
// copied instead of 3), ordinary stores for the ragged ends, s of any alignment. The widest
// vectors of the ISA this translation unit is built for, 4 per step. No fence: the caller
// runs stream_fence() before the data is needed elsewhere.
PB_INLINE void stream_bytes(char* __restrict d, const char* __restrict s, int64_t bytes) {
#if defined(__SSE2__)
  int64_t head = static_cast<int64_t>((64 - (reinterpret_cast<uintptr_t>(d) & 63)) & 63);
  if (head > bytes) head = bytes;
  std::memcpy(d, s, static_cast<size_t>(head));
  int64_t i = head;
#if defined(__AVX512F__)
  for (; i + 256 <= bytes; i += 256) {
    const __m512i a = _mm512_loadu_si512(s + i), b = _mm512_loadu_si512(s + i + 64);
    const __m512i c = _mm512_loadu_si512(s + i + 128), e = _mm512_loadu_si512(s + i + 192);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i), a);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i + 64), b);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i + 128), c);
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i + 192), e);
  }
#elif defined(__AVX2__)
  for (; i + 128 <= bytes; i += 128) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 32));
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 64));
    const __m256i e = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 96));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i), a);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 32), b);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 64), c);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 96), e);
  }
#else
  for (; i + 64 <= bytes; i += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 32));
    const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 48), e);
  }
#endif
  std::memcpy(d + i, s + i, static_cast<size_t>(bytes - i));
#else
  std::memcpy(d, s, static_cast<size_t>(bytes));
#endif
}
template <class T> PB_INLINE void stream_copy(T* __restrict dst, const T* __restrict src, int64_t n) {
  stream_bytes(reinterpret_cast<char*>(dst), reinterpret_cast<const char*>(src), n * static_cast<int64_t>(sizeof(T)));
}
// Orders this thread's streaming stores before anything after it (the join of parallel_for).
PB_INLINE void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Element count until p is 64-byte aligned (for an element-aligned p; see stream_slice otherwise).
template <class T> PB_INLINE int64_t to_align64(const T* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p) & 63u;
  return a == 0 ? 0 : static_cast<int64_t>((64u - a) / sizeof(T));
}

// One slice [b, e) of y = f(i): head until y is aligned, blocks computed into an L1 buffer and
// streamed out, tail. `f(buf, i0, len)` writes len results for elements i0.. into buf.
// Fence = false leaves the stream_fence() to the caller (once per thread after many slices).
template <bool Fence = true, class T, class F>
PB_INLINE void stream_slice(T* __restrict y, int64_t b, int64_t e, F f) {
  alignas(64) T buf[kStreamBlock];
  int64_t i = b;
  const int64_t head = to_align64(y + b) < e - b ? to_align64(y + b) : e - b;
  if (head > 0) {
    f(buf, i, head);
    for (int64_t j = 0; j < head; ++j) y[i + j] = buf[j];
    i += head;
  }
  // A y that is not even element-aligned (NumPy allows it) never reaches 64-byte alignment:
  // store normally then.
  const bool aligned = (reinterpret_cast<uintptr_t>(y + i) & 63u) == 0;
  for (; i + kStreamBlock <= e; i += kStreamBlock) {
    f(buf, i, kStreamBlock);
    if (aligned) stream_copy(y + i, buf, kStreamBlock);
    else for (int64_t j = 0; j < kStreamBlock; ++j) y[i + j] = buf[j];
  }
  if (i < e) {
    f(buf, i, e - i);
    for (int64_t j = 0; j < e - i; ++j) y[i + j] = buf[j];
  }
  if (Fence) stream_fence();
}

template <class T, class F>
PB_INLINE void map1_stream(T* __restrict y, const T* __restrict x, int64_t n, F f) {
  if (n * static_cast<int64_t>(sizeof(T)) < kStreamBytes) return map1(y, x, n, f);
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    stream_slice(y, b, e, [&](T* __restrict buf, int64_t i0, int64_t len) {
      const T* __restrict xs = x + i0;
      for (int64_t j = 0; j < len; ++j) buf[j] = f(xs[j]);
    });
  });
}

template <class T, class F>
PB_INLINE void map2_stream(T* __restrict y, const T* __restrict a, const T* __restrict b, int64_t n, F f) {
  if (n * static_cast<int64_t>(sizeof(T)) < kStreamBytes) return map2(y, a, b, n, f);
  parallel_for(n, kElementwiseGrain, [&](int64_t lo, int64_t hi) {
    stream_slice(y, lo, hi, [&](T* __restrict buf, int64_t i0, int64_t len) {
      const T* __restrict as = a + i0;
      const T* __restrict bs = b + i0;
      for (int64_t j = 0; j < len; ++j) buf[j] = f(as[j], bs[j]);
    });
  });
}

// ---- explicit AVX-512 loops: 16 floats per step as fm::V16 ----------------------------------
// The formula f is called on fm::V16 (math/<family>.h formulas are templates over T, and
// math/fastmath.h gives V16 its operators and the vscalefps / vgetexpps versions of exp, log,
// ...), the ragged ends are masked loads and stores (no scalar remainder loop, no L1 bounce
// buffer), and large outputs are written with streaming stores straight from the register.
// Other builds (and double) take map*_stream with the scalar formula.
#if defined(__AVX512F__)
using fm::V16;

// 16 floats at p, the lanes outside mask m read as 0 (and never touched in memory). m is a
// constant after inlining in the loops below, so the full-vector case is a plain load.
PB_INLINE V16 load16(const float* p, __mmask16 m) {
  return m == 0xffff ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
PB_INLINE __mmask16 mask_first(int64_t k) { return static_cast<__mmask16>((1u << k) - 1u); }  // k in [0, 16]

// y[i] for i in [b, e) = g(i, m).v (g computes lanes i..i+15 under mask m): head masked until y
// is 64-byte aligned, full vectors (streamed when `nt`), tail masked. No fence: see stream_fence.
template <class G> PB_INLINE void store_slice16(float* __restrict y, int64_t b, int64_t e, bool nt, G g) {
  int64_t i = b;
  if (nt) {
    const int64_t head = to_align64(y + b) < e - b ? to_align64(y + b) : e - b;
    if (head > 0) {
      const __mmask16 m = mask_first(head);
      _mm512_mask_storeu_ps(y + i, m, g(i, m).v);
      i += head;
    }
    nt = (reinterpret_cast<uintptr_t>(y + i) & 63u) == 0;  // a y not even 4-byte aligned never gets there
  }
  if (nt)
    for (; i + 16 <= e; i += 16) _mm512_stream_ps(y + i, g(i, __mmask16(0xffff)).v);
  else
    for (; i + 16 <= e; i += 16) _mm512_storeu_ps(y + i, g(i, __mmask16(0xffff)).v);
  if (i < e) {
    const __mmask16 m = mask_first(e - i);
    _mm512_mask_storeu_ps(y + i, m, g(i, m).v);
  }
}
#endif

// Streaming stores for outputs of at least kStreamBytes (as map*_stream).
PB_INLINE bool stream_out(int64_t n, size_t elem) { return n * static_cast<int64_t>(elem) >= kStreamBytes; }

// One thread's slice [b, e) of y[i] = f(in[i]...) (any number of inputs), streaming stores when
// `nt` (the caller runs stream_fence() once after its slices). f is generic: called on fm::V16
// (AVX-512 float: store_slice16) or on T (elsewhere: stream_slice through the L1 buffer, or a
// plain loop when !nt).
template <class T, class F, class... P>
PB_INLINE void map_slice(T* __restrict y, int64_t b, int64_t e, bool nt, F f, const P*... in) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    // by value: the stores through y must not make GCC reload the inputs, or f's parameters
    store_slice16(y, b, e, nt, [f, in...](int64_t i, __mmask16 m) { return f(load16(in + i, m)...); });
  } else
#endif
  if (nt) {
    stream_slice<false>(y, b, e, [f, in...](T* __restrict buf, int64_t i0, int64_t len) {
      for (int64_t j = 0; j < len; ++j) buf[j] = f(in[i0 + j]...);
    });
  } else {
    for (int64_t i = b; i < e; ++i) y[i] = f(in[i]...);
  }
}

// y = f(x) / f(a, b) over n elements, threaded, streaming stores for outputs >= kStreamBytes;
// f called on fm::V16 on AVX-512 float (the simd impls), on T elsewhere (then as map*_stream).
template <class T, class F, class... P> PB_INLINE void map_simd(T* __restrict y, int64_t n, F f, const P*... in) {
  const bool nt = stream_out(n, sizeof(T));
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    map_slice(y, b, e, nt, f, in...);
    if (nt) stream_fence();
  });
}
template <class T, class F> PB_INLINE void map1_simd(T* __restrict y, const T* __restrict x, int64_t n, F f) {
  map_simd(y, n, f, x);
}
template <class T, class F>
PB_INLINE void map2_simd(T* __restrict y, const T* __restrict a, const T* __restrict b, int64_t n, F f) {
  map_simd(y, n, f, a, b);
}

}  // namespace pb::cpu
