// conv2d by Winograd F(2x2, 3x3), channel-last transforms (3x3, stride 1, dilation 1, groups 1).
//
// Each 2x2 output tile is A^T [U (.) V] A with U = G g G^T (the 4x4 transformed filter) and
// V = B^T d B (the transformed 4x4 input patch), so the channel sum becomes 16 GEMMs
// M[xi] (tiles, Co) = V[xi] (tiles, Ci) @ U[xi] (Ci, Co) with 16/36 of the multiplies of direct
// convolution. Tiles of whole tile rows, possibly spanning several samples, are processed in
// L2-sized blocks (threads over blocks). The transforms run with channels innermost: a tile
// row's 4 input rows are first transposed to (row, column, channel), so every transform is a
// unit-stride loop over channels that vectorizes whatever the plane width (the earlier
// variant vectorized along a tile row and lost on small planes: 8x8 has 4 tiles per row).
// dx is the same convolution of dy with the flipped, transposed filter (padding 2 - p); dW
// sums dU[xi] (Co, Ci) = dM[xi]^T V[xi] over the tiles, dM = A dY A^T, then dW = G^T dU G.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
#include "cpu/conv2d_internal.h"
#include "cpu/gemm.h"

namespace pb::cpu::PB_ISA_NS {

namespace {

Scratch& tl_filters() {  // transformed filters of the calling thread (read by all threads)
  thread_local Scratch s;
  return s;
}
Scratch& tl_block() {  // V, M and row buffers of the thread running a block
  thread_local Scratch s;
  return s;
}
Scratch& tl_partials() {  // per-chunk dU partials of the calling thread (weight gradient)
  thread_local Scratch s;
  return s;
}

// One Winograd pass: in (N, Ci, Hi, Wi) -> out (N, Co, Ho, Wo), Ho = Hi + 2*ph - 2 (likewise Wo).
struct Wino {
  int64_t N, Ci, Hi, Wi, Co, Ho, Wo, ph, pw;
  int64_t TH, TW;  // tiles per sample: rows, columns
  int64_t rows;    // tile rows per block
};

// Tile rows per block: V (16*Ci) and M (16*Co) per tile near `budget` bytes, at least
// kMinTiles tiles (the GEMMs need rows more than V and M need L2).
constexpr int64_t kMinTiles = 256;
template <class T>
PB_INLINE Wino wino_geom(int64_t N, int64_t Ci, int64_t Hi, int64_t Wi, int64_t Co, int64_t ph, int64_t pw,
                         int64_t budget) {
  Wino q{N, Ci, Hi, Wi, Co, Hi + 2 * ph - 2, Wi + 2 * pw - 2, ph, pw, 0, 0, 0};
  q.TH = (q.Ho + 1) / 2;
  q.TW = (q.Wo + 1) / 2;
  const int64_t tiles = max_i64(budget / (16 * (Ci + Co) * static_cast<int64_t>(sizeof(T))), kMinTiles);
  q.rows = min_i64(max_i64(tiles / q.TW, 1), N * q.TH);
  return q;
}

// One block's workspace: V (16, nt, Ci), M (16, nt, Co), a channel-last slab of one sample's
// rows (input or output), a zero row and a discard row.
PB_INLINE int64_t slab_elems(const Wino& q) {
  return max_i64(min_i64(q.Hi, 2 * q.rows + 2) * q.Wi * q.Ci, min_i64(q.Ho, 2 * q.rows) * q.Wo * q.Co);
}
PB_INLINE int64_t block_elems(const Wino& q) {
  return 16 * q.rows * q.TW * (q.Ci + q.Co) + slab_elems(q) + 2 * max_i64(q.Ci, q.Co);
}

// Calls f(n, ta, tb, j0) for each sample n the tile rows [R0, R1) touch: its tile rows
// [ta, tb), whose first tile is tile j0 of the block.
template <class F> PB_INLINE void for_each_sample(const Wino& q, int64_t R0, int64_t R1, F f) {
  for (int64_t R = R0; R < R1;) {
    const int64_t n = R / q.TH, ta = R % q.TH, tb = min_i64(q.TH, ta + R1 - R);
    f(n, ta, tb, (R - R0) * q.TW);
    R += tb - ta;
  }
}

// U (16, Ci, Co) from w (O, C, 3, 3). Forward: Ci = C, Co = O, filter w[o][c] at [c][o].
// For dx (flip): Ci = O, Co = C, filter rot180(w[o][c]) at [o][c].
template <class T> PB_INLINE void filter_transform(T* __restrict U, const T* __restrict w, int64_t O, int64_t C, bool flip) {
  const int64_t Ci = flip ? O : C, Co = flip ? C : O;
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
      const int64_t ci = flip ? o : c, co = flip ? c : o;
      for (int r = 0; r < 4; ++r) {
        const T u[4] = {q[r][0], T(0.5) * (q[r][0] + q[r][1] + q[r][2]), T(0.5) * (q[r][0] - q[r][1] + q[r][2]),
                        q[r][2]};
        for (int k = 0; k < 4; ++k) U[((r * 4 + k) * Ci + ci) * Co + co] = u[k];
      }
    }
}

// V[xi][j][c] for the tiles of sample n's tile rows [ta, tb) (j from j0), from the channel-last
// slab of its input rows [ha, hb) (zeros where a tile reaches into the padding).
template <class T>
PB_INLINE void input_transform(T* __restrict V, const T* x, const Wino& q, int64_t nt, int64_t j0, int64_t n, int64_t ta,
                               int64_t tb, T* __restrict slab, const T* zeros) {
  const int64_t Ci = q.Ci, ha = max_i64(0, 2 * ta - q.ph), hb = min_i64(q.Hi, 2 * tb - q.ph + 2);
  if (hb > ha) transpose(slab, Ci, x + (n * Ci * q.Hi + ha) * q.Wi, q.Hi * q.Wi, Ci, (hb - ha) * q.Wi);
  const int64_t sx = nt * Ci;
  for (int64_t th = ta; th < tb; ++th)
    for (int64_t tw = 0; tw < q.TW; ++tw) {
      const T* p[16];
      for (int r = 0; r < 4; ++r) {
        const int64_t ih = 2 * th - q.ph + r;
        for (int s = 0; s < 4; ++s) {
          const int64_t iw = 2 * tw - q.pw + s;
          const bool ok = ih >= ha && ih < hb && iw >= 0 && iw < q.Wi;
          p[r * 4 + s] = ok ? slab + ((ih - ha) * q.Wi + iw) * Ci : zeros;
        }
      }
      T* __restrict v = V + (j0 + (th - ta) * q.TW + tw) * Ci;
#pragma omp simd
      for (int64_t c = 0; c < Ci; ++c) {
        T d[4][4];
        for (int r = 0; r < 4; ++r)
          for (int s = 0; s < 4; ++s) d[r][s] = p[r * 4 + s][c];
        T b[4][4];  // B^T d
        for (int s = 0; s < 4; ++s) {
          b[0][s] = d[0][s] - d[2][s];
          b[1][s] = d[1][s] + d[2][s];
          b[2][s] = d[2][s] - d[1][s];
          b[3][s] = d[1][s] - d[3][s];
        }
        for (int r = 0; r < 4; ++r) {  // (B^T d) B
          v[(r * 4 + 0) * sx + c] = b[r][0] - b[r][2];
          v[(r * 4 + 1) * sx + c] = b[r][1] + b[r][2];
          v[(r * 4 + 2) * sx + c] = b[r][2] - b[r][1];
          v[(r * 4 + 3) * sx + c] = b[r][1] - b[r][3];
        }
      }
    }
}

// Sample n's output rows [2*ta, min(2*tb, Ho)) from M (16, nt, Co): A^T m A (+ bias) per tile
// into a channel-last slab, then transposed into y (outputs past the edge go to `discard`).
template <class T>
PB_INLINE void output_transform(T* y, const T* __restrict M, const T* __restrict bias, const Wino& q, int64_t nt,
                                int64_t j0, int64_t n, int64_t ta, int64_t tb, T* __restrict slab, T* discard) {
  const int64_t Co = q.Co, sm = nt * Co, oa = 2 * ta, ob = min_i64(q.Ho, 2 * tb);
  for (int64_t th = ta; th < tb; ++th)
    for (int64_t tw = 0; tw < q.TW; ++tw) {
      T* p[4];
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s) {
          const int64_t oh = 2 * th + r, ow = 2 * tw + s;
          p[r * 2 + s] = oh < ob && ow < q.Wo ? slab + ((oh - oa) * q.Wo + ow) * Co : discard;
        }
      const T* __restrict m = M + (j0 + (th - ta) * q.TW + tw) * Co;
#pragma omp simd
      for (int64_t o = 0; o < Co; ++o) {
        T a[2][4];  // A^T m
        for (int k = 0; k < 4; ++k) {
          a[0][k] = m[k * sm + o] + m[(4 + k) * sm + o] + m[(8 + k) * sm + o];
          a[1][k] = m[(4 + k) * sm + o] - m[(8 + k) * sm + o] - m[(12 + k) * sm + o];
        }
        const T bo = bias ? bias[o] : T(0);
        for (int r = 0; r < 2; ++r) {  // (A^T m) A
          p[r * 2][o] = a[r][0] + a[r][1] + a[r][2] + bo;
          p[r * 2 + 1][o] = a[r][1] - a[r][2] - a[r][3] + bo;
        }
      }
    }
  transpose(y + (n * Co * q.Ho + oa) * q.Wo, q.Ho * q.Wo, slab, Co, (ob - oa) * q.Wo, Co);
}

