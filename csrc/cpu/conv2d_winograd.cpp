// conv2d by Winograd F(2x2, 3x3), channel-last (3x3, stride 1, dilation 1, groups 1).
//
// Each 2x2 output tile is A^T [U (.) V] A with U = G g G^T (the 4x4 transformed filter) and
// V = B^T d B (the transformed 4x4 input patch), so the channel sum becomes 16 products
// M[xi] (tiles, Co) = V[xi] (tiles, Ci) @ U[xi] (Ci, Co) with 16/36 of the multiplies of direct
// convolution. Tiles of whole tile rows, possibly spanning several samples, are processed in
// L2-sized blocks (threads over blocks).
// - Channels innermost everywhere: a sample's input rows are transposed to (row, column,
//   channel) with 16x16 SIMD tile transposes, so every transform is a unit-stride loop over
//   channels that vectorizes whatever the plane width (the earlier variant vectorized along a
//   tile row and lost on small planes: 8x8 has 4 tiles per row).
// - Fused products: U is packed once per call in the GEMM's register-tile layout; the register
//   tile (the GEMM's MR tiles x NR output channels) reads V's rows unpacked, and the 16 products
//   of one MR-tile sliver are inverse-transformed from an L1 buffer straight away, so there is
//   no M array (a gemm() call per block and xi repacked U and round-tripped M through L2/L3).
// dx is the same convolution of dy with the flipped, transposed filter (padding 2 - p). dW sums
// dU[xi] (Co, Ci) = dM[xi]^T V[xi] over the tiles with dM = A dy A^T (both channel-last, so the
// register tile reads them unpacked), then dW = G^T dU G.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
#include "cpu/conv2d_internal.h"
#include "cpu/gemm_kernel.h"  // Vec<T> and Shape<T>: the GEMM's SIMD type and register tile
#include "math/window.h"

