// conv2d forward/backward, NCHW. A naive direct loop (the reading copy), then the fast variants:
// im2col + the shared GEMM core (threads over the batch), a 1x1 path where the GEMM reads x
// directly, a direct kernel for depthwise (C/groups == 1) convolutions, a direct AVX-512
// kernel for one-input-channel 3x3 layers (a network's first conv), and (in
// conv2d_winograd.cpp) Winograd F(2x2,3x3) for 3x3/stride-1 layers. The timings behind each
// choice: docs/kernels/conv2d.md.
#include "cpu/conv2d.h"

#include <cstdlib>
#include <new>

#include "core/common.h"
#include "core/parallel.h"
#include "cpu/conv2d_internal.h"
#include "cpu/gemm.h"
#include "cpu/reduce.h"
#include "math/window.h"

namespace pb::cpu::PB_ISA_NS {

namespace {

Scratch& tl_col() {  // im2col columns of the thread running a sample
  thread_local Scratch s;
  return s;
}
thread_local Scratch tl_slots;  // per-slot dW/db partials of the calling thread (backward)

using math::valid_cols;

// col (Cg*KH*KW, (oh1-oh0)*OW): the receptive fields of output rows [oh0, oh1) over the Cg
// input planes starting at x; zeros where the window reaches into the padding.
template <class T>
PB_INLINE void im2col(T* __restrict col, const T* __restrict x, int64_t Cg, const ConvGeom& g, int64_t oh0,
                      int64_t oh1) {
  const int64_t HW = g.H * g.W, OW = g.OW, np = (oh1 - oh0) * OW;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        T* dst = col + ((c * g.KH + kh) * g.KW + kw) * np;
        const int64_t off = math::conv_in(0, g.sw, g.pw, kw, g.dw);  // + ow * sw
        int64_t lo, hi;
        valid_cols(g.W, OW, g.sw, off, &lo, &hi);
        for (int64_t oh = oh0; oh < oh1; ++oh, dst += OW) {
          const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
          if (ih < 0 || ih >= g.H) {
            for (int64_t ow = 0; ow < OW; ++ow) dst[ow] = T(0);
            continue;
          }
          const T* src = x + c * HW + ih * g.W + off;
          for (int64_t ow = 0; ow < lo; ++ow) dst[ow] = T(0);
          if (g.sw == 1)
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow];
          else
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
          for (int64_t ow = hi; ow < OW; ++ow) dst[ow] = T(0);
        }
      }
}

// The adjoint of im2col: adds col (Cg*KH*KW, (oh1-oh0)*OW) back into the Cg planes at dx.
template <class T>
PB_INLINE void col2im(T* __restrict dx, const T* __restrict col, int64_t Cg, const ConvGeom& g, int64_t oh0,
                      int64_t oh1) {
  const int64_t HW = g.H * g.W, OW = g.OW, np = (oh1 - oh0) * OW;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* src = col + ((c * g.KH + kh) * g.KW + kw) * np;
        const int64_t off = math::conv_in(0, g.sw, g.pw, kw, g.dw);  // + ow * sw
        int64_t lo, hi;
        valid_cols(g.W, OW, g.sw, off, &lo, &hi);
        for (int64_t oh = oh0; oh < oh1; ++oh, src += OW) {
          const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
          if (ih < 0 || ih >= g.H) continue;
          T* dst = dx + c * HW + ih * g.W + off;
          if (g.sw == 1)
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
          else
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw] += src[ow];
        }
      }
}


