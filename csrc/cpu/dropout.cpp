// Dropout with a Philox4x32-10 mask generated on the fly (csrc/math/dropout.h has the scheme).
// naive: one Philox call per element, single thread (the reading copy of the scheme).
// vec:   the global stream is cut into 64-element blocks (16 Philox counters each, aligned to
//        the stream, not to the call), so a block's keep bits depend on nothing but its index;
//        blocks are split across threads; AVX-512 runs 2 blocks x 2 x 8 Philox instances in
//        64-bit lanes (vpmuludq gives the full 32x32->64 product, the high half of a lane is
//        ignored so no masking is needed) and applies the keep bits as a zero-masking multiply;
//        AVX2 does the same with 4 x 4 lanes; the baseline uses the same loop shape in plain C++.
// stream: vec with streaming stores of y from the registers, realigned to cache lines (float32
//        AVX-512; see its section below). Measurements: docs/kernels/dropout.md.
#include "cpu/dropout.h"

#include <cstring>

#include "core/parallel.h"
#include "cpu/elementwise.h"
#include "math/dropout.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__BMI2__)
#include <immintrin.h>
#define PB_DROPOUT_AVX512 1
#elif defined(__AVX2__) && defined(__BMI2__)
#include <immintrin.h>
#define PB_DROPOUT_AVX2 1
#endif
#if defined(__AVX2__)
// GCC 12 flags the self-initialized _mm*_undefined_*() inside its own intrinsics
// (GCC bug 105593); a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace pb::cpu::PB_ISA_NS {

// ---------------------------------------------------------------------------------------------
// naive
// ---------------------------------------------------------------------------------------------

template <class T>
void dropout_forward_naive(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold, T scale) {
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = math::dropout_keep(math::dropout_bits(seed, offset + static_cast<uint64_t>(i)), threshold);
    y[i] = math::dropout_apply(x[i], keep, scale);
  }
}

