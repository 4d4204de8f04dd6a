// Activation formulas, written once for the CPU loops (csrc/cpu) and the CUDA kernels (csrc/cuda).
//
// Selects use fm::select, never `?:`: GCC sinks an arm's arithmetic into a branch and, with its
// default -ftrapping-math, will not if-convert (and so not vectorize) a branch holding a division
// (see math/fastmath.h); and T may be fm::V16 (16 floats, the AVX-512 loops), whose comparisons
// give a lane mask that only fm::select takes.
//
// Each formula takes a math tag M (fm::Std: std:: functions, the naive loops; fm::Fast: the
// vectorizable float code of math/fastmath.h) and follows PyTorch's CPU kernels, including what
// they do with NaN (comparisons are written so a NaN input lands where PyTorch puts it).
// Where PyTorch's own formula overflows to NaN/inf for a finite input (softplus with a
// threshold above ~88, its backward), the stable form here gives the mathematically right value.
#pragma once
#include <cmath>
#include <cstdint>
#include "core/common.h"
#include "math/fastmath.h"

namespace pb::math {

// relu: `x < 0 ? 0 : x` (not `x > 0 ? x : 0`) so that NaN propagates, as in PyTorch.
// Backward as PyTorch's threshold_backward: dx = x <= 0 ? 0 : dy (a NaN x passes dy through).
template <class T> PB_INLINE T relu(T x) { return fm::max0(x); }
template <class T> PB_INLINE T relu_grad(T dy, T x) { return fm::select(x <= T(0), T(0), dy); }

// leaky_relu: x > 0 ? x : x * slope (NaN: NaN * slope = NaN); backward x > 0 ? dy : dy * slope.
template <class T> PB_INLINE T leaky_relu(T x, T slope) { return fm::select(x > T(0), x, x * slope); }
template <class T> PB_INLINE T leaky_relu_grad(T dy, T x, T slope) { return fm::select(x > T(0), dy, dy * slope); }

// elu: x <= 0 ? alpha * expm1(x) : x; backward x > 0 ? dy : dy * alpha * exp(x), so a NaN x gives
// NaN (as PyTorch's float64 kernel; its float32 kernel passes dy through).
template <class M, class T> PB_INLINE T elu(T x, T alpha) {
  const T neg = alpha * fm::expm1(M{}, x);
  return fm::select(x <= T(0), neg, x);
}
template <class M, class T> PB_INLINE T elu_grad(T dy, T x, T alpha) {
  const T neg = dy * (alpha * fm::exp(M{}, x));
  return fm::select(x > T(0), dy, neg);
}

// sigmoid = 1 / (1 + e^-x): e^-x overflows to inf for x < -88 (float) and gives exactly 0, never NaN.
// Backward: s (1 - s) = e / (1 + e)^2 with e = e^-|x| (PyTorch's (1 - s) s cancels for large |x|).
template <class M, class T> PB_INLINE T sigmoid(T x) { return T(1) / (T(1) + fm::exp(M{}, -x)); }
template <class M, class T> PB_INLINE T sigmoid_slope(T x) {  // s (1 - s), accurate for any x
  const T e = fm::exp(M{}, -fm::fabs_(x));
  const T r = T(1) / (T(1) + e);
  return e * r * r;
}
template <class M, class T> PB_INLINE T sigmoid_grad(T dy, T x) { return dy * sigmoid_slope<M>(x); }

// tanh; backward 1 - tanh^2 = 4 e / (1 + e)^2 with e = e^{-2|x|} (no cancellation near |t| = 1).
template <class M, class T> PB_INLINE T tanh(T x) { return fm::tanh(M{}, x); }
template <class M, class T> PB_INLINE T tanh_grad(T dy, T x) {
  return dy * (T(4) * sigmoid_slope<M>(T(2) * x));
}

// silu = x * sigmoid(x) = x / (1 + e^-x); backward dy (s + x s (1 - s)).
template <class M, class T> PB_INLINE T silu(T x) { return x / (T(1) + fm::exp(M{}, -x)); }
template <class M, class T> PB_INLINE T silu_grad(T dy, T x) {
  const T e = fm::exp(M{}, -fm::fabs_(x));
  const T r = T(1) / (T(1) + e);
  const T s = fm::select(x < T(0), e * r, r);  // sigmoid(x) from the same e
  return dy * (s + x * (e * r * r));
}

// hardswish = x * min(max(x + 3, 0), 6) / 6 (PyTorch's order; NaN propagates); backward as
// PyTorch's: 0 to -3, dy from 3 on, dy (x / 3 + 1/2) between; NaN x: NaN (its vector loop).
template <class T> PB_INLINE T hardswish(T x) {
  const T r = fm::max0(x + T(3));
  return x * fm::select(r > T(6), T(6), r) / T(6);
}
template <class T> PB_INLINE T hardswish_grad(T dy, T x) {
  const T mid = dy * (x / T(3) + T(0.5));
  return fm::select(x <= T(-3), T(0), fm::select(x >= T(3), dy, mid));
}

// gelu, approximate='none': x/2 (1 + erf(x / sqrt 2)); backward dy (cdf + x pdf).
constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
template <class M, class T> PB_INLINE T gelu(T x) {
  return x * T(0.5) * (T(1) + fm::erf(M{}, x * T(kSqrt1_2)));
}
template <class M, class T> PB_INLINE T gelu_grad(T dy, T x) {
  const T cdf = T(0.5) * (T(1) + fm::erf(M{}, x * T(kSqrt1_2)));
  const T pdf = T(kInvSqrt2Pi) * fm::exp(M{}, T(-0.5) * x * x);
  return dy * (cdf + x * pdf);
}

// gelu, approximate='tanh': x/2 (1 + tanh(k)), k = sqrt(2/pi) (x + 0.044715 x^3), computed as
// x * sigmoid(2k) (the same function: (1 + tanh k) / 2 = sigmoid(2k)), one exp and one division,
// and without PyTorch's cancellation in 1 + tanh k for negative x. Backward with s = sigmoid(2k):
// d/dx = s + x s (1 - s) * 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2), i.e. PyTorch's
// 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 kappa x^2) with t = 2s - 1.
constexpr double kGeluBeta = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluKappa = 0.044715;
// 2k is computed as x (2 sqrt(2/pi) + 2 sqrt(2/pi) 0.044715 x^2): one FMA and one multiply.
template <class M, class T> PB_INLINE T gelu_tanh(T x) {
  const T minus_k2 = x * fm::fma_(x * x, T(-2 * kGeluBeta * kGeluKappa), T(-2 * kGeluBeta));
  return x / (T(1) + fm::exp(M{}, minus_k2));
}
template <class M, class T> PB_INLINE T gelu_tanh_grad(T dy, T x) {
  const T x2 = x * x;
  const T k2 = x * fm::fma_(x2, T(2 * kGeluBeta * kGeluKappa), T(2 * kGeluBeta));
  const T e = fm::exp(M{}, -fm::fabs_(k2));
  const T r = T(1) / (T(1) + e);
  const T s = fm::select(k2 < T(0), e * r, r);  // sigmoid(2k); s (1 - s) = e r^2
  const T dk2 = fm::fma_(x2, T(6 * kGeluBeta * kGeluKappa), T(2 * kGeluBeta));
  return dy * (s + x * (e * r * r) * dk2);
}

// softplus: x beta > threshold ? x : log(1 + e^{x beta}) / beta (times 1/beta, exact for beta = 1), the log term in the stable form
// max(z, 0) + log1p(e^-|z|) (PyTorch's log1p(exp(z)) overflows for z > 88 in float when the
// threshold allows it); backward dy * sigmoid(x beta) (PyTorch's z/(z+1) form gives NaN there).
template <class M, class T> PB_INLINE T softplus(T x, T beta, T threshold) {
  const T z = x * beta;
  const T az = fm::fabs_(z);  // NaN stays NaN
  const T pos = fm::max0(z);
  const T soft = (pos + fm::log1p_01(M{}, fm::exp(M{}, -az))) * (T(1) / beta);  // 1/beta: hoisted
  return fm::select(z > threshold, x, soft);
}
template <class M, class T> PB_INLINE T softplus_grad(T dy, T x, T beta, T threshold) {
  const T z = x * beta;
  const T soft = dy * sigmoid<M>(z);
  return fm::select(z > threshold, dy, soft);
}

// ---- the element-wise activations, by name -------------------------------------------------
// Adding one: its formula above, an entry in Act, a tag and a line in visit_act; the loops of
// csrc/cpu/activation.cpp and csrc/cuda/activation.cu name no activation.
enum class Act { relu, leaky_relu, elu, gelu, gelu_tanh, sigmoid, tanh, silu, hardswish, softplus };
// a: negative_slope (leaky_relu), alpha (elu), beta (softplus); b: threshold (softplus).
template <class T> struct ActParams {
  T a = T(0), b = T(0);
};

// One tag per Act: fwd<M>(x, a, b) and grad<M>(dy, x, a, b) with the parameters in x's type
// (broadcast for fm::V16). kUnitA: a loop may pass a == 1 as the constant 1 (exact, and the
// multiplications by it fold away).
namespace act {
struct Tag {
  static constexpr bool kUnitA = false;
};
struct Relu : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T, T) { return relu(x); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T, T) { return relu_grad(dy, x); }
};
struct LeakyRelu : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T a, T) { return leaky_relu(x, a); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T a, T) { return leaky_relu_grad(dy, x, a); }
};
struct Elu : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T a, T) { return elu<M>(x, a); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T a, T) { return elu_grad<M>(dy, x, a); }
};
struct Gelu : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T, T) { return gelu<M>(x); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T, T) { return gelu_grad<M>(dy, x); }
};
struct GeluTanh : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T, T) { return gelu_tanh<M>(x); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T, T) { return gelu_tanh_grad<M>(dy, x); }
};
struct Sigmoid : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T, T) { return sigmoid<M>(x); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T, T) { return sigmoid_grad<M>(dy, x); }
};
struct Tanh : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T, T) { return tanh<M>(x); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T, T) { return tanh_grad<M>(dy, x); }
};
struct Silu : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T, T) { return silu<M>(x); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T, T) { return silu_grad<M>(dy, x); }
};
struct Hardswish : Tag {
  template <class M, class T> PB_INLINE T fwd(T x, T, T) { return hardswish(x); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T, T) { return hardswish_grad(dy, x); }
};
struct Softplus : Tag {
  static constexpr bool kUnitA = true;  // beta = 1, the default
  template <class M, class T> PB_INLINE T fwd(T x, T a, T b) { return softplus<M>(x, a, b); }
  template <class M, class T> PB_INLINE T grad(T dy, T x, T a, T b) { return softplus_grad<M>(dy, x, a, b); }
};
}  // namespace act