namespace pb::cpu::PB_ISA_NS {

namespace {

Scratch& tl_filters() {  // transformed filters of the calling thread (read by all threads)
  thread_local Scratch s;
  return s;
}
Scratch& tl_block() {  // the workspace of the thread running a block (BlockWs)
  thread_local Scratch s;
  return s;
}
Scratch& tl_partials() {  // per-chunk dU partials of the calling thread (weight gradient)
  thread_local Scratch s;
  return s;
}

using gemm_detail::Vec;
PB_INLINE int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

template <class T> constexpr int kMR = gemm_detail::Shape<T>::MR;  // tiles (dW: output channels) per register tile
template <class T> constexpr int kNV = gemm_detail::Shape<T>::NV;
template <class T> constexpr int kNR = kNV<T> * Vec<T>::W;  // channels per register tile

// Register-tile shapes (Tl below): the GEMM's MR x NV vectors ("wide"), and a "narrow" one of
// 2*MR x NV/2 vectors (as many accumulators; 16x16 floats with AVX-512) for passes whose
// channel dimension (output channels of a forward/dx pass, input channels of dW) fills at most
// 3/4 of the wide tile's NR once rounded up: 16 channels in a 32-wide tile computed half zeros.
template <class T, int MR_, int NV_> struct TileShape {
  static constexpr int MR = MR_, NV = NV_, NR = NV_ * Vec<T>::W;
};
static_assert(kNV<float> % 2 == 0 && kNV<double> % 2 == 0, "the narrow tile halves NV");
template <class T> using WideTile = TileShape<T, kMR<T>, kNV<T>>;
template <class T> using NarrowTile = TileShape<T, 2 * kMR<T>, kNV<T> / 2>;
template <class T> PB_INLINE bool narrow_better(int64_t channels) {
  return 4 * round_up(channels, NarrowTile<T>::NR) <= 3 * round_up(channels, WideTile<T>::NR);
}


// Block sizes (bytes of transformed data per block): V for the forward and dx, V + dM for dW
// (the block-size sweeps behind these: docs/kernels/conv2d.md).
constexpr int64_t kBlockBytes = int64_t(512) << 10;
constexpr int64_t kWeightBlockBytes = int64_t(1) << 20;
constexpr int64_t kWeightMinTiles = 128;
constexpr int64_t kFiltersInL2 = int64_t(1) << 20;

// One Winograd pass: in (N, Ci, Hi, Wi) -> out (N, Co, Ho, Wo), Ho = Hi + 2*ph - 2 (likewise Wo).
struct Wino {
  int64_t N, Ci, Hi, Wi, Co, Ho, Wo, ph, pw;
  int64_t TH, TW;  // tiles per sample: rows, columns
  int64_t rows;    // tile rows per block
  int64_t cs, ms;  // channel strides of V and (dW) dM: Ci and Co, or rounded up to whole register tiles
};

// Tile rows per block: the block's transformed data near `budget` bytes (`per_tile` bytes a
// tile), at least one register tile of tiles.
template <class T, class Tl>
PB_INLINE Wino wino_geom(int64_t N, int64_t Ci, int64_t Hi, int64_t Wi, int64_t Co, int64_t ph, int64_t pw,
                         bool weight, int64_t budget) {
  Wino q{N, Ci, Hi, Wi, Co, Hi + 2 * ph - 2, Wi + 2 * pw - 2, ph, pw, 0, 0, 0, Ci, Co};
  q.TH = (q.Ho + 1) / 2;
  q.TW = (q.Wo + 1) / 2;
  if (weight) q.cs = round_up(Ci, Tl::NR), q.ms = round_up(Co, Tl::MR);
  const int64_t per_tile = 16 * (q.cs + (weight ? q.ms : 0)) * static_cast<int64_t>(sizeof(T));
  // dW: at least kWeightMinTiles, the register tiles' depth, else reading and writing dU back
  // per block dominates wide layers (docs/kernels/conv2d.md).
  const int64_t tiles = max_i64(budget / per_tile, weight ? kWeightMinTiles : Tl::MR);
  q.rows = min_i64(max_i64(tiles / q.TW, 1), N * q.TH);
  return q;
}

// A block's workspace: V (16, ntp, cs) with ntp = tiles rounded up to MR, dM (16, ntp, ms) for
// dW, a channel-last slab (one sample's input or dy rows, or the block's output rows), the
// 16 register-tile products of one sliver, a zero row and a discard row.
template <class T> struct BlockWs {
  T *V, *dM, *slab, *mbuf, *zeros, *discard;
};
template <class T> PB_INLINE int64_t slab_elems(const Wino& q) {
  return max_i64(min_i64(q.Hi, 2 * q.rows + 2) * q.Wi * q.Ci, 2 * q.rows * q.Wo * q.Co);
}
template <class T, class Tl> PB_INLINE int64_t block_elems(const Wino& q, bool weight) {
  const int64_t ntp = round_up(q.rows * q.TW, Tl::MR);
  return 16 * ntp * (q.cs + (weight ? q.ms : 0)) + slab_elems<T>(q) + 16 * Tl::MR * Tl::NR + max_i64(q.cs, q.ms) +
         Tl::NR;
}
template <class T, class Tl> PB_INLINE BlockWs<T> carve(T* ws, const Wino& q, bool weight) {
  const int64_t ntp = round_up(q.rows * q.TW, Tl::MR);
  BlockWs<T> b;
  b.V = ws;
  b.dM = b.V + 16 * ntp * q.cs;
  b.slab = b.dM + (weight ? 16 * ntp * q.ms : 0);
  b.mbuf = b.slab + slab_elems<T>(q);
  b.zeros = b.mbuf + 16 * Tl::MR * Tl::NR;
  b.discard = b.zeros + max_i64(q.cs, q.ms);
  fill(b.zeros, max_i64(q.cs, q.ms), T(0));
  return b;
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

// Up: U (16, Ci, Co) packed as (16, Co/NR slivers, Ci, NR), zero-padded to whole slivers, from
// w (O, C, 3, 3). Forward: Ci = C, Co = O, filter w[o][c] at [c][o]. For dx (flip): Ci = O,
// Co = C, filter rot180(w[o][c]) at [o][c].
// Input channels [ci0, ci1).
template <class T, class Tl>
PB_INLINE void filter_transform(T* __restrict Up, const T* __restrict w, int64_t O, int64_t C, bool flip, int64_t ci0,
                                int64_t ci1) {
  constexpr int64_t NR = Tl::NR;
  const int64_t Ci = flip ? O : C, Co = flip ? C : O, ncs = (Co + NR - 1) / NR;
  for (int64_t ci = ci0; ci < ci1; ++ci)
    for (int64_t s = 0; s < ncs; ++s) {
      T g[9][NR];
      for (int64_t j = 0; j < NR; ++j) {
        const int64_t co = s * NR + j;
        const T* f = co < Co ? w + ((flip ? ci * C + co : co * C + ci) * 9) : nullptr;
        for (int k = 0; k < 9; ++k) g[k][j] = f ? f[flip ? 8 - k : k] : T(0);
      }
      T* dst = Up + (s * Ci + ci) * NR;
      const int64_t sx = ncs * Ci * NR;  // between xi
#pragma omp simd
      for (int64_t j = 0; j < NR; ++j) {
        T q[4][3];  // G g
        for (int c = 0; c < 3; ++c) {
          q[0][c] = g[c][j];
          q[1][c] = T(0.5) * (g[c][j] + g[3 + c][j] + g[6 + c][j]);
          q[2][c] = T(0.5) * (g[c][j] - g[3 + c][j] + g[6 + c][j]);
          q[3][c] = g[6 + c][j];
        }
        for (int r = 0; r < 4; ++r) {  // (G g) G^T
          dst[(r * 4 + 0) * sx + j] = q[r][0];
          dst[(r * 4 + 1) * sx + j] = T(0.5) * (q[r][0] + q[r][1] + q[r][2]);
          dst[(r * 4 + 2) * sx + j] = T(0.5) * (q[r][0] - q[r][1] + q[r][2]);
          dst[(r * 4 + 3) * sx + j] = q[r][2];
        }
      }
    }
}

// V[xi][j][c] (channel stride cs, channels [Ci, cs) zero) for the tiles of sample n's tile rows
// [ta, tb) (j from j0), from the channel-last slab of its input rows [ha, hb) (zeros where a
// tile reaches into the padding).
template <class T>
PB_INLINE void input_transform(T* __restrict V, const T* x, const Wino& q, int64_t ntp, int64_t j0, int64_t n, int64_t ta,
                               int64_t tb, T* __restrict slab, const T* zeros) {
  const int64_t Ci = q.Ci, cs = q.cs, ha = max_i64(0, math::window_start(ta, 2, q.ph)),
                hb = min_i64(q.Hi, math::window_start(tb, 2, q.ph) + 2);
  if (hb > ha) transpose(slab, Ci, x + (n * Ci * q.Hi + ha) * q.Wi, q.Hi * q.Wi, Ci, (hb - ha) * q.Wi);
  const int64_t sx = ntp * cs;
  for (int64_t th = ta; th < tb; ++th)
    for (int64_t tw = 0; tw < q.TW; ++tw) {
      const T* p[16];
      for (int r = 0; r < 4; ++r) {
        const int64_t ih = math::conv_in(th, 2, q.ph, r, 1);  // a tile: 2 outputs, 4 taps
        for (int s = 0; s < 4; ++s) {
          const int64_t iw = math::conv_in(tw, 2, q.pw, s, 1);
          const bool ok = ih >= ha && ih < hb && iw >= 0 && iw < q.Wi;
          p[r * 4 + s] = ok ? slab + ((ih - ha) * q.Wi + iw) * Ci : zeros;
        }
      }
      T* __restrict v = V + (j0 + (th - ta) * q.TW + tw) * cs;
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
      if (cs > Ci)
        for (int xi = 0; xi < 16; ++xi) fill(v + xi * sx + Ci, cs - Ci, T(0));
    }
}

// dM[xi][j][o] = (A dy A^T) (channel stride ms, channels [Co, ms) zero) for the tiles of sample
// n's tile rows [ta, tb), from a channel-last slab of its dy rows (zeros past the output's
// edge); adds the slab's per-channel sums into db (if not null).
template <class T>
PB_INLINE void grad_transform(T* __restrict dM, T* __restrict db, const T* dy, const Wino& q, int64_t ntp, int64_t j0,
                              int64_t n, int64_t ta, int64_t tb, T* __restrict slab, const T* zeros) {
  const int64_t Co = q.Co, ms = q.ms, sm = ntp * ms, oa = 2 * ta, ob = min_i64(q.Ho, 2 * tb);
  transpose(slab, Co, dy + (n * Co * q.Ho + oa) * q.Wo, q.Ho * q.Wo, Co, (ob - oa) * q.Wo);
  if (db)
    for (int64_t i = 0; i < (ob - oa) * q.Wo; ++i) {
      const T* __restrict sr = slab + i * Co;
#pragma omp simd
      for (int64_t o = 0; o < Co; ++o) db[o] += sr[o];
    }
  for (int64_t th = ta; th < tb; ++th)
    for (int64_t tw = 0; tw < q.TW; ++tw) {
      const T* p[4];
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s) {
          const int64_t oh = 2 * th + r, ow = 2 * tw + s;
          p[r * 2 + s] = oh < ob && ow < q.Wo ? slab + ((oh - oa) * q.Wo + ow) * Co : zeros;
        }
      T* __restrict m = dM + (j0 + (th - ta) * q.TW + tw) * ms;
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
      if (ms > Co)
        for (int xi = 0; xi < 16; ++xi) fill(m + xi * sm + Co, ms - Co, T(0));
    }
}

// The FMA loop both register tiles share: acc (MR x NR, in NV vectors per row) = sum over k < K
// of a[i*ai + k*ak] * b[k*ldb + j]. The strides are literals at the call sites, so each
// inlined copy compiles as if written for its layout.
template <class T, class Tl>
PB_INLINE void tile_fma(typename Vec<T>::R (&acc)[Tl::MR][Tl::NV], const T* __restrict a, int64_t ai, int64_t ak,
                        const T* __restrict b, int64_t ldb, int64_t K) {
  using V = Vec<T>;
  using R = typename V::R;
  constexpr int MR = Tl::MR, NV = Tl::NV, W = V::W;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
#pragma GCC unroll 2
  for (int64_t k = 0; k < K; ++k) {
    R bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + k * ldb + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const R av = V::set1(a[i * ai + k * ak]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(av, bv[v], acc[i][v]);
    }
  }
}

// The register tile of the forward: m (MR, NR) = a (MR rows at stride lda, K) @ b (K, NR) packed.
template <class T, class Tl>
PB_INLINE void tile_rows(T* __restrict m, const T* __restrict a, int64_t lda, const T* __restrict b, int64_t K) {
  using V = Vec<T>;
  constexpr int MR = Tl::MR, NV = Tl::NV, W = V::W, NR = Tl::NR;
  typename V::R acc[MR][NV];
  tile_fma<T, Tl>(acc, a, lda, 1, b, NR, K);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) V::store(m + i * NR + v * W, acc[i][v]);
}

// The register tile of dW: c (MR, NR) (+)= sum over k < K of a[k*lda + i] * b[k*ldb + j].
template <class T, class Tl>
PB_INLINE void tile_cols(T* __restrict c, int64_t ldc, const T* __restrict a, int64_t lda, const T* __restrict b,
                         int64_t ldb, int64_t K, bool overwrite) {
  using V = Vec<T>;
  constexpr int MR = Tl::MR, NV = Tl::NV, W = V::W;
  typename V::R acc[MR][NV];
  tile_fma<T, Tl>(acc, a, 1, lda, b, ldb, K);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      T* ci = c + i * ldc + v * W;
      V::store(ci, overwrite ? acc[i][v] : V::add(V::load(ci), acc[i][v]));
    }
}