// dM[xi][j][o] = (A dy A^T) for the tiles of sample n's tile rows [ta, tb), from a channel-last
// slab of its dy rows (zeros past the output's edge).
template <class T>
PB_INLINE void grad_transform(T* __restrict dM, const T* dy, const Wino& q, int64_t nt, int64_t j0, int64_t n, int64_t ta,
                              int64_t tb, T* __restrict slab, const T* zeros) {
  const int64_t Co = q.Co, sm = nt * Co, oa = 2 * ta, ob = min_i64(q.Ho, 2 * tb);
  transpose(slab, Co, dy + (n * Co * q.Ho + oa) * q.Wo, q.Ho * q.Wo, Co, (ob - oa) * q.Wo);
  for (int64_t th = ta; th < tb; ++th)
    for (int64_t tw = 0; tw < q.TW; ++tw) {
      const T* p[4];
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s) {
          const int64_t oh = 2 * th + r, ow = 2 * tw + s;
          p[r * 2 + s] = oh < ob && ow < q.Wo ? slab + ((oh - oa) * q.Wo + ow) * Co : zeros;
        }
      T* __restrict m = dM + (j0 + (th - ta) * q.TW + tw) * Co;
#pragma omp simd
      for (int64_t o = 0; o < Co; ++o) {
        const T y00 = p[0][o], y01 = p[1][o], y10 = p[2][o], y11 = p[3][o];
        // P = A dY (rows): y0, y0 + y1, y0 - y1, -y1; dM = P A^T (columns): p0, p0 + p1, p0 - p1, -p1
        const T pr[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};
        for (int r = 0; r < 4; ++r) {
          m[(r * 4 + 0) * sm + o] = pr[r][0];
          m[(r * 4 + 1) * sm + o] = pr[r][0] + pr[r][1];
          m[(r * 4 + 2) * sm + o] = pr[r][0] - pr[r][1];
          m[(r * 4 + 3) * sm + o] = -pr[r][1];
        }
      }
    }
}

