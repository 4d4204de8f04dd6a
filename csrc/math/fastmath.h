// Vectorizable float math: exp, expm1, log, log1p, log1p_01, tanh, erf, and a blend select().
//
// Every float function here is branch-free straight-line code (range reduction by bit tricks,
// a polynomial, blends instead of branches), so GCC vectorizes a loop that calls it for SSE2,
// AVX2 and AVX-512 alike (checked with -fopt-info-vec and objdump: the float loops of
// cpu/activation.cpp call no libm function). Bits move between float and int with
// __builtin_bit_cast (no memcpy, no unions). Special values follow C99: NaN in -> NaN out,
// +-inf, overflow and underflow saturate as std:: does, -0 is kept by the odd functions.
//
// Accuracy: max error against float64, measured on every 64th float of the range (by bit
// pattern), SSE2 / AVX2 / AVX-512 builds alike (tests/test_activation.py::test_fastmath_ulp
// asserts these bounds on a sample, through the _native._fastmath test hook):
//   exp   [-104, 89]     1.0 ulp (subnormal results: 1 ulp of the subnormal grid)
//   expm1 [-40, 89]      1.5 ulp      log   (0, FLT_MAX]   0.8 ulp
//   log1p (-1, FLT_MAX]  0.9 ulp      log1p_01 [0, 1]       2.0 ulp
//   tanh  [-10, 10]      2.5 ulp      erf   [-4.5, 4.5]    5.7 ulp (<= 3.5e-7 absolute)
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
PB_INLINE float log1p_01(float x) { return ::log1pf(x); }
template <class T> PB_INLINE T select(bool c, T a, T b) { return c ? a : b; }
#else

PB_INLINE uint32_t f2u(float f) { return __builtin_bit_cast(uint32_t, f); }
PB_INLINE float u2f(uint32_t u) { return __builtin_bit_cast(float, u); }

// c ? a : b as a bit blend. Every special-case fix-up below uses it instead of `?:`: GCC sinks
// the arithmetic of an arm used only under a condition into a branch, and with its default
// -ftrapping-math then refuses to if-convert a branch holding a division, leaving the whole
// loop scalar (fm::log1p inside softplus ran 15x slower that way). A blend is data flow.
PB_INLINE float select(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return u2f((f2u(a) & m) | (f2u(b) & ~m));
}
PB_INLINE double select(bool c, double a, double b) {
  const uint64_t m = 0u - static_cast<uint64_t>(c);
  return __builtin_bit_cast(double, (__builtin_bit_cast(uint64_t, a) & m) | (__builtin_bit_cast(uint64_t, b) & ~m));
}
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

// e^x. No clamp up front: x outside [-104, 89] gives garbage in the reduction that the final
// selects replace by +inf / 0 (a clamp to a constant lets GCC's jump threading duplicate the
// caller's arithmetic per clamped path: three divisions instead of one in sigmoid). 2^n is
// applied as two normal factors 2^(n/2) * 2^(n - n/2), so results near FLT_MAX and subnormal
// results are rounded once, correctly.
PB_INLINE float exp(float x) {
  uint32_t n;
  const float r = exp_reduce(x, n);
  const float p = expm1_reduced(r) + 1.0f;
  const uint32_t n1 = static_cast<uint32_t>(static_cast<int32_t>(n) >> 1), n2 = n - n1;
  float res = (p * pow2i(n1)) * pow2i(n2);
  res = select(x > 89.0f, kInf, res);
  return select(x < -104.0f, 0.0f, res);  // NaN: both false, res is NaN
}

// e^x - 1, accurate near 0 (no cancellation): 2^n (1 + em) - 1 = 2^n em + (2^n - 1).
PB_INLINE float expm1(float x) {
  uint32_t n;
  const float r = exp_reduce(x, n);
  const float em = expm1_reduced(r);
  const float s = pow2i(n);                                   // valid for n in [-126, 127];
  const float small = s * em + (s - 1.0f);                    // n = 128 takes `big`
  const float big = ((em + 1.0f) * pow2i(n - 64u)) * 1.8446744e19f;  // 2^64
  float res = select(static_cast<int32_t>(n) > 100, big, small);
  res = select(x > 89.0f, kInf, res);
  res = select(x == 0.0f, x, res);         // keeps -0
  return select(x < -40.0f, -1.0f, res);  // expm1(-40) rounds to -1
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
  const float xs = select(sub, x * 8388608.0f, x);
  float e;
  const float m = log_split(xs, e);
  e = select(sub, e - 23.0f, e);
  const float f = m - 1.0f;
  float r = f + (log_poly(f) + e * kLn2Lo);
  r = r + e * kLn2Hi;
  r = select(x == kInf, kInf, r);
  r = select(x == 0.0f, -kInf, r);
  return select(x >= 0.0f, r, x + kNaN);  // negative or NaN (x + NaN keeps a NaN's payload)
}