// Output of one sliver's nv tiles (block tiles t0..) for channels [o0, o0 + nc): A^T m A (+ bias)
// from mbuf (16, MR, NR) into the block's channel-last output rows `out` (row 2*(R - R0) + r
// holds output row 2*th + r of tile row R); outputs past the edge go to `discard`.
template <class T, class Tl>
PB_INLINE void output_sliver(T* out, const T* __restrict mbuf, const T* bias, const Wino& q, int64_t R0, int64_t t0,
                             int64_t nv, int64_t o0, int64_t nc, T* discard) {
  constexpr int64_t MR = Tl::MR, NR = Tl::NR, sm = MR * NR;
  for (int64_t t = 0; t < nv; ++t) {
    const int64_t rr = (t0 + t) / q.TW, tw = (t0 + t) % q.TW, th = (R0 + rr) % q.TH;
    T* p[4];
    for (int r = 0; r < 2; ++r)
      for (int s = 0; s < 2; ++s) {
        const int64_t ow = 2 * tw + s;
        p[r * 2 + s] = 2 * th + r < q.Ho && ow < q.Wo ? out + ((2 * rr + r) * q.Wo + ow) * q.Co + o0 : discard;
      }
    const T* __restrict m = mbuf + t * NR;
#pragma omp simd
    for (int64_t o = 0; o < nc; ++o) {
      T a[2][4];  // A^T m
      for (int k = 0; k < 4; ++k) {
        a[0][k] = m[k * sm + o] + m[(4 + k) * sm + o] + m[(8 + k) * sm + o];
        a[1][k] = m[(4 + k) * sm + o] - m[(8 + k) * sm + o] - m[(12 + k) * sm + o];
      }
      const T bo = bias ? bias[o0 + o] : T(0);
      for (int r = 0; r < 2; ++r) {  // (A^T m) A
        p[r * 2][o] = a[r][0] + a[r][1] + a[r][2] + bo;
        p[r * 2 + 1][o] = a[r][1] - a[r][2] - a[r][3] + bo;
      }
    }
  }
}

