// CUDA conv2d, NCHW, groups, stride / padding / dilation as the CPU (csrc/cpu/conv2d.cpp).
//   x, dx: (N, C, H, W); weight, dweight: (O, C/groups, KH, KW); y, dy: (N, O, OH, OW); bias (O,)
// No atomics: every output value is summed by one thread in a fixed order.
#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "math/window.h"

namespace pb::cuda {

// naive: direct loops, a thread per output value (y; dx gathers the outputs each input feeds;
//        dweight sums over N*OH*OW).
// igemm: implicit GEMM (no im2col buffer): per group, y (Og x N*OH*OW) = W (Og x Cg*KH*KW) times
//        the virtual im2col matrix, and dweight = dy times its transpose, both through 64x64
//        shared-memory tiles with a 4x4 register block per thread (each loaded value reused 64x);
//        dx stays the naive gather.

namespace {

#define PB_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <class T> __global__ void fwd_naive(T* y, const T* x, const T* w, const T* bias, ConvGeom g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  PB_GRID_STRIDE(i, g.N * g.O * g.OH * g.OW) {
    const int64_t ow = i % g.OW, oh = (i / g.OW) % g.OH, o = (i / (g.OW * g.OH)) % g.O, n = i / (g.OW * g.OH * g.O);
    const int64_t grp = o / Og;
    T acc = 0;
    for (int64_t c = 0; c < Cg; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t iw = math::conv_in(ow, g.sw, g.pw, kw, g.dw);
          if (iw < 0 || iw >= g.W) continue;
          acc += x[((n * g.C + grp * Cg + c) * g.H + ih) * g.W + iw] * w[((o * Cg + c) * g.KH + kh) * g.KW + kw];
        }
      }
    y[i] = bias ? acc + bias[o] : acc;
  }
}

// dx[n, c, ih, iw] = sum over o in c's group, kh, kw with (ih + ph - kh*dh) = oh*sh, (iw + pw - kw*dw) = ow*sw.
template <class T> __global__ void dx_gather(T* dx, const T* dy, const T* w, ConvGeom g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  PB_GRID_STRIDE(i, g.N * g.C * g.H * g.W) {
    const int64_t iw = i % g.W, ih = (i / g.W) % g.H, c = (i / (g.W * g.H)) % g.C, n = i / (g.W * g.H * g.C);
    const int64_t grp = c / Cg, cl = c % Cg;
    T acc = 0;
    for (int64_t ol = 0; ol < Og; ++ol) {
      const int64_t o = grp * Og + ol;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t th = ih + g.ph - kh * g.dh;
        if (th < 0 || th % g.sh != 0 || th / g.sh >= g.OH) continue;
        const int64_t oh = th / g.sh;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t tw = iw + g.pw - kw * g.dw;
          if (tw < 0 || tw % g.sw != 0 || tw / g.sw >= g.OW) continue;
          acc += dy[((n * g.O + o) * g.OH + oh) * g.OW + tw / g.sw] * w[((o * Cg + cl) * g.KH + kh) * g.KW + kw];
        }
      }
    }
    dx[i] = acc;
  }
}

// dweight[o, c, kh, kw] = sum over n, oh, ow of dy[n, o, oh, ow] x[n, grp*Cg + c, ih, iw].
template <class T> __global__ void dw_naive(T* dw, const T* dy, const T* x, ConvGeom g) {
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups;
  PB_GRID_STRIDE(i, g.O * Cg * g.KH * g.KW) {
    const int64_t kw = i % g.KW, kh = (i / g.KW) % g.KH, c = (i / (g.KW * g.KH)) % Cg, o = i / (g.KW * g.KH * Cg);
    const int64_t grp = o / Og;
    T acc = 0;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh);
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t iw = math::conv_in(ow, g.sw, g.pw, kw, g.dw);
          if (iw < 0 || iw >= g.W) continue;
          acc += dy[((n * g.O + o) * g.OH + oh) * g.OW + ow] * x[((n * g.C + grp * Cg + c) * g.H + ih) * g.W + iw];
        }
      }
    dw[i] = acc;
  }
}

// dbias[o] = sum over n, oh, ow of dy (a thread per channel, fixed order, double).
template <class T> __global__ void dbias_sum(T* db, const T* dy, ConvGeom g) {
  PB_GRID_STRIDE(o, g.O) {
    double acc = 0;
    const int64_t P = g.OH * g.OW;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t j = 0; j < P; ++j) acc += dy[(n * g.O + o) * P + j];
    db[o] = static_cast<T>(acc);
  }
}