// A block's workspace, carved from ws.
template <class T> struct BlockWs {
  T *V, *M, *slab, *zeros, *discard;
};
template <class T> PB_INLINE BlockWs<T> carve(T* ws, const Wino& q, int64_t nt) {
  BlockWs<T> b;
  b.V = ws;
  b.M = b.V + 16 * nt * q.Ci;
  b.slab = b.M + 16 * nt * q.Co;
  b.zeros = b.slab + slab_elems(q);
  b.discard = b.zeros + max_i64(q.Ci, q.Co);
  fill(b.zeros, max_i64(q.Ci, q.Co), T(0));
  return b;
}

// One block of tile rows [R0, R1): input transform, 16 GEMMs M[xi] = V[xi] U[xi], output transform.
template <class T>
void conv_block(T* y, const T* x, const T* U, const T* bias, const Wino& q, int64_t R0, int64_t R1, T* ws) {
  const int64_t nt = (R1 - R0) * q.TW;
  const BlockWs<T> b = carve(ws, q, nt);
  for_each_sample(q, R0, R1, [&](int64_t n, int64_t ta, int64_t tb, int64_t j0) {
    input_transform(b.V, x, q, nt, j0, n, ta, tb, b.slab, b.zeros);
  });
  for (int xi = 0; xi < 16; ++xi)
    gemm<T>(b.M + xi * nt * q.Co, q.Co, b.V + xi * nt * q.Ci, q.Ci, false, U + xi * q.Ci * q.Co, q.Co, false, nt, q.Co,
            q.Ci, T(1), T(0));
  for_each_sample(q, R0, R1, [&](int64_t n, int64_t ta, int64_t tb, int64_t j0) {
    output_transform(y, b.M, bias, q, nt, j0, n, ta, tb, b.slab, b.discard);
  });
}