// One block of tile rows [R0, R1): input transform; per sliver of MR tiles and NR output
// channels, the 16 register-tile products then their output transform; output rows transposed
// back to y.
template <class T, class Tl>
void conv_block(T* y, const T* x, const T* Up, const T* bias, const Wino& q, int64_t R0, int64_t R1, T* ws) {
  constexpr int64_t MR = Tl::MR, NR = Tl::NR;
  const int64_t nt = (R1 - R0) * q.TW, ntp = round_up(nt, MR), ncs = (q.Co + NR - 1) / NR;
  const BlockWs<T> b = carve<T, Tl>(ws, q, false);
  for_each_sample(q, R0, R1, [&](int64_t n, int64_t ta, int64_t tb, int64_t j0) {
    input_transform(b.V, x, q, ntp, j0, n, ta, tb, b.slab, b.zeros);
  });
  for (int xi = 0; xi < 16; ++xi) fill(b.V + (xi * ntp + nt) * q.Ci, (ntp - nt) * q.Ci, T(0));
  auto sliver = [&](int64_t t0, int64_t s) {  // tiles [t0, t0 + MR) x output channels [s*NR, (s+1)*NR)
    for (int xi = 0; xi < 16; ++xi)
      tile_rows<T, Tl>(b.mbuf + xi * MR * NR, b.V + (xi * ntp + t0) * q.Ci, q.Ci, Up + ((xi * ncs + s) * q.Ci) * NR, q.Ci);
    output_sliver<T, Tl>(b.slab, b.mbuf, bias, q, R0, t0, min_i64(MR, nt - t0), s * NR, min_i64(NR, q.Co - s * NR), b.discard);
  };
  // Tile slivers outer (a sliver's V stays in L1 over the output channels) while U fits in L2;
  // else output-channel slivers outer, each U slice read once per block (faster on wide layers,
  // slower on the narrower benchmark layers: docs/kernels/conv2d.md).
  if (16 * q.Ci * ncs * NR * static_cast<int64_t>(sizeof(T)) <= kFiltersInL2)
    for (int64_t t0 = 0; t0 < nt; t0 += MR)
      for (int64_t s = 0; s < ncs; ++s) sliver(t0, s);
  else
    for (int64_t s = 0; s < ncs; ++s)
      for (int64_t t0 = 0; t0 < nt; t0 += MR) sliver(t0, s);
  for_each_sample(q, R0, R1, [&](int64_t n, int64_t ta, int64_t tb, int64_t j0) {
    const int64_t oa = 2 * ta, ob = min_i64(q.Ho, 2 * tb);
    transpose(y + (n * q.Co * q.Ho + oa) * q.Wo, q.Ho * q.Wo, b.slab + 2 * (j0 / q.TW) * q.Wo * q.Co, q.Co,
              (ob - oa) * q.Wo, q.Co);
  });
}

