// Vectorizable float math: exp, expm1, log, log1p, log1p_01, tanh, erf, and a blend select().
// Two codes with one set of polynomials: scalar float functions the compiler vectorizes for
// any ISA (below), and on AVX-512 builds the same functions on fm::V16 (16 lanes, explicit
// intrinsics: vscalefps, vgetexpps, vfixupimmps; see the section "AVX-512").
//
// Every float function here is branch-free straight-line code (range reduction by bit tricks,
// a polynomial, blends instead of branches), so GCC vectorizes a loop that calls it for SSE2,
// AVX2 and AVX-512 alike (checked with -fopt-info-vec and objdump: the float loops of
// cpu/activation.cpp and cpu/softmax.cpp call no libm function). Bits move between float and
// int with __builtin_bit_cast (no memcpy, no unions). Special values follow C99: NaN in -> NaN out,
// +-inf, overflow and underflow saturate as std:: does, -0 is kept by the odd functions.
//
// Accuracy (max ulp against float64 per function and range, both codes): the table in
// docs/kernels/activation.md; tests/test_activation.py::test_fastmath_ulp asserts its bounds.
// The polynomials are written once (templates over float and V16); the two codes differ only
// in range reduction, 2^n and special cases.
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

#if defined(__AVX512F__) && !defined(__CUDA_ARCH__)
#include <immintrin.h>
#endif

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
PB_INLINE float fabs_(float x) { return ::fabsf(x); }
PB_INLINE double fabs_(double x) { return ::fabs(x); }
template <class T> PB_INLINE T fma_(T a, T b, T c) { return a * b + c; }
template <class T> PB_INLINE T max0(T x) { return x < T(0) ? T(0) : x; }
#else

PB_INLINE uint32_t f2u(float f) { return __builtin_bit_cast(uint32_t, f); }
PB_INLINE float u2f(uint32_t u) { return __builtin_bit_cast(float, u); }

// c ? a : b as a bit blend, used by every special-case fix-up instead of `?:`: GCC sinks an arm's
// arithmetic into a branch and, with its default -ftrapping-math, will not if-convert a branch
// holding a division, leaving the whole loop scalar (docs/kernels/activation.md).
PB_INLINE float select(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return u2f((f2u(a) & m) | (f2u(b) & ~m));
}
PB_INLINE double select(bool c, double a, double b) {
  const uint64_t m = 0u - static_cast<uint64_t>(c);
  return __builtin_bit_cast(double, (__builtin_bit_cast(uint64_t, a) & m) | (__builtin_bit_cast(uint64_t, b) & ~m));
}
PB_INLINE float fabs_(float x) { return u2f(f2u(x) & 0x7fffffffu); }
PB_INLINE double fabs_(double x) { return __builtin_fabs(x); }
PB_INLINE float copysign_(float mag, float sgn) {
  return u2f((f2u(mag) & 0x7fffffffu) | (f2u(sgn) & 0x80000000u));
}
// a * b + c: one FMA where the ISA has it (GNU C++ contracts by default), else mul + add.
PB_INLINE float fma_(float a, float b, float c) { return a * b + c; }
PB_INLINE double fma_(double a, double b, double c) { return a * b + c; }
// x < 0 ? 0 : x (NaN and -0 pass through): relu; one vmaxps for V16.
PB_INLINE float max0(float x) { return select(x < 0.0f, 0.0f, x); }
PB_INLINE double max0(double x) { return select(x < 0.0, 0.0, x); }

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;       // ln 2 = kLn2Hi + kLn2Lo (Cody-Waite; kLn2Hi has 9 bits,
constexpr float kLn2Lo = -2.12194440e-4f;    // so n * kLn2Hi is exact for |n| < 2^15)
constexpr float kRoundMagic = 12582912.0f;   // 1.5 * 2^23: x + magic rounds x to an integer
constexpr float kNaN = __builtin_nanf("");
constexpr float kInf = __builtin_inff();

// ---- polynomials, written once for T = float (the scalar code) and T = V16 (AVX-512) ----------