// log(1 + u): w = 1 + u rounded, corrected by its rounding error (u - (w - 1)) / w.
PB_INLINE float log1p(float u) {
  const float w = 1.0f + u;  // normal or 0 for every u >= -1
  float e;
  const float m = log_split(w, e);
  const float c = (u - (w - 1.0f)) / w;
  const float f = m - 1.0f;
  float r = f + (log_poly(f) + (e * kLn2Lo + c));
  r = r + e * kLn2Hi;
  r = select(w == kInf, kInf, r);
  r = select(w == 0.0f, -kInf, r);
  r = select(u == 0.0f, u, r);  // keeps -0
  return select(w >= 0.0f, r, u + kNaN);  // u < -1 or NaN
}

// log(1 + u) for u in [0, 1] only (e.g. u = e^-|z| in softplus), cheaper than log1p: 2 atanh(s)
// with s = u / (2 + u) in [0, 1/3], atanh(s) = s + s^3 g(s^2) (g: a minimax fit made for pybench,
// relative error 4.5e-9 in exact arithmetic). NaN -> NaN; outside [0, 1] not meaningful.
PB_INLINE float log1p_01(float u) {
  const float s = u / (2.0f + u);
  const float z = s * s;
  float p = 0.14004590082984816f;
  p = p * z + 0.14001256217746536f;
  p = p * z + 0.20010734971746505f;
  p = p * z + 0.3333320888147659f;
  const float s2 = s + s;
  return s2 + s2 * (z * p);
}

// tanh(x) = -t / (2 + t) with t = expm1(-2|x|) in (-1, 0], and the sign of x: one exponential
// reduction and one division, accurate near 0 because expm1 is.
PB_INLINE float tanh(float x) {
  const float y = -2.0f * fabs_(x);
  uint32_t n;
  const float r = exp_reduce(y, n);                 // n <= 0
  const float em = expm1_reduced(r);
  const float sc = pow2i(n);
  float t = sc * em + (sc - 1.0f);
  t = select(y < -40.0f, -1.0f, t);                 // tanh rounds to +-1 long before; also inf
  return copysign_(-t / (2.0f + t), x);             // NaN: y, t NaN -> NaN
}

// erf: x P(x^2) / Q(x^2) (a rational minimax fit made for pybench on |x| <= 4: relative error
// 2.5e-8 in exact arithmetic); |erf(x)| rounds to 1 beyond |x| = 3.925, where the select below
// returns +-1 (no clamp of x to a constant up front, for the reason given at exp).
PB_INLINE float erf(float x) {
  const float u = x * x;
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
  const float r = (x * p) / q;
  return select(fabs_(x) > 3.925f, copysign_(1.0f, x), r);
}
#endif  // __CUDA_ARCH__

// float64: std:: (also the device path for CUDA, where std:: maps to the CUDA math library).
PB_INLINE double exp(double x) { return std::exp(x); }
PB_INLINE double expm1(double x) { return std::expm1(x); }
PB_INLINE double log(double x) { return std::log(x); }
PB_INLINE double log1p(double x) { return std::log1p(x); }
PB_INLINE double tanh(double x) { return std::tanh(x); }
PB_INLINE double erf(double x) { return std::erf(x); }
PB_INLINE double log1p_01(double x) { return std::log1p(x); }

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
template <class T> PB_INLINE T log1p_01(Std, T x) { return std::log1p(x); }
template <class T> PB_INLINE T log1p_01(Fast, T x) { return ::pb::fm::log1p_01(x); }
#undef PB_FM_DISPATCH

}  // namespace pb::fm
