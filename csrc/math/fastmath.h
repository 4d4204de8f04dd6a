// Vectorizable float transcendentals: exp, expm1, log, log1p, tanh, erf.
//
// Every float function here is branch-free straight-line code (range reduction by bit tricks,
// a polynomial, selects instead of branches), so GCC vectorizes a loop that calls it for SSE2,
// AVX2 and AVX-512 alike. Bits move between float and int with __builtin_bit_cast (no memcpy,
// no unions). Special values follow C99/IEEE: NaN in -> NaN out, +-inf and overflow/underflow
// saturate as std:: does. Accuracy (max error over all floats of the stated range, measured
// against float64 by tests/test_activation.py::test_fastmath_ulp through _native._fastmath):
//   exp    <= 1 ulp       (normal results; subnormal results within 1 ulp of the subnormal grid)
//   expm1  <= 2 ulp       log <= 1 ulp       log1p <= 2 ulp
//   tanh   <= 3 ulp       erf <= 7 ulp (about 4e-7 absolute near |x| = 3; <= 2 ulp for |x| < 1.5)
// The double overloads call std:: (float64 is the checking path; it need not be fast).
//
// Tag dispatch lets one formula serve both the plain reference loops and the fast ones:
// fm::exp(fm::Std{}, x) is std::exp, fm::exp(fm::Fast{}, x) is the float code below (std:: for
// double). Formulas in math/<family>.h take the tag as a template parameter.
//
// No -ffast-math is assumed or wanted: the polynomial evaluation order is written out and the
// round-to-nearest trick (x + 1.5*2^23) relies on IEEE rounding.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/common.h"

