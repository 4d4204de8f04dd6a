#include "ops/activation.h"

#include <cmath>
#include <cstdio>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/activation.h"
#include "cpu/softmax.h"
#include "cuda/ops.h"
#ifdef PB_DEV_KERNELS
#include "dev/kernels/softmax/softmax_dev.h"
#endif

namespace pb::ops {

namespace {

using math::Act;
using math::ActParams;

// The element-wise activations: ops <name>_forward and <name>_backward, each with the
// implementations of kActForward / kActBackward (below) and the formula of its Act
// (csrc/math/activation.h). has_params: parameters besides x, checked and mapped in resolve();
// those without are bound alike (bindings/activation.cpp: activation_names(false)).
struct Activation {
  const char* name;
  Act act;  // gelu: Act::gelu_tanh when approximate="tanh"
  bool has_params;
  ActivationDoc doc;  // the Python docstrings (activation.h)
};
const Activation kActivations[] = {
    {"relu", Act::relu, false,
     {"y = max(x, 0); NaN propagates.",
      "dx = 0 where x <= 0, else dy (a NaN x passes dy through, as PyTorch's threshold_backward)."}},
    {"leaky_relu", Act::leaky_relu, true,
     {"y = x if x > 0 else negative_slope * x. ``negative_slope`` must be finite (PyTorch: any).",
      "dx = dy if x > 0 else negative_slope * dy."}},
    {"elu", Act::elu, true,
     {"y = x if x > 0 else alpha * (exp(x) - 1) (expm1, accurate near 0). ``alpha`` must be finite.",
      "dx = dy if x > 0 else dy * alpha * exp(x) (PyTorch's elu_backward with is_result=False).\n"
      "A NaN x gives NaN, as PyTorch's float64 kernel (its float32 kernel passes dy through)."}},
    {"gelu", Act::gelu, true,
     {"approximate='none': y = x/2 (1 + erf(x / sqrt 2)); 'tanh':\n"
      "y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Any other string is a ValueError.\n\n"
      "The tanh form is evaluated as x * sigmoid(2k) (the same function), which avoids the\n"
      "cancellation in 1 + tanh(k) for x < -3 that costs PyTorch's float32 result ~1e-6 absolute.\n"
      "gelu(+inf) = +inf (PyTorch's vectorized float32 kernel gives NaN there).",
      "dx = dy * d gelu / dx for the chosen form (PyTorch's gelu_backward formulas)."}},
    {"sigmoid", Act::sigmoid, false,
     {"y = 1 / (1 + exp(-x)); saturates to exactly 0 / 1 for large |x|, never NaN for finite x.",
      "dx = dy * s * (1 - s), s = sigmoid(x). Takes x (PyTorch's sigmoid_backward takes the output)."}},
    {"tanh", Act::tanh, false,
     {"y = tanh(x).", "dx = dy * (1 - tanh(x)^2). Takes x (PyTorch's tanh_backward takes the output)."}},
    {"silu", Act::silu, false,
     {"y = x * sigmoid(x) = x / (1 + exp(-x)).", "dx = dy * s * (1 + x (1 - s)), s = sigmoid(x)."}},
    {"hardswish", Act::hardswish, false,
     {"y = x * min(max(x + 3, 0), 6) / 6 (PyTorch's hardswish); NaN propagates.",
      "dx = 0 where x <= -3, dy where x >= 3, else dy * (x / 3 + 1/2), as PyTorch's hardswish_backward.\n"
      "A NaN x gives NaN (PyTorch's vectorized loop; its scalar loop, used for tails, passes dy)."}},
    {"softplus", Act::softplus, true,
     {"y = x where x * beta > threshold (PyTorch's linear region), else log(1 + exp(beta x)) / beta.\n\n"
      "Differs from PyTorch: the log term is evaluated stably (max(z, 0) + log1p(exp(-|z|))), so a\n"
      "threshold above ~88 (float32) gives the right value where PyTorch's log1p(exp(z)) overflows\n"
      "to inf; ``beta`` must be finite and > 0 and ``threshold`` not NaN (PyTorch accepts any).",
      "dx = dy where x * beta > threshold, else dy * sigmoid(beta x) (stable; PyTorch's\n"
      "z / (z + 1) with z = exp(beta x) is NaN where z overflows)."}},
};

// Validates the op's parameters and maps them to the kernel's Act / ActParams.
template <class T>
Act resolve(const std::string& name, const char* op, const ActArgs& a, ActParams<T>& p) {
  for (const Activation& act : kActivations)
    if (!act.has_params && name == act.name) return act.act;
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

// ---- the implementations (kernels: csrc/cpu/activation.h, softmax.h; CUDA: csrc/cuda/ops.h) ----
using cuda::Variant;
template <class T> using ActForwardCpu = void(T* y, const T* x, int64_t n, Act act, ActParams<T> p);
template <class T> using ActBackwardCpu = void(T* dx, const T* dy, const T* x, int64_t n, Act act, ActParams<T> p);
template <class T> using SoftmaxForwardCpu = void(T* y, const T* x, int64_t rows, int64_t cols, bool log);
template <class T> using SoftmaxBackwardCpu = void(T* dx, const T* dy, const T* y, int64_t rows, int64_t cols, bool log);
using ActForwardCuda = void(Act act, double a, double b, const Tensor& y, const Tensor& x);
using ActBackwardCuda = void(Act act, double a, double b, const Tensor& dx, const Tensor& dy, const Tensor& x);
using SoftmaxForwardCuda = void(bool log, const Tensor& y, const Tensor& x);
using SoftmaxBackwardCuda = void(bool log, const Tensor& dx, const Tensor& dy, const Tensor& y);

// Every element-wise activation (kActivations) runs these: one kernel per implementation, given
// the activation. See csrc/cpu/activation.cpp for what each measured.
constexpr const char* kNaive = "plain loops, one thread, std:: math; CUDA: a thread per element";
constexpr const char* kVec = "threads, fastmath in loops the compiler vectorizes";
constexpr const char* kStream = "vec with streaming stores for outputs >= 16 MiB";
constexpr const char* kSimd = "explicit AVX-512 float32 loops (fm::V16), streaming from registers";
constexpr const char* kLean = "simd with fewer instructions for gelu, gelu tanh, softplus (math::lean)";
constexpr const char* kVec4 = "CUDA: 16-byte loads and stores when every pointer is aligned; naive otherwise";

// impl=None: lean on AVX-512 float32, stream elsewhere (the last default that runs: op_table.h).
const OpImpl<CpuKernel<ActForwardCpu>, ActForwardCuda> kActForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(act_forward_naive), PB_CUDA_ENTRY(act_forward<Variant::naive>)},
    {"vec", kVec, PB_CPU_KERNEL(act_forward_vec), nullptr},
    {"stream", kStream, PB_CPU_KERNEL(act_forward_stream), nullptr, kDefaultCpu},
    {"simd", kSimd, PB_CPU_KERNEL(act_forward_simd), nullptr, 0, kAvx512F32},
    {"lean", kLean, PB_CPU_KERNEL(act_forward_lean), nullptr, kDefaultCpu, kAvx512F32},
    {"vec4", kVec4, {}, PB_CUDA_ENTRY(act_forward<Variant::vec4>), kDefaultCuda},
};
const OpImpl<CpuKernel<ActBackwardCpu>, ActBackwardCuda> kActBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(act_backward_naive), PB_CUDA_ENTRY(act_backward<Variant::naive>)},
    {"vec", kVec, PB_CPU_KERNEL(act_backward_vec), nullptr},
    {"stream", kStream, PB_CPU_KERNEL(act_backward_stream), nullptr, kDefaultCpu},
    {"simd", kSimd, PB_CPU_KERNEL(act_backward_simd), nullptr, 0, kAvx512F32},
    {"lean", kLean, PB_CPU_KERNEL(act_backward_lean), nullptr, kDefaultCpu, kAvx512F32},
    {"vec4", kVec4, {}, PB_CUDA_ENTRY(act_backward<Variant::vec4>), kDefaultCuda},
};