void dropout_mask_naive(uint8_t* mask, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold) {
  for (int64_t i = 0; i < n; ++i)
    mask[i] = math::dropout_keep(math::dropout_bits(seed, offset + static_cast<uint64_t>(i)), threshold) ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// vec
// ---------------------------------------------------------------------------------------------

namespace {

constexpr int64_t kBlock = 64;              // stream elements per block (16 Philox counters)
constexpr int64_t kGrainBlocks = 1 << 10;   // 64K elements per thread at least

struct RoundKeys {
  uint32_t k0[math::kPhiloxRounds], k1[math::kPhiloxRounds];
};

PB_INLINE RoundKeys round_keys(uint64_t seed) {
  RoundKeys rk;
  uint32_t key[2];
  math::dropout_key(key, seed);
  for (int r = 0; r < math::kPhiloxRounds; ++r) {
    rk.k0[r] = key[0] + static_cast<uint32_t>(r) * math::kPhiloxW0;
    rk.k1[r] = key[1] + static_cast<uint32_t>(r) * math::kPhiloxW1;
  }
  return rk;
}

#if defined(PB_DROPOUT_AVX512)

// Bits 4j..4j+3 of the result come from 64-bit lane j's low halves of w0..w3 (compared on the
// even 32-bit sub-lanes only): pdep spreads even bit 2j of a 16-bit compare mask to bit 4j.
PB_INLINE uint32_t keep_bits32(__m512i w0, __m512i w1, __m512i w2, __m512i w3, __m512i thr) {
  const uint32_t m0 = _mm512_mask_cmpge_epu32_mask(0x5555, w0, thr);
  const uint32_t m1 = _mm512_mask_cmpge_epu32_mask(0x5555, w1, thr);
  const uint32_t m2 = _mm512_mask_cmpge_epu32_mask(0x5555, w2, thr);
  const uint32_t m3 = _mm512_mask_cmpge_epu32_mask(0x5555, w3, thr);
  return _pdep_u32(m0, 0x33333333u) | (_pdep_u32(m1, 0x33333333u) << 1) |
         (_pdep_u32(m2, 0x33333333u) << 2) | (_pdep_u32(m3, 0x33333333u) << 3);
}

// Keep bits of stream elements 64*blk .. 64*blk+64*NB-1 (bits[b] bit j <-> element 64*(blk+b)+j),
// thr < 2^32. 16 Philox instances per block (counters 16*blk + 0..15) in sets of 8, one
// instance per 64-bit lane. Only the low 32 bits of each lane are meaningful: vpmuludq ignores
// the high halves, so the full 64-bit product can stand for its low word without masking.
// NB blocks at once give the out-of-order core 2*NB independent multiply chains.
template <int NB>
PB_INLINE void keep_bits(uint64_t* bits, uint64_t blk, const RoundKeys& rk, uint32_t thr32) {
  constexpr int S = 2 * NB;
  const __m512i lo32 = _mm512_set1_epi64(0xffffffffLL);
  const __m512i base = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(16 * blk)),
                                        _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
  __m512i c0[S], c1[S], c2[S], c3[S];
  for (int s = 0; s < S; ++s) {
    const __m512i b = _mm512_add_epi64(base, _mm512_set1_epi64(8 * s));
    c0[s] = _mm512_and_si512(b, lo32);
    c1[s] = _mm512_srli_epi64(b, 32);
    c2[s] = _mm512_setzero_si512();
    c3[s] = c2[s];
  }
  const __m512i m0 = _mm512_set1_epi64(math::kPhiloxM0), m1 = _mm512_set1_epi64(math::kPhiloxM1);
#pragma GCC unroll 10
  for (int r = 0; r < math::kPhiloxRounds; ++r) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int>(rk.k0[r]));
    const __m512i k1 = _mm512_set1_epi32(static_cast<int>(rk.k1[r]));
#pragma GCC unroll 8
    for (int s = 0; s < S; ++s) {
      const __m512i p0 = _mm512_mul_epu32(c0[s], m0), p1 = _mm512_mul_epu32(c2[s], m1);
      c0[s] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c1[s], k0, 0x96);  // hi1 ^ c1 ^ k0
      c2[s] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c3[s], k1, 0x96);  // hi0 ^ c3 ^ k1
      c1[s] = p1;
      c3[s] = p0;
    }
  }
  const __m512i thr = _mm512_set1_epi32(static_cast<int>(thr32));
  for (int b = 0; b < NB; ++b)
    bits[b] = static_cast<uint64_t>(keep_bits32(c0[2 * b], c1[2 * b], c2[2 * b], c3[2 * b], thr)) |
              (static_cast<uint64_t>(keep_bits32(c0[2 * b + 1], c1[2 * b + 1], c2[2 * b + 1], c3[2 * b + 1], thr)) << 32);
}

constexpr int kNB = 2;  // blocks per keep_bits call in the interior

PB_INLINE void apply_block(float* y, const float* x, uint64_t bits, float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int q = 0; q < 4; ++q) {
    const __mmask16 k = static_cast<__mmask16>(bits >> (16 * q));
    _mm512_storeu_ps(y + 16 * q, _mm512_maskz_mul_ps(k, _mm512_loadu_ps(x + 16 * q), s));
  }
}
PB_INLINE void apply_block(double* y, const double* x, uint64_t bits, double scale) {
  const __m512d s = _mm512_set1_pd(scale);
  for (int q = 0; q < 8; ++q) {
    const __mmask8 k = static_cast<__mmask8>(bits >> (8 * q));
    _mm512_storeu_pd(y + 8 * q, _mm512_maskz_mul_pd(k, _mm512_loadu_pd(x + 8 * q), s));
  }
}
PB_INLINE void mask_block(uint8_t* m, uint64_t bits) {
  _mm512_storeu_si512(m, _mm512_maskz_mov_epi8(static_cast<__mmask64>(bits), _mm512_set1_epi8(1)));
}

#elif defined(PB_DROPOUT_AVX2)  // the same scheme in 4-lane (64-bit) ymm sets, 4 sets per block

