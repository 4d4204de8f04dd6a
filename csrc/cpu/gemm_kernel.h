// The GEMM micro-kernel and its packing routines, included by csrc/cpu/gemm.cpp and (for its SIMD
// types and tile shape) csrc/cpu/conv2d_winograd.cpp (so once per ISA
// build). Layout (BLIS): op(A) is packed into slivers of MR rows, k-major
// (Ap[k*MR + r]); op(B) into slivers of NR columns, k-major (Bp[k*NR + c]); both zero-padded to
// full slivers. The micro-kernel keeps an MR x NR tile of C in registers (MR rows, NR/W vectors
// of W lanes per row), and per k loads NR/W vectors of B and broadcasts MR scalars of A.
//
// Vector types per build: AVX-512 (16 floats / 8 doubles), AVX2+FMA (8 / 4), and a portable
// fallback written with GCC/Clang vector extensions of 16 bytes (SSE2 on x86-64, NEON elsewhere).
#pragma once
#include <cstdint>

#include "core/common.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace pb::cpu::PB_ISA_NS::gemm_detail {

template <class T> struct Vec;

#if defined(__AVX512F__) || defined(__AVX2__)
// One specialization per (type, register): the intrinsics differ only in prefix and suffix.
#define PB_GEMM_VEC(T, Reg, Lanes, P, S)                                 \
  template <> struct Vec<T> {                                            \
    using R = Reg;                                                       \
    static constexpr int W = Lanes;                                      \
    PB_INLINE R zero() { return P##_setzero_##S(); }                     \
    PB_INLINE R load(const T* p) { return P##_loadu_##S(p); }            \
    PB_INLINE void store(T* p, R v) { P##_storeu_##S(p, v); }            \
    PB_INLINE R set1(T v) { return P##_set1_##S(v); }                    \
    PB_INLINE R fmadd(R a, R b, R c) { return P##_fmadd_##S(a, b, c); }  \
    PB_INLINE R mul(R a, R b) { return P##_mul_##S(a, b); }              \
    PB_INLINE R add(R a, R b) { return P##_add_##S(a, b); }              \
  };
#endif

#if defined(__AVX512F__)
PB_GEMM_VEC(float, __m512, 16, _mm512, ps)
PB_GEMM_VEC(double, __m512d, 8, _mm512, pd)
// Tile shapes: MR rows x NV vectors. 8 x 32 floats = 16 accumulators (+2 B vectors, 1 broadcast).
// 8x32, 16x16 and 6x64 all reach the FMA peak in isolation; 12x32 was erratic and pads more rows
// at batch sizes like 128 (docs/kernels/gemm.md).
template <class T> struct Shape { static constexpr int MR = 8, NV = 2; };
#elif defined(__AVX2__)
PB_GEMM_VEC(float, __m256, 8, _mm256, ps)
PB_GEMM_VEC(double, __m256d, 4, _mm256, pd)
// 6 x 16 floats = 12 accumulators of the 16 ymm registers (the classic Haswell shape).
template <class T> struct Shape { static constexpr int MR = 6, NV = 2; };
#else
// Portable: 16-byte vector extensions; a*b+c (the compiler contracts it only where FMA exists).
template <class T> struct Vec {
  typedef T R __attribute__((vector_size(16)));
  static constexpr int W = static_cast<int>(16 / sizeof(T));
  PB_INLINE R zero() { return R{} ; }
  PB_INLINE R load(const T* p) {
    R v;
    __builtin_memcpy(&v, p, sizeof(R));
    return v;
  }
  PB_INLINE void store(T* p, R v) { __builtin_memcpy(p, &v, sizeof(R)); }
  PB_INLINE R set1(T v) { return R{} + v; }
  PB_INLINE R fmadd(R a, R b, R c) { return a * b + c; }
  PB_INLINE R mul(R a, R b) { return a * b; }
  PB_INLINE R add(R a, R b) { return a + b; }
};
// 4 rows x 2 vectors = 8 of the 16 xmm registers.
template <class T> struct Shape { static constexpr int MR = 4, NV = 2; };
#endif
#undef PB_GEMM_VEC

template <class T> constexpr int kMR = Shape<T>::MR;
template <class T> constexpr int kNR = Shape<T>::NV * Vec<T>::W;

// One full MR x NR tile: C = alpha * (Ap Bp) + beta * C (C not read when beta == 0)
// + bias_c[j] (per column, may be null) + bias_r[i] (per row, may be null).
// Ap: (kc, MR) packed, Bp: (kc, NR) packed; c: MR rows of NR with leading dimension ldc.
// Every tile (full or edge) goes through this same arithmetic, so a C element's value does not
// depend on where the tile boundaries or thread partitions fall.
template <class T>
PB_INLINE void ukernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c, int64_t ldc,
                       T alpha, T beta, const T* __restrict bias_c, const T* __restrict bias_r) {
  using V = Vec<T>;
  using R = typename V::R;
  constexpr int MR = Shape<T>::MR, NV = Shape<T>::NV, W = V::W, NR = NV * W;
  R acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) __builtin_prefetch(c + i * ldc, 1, 3), __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    R bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const R av = V::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(av, bv[v], acc[i][v]);
    }
    a += MR;
    b += NR;
  }

  const R va = V::set1(alpha), vb = V::set1(beta);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      R r = V::mul(va, acc[i][v]);
      if (beta != T(0)) r = V::fmadd(vb, V::load(ci + v * W), r);
      if (bias_c) r = V::add(r, V::load(bias_c + v * W));
      if (bias_r) r = V::add(r, V::set1(bias_r[i]));
      V::store(ci + v * W, r);
    }
  }
}

// An MR x NR tile of which only mr x nr lies inside C: run the same kernel on a local tile.
template <class T>
PB_INLINE void edge_tile(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int64_t mr, int64_t nr, T alpha,
                         T beta, const T* bias_c, const T* bias_r) {
  constexpr int MR = kMR<T>, NR = kNR<T>;
  alignas(64) T ct[MR * NR];
  alignas(64) T bc[NR];
  alignas(64) T br[MR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) ct[i * NR + j] = (beta != T(0) && i < mr && j < nr) ? c[i * ldc + j] : T(0);
  if (bias_c)
    for (int j = 0; j < NR; ++j) bc[j] = j < nr ? bias_c[j] : T(0);
  if (bias_r)
    for (int i = 0; i < MR; ++i) br[i] = i < mr ? bias_r[i] : T(0);
  ukernel<T>(kc, a, b, ct, NR, alpha, beta, bias_c ? bc : nullptr, bias_r ? br : nullptr);
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = ct[i * NR + j];
}

// Transposing copy of a rows x cols block: dst[k*dst_ld + r] = src[r*src_ld + k], with
// dst columns [rows, pad_to) zero-filled. Square TB x TB tiles go through AVX shuffles where the
// build has them (8x8 floats, 4x4 doubles); the rest is scalar.
#if defined(__AVX2__)
PB_INLINE void transpose_tile(float* __restrict d, int64_t ldd, const float* __restrict s, int64_t lds) {
  const __m256 r0 = _mm256_loadu_ps(s + 0 * lds), r1 = _mm256_loadu_ps(s + 1 * lds);
  const __m256 r2 = _mm256_loadu_ps(s + 2 * lds), r3 = _mm256_loadu_ps(s + 3 * lds);
  const __m256 r4 = _mm256_loadu_ps(s + 4 * lds), r5 = _mm256_loadu_ps(s + 5 * lds);
  const __m256 r6 = _mm256_loadu_ps(s + 6 * lds), r7 = _mm256_loadu_ps(s + 7 * lds);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(d + 0 * ldd, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(d + 1 * ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}
PB_INLINE void transpose_tile(double* __restrict d, int64_t ldd, const double* __restrict s, int64_t lds) {
  const __m256d r0 = _mm256_loadu_pd(s + 0 * lds), r1 = _mm256_loadu_pd(s + 1 * lds);
  const __m256d r2 = _mm256_loadu_pd(s + 2 * lds), r3 = _mm256_loadu_pd(s + 3 * lds);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(d + 0 * ldd, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(d + 1 * ldd, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(d + 2 * ldd, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(d + 3 * ldd, _mm256_permute2f128_pd(t1, t3, 0x31));
}
template <class T> constexpr int kTB = 32 / static_cast<int>(sizeof(T));
#else
template <class T>
PB_INLINE void transpose_tile(T* __restrict d, int64_t ldd, const T* __restrict s, int64_t lds) {
  for (int k = 0; k < 4; ++k)
    for (int r = 0; r < 4; ++r) d[k * ldd + r] = s[r * lds + k];
}
template <class T> constexpr int kTB = 4;
#endif

template <class T>
PB_INLINE void transpose_pack(T* __restrict d, int64_t ldd, int pad_to, const T* __restrict s, int64_t lds,
                              int64_t rows, int64_t cols) {
  constexpr int TB = kTB<T>;
  int64_t r0 = 0;
  for (; r0 + TB <= rows; r0 += TB) {
    int64_t k0 = 0;
    for (; k0 + TB <= cols; k0 += TB) transpose_tile(d + k0 * ldd + r0, ldd, s + r0 * lds + k0, lds);
    for (; k0 < cols; ++k0)
      for (int r = 0; r < TB; ++r) d[k0 * ldd + r0 + r] = s[(r0 + r) * lds + k0];
  }
  for (int64_t k = 0; k < cols; ++k) {
    for (int64_t r = r0; r < rows; ++r) d[k * ldd + r] = s[r * lds + k];
    for (int64_t r = rows; r < pad_to; ++r) d[k * ldd + r] = T(0);
  }
}

// Pack op(A)[i0 : i0+mc, k0 : k0+kc] into ceil(mc/MR) slivers (each kc x MR, zero-padded rows).
template <class T>
PB_INLINE void pack_a(T* __restrict dst, const T* __restrict A, int64_t lda, bool trans_a, int64_t i0, int64_t mc,
                      int64_t k0, int64_t kc) {
  constexpr int MR = kMR<T>;
  for (int64_t s = 0; s < mc; s += MR) {
    const int64_t m = mc - s < MR ? mc - s : MR;
    T* __restrict d = dst + s * kc;
    if (trans_a) {  // op(A)[i][k] = A[k*lda + i]: MR contiguous values per k
      const T* src = A + k0 * lda + i0 + s;
      if (m == MR) {
        for (int64_t k = 0; k < kc; ++k)
#pragma GCC unroll 16
          for (int r = 0; r < MR; ++r) d[k * MR + r] = src[k * lda + r];
      } else {
        for (int64_t k = 0; k < kc; ++k)
          for (int r = 0; r < MR; ++r) d[k * MR + r] = r < m ? src[k * lda + r] : T(0);
      }
    } else {  // op(A)[i][k] = A[i*lda + k]: a transpose of MR rows
      transpose_pack(d, MR, MR, A + (i0 + s) * lda + k0, lda, m, kc);
    }
  }
}

// Pack op(B)[k0 : k0+kc, j0 : j0+nc] into ceil(nc/NR) slivers (each kc x NR, zero-padded columns).
template <class T>
PB_INLINE void pack_b(T* __restrict dst, const T* __restrict B, int64_t ldb, bool trans_b, int64_t j0, int64_t nc,
                      int64_t k0, int64_t kc) {
  constexpr int NR = kNR<T>;
  for (int64_t s = 0; s < nc; s += NR) {
    const int64_t n = nc - s < NR ? nc - s : NR;
    T* __restrict d = dst + s * kc;
    if (!trans_b) {  // op(B)[k][j] = B[k*ldb + j]: NR contiguous values per k
      const T* src = B + k0 * ldb + j0 + s;
      if (n == NR) {
        for (int64_t k = 0; k < kc; ++k)
#pragma GCC unroll 64
          for (int c = 0; c < NR; ++c) d[k * NR + c] = src[k * ldb + c];
      } else {
        for (int64_t k = 0; k < kc; ++k)
          for (int c = 0; c < NR; ++c) d[k * NR + c] = c < n ? src[k * ldb + c] : T(0);
      }
    } else {  // op(B)[k][j] = B[j*ldb + k]: a transpose of NR rows of B
      transpose_pack(d, NR, NR, B + (j0 + s) * ldb + k0, ldb, n, kc);
    }
  }
}

}  // namespace pb::cpu::PB_ISA_NS::gemm_detail