// f(tag) for the tag of `which`, once per call (outside the loops): each activation gets its own
// instantiation of the loop f runs. Softplus is returned after the switch so every path returns
// (no default: -Wswitch still names an Act missing here).
template <class F> PB_INLINE decltype(auto) visit_act(Act which, F&& f) {
  switch (which) {
    case Act::relu: return f(act::Relu{});
    case Act::leaky_relu: return f(act::LeakyRelu{});
    case Act::elu: return f(act::Elu{});
    case Act::gelu: return f(act::Gelu{});
    case Act::gelu_tanh: return f(act::GeluTanh{});
    case Act::sigmoid: return f(act::Sigmoid{});
    case Act::tanh: return f(act::Tanh{});
    case Act::silu: return f(act::Silu{});
    case Act::hardswish: return f(act::Hardswish{});
    case Act::softplus: break;
  }
  return f(act::Softplus{});
}

// softmax / log_softmax over a row, per element, given the row's max m and s = sum exp(x - m):
// softmax y = exp(x - m) * (1 / s) (e = exp(x - m) passed in), log_softmax y = (x - m) - log(s)
// ((x - m) first: exact, as PyTorch). Backward with the forward output y: softmax
// dx = y (dy - sum(dy y)), log_softmax dx = dy - exp(y) sum(dy).
template <class T> PB_INLINE T softmax_out(T e, T inv_s) { return e * inv_s; }
template <class T> PB_INLINE T log_softmax_out(T x, T m, T log_s) { return (x - m) - log_s; }
template <class T> PB_INLINE T softmax_grad(T dy, T y, T sum_dy_y) { return y * (dy - sum_dy_y); }
template <class M, class T> PB_INLINE T log_softmax_grad(T dy, T y, T sum_dy) {
  return dy - fm::exp(M{}, y) * sum_dy;
}