// Keep bits of stream elements 64*blk + 16*s .. +15 from set s (instances 16*blk + 4*s + 0..3):
// u >= thr as max(u, thr) == u (AVX2 has no unsigned compare); the even 32-bit lanes hold the words.
PB_INLINE uint32_t keep_bits16(__m256i w0, __m256i w1, __m256i w2, __m256i w3, __m256i thr) {
  auto ge = [&](__m256i w) {
    const uint32_t m = static_cast<uint32_t>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_max_epu32(w, thr), w))));
    return _pdep_u32(_pext_u32(m, 0x55u), 0x1111u);  // lane 2j -> bit 4j
  };
  return ge(w0) | (ge(w1) << 1) | (ge(w2) << 2) | (ge(w3) << 3);
}

template <int NB>
PB_INLINE void keep_bits(uint64_t* bits, uint64_t blk, const RoundKeys& rk, uint32_t thr32) {
  constexpr int S = 4 * NB;
  const __m256i lo32 = _mm256_set1_epi64x(0xffffffffLL);
  const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(16 * blk)), _mm256_set_epi64x(3, 2, 1, 0));
  __m256i c0[S], c1[S], c2[S], c3[S];
  for (int s = 0; s < S; ++s) {
    const __m256i b = _mm256_add_epi64(base, _mm256_set1_epi64x(4 * s));
    c0[s] = _mm256_and_si256(b, lo32);
    c1[s] = _mm256_srli_epi64(b, 32);
    c2[s] = _mm256_setzero_si256();
    c3[s] = c2[s];
  }
  const __m256i m0 = _mm256_set1_epi64x(math::kPhiloxM0), m1 = _mm256_set1_epi64x(math::kPhiloxM1);
  for (int r = 0; r < math::kPhiloxRounds; ++r) {
    const __m256i k0 = _mm256_set1_epi32(static_cast<int>(rk.k0[r]));
    const __m256i k1 = _mm256_set1_epi32(static_cast<int>(rk.k1[r]));
    for (int s = 0; s < S; ++s) {
      const __m256i p0 = _mm256_mul_epu32(c0[s], m0), p1 = _mm256_mul_epu32(c2[s], m1);
      c0[s] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[s]), k0);
      c2[s] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[s]), k1);
      c1[s] = p1;
      c3[s] = p0;
    }
  }
  const __m256i thr = _mm256_set1_epi32(static_cast<int>(thr32));
  for (int b = 0; b < NB; ++b) {
    uint64_t v = 0;
    for (int q = 0; q < 4; ++q) {
      const int s = 4 * b + q;
      v |= static_cast<uint64_t>(keep_bits16(c0[s], c1[s], c2[s], c3[s], thr)) << (16 * q);
    }
    bits[b] = v;
  }
}
constexpr int kNB = 1;

// Lane j of the result is all ones iff bit j of `bits` (8 bits) is set.
PB_INLINE __m256i lane_mask8(uint32_t bits) {
  const __m256i sel = _mm256_set_epi32(128, 64, 32, 16, 8, 4, 2, 1);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), sel), sel);
}
PB_INLINE void apply_block(float* y, const float* x, uint64_t bits, float scale) {
  const __m256 s = _mm256_set1_ps(scale);
  for (int q = 0; q < 8; ++q) {
    const __m256 m = _mm256_castsi256_ps(lane_mask8(static_cast<uint32_t>(bits >> (8 * q)) & 0xffu));
    _mm256_storeu_ps(y + 8 * q, _mm256_and_ps(m, _mm256_mul_ps(_mm256_loadu_ps(x + 8 * q), s)));
  }
}
PB_INLINE void apply_block(double* y, const double* x, uint64_t bits, double scale) {
  const __m256d s = _mm256_set1_pd(scale);
  const __m256i sel = _mm256_set_epi64x(8, 4, 2, 1);
  for (int q = 0; q < 16; ++q) {
    const __m256i b = _mm256_set1_epi64x(static_cast<long long>((bits >> (4 * q)) & 0xfu));
    const __m256d m = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(b, sel), sel));
    _mm256_storeu_pd(y + 4 * q, _mm256_and_pd(m, _mm256_mul_pd(_mm256_loadu_pd(x + 4 * q), s)));
  }
}
PB_INLINE void mask_block(uint8_t* m, uint64_t bits) {
  for (int q = 0; q < 8; ++q) {  // 8 bits -> 8 bytes of 0/1
    const uint64_t bytes = _pdep_u64((bits >> (8 * q)) & 0xffu, 0x0101010101010101ull);
    std::memcpy(m + 8 * q, &bytes, 8);
  }
}

