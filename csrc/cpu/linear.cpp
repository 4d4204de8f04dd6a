// linear: y = x W^T + b and its backward. Three variants (measurements: docs/kernels/linear.md):
//   naive -- plain loops, one thread: the reading copy.
//   gemm  -- the packed GEMM core (csrc/cpu/gemm.cpp) with the bias fused into its write-out;
//            backward is two GEMMs (dx = dy W, dW = dy^T x) run side by side in one parallel
//            region (gemm_batch) and a column-sum pass for db.
//   smallm -- batches <= 128: the product computed transposed, the weight read in place and only
//            the batch-sized operand packed (below); `gemm` for other batches.
#include "cpu/linear.h"

#include <omp.h>

#include <cstdlib>
#include <new>

#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cpu/gemm_kernel.h"

namespace pb::cpu::PB_ISA_NS {

// y[i][o] = sum_k x[i][k] w[o][k] + b[o]
template <class T>
void linear_forward_naive(T* y, const T* x, const T* weight, const T* bias, int64_t n, int64_t in, int64_t out) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      T acc = 0;
      for (int64_t k = 0; k < in; ++k) acc += x[i * in + k] * weight[o * in + k];
      y[i * out + o] = bias ? acc + bias[o] : acc;
    }
}

template <class T>
void linear_forward_gemm(T* y, const T* x, const T* weight, const T* bias, int64_t n, int64_t in, int64_t out) {
  // y (n, out) = x (n, in) . weight^T (in, out) + bias[col]
  gemm_bias<T>(y, out, x, in, false, weight, in, true, n, out, in, T(1), T(0), bias, false);
}

// dx[i][k] = sum_o dy[i][o] w[o][k];  dw[o][k] = sum_i dy[i][o] x[i][k];  db[o] = sum_i dy[i][o]
template <class T>
void linear_backward_naive(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, int64_t n,
                           int64_t in, int64_t out) {
  if (dx)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < in; ++k) {
        T acc = 0;
        for (int64_t o = 0; o < out; ++o) acc += dy[i * out + o] * weight[o * in + k];
        dx[i * in + k] = acc;
      }
  for (int64_t o = 0; o < out; ++o)
    for (int64_t k = 0; k < in; ++k) {
      T acc = 0;
      for (int64_t i = 0; i < n; ++i) acc += dy[i * out + o] * x[i * in + k];
      dweight[o * in + k] = acc;
    }
  if (dbias)
    for (int64_t o = 0; o < out; ++o) {
      T acc = 0;
      for (int64_t i = 0; i < n; ++i) acc += dy[i * out + o];
      dbias[o] = acc;
    }
}

// Columns split across threads in blocks of 256; each column sums its rows in order 0..n-1.
// Below 2^20 elements (~0.1 ms on one core) one thread: a fork costs more than it saves, and on a
// busy machine every parallel region waits for a descheduled worker.
template <class T>
void column_sums(T* db, const T* dy, int64_t n, int64_t cols) {
  constexpr int64_t CB = 256;
  const int64_t blocks = (cols + CB - 1) / CB;
  parallel_for(blocks, n * cols < (int64_t(1) << 20) ? blocks : 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t j0 = b * CB, j1 = cols < j0 + CB ? cols : j0 + CB;
      T* __restrict d = db + j0;
      for (int64_t j = 0; j < j1 - j0; ++j) d[j] = T(0);
      for (int64_t i = 0; i < n; ++i) {
        const T* __restrict r = dy + i * cols + j0;
        for (int64_t j = 0; j < j1 - j0; ++j) d[j] += r[j];
      }
    }
  });
}

template <class T>
void linear_backward_gemm(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, int64_t n,
                          int64_t in, int64_t out) {
  // dweight (out, in) = dy^T (out, n) . x (n, in) and dx (n, in) = dy (n, out) . weight (out, in):
  // equal work, computed side by side (one per core on two cores).
  const GemmProblem<T> probs[2] = {
      {dweight, in, dy, out, true, x, in, false, out, in, n, T(1), T(0), nullptr, false},
      {dx, in, dy, out, false, weight, in, false, n, in, out, T(1), T(0), nullptr, false}};
  gemm_batch<T>(probs, dx ? 2 : 1);
  if (dbias) column_sums<T>(dbias, dy, n, out);
}

