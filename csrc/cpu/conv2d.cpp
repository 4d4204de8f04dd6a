// conv2d forward/backward, NCHW. A naive direct loop (the reading copy), then the fast variants:
// im2col + the shared GEMM core (threads over the batch), a 1x1 path where the GEMM reads x
// directly, Winograd F(2x2,3x3) for 3x3/stride-1 layers on wide planes, and a direct kernel for
// depthwise (C/groups == 1) convolutions. Timings in comments are medians measured on this
// 2-core VM while other jobs shared it (CPU time of one thread unless said otherwise).
#include "cpu/conv2d.h"

#include <cstdlib>
#include <new>

#include "core/common.h"
#include "core/parallel.h"
#include "cpu/reduce.h"
#include "cpu/gemm.h"
#include "cpu/conv2d_internal.h"

namespace pb::cpu::PB_ISA_NS {

namespace {

thread_local Scratch tl_col;    // im2col columns of the thread running a sample
thread_local Scratch tl_slots;  // per-slot dW/db partials of the calling thread (backward)

// Output columns ow in [lo, hi) whose input column ow*s + off lies in [0, W).
PB_INLINE void valid_cols(int64_t W, int64_t OW, int64_t s, int64_t off, int64_t* lo, int64_t* hi) {
  int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
  int64_t h = (W - 1 - off) < 0 ? 0 : (W - 1 - off) / s + 1;
  if (h > OW) h = OW;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

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
        const int64_t off = kw * g.dw - g.pw;
        int64_t lo, hi;
        valid_cols(g.W, OW, g.sw, off, &lo, &hi);
        for (int64_t oh = oh0; oh < oh1; ++oh, dst += OW) {
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
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
        const int64_t off = kw * g.dw - g.pw;
        int64_t lo, hi;
        valid_cols(g.W, OW, g.sw, off, &lo, &hi);
        for (int64_t oh = oh0; oh < oh1; ++oh, src += OW) {
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
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

constexpr int64_t kWinogradMinChannels = 8;

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

// ---- Winograd F(2x2, 3x3) ------------------------------------------------------------------
// For 3x3, stride 1, dilation 1, groups 1: each 2x2 output tile is A^T [U (.) V] A with
// U = G g G^T (the 4x4 transformed filter) and V = B^T d B (the transformed 4x4 input patch),
// so the channel sum becomes 16 GEMMs (O x C) @ (C x tiles) with 16/36 of the multiplies of
// direct convolution. Tiles of whole tile rows, possibly spanning several samples, are processed
// in L2-sized blocks (threads over blocks). The same core computes dx as a convolution of dy
// with the flipped, transposed filter (padding 2 - p).
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].

thread_local Scratch tl_wino_u;  // transformed filters of the calling thread (read by all threads)
thread_local Scratch tl_wino_v;  // V and M blocks plus padded rows of the thread running a block

// U (16, Co, Ci) from w. Forward: Co = O, Ci = C, filter w[o][c]. For dx (flip): Co = C, Ci = O,
// filter rot180(w[o][c]) placed at [c][o].
template <class T>
PB_INLINE void winograd_filters(T* __restrict U, const T* __restrict w, int64_t O, int64_t C, bool flip) {
  const int64_t Co = flip ? C : O, Ci = flip ? O : C;
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const T* f = w + (o * C + c) * 9;
      T g[9];
      for (int k = 0; k < 9; ++k) g[k] = flip ? f[8 - k] : f[k];
      T q[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        q[0][j] = g[j];
        q[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
        q[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
        q[3][j] = g[6 + j];
      }
      const int64_t row = flip ? c : o, col = flip ? o : c;
      for (int r = 0; r < 4; ++r) {
        const T u[4] = {q[r][0], T(0.5) * (q[r][0] + q[r][1] + q[r][2]), T(0.5) * (q[r][0] - q[r][1] + q[r][2]),
                        q[r][2]};
        for (int k = 0; k < 4; ++k) U[((r * 4 + k) * Co + row) * Ci + col] = u[k];
      }
    }
}

struct WinoGeom {
  int64_t N, Ci, Hi, Wi, Co, Ho, Wo, ph, pw;  // Ho = Hi + 2*ph - 2, Wo = Wi + 2*pw - 2
  int64_t TH, TW, rows_per_block;
};

template <class T> PB_INLINE WinoGeom winograd_geom(int64_t N, int64_t Ci, int64_t Hi, int64_t Wi, int64_t Co,
                                                   int64_t ph, int64_t pw, int64_t budget = int64_t(1) << 20) {
  WinoGeom q{N, Ci, Hi, Wi, Co, Hi + 2 * ph - 2, Wi + 2 * pw - 2, ph, pw, 0, 0, 0};
  q.TH = (q.Ho + 1) / 2;
  q.TW = (q.Wo + 1) / 2;
  // V (16*Ci) and M (16*Co) per tile: a block's V + M near `budget` (1 MiB by default, so it
  // stays near L2 between the transforms and the GEMMs; 4 MiB for the weight gradient). The
  // block count is rounded up to a multiple of the thread count so the static split is
  // even; the result does not depend on the blocking (each output column is one GEMM column,
  // summed in a fixed k order).
  int64_t tiles = budget / (16 * (Ci + Co) * static_cast<int64_t>(sizeof(T)));
  // At least 256 tiles, whatever the channels: the 16 GEMMs need columns more than V and M need
  // L2 (CPU time, one thread, forward, min 64/128/256/512 tiles: N=2 512->512 28x28 80/76/69/64
  // ms; N=2 256->256 56x56 72/69/67/64; N=8 64->64 56x56 21.8/22.0/19.4/20.8; but N=8 128->128
  // 28x28 19.6/14.5/19.1/22.3, so not more).
  if (tiles < 256) tiles = 256;
  const int64_t total = N * q.TH, nt = max_threads();
  int64_t blocks = (total + (tiles / q.TW > 0 ? tiles / q.TW : 1) - 1) / (tiles / q.TW > 0 ? tiles / q.TW : 1);
  blocks = (blocks + nt - 1) / nt * nt;
  if (blocks > total) blocks = total;
  q.rows_per_block = (total + blocks - 1) / blocks;
  return q;
}

// Input row ih of plane xc, zero-padded by pw on the left, split into even and odd columns:
// ev[k] = padded[2k], od[k] = padded[2k+1] for k in [0, TW+1) (unit-stride loads later).
template <class T>
PB_INLINE void wino_row(T* __restrict ev, T* __restrict od, const T* __restrict xc, int64_t ih, const WinoGeom& q) {
  const int64_t n = q.TW + 1;
  if (ih < 0 || ih >= q.Hi) {
    for (int64_t k = 0; k < n; ++k) ev[k] = od[k] = T(0);
    return;
  }
  const T* xr = xc + ih * q.Wi - q.pw;  // xr[i] = padded column i (valid for pw <= i < pw + Wi)
  // ev[k] valid for 2k in [pw, pw+Wi), od[k] for 2k+1 in [pw, pw+Wi)
  const int64_t e0 = (q.pw + 1) / 2, e1 = min_i64((q.pw + q.Wi + 1) / 2, n);
  const int64_t o0 = q.pw / 2, o1 = min_i64((q.pw + q.Wi) / 2, n);
  for (int64_t k = 0; k < e0; ++k) ev[k] = T(0);
  for (int64_t k = e0; k < e1; ++k) ev[k] = xr[2 * k];
  for (int64_t k = e1; k < n; ++k) ev[k] = T(0);
  for (int64_t k = 0; k < o0; ++k) od[k] = T(0);
  for (int64_t k = o0; k < o1; ++k) od[k] = xr[2 * k + 1];
  for (int64_t k = o1; k < n; ++k) od[k] = T(0);
}

// Input transform of tile rows [R0, R1) (global row R = n*TH + th): V (16, Ci, nt) with
// V[r*4+k][c][j] = (B^T d B)[r][k] for tile j; `rows` holds 8 * (TW + 1) scratch elements.
// Runs over a whole tile row at a time with unit-stride arrays so it vectorizes.
template <class T>
void winograd_input(T* V, const T* x, const WinoGeom& q, int64_t R0, int64_t R1, T* rows) {
  const int64_t TW = q.TW, nt = (R1 - R0) * TW, rl = TW + 1;
  const int64_t sx = q.Ci * nt;
  for (int64_t R = R0; R < R1; ++R) {
    const int64_t n = R / q.TH, th = R % q.TH, j0 = (R - R0) * TW;
    for (int64_t c = 0; c < q.Ci; ++c) {
      const T* xc = x + (n * q.Ci + c) * q.Hi * q.Wi;
      for (int r = 0; r < 4; ++r) wino_row(rows + 2 * r * rl, rows + (2 * r + 1) * rl, xc, 2 * th - q.ph + r, q);
      const T *__restrict e0 = rows, *__restrict o0 = rows + rl, *__restrict e1 = rows + 2 * rl,
                 *__restrict o1 = rows + 3 * rl, *__restrict e2 = rows + 4 * rl, *__restrict o2 = rows + 5 * rl,
                 *__restrict e3 = rows + 6 * rl, *__restrict o3 = rows + 7 * rl;
      T* __restrict v = V + c * nt + j0;
#pragma omp simd
      for (int64_t t = 0; t < TW; ++t) {
        // B^T d (rows), d[r][s] = (e_r[t], o_r[t], e_r[t+1], o_r[t+1])[s]
        const T b00 = e0[t] - e2[t], b01 = o0[t] - o2[t], b02 = e0[t + 1] - e2[t + 1], b03 = o0[t + 1] - o2[t + 1];
        const T b10 = e1[t] + e2[t], b11 = o1[t] + o2[t], b12 = e1[t + 1] + e2[t + 1], b13 = o1[t + 1] + o2[t + 1];
        const T b20 = e2[t] - e1[t], b21 = o2[t] - o1[t], b22 = e2[t + 1] - e1[t + 1], b23 = o2[t + 1] - o1[t + 1];
        const T b30 = e1[t] - e3[t], b31 = o1[t] - o3[t], b32 = e1[t + 1] - e3[t + 1], b33 = o1[t + 1] - o3[t + 1];
        // (B^T d) B (columns)
        v[0 * sx + t] = b00 - b02, v[1 * sx + t] = b01 + b02, v[2 * sx + t] = b02 - b01, v[3 * sx + t] = b01 - b03;
        v[4 * sx + t] = b10 - b12, v[5 * sx + t] = b11 + b12, v[6 * sx + t] = b12 - b11, v[7 * sx + t] = b11 - b13;
        v[8 * sx + t] = b20 - b22, v[9 * sx + t] = b21 + b22, v[10 * sx + t] = b22 - b21, v[11 * sx + t] = b21 - b23;
        v[12 * sx + t] = b30 - b32, v[13 * sx + t] = b31 + b32, v[14 * sx + t] = b32 - b31, v[15 * sx + t] = b31 - b33;
      }
    }
  }
}

// One block of tile rows [R0, R1): input transform, 16 GEMMs M[xi] = U[xi] V[xi], inverse.
template <class T>
void winograd_block(T* y, const T* x, const T* U, const T* bias, const WinoGeom& q, int64_t R0, int64_t R1, T* ws) {
  const int64_t TW = q.TW, nt = (R1 - R0) * TW, rl = TW + 1;
  T* V = ws;                       // (16, Ci, nt)
  T* M = V + 16 * q.Ci * nt;       // (16, Co, nt)
  T* rows = M + 16 * q.Co * nt;    // 8 half rows of rl, reused for output
  winograd_input(V, x, q, R0, R1, rows);
  for (int xi = 0; xi < 16; ++xi)
    gemm<T>(M + xi * q.Co * nt, nt, U + xi * q.Co * q.Ci, q.Ci, false, V + xi * q.Ci * nt, nt, false, q.Co, nt, q.Ci,
            T(1), T(0));
  // output transform: y tile = A^T m A (+ bias), computed as even/odd output columns
  const int64_t sm = q.Co * nt;
  T *__restrict ye0 = rows, *__restrict yo0 = rows + rl, *__restrict ye1 = rows + 2 * rl, *__restrict yo1 = rows + 3 * rl;
  for (int64_t R = R0; R < R1; ++R) {
    const int64_t n = R / q.TH, th = R % q.TH, j0 = (R - R0) * TW;
    const int64_t h0 = 2 * th;
    for (int64_t o = 0; o < q.Co; ++o) {
      const T* __restrict m = M + o * nt + j0;
      const T bo = bias ? bias[o] : T(0);
#pragma omp simd
      for (int64_t t = 0; t < TW; ++t) {
        // A^T m: a0k = m0k + m1k + m2k, a1k = m1k - m2k - m3k (m_rk = M[r*4+k])
        const T a00 = m[0 * sm + t] + m[4 * sm + t] + m[8 * sm + t];
        const T a01 = m[1 * sm + t] + m[5 * sm + t] + m[9 * sm + t];
        const T a02 = m[2 * sm + t] + m[6 * sm + t] + m[10 * sm + t];
        const T a03 = m[3 * sm + t] + m[7 * sm + t] + m[11 * sm + t];
        const T a10 = m[4 * sm + t] - m[8 * sm + t] - m[12 * sm + t];
        const T a11 = m[5 * sm + t] - m[9 * sm + t] - m[13 * sm + t];
        const T a12 = m[6 * sm + t] - m[10 * sm + t] - m[14 * sm + t];
        const T a13 = m[7 * sm + t] - m[11 * sm + t] - m[15 * sm + t];
        ye0[t] = a00 + a01 + a02 + bo;
        yo0[t] = a01 - a02 - a03 + bo;
        ye1[t] = a10 + a11 + a12 + bo;
        yo1[t] = a11 - a12 - a13 + bo;
      }
      T* __restrict yr = y + ((n * q.Co + o) * q.Ho + h0) * q.Wo;
      const int64_t half = q.Wo / 2;
      for (int64_t t = 0; t < half; ++t) yr[2 * t] = ye0[t], yr[2 * t + 1] = yo0[t];
      if (q.Wo & 1) yr[q.Wo - 1] = ye0[half];
      if (h0 + 1 < q.Ho) {
        yr += q.Wo;
        for (int64_t t = 0; t < half; ++t) yr[2 * t] = ye1[t], yr[2 * t + 1] = yo1[t];
        if (q.Wo & 1) yr[q.Wo - 1] = ye1[half];
      }
    }
  }
}

// y (N, Co, Ho, Wo) = winograd conv of x (N, Ci, Hi, Wi) with transformed filters U.
template <class T> void winograd_conv(T* y, const T* x, const T* U, const T* bias, const WinoGeom& q) {
  const int64_t total = q.N * q.TH, rb = q.rows_per_block, blocks = (total + rb - 1) / rb;
  const int64_t ws_elems = 16 * (q.Ci + q.Co) * rb * q.TW + 8 * (q.TW + 1);
  bool oom = false;
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    T* ws = tl_wino_v.get<T>(ws_elems);
    if (!ws) {
      __atomic_store_n(&oom, true, __ATOMIC_RELAXED);
      return;
    }
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t R0 = b * rb, R1 = R0 + rb < total ? R0 + rb : total;
      winograd_block(y, x, U, bias, q, R0, R1, ws);
    }
  });
  if (__atomic_load_n(&oom, __ATOMIC_RELAXED)) throw std::bad_alloc();
}

// Weight gradient of one block: dM = A dY A^T per tile (the adjoint of the output transform,
// zeros past the output's edge), then dU[xi] (Co, Ci) += dM[xi] (Co, nt) @ V[xi]^T (nt, Ci).
template <class T>
void winograd_dw_block(T* dU, const T* dy, const T* x, const WinoGeom& q, int64_t R0, int64_t R1, T* ws) {
  const int64_t TW = q.TW, nt = (R1 - R0) * TW, rl = TW + 1;
  T* V = ws;
  T* dM = V + 16 * q.Ci * nt;
  T* rows = dM + 16 * q.Co * nt;
  winograd_input(V, x, q, R0, R1, rows);
  const int64_t sm = q.Co * nt, half = q.Wo / 2;
  T *__restrict e0 = rows, *__restrict o0 = rows + rl, *__restrict e1 = rows + 2 * rl, *__restrict o1 = rows + 3 * rl;
  for (int64_t R = R0; R < R1; ++R) {
    const int64_t n = R / q.TH, th = R % q.TH, j0 = (R - R0) * TW, h0 = 2 * th;
    for (int64_t o = 0; o < q.Co; ++o) {
      const T* d0 = dy + ((n * q.Co + o) * q.Ho + h0) * q.Wo;
      const T* d1 = h0 + 1 < q.Ho ? d0 + q.Wo : nullptr;
      for (int64_t t = 0; t < half; ++t) e0[t] = d0[2 * t], o0[t] = d0[2 * t + 1];
      for (int64_t t = 0; t < half; ++t) e1[t] = d1 ? d1[2 * t] : T(0), o1[t] = d1 ? d1[2 * t + 1] : T(0);
      if (q.Wo & 1) {
        e0[half] = d0[q.Wo - 1], o0[half] = T(0);
        e1[half] = d1 ? d1[q.Wo - 1] : T(0), o1[half] = T(0);
      }
      T* __restrict m = dM + o * nt + j0;
#pragma omp simd
      for (int64_t t = 0; t < TW; ++t) {
        // P = A dY (rows): (y0), (y0 + y1), (y0 - y1), (-y1) with y_i = (e_i, o_i)
        const T p00 = e0[t], p01 = o0[t], p10 = e0[t] + e1[t], p11 = o0[t] + o1[t];
        const T p20 = e0[t] - e1[t], p21 = o0[t] - o1[t], p30 = -e1[t], p31 = -o1[t];
        // dM = P A^T (columns): (p0, p0 + p1, p0 - p1, -p1)
        m[0 * sm + t] = p00, m[1 * sm + t] = p00 + p01, m[2 * sm + t] = p00 - p01, m[3 * sm + t] = -p01;
        m[4 * sm + t] = p10, m[5 * sm + t] = p10 + p11, m[6 * sm + t] = p10 - p11, m[7 * sm + t] = -p11;
        m[8 * sm + t] = p20, m[9 * sm + t] = p20 + p21, m[10 * sm + t] = p20 - p21, m[11 * sm + t] = -p21;
        m[12 * sm + t] = p30, m[13 * sm + t] = p30 + p31, m[14 * sm + t] = p30 - p31, m[15 * sm + t] = -p31;
      }
    }
  }
  for (int xi = 0; xi < 16; ++xi)
    gemm<T>(dU + xi * q.Co * q.Ci, q.Ci, dM + xi * q.Co * nt, nt, false, V + xi * q.Ci * nt, nt, true, q.Co, q.Ci, nt,
            T(1), T(1));
}

// dw (O, C, 3, 3) = G^T dU G for every (o, c), dU (16, O, C) the summed transformed gradient.
template <class T> PB_INLINE void winograd_filter_grad(T* __restrict dw, const T* __restrict dU, int64_t O, int64_t C) {
  const int64_t s = O * C;
  for (int64_t i = 0; i < s; ++i) {
    T d[4][4];
    for (int k = 0; k < 16; ++k) d[k / 4][k % 4] = dU[k * s + i];
    T qm[3][4];  // G^T d
    for (int k = 0; k < 4; ++k) {
      qm[0][k] = d[0][k] + T(0.5) * (d[1][k] + d[2][k]);
      qm[1][k] = T(0.5) * (d[1][k] - d[2][k]);
      qm[2][k] = T(0.5) * (d[1][k] + d[2][k]) + d[3][k];
    }
    T* f = dw + i * 9;  // (G^T d) G
    for (int r = 0; r < 3; ++r) {
      f[r * 3 + 0] = qm[r][0] + T(0.5) * (qm[r][1] + qm[r][2]);
      f[r * 3 + 1] = T(0.5) * (qm[r][1] - qm[r][2]);
      f[r * 3 + 2] = T(0.5) * (qm[r][1] + qm[r][2]) + qm[r][3];
    }
  }
}

// dw by Winograd: blocks of tile rows split into `slots` = min(threads, blocks) fixed ranges,
// each summing its own dU partial (16*O*C) that are added in slot order afterwards.
template <class T> void winograd_weight_grad(T* dw, const T* dy, const T* x, const ConvGeom& g) {
  // 4 MiB blocks: the 16 GEMMs reduce over the block's tiles (K = tiles), and few hundred beat
  // ~100 (one thread, N=32 64->64 56x56 dx+dW+db: 158 ms vs 166 with 1 MiB, 188 with 16 MiB).
  const WinoGeom q = winograd_geom<T>(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, int64_t(4) << 20);
  const int64_t total = q.N * q.TH, rb = q.rows_per_block, blocks = (total + rb - 1) / rb;
  int64_t slots = max_threads();
  if (slots > blocks) slots = blocks;
  const int64_t us = 16 * g.O * g.C;
  T* part = tl_slots.get<T>(slots * us);
  if (!part) throw std::bad_alloc();
  const int64_t ws_elems = 16 * (q.Ci + q.Co) * rb * q.TW + 8 * (q.TW + 1);
  bool oom = false;
  parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
    T* ws = tl_wino_v.get<T>(ws_elems);
    if (!ws) {
      __atomic_store_n(&oom, true, __ATOMIC_RELAXED);
      return;
    }
    for (int64_t s = s0; s < s1; ++s) {
      T* dU = part + s * us;
      fill(dU, us, T(0));
      for (int64_t b = blocks * s / slots; b < blocks * (s + 1) / slots; ++b) {
        const int64_t R0 = b * rb, R1 = R0 + rb < total ? R0 + rb : total;
        winograd_dw_block(dU, dy, x, q, R0, R1, ws);
      }
    }
  });
  if (__atomic_load_n(&oom, __ATOMIC_RELAXED)) throw std::bad_alloc();
  for (int64_t s = 1; s < slots; ++s)
    for (int64_t i = 0; i < us; ++i) part[i] += part[s * us + i];
  winograd_filter_grad(dw, part, g.O, g.C);
}