#else  // portable: the same 16-instance loop shape, left to the compiler's vectorizer

PB_INLINE uint64_t keep_bits64(uint64_t blk, const RoundKeys& rk, uint32_t thr32) {
  uint32_t c0[16], c1[16], c2[16], c3[16];
  for (int j = 0; j < 16; ++j) {
    const uint64_t b = 16 * blk + static_cast<uint64_t>(j);
    c0[j] = static_cast<uint32_t>(b);
    c1[j] = static_cast<uint32_t>(b >> 32);
    c2[j] = 0;
    c3[j] = 0;
  }
  for (int r = 0; r < math::kPhiloxRounds; ++r) {
    const uint32_t k0 = rk.k0[r], k1 = rk.k1[r];
    for (int j = 0; j < 16; ++j) {
      const uint64_t p0 = static_cast<uint64_t>(math::kPhiloxM0) * c0[j];
      const uint64_t p1 = static_cast<uint64_t>(math::kPhiloxM1) * c2[j];
      c0[j] = static_cast<uint32_t>(p1 >> 32) ^ c1[j] ^ k0;
      c2[j] = static_cast<uint32_t>(p0 >> 32) ^ c3[j] ^ k1;
      c1[j] = static_cast<uint32_t>(p1);
      c3[j] = static_cast<uint32_t>(p0);
    }
  }
  uint64_t bits = 0;
  for (int j = 0; j < 16; ++j) {
    const uint64_t nib = static_cast<uint64_t>(c0[j] >= thr32) | (static_cast<uint64_t>(c1[j] >= thr32) << 1) |
                         (static_cast<uint64_t>(c2[j] >= thr32) << 2) | (static_cast<uint64_t>(c3[j] >= thr32) << 3);
    bits |= nib << (4 * j);
  }
  return bits;
}
template <int NB> PB_INLINE void keep_bits(uint64_t* bits, uint64_t blk, const RoundKeys& rk, uint32_t thr32) {
  for (int b = 0; b < NB; ++b) bits[b] = keep_bits64(blk + b, rk, thr32);
}
constexpr int kNB = 1;

template <class T> PB_INLINE void apply_block(T* y, const T* x, uint64_t bits, T scale) {
  for (int j = 0; j < kBlock; ++j) y[j] = ((bits >> j) & 1) ? x[j] * scale : T(0);
}
PB_INLINE void mask_block(uint8_t* m, uint64_t bits) {
  for (int j = 0; j < kBlock; ++j) m[j] = static_cast<uint8_t>((bits >> j) & 1);
}

#endif

