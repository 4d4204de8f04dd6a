#pragma once
#include <cstdint>

#include "core/isa.h"

// C (M, N) = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is (M, K): A itself with
// leading dimension lda, or A^T when trans_a (A stored (K, M)). Likewise op(B) is (K, N).
// beta == 0 means C is write-only (never read, so NaN garbage in C cannot leak through).
// Threads itself with OpenMP; called from inside a parallel region it runs single-threaded.
// Deterministic: every C element is summed by one thread in a fixed k order that depends only on
// K (not on the thread count), so results are bitwise identical across calls and thread counts.
// Workspace: gemm/gemm_bias/gemm_batch pack into a buffer owned by the calling thread and kept
// across calls (at most ~(MC + NC) * KC elements per part, ~3.5 MB for float); the first call
// that needs more allocates and throws std::bad_alloc on failure. Called inside an OpenMP region,
// each thread allocates its own on first use, and a failure there ends the process (no exception
// can leave an OpenMP region).
//
// gemm_naive: triple loop (the reading copy); gemm_blocked: cache-tiled loops, no packing;
// gemm: the fast packed/SIMD core (csrc/cpu/gemm.cpp, gemm_kernel.h).
// gemm_bias: gemm plus a bias added once to every output element, bias[j] per column
// (bias_per_row = false: linear's y = x W^T + b) or bias[i] per row (bias_per_row = true: conv's
// (O, H*W) output); bias == nullptr adds nothing. C = alpha * op(A) op(B) + beta * C + bias.
namespace pb::cpu {
// One product for gemm_batch: C = alpha * op(A) op(B) + beta * C + bias (as gemm_bias).
template <class T>
struct GemmProblem {
  T* C;
  int64_t ldc;
  const T* A;
  int64_t lda;
  bool trans_a;
  const T* B;
  int64_t ldb;
  bool trans_b;
  int64_t M, N, K;
  T alpha, beta;
  const T* bias;       // or nullptr
  bool bias_per_row;
};
}  // namespace pb::cpu

// gemm_batch: independent products (outputs must not overlap each other or any input) computed
// in one parallel region, the threads shared out in proportion to each product's work; e.g. a
// backward's dx and dW GEMMs, one per core, instead of both split across cores one after the
// other. Results are bitwise those of separate gemm_bias calls.
PB_CPU_DECLARE(
  template <class T>
  void gemm_naive(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
                  bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta);
  template <class T>
  void gemm_blocked(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
                    bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta);
  template <class T>
  void gemm(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
            bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta);
  template <class T>
  void gemm_bias(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
                 bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta, const T* bias,
                 bool bias_per_row);
  template <class T>
  void gemm_batch(const GemmProblem<T>* problems, int64_t count);
)