// Winograd pays when both channel counts are large enough to amortize the transforms
// (measured: see conv2d_forward_fast).
PB_INLINE bool use_winograd(const ConvGeom& g) {
  return g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1 &&
         g.ph <= 2 && g.pw <= 2 && g.C >= kWinogradMinChannels && g.O >= kWinogradMinChannels;
}

// Runs one sample per call of `f(n, col)` over the batch, threads over samples (a GEMM called
// inside runs single-threaded; with one sample the GEMM threads itself).
template <class T, class F> void over_batch(const ConvGeom& g, int64_t col_elems, F f) {
  bool oom = false;  // set by a thread that could not get scratch memory
  parallel_for(g.N, 1, [&](int64_t n0, int64_t n1) {
    T* col = col_elems > 0 ? tl_col.get<T>(col_elems) : nullptr;
    if (col_elems > 0 && !col) {
      __atomic_store_n(&oom, true, __ATOMIC_RELAXED);
      return;
    }
    for (int64_t n = n0; n < n1; ++n) f(n, col);
  });
  if (__atomic_load_n(&oom, __ATOMIC_RELAXED)) throw std::bad_alloc();
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
                const int64_t ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                acc += w[((o * Cg + c) * g.KH + kh) * g.KW + kw] * x[((n * g.C + c0 + c) * g.H + ih) * g.W + iw];
              }
          y[((n * g.O + o) * g.OH + oh) * g.OW + ow] = b ? acc + b[o] : acc;
        }
    }
}