// dU[xi] (Co, Ci) (+)= dM[xi]^T V[xi] over the tile rows [R0, R1); beta 0 overwrites.
template <class T>
void weight_block(T* dU, const T* dy, const T* x, const Wino& q, int64_t R0, int64_t R1, T beta, T* ws) {
  const int64_t nt = (R1 - R0) * q.TW;
  const BlockWs<T> b = carve(ws, q, nt);
  for_each_sample(q, R0, R1, [&](int64_t n, int64_t ta, int64_t tb, int64_t j0) {
    input_transform(b.V, x, q, nt, j0, n, ta, tb, b.slab, b.zeros);
    grad_transform(b.M, dy, q, nt, j0, n, ta, tb, b.slab, b.zeros);
  });
  for (int xi = 0; xi < 16; ++xi)
    gemm<T>(dU + xi * q.Co * q.Ci, q.Ci, b.M + xi * nt * q.Co, q.Co, true, b.V + xi * nt * q.Ci, q.Ci, false, q.Co, q.Ci,
            nt, T(1), beta);
}

// out = Winograd conv of in with w (flip: the dx form), the one driver of forward and dx. Blocks
// are balanced over the threads (the result does not depend on the blocking: every output is
// one GEMM element summed over Ci in a fixed order).
template <class T>
void winograd_conv(T* out, const T* in, const T* w, const T* bias, int64_t O, int64_t C, bool flip, Wino q) {
  T* U = tl_filters().get<T>(16 * O * C);
  if (!U) throw std::bad_alloc();
  filter_transform(U, w, O, C, flip);
  const int64_t total = q.N * q.TH, nt = max_threads();
  int64_t blocks = (total + q.rows - 1) / q.rows;
  blocks = min_i64((blocks + nt - 1) / nt * nt, total);
  q.rows = (total + blocks - 1) / blocks;
  blocks = (total + q.rows - 1) / q.rows;
  for_each_with_scratch<T>(tl_block, blocks, block_elems(q), [&](int64_t b, T* ws) {
    conv_block(out, in, U, bias, q, b * q.rows, min_i64((b + 1) * q.rows, total), ws);
  });
}