// sum_i a[i] * b[i * sb] for i in [0, n).
template <class T> PB_INLINE T dot_row(const T* __restrict a, const T* __restrict b, int64_t n, int64_t sb) {
  if (sb != 1) {
    T s = 0;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i * sb];
    return s;
  }
  T acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  T s = 0;
  for (int j = 0; j < 16; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Output rows per im2col block: the column block of one group stays around kColBlockBytes so
// it is still in L2 when the GEMM packs it.
constexpr int64_t kColBlockBytes = 512 * 1024;
template <class T> PB_INLINE int64_t rows_per_block(const ConvGeom& g, int64_t K) {
  int64_t rb = kColBlockBytes / static_cast<int64_t>(sizeof(T)) / (K * g.OW);
  if (rb < 1) rb = 1;
  if (rb > g.OH) rb = g.OH;
  return rb;
}

PB_INLINE bool is_pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// ---- forward, one sample -------------------------------------------------------------------

// y_n (O, P) = W (O, K) @ col (K, P) per group, col built in blocks of output rows.
template <class T>
void forward_sample_im2col(T* y, const T* x, const T* w, const T* b, const ConvGeom& g, T* col) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW, HW = g.H * g.W, rb = rows_per_block<T>(g, K);
  for (int64_t oh0 = 0; oh0 < g.OH; oh0 += rb) {
    const int64_t oh1 = oh0 + rb < g.OH ? oh0 + rb : g.OH, np = (oh1 - oh0) * g.OW;
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      im2col(col, x + gr * Cg * HW, Cg, g, oh0, oh1);
      gemm<T>(y + gr * Og * P + oh0 * g.OW, P, w + gr * Og * K, K, false, col, np, false, Og, np, K, T(1), T(0));
    }
    if (b)
      for (int64_t o = 0; o < g.O; ++o) {
        T* yo = y + o * P + oh0 * g.OW;
        const T bo = b[o];
        for (int64_t p = 0; p < np; ++p) yo[p] += bo;
      }
  }
}

// 1x1, stride 1, no padding: x_n (C, P) already is the column matrix.
template <class T>
void forward_sample_pointwise(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, P = g.OH * g.OW;
  for (int64_t gr = 0; gr < g.groups; ++gr)
    gemm<T>(y + gr * Og * P, P, w + gr * Og * Cg, Cg, false, x + gr * Cg * P, P, false, Og, P, Cg, T(1), T(0));
  if (b)
    for (int64_t o = 0; o < g.O; ++o) {
      T* yo = y + o * P;
      const T bo = b[o];
      for (int64_t p = 0; p < P; ++p) yo[p] += bo;
    }
}

// Winograd (conv2d_winograd.cpp) where it applies and both channel counts reach 16: its register
// tile is 16-32 channels wide, and below 16 channels it lost to im2col (docs/kernels/conv2d.md).
// A Winograd block holds at least one whole tile row (16 * 4 bytes per tile and channel): very
// wide planes (a 3x3 over a long 1-D signal) stay on im2col rather than allocate ~OW*C*32 bytes.
constexpr int64_t kWinogradMinChannels = 16;
constexpr int64_t kWinogradMaxRowElems = int64_t(1) << 20;  // OW * channels
PB_INLINE bool use_winograd(const ConvGeom& g) {
  return winograd_applies(g) && g.C >= kWinogradMinChannels && g.O >= kWinogradMinChannels &&
         g.OW * max_i64(g.C, g.O) <= kWinogradMaxRowElems;
}

// Runs one sample per call of `f(n, col)` over the batch, threads over samples (a GEMM called
// inside runs single-threaded; with one sample the GEMM threads itself).
template <class T, class F> void over_batch(const ConvGeom& g, int64_t col_elems, F f) {
  for_each_with_scratch<T>(tl_col, g.N, col_elems, f);
}

// ---- direct 3x3 kernel for one input channel (a network's first conv on 1-channel images) ----
// x (N, 1, H, W), 3x3, stride 1, dilation 1, groups 1, any padding. im2col + GEMM is poor here:
// K = 9 leaves the GEMM's register tiles nearly empty, and dW (O, 9) = dY (O, P) @ col^T is a
// 9-wide GEMM (figures: docs/kernels/conv2d.md).
// The direct kernels hold the 9 shifted input rows of a 16-column chunk in registers (masked
// loads: zeros in the padding and past the row's end, so any width costs whole vectors only);
// forward: 9 FMAs with a broadcast weight per output channel; dW: per pair of output channels 18
// vector accumulators (+2 for db) over the sample, reduced once per sample into the slot partial.
// AVX-512 float only; elsewhere `direct` is the `fast` path.
PB_INLINE bool direct1_applies(const ConvGeom& g) { return direct_handles(g); }

#if defined(__AVX512F__)
// GCC 12's reduce/extract intrinsics start from an undefined vector and warn (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Lanes l of the chunk starting at ow0 with lo <= ow0 + l < hi.
PB_INLINE __mmask16 lane_range(int64_t ow0, int64_t lo, int64_t hi) {
  const int64_t a = max_i64(lo - ow0, 0), b = min_i64(hi - ow0, 16);
  if (b <= a) return 0;
  const uint32_t upto = b >= 16 ? 0xFFFFu : (1u << b) - 1;
  return static_cast<__mmask16>(upto & ~((1u << a) - 1));
}