// Softmax family, plainest first. impl=None: forward online, backward simd on AVX-512 float32;
// vec elsewhere. stream and the pipelined lean forward measured slower than the rows they would
// replace and live in dev/kernels/softmax (docs/kernels/softmax.md).
constexpr const char* kRowsNaive = "plain loops over rows, one thread, double sums; CUDA: a thread per row";
constexpr const char* kRowsVec = "threads over rows, fastmath in loops the compiler vectorizes";
constexpr const char* kRowsSimd = "AVX-512 float32 rows: one read of x, streaming stores from registers";
constexpr const char* kWarp = "CUDA: a warp per row, butterfly max / sum in a fixed order";

const OpImpl<CpuKernel<SoftmaxForwardCpu>, SoftmaxForwardCuda> kSoftmaxForward[] = {
    {"naive", kRowsNaive, PB_CPU_KERNEL(softmax_forward_naive), PB_CUDA_ENTRY(softmax_forward<Variant::naive>)},
#ifdef PB_DEV_KERNELS
    {"stream", "dev: vec with streaming stores through an L1 row buffer", PB_CPU_KERNEL(softmax_forward_stream),
     nullptr},
#endif
    {"vec", kRowsVec, PB_CPU_KERNEL(softmax_forward_vec), nullptr, kDefaultCpu},
    {"simd", kRowsSimd, PB_CPU_KERNEL(softmax_forward_simd), nullptr, 0, kAvx512F32},
#ifdef PB_DEV_KERNELS
    {"lean", "dev: simd with the rows pipelined (a row's stores overlap the next row's exp)",
     PB_CPU_KERNEL(softmax_forward_lean), nullptr, 0, kAvx512F32},
#endif
    {"online", "exp(x - running max) in the loop that reads the row, y from L1 after it (rows > 4096: simd)",
     PB_CPU_KERNEL(softmax_forward_online), nullptr, kDefaultCpu, kAvx512F32},
    {"warp", kWarp, {}, PB_CUDA_ENTRY(softmax_forward<Variant::warp>), kDefaultCuda},
};
const OpImpl<CpuKernel<SoftmaxBackwardCpu>, SoftmaxBackwardCuda> kSoftmaxBackward[] = {
    {"naive", kRowsNaive, PB_CPU_KERNEL(softmax_backward_naive), PB_CUDA_ENTRY(softmax_backward<Variant::naive>)},
#ifdef PB_DEV_KERNELS
    {"stream", "dev: vec with streaming stores of dx", PB_CPU_KERNEL(softmax_backward_stream), nullptr},
#endif
    {"vec", kRowsVec, PB_CPU_KERNEL(softmax_backward_vec), nullptr, kDefaultCpu},
    {"simd", kRowsSimd, PB_CPU_KERNEL(softmax_backward_simd), nullptr, kDefaultCpu, kAvx512F32},
    {"warp", kWarp, {}, PB_CUDA_ENTRY(softmax_backward<Variant::warp>), kDefaultCuda},
};

