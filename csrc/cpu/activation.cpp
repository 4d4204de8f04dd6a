// Activations. Each element-wise op is one formula (math/activation.h) run by these loops:
//   naive  -- single thread, std:: math: the reading copy.
//   vec    -- adds threads (parallel_for) and math/fastmath.h, so the loop vectorizes (no libm
//             call left in any float loop).
//   stream -- adds streaming stores for outputs >= kStreamBytes (cpu/elementwise.h): no
//             read-for-ownership of the output, 8 instead of 12 B/elt moved for a forward pass.
//   simd   -- AVX-512 float: the same formula on fm::V16 (16 lanes, explicit intrinsics), masked
//             ends, streaming stores from registers (no L1 bounce buffer). Other builds, double: `stream`.
//   lean   -- simd with leaner forms for gelu, gelu tanh, softplus (below).
// The op table lists simd and lean on AVX-512 float32 only, where they are not stream's code.
// Measurements: docs/kernels/activation.md. Softmax / log_softmax: cpu/softmax.cpp.
#include "cpu/activation.h"

#include "cpu/elementwise.h"
#include "math/activation.h"
#include "math/fastmath.h"

namespace pb::cpu::PB_ISA_NS {

// ---- element-wise ------------------------------------------------------------------------

// Each activation's loop is a function of its own: compiled alone, so adding an activation leaves
// the others' machine code (and the gate's counts) as they were; one function holding them all did not.
template <class L, class F> __attribute__((noinline)) void run_loop(L& loop, F f) { loop(f); }

// Calls loop(f) with f the forward formula of `op` (math::visit_act: one instantiation of the loop
// per activation). f is generic: f(T) in the scalar loops, f(fm::V16) in the AVX-512 ones
// (parameters broadcast).
template <class M, class T, class L>
PB_INLINE void forward_cases(Act op, ActParams<T> p, L&& loop) {
  const T a = p.a, b = p.b;
  math::visit_act(op, [&](auto tag) {
    using A = decltype(tag);
    if constexpr (A::kUnitA)
      if (a == T(1))  // x * a and a final * (1 / a) fold away (exact)
        return run_loop(loop, [b](auto v) { return A::template fwd<M>(v, decltype(v)(1), decltype(v)(b)); });
    run_loop(loop, [a, b](auto v) { return A::template fwd<M>(v, decltype(v)(a), decltype(v)(b)); });
  });
}

// Calls loop(f) with f(dy, x) the backward formula of `op`.
template <class M, class T, class L>
PB_INLINE void backward_cases(Act op, ActParams<T> p, L&& loop) {
  const T a = p.a, b = p.b;
  math::visit_act(op, [&](auto tag) {
    using A = decltype(tag);
    if constexpr (A::kUnitA)
      if (a == T(1))
        return run_loop(loop,
                        [b](auto g, auto v) { return A::template grad<M>(g, v, decltype(v)(1), decltype(v)(b)); });
    run_loop(loop, [a, b](auto g, auto v) { return A::template grad<M>(g, v, decltype(v)(a), decltype(v)(b)); });
  });
}

// y, x: (n,)
template <class T> void act_forward_naive(T* y, const T* x, int64_t n, Act op, ActParams<T> p) {
  forward_cases<fm::Std>(op, p, [&](auto f) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
  });
}
// threads + vectorized fastmath
template <class T> void act_forward_vec(T* y, const T* x, int64_t n, Act op, ActParams<T> p) {
  forward_cases<fm::Fast>(op, p, [&](auto f) { map1(y, x, n, f); });
}
// vec + streaming stores for large outputs
template <class T> void act_forward_stream(T* y, const T* x, int64_t n, Act op, ActParams<T> p) {
  forward_cases<fm::Fast>(op, p, [&](auto f) { map1_stream(y, x, n, f); });
}
// AVX-512 float: the formula on 16 lanes at a time (fm::V16: vscalefps exp, ...), masked ends,
// streaming stores straight from the register; other builds and double: `stream`.
template <class T> void act_forward_simd(T* y, const T* x, int64_t n, Act op, ActParams<T> p) {
  forward_cases<fm::Fast>(op, p, [&](auto f) { map1_simd(y, x, n, f); });
}
// simd + the leaner AVX-512 forms of math/activation.h (math::lean) for gelu, gelu tanh and
// softplus (beta 1, threshold >= 16): fewer instructions per 16 floats (see there); the rest and
// other builds / double: `simd`.
template <class T> void act_forward_lean(T* y, const T* x, int64_t n, Act op, ActParams<T> p) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    if (op == Act::gelu) return map1_simd(y, x, n, [](auto v) { return math::lean::gelu(v); });
    if (op == Act::gelu_tanh) return map1_simd(y, x, n, [](auto v) { return math::lean::gelu_tanh(v); });
    if (op == Act::softplus && p.a == 1.0f && p.b >= 16.0f)
      return map1_simd(y, x, n, [](auto v) { return math::lean::softplus1(v); });
  }