// ---------------------------------------------------------------------------------------------
// smallm: small batches (n <= kSmallBatch = 128). The packed GEMM packs the big operand (the
// weight, 512 x 784 at the MLP's first layer) on every call and reuses each packed panel only
// n / MR times, so at small n the packing is a sizeable share of the call (docs/kernels/linear.md).
// Here the product is computed transposed, C^T (features x n) = A (features x K) . S^T (K x n),
// with the small operand S (x or dy, n rows) packed once into NR-column slivers and the weight
// read in place: each micro-kernel step broadcasts MR weight values straight from memory (MR rows
// of W for the forward, MR consecutive columns of W for dx) and loads one packed S row, the same
// 2 loads + MR broadcasts per MR x NV FMAs as the packed kernel. Every output element sums its K
// products in order 0..K-1 in one accumulator, so the result does not depend on the thread count.
// The tile is written transposed (features run along C's rows) through a small local buffer.
namespace smallm_detail {
using gemm_detail::Vec;
using gemm_detail::Shape;
constexpr int64_t kSmallBatch = 128;

// C[j * ldc + i] = sum_k A[i * a_rs + k * a_ks] * Sp[...] (+ bias[i]) for rows i in [i0, i1) of
// A (features) and every j in [0, n). Sp: S packed as ceil(n / NR) slivers of (K, NR).
template <class T>
PB_INLINE void rows_block(T* __restrict C, int64_t ldc, const T* __restrict A, int64_t a_rs, int64_t a_ks,
                          int64_t i0, int64_t i1, const T* __restrict Sp, int64_t n, int64_t K,
                          const T* __restrict bias) {
  using V = Vec<T>;
  using R = typename V::R;
  constexpr int MR = Shape<T>::MR, NV = Shape<T>::NV, W = V::W, NR = NV * W;
  alignas(64) T tile[MR * NR];
  for (int64_t ib = i0; ib < i1; ib += MR) {
    const int64_t mr = i1 - ib < MR ? i1 - ib : MR;
    const T* arow[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) arow[i] = A + (ib + (i < mr ? i : 0)) * a_rs;  // edge rows repeat row ib
    for (int64_t jb = 0; jb < n; jb += NR) {
      const int64_t nr = n - jb < NR ? n - jb : NR;
      const T* sp = Sp + jb * K;
      R acc[MR][NV];
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
      // one k step: the packed S row times MR weight values, a_at(i) the one of row i
      const auto step = [&](int64_t k, auto a_at) __attribute__((always_inline)) {
        R bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) bv[v] = V::load(sp + k * NR + v * W);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
          const R av = V::set1(a_at(i));
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(av, bv[v], acc[i][v]);
        }
      };
      if (a_ks == 1) {  // forward: MR rows of W, contiguous in k
#pragma GCC unroll 2
        for (int64_t k = 0; k < K; ++k) step(k, [&](int i) __attribute__((always_inline)) { return arow[i][k]; });
      } else {  // dx: MR consecutive columns of W, a_ks apart in k
        const T* a = arow[0];
#pragma GCC unroll 2
        for (int64_t k = 0; k < K; ++k, a += a_ks)
          step(k, [&](int i) __attribute__((always_inline)) { return a[(i < mr ? i : 0) * a_rs]; });
      }
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) V::store(tile + i * NR + v * W, acc[i][v]);
      for (int64_t j = 0; j < nr; ++j) {
        T* __restrict c = C + (jb + j) * ldc + ib;
        if (bias)
          for (int64_t i = 0; i < mr; ++i) c[i] = tile[i * NR + j] + bias[ib + i];
        else
          for (int64_t i = 0; i < mr; ++i) c[i] = tile[i * NR + j];
      }
    }
  }
}

// Pack S (n x K, row stride lds) into ceil(n / NR) slivers Sp[s][k][c] = S[s*NR + c][k], zero
// columns past n.
template <class T>
PB_INLINE void pack_small(T* __restrict Sp, const T* __restrict S, int64_t lds, int64_t n, int64_t K) {
  constexpr int NR = Shape<T>::NV * Vec<T>::W;
  for (int64_t s = 0; s < n; s += NR) {
    const int64_t m = n - s < NR ? n - s : NR;
    gemm_detail::transpose_pack(Sp + s * K, NR, NR, S + s * lds, lds, m, K);
  }
}

// The per-thread packing buffer of S, kept across calls (as the GEMM's workspace).
struct Buffer {
  void* p = nullptr;
  size_t bytes = 0;
  ~Buffer() { std::free(p); }
};
static thread_local Buffer tl_buf;

template <class T>
T* buffer(size_t elems) {
  const size_t want = (elems * sizeof(T) + 65535) & ~size_t(65535);
  if (want > tl_buf.bytes) {
    std::free(tl_buf.p);
    tl_buf.p = std::aligned_alloc(64, want);
    tl_buf.bytes = tl_buf.p ? want : 0;
    if (!tl_buf.p) throw std::bad_alloc();
  }
  return static_cast<T*>(tl_buf.p);
}

// The small path when the batch is at most kSmallBatch (beyond it gemm is as fast) and pads its
// last NR-column sliver by at most 1/8 (AVX-512, NR = 32: n = 28..32, 56..64, 84..96, 112..128;
// AVX2, NR = 16: 14..16, 28..32, 42..128): zero columns cost full FMAs (docs/kernels/linear.md).
template <class T>
PB_INLINE bool use(int64_t n) {
  constexpr int64_t NR = Shape<T>::NV * Vec<T>::W;
  return n <= kSmallBatch && 7 * ((n + NR - 1) / NR * NR) <= 8 * n;
}