// dU (16, ms, cs) (+)= dM[xi]^T V[xi] over the tile rows [R0, R1) (overwrite: the chunk's first
// block), db (+)= the block's dy channel sums.
template <class T, class Tl>
void weight_block(T* dU, T* db, const T* dy, const T* x, const Wino& q, int64_t R0, int64_t R1, bool overwrite, T* ws) {
  constexpr int64_t MR = Tl::MR, NR = Tl::NR;
  const int64_t nt = (R1 - R0) * q.TW, ntp = round_up(nt, MR);
  const BlockWs<T> b = carve<T, Tl>(ws, q, true);
  for_each_sample(q, R0, R1, [&](int64_t n, int64_t ta, int64_t tb, int64_t j0) {
    input_transform(b.V, x, q, ntp, j0, n, ta, tb, b.slab, b.zeros);
    grad_transform(b.dM, db, dy, q, ntp, j0, n, ta, tb, b.slab, b.zeros);
  });
  for (int xi = 0; xi < 16; ++xi)
    for (int64_t o0 = 0; o0 < q.ms; o0 += MR)
      for (int64_t c0 = 0; c0 < q.cs; c0 += NR)
        tile_cols<T, Tl>(dU + (xi * q.ms + o0) * q.cs + c0, q.cs, b.dM + xi * ntp * q.ms + o0, q.ms,
                  b.V + xi * ntp * q.cs + c0, q.cs, nt, overwrite);
}