bool register_all() {
  for (const Activation& a : kActivations) {
    register_op(std::string(a.name) + "_forward", kActForward);
    register_op(std::string(a.name) + "_backward", kActBackward);
  }
  register_op("softmax_forward", kSoftmaxForward);
  register_op("log_softmax_forward", kSoftmaxForward);
  register_op("softmax_backward", kSoftmaxBackward);
  register_op("log_softmax_backward", kSoftmaxBackward);
  return true;
}
[[maybe_unused]] const bool registered = register_all();

}  // namespace

std::vector<std::string> activation_names(bool with_params) {
  std::vector<std::string> r;
  for (const Activation& a : kActivations)
    if (a.has_params == with_params) r.push_back(a.name);
  return r;
}

const ActivationDoc& activation_doc(const std::string& name) {
  for (const Activation& a : kActivations)
    if (name == a.name) return a.doc;
  value_error("activation_doc", "name", "a known activation", "'" + name + "'");
}

void activation_forward(const std::string& name, const Tensor& y, const Tensor& x, const ActArgs& args,
                        const std::string& impl) {
  const std::string ops = name + "_forward";
  const char* op = ops.c_str();
  check_input(op, "x", x, kAnyNdimOrScalar, Empty::any);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  if (on_cuda(op, {{"x", &x}, {"out", &y}})) {
    ActParams<double> p;
    const Act a = resolve<double>(name, op, args, p);
    const auto& e = pick(kActForward, op, impl, true, x.dtype);
    if (x.numel == 0) return;  // an empty result; no empty CUDA grid
    return e.cuda(a, p.a, p.b, y, x);
  }
  const auto& e = pick(kActForward, op, impl, false, x.dtype);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    ActParams<T> p;
    const Act a = resolve<T>(name, op, args, p);
    if (x.numel == 0) return;  // parameters checked; an empty result
    e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), x.numel, a, p);
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
    ActParams<double> p;
    const Act a = resolve<double>(name, op, args, p);
    const auto& e = pick(kActBackward, op, impl, true, dy.dtype);
    if (dy.numel == 0) return;
    return e.cuda(a, p.a, p.b, dx, dy, x);
  }
  const auto& e = pick(kActBackward, op, impl, false, dy.dtype);
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    ActParams<T> p;
    const Act a = resolve<T>(name, op, args, p);
    if (dy.numel == 0) return;
    e.cpu.call<T>(dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel, a, p);
  });
}

void softmax_forward(const Tensor& y, const Tensor& x, bool log, const std::string& impl) {
  const char* op = log ? "log_softmax_forward" : "softmax_forward";
  check_input(op, "x", x, kAnyNdim, Empty::any);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  const bool cuda = on_cuda(op, {{"x", &x}, {"out", &y}});
  const auto& e = pick(kSoftmaxForward, op, impl, cuda, x.dtype);
  if (x.numel == 0) return;  // an empty result (and never rows = numel / cols with cols == 0)
  if (cuda) return e.cuda(log, y, x);
  const int64_t cols = x.size(-1), rows = x.numel / cols;
  PB_DISPATCH_FLOAT(x.dtype, T, e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), rows, cols, log));
}

void softmax_backward(const Tensor& dx, const Tensor& dy, const Tensor& y, bool log, const std::string& impl) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_input(op, "dy", dy, kAnyNdim, Empty::any);
  check_input(op, "y", y, {dy.ndim}, Empty::any);
  check_dtype(op, "y", y, dy.dtype);
  check_shape(op, "y", y, dy.shape_vec());
  check_output(op, "out", dx, dy.dtype, dy.shape_vec(), {&dy, &y});
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"y", &y}, {"out", &dx}});
  const auto& e = pick(kSoftmaxBackward, op, impl, cuda, dy.dtype);
  if (dy.numel == 0) return;
  if (cuda) return e.cuda(log, dx, dy, y);
  const int64_t cols = dy.size(-1), rows = dy.numel / cols;
  PB_DISPATCH_FLOAT(dy.dtype, T, e.cpu.call<T>(dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), rows, cols, log));
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