// The 9 input vectors of output row oh, chunk ow0 (zeros outside the plane); km[kw] per column tap.
PB_INLINE void direct1_taps(__m512* xv, const float* xp, const ConvGeom& g, int64_t oh, int64_t ow0,
                            const __mmask16* km) {
#pragma GCC unroll 3
  for (int kh = 0; kh < 3; ++kh) {
    const int64_t ih = math::conv_in(oh, 1, g.ph, kh, 1);
    if (ih < 0 || ih >= g.H) {
      for (int kw = 0; kw < 3; ++kw) xv[kh * 3 + kw] = _mm512_setzero_ps();
      continue;
    }
    const float* xr = xp + ih * g.W + ow0 - g.pw;
    for (int kw = 0; kw < 3; ++kw) xv[kh * 3 + kw] = _mm512_maskz_loadu_ps(km[kw], xr + kw);
  }
}

// Column-tap masks of chunk ow0: input column ow + kw - pw inside [0, W) and ow < OW.
PB_INLINE void direct1_masks(__mmask16* km, const ConvGeom& g, int64_t ow0) {
  for (int kw = 0; kw < 3; ++kw)
    km[kw] = lane_range(ow0, max_i64(g.pw - kw, 0), min_i64(g.OW, g.W + g.pw - kw));
}

// One sample: y (O, OH, OW) from x (1, H, W).
PB_INLINE void direct1_forward_sample(float* y, const float* x, const float* w, const float* b, const ConvGeom& g) {
  const int64_t P = g.OH * g.OW;
  for (int64_t ow0 = 0; ow0 < g.OW; ow0 += 16) {
    __mmask16 km[3];
    direct1_masks(km, g, ow0);
    const __mmask16 mo = lane_range(ow0, 0, g.OW);
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      __m512 xv[9];
      direct1_taps(xv, x, g, oh, ow0, km);
      float* yr = y + oh * g.OW + ow0;
      for (int64_t o = 0; o < g.O; ++o) {
        const float* wo = w + o * 9;
        __m512 acc = _mm512_mul_ps(_mm512_set1_ps(wo[0]), xv[0]);
        for (int t = 1; t < 9; ++t) acc = _mm512_fmadd_ps(_mm512_set1_ps(wo[t]), xv[t], acc);
        if (b) acc = _mm512_add_ps(acc, _mm512_set1_ps(b[o]));
        _mm512_mask_storeu_ps(yr + o * P, mo, acc);
      }
    }
  }
}

// One sample: dwp (O, 9) += sum dy_o * shifted x, dbp (O,) += sum dy_o (or null). Every
// accumulator index is a constant after unrolling (a runtime-bounded loop over them made GCC
// keep the array in memory: 20 vector stores per row, 3x slower).
PB_INLINE void direct1_weight_sample(float* dwp, float* dbp, const float* dy, const float* x, const ConvGeom& g) {
  const int64_t P = g.OH * g.OW, OH = g.OH, OW = g.OW;
  for (int64_t o0 = 0; o0 < g.O; o0 += 2) {
    const bool two = o0 + 1 < g.O;
    const float* d0 = dy + o0 * P;
    const float* d1 = two ? d0 + P : d0;
    __m512 acc[20];  // [0, 9): channel o0's taps, [9, 18): o0 + 1's, 18/19: their dy sums
#pragma GCC unroll 20
    for (int t = 0; t < 20; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
      __mmask16 km[3];
      direct1_masks(km, g, ow0);
      const __mmask16 mo = lane_range(ow0, 0, OW);
      for (int64_t oh = 0; oh < OH; ++oh) {
        __m512 xv[9];
        direct1_taps(xv, x, g, oh, ow0, km);
        const __m512 e0 = _mm512_maskz_loadu_ps(mo, d0 + oh * OW + ow0);
        const __m512 e1 = _mm512_maskz_loadu_ps(mo, d1 + oh * OW + ow0);
        acc[18] = _mm512_add_ps(acc[18], e0);
        acc[19] = _mm512_add_ps(acc[19], e1);
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) {
          acc[t] = _mm512_fmadd_ps(e0, xv[t], acc[t]);
          acc[9 + t] = _mm512_fmadd_ps(e1, xv[t], acc[9 + t]);
        }
      }
    }
    float r[20];
#pragma GCC unroll 20
    for (int t = 0; t < 20; ++t) r[t] = _mm512_reduce_add_ps(acc[t]);
    for (int t = 0; t < 9; ++t) dwp[o0 * 9 + t] += r[t];
    if (dbp) dbp[o0] += r[18];
    if (two) {
      for (int t = 0; t < 9; ++t) dwp[(o0 + 1) * 9 + t] += r[9 + t];
      if (dbp) dbp[o0 + 1] += r[19];
    }
  }
}
#pragma GCC diagnostic pop
#endif