// A convolution pass (forward, or dx with the flipped filters): transformed filters and the
// split of the tile rows into blocks. The result does not depend on the split: every output sums
// its Ci products in one register tile in a fixed order.
template <class T, class Tl> struct ConvPass {
  Wino q;
  const T* Up;
  const T* bias;
  int64_t blocks, total;
  void run(T* out, const T* in, int64_t b, T* ws) const {
    conv_block<T, Tl>(out, in, Up, bias, q, b * q.rows, min_i64((b + 1) * q.rows, total), ws);
  }
};
template <class T, class Tl>
ConvPass<T, Tl> conv_pass(const T* w, const T* bias, int64_t O, int64_t C, bool flip, Wino q) {
  const int64_t ncs = (q.Co + Tl::NR - 1) / Tl::NR;
  T* Up = tl_filters().get<T>(16 * ncs * q.Ci * Tl::NR);
  if (!Up) throw std::bad_alloc();
  // On the calling thread (~2% of the pass): one parallel region fewer; each join can wait for
  // a worker that another job has descheduled.
  filter_transform<T, Tl>(Up, w, O, C, flip, 0, q.Ci);
  const int64_t total = q.N * q.TH, nt = max_threads();
  int64_t blocks = (total + q.rows - 1) / q.rows;
  blocks = min_i64((blocks + nt - 1) / nt * nt, total);  // whole rounds of blocks per thread
  q.rows = (total + blocks - 1) / blocks;
  blocks = (total + q.rows - 1) / q.rows;
  return ConvPass<T, Tl>{q, Up, bias, blocks, total};
}

// dw (O, C, 3, 3) = G^T dU G for output channels [o0, o1), dU the sum of `parts` partials
// (16, ms, cs) taken in order, 16 input channels at a time (unit-stride loads: one (o, c)'s 16
// values lie ms*cs apart).
template <class T>
PB_INLINE void filter_grad(T* __restrict dw, const T* __restrict dU, int64_t parts, int64_t pstride, const Wino& q,
                           int64_t o0, int64_t o1) {
  constexpr int64_t L = 16;
  const int64_t s = q.ms * q.cs, C = q.Ci;
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t c0 = 0; c0 < C; c0 += L) {
      const int64_t nl = min_i64(L, C - c0);
      T d[16][L], f[9][L];
      for (int k = 0; k < 16; ++k) {
        const T* src = dU + k * s + o * q.cs + c0;
        for (int64_t l = 0; l < L; ++l) d[k][l] = l < nl ? src[l] : T(0);
        for (int64_t p = 1; p < parts; ++p)
          for (int64_t l = 0; l < nl; ++l) d[k][l] += src[p * pstride + l];
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
      T* dst = dw + (o * C + c0) * 9;
      for (int64_t l = 0; l < nl; ++l)
        for (int t = 0; t < 9; ++t) dst[l * 9 + t] = f[t][l];
    }
}