// Rows [i0, i1) of the features, threads over MR-row blocks (fewer threads below ~2^18
// multiply-adds each). Sp: S already packed (pack_small).
template <class T>
void run_packed(T* C, int64_t ldc, const T* A, int64_t a_rs, int64_t a_ks, int64_t feats, const T* Sp, int64_t n,
                int64_t K, const T* bias) {
  constexpr int MR = Shape<T>::MR;
  const int64_t blocks = (feats + MR - 1) / MR;
  const int64_t per_block = MR * n * K;
  const int64_t grain = per_block > 0 ? ((int64_t(1) << 18) + per_block - 1) / per_block : blocks;
  parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
    const int64_t i1 = b1 * MR < feats ? b1 * MR : feats;
    rows_block<T>(C, ldc, A, a_rs, a_ks, b0 * MR, i1, Sp, n, K, bias);
  });
}

// C (n x feats, ldc) = S (n x K) . A^T where A[i][k] = A[i * a_rs + k * a_ks], + bias.
// Features split between threads in MR-row units (fewer threads under ~2^18 multiply-adds each).
template <class T>
void run(T* C, int64_t ldc, const T* A, int64_t a_rs, int64_t a_ks, int64_t feats, const T* S, int64_t lds, int64_t n,
         int64_t K, const T* bias) {
  constexpr int NR = Shape<T>::NV * Vec<T>::W;
  const int64_t slivers = (n + NR - 1) / NR;
  T* Sp = buffer<T>(static_cast<size_t>(slivers * NR * K));
  pack_small<T>(Sp, S, lds, n, K);
  run_packed<T>(C, ldc, A, a_rs, a_ks, feats, Sp, n, K, bias);
}
}  // namespace smallm_detail

template <class T>
void linear_forward_smallm(T* y, const T* x, const T* weight, const T* bias, int64_t n, int64_t in, int64_t out) {
  if (!smallm_detail::use<T>(n) || in == 0) {
    linear_forward_gemm<T>(y, x, weight, bias, n, in, out);
    return;
  }
  // y^T (out x n) = W (out x in) . x^T: weight row i is feature i (a_rs = in, a_ks = 1).
  smallm_detail::run<T>(y, out, weight, in, 1, out, x, in, n, in, bias);
}

// smallm backward: dW as in gemm; dx (n x in) = dy (n x out) . W through the small path (the
// weight's columns read in place: a_rs = 1, a_ks = in). On two threads the two products run side
// by side in one parallel region (dW on one thread, dx on the other: equal work), as gemm's
// gemm_batch does; dy is packed for dx before the region (no allocation inside it). Other thread
// counts: dW on all threads, then dx on all threads.
template <class T>
void linear_backward_smallm(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, int64_t n,
                            int64_t in, int64_t out) {
  using namespace smallm_detail;
  if (!dx || !use<T>(n) || out < 64) {  // out < 64: dx's K too short to amortize the tile write-out
    linear_backward_gemm<T>(dx, dweight, dbias, dy, x, weight, n, in, out);
    return;
  }
  constexpr int NR = Shape<T>::NV * Vec<T>::W;
  T* Sp = buffer<T>(static_cast<size_t>((n + NR - 1) / NR * NR * out));
  pack_small<T>(Sp, dy, out, n, out);
  // Inside the region gemm_bias runs single-threaded on this (the calling) thread and reuses its
  // workspace; should it need to grow and fail, the exception is caught inside the region and
  // rethrown after it (an exception must not leave an OpenMP region).
  const int nt = omp_in_parallel() ? 1 : max_threads();
  if (nt == 2) {
    bool ok = true;
#pragma omp parallel num_threads(2)
    {
      if (omp_get_thread_num() == 0) {
        try {
          gemm_bias<T>(dweight, in, dy, out, true, x, in, false, out, in, n, T(1), T(0), nullptr, false);
        } catch (...) {
          ok = false;
        }
      } else {
        run_packed<T>(dx, in, weight, 1, in, in, Sp, n, out, nullptr);
      }
    }
    if (!ok) throw std::bad_alloc();
  } else {
    gemm_bias<T>(dweight, in, dy, out, true, x, in, false, out, in, n, T(1), T(0), nullptr, false);
    run_packed<T>(dx, in, weight, 1, in, in, Sp, n, out, nullptr);
  }
  if (dbias) column_sums<T>(dbias, dy, n, out);
}

#define PB_INSTANTIATE(T)                                                                                   \
  template void linear_forward_naive<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);       \
  template void linear_forward_gemm<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);        \
  template void linear_forward_smallm<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);      \
  template void linear_backward_naive<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void linear_backward_gemm<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);  \
  template void linear_backward_smallm<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void column_sums<T>(T*, const T*, int64_t, int64_t);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