// One row, plainly: the naive kernels of the CPU (a loop over rows) and of CUDA (a thread per
// row) both run these. Sums in double: a float32 running sum of 10^4 terms loses ~1e-5. The max
// skips NaN, which is harmless: a NaN makes s NaN and so the whole row NaN, as in PyTorch; a row
// of -inf or one holding +inf gives NaN from inf - inf, as PyTorch.
template <class T> PB_INLINE void softmax_row_naive(T* y, const T* x, int64_t cols, bool log) {
  T m = -T(INFINITY);
  for (int64_t j = 0; j < cols; ++j) m = x[j] > m ? x[j] : m;
  double s = 0;
  for (int64_t j = 0; j < cols; ++j) s += std::exp(x[j] - m);
  if (log) {
    const T ls = static_cast<T>(std::log(s));
    for (int64_t j = 0; j < cols; ++j) y[j] = log_softmax_out(x[j], m, ls);
  } else {
    const T inv = static_cast<T>(1 / s);
    for (int64_t j = 0; j < cols; ++j) y[j] = softmax_out(std::exp(x[j] - m), inv);
  }
}
template <class T> PB_INLINE void softmax_backward_row_naive(T* dx, const T* dy, const T* y, int64_t cols, bool log) {
  double acc = 0;
  if (log) {
    for (int64_t j = 0; j < cols; ++j) acc += dy[j];
    const T s = static_cast<T>(acc);
    for (int64_t j = 0; j < cols; ++j) dx[j] = log_softmax_grad<fm::Std>(dy[j], y[j], s);
  } else {
    for (int64_t j = 0; j < cols; ++j) acc += static_cast<double>(dy[j]) * y[j];
    const T s = static_cast<T>(acc);
    for (int64_t j = 0; j < cols; ++j) dx[j] = softmax_grad(dy[j], y[j], s);
  }
}

