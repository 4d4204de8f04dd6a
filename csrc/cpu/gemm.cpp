// The GEMM core shared by linear and conv2d.
#include "cpu/gemm.h"

namespace pb::cpu::PB_ISA_NS {

// The reading copy: triple loop, double-free of tricks. Accumulates in T.
template <class T>
void gemm_naive(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
                bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += (trans_a ? A[k * lda + i] : A[i * lda + k]) * (trans_b ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = beta == T(0) ? alpha * acc : alpha * acc + beta * C[i * ldc + j];
    }
}

// Placeholder until the packed, blocked, SIMD version lands (issue 3, GEMM work in progress).
template <class T>
void gemm(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb,
          bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, T beta) {
  gemm_naive(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta);
}

#define PB_INSTANTIATE(T)                                                                        \
  template void gemm_naive<T>(T*, int64_t, const T*, int64_t, bool, const T*, int64_t, bool,      \
                              int64_t, int64_t, int64_t, T, T);                                   \
  template void gemm<T>(T*, int64_t, const T*, int64_t, bool, const T*, int64_t, bool, int64_t,   \
                        int64_t, int64_t, T, T);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