// e^r = 1 + r + r^2 q(r) for |r| <= ln2/2: q a degree-4 fit made for pybench (relative error of
// e^r 3.1e-9 in exact arithmetic; one FMA fewer than Cephes' degree-7 expf polynomial).
template <class T> PB_INLINE T exp_q(T r) {
  T q = T(1.3814308913424611e-3f);
  q = fma_(q, r, T(8.3688562735915184e-3f));
  q = fma_(q, r, T(4.1668400168418884e-2f));
  q = fma_(q, r, T(1.6666519641876221e-1f));
  return fma_(q, r, T(4.9999994039535522e-1f));
}
template <class T> PB_INLINE T exp_poly(T r) { return fma_(fma_(exp_q(r), r, T(1.0f)), r, T(1.0f)); }  // e^r
template <class T> PB_INLINE T expm1_poly(T r) { return fma_(r * r, exp_q(r), r); }  // e^r - 1, accurate near 0

// log(m) - f for m = 1 + f in [sqrt(1/2), sqrt(2)): Cephes logf polynomial,
// log(1+f) = f - f^2/2 + f^3 P(f).
template <class T> PB_INLINE T log_poly(T f) {
  T p = T(7.0376836292e-2f);
  p = fma_(p, f, T(-1.1514610310e-1f));
  p = fma_(p, f, T(1.1676998740e-1f));
  p = fma_(p, f, T(-1.2420140846e-1f));
  p = fma_(p, f, T(1.4249322787e-1f));
  p = fma_(p, f, T(-1.6668057665e-1f));
  p = fma_(p, f, T(2.0000714765e-1f));
  p = fma_(p, f, T(-2.4999993993e-1f));
  p = fma_(p, f, T(3.3333331174e-1f));
  const T z = f * f;
  return fma_(f * z, p, T(-0.5f) * z);
}

// log(1 + u) for u in [0, 1]: 2 atanh(s) with s = u / (2 + u) in [0, 1/3], atanh(s) = s + s^3 g(s^2)
// (g: a minimax fit made for pybench, relative error 4.5e-9 in exact arithmetic).
template <class T> PB_INLINE T log1p_01_poly(T u) {
  const T s = u / (T(2.0f) + u);
  const T z = s * s;
  T p = T(0.14004590082984816f);
  p = fma_(p, z, T(0.14001256217746536f));
  p = fma_(p, z, T(0.20010734971746505f));
  p = fma_(p, z, T(0.3333320888147659f));
  const T s2 = s + s;
  return fma_(s2, z * p, s2);
}

// erf(x) = x P(x^2) / Q(x^2) for |x| <= 3.925 (a rational minimax fit made for pybench on |x| <= 4:
// relative error 2.5e-8 in exact arithmetic).
template <class T> PB_INLINE T erf_rational(T x) {
  const T u = x * x;
  T p = T(1.9867967536043793e-06f);
  p = fma_(p, u, T(2.8456297947277776e-04f));
  p = fma_(p, u, T(3.8832329684285283e-03f));
  p = fma_(p, u, T(5.3101404843191750e-02f));
  p = fma_(p, u, T(1.9354253000083990e-01f));
  p = fma_(p, u, T(1.1283791394527063e+00f));
  T q = T(3.7420170239091932e-05f);
  q = fma_(q, u, T(1.1855433562462444e-03f));
  q = fma_(q, u, T(1.5207030384864593e-02f));
  q = fma_(q, u, T(1.1534894701888279e-01f));
  q = fma_(q, u, T(5.0485515805882908e-01f));
  q = fma_(q, u, T(1.0f));
  return (x * p) / q;
}

// ---- float, scalar code (vectorized by the compiler for SSE2, AVX2 and AVX-512) ---------------

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