// dw (O, C, 3, 3) = G^T dU G for (o, c) pairs i in [i0, i1), dU the sum of `parts` partials
// (16, O, C) taken in order; 16 pairs at a time with unit-stride loads (a pair's 16 values
// lie O*C apart, which thrashes L1 when read one pair at a time).
template <class T>
PB_INLINE void filter_grad(T* __restrict dw, const T* __restrict dU, int64_t parts, int64_t O, int64_t C, int64_t i0,
                           int64_t i1) {
  constexpr int64_t L = 16;
  const int64_t s = O * C;
  for (int64_t b = i0; b < i1; b += L) {
    const int64_t nl = min_i64(L, i1 - b);
    T d[16][L], f[9][L];
    for (int k = 0; k < 16; ++k) {
      const T* src = dU + k * s + b;
      for (int64_t l = 0; l < nl; ++l) d[k][l] = src[l];
      for (int64_t p = 1; p < parts; ++p)
        for (int64_t l = 0; l < nl; ++l) d[k][l] += src[p * 16 * s + l];
    }
#pragma omp simd
    for (int64_t l = 0; l < L; ++l) {
      T qm[3][4];  // G^T d
      for (int k = 0; k < 4; ++k) {
        qm[0][k] = d[k][l] + T(0.5) * (d[4 + k][l] + d[8 + k][l]);
        qm[1][k] = T(0.5) * (d[4 + k][l] - d[8 + k][l]);
        qm[2][k] = T(0.5) * (d[4 + k][l] + d[8 + k][l]) + d[12 + k][l];
      }
      for (int r = 0; r < 3; ++r) {  // (G^T d) G
        f[r * 3 + 0][l] = qm[r][0] + T(0.5) * (qm[r][1] + qm[r][2]);
        f[r * 3 + 1][l] = T(0.5) * (qm[r][1] - qm[r][2]);
        f[r * 3 + 2][l] = T(0.5) * (qm[r][1] + qm[r][2]) + qm[r][3];
      }
    }
    for (int64_t l = 0; l < nl; ++l)
      for (int t = 0; t < 9; ++t) dw[(b + l) * 9 + t] = f[t][l];
  }
}

}  // namespace

template <class T> void winograd_forward(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  winograd_conv(y, x, w, b, g.O, g.C, false, wino_geom<T>(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, int64_t(1) << 20));
}

template <class T> void winograd_backward_data(T* dx, const T* dy, const T* w, const ConvGeom& g) {
  winograd_conv(dx, dy, w, static_cast<const T*>(nullptr), g.O, g.C, true,
                wino_geom<T>(g.N, g.O, g.OH, g.OW, g.C, 2 - g.ph, 2 - g.pw, int64_t(1) << 20));
}

// The tile rows are cut into a fixed number of chunks that depends on the shape only; each chunk
// sums its own dU partial block by block (threads over chunks), and the partials are added in
// chunk order: the result is the same for every thread count.
constexpr int64_t kWeightChunks = 4;
constexpr int64_t kPartialElems = int64_t(4) << 20;  // cap on the partials (elements)
template <class T> void winograd_backward_weight(T* dw, const T* dy, const T* x, const ConvGeom& g) {
  const Wino q = wino_geom<T>(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, int64_t(1) << 20);
  const int64_t total = q.N * q.TH, us = 16 * g.O * g.C;
  const int64_t chunks = max_i64(1, min_i64(min_i64(kWeightChunks, total), kPartialElems / us));
  T* part = tl_partials().get<T>(chunks * us);
  if (!part) throw std::bad_alloc();
  for_each_with_scratch<T>(tl_block, chunks, block_elems(q), [&](int64_t c, T* ws) {
    const int64_t r0 = total * c / chunks, r1 = total * (c + 1) / chunks;
    for (int64_t R = r0; R < r1; R += q.rows)
      weight_block(part + c * us, dy, x, q, R, min_i64(R + q.rows, r1), R == r0 ? T(0) : T(1), ws);
  });
  parallel_for(g.O * g.C, 256, [&](int64_t i0, int64_t i1) { filter_grad(dw, part, chunks, g.O, g.C, i0, i1); });
}

#define PB_INSTANTIATE(T)                                                                      \
  template void winograd_forward<T>(T*, const T*, const T*, const T*, const ConvGeom&);        \
  template void winograd_backward_data<T>(T*, const T*, const T*, const ConvGeom&);            \
  template void winograd_backward_weight<T>(T*, const T*, const T*, const ConvGeom&);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
