#include "ops/activation.h"

#include <cmath>
#include <cstdio>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "cpu/activation.h"
#include "cpu/softmax.h"
#include "cuda/ops.h"

namespace pb::ops {

// naive: single thread, std:: math; vec: threads + vectorized fastmath; stream: vec + streaming
// stores for outputs >= 16 MiB; simd: explicit AVX-512 (fm::V16) loops, streaming from registers
// (stream elsewhere); lean: simd with fewer instructions for gelu, gelu tanh, softplus (math::lean;
// simd for the rest). See csrc/cpu/activation.cpp for what each measured.
PB_REGISTER_IMPLS("relu_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("relu_backward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("leaky_relu_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("leaky_relu_backward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("elu_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("elu_backward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("gelu_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("gelu_backward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("sigmoid_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("sigmoid_backward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("tanh_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("tanh_backward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("silu_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("silu_backward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("softplus_forward", "naive", "vec", "stream", "simd", "lean");
PB_REGISTER_IMPLS("softplus_backward", "naive", "vec", "stream", "simd", "lean");
// Softmax family: "stream" (vec + streaming stores through an L1 row buffer) measured 0.7-0.9x
// of "vec" in every `pybench bench --impl all` run on the shared 2-core machine (the extra pass
// over the row costs more than the saved read-for-ownership while the cores are the bottleneck),
// so "vec" came after it; "simd" (AVX-512 rows: one read of x, exp at half the instructions,
// streaming stores from registers; vec elsewhere) next; "lean" (forward: simd with the rows
// pipelined, a row's stores overlapping the next row's exp; backward: simd) next; forward only:
// "online" (exp(x - running lane max) in the loop that reads the row, y from L1 after it; lean
// elsewhere) is last, the default: at (65536, 1024) 2 threads, 3 side-by-side runs, softmax
// 77-79% of copy vs lean 63-64%, log_softmax 68-72% vs 61-66% (the AVX2 path still runs simd).
PB_REGISTER_IMPLS("softmax_forward", "naive", "stream", "vec", "simd", "lean", "online");
PB_REGISTER_IMPLS("softmax_backward", "naive", "stream", "vec", "simd", "lean");
PB_REGISTER_IMPLS("log_softmax_forward", "naive", "stream", "vec", "simd", "lean", "online");
PB_REGISTER_IMPLS("log_softmax_backward", "naive", "stream", "vec", "simd", "lean");

namespace {

// Validates the op's parameters and maps them to the kernel's Act / ActParams.
template <class T>
cpu::Act resolve(const std::string& name, const char* op, const ActArgs& a, cpu::ActParams<T>& p) {
  using cpu::Act;
  if (name == "relu") return Act::relu;
  if (name == "leaky_relu") {
    if (!std::isfinite(a.negative_slope)) value_error(op, "negative_slope", "a finite number", num_str(a.negative_slope));
    p.a = static_cast<T>(a.negative_slope);
    return Act::leaky_relu;
  }
  if (name == "elu") {
    if (!std::isfinite(a.alpha)) value_error(op, "alpha", "a finite number", num_str(a.alpha));
    p.a = static_cast<T>(a.alpha);
    return Act::elu;
  }
  if (name == "gelu") {
    if (a.approximate == "none") return Act::gelu;
    if (a.approximate == "tanh") return Act::gelu_tanh;
    value_error(op, "approximate", "'none' or 'tanh'", "'" + a.approximate + "'");
  }
  if (name == "sigmoid") return Act::sigmoid;
  if (name == "tanh") return Act::tanh;
  if (name == "silu") return Act::silu;
  if (name == "softplus") {
    // PyTorch accepts beta <= 0 (and divides by it); a non-positive beta is never meaningful.
    if (!(std::isfinite(a.beta) && a.beta > 0)) value_error(op, "beta", "a finite number > 0", num_str(a.beta));
    if (std::isnan(a.threshold)) value_error(op, "threshold", "a number (not NaN)", num_str(a.threshold));
    p.a = static_cast<T>(a.beta);
    p.b = static_cast<T>(a.threshold);
    return Act::softplus;
  }
  value_error(op, "name", "a known activation", "'" + name + "'");
}

static_assert(static_cast<int>(cpu::Act::softplus) == static_cast<int>(cuda::Act::softplus), "cuda::Act mirrors cpu::Act");
[[maybe_unused]] cuda::Act to_cuda(cpu::Act a) { return static_cast<cuda::Act>(static_cast<int>(a)); }

}  // namespace

void activation_forward(const std::string& name, const Tensor& y, const Tensor& x, const ActArgs& args,
                        const std::string& impl) {
  const std::string ops = name + "_forward";
  const char* op = ops.c_str();
  check_input(op, "x", x, kAnyNdimOrScalar, Empty::any);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  if (on_cuda(op, {{"x", &x}, {"out", &y}})) {
    cpu::ActParams<double> p;
    [[maybe_unused]] const cpu::Act a = resolve<double>(name, op, args, p);
    [[maybe_unused]] const int v = resolve_cuda_impl(op, impl);
    if (x.numel == 0) return;  // an empty result; no empty CUDA grid
    PB_CUDA_ONLY(cuda::act_forward(v, to_cuda(a), p.a, p.b, y, x));
    return;
  }
  const int v = resolve_impl(op, impl);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    cpu::ActParams<T> p;
    const cpu::Act a = resolve<T>(name, op, args, p);
    if (x.numel == 0) return;  // parameters checked; an empty result
    if (v == 0) PB_CPU_CALL(act_forward_naive<T>, y.ptr<T>(), x.ptr<T>(), x.numel, a, p);
    else if (v == 1) PB_CPU_CALL(act_forward_vec<T>, y.ptr<T>(), x.ptr<T>(), x.numel, a, p);
    else if (v == 2) PB_CPU_CALL(act_forward_stream<T>, y.ptr<T>(), x.ptr<T>(), x.numel, a, p);
    else if (v == 3) PB_CPU_CALL(act_forward_simd<T>, y.ptr<T>(), x.ptr<T>(), x.numel, a, p);
    else PB_CPU_CALL(act_forward_lean<T>, y.ptr<T>(), x.ptr<T>(), x.numel, a, p);
  });
}

void activation_backward(const std::string& name, const Tensor& dx, const Tensor& dy, const Tensor& x,
                         const ActArgs& args, const std::string& impl) {
  const std::string ops = name + "_backward";
  const char* op = ops.c_str();
  check_input(op, "dy", dy, kAnyNdimOrScalar, Empty::any);
  check_input(op, "x", x, {dy.ndim}, Empty::any);
  check_dtype(op, "x", x, dy.dtype);
  check_shape(op, "x", x, dy.shape_vec());
  check_output(op, "out", dx, dy.dtype, dy.shape_vec(), {&dy, &x});
  if (on_cuda(op, {{"dy", &dy}, {"x", &x}, {"out", &dx}})) {
    cpu::ActParams<double> p;
    [[maybe_unused]] const cpu::Act a = resolve<double>(name, op, args, p);
    [[maybe_unused]] const int v = resolve_cuda_impl(op, impl);
    if (dy.numel == 0) return;
    PB_CUDA_ONLY(cuda::act_backward(v, to_cuda(a), p.a, p.b, dx, dy, x));
    return;
  }
  const int v = resolve_impl(op, impl);
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    cpu::ActParams<T> p;
    const cpu::Act a = resolve<T>(name, op, args, p);
    if (dy.numel == 0) return;
    if (v == 0) PB_CPU_CALL(act_backward_naive<T>, dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel, a, p);
    else if (v == 1) PB_CPU_CALL(act_backward_vec<T>, dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel, a, p);
    else if (v == 2) PB_CPU_CALL(act_backward_stream<T>, dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel, a, p);
    else if (v == 3) PB_CPU_CALL(act_backward_simd<T>, dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel, a, p);
    else PB_CPU_CALL(act_backward_lean<T>, dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel, a, p);
  });
}

void softmax_forward(const Tensor& y, const Tensor& x, bool log, const std::string& impl) {
  const char* op = log ? "log_softmax_forward" : "softmax_forward";
  check_input(op, "x", x, kAnyNdim, Empty::any);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  const bool cuda = on_cuda(op, {{"x", &x}, {"out", &y}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (x.numel == 0) return;  // an empty result (and never rows = numel / cols with cols == 0)
  if (cuda) {
    PB_CUDA_ONLY(cuda::softmax_forward(v, log, y, x));
    return;
  }
  const int64_t cols = x.size(-1), rows = x.numel / cols;
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (v == 0) PB_CPU_CALL(softmax_forward_naive<T>, y.ptr<T>(), x.ptr<T>(), rows, cols, log);
    else if (v == 1) PB_CPU_CALL(softmax_forward_stream<T>, y.ptr<T>(), x.ptr<T>(), rows, cols, log);
    else if (v == 2) PB_CPU_CALL(softmax_forward_vec<T>, y.ptr<T>(), x.ptr<T>(), rows, cols, log);
    else if (v == 3) PB_CPU_CALL(softmax_forward_simd<T>, y.ptr<T>(), x.ptr<T>(), rows, cols, log);
    else if (v == 4) PB_CPU_CALL(softmax_forward_lean<T>, y.ptr<T>(), x.ptr<T>(), rows, cols, log);
    else PB_CPU_CALL(softmax_forward_online<T>, y.ptr<T>(), x.ptr<T>(), rows, cols, log);
  });
}

void softmax_backward(const Tensor& dx, const Tensor& dy, const Tensor& y, bool log, const std::string& impl) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_input(op, "dy", dy, kAnyNdim, Empty::any);
  check_input(op, "y", y, {dy.ndim}, Empty::any);
  check_dtype(op, "y", y, dy.dtype);
  check_shape(op, "y", y, dy.shape_vec());
  check_output(op, "out", dx, dy.dtype, dy.shape_vec(), {&dy, &y});
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"y", &y}, {"out", &dx}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (dy.numel == 0) return;
  if (cuda) {
    PB_CUDA_ONLY(cuda::softmax_backward(v, log, dx, dy, y));
    return;
  }
  const int64_t cols = dy.size(-1), rows = dy.numel / cols;
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    if (v == 0) PB_CPU_CALL(softmax_backward_naive<T>, dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows, cols, log);
    else if (v == 1) PB_CPU_CALL(softmax_backward_stream<T>, dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows, cols, log);
    else if (v == 2) PB_CPU_CALL(softmax_backward_vec<T>, dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows, cols, log);
    else if (v == 3) PB_CPU_CALL(softmax_backward_simd<T>, dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows, cols, log);
    else PB_CPU_CALL(softmax_backward_lean<T>, dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows, cols, log);
  });
}

void fastmath_eval(const Tensor& y, const Tensor& x, const std::string& fn, const std::string& impl) {
  const char* op = "_fastmath";
  static const char* names[] = {"exp", "expm1", "log", "log1p", "tanh", "erf", "log1p_01"};
  int f = -1;
  for (int i = 0; i < 7; ++i)
    if (fn == names[i]) f = i;
  if (f < 0) value_error(op, "fn", "one of exp, expm1, log, log1p, tanh, erf, log1p_01", "'" + fn + "'");
  check_input(op, "x", x, {1});
  if (x.dtype != DType::f32) type_error(op, "x", "float32", x.dtype_str);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  if (impl != "" && impl != "simd" && impl != "vec") value_error(op, "impl", "'vec' or 'simd'", "'" + impl + "'");
  PB_CPU_CALL(fastmath_eval, y.ptr<float>(), x.ptr<float>(), x.numel, f, impl != "vec");
}

}  // namespace pb::ops
