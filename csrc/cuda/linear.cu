// CUDA GEMM and linear. Row-major throughout: c (M, N) = alpha op(a) op(b) + beta c, op(a) (M, K)
// stored as a (M, K) [lda = K] or, transposed, as a (K, M) [lda = M]; the same for b (K, N).
// beta == 0 never reads c (NaN in an output buffer does not leak in, as BLAS).
// linear: y (N, out) = x (N, in) W^T (W: (out, in)) + bias; backward dx = dy W, dW = dy^T x,
// dbias = column sums of dy.
#include <mma.h>

#include "cuda/common.cuh"
#include "cuda/ops.h"

namespace pb::cuda {

// naive:  a thread per output element, a plain loop over K (global loads only).
// tf32:   opt-in: tensor cores (wmma m16n16k8, TF32 inputs rounded to 10-bit mantissas, float
//         accumulate); a warp per 16x16 tile staged through shared memory. Not the default: TF32
//         changes results at the 1e-3 level. float only (float64 runs tiled).
// tiled:  64x64 block tiles through shared memory (K in steps of 16), a 4x4 register block per
//         thread, 16-byte shared-memory reads (float4 / double2): each loaded value is reused 64x.

namespace {

struct Mat {  // element (r, k) of an operand stored row-major with row length ld (trans: stored (k, r))
  int64_t ld;
  bool trans;
  template <class T> __device__ __forceinline__ T at(const T* p, int64_t r, int64_t k) const {
    return trans ? p[k * ld + r] : p[r * ld + k];
  }
};

template <class T> __device__ __forceinline__ void store(T* c, int64_t ldc, int64_t i, int64_t j, T acc, T alpha, T beta) {
  T* out = c + i * ldc + j;
  *out = beta == T(0) ? alpha * acc : alpha * acc + beta * *out;
}

// c: (M, N); a, b as Mat; thread (i, j) of the grid owns c[i, j].
template <class T>
__global__ void gemm_naive(T* c, int64_t ldc, const T* a, Mat ma, const T* b, Mat mb, int64_t M, int64_t N, int64_t K,
                           T alpha, T beta) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t i = blockIdx.y * int64_t(blockDim.y) + threadIdx.y;
  if (i >= M || j >= N) return;
  T acc = 0;
  for (int64_t k = 0; k < K; ++k) acc += ma.at(a, i, k) * mb.at(b, j, k);
  store(c, ldc, i, j, acc, alpha, beta);
}

constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;  // 16 x 16 threads

// c: (M, N); block (bx, by) owns c[by*64 : +64, bx*64 : +64]; thread (tx, ty) a 4x4 block of it.
template <class T>
__global__ void __launch_bounds__(256) gemm_tiled(T* c, int64_t ldc, const T* a, Mat ma, const T* b, Mat mb, int64_t M,
                                                  int64_t N, int64_t K, T alpha, T beta) {
  __shared__ __align__(16) T As[BK][BM];  // k-major: a thread's 4 rows are 4 consecutive values
  __shared__ __align__(16) T Bs[BK][BN];
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4, tid = threadIdx.x;
  const int64_t row0 = int64_t(blockIdx.y) * BM, col0 = int64_t(blockIdx.x) * BN;
  T acc[TM][TN] = {};
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    // 64 x 16 values of each operand, 4 per thread; consecutive threads take consecutive k for a
    // non-transposed operand (rows of a are contiguous in k) and consecutive rows otherwise.
#pragma unroll
    for (int l = 0; l < (BM * BK) / 256; ++l) {
      const int e = tid + l * 256;
      const int r = ma.trans ? e % BM : e / BK, k = ma.trans ? e / BM : e % BK;
      const int64_t gr = row0 + r, gk = k0 + k;
      As[k][r] = (gr < M && gk < K) ? ma.at(a, gr, gk) : T(0);
      const int rb = mb.trans ? e % BN : e / BK, kb = mb.trans ? e / BN : e % BK;
      const int64_t gc = col0 + rb, gkb = k0 + kb;
      Bs[kb][rb] = (gc < N && gkb < K) ? mb.at(b, gc, gkb) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      T av[TM], bv[TN];
      if constexpr (sizeof(T) == 4) {
        const float4 a4 = *reinterpret_cast<const float4*>(&As[k][ty * TM]);
        const float4 b4 = *reinterpret_cast<const float4*>(&Bs[k][tx * TN]);
        av[0] = a4.x, av[1] = a4.y, av[2] = a4.z, av[3] = a4.w;
        bv[0] = b4.x, bv[1] = b4.y, bv[2] = b4.z, bv[3] = b4.w;
      } else {
        const double2 a0 = *reinterpret_cast<const double2*>(&As[k][ty * TM]);
        const double2 a1 = *reinterpret_cast<const double2*>(&As[k][ty * TM + 2]);
        const double2 b0 = *reinterpret_cast<const double2*>(&Bs[k][tx * TN]);
        const double2 b1 = *reinterpret_cast<const double2*>(&Bs[k][tx * TN + 2]);
        av[0] = a0.x, av[1] = a0.y, av[2] = a1.x, av[3] = a1.y;
        bv[0] = b0.x, bv[1] = b0.y, bv[2] = b1.x, bv[3] = b1.y;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t gi = row0 + ty * TM + i, gj = col0 + tx * TN + j;
      if (gi < M && gj < N) store(c, ldc, gi, gj, acc[i][j], alpha, beta);
    }
}

// c: (M, N) float; one warp (blockDim 32) per 16x16 tile (blockIdx.x, blockIdx.y).
__global__ void gemm_tf32(float* c, int64_t ldc, const float* a, Mat ma, const float* b, Mat mb, int64_t M, int64_t N,
                          int64_t K, float alpha, float beta) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  __shared__ __align__(32) float As[16 * 8];  // (16 rows, 8 k) row-major
  __shared__ __align__(32) float Bs[8 * 16];  // (8 k, 16 cols) row-major
  __shared__ __align__(32) float Cs[16 * 16];
  const int lane = threadIdx.x;
  const int64_t row0 = int64_t(blockIdx.y) * 16, col0 = int64_t(blockIdx.x) * 16;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int64_t k0 = 0; k0 < K; k0 += 8) {
    for (int e = lane; e < 128; e += 32) {
      const int r = e / 8, k = e % 8;
      const int64_t gr = row0 + r, gk = k0 + k;
      As[e] = wmma::__float_to_tf32((gr < M && gk < K) ? ma.at(a, gr, gk) : 0.0f);
      const int kb = e / 16, cb = e % 16;
      const int64_t gc = col0 + cb, gkb = k0 + kb;
      Bs[e] = wmma::__float_to_tf32((gc < N && gkb < K) ? mb.at(b, gc, gkb) : 0.0f);
    }
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::load_matrix_sync(fa, As, 8);
    wmma::load_matrix_sync(fb, Bs, 16);
    wmma::mma_sync(acc, fa, fb, acc);
    __syncwarp();
  }
  wmma::store_matrix_sync(Cs, acc, 16, wmma::mem_row_major);
  __syncwarp();
  for (int e = lane; e < 256; e += 32) {
    const int64_t gi = row0 + e / 16, gj = col0 + e % 16;
    if (gi < M && gj < N) store(c, ldc, gi, gj, Cs[e], alpha, beta);
  }
#else
  __trap();  // built for an architecture without TF32 tensor cores; gemm_launch refuses it first
#endif
}

