// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random
// numbers: as easy as 1, 2, 3" (SC11), as in Random123's philox.h. One call maps a 128-bit
// counter and a 64-bit key to 128 random bits; no state, so any element of a stream can be
// computed on its own (any thread, any backend). Written once here for the CPU loops and the
// CUDA kernels.
//
// Checked against Random123's tests/kat_vectors (tests/test_dropout.py):
//   ctr 0 0 0 0, key 0 0                  -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8
//   ctr ffffffff x4, key ffffffff x2      -> 408f276d 41c83b0e a20bc7c6 6d5451fd
//   ctr 243f6a88 85a308d3 13198a2e 03707344, key a4093822 299f31d0
//                                         -> d16cfe09 94fdcceb 5001e420 24126ea1
#pragma once
#include <cstdint>

#include "core/common.h"

namespace pb::math {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;  // round multipliers
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // key bumps (golden ratio, sqrt(3) - 1)
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;
constexpr int kPhiloxRounds = 10;

// One round: two 32x32->64 multiplies; the high halves are mixed with the other words and the
// key, the low halves move over.
PB_INLINE void philox4x32_round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c[0];
  const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c[2];
  const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0;
  const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1;
  c[1] = static_cast<uint32_t>(p1);
  c[3] = static_cast<uint32_t>(p0);
  c[0] = n0;
  c[2] = n2;
}

// out = Philox4x32-10(ctr, key). The key is bumped between rounds (10 rounds, 9 bumps).
PB_INLINE void philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]) {
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < kPhiloxRounds; ++r) {
    philox4x32_round(c, k0, k1);
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  out[0] = c[0];
  out[1] = c[1];
  out[2] = c[2];
  out[3] = c[3];
}

}  // namespace pb::math