// Calls full(i, bits) for every block lying wholly inside the call (i: index of its first
// element in the call) and part(i, bit) for each element of a block cut by the call's ends.
// Blocks go kNB at a time through keep_bits where they are all full.
template <class Full, class Part>
PB_INLINE void for_each_block(int64_t n, uint64_t seed, uint64_t offset, uint32_t thr32, Full full, Part part) {
  const RoundKeys rk = round_keys(seed);
  const uint64_t end = offset + static_cast<uint64_t>(n);
  const uint64_t b0 = offset / kBlock, b1 = (end + kBlock - 1) / kBlock;
  // Blocks [f0, f1) lie wholly inside [offset, end).
  const uint64_t f0 = (offset + kBlock - 1) / kBlock, f1 = end / kBlock > f0 ? end / kBlock : f0;
  parallel_for(static_cast<int64_t>(b1 - b0), kGrainBlocks, [&](int64_t lo, int64_t hi) {
    uint64_t blk = b0 + static_cast<uint64_t>(lo);
    const uint64_t stop = b0 + static_cast<uint64_t>(hi);
    while (blk < stop) {
      if (blk >= f0 && blk + kNB <= f1 && blk + kNB <= stop) {
        uint64_t bits[kNB];
        keep_bits<kNB>(bits, blk, rk, thr32);
        for (int b = 0; b < kNB; ++b) full(static_cast<int64_t>((blk + b) * kBlock - offset), bits[b]);
        blk += kNB;
        continue;
      }
      const uint64_t g0 = blk * kBlock;
      uint64_t bits;
      keep_bits<1>(&bits, blk, rk, thr32);
      if (blk >= f0 && blk < f1) {
        full(static_cast<int64_t>(g0 - offset), bits);
      } else {
        const uint64_t gb = g0 > offset ? g0 : offset, ge = g0 + kBlock < end ? g0 + kBlock : end;
        for (uint64_t g = gb; g < ge; ++g) part(static_cast<int64_t>(g - offset), ((bits >> (g - g0)) & 1) != 0);
      }
      ++blk;
    }
  });
}

template <class T> PB_INLINE void fill_zero(T* y, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) { std::memset(y + b, 0, sizeof(T) * (e - b)); });
}

}  // namespace

template <class T>
void dropout_forward_vec(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold, T scale) {
  if (threshold > 0xffffffffull) return fill_zero(y, n);  // p == 1: nothing is kept
  for_each_block(
      n, seed, offset, static_cast<uint32_t>(threshold),
      [&](int64_t i, uint64_t bits) { apply_block(y + i, x + i, bits, scale); },
      [&](int64_t i, bool keep) { y[i] = math::dropout_apply(x[i], keep, scale); });
}

// ---------------------------------------------------------------------------------------------
// stream: vec with streaming stores straight from the registers (float32, AVX-512; other builds
// and double: vec). vec's ordinary stores first read every line of y (read-for-ownership): 12
// B/elt moved instead of 8, which made dropout memory bound on a quiet machine (figures:
// docs/kernels/dropout.md). Large NumPy arrays start 16 bytes into a page, so a 64-float block
// is not line aligned: its results v0..v3 are realigned into lines with valignd (alignr(v[k+1],
// v[k], A), A = the first line start in the block, the same for every block; the line that spans
// two blocks joins the last vector of one and the first of the next), and the ragged elements at
// the ends of each thread's blocks take masked ordinary stores. The blocks cut by the call's ends
// run through vec at their offset.
// ---------------------------------------------------------------------------------------------
#if defined(PB_DROPOUT_AVX512)
namespace {

template <int A>
PB_INLINE void stream_blocks(float* y, const float* x, uint64_t blk0, uint64_t blk1, uint64_t offset,
                             const RoundKeys& rk, uint32_t thr32, float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  __m512 prev = _mm512_setzero_ps();  // v3 of the previous block
  int64_t i = 0;
  bool first = true;
  const auto emit = [&](int64_t at, uint64_t bits) {
    i = at;
    __m512 v[4];
    for (int q = 0; q < 4; ++q)
      v[q] = _mm512_maskz_mul_ps(static_cast<__mmask16>(bits >> (16 * q)), _mm512_loadu_ps(x + i + 16 * q), s);
    if constexpr (A == 0) {
      for (int q = 0; q < 4; ++q) _mm512_stream_ps(y + i + 16 * q, v[q]);
    } else {
      if (first) _mm512_mask_storeu_ps(y + i, static_cast<__mmask16>((1u << A) - 1u), v[0]);
      else _mm512_stream_ps(y + i - 16 + A, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v[0]), _mm512_castps_si512(prev), A)));
      for (int q = 0; q < 3; ++q)
        _mm512_stream_ps(y + i + 16 * q + A, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v[q + 1]), _mm512_castps_si512(v[q]), A)));
      prev = v[3];
      first = false;
    }
  };
  uint64_t blk = blk0;
  for (; blk + kNB <= blk1; blk += kNB) {
    uint64_t bits[kNB];
    keep_bits<kNB>(bits, blk, rk, thr32);
    for (int b = 0; b < kNB; ++b) emit(static_cast<int64_t>((blk + b) * kBlock - offset), bits[b]);
  }
  for (; blk < blk1; ++blk) {
    uint64_t bits;
    keep_bits<1>(&bits, blk, rk, thr32);
    emit(static_cast<int64_t>(blk * kBlock - offset), bits);
  }
  if (A != 0 && !first) _mm512_mask_storeu_ps(y + i + 48, static_cast<__mmask16>(0xffffu << A), prev);
}

}  // namespace
#endif