// The direct kernel's forward over the batch; false where it does not apply.
template <class T> bool direct1_forward(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == sizeof(float)) {
    if (direct1_applies(g)) {
      const int64_t xs = g.H * g.W, ys = g.O * g.OH * g.OW;
      over_batch<T>(g, 0, [&](int64_t n, T*) { direct1_forward_sample(y + n * ys, x + n * xs, w, b, g); });
      return true;
    }
  }
#endif
  (void)y, (void)x, (void)w, (void)b, (void)g;
  return false;
}

}  // namespace

// ---- forward -------------------------------------------------------------------------------

// x (N, C, H, W), w (O, C/groups, KH, KW), b (O,) or null -> y (N, O, OH, OW).
template <class T> void conv2d_forward_naive(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o) {
      const int64_t c0 = (o / Og) * Cg;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          T acc = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < g.KH; ++kh)
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
                const int64_t iw = math::conv_in(ow, g.sw, g.pw, kw, g.dw);
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                acc += w[((o * Cg + c) * g.KH + kh) * g.KW + kw] * x[((n * g.C + c0 + c) * g.H + ih) * g.W + iw];
              }
          y[((n * g.O + o) * g.OH + oh) * g.OW + ow] = b ? acc + b[o] : acc;
        }
    }
}

// im2col + GEMM per sample and group, threads over the batch, columns built in L2-sized blocks
// of output rows (faster than whole-sample columns; batching several small samples into one
// wider GEMM measured no better, so it is not done: docs/kernels/conv2d.md).
template <class T> void conv2d_forward_im2col(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  const int64_t K = (g.C / g.groups) * g.KH * g.KW;
  const int64_t col_elems = K * rows_per_block<T>(g, K) * g.OW;
  over_batch<T>(g, col_elems, [&](int64_t n, T* col) {
    forward_sample_im2col(y + n * g.O * g.OH * g.OW, x + n * g.C * g.H * g.W, w, b, g, col);
  });
}

// Depthwise-style (C/groups == 1): each output plane is a KHxKW stencil over one input plane.
// Direct loops, rows vectorized over ow; threads over the N*O output planes (well ahead of
// im2col: docs/kernels/conv2d.md).
template <class T>
static void depthwise_forward(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  const int64_t Og = g.O / g.groups, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  parallel_for(g.N * g.O, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const int64_t n = plane / g.O, o = plane % g.O, c = o / Og;
      const T* xp = x + (n * g.C + c) * HW;
      const T* wk = w + o * KK;
      T* yp = y + plane * P;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* __restrict yr = yp + oh * g.OW;
        fill(yr, g.OW, T(0));
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
          if (ih < 0 || ih >= g.H) continue;
          const T* xr = xp + ih * g.W;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t off = math::conv_in(0, g.sw, g.pw, kw, g.dw);  // + ow * sw
            int64_t lo, hi;
            valid_cols(g.W, g.OW, g.sw, off, &lo, &hi);
            const T wv = wk[kh * g.KW + kw];
            const T* __restrict xs = xr + off;
            if (g.sw == 1)
              for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xs[ow];
            else
              for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xs[ow * g.sw];
          }
        }
        if (b) {
          const T bo = b[o];
          for (int64_t ow = 0; ow < g.OW; ++ow) yr[ow] += bo;
        }
      }
    }
  });
}

// Per shape: depthwise -> direct kernel; 1x1/stride 1/no padding -> GEMM on x (no im2col);
// 3x3/stride 1 with >= 16 channels in and out -> Winograd; else im2col + GEMM. Each choice was
// the faster on the benchmark layers (docs/kernels/conv2d.md).
template <class T> void conv2d_forward_fast(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  if (direct1_forward(y, x, w, b, g)) return;
  if (g.C / g.groups == 1 && g.groups > 1) return depthwise_forward(y, x, w, b, g);
  if (is_pointwise(g)) {
    over_batch<T>(g, 0, [&](int64_t n, T*) {
      forward_sample_pointwise(y + n * g.O * g.OH * g.OW, x + n * g.C * g.H * g.W, w, b, g);
    });
    return;
  }
  if (use_winograd(g)) return winograd_forward(y, x, w, b, g);
  conv2d_forward_im2col(y, x, w, b, g);
}