namespace pb::fm {

struct Std {};   // std:: functions: the naive / reference loops
struct Fast {};  // vectorizable float code below; std:: for double

#if defined(__CUDA_ARCH__)
// On the GPU the CUDA math library is both vectorized (per thread) and accurate: use it.
PB_INLINE float exp(float x) { return ::expf(x); }
PB_INLINE float expm1(float x) { return ::expm1f(x); }
PB_INLINE float log(float x) { return ::logf(x); }
PB_INLINE float log1p(float x) { return ::log1pf(x); }
PB_INLINE float tanh(float x) { return ::tanhf(x); }
PB_INLINE float erf(float x) { return ::erff(x); }
#else

PB_INLINE uint32_t f2u(float f) { return __builtin_bit_cast(uint32_t, f); }
PB_INLINE float u2f(uint32_t u) { return __builtin_bit_cast(float, u); }

// Clamps written so that a NaN compares false and passes through unchanged.
PB_INLINE float clamp_hi(float x, float hi) { return x > hi ? hi : x; }
PB_INLINE float clamp_lo(float x, float lo) { return x < lo ? lo : x; }
PB_INLINE float fabs_(float x) { return u2f(f2u(x) & 0x7fffffffu); }
PB_INLINE float copysign_(float mag, float sgn) {
  return u2f((f2u(mag) & 0x7fffffffu) | (f2u(sgn) & 0x80000000u));
}

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;       // ln 2 = kLn2Hi + kLn2Lo (Cody-Waite; kLn2Hi has 9 bits,
constexpr float kLn2Lo = -2.12194440e-4f;    // so n * kLn2Hi is exact for |n| < 2^15)
constexpr float kRoundMagic = 12582912.0f;   // 1.5 * 2^23: x + magic rounds x to an integer
constexpr float kNaN = __builtin_nanf("");
constexpr float kInf = __builtin_inff();

// 2^n for an integer n in [-126, 127], assembled in the exponent field (unsigned math: no UB
// for the garbage n a NaN input produces; that lane's result is NaN anyway).
PB_INLINE float pow2i(uint32_t n) { return u2f((n + 127u) << 23); }

// x = n ln2 + r with n = round(x / ln2) and |r| <= ln2/2 (+ rounding). Returns r, n via `n`.
PB_INLINE float exp_reduce(float x, uint32_t& n) {
  const float t = x * kLog2e + kRoundMagic;  // n in the low mantissa bits of t
  const float nf = t - kRoundMagic;
  n = f2u(t) - f2u(kRoundMagic);
  float r = x - nf * kLn2Hi;
  return r - nf * kLn2Lo;
}

// e^r - 1 for |r| <= ln2/2 (Cephes expf polynomial: e^r = 1 + r + r^2 P(r)), relative error ~1e-7.
PB_INLINE float expm1_reduced(float r) {
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return (r * r) * p + r;
}

// e^x. Inputs clamped to [-104, 89] (beyond: exactly 0 / +inf after scaling); 2^n is applied as
// two normal factors 2^(n/2) * 2^(n - n/2), so results near FLT_MAX and subnormal results are
// rounded once, correctly.
PB_INLINE float exp(float x) {
  const float xc = clamp_lo(clamp_hi(x, 89.0f), -104.0f);
  uint32_t n;
  const float r = exp_reduce(xc, n);
  const float p = expm1_reduced(r) + 1.0f;
  const uint32_t n1 = static_cast<uint32_t>(static_cast<int32_t>(n) >> 1), n2 = n - n1;
  return (p * pow2i(n1)) * pow2i(n2);
}

// e^x - 1, accurate near 0 (no cancellation): 2^n (1 + em) - 1 = 2^n em + (2^n - 1).
PB_INLINE float expm1(float x) {
  const float xc = clamp_lo(clamp_hi(x, 89.0f), -40.0f);  // expm1(-40) rounds to -1
  uint32_t n;
  const float r = exp_reduce(xc, n);
  const float em = expm1_reduced(r);
  const float s = pow2i(n);                                   // n in [-58, 128]; 128 -> inf,
  const float small = s * em + (s - 1.0f);                    // so large n takes `big`
  const float big = ((em + 1.0f) * pow2i(n - 64u)) * 1.8446744e19f;  // 2^64
  return static_cast<int32_t>(n) > 100 ? big : small;
}

// log(m) - f for m = 1 + f in [sqrt(1/2), sqrt(2)): Cephes logf polynomial,
// log(1+f) = f - f^2/2 + f^3 P(f).
PB_INLINE float log_poly(float f) {
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  const float z = f * f;
  return f * z * p - 0.5f * z;
}

// w = m 2^e with m in [sqrt(1/2), sqrt(2)) for a normal positive w; returns m, e via `e`.
PB_INLINE float log_split(float w, float& e) {
  const uint32_t u = f2u(w) - 0x3f3504f3u;  // bits of sqrt(1/2)
  e = static_cast<float>(static_cast<int32_t>(u) >> 23);
  return u2f((u & 0x007fffffu) + 0x3f3504f3u);
}

// log(x) for every float (subnormals scaled up by 2^23 first); log(0) = -inf, log(<0) = NaN.
PB_INLINE float log(float x) {
  const bool sub = x < 1.17549435e-38f;
  const float xs = sub ? x * 8388608.0f : x;
  float e;
  const float m = log_split(xs, e);
  e = sub ? e - 23.0f : e;
  const float f = m - 1.0f;
  float r = f + (log_poly(f) + e * kLn2Lo);
  r = r + e * kLn2Hi;
  r = x == kInf ? kInf : r;
  r = x == 0.0f ? -kInf : r;
  return x >= 0.0f ? r : kNaN;  // negative or NaN
}

// log(1 + u): w = 1 + u rounded, corrected by the rounding error (u - (w - 1)) / w.
PB_INLINE float log1p(float u) {
  const float w = 1.0f + u;  // normal or 0 for every u >= -1
  float e;
  const float m = log_split(w, e);
  const float c = (u - (w - 1.0f)) / w;
  const float f = m - 1.0f;
  float r = f + (log_poly(f) + (e * kLn2Lo + c));
  r = r + e * kLn2Hi;
  r = w == kInf ? kInf : r;
  r = w == 0.0f ? -kInf : r;
  return w >= 0.0f ? r : (u != u ? u : kNaN);
}

// tanh: odd polynomial for |x| < 0.625 (Cephes tanhf), else 1 - 2 / (e^{2|x|} + 1) with the sign.
PB_INLINE float tanh(float x) {
  const float ax = fabs_(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = (p * z) * x + x;
  const float large = copysign_(1.0f - 2.0f / (exp(2.0f * ax) + 1.0f), x);
  return ax < 0.625f ? small : large;
}

// erf: x P(x^2) / Q(x^2) on |x| <= 4 (a rational minimax fit made for pybench: relative error
// 2.5e-8 in exact arithmetic), clamped to [-1, 1]; |erf(x)| rounds to 1 beyond |x| = 3.92.
PB_INLINE float erf(float x) {
  const float xc = clamp_lo(clamp_hi(x, 4.0f), -4.0f);
  const float u = xc * xc;
  float p = 1.9867967536043793e-06f;
  p = p * u + 2.8456297947277776e-04f;
  p = p * u + 3.8832329684285283e-03f;
  p = p * u + 5.3101404843191750e-02f;
  p = p * u + 1.9354253000083990e-01f;
  p = p * u + 1.1283791394527063e+00f;
  float q = 3.7420170239091932e-05f;
  q = q * u + 1.1855433562462444e-03f;
  q = q * u + 1.5207030384864593e-02f;
  q = q * u + 1.1534894701888279e-01f;
  q = q * u + 5.0485515805882908e-01f;
  q = q * u + 1.0f;
  return clamp_lo(clamp_hi((xc * p) / q, 1.0f), -1.0f);
}
#endif  // __CUDA_ARCH__

// float64: std:: (also the device path for CUDA, where std:: maps to the CUDA math library).
PB_INLINE double exp(double x) { return std::exp(x); }
PB_INLINE double expm1(double x) { return std::expm1(x); }
PB_INLINE double log(double x) { return std::log(x); }
PB_INLINE double log1p(double x) { return std::log1p(x); }
PB_INLINE double tanh(double x) { return std::tanh(x); }
PB_INLINE double erf(double x) { return std::erf(x); }

// Tag-dispatched forms used by templated formulas: Std -> std::, Fast -> the overloads above.
#define PB_FM_DISPATCH(name)                                                       \
  template <class T> PB_INLINE T name(Std, T x) { return std::name(x); }          \
  template <class T> PB_INLINE T name(Fast, T x) { return ::pb::fm::name(x); }
PB_FM_DISPATCH(exp)
PB_FM_DISPATCH(expm1)
PB_FM_DISPATCH(log)
PB_FM_DISPATCH(log1p)
PB_FM_DISPATCH(tanh)
PB_FM_DISPATCH(erf)
#undef PB_FM_DISPATCH

}  // namespace pb::fm