template <class T>
void dropout_forward_stream(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold, T scale) {
#if defined(PB_DROPOUT_AVX512)
  if constexpr (sizeof(T) == 4) {
    if (threshold <= 0xffffffffull && stream_out(n, sizeof(T)) && (reinterpret_cast<uintptr_t>(y) & 3u) == 0) {
      const uint64_t end = offset + static_cast<uint64_t>(n);
      const uint64_t f0 = (offset + kBlock - 1) / kBlock, f1 = end / kBlock;  // full blocks; f1 > f0 (n large)
      const int64_t head = static_cast<int64_t>(f0 * kBlock - offset), tail = static_cast<int64_t>(f1 * kBlock - offset);
      dropout_forward_vec(y, x, head, seed, offset, threshold, scale);
      dropout_forward_vec(y + tail, x + tail, n - tail, seed, offset + static_cast<uint64_t>(tail), threshold, scale);
      const int A = static_cast<int>((16 - (reinterpret_cast<uintptr_t>(y + head) >> 2) % 16) % 16);
      const RoundKeys rk = round_keys(seed);
      const uint32_t thr32 = static_cast<uint32_t>(threshold);
      parallel_for(static_cast<int64_t>(f1 - f0), kGrainBlocks, [&](int64_t lo, int64_t hi) {
        const uint64_t b0 = f0 + static_cast<uint64_t>(lo), b1 = f0 + static_cast<uint64_t>(hi);
        switch (A) {
#define PB_CASE(a) \
  case a: stream_blocks<a>(y, x, b0, b1, offset, rk, thr32, scale); break;
          PB_CASE(0) PB_CASE(1) PB_CASE(2) PB_CASE(3) PB_CASE(4) PB_CASE(5) PB_CASE(6) PB_CASE(7)
          PB_CASE(8) PB_CASE(9) PB_CASE(10) PB_CASE(11) PB_CASE(12) PB_CASE(13) PB_CASE(14) PB_CASE(15)
#undef PB_CASE
          default: break;
        }
        stream_fence();
      });
      return;
    }
  }
#endif
  dropout_forward_vec(y, x, n, seed, offset, threshold, scale);
}

void dropout_mask_vec(uint8_t* mask, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold) {
  if (threshold > 0xffffffffull) return fill_zero(mask, n);
  for_each_block(
      n, seed, offset, static_cast<uint32_t>(threshold), [&](int64_t i, uint64_t bits) { mask_block(mask + i, bits); },
      [&](int64_t i, bool keep) { mask[i] = keep ? 1 : 0; });
}

template <class T> void dropout_identity(T* y, const T* x, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) { std::memcpy(y + b, x + b, sizeof(T) * (e - b)); });
}

#define PB_INSTANTIATE(T)                                                                                   \
  template void dropout_forward_naive<T>(T*, const T*, int64_t, uint64_t, uint64_t, uint64_t, T);          \
  template void dropout_forward_vec<T>(T*, const T*, int64_t, uint64_t, uint64_t, uint64_t, T);            \
  template void dropout_forward_stream<T>(T*, const T*, int64_t, uint64_t, uint64_t, uint64_t, T);         \
  template void dropout_identity<T>(T*, const T*, int64_t);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