// The direct one-input-channel 3x3 kernel where it applies (float, AVX-512; `fast` takes it
// too), else `fast`.
template <class T> void conv2d_forward_direct(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  if (!direct1_forward(y, x, w, b, g)) conv2d_forward_fast(y, x, w, b, g);
}

// ---- backward ------------------------------------------------------------------------------

// dy (N, O, OH, OW), x, w -> dx (N, C, H, W) or null, dw (O, C/groups, KH, KW), db (O,) or null.
template <class T>
void conv2d_backward_naive(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  if (dx) fill(dx, g.N * g.C * g.H * g.W, T(0));
  fill(dw, g.O * Cg * g.KH * g.KW, T(0));
  if (db) fill(db, g.O, T(0));
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o) {
      const int64_t c0 = (o / Og) * Cg;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const T d = dy[((n * g.O + o) * g.OH + oh) * g.OW + ow];
          if (db) db[o] += d;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < g.KH; ++kh)
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
                const int64_t iw = math::conv_in(ow, g.sw, g.pw, kw, g.dw);
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                const int64_t wi = ((o * Cg + c) * g.KH + kh) * g.KW + kw;
                const int64_t xi = ((n * g.C + c0 + c) * g.H + ih) * g.W + iw;
                dw[wi] += d * x[xi];
                if (dx) dx[xi] += d * w[wi];
              }
        }
    }
}

namespace {

// Backward of one sample on the GEMM core. Accumulates into the slot partials dwp (O, K) and
// dbp (O,) (or null), writes dx_n (or skips when null).
template <class T>
void backward_sample_im2col(T* dx, T* dwp, T* dbp, const T* dy, const T* x, const T* w, const ConvGeom& g,
                            T* col) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, K = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW, HW = g.H * g.W, rb = rows_per_block<T>(g, K);
  if (dx) fill(dx, g.C * HW, T(0));
  for (int64_t oh0 = 0; oh0 < g.OH; oh0 += rb) {
    const int64_t oh1 = oh0 + rb < g.OH ? oh0 + rb : g.OH, np = (oh1 - oh0) * g.OW;
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      const T* dyb = dy + gr * Og * P + oh0 * g.OW;
      im2col(col, x + gr * Cg * HW, Cg, g, oh0, oh1);
      // dW_g (Og, K) += dY_g (Og, np) @ col^T (np, K)
      gemm<T>(dwp + gr * Og * K, K, dyb, P, false, col, np, true, Og, K, np, T(1), T(1));
      if (dx) {
        // dcol (K, np) = W_g^T (K, Og) @ dY_g (Og, np), then fold back into dx.
        gemm<T>(col, np, w + gr * Og * K, K, true, dyb, P, false, K, np, Og, T(1), T(0));
        col2im(dx + gr * Cg * HW, col, Cg, g, oh0, oh1);
      }
    }
  }
  if (dbp)
    for (int64_t o = 0; o < g.O; ++o) dbp[o] += sum_row(dy + o * P, P);
}

template <class T>
void backward_sample_pointwise(T* dx, T* dwp, T* dbp, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, P = g.OH * g.OW;
  for (int64_t gr = 0; gr < g.groups; ++gr) {
    const T* dyg = dy + gr * Og * P;
    // dW_g (Og, Cg) += dY_g (Og, P) @ x_g^T (P, Cg)
    gemm<T>(dwp + gr * Og * Cg, Cg, dyg, P, false, x + gr * Cg * P, P, true, Og, Cg, P, T(1), T(1));
    // dx_g (Cg, P) = W_g^T (Cg, Og) @ dY_g (Og, P)
    if (dx) gemm<T>(dx + gr * Cg * P, P, w + gr * Og * Cg, Cg, true, dyg, P, false, Cg, P, Og, T(1), T(0));
  }
  if (dbp)
    for (int64_t o = 0; o < g.O; ++o) dbp[o] += sum_row(dy + o * P, P);
}