// ---- implicit GEMM ----
// Columns j of the virtual im2col matrix: j = (n*OH + oh)*OW + ow; rows k = (c*KH + kh)*KW + kw
// within a group. X(k, j) = x at the tap, 0 in the padding.
template <class T> struct Im2col {
  const T* x;
  ConvGeom g;
  int64_t grp, Cg;
  __device__ __forceinline__ T at(int64_t k, int64_t j) const {
    const int64_t kw = k % g.KW, kh = (k / g.KW) % g.KH, c = k / (g.KW * g.KH);
    const int64_t ow = j % g.OW, oh = (j / g.OW) % g.OH, n = j / (g.OW * g.OH);
    const int64_t ih = math::conv_in(oh, g.sh, g.ph, kh, g.dh), iw = math::conv_in(ow, g.sw, g.pw, kw, g.dw);
    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return T(0);
    return x[((n * g.C + grp * Cg + c) * g.H + ih) * g.W + iw];
  }
};

constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;

// acc += As^T Bs over one BK slice: this thread's TM x TN block of the 64 x 64 tile, operands
// staged in registers (shared by the forward and the dweight implicit GEMMs).
template <class T>
__device__ __forceinline__ void tile_product(T (&acc)[TM][TN], const T (&As)[BK][BM], const T (&Bs)[BK][BN], int tx,
                                             int ty) {
#pragma unroll
  for (int k = 0; k < BK; ++k) {
    T av[TM], bv[TN];
#pragma unroll
    for (int i = 0; i < TM; ++i) av[i] = As[k][ty * TM + i];
#pragma unroll
    for (int j = 0; j < TN; ++j) bv[j] = Bs[k][tx * TN + j];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
  }
}

// Forward, group blockIdx.z: y[n, grp*Og + r, oh, ow] (+ bias) = sum_k W[grp*Og + r, k] X(k, j).
template <class T>
__global__ void __launch_bounds__(256) fwd_igemm(T* y, const T* w, const T* bias, const T* x, ConvGeom g) {
  __shared__ __align__(16) T As[BK][BM];
  __shared__ __align__(16) T Bs[BK][BN];
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, Kd = Cg * g.KH * g.KW, Nc = g.N * g.OH * g.OW;
  const int64_t grp = blockIdx.z;
  const Im2col<T> X{x, g, grp, Cg};
  const T* wg = w + grp * Og * Kd;
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4, tid = threadIdx.x;
  const int64_t row0 = int64_t(blockIdx.y) * BM, col0 = int64_t(blockIdx.x) * BN;
  T acc[TM][TN] = {};
  for (int64_t k0 = 0; k0 < Kd; k0 += BK) {
#pragma unroll
    for (int l = 0; l < (BM * BK) / 256; ++l) {
      const int e = tid + l * 256;
      const int r = e / BK, k = e % BK;  // weight rows are contiguous in k
      As[k][r] = (row0 + r < Og && k0 + k < Kd) ? wg[(row0 + r) * Kd + k0 + k] : T(0);
      const int kb = e / BN, cb = e % BN;  // consecutive threads: consecutive output columns
      Bs[kb][cb] = (col0 + cb < Nc && k0 + kb < Kd) ? X.at(k0 + kb, col0 + cb) : T(0);
    }
    __syncthreads();
    tile_product(acc, As, Bs, tx, ty);
    __syncthreads();
  }
  const int64_t P = g.OH * g.OW;
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t r = row0 + ty * TM + i, col = col0 + tx * TN + j;
      if (r >= Og || col >= Nc) continue;
      const int64_t o = grp * Og + r, n = col / P, q = col % P;
      y[(n * g.O + o) * P + q] = bias ? acc[i][j] + bias[o] : acc[i][j];
    }
}