// e^x. No clamp up front: x outside [-104, 89] gives garbage in the reduction that the final
// selects replace by +inf / 0 (a clamp to a constant lets GCC's jump threading duplicate the
// caller's arithmetic per clamped path: three divisions instead of one in sigmoid). 2^n is
// applied as two normal factors 2^(n/2) * 2^(n - n/2), so results near FLT_MAX and subnormal
// results are rounded once, correctly.
PB_INLINE float exp(float x) {
  uint32_t n;
  const float r = exp_reduce(x, n);
  const float p = exp_poly(r);
  const uint32_t n1 = static_cast<uint32_t>(static_cast<int32_t>(n) >> 1), n2 = n - n1;
  float res = (p * pow2i(n1)) * pow2i(n2);
  res = select(x > 89.0f, kInf, res);
  return select(x < -104.0f, 0.0f, res);  // NaN: both false, res is NaN
}

// e^x - 1, accurate near 0 (no cancellation): 2^n (1 + em) - 1 = 2^n em + (2^n - 1).
PB_INLINE float expm1(float x) {
  uint32_t n;
  const float r = exp_reduce(x, n);
  const float em = expm1_poly(r);
  const float s = pow2i(n);                                   // valid for n in [-126, 127];
  const float small = s * em + (s - 1.0f);                    // n = 128 takes `big`
  const float big = ((em + 1.0f) * pow2i(n - 64u)) * 1.8446744e19f;  // 2^64
  float res = select(static_cast<int32_t>(n) > 100, big, small);
  res = select(x > 89.0f, kInf, res);
  res = select(x == 0.0f, x, res);         // keeps -0
  return select(x < -40.0f, -1.0f, res);  // expm1(-40) rounds to -1
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

// log(1 + u) for u in [0, 1] only (e.g. u = e^-|z| in softplus), cheaper than log1p (see
// log1p_01_poly). NaN -> NaN; outside [0, 1] not meaningful.
PB_INLINE float log1p_01(float u) { return log1p_01_poly(u); }

// tanh(x) = -t / (2 + t) with t = expm1(-2|x|) in (-1, 0], and the sign of x: one exponential
// reduction and one division, accurate near 0 because expm1 is.
PB_INLINE float tanh(float x) {
  const float y = -2.0f * fabs_(x);
  uint32_t n;
  const float r = exp_reduce(y, n);                 // n <= 0
  const float em = expm1_poly(r);
  const float sc = pow2i(n);
  float t = sc * em + (sc - 1.0f);
  t = select(y < -40.0f, -1.0f, t);                 // tanh rounds to +-1 long before; also inf
  return copysign_(-t / (2.0f + t), x);             // NaN: y, t NaN -> NaN
}

// erf: |erf(x)| rounds to 1 beyond |x| = 3.925, where the select returns +-1 (no clamp of x to a
// constant up front, for the reason given at exp).
PB_INLINE float erf(float x) { return select(fabs_(x) > 3.925f, copysign_(1.0f, x), erf_rational(x)); }

#if defined(__AVX512F__)
// ---- AVX-512: 16 floats at a time ------------------------------------------------------------
// V16 holds 16 floats in a zmm register with the operators the formulas of math/<family>.h use
// (T(c) broadcasts, + - * /, comparisons giving an M16 lane mask, fm::select), so one formula
// serves the scalar loops and the explicit AVX-512 loops (cpu/elementwise.h map*_simd). The
// functions below are the float ones above rewritten with the instructions GCC does not emit
// from scalar code: vscalefps applies 2^n with correct overflow, underflow and subnormal
// rounding (no two-factor split, no blends), vrndscaleps rounds, vgetexpps / vgetmantps split
// a float into exponent and mantissa (subnormals included), vfixupimmps maps the special
// classes (0, inf, negative, NaN) to their results in one instruction. Accuracy, cost and the
// variants tried (vrcp14ps division, exponent-add 2^n): docs/kernels/activation.md.
// Only the avx512 build of csrc/cpu sees this type.
struct M16 {
  __mmask16 k;
};
// vmaxps, vminps, vrndscaleps, vscalefps, vgetexpps, vgetmantps through their masked forms with
// an all-ones mask and a defined source: the same instruction, without GCC 12's false
// -Wmaybe-uninitialized on the unmasked intrinsics' _mm512_undefined_ps (GCC bug 105593).
constexpr __mmask16 kAll16 = 0xffff;
PB_INLINE __m512 vmax_(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, kAll16, a, b); }
PB_INLINE __m512 vmin_(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, kAll16, a, b); }
PB_INLINE __m512 vround_(__m512 a) {
  return _mm512_mask_roundscale_ps(a, kAll16, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
PB_INLINE __m512 vscalef_(__m512 a, __m512 n) { return _mm512_mask_scalef_ps(a, kAll16, a, n); }
PB_INLINE __m512 vgetexp_(__m512 a) { return _mm512_mask_getexp_ps(a, kAll16, a); }
PB_INLINE __m512 vgetmant12_(__m512 a) {  // mantissa in [1, 2), sign of a
  return _mm512_mask_getmant_ps(a, kAll16, a, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
}
struct V16 {
  __m512 v;
  V16() = default;
  __attribute__((always_inline)) V16(__m512 a) : v(a) {}
  __attribute__((always_inline)) explicit V16(float a) : v(_mm512_set1_ps(a)) {}
  __attribute__((always_inline)) explicit V16(double a) : v(_mm512_set1_ps(static_cast<float>(a))) {}
  __attribute__((always_inline)) explicit V16(int a) : v(_mm512_set1_ps(static_cast<float>(a))) {}
};
PB_INLINE V16 operator+(V16 a, V16 b) { return _mm512_add_ps(a.v, b.v); }
PB_INLINE V16 operator-(V16 a, V16 b) { return _mm512_sub_ps(a.v, b.v); }
PB_INLINE V16 operator*(V16 a, V16 b) { return _mm512_mul_ps(a.v, b.v); }
PB_INLINE V16 operator/(V16 a, V16 b) { return _mm512_div_ps(a.v, b.v); }
PB_INLINE V16 operator-(V16 a) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(INT32_MIN)));
}
// Ordered, quiet comparisons: false when either side is NaN, as the scalar operators.
PB_INLINE M16 operator<(V16 a, V16 b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ)}; }
PB_INLINE M16 operator<=(V16 a, V16 b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ)}; }
PB_INLINE M16 operator>(V16 a, V16 b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
PB_INLINE M16 operator>=(V16 a, V16 b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ)}; }
PB_INLINE M16 operator==(V16 a, V16 b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ)}; }
PB_INLINE V16 select(M16 c, V16 a, V16 b) { return _mm512_mask_blend_ps(c.k, b.v, a.v); }
PB_INLINE V16 fabs_(V16 x) { return _mm512_abs_ps(x.v); }
PB_INLINE V16 copysign_(V16 mag, V16 sgn) {  // bit select: sign of sgn, the rest of mag
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_set1_epi32(INT32_MIN), _mm512_castps_si512(sgn.v),
                                                       _mm512_castps_si512(mag.v), 0xca));
}
PB_INLINE V16 fma_(V16 a, V16 b, V16 c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }  // a * b + c, one rounding
// max(+0, x) returns x when x is NaN and when both are zeros (vmaxps: the second operand), so
// NaN and -0 pass through as in the scalar max0.
PB_INLINE V16 max0(V16 x) { return vmax_(_mm512_setzero_ps(), x.v); }

