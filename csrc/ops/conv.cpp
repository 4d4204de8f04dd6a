#include "ops/conv.h"

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/conv2d.h"
#include "cuda/ops.h"
#include "ops/copy.h"

namespace pb::ops {

namespace {

// ---- the implementations (kernels: csrc/cpu/conv2d.h; CUDA entries: csrc/cuda/ops.h) ----
template <class T> using ForwardCpu = void(T* y, const T* x, const T* w, const T* b, const ConvGeom& g);
template <class T>
using BackwardCpu = void(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g);
using ForwardCuda = void(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeom& g);
using BackwardCuda = void(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                          const Tensor& x, const Tensor& weight, const ConvGeom& g);

constexpr const char* kNaive = "direct loops, one thread (the reading copy); CUDA: a thread per output value";
constexpr const char* kIm2col = "per sample (threads over the batch): x unfolded into columns, one GEMM per group";
constexpr const char* kWinograd = "Winograd F(2x2,3x3): 3x3 kernels, stride 1, dilation 1, groups 1, padding <= 2";
constexpr const char* kDirect =
    "AVX-512 float32 kernels for one input channel, 3x3, stride 1 (a first layer; backward: dW, db only)";
constexpr const char* kFast = "per shape: direct, GEMM on x for 1x1, depthwise kernel, Winograd, else im2col";
constexpr const char* kIgemm = "CUDA: implicit GEMM through 64x64 shared-memory tiles (dx: the naive gather)";

const OpImpl<CpuKernel<ForwardCpu>, ForwardCuda> kForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(conv2d_forward_naive), PB_CUDA_ENTRY(conv2d_forward<cuda::Variant::naive>)},
    {"im2col", kIm2col, PB_CPU_KERNEL(conv2d_forward_im2col), nullptr},
    {"winograd", kWinograd, PB_CPU_KERNEL(conv2d_forward_winograd), nullptr},
    {"direct", kDirect, PB_CPU_KERNEL(conv2d_forward_direct), nullptr, 0, kAvx512F32},
    {"fast", kFast, PB_CPU_KERNEL(conv2d_forward_fast), nullptr, kDefaultCpu},
    {"igemm", kIgemm, {}, PB_CUDA_ENTRY(conv2d_forward<cuda::Variant::igemm>), kDefaultCuda},
};
const OpImpl<CpuKernel<BackwardCpu>, BackwardCuda> kBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(conv2d_backward_naive), PB_CUDA_ENTRY(conv2d_backward<cuda::Variant::naive>)},
    {"im2col", kIm2col, PB_CPU_KERNEL(conv2d_backward_im2col), nullptr},
    {"winograd", kWinograd, PB_CPU_KERNEL(conv2d_backward_winograd), nullptr},
    {"direct", kDirect, PB_CPU_KERNEL(conv2d_backward_direct), nullptr, 0, kAvx512F32},
    {"fast", kFast, PB_CPU_KERNEL(conv2d_backward_fast), nullptr, kDefaultCpu},
    {"igemm", kIgemm, {}, PB_CUDA_ENTRY(conv2d_backward<cuda::Variant::igemm>), kDefaultCuda},
};
PB_REGISTER_OP("conv2d_forward", kForward);
PB_REGISTER_OP("conv2d_backward", kBackward);

int64_t checked_add(const char* op, const char* arg, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) value_error(op, arg, "sizes whose sum fits in 64 bits", "an overflowing sum");
  return r;
}

std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

// winograd and direct named on a shape they do not handle: a ValueError (their kernels would run
// fast's code under their name). with_dx: the backward asks for dx (direct computes dW, db only).
void check_handles(const char* op, const std::string& name, const ConvGeom& g, bool with_dx) {
  const bool wino = name == "winograd" && !cpu::winograd_handles(g);
  const bool direct = name == "direct" && (!cpu::direct_handles(g) || with_dx);
  if (!wino && !direct) return;
  const std::string got = "'" + name + "' on a " + std::to_string(g.KH) + "x" + std::to_string(g.KW) + " kernel, " +
                          std::to_string(g.C) + " input channel(s), stride " + pair_str(g.sh, g.sw) + ", dilation " +
                          pair_str(g.dh, g.dw) + ", groups " + std::to_string(g.groups) + ", padding " +
                          pair_str(g.ph, g.pw) + (with_dx ? ", with dx" : "");
  if (wino) value_error(op, "impl", "'winograd' on 3x3 kernels, stride 1, dilation 1, groups 1, padding <= 2", got);
  value_error(op, "impl", "'direct' on one input channel, a 3x3 kernel, stride 1, dilation 1, groups 1" +
              std::string(with_dx ? ", dx=None (it computes dW and db only)" : ""), got);
}