// The tile rows are cut into a fixed number of chunks that depends on the shape only; each chunk
// sums its own dU (and db) partial block by block, and the partials are added in chunk order:
// the result is the same for every thread count.
// Partials: at most kPartialElems elements but at least 2 chunks (so two threads share the work),
// chunks of at least kChunkTiles tiles (each chunk writes and reads a 16*O*C partial; smaller
// chunks lost to im2col on wide layers: docs/kernels/conv2d.md).
constexpr int64_t kChunkTiles = 48;
constexpr int64_t kWeightChunks = 4;
constexpr int64_t kPartialElems = int64_t(4) << 20;
template <class T, class Tl> struct WeightPass {
  Wino q;
  int64_t chunks, total, us;  // us: one partial, dU (16, ms, cs) then db (ms)
  T* part;
  void run(const T* dy, const T* x, bool with_db, int64_t c, T* ws) const {
    const int64_t r0 = total * c / chunks, r1 = total * (c + 1) / chunks;
    T* dbp = with_db ? part + c * us + 16 * q.ms * q.cs : nullptr;
    if (dbp) fill(dbp, q.Co, T(0));
    for (int64_t R = r0; R < r1; R += q.rows)
      weight_block<T, Tl>(part + c * us, dbp, dy, x, q, R, min_i64(R + q.rows, r1), R == r0, ws);
  }
  void finish(T* dw, T* db) const {  // partials in chunk order -> dw, db
    parallel_for(q.Co, 8, [&](int64_t o0, int64_t o1) { filter_grad(dw, part, chunks, us, q, o0, o1); });
    if (db)
      for (int64_t o = 0; o < q.Co; ++o) {
        T acc = part[16 * q.ms * q.cs + o];
        for (int64_t c = 1; c < chunks; ++c) acc += part[c * us + 16 * q.ms * q.cs + o];
        db[o] = acc;
      }
  }
};
template <class T, class Tl> WeightPass<T, Tl> weight_pass(const ConvGeom& g) {
  WeightPass<T, Tl> p;
  p.q = wino_geom<T, Tl>(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, true, kWeightBlockBytes);
  p.total = p.q.N * p.q.TH;
  p.us = 16 * p.q.ms * p.q.cs + p.q.ms;
  const int64_t tiles = p.total * p.q.TW;
  p.chunks = max_i64(1, min_i64(min_i64(p.total, tiles / kChunkTiles),
                                max_i64(2, min_i64(kWeightChunks, kPartialElems / p.us))));
  p.part = tl_partials().get<T>(p.chunks * p.us);
  if (!p.part) throw std::bad_alloc();
  return p;
}

template <class T, class Tl> void forward_with(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  const ConvPass<T, Tl> p =
      conv_pass<T, Tl>(w, b, g.O, g.C, false, wino_geom<T, Tl>(g.N, g.C, g.H, g.W, g.O, g.ph, g.pw, false, kBlockBytes));
  for_each_with_scratch<T>(tl_block, p.blocks, block_elems<T, Tl>(p.q, false), [&](int64_t i, T* ws) { p.run(y, x, i, ws); });
}

// dW (+ db) chunks and dx blocks in one parallel region (one join instead of two; with other jobs
// on the cores a join can wait a whole time slice for a descheduled worker), the larger dW
// chunks handed out first. Tw: dW's tile (input channels across it), Tx: dx's (C across it).
template <class T, class Tw, class Tx>
void backward_with(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  const WeightPass<T, Tw> wp = weight_pass<T, Tw>(g);
  ConvPass<T, Tx> dp{};
  if (dx) dp = conv_pass<T, Tx>(w, static_cast<const T*>(nullptr), g.O, g.C, true,
                                wino_geom<T, Tx>(g.N, g.O, g.OH, g.OW, g.C, 2 - g.ph, 2 - g.pw, false, kBlockBytes));
  const int64_t ws = max_i64(block_elems<T, Tw>(wp.q, true), dx ? block_elems<T, Tx>(dp.q, false) : 0);
  for_each_with_scratch<T>(tl_block, wp.chunks + (dx ? dp.blocks : 0), ws, [&](int64_t i, T* b) {
    if (i < wp.chunks) wp.run(dy, x, db != nullptr, i, b);
    else dp.run(dx, dy, i - wp.chunks, b);
  });
  wp.finish(dw, db);
}

}  // namespace

// The register tile per pass: narrow where the channels across it would leave the wide one at
// most 3/4 used (forward: O; dx: C; dW: C).
template <class T> void winograd_forward(T* y, const T* x, const T* w, const T* b, const ConvGeom& g) {
  if (narrow_better<T>(g.O)) return forward_with<T, NarrowTile<T>>(y, x, w, b, g);
  forward_with<T, WideTile<T>>(y, x, w, b, g);
}

template <class T>
void winograd_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g) {
  const bool nc = narrow_better<T>(g.C);
  if (nc) return backward_with<T, NarrowTile<T>, NarrowTile<T>>(dx, dw, db, dy, x, w, g);
  backward_with<T, WideTile<T>, WideTile<T>>(dx, dw, db, dy, x, w, g);
}

#define PB_INSTANTIATE(T)                                                                      \
  template void winograd_forward<T>(T*, const T*, const T*, const T*, const ConvGeom&);        \
  template void winograd_backward<T>(T*, T*, T*, const T*, const T*, const T*, const ConvGeom&);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