// x clamped to [lo, hi]; a NaN x stays NaN (vmaxps / vminps return their second operand then).
PB_INLINE V16 clamp_(V16 x, float lo, float hi) {
  return vmin_(_mm512_set1_ps(hi), vmax_(_mm512_set1_ps(lo), x.v));
}

// x = n ln2 + r, n = round(x / ln2) (as a float), |r| <= ln2/2 (+ rounding); x finite.
PB_INLINE V16 exp_reduce(V16 x, V16& n) {
  n = vround_(_mm512_mul_ps(x.v, _mm512_set1_ps(kLog2e)));
  const __m512 r = _mm512_fnmadd_ps(n.v, _mm512_set1_ps(kLn2Hi), x.v);
  return _mm512_fnmadd_ps(n.v, _mm512_set1_ps(kLn2Lo), r);
}
// e^x: x clamped to [-104, 89] (beyond, e^x rounds to 0 / overflows to inf either way; the clamp
// keeps inf - inf out of the reduction), 2^n applied by vscalefps.
PB_INLINE V16 exp(V16 x) {
  V16 n;
  const V16 r = exp_reduce(clamp_(x, -104.0f, 89.0f), n);
  return vscalef_(exp_poly(r).v, n.v);
}

// e^x - 1 = 2 (2^(n-1) em + (2^(n-1) - 1/2)): 2^(n-1) is finite for every n <= 128, and exact.
PB_INLINE V16 expm1(V16 x) {
  V16 n;
  const V16 r = exp_reduce(clamp_(x, -104.0f, 89.0f), n);
  const V16 em = expm1_poly(r);
  const V16 s = vscalef_(_mm512_set1_ps(0.5f), n.v);
  const V16 h = fma_(s, em, s - V16(0.5f));
  return select(x == V16(0.0f), x, h + h);  // keeps -0
}