// y: (N, out) += bias (out,) broadcast over rows.
template <class T> __global__ void add_bias(T* y, const T* bias, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] += bias[i % cols];
}

// c (n,) = beta * c: the whole GEMM when K == 0 (alpha times an empty sum is dropped, as torch.addmm).
template <class T> __global__ void scale(T* c, int64_t n, T beta) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    c[i] = beta * c[i];
}

// db: (cols,) = column sums of dy (rows, cols); a thread per column, rows in order (deterministic).
template <class T> __global__ void column_sums(T* db, const T* dy, int64_t rows, int64_t cols) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (j >= cols) return;
  double acc = 0;
  for (int64_t r = 0; r < rows; ++r) acc += dy[r * cols + j];
  db[j] = static_cast<T>(acc);
}

template <class T>
void gemm_launch(const char* op, Variant impl, T* c, const T* a, bool ta, int64_t lda, const T* b, bool tb, int64_t ldb,
                 int64_t M, int64_t N, int64_t K, T alpha, T beta) {
  // Mat gives element (row, k) of op(a) and element (col, k) of op(b): b untransposed is (K, N),
  // k-major, i.e. "transposed" from Mat's point of view.
  const Mat ma{lda, ta}, mb{ldb, !tb};
  if (impl == Variant::naive) {
    const dim3 block(16, 16), grid(static_cast<unsigned>((N + 15) / 16), static_cast<unsigned>((M + 15) / 16));
    gemm_naive<T><<<grid, block, 0, stream()>>>(c, N, a, ma, b, mb, M, N, K, alpha, beta);
  } else if (impl == Variant::tf32 && sizeof(T) == 4) {
    const dim3 grid(static_cast<unsigned>((N + 15) / 16), static_cast<unsigned>((M + 15) / 16));
    gemm_tf32<<<grid, 32, 0, stream()>>>(reinterpret_cast<float*>(c), N, reinterpret_cast<const float*>(a), ma,
                                         reinterpret_cast<const float*>(b), mb, M, N, K, float(alpha), float(beta));
  } else {
    const dim3 grid(static_cast<unsigned>((N + BN - 1) / BN), static_cast<unsigned>((M + BM - 1) / BM));
    gemm_tiled<T><<<grid, 256, 0, stream()>>>(c, N, a, ma, b, mb, M, N, K, alpha, beta);
  }
  check_launch(op);
}