#endif
  act_forward_simd(y, x, n, op, p);
}

// dx, dy, x: (n,)
template <class T> void act_backward_naive(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p) {
  backward_cases<fm::Std>(op, p, [&](auto f) {
    for (int64_t i = 0; i < n; ++i) dx[i] = f(dy[i], x[i]);
  });
}
template <class T> void act_backward_vec(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p) {
  backward_cases<fm::Fast>(op, p, [&](auto f) { map2(dx, dy, x, n, f); });
}
template <class T> void act_backward_stream(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p) {
  backward_cases<fm::Fast>(op, p, [&](auto f) { map2_stream(dx, dy, x, n, f); });
}
template <class T> void act_backward_simd(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p) {
  backward_cases<fm::Fast>(op, p, [&](auto f) { map2_simd(dx, dy, x, n, f); });
}
// simd + math::lean's gelu backward (fewer instructions: docs/kernels/activation.md); the rest as simd.
template <class T> void act_backward_lean(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4)
    if (op == Act::gelu) return map2_simd(dx, dy, x, n, [](auto g, auto v) { return math::lean::gelu_grad(g, v); });
#endif
  act_backward_simd(dx, dy, x, n, op, p);
}

// ---- test hook -------------------------------------------------------------------------------
// simd: through map1_simd (fm::V16 code on AVX-512, the scalar code elsewhere); else map1 (the
// scalar code, auto-vectorized: what `vec` and `stream` run).
void fastmath_eval(float* y, const float* x, int64_t n, int fn, bool simd) {
  const auto run = [&](auto f) {
    if (simd) map1_simd(y, x, n, f);
    else map1(y, x, n, f);
  };
  switch (fn) {
    case 0: run([](auto v) { return fm::exp(v); }); break;
    case 1: run([](auto v) { return fm::expm1(v); }); break;
    case 2: run([](auto v) { return fm::log(v); }); break;
    case 3: run([](auto v) { return fm::log1p(v); }); break;
    case 4: run([](auto v) { return fm::tanh(v); }); break;
    case 5: run([](auto v) { return fm::erf(v); }); break;
    case 6: run([](auto v) { return fm::log1p_01(v); }); break;
    default: break;
  }
}

#define PB_INSTANTIATE(T)                                                                        \
  template void act_forward_naive<T>(T*, const T*, int64_t, Act, ActParams<T>);                 \
  template void act_forward_vec<T>(T*, const T*, int64_t, Act, ActParams<T>);                   \
  template void act_forward_stream<T>(T*, const T*, int64_t, Act, ActParams<T>);                \
  template void act_forward_simd<T>(T*, const T*, int64_t, Act, ActParams<T>);                  \
  template void act_backward_naive<T>(T*, const T*, const T*, int64_t, Act, ActParams<T>);      \
  template void act_backward_vec<T>(T*, const T*, const T*, int64_t, Act, ActParams<T>);        \
  template void act_backward_stream<T>(T*, const T*, const T*, int64_t, Act, ActParams<T>);     \
  template void act_backward_simd<T>(T*, const T*, const T*, int64_t, Act, ActParams<T>);       \
  template void act_forward_lean<T>(T*, const T*, int64_t, Act, ActParams<T>);                  \
  template void act_backward_lean<T>(T*, const T*, const T*, int64_t, Act, ActParams<T>);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