// ---- lean forms: the `lean` impls (AVX-512 float, fm::V16 only) ------------------------------
// The same functions with fewer instructions per 16 floats: constants folded into the polynomials,
// one-instruction clamps, e^y as 2^t with log2 e folded in (no Cody-Waite reduction: t's rounding
// adds |t| 2^-24 relative error, the order of the argument's own), softplus without its threshold
// select (x + log1p(e^-x) rounds to x beyond 16). Details, measurements: docs/kernels/activation.md.
// Other builds and double run the formulas above (the `lean` impls call `simd` there).
#if defined(__AVX512F__) && !defined(__CUDA_ARCH__)
namespace lean {
using fm::V16;

// sign(x) min(|x|, c) in one vrangeps (imm 0b0010: min of magnitudes, sign of the first source).
// A NaN x comes out as +-c here (measured: vrangeps returns the other source), so the formulas
// use it only where x itself also reaches the result (NaN * anything = NaN).
PB_INLINE V16 clampabs(V16 x, float c) { return _mm512_mask_range_ps(x.v, fm::kAll16, x.v, _mm512_set1_ps(c), 0x02); }

// Horner in r, coefficients c0..c6 (lowest first).
PB_INLINE V16 poly6(V16 r, float c0, float c1, float c2, float c3, float c4, float c5, float c6) {
  V16 p = fm::fma_(V16(c6), r, V16(c5));
  p = fm::fma_(p, r, V16(c4));
  p = fm::fma_(p, r, V16(c3));
  p = fm::fma_(p, r, V16(c2));
  p = fm::fma_(p, r, V16(c1));
  return fm::fma_(p, r, V16(c0));
}

// e^x for x <= 0 (or NaN): fm::exp with one vmaxps for its clamp (the same bits there).
PB_INLINE V16 exp_nonpos(V16 x) {
  V16 n;
  const V16 r = fm::exp_reduce(fm::vmax_(_mm512_set1_ps(-104.0f), x.v), n);
  return fm::vscalef_(fm::exp_poly(r).v, n.v);
}

// gelu's cdf 0.5 (1 + erf(x / sqrt 2)) = 0.5 + x Pa(x^2) / Qa(x^2) for |x| <= kGeluClamp, where
// it comes out as exactly 1 (and 0 at -kGeluClamp), so the clamp saturates it with no select; not
// every clamp does (docs/kernels/activation.md): tests/test_activation.py::test_lean_gelu_saturates.
constexpr float kGeluClamp = 5.55f;
PB_INLINE V16 gelu_cdf(V16 x) {
  const V16 xc = clampabs(x, kGeluClamp);
  const V16 v = xc * xc;
  V16 p = fm::fma_(V16(2.1951210626980355e-08f), v, V16(6.288013082667021e-06f));
  p = fm::fma_(p, v, V16(0.0001716162805678323f));
  p = fm::fma_(p, v, V16(0.004693545401096344f));
  p = fm::fma_(p, v, V16(0.03421380743384361f));
  p = fm::fma_(p, v, V16(0.3989422619342804f));
  V16 q = fm::fma_(V16(1.1693803116941126e-06f), v, V16(7.409646059386432e-05f));
  q = fm::fma_(q, v, V16(0.001900878851301968f));
  q = fm::fma_(q, v, V16(0.028837237507104874f));
  q = fm::fma_(q, v, V16(0.2524275779724121f));
  q = fm::fma_(q, v, V16(1.0f));
  return (xc * p) / q + V16(0.5f);
}
PB_INLINE V16 gelu(V16 x) { return x * gelu_cdf(x); }  // -inf * 0 = NaN, as gelu above and PyTorch
// dy (cdf + x pdf), pdf = e^(-x^2/2) / sqrt(2 pi) = 2^t / sqrt(2 pi) with t = -x^2 log2(e) / 2
// (clamped at -150, where 2^t is 0), 2^(t - round t) by the polynomial of gelu_tanh below with
// the 1 / sqrt(2 pi) folded in. The rounding of t adds |t| 2^-24 relative error to the pdf (the
// same order as the rounding of x^2 itself; x pdf is < 5e-4 wherever |t| > 11).
PB_INLINE V16 gelu_grad(V16 dy, V16 x) {
  const V16 cdf = gelu_cdf(x);
  const V16 t = fm::vmax_(_mm512_set1_ps(-150.0f), (x * x * V16(-0.7213475108146667f)).v);  // NaN stays
  const V16 n = fm::vround_(t.v);
  const V16 p = poly6(t - n, 0.3989422917366028f, 0.27652570605278015f, 0.09583649784326553f, 0.022142739966511726f,
                      0.0038372380658984184f, 0.000534199527464807f, 6.112121627666056e-05f);
  return dy * fm::fma_(x, V16(fm::vscalef_(p.v, n.v)), cdf);
}

// x sigmoid(2k) = x / (1 + 2^t), t = -2k log2 e = x (c1 + c3 x^2), clamped to +-150 (2^t is 0 or
// inf well before); 2^(t - n) for |t - n| <= 1/2 by exp_q's polynomial with ln2^k folded in.
PB_INLINE V16 gelu_tanh(V16 x) {
  const V16 t = clampabs(x * fm::fma_(x * x, V16(-0.10294324159622192f), V16(-2.302208185195923f)), 150.0f);
  const V16 n = fm::vround_(t.v);
  const V16 p = poly6(t - n, 1.0f, 0.6931471824645996f, 0.24022647738456726f, 0.055503617972135544f,
                      0.009618529118597507f, 0.001339039532467723f, 0.00015320816601160914f);
  return x / (V16(1.0f) + V16(fm::vscalef_(p.v, n.v)));
}

// softplus with beta = 1 and threshold >= 16: max(x, 0) + log1p(e^-|x|), e^-|x| reduced as
// |x| + n ln2 = -r (n = round(-|x| log2 e) <= 0), e^r by the polynomial in -r with alternating signs.
PB_INLINE V16 softplus1(V16 x) {
  const V16 a = fm::vmin_(_mm512_set1_ps(104.0f), fm::fabs_(x).v);  // NaN stays (second operand)
  const V16 n = fm::vround_(_mm512_mul_ps(a.v, _mm512_set1_ps(-fm::kLog2e)));
  const V16 mr = fm::fma_(n, V16(fm::kLn2Lo), fm::fma_(n, V16(fm::kLn2Hi), a));
  const V16 p = poly6(mr, 1.0f, -1.0f, 0.4999999403953552f, -0.1666651964187622f, 0.041668400168418884f,
                      -0.008368856273591518f, 0.0013814308913424611f);
  return fm::max0(x) + fm::log1p_01(V16(fm::vscalef_(p.v, n.v)));
}

}  // namespace lean
#endif

}  // namespace pb::math