void check_grid(const char* op, int64_t M, int64_t N) {
  if ((M + 15) / 16 > 65535) value_error(op, "shape", "at most 1048560 output rows on CUDA", std::to_string(M));
  (void)N;
}

}  // namespace

template <Variant V>
void gemm(const Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
          double alpha, double beta) {
  check_grid("gemm", M, N);
  if (M == 0 || N == 0) return;  // csrc/ops returns first; never an empty grid
  PB_DISPATCH_FLOAT(a.dtype, T, {
    if (K == 0) {  // an empty sum: c = beta c, zeros for beta == 0 (as the CPU path in csrc/ops)
      if (T(beta) == T(0)) {
        fill("gemm", c, 0.0);
      } else {
        scale<T><<<grid_for(M * N, 256), 256, 0, stream()>>>(c.ptr<T>(), M * N, T(beta));
        check_launch("gemm");
      }
      return;
    }
    gemm_launch<T>("gemm", V, c.ptr<T>(), a.ptr<T>(), trans_a, a.shape[1], b.ptr<T>(), trans_b, b.shape[1], M, N, K,
                   T(alpha), T(beta));
  });
}

template <Variant V>
void linear_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear_forward";
  const int64_t n = x.shape[0], in = x.shape[1], out = weight.shape[0];
  check_grid(op, n, out);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    gemm_launch<T>(op, V, y.ptr<T>(), x.ptr<T>(), false, in, weight.ptr<T>(), true, in, n, out, in, T(1), T(0));
    if (bias.present) {
      add_bias<T><<<grid_for(n * out, 256), 256, 0, stream()>>>(y.ptr<T>(), bias.ptr<T>(), n, out);
      check_launch(op);
    }
  });
}

template <Variant V>
void linear_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight) {
  const char* op = "linear_backward";
  const int64_t n = x.shape[0], in = x.shape[1], out = weight.shape[0];
  check_grid(op, n > out ? n : out, in);
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    if (dx.present)  // dx (n, in) = dy (n, out) W (out, in)
      gemm_launch<T>(op, V, dx.ptr<T>(), dy.ptr<T>(), false, out, weight.ptr<T>(), false, in, n, in, out, T(1), T(0));
    // dW (out, in) = dy^T (out, n) x (n, in)
    gemm_launch<T>(op, V, dweight.ptr<T>(), dy.ptr<T>(), true, out, x.ptr<T>(), false, in, out, in, n, T(1), T(0));
    if (dbias.present) {
      column_sums<T><<<grid_for(out, 128), 128, 0, stream()>>>(dbias.ptr<T>(), dy.ptr<T>(), n, out);
      check_launch(op);
    }
  });
}

#define PB_GEMM_VARIANT(V)                                                                                        \
  template void gemm<V>(const Tensor&, const Tensor&, const Tensor&, bool, bool, int64_t, int64_t, int64_t, double,    \
                        double);                                                                                    \
  template void linear_forward<V>(const Tensor&, const Tensor&, const Tensor&, const Tensor&);                      \
  template void linear_backward<V>(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,        \
                                   const Tensor&);
PB_GEMM_VARIANT(Variant::naive)
PB_GEMM_VARIANT(Variant::tf32)
PB_GEMM_VARIANT(Variant::tiled)
#undef PB_GEMM_VARIANT

}  // namespace pb::cuda