ConvGeom geometry(const char* op, const Tensor& x, const Tensor& weight, const Conv2dParams& p) {
  check_input(op, "x", x, {4}, Empty::batch);
  check_input(op, "weight", weight, {4});
  check_dtype(op, "weight", weight, x.dtype);
  if (p.stride_h <= 0 || p.stride_w <= 0)
    value_error(op, "stride", "positive integers", pair_str(p.stride_h, p.stride_w));
  if (p.pad_h < 0 || p.pad_w < 0) value_error(op, "padding", "non-negative integers", pair_str(p.pad_h, p.pad_w));
  if (p.dil_h <= 0 || p.dil_w <= 0)
    value_error(op, "dilation", "positive integers", pair_str(p.dil_h, p.dil_w));
  check_positive(op, "groups", p.groups);
  ConvGeom g{};
  g.N = x.shape[0], g.C = x.shape[1], g.H = x.shape[2], g.W = x.shape[3];
  g.O = weight.shape[0], g.KH = weight.shape[2], g.KW = weight.shape[3];
  g.sh = p.stride_h, g.sw = p.stride_w, g.ph = p.pad_h, g.pw = p.pad_w, g.dh = p.dil_h, g.dw = p.dil_w;
  g.groups = p.groups;
  if (g.C % g.groups != 0)
    value_error(op, "groups", "a divisor of the input channels C=" + std::to_string(g.C), std::to_string(g.groups));
  if (g.O % g.groups != 0)
    value_error(op, "weight", "out channels (dim 0) divisible by groups=" + std::to_string(g.groups),
                std::to_string(g.O));
  check_shape(op, "weight", weight, {-1, g.C / g.groups, -1, -1});
  // Extents of the padded input and of the dilated kernel, with overflow guards.
  const int64_t hp = checked_add(op, "padding", g.H, checked_mul(op, "padding", 2, g.ph));
  const int64_t wp = checked_add(op, "padding", g.W, checked_mul(op, "padding", 2, g.pw));
  const int64_t eh = checked_add(op, "dilation", checked_mul(op, "dilation", g.dh, g.KH - 1), 1);
  const int64_t ew = checked_add(op, "dilation", checked_mul(op, "dilation", g.dw, g.KW - 1), 1);
  if (eh > hp || ew > wp)
    value_error(op, "weight", "a (dilated) kernel no larger than the padded input " + pair_str(hp, wp),
                "a kernel extent of " + pair_str(eh, ew));
  g.OH = (hp - eh) / g.sh + 1;
  g.OW = (wp - ew) / g.sw + 1;
  checked_numel(op, "output", {g.N, g.O, g.OH, g.OW});
  return g;
}

}  // namespace

Shape conv2d_output_shape(const char* op, const Tensor& x, const Tensor& weight, const Conv2dParams& p) {
  const ConvGeom g = geometry(op, x, weight, p);
  return {g.N, g.O, g.OH, g.OW};
}

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv2dParams& p, const std::string& impl) {
  const char* op = "conv2d_forward";
  const ConvGeom g = geometry(op, x, weight, p);
  if (bias.present) {
    check_input(op, "bias", bias, {1});
    check_dtype(op, "bias", bias, x.dtype);
    check_shape(op, "bias", bias, {g.O});
  }
  check_output(op, "out", y, x.dtype, {g.N, g.O, g.OH, g.OW}, {&x, &weight, &bias});
  const bool cuda = on_cuda(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}, {"out", &y}});
  const auto& e = pick(kForward, op, impl, cuda, x.dtype);
  if (!cuda) check_handles(op, e.name, g, false);
  if (g.N == 0) return;  // an empty batch: an empty result
  if (cuda) return e.cuda(y, x, weight, bias, g);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    const T* b = bias.present ? bias.ptr<T>() : nullptr;
    e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), b, g);
  });
}

void conv2d_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                     const Tensor& x, const Tensor& weight, const Conv2dParams& p, const std::string& impl) {
  const char* op = "conv2d_backward";
  const ConvGeom g = geometry(op, x, weight, p);
  check_input(op, "dy", dy, {4}, Empty::batch);
  check_dtype(op, "dy", dy, x.dtype);
  check_shape(op, "dy", dy, {g.N, g.O, g.OH, g.OW});
  const std::initializer_list<const Tensor*> ins = {&dy, &x, &weight};
  check_output(op, "dweight", dweight, x.dtype, weight.shape_vec(), ins);
  if (dx.present) {
    check_output(op, "dx", dx, x.dtype, x.shape_vec(), ins);
    check_disjoint(op, "dx", dx, dweight);
  }
  if (dbias.present) {
    check_output(op, "dbias", dbias, x.dtype, {g.O}, ins);
    check_disjoint(op, "dbias", dbias, dweight);
    if (dx.present) check_disjoint(op, "dbias", dbias, dx);
  }
  const bool cuda =
      on_cuda(op, {{"x", &x}, {"weight", &weight}, {"dy", &dy}, {"dx", &dx}, {"dweight", &dweight}, {"dbias", &dbias}});
  const auto& e = pick(kBackward, op, impl, cuda, x.dtype);
  if (!cuda) check_handles(op, e.name, g, dx.present);
  if (g.N == 0) {  // an empty batch: dx empty, dW and db sums over no images (zeros, as PyTorch)
    fill(op, dweight, 0.0);
    if (dbias.present) fill(op, dbias, 0.0);
    return;
  }
  if (cuda) return e.cuda(dx, dweight, dbias, dy, x, weight, g);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    T* pdx = dx.present ? dx.ptr<T>() : nullptr;
    T* pdb = dbias.present ? dbias.ptr<T>() : nullptr;
    e.cpu.call<T>(pdx, dweight.ptr<T>(), pdb, dy.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), g);
  });
}

}  // namespace pb::ops