// Threads over `slots` contiguous sample ranges, a number fixed by the shape (not by the thread
// count). Each slot accumulates its own dW/db partial (slot 0 straight into dw/db); the partials
// are then added in slot order, so the result is the same for every thread count.
constexpr int64_t kBatchSlots = 8;
constexpr int64_t kSlotElems = int64_t(4) << 20;  // cap on the partials (elements)
template <class T, class F>
void backward_over_batch(T* dw, T* db, const ConvGeom& g, int64_t col_elems, F f) {
  const int64_t wsize = g.O * (g.C / g.groups) * g.KH * g.KW, bsize = db ? g.O : 0;
  const int64_t slots = max_i64(1, min_i64(min_i64(g.N, kBatchSlots), kSlotElems / (wsize + bsize)));
  const int64_t per = wsize + bsize;
  T* part = slots > 1 ? tl_slots.get<T>((slots - 1) * per) : nullptr;
  if (slots > 1 && !part) throw std::bad_alloc();
  for_each_with_scratch<T>(tl_col, slots, col_elems, [&](int64_t s, T* col) {
    T* dwp = s == 0 ? dw : part + (s - 1) * per;
    T* dbp = db ? (s == 0 ? db : part + (s - 1) * per + wsize) : nullptr;
    fill(dwp, wsize, T(0));
    if (dbp) fill(dbp, g.O, T(0));
    for (int64_t n = g.N * s / slots; n < g.N * (s + 1) / slots; ++n) f(n, dwp, dbp, col);
  });
  if (slots > 1) {
    // Small weights are combined on the calling thread: a second parallel region costs more
    // than it saves when the cores are shared (a descheduled worker stalls the join).
    parallel_for(wsize, 1 << 20, [&](int64_t i0, int64_t i1) {
      for (int64_t s = 1; s < slots; ++s) {
        const T* src = part + (s - 1) * per;
        for (int64_t i = i0; i < i1; ++i) dw[i] += src[i];
      }
    });
    if (db)
      for (int64_t s = 1; s < slots; ++s)
        for (int64_t o = 0; o < g.O; ++o) db[o] += part[(s - 1) * per + wsize + o];
  }
}

// The direct kernel's dW/db over the batch in fixed slots (as im2col); false where it does not
// apply or dx is wanted.
template <class T>
bool direct1_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const ConvGeom& g) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == sizeof(float)) {
    if (direct1_applies(g) && !dx) {
      const int64_t xs = g.H * g.W, ys = g.O * g.OH * g.OW;
      backward_over_batch<T>(dw, db, g, 0, [&](int64_t n, T* dwp, T* dbp, T*) {
        direct1_weight_sample(dwp, dbp, dy + n * ys, x + n * xs, g);
      });
      return true;
    }
  }
#endif
  (void)dx, (void)dw, (void)db, (void)dy, (void)x, (void)g;
  return false;
}

}  // namespace

// im2col + GEMM per sample: dW += dY col^T, dcol = W^T dY folded back by col2im; threads over
// the batch with per-slot dW partials added in a fixed order.
template <class T>
void conv2d_backward_im2col(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  const int64_t K = (g.C / g.groups) * g.KH * g.KW;
  const int64_t col_elems = K * rows_per_block<T>(g, K) * g.OW;
  const int64_t xs = g.C * g.H * g.W, ys = g.O * g.OH * g.OW;
  backward_over_batch<T>(dw, db, g, col_elems, [&](int64_t n, T* dwp, T* dbp, T* col) {
    backward_sample_im2col(dx ? dx + n * xs : nullptr, dwp, dbp, dy + n * ys, x + n * xs, w, g, col);
  });
}

