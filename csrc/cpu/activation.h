#pragma once
#include <cstdint>

#include "core/isa.h"
#include "math/activation.h"  // Act, ActParams

namespace pb::cpu {
using math::Act;  // the activation and its parameters, defined next to the formulas
using math::ActParams;
}  // namespace pb::cpu

// Element-wise: y, x, dy, dx: (n,) (any shape, flattened; C-contiguous). The softmax family
// (cpu/softmax.h) runs the same levels over rows.
//   naive:  plain single-thread loops, std:: math.
//   vec:    threaded, fastmath (math/fastmath.h) in loops the compiler vectorizes, normal stores.
//   stream: vec + streaming stores for outputs >= kStreamBytes (cpu/elementwise.h).
//   simd:   AVX-512 float: explicit 16-lane loops over the same formulas (fm::V16), masked ends,
//           streaming stores from registers; other builds and double run `stream`.
//   lean:   AVX-512 float: simd with fewer instructions per float (math::lean: gelu, gelu tanh,
//           softplus with beta 1); the rest, other builds, double: simd.
// The op table (csrc/ops/activation.cpp) lists simd and lean only on AVX-512 for float32.
PB_CPU_DECLARE(
  template <class T> void act_forward_naive(T* y, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_forward_vec(T* y, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_forward_stream(T* y, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_forward_simd(T* y, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_backward_naive(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_backward_vec(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_backward_stream(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_backward_simd(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_forward_lean(T* y, const T* x, int64_t n, Act op, ActParams<T> p);
  template <class T> void act_backward_lean(T* dx, const T* dy, const T* x, int64_t n, Act op, ActParams<T> p);

  // Test hook: y = fm::<fn>(x) with the vectorized float code (fn: 0 exp, 1 expm1, 2 log,
  // 3 log1p, 4 tanh, 5 erf, 6 log1p_01), so tests can measure its ulp error over ranges of floats.
  // simd: the loop of the `simd` impls (fm::V16 code on AVX-512); else the scalar code's loop.
  void fastmath_eval(float* y, const float* x, int64_t n, int fn, bool simd);
)
