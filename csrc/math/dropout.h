// Dropout: the mask scheme and the formula, written once for the CPU loops, the CUDA kernels and
// (in NumPy) pybench/reference.py. The mask is a pure function of (seed, offset, element index):
// no thread count, SIMD width, launch shape or call history enters it.
//
//   element i of a call (flat C-order index), global index g = offset + i       (64-bit)
//   counter  = (lo32(g / 4), hi32(g / 4), 0, 0)      key = (lo32(seed), hi32(seed))
//   u        = Philox4x32-10(counter, key)[g % 4]    (one 32-bit word per element)
//   D        = floor(p * 2^32)  in [0, 2^32]        (p * 2^32 is exact in binary floating point)
//   keep     = u >= D           (a 64-bit compare: p = 0 keeps all, p = 1 keeps none)
//   y        = keep ? x * scale : 0,   scale = 1 / (1 - p) computed in double, rounded once to T
//   dx       = keep ? dy * scale : 0   (backward regenerates the mask; nothing is stored)
//
// So a call at offset k reproduces elements k, k+1, ... of the stream a call at offset 0 sees:
// consecutive calls (or the parts of a tensor) can share one stream by advancing `offset` by the
// number of elements used. The keep probability is 1 - D / 2^32, within 2^-32 of 1 - p.
// A dropped element is exactly 0 even when x is NaN or Inf (PyTorch multiplies by a zero mask,
// which gives NaN there); the gradient there is 0 in the same way.
#pragma once
#include <cstdint>

#include "core/common.h"
#include "math/philox.h"

namespace pb::math {

constexpr double kTwo32 = 4294967296.0;

// floor(p * 2^32) for p in [0, 1] (validated by the caller): exact, the same on every backend.
PB_INLINE uint64_t dropout_threshold(double p) {
  const double d = p * kTwo32;  // exact: scaling by a power of two
  return static_cast<uint64_t>(d);  // truncation == floor for d >= 0
}

PB_INLINE bool dropout_keep(uint32_t u, uint64_t threshold) { return static_cast<uint64_t>(u) >= threshold; }

template <class T> PB_INLINE T dropout_scale(double p) {
  return p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
}

PB_INLINE void dropout_key(uint32_t key[2], uint64_t seed) {
  key[0] = static_cast<uint32_t>(seed);
  key[1] = static_cast<uint32_t>(seed >> 32);
}

// The 32-bit random word of global element g (the plain statement of the scheme above).
PB_INLINE uint32_t dropout_bits(uint64_t seed, uint64_t g) {
  const uint64_t block = g >> 2;
  const uint32_t ctr[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0u, 0u};
  uint32_t key[2];
  dropout_key(key, seed);
  uint32_t out[4];
  philox4x32_10(out, ctr, key);
  return out[g & 3];
}

template <class T> PB_INLINE T dropout_apply(T x, bool keep, T scale) { return keep ? x * scale : T(0); }

}  // namespace pb::math