// Depthwise backward: dx over (n, c) planes (scatter of each o of the group, rows vectorized);
// dw/db over output channels, each summing the whole batch itself (no partials needed).
template <class T>
static void depthwise_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  const int64_t Og = g.O / g.groups, HW = g.H * g.W, P = g.OH * g.OW, KK = g.KH * g.KW;
  if (dx)
    parallel_for(g.N * g.C, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t plane = p0; plane < p1; ++plane) {
        const int64_t n = plane / g.C, c = plane % g.C;
        T* dxp = dx + plane * HW;
        fill(dxp, HW, T(0));
        for (int64_t o = c * Og; o < (c + 1) * Og; ++o) {
          const T* dyp = dy + (n * g.O + o) * P;
          const T* wk = w + o * KK;
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const T* __restrict dyr = dyp + oh * g.OW;
            for (int64_t kh = 0; kh < g.KH; ++kh) {
              const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t off = math::conv_in(0, g.sw, g.pw, kw, g.dw);  // + ow * sw
                int64_t lo, hi;
                valid_cols(g.W, g.OW, g.sw, off, &lo, &hi);
                const T wv = wk[kh * g.KW + kw];
                T* __restrict dr = dxp + ih * g.W + off;
                if (g.sw == 1)
                  for (int64_t ow = lo; ow < hi; ++ow) dr[ow] += wv * dyr[ow];
                else
                  for (int64_t ow = lo; ow < hi; ++ow) dr[ow * g.sw] += wv * dyr[ow];
              }
            }
          }
        }
      }
    });
  parallel_for(g.O, 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t c = o / Og;
      T* dwo = dw + o * KK;
      fill(dwo, KK, T(0));
      T bsum = 0;
      for (int64_t n = 0; n < g.N; ++n) {
        const T* dyp = dy + (n * g.O + o) * P;
        const T* xp = x + (n * g.C + c) * HW;
        if (db) bsum += sum_row(dyp, P);
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t off = math::conv_in(0, g.sw, g.pw, kw, g.dw);  // + ow * sw
              int64_t lo, hi;
              valid_cols(g.W, g.OW, g.sw, off, &lo, &hi);
              dwo[kh * g.KW + kw] += dot_row(dyp + oh * g.OW + lo, xp + ih * g.W + off + lo * g.sw, hi - lo, g.sw);
            }
          }
      }
      if (db) db[o] = bsum;
    }
  });
}

// Per shape, as the forward: depthwise direct; 1x1 GEMM on x (no col2im); Winograd dW (+ db) and
// dx; else im2col (timings: docs/kernels/conv2d.md).
template <class T>
void conv2d_backward_fast(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  if (direct1_backward(dx, dw, db, dy, x, g)) return;
  if (g.C / g.groups == 1 && g.groups > 1) return depthwise_backward(dx, dw, db, dy, x, w, g);
  if (is_pointwise(g)) {
    const int64_t xs = g.C * g.H * g.W, ys = g.O * g.OH * g.OW;
    backward_over_batch<T>(dw, db, g, 0, [&](int64_t n, T* dwp, T* dbp, T*) {
      backward_sample_pointwise(dx ? dx + n * xs : nullptr, dwp, dbp, dy + n * ys, x + n * xs, w, g);
    });
    return;
  }
  if (use_winograd(g)) return winograd_backward(dx, dw, db, dy, x, w, g);
  conv2d_backward_im2col(dx, dw, db, dy, x, w, g);
}

// dW/db by the direct one-input-channel kernel where it applies and no dx is asked for (a first
// layer's; `fast` takes it too), else `fast`.
template <class T>
void conv2d_backward_direct(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  if (!direct1_backward(dx, dw, db, dy, x, g)) conv2d_backward_fast(dx, dw, db, dy, x, w, g);
}

// Winograd wherever it applies (3x3, stride 1, dilation 1, groups 1, padding <= 2), whatever the
// channel counts; `fast` otherwise. For tests and measurements: `fast` takes it from 16 channels.
template <class T> void conv2d_forward_winograd(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  if (!winograd_applies(g)) return conv2d_forward_fast(y, x, w, b, g);
  winograd_forward(y, x, w, b, g);
}
template <class T>
void conv2d_backward_winograd(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  if (!winograd_applies(g)) return conv2d_backward_fast(dx, dw, db, dy, x, w, g);
  winograd_backward(dx, dw, db, dy, x, w, g);
}

#define PB_INSTANTIATE(T)                                                                                  \
  template void conv2d_forward_naive<T>(T*, const T*, const T*, const T*, const ConvGeom&);                \
  template void conv2d_forward_im2col<T>(T*, const T*, const T*, const T*, const ConvGeom&);               \
  template void conv2d_forward_fast<T>(T*, const T*, const T*, const T*, const ConvGeom&);                 \
  template void conv2d_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);       \
  template void conv2d_backward_im2col<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);      \
  template void conv2d_backward_fast<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);     \
  template void conv2d_forward_winograd<T>(T*, const T*, const T*, const T*, const ConvGeom&);          \
  template void conv2d_backward_winograd<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);    \
  template void conv2d_forward_direct<T>(T*, const T*, const T*, const T*, const ConvGeom&);            \
  template void conv2d_backward_direct<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