// Specials of log-like functions in one vfixupimmps, by the class of w: NaN -> NaN (its payload),
// +-0 -> -inf, +1 -> r (kept), -inf and negatives -> NaN, +inf -> +inf, positives -> r.
// (Token per class, 4 bits each from class 0: QNaN 2, SNaN 2, zero 4, +1 0, -inf 3, +inf 5,
// negative 3, positive 0; tokens: 0 keep, 2 QNaN(w), 3 default NaN, 4 -inf, 5 +inf.)
PB_INLINE V16 log_fixup(V16 r, V16 w) { return _mm512_fixupimm_ps(r.v, w.v, _mm512_set1_epi32(0x03530422), 0); }

// w = m 2^e, m in [sqrt(1/2), sqrt(2)), for w > 0 (subnormals included: vgetexp/vgetmant see them).
PB_INLINE V16 log_split(V16 w, V16& e) {
  __m512 m = vgetmant12_(w.v);  // [1, 2)
  __m512 ex = vgetexp_(w.v);
  const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
  m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
  e = _mm512_mask_add_ps(ex, big, ex, _mm512_set1_ps(1.0f));
  return m;
}
PB_INLINE V16 log(V16 x) {
  V16 e;
  const V16 f = log_split(x, e) - V16(1.0f);
  V16 r = f + fma_(e, V16(kLn2Lo), log_poly(f));
  r = fma_(e, V16(kLn2Hi), r);
  return log_fixup(r, x);
}

PB_INLINE V16 log1p(V16 u) {
  const V16 w = V16(1.0f) + u;
  V16 e;
  const V16 f = log_split(w, e) - V16(1.0f);
  const V16 c = (u - (w - V16(1.0f))) / w;  // rounding error of w, relative
  V16 r = f + (log_poly(f) + fma_(e, V16(kLn2Lo), c));
  r = fma_(e, V16(kLn2Hi), r);
  r = select(u == V16(0.0f), u, r);  // keeps -0
  return log_fixup(r, w);
}

PB_INLINE V16 log1p_01(V16 u) { return log1p_01_poly(u); }

// tanh(x) = -t / (2 + t) = t / (-2 - t), t = expm1(-2|x|) in (-1, 0], with the sign of x. -2|x|
// is clamped at -104 (tanh is +-1 long before), so 2^n = vscalefps(1, n) is never above 1.
PB_INLINE V16 tanh(V16 x) {
  const V16 y = vmax_(_mm512_set1_ps(-104.0f), (V16(-2.0f) * fabs_(x)).v);
  V16 n;
  const V16 em = expm1_poly(exp_reduce(y, n));
  const V16 s = vscalef_(_mm512_set1_ps(1.0f), n.v);
  const V16 t = fma_(s, em, s - V16(1.0f));
  return copysign_(t / (V16(-2.0f) - t), x);
}

PB_INLINE V16 erf(V16 x) { return select(fabs_(x) > V16(3.925f), copysign_(V16(1.0f), x), erf_rational(x)); }
#endif  // __AVX512F__
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