// dweight, group blockIdx.z: dW[grp*Og + r, k] = sum_j dy[n, grp*Og + r, oh, ow] X(k, j), j over N*OH*OW.
template <class T> __global__ void __launch_bounds__(256) dw_igemm(T* dw, const T* dy, const T* x, ConvGeom g) {
  __shared__ __align__(16) T As[BK][BM];  // dy rows (r) x j
  __shared__ __align__(16) T Bs[BK][BN];  // X^T: j x k
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, Kd = Cg * g.KH * g.KW, Nc = g.N * g.OH * g.OW;
  const int64_t grp = blockIdx.z, P = g.OH * g.OW;
  const Im2col<T> X{x, g, grp, Cg};
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4, tid = threadIdx.x;
  const int64_t row0 = int64_t(blockIdx.y) * BM, col0 = int64_t(blockIdx.x) * BN;
  T acc[TM][TN] = {};
  for (int64_t j0 = 0; j0 < Nc; j0 += BK) {
#pragma unroll
    for (int l = 0; l < (BM * BK) / 256; ++l) {
      const int e = tid + l * 256;
      const int r = e / BK, jj = e % BK;  // dy rows contiguous in j within an image
      const int64_t j = j0 + jj;
      As[jj][r] = (row0 + r < Og && j < Nc) ? dy[((j / P) * g.O + grp * Og + row0 + r) * P + j % P] : T(0);
      const int jb = e / BN, cb = e % BN;
      Bs[jb][cb] = (col0 + cb < Kd && j0 + jb < Nc) ? X.at(col0 + cb, j0 + jb) : T(0);
    }
    __syncthreads();
    tile_product(acc, As, Bs, tx, ty);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t r = row0 + ty * TM + i, k = col0 + tx * TN + j;
      if (r < Og && k < Kd) dw[(grp * Og + r) * Kd + k] = acc[i][j];
    }
}

constexpr int kBlock = 256;

void check_tiles(const char* op, int64_t rows, int64_t groups) {
  if ((rows + BM - 1) / BM > 65535 || groups > 65535)
    value_error(op, "weight", "at most 65535 tiles of 64 output channels and 65535 groups on CUDA",
                std::to_string(rows) + " rows, " + std::to_string(groups) + " groups");
}

}  // namespace

template <Variant V>
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeom& g) {
  const char* op = "conv2d_forward";
  PB_DISPATCH_FLOAT(x.dtype, T, {
    const T* b = bias.present ? bias.ptr<T>() : nullptr;
    if (V == Variant::naive) {
      fwd_naive<T><<<grid_for(g.N * g.O * g.OH * g.OW, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(),
                                                                                       weight.ptr<T>(), b, g);
    } else {
      const int64_t Og = g.O / g.groups, Nc = g.N * g.OH * g.OW;
      check_tiles(op, Og, g.groups);
      const dim3 grid(static_cast<unsigned>((Nc + BN - 1) / BN), static_cast<unsigned>((Og + BM - 1) / BM),
                      static_cast<unsigned>(g.groups));
      fwd_igemm<T><<<grid, 256, 0, stream()>>>(y.ptr<T>(), weight.ptr<T>(), b, x.ptr<T>(), g);
    }
  });
  check_launch(op);
}

template <Variant V>
void conv2d_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, const ConvGeom& g) {
  const char* op = "conv2d_backward";
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (dx.present) {
      dx_gather<T><<<grid_for(g.N * g.C * g.H * g.W, kBlock), kBlock, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(),
                                                                                     weight.ptr<T>(), g);
      check_launch(op);
    }
    if (V == Variant::naive) {
      dw_naive<T><<<grid_for(weight.numel, kBlock), kBlock, 0, stream()>>>(dweight.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), g);
    } else {
      const int64_t Og = g.O / g.groups, Kd = (g.C / g.groups) * g.KH * g.KW;
      check_tiles(op, Og, g.groups);
      const dim3 grid(static_cast<unsigned>((Kd + BN - 1) / BN), static_cast<unsigned>((Og + BM - 1) / BM),
                      static_cast<unsigned>(g.groups));
      dw_igemm<T><<<grid, 256, 0, stream()>>>(dweight.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), g);
    }
    check_launch(op);
    if (dbias.present) {
      dbias_sum<T><<<grid_for(g.O, 128), 128, 0, stream()>>>(dbias.ptr<T>(), dy.ptr<T>(), g);
      check_launch(op);
    }
  });
}

template void conv2d_forward<Variant::naive>(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const ConvGeom&);
template void conv2d_forward<Variant::igemm>(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const ConvGeom&);
template void conv2d_backward<Variant::naive>(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                              const Tensor&, const ConvGeom&);
template void conv2d_backward<Variant::igemm>(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                              const Tensor&, const ConvGeom&);

}  // namespace pb::cuda
