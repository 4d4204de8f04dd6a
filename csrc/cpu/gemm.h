#pragma once
#include <cstdint>

#include "core/isa.h"

// C (M, N) = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is (M, K): A itself with
// leading dimension lda, or A^T when trans_a (A stored (K, M)). Likewise op(B) is (K, N).
// beta == 0 means C is write-only (never read, so NaN garbage in C cannot leak through).
// Threads itself with OpenMP; called from inside a parallel region it runs single-threaded.
PB_CPU_DECLARE(
  template <class T>
  void gemm_naive(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
                  bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta);
  template <class T>
  void gemm(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
            bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta);
)