// im2col + GEMM per sample and group, threads over the batch, columns built in L2-sized blocks
// of output rows (one thread, N=4 64->128 8x8 pad 1: fwd 0.60 ms vs 21.4 naive, bwd 1.06 vs
// 28.3; batching several small samples into one wider GEMM measured no better, so it is not
// done; 512 KiB column blocks vs whole-sample columns: 35 vs 27 GF/s at N=8 64->64 56x56 with an
// early GEMM).
template <class T> void conv2d_forward_im2col(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  const int64_t K = (g.C / g.groups) * g.KH * g.KW;
  const int64_t col_elems = K * rows_per_block<T>(g, K) * g.OW;
  over_batch<T>(g, col_elems, [&](int64_t n, T* col) {
    forward_sample_im2col(y + n * g.O * g.OH * g.OW, x + n * g.C * g.H * g.W, w, b, g, col);
  });
}

// Depthwise-style (C/groups == 1): each output plane is a KHxKW stencil over one input plane.
// Direct loops, rows vectorized over ow; threads over the N*O output planes (2 threads, N=32
// C=64 56x56 3x3: fwd 36 ms vs 112 im2col, bwd 104 vs 498).
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
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const T* xr = xp + ih * g.W;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t off = kw * g.dw - g.pw;
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

// Per shape: depthwise -> direct kernel; 1x1/stride 1/no padding -> GEMM on x (no im2col: fwd
// 52 ms vs 59 im2col at N=32 256->64 56x56); 3x3/stride 1 with >= 8 channels and >= 16 output
// columns -> Winograd (64->64 56x56 N=32: 82-88 ms vs 94-100 im2col; 32->64 16x16 N=64
// 7.7-8.9 vs 8.1-9.2; but 64->128 8x8 12.3 vs 8.3-9.8, too few tiles per row, so small planes
// stay on im2col); else im2col + GEMM.
template <class T> void conv2d_forward_fast(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  if (g.C / g.groups == 1 && g.groups > 1) return depthwise_forward(y, x, w, b, g);
  if (is_pointwise(g)) {
    over_batch<T>(g, 0, [&](int64_t n, T*) {
      forward_sample_pointwise(y + n * g.O * g.OH * g.OW, x + n * g.C * g.H * g.W, w, b, g);
    });
    return;
  }
  if (use_winograd(g) && g.OW >= 16) {
    T* U = tl_wino_u.get<T>(16 * g.O * g.C);
    if (!U) throw std::bad_alloc();
    winograd_filters(U, w, g.O, g.C, false);
    winograd_conv(y, x, U, b, winograd_geom<T>(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw));
    return;
  }
  conv2d_forward_im2col(y, x, w, b, g);
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
                const int64_t ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;
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

// Threads over the batch in `slots` = min(threads, N) contiguous sample ranges. Each slot
// accumulates its own dW/db partial (slot 0 straight into dw/db); the partials are then added
// in slot order, so the result depends on the thread count only, never on scheduling.
template <class T, class F>
void backward_over_batch(T* dw, T* db, const ConvGeom& g, int64_t col_elems, F f) {
  const int64_t wsize = g.O * (g.C / g.groups) * g.KH * g.KW, bsize = db ? g.O : 0;
  int64_t slots = max_threads();
  if (slots > g.N) slots = g.N;
  if (slots < 1) slots = 1;
  const int64_t per = wsize + bsize;
  T* part = slots > 1 ? tl_slots.get<T>((slots - 1) * per) : nullptr;
  if (slots > 1 && !part) throw std::bad_alloc();
  bool oom = false;  // set by a thread that could not get scratch memory
  parallel_for(slots, 1, [&](int64_t s0, int64_t s1) {
    T* col = col_elems > 0 ? tl_col.get<T>(col_elems) : nullptr;
    if (col_elems > 0 && !col) {
      __atomic_store_n(&oom, true, __ATOMIC_RELAXED);
      return;
    }
    for (int64_t s = s0; s < s1; ++s) {
      T* dwp = s == 0 ? dw : part + (s - 1) * per;
      T* dbp = db ? (s == 0 ? db : part + (s - 1) * per + wsize) : nullptr;
      fill(dwp, wsize, T(0));
      if (dbp) fill(dbp, g.O, T(0));
      for (int64_t n = g.N * s / slots; n < g.N * (s + 1) / slots; ++n) f(n, dwp, dbp, col);
    }
  });
  if (__atomic_load_n(&oom, __ATOMIC_RELAXED)) throw std::bad_alloc();
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
              const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t off = kw * g.dw - g.pw;
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
            const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t off = kw * g.dw - g.pw;
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

// Per shape, as the forward: depthwise direct; 1x1 GEMM on x (N=32 256->64 56x56: 91 ms vs 124
// im2col, no col2im); Winograd dx on wide planes (below); else im2col.
template <class T>
void conv2d_backward_fast(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  if (g.C / g.groups == 1 && g.groups > 1) return depthwise_backward(dx, dw, db, dy, x, w, g);
  if (is_pointwise(g)) {
    const int64_t xs = g.C * g.H * g.W, ys = g.O * g.OH * g.OW;
    backward_over_batch<T>(dw, db, g, 0, [&](int64_t n, T* dwp, T* dbp, T*) {
      backward_sample_pointwise(dx ? dx + n * xs : nullptr, dwp, dbp, dy + n * ys, x + n * xs, w, g);
    });
    return;
  }
  // Winograd on wide planes: dW = G^T (sum over tiles of dM V^T) G and dx = conv(dy, flipped
  // transposed w, padding 2 - p), db summed per channel (one thread, N=32 64->64 56x56: 149 ms
  // vs 161 with dW on im2col and 177-202 all-im2col; 32->64 16x16 dx by Winograd was a wash,
  // 17.3-19.6 vs 16.6-18.6, so below 24 columns im2col shares its columns between dW and dx).
  if (use_winograd(g) && g.W >= 24) {
    winograd_weight_grad(dw, dy, x, g);
    if (db)
      parallel_for(g.O, 1, [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; ++o) {
          T acc = 0;
          for (int64_t n = 0; n < g.N; ++n) acc += sum_row(dy + (n * g.O + o) * g.OH * g.OW, g.OH * g.OW);
          db[o] = acc;
        }
      });
    if (dx) {
      T* U = tl_wino_u.get<T>(16 * g.O * g.C);
      if (!U) throw std::bad_alloc();
      winograd_filters(U, w, g.O, g.C, true);
      winograd_conv(dx, dy, U, static_cast<const T*>(nullptr),
                    winograd_geom<T>(g.N, g.O, g.OH, g.OW, g.C, 2 - g.ph, 2 - g.pw));
    }
    return;
  }
  conv2d_backward_im2col(dx, dw, db, dy, x, w, g);
}

template <class T> void conv2d_forward_winograd(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  if (winograd_applies(g)) return winograd_forward(y, x, w, b, g);
  conv2d_forward_fast(y, x, w, b, g);
}
template <class T>
void conv2d_backward_winograd(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  if (!winograd_applies(g)) return conv2d_backward_fast(dx, dw, db, dy, x, w, g);
  winograd_backward_weight(dw, dy, x, g);
  if (db)
    parallel_for(g.O, 1, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        T acc = 0;
        for (int64_t n = 0; n < g.N; ++n) acc += sum_row(dy + (n * g.O + o) * g.OH * g.OW, g.OH * g.OW);
        db[o] = acc;
      }
    });
  if (dx) winograd_backward_data(dx, dy, w, g);
}

#define PB_INSTANTIATE(T)                                                                                  \
  template void conv2d_forward_naive<T>(T*, const T*, const T*, const T*, const ConvGeom&);                \
  template void conv2d_forward_im2col<T>(T*, const T*, const T*, const T*, const ConvGeom&);               \
  template void conv2d_forward_fast<T>(T*, const T*, const T*, const T*, const ConvGeom&);                 \
  template void conv2d_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);       \
  template void conv2d_backward_im2col<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);      \
  template void conv2d_backward_fast<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);     \
  template void conv2d_forward_winograd<T>(T*, const T*, const T*, const T*, const ConvGeom&);          \
  template void conv2d_backward_winograd<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
