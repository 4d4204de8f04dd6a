#include "ops/pool.h"

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/pool.h"
#include "cuda/ops.h"

namespace pb::ops {

namespace {

// ---- the implementations (kernels: csrc/cpu/pool.h; CUDA entries: csrc/cuda/ops.h) ----
template <class T> using MaxForwardCpu = void(T* y, int64_t* idx, const T* x, const PoolGeom& g);
template <class T> using MaxBackwardCpu = int64_t(T* dx, const T* dy, const int64_t* idx, const PoolGeom& g);
template <class T> using AvgCpu = void(T* out, const T* in, const PoolGeom& g, bool count_include_pad);
template <class T> using GlobalAvgCpu = void(T* out, const T* in, int64_t planes, int64_t HW);
using MaxForwardCuda = void(const Tensor& y, const Tensor& indices, const Tensor& x, const PoolGeom& g);
using MaxBackwardCuda = int64_t(const Tensor& dx, const Tensor& dy, const Tensor& indices, const PoolGeom& g);
using AvgCuda = void(const Tensor& out, const Tensor& in, const PoolGeom& g, bool count_include_pad);
using GlobalAvgCuda = void(const Tensor& out, const Tensor& in);

constexpr const char* kNaive =
    "plain loops, one thread; CUDA: a thread per output (backward: per input element, per plane for max)";
constexpr const char* kFast = "threads over planes, window loops as row loops the compiler vectorizes";

const OpImpl<CpuKernel<MaxForwardCpu>, MaxForwardCuda> kMaxForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(max_pool2d_forward_naive), PB_CUDA_ENTRY(max_pool2d_forward), kDefaultCuda},
    {"fast", kFast, PB_CPU_KERNEL(max_pool2d_forward_fast), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<MaxBackwardCpu>, MaxBackwardCuda> kMaxBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(max_pool2d_backward_naive), PB_CUDA_ENTRY(max_pool2d_backward), kDefaultCuda},
    {"fast", kFast, PB_CPU_KERNEL(max_pool2d_backward_fast), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<AvgCpu>, AvgCuda> kAvgForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(avg_pool2d_forward_naive), PB_CUDA_ENTRY(avg_pool2d_forward), kDefaultCuda},
    {"fast", kFast, PB_CPU_KERNEL(avg_pool2d_forward_fast), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<AvgCpu>, AvgCuda> kAvgBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(avg_pool2d_backward_naive), PB_CUDA_ENTRY(avg_pool2d_backward), kDefaultCuda},
    {"fast", kFast, PB_CPU_KERNEL(avg_pool2d_backward_fast), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<GlobalAvgCpu>, GlobalAvgCuda> kGlobalAvgForward[] = {
    {"naive", "plain loops, one thread; CUDA: a thread per plane", PB_CPU_KERNEL(global_avg_pool2d_forward_naive),
     PB_CUDA_ENTRY(global_avg_pool2d_forward<cuda::Variant::naive>)},
    {"fast", kFast, PB_CPU_KERNEL(global_avg_pool2d_forward_fast), nullptr, kDefaultCpu},
    {"warp", "CUDA: a warp per plane (coalesced reads, butterfly sum)", {},
     PB_CUDA_ENTRY(global_avg_pool2d_forward<cuda::Variant::warp>), kDefaultCuda},
};
const OpImpl<CpuKernel<GlobalAvgCpu>, GlobalAvgCuda> kGlobalAvgBackward[] = {
    {"naive", "plain loops, one thread; CUDA: a thread per input element",
     PB_CPU_KERNEL(global_avg_pool2d_backward_naive), PB_CUDA_ENTRY(global_avg_pool2d_backward), kDefaultCuda},
    {"fast", kFast, PB_CPU_KERNEL(global_avg_pool2d_backward_fast), nullptr, kDefaultCpu},
};
PB_REGISTER_OP("max_pool2d_forward", kMaxForward);
PB_REGISTER_OP("max_pool2d_backward", kMaxBackward);
PB_REGISTER_OP("avg_pool2d_forward", kAvgForward);
PB_REGISTER_OP("avg_pool2d_backward", kAvgBackward);
PB_REGISTER_OP("global_avg_pool2d_forward", kGlobalAvgForward);
PB_REGISTER_OP("global_avg_pool2d_backward", kGlobalAvgBackward);

std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

void check_params(const char* op, const Pool2dParams& p) {
  if (p.kernel_h <= 0 || p.kernel_w <= 0)
    value_error(op, "kernel_size", "positive integers", pair_str(p.kernel_h, p.kernel_w));
  if (p.stride_h <= 0 || p.stride_w <= 0)
    value_error(op, "stride", "positive integers", pair_str(p.stride_h, p.stride_w));
  if (p.pad_h < 0 || p.pad_w < 0) value_error(op, "padding", "non-negative integers", pair_str(p.pad_h, p.pad_w));
  if (p.pad_h > p.kernel_h / 2 || p.pad_w > p.kernel_w / 2)
    value_error(op, "padding", "at most half the kernel size " + pair_str(p.kernel_h / 2, p.kernel_w / 2),
                pair_str(p.pad_h, p.pad_w));
}

PoolGeom geometry(const char* op, const Shape& s, const Pool2dParams& p) {
  check_params(op, p);
  // Guard the kernel against absurd values before H + 2*pad is formed (pad <= kernel/2).
  if (p.kernel_h > (int64_t(1) << 40) || p.kernel_w > (int64_t(1) << 40))
    value_error(op, "kernel_size", "a window no larger than the padded input", pair_str(p.kernel_h, p.kernel_w));
  PoolGeom g{};
  g.planes = checked_mul(op, "x", s[0], s[1]);
  g.H = s[2], g.W = s[3];
  g.KH = p.kernel_h, g.KW = p.kernel_w, g.sh = p.stride_h, g.sw = p.stride_w, g.ph = p.pad_h, g.pw = p.pad_w;
  if (g.KH > g.H + 2 * g.ph || g.KW > g.W + 2 * g.pw)
    value_error(op, "kernel_size", "a window no larger than the padded input " + pair_str(g.H + 2 * g.ph, g.W + 2 * g.pw),
                pair_str(g.KH, g.KW));
  g.OH = (g.H + 2 * g.ph - g.KH) / g.sh + 1;
  g.OW = (g.W + 2 * g.pw - g.KW) / g.sw + 1;
  checked_numel(op, "output", {s[0], s[1], g.OH, g.OW});
  return g;
}

}  // namespace

Shape pool2d_output_shape(const char* op, const Shape& s, const Pool2dParams& p) {
  if (s.size() != 4) value_error(op, "x", "a 4-D (N, C, H, W) array", std::to_string(s.size()) + "-D");
  for (size_t d = 0; d < s.size(); ++d)
    if (s[d] < 0 || (s[d] == 0 && d > 0))
      value_error(op, "x", "a nonzero size in every dimension but the batch (dim 0)", "shape " + shape_str(s));
  const PoolGeom g = geometry(op, s, p);
  return {s[0], s[1], g.OH, g.OW};
}

void check_pool_input_shape(const char* op, const Shape& s, const Tensor& dy, int dy_ndim) {
  check_input(op, "dy", dy, {dy_ndim}, Empty::batch);
  if (s.size() != 4) value_error(op, "input_shape", "4 extents (N, C, H, W)", std::to_string(s.size()) + " extents");
  for (size_t d = 0; d < s.size(); ++d)
    if (s[d] < 0 || (s[d] == 0 && d > 0))
      value_error(op, "input_shape", "positive extents (N may be 0)", shape_str(s));
  checked_numel(op, "input_shape", s);
  if (dy.shape[0] != s[0] || dy.shape[1] != s[1])
    value_error(op, "input_shape", "N and C equal to dy's " + pair_str(dy.shape[0], dy.shape[1]), shape_str(s));
}

void max_pool2d_forward(const Tensor& y, const Tensor& indices, const Tensor& x, const Pool2dParams& p,
                        const std::string& impl) {
  const char* op = "max_pool2d_forward";
  check_input(op, "x", x, {4}, Empty::batch);
  const Shape os = pool2d_output_shape(op, x.shape_vec(), p);
  const PoolGeom g = geometry(op, x.shape_vec(), p);
  check_output(op, "out", y, x.dtype, os, {&x});
  check_output(op, "indices", indices, DType::i64, os, {&x});
  check_disjoint(op, "indices", indices, y);
  const bool cuda = on_cuda(op, {{"x", &x}, {"out", &y}, {"indices", &indices}});
  const auto& e = pick(kMaxForward, op, impl, cuda, x.dtype);
  if (g.planes == 0) return;  // an empty batch: empty results
  if (cuda) return e.cuda(y, indices, x, g);
  PB_DISPATCH_FLOAT(x.dtype, T, e.cpu.call<T>(y.ptr<T>(), indices.ptr<int64_t>(), x.ptr<T>(), g));
}

void max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const Shape& input_shape,
                         const std::string& impl) {
  const char* op = "max_pool2d_backward";
  check_pool_input_shape(op, input_shape, dy, 4);
  check_labels(op, "indices", indices, dy.shape_vec());
  check_output(op, "out", dx, dy.dtype, input_shape, {&dy, &indices});
  PoolGeom g{};
  g.planes = dy.shape[0] * dy.shape[1], g.H = input_shape[2], g.W = input_shape[3];
  g.OH = dy.shape[2], g.OW = dy.shape[3];
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"indices", &indices}, {"out", &dx}});
  const auto& e = pick(kMaxBackward, op, impl, cuda, dy.dtype);
  if (g.planes == 0) return;  // an empty batch: an empty result
  int64_t bad = 0;
  if (cuda) bad = e.cuda(dx, dy, indices, g);
  else PB_DISPATCH_FLOAT(dy.dtype, T, bad = e.cpu.call<T>(dx.ptr<T>(), dy.ptr<T>(), indices.ptr<int64_t>(), g));
  if (bad)
    value_error(op, "indices", "positions in [0, H*W=" + std::to_string(g.H * g.W) + ")",
                std::to_string(bad) + " out-of-range values (out is not valid)");
}

void avg_pool2d_forward(const Tensor& y, const Tensor& x, const Pool2dParams& p, bool count_include_pad,
                        const std::string& impl) {
  const char* op = "avg_pool2d_forward";
  check_input(op, "x", x, {4}, Empty::batch);
  const Shape os = pool2d_output_shape(op, x.shape_vec(), p);
  const PoolGeom g = geometry(op, x.shape_vec(), p);
  check_output(op, "out", y, x.dtype, os, {&x});
  const bool cuda = on_cuda(op, {{"x", &x}, {"out", &y}});
  const auto& e = pick(kAvgForward, op, impl, cuda, x.dtype);
  if (g.planes == 0) return;  // an empty batch: an empty result
  if (cuda) return e.cuda(y, x, g, count_include_pad);
  PB_DISPATCH_FLOAT(x.dtype, T, e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), g, count_include_pad));
}

void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const Shape& input_shape, const Pool2dParams& p,
                         bool count_include_pad, const std::string& impl) {
  const char* op = "avg_pool2d_backward";
  check_pool_input_shape(op, input_shape, dy, 4);
  const Shape os = pool2d_output_shape(op, input_shape, p);
  check_shape(op, "dy", dy, os);
  check_output(op, "out", dx, dy.dtype, input_shape, {&dy});
  const PoolGeom g = geometry(op, input_shape, p);
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"out", &dx}});
  const auto& e = pick(kAvgBackward, op, impl, cuda, dy.dtype);
  if (g.planes == 0) return;  // an empty batch: an empty result
  if (cuda) return e.cuda(dx, dy, g, count_include_pad);
  PB_DISPATCH_FLOAT(dy.dtype, T, e.cpu.call<T>(dx.ptr<T>(), dy.ptr<T>(), g, count_include_pad));
}

void global_avg_pool2d_forward(const Tensor& y, const Tensor& x, const std::string& impl) {
  const char* op = "global_avg_pool2d_forward";
  check_input(op, "x", x, {4}, Empty::batch);
  check_output(op, "out", y, x.dtype, {x.shape[0], x.shape[1]}, {&x});
  const int64_t planes = x.shape[0] * x.shape[1], HW = x.shape[2] * x.shape[3];
  const bool cuda = on_cuda(op, {{"x", &x}, {"out", &y}});
  const auto& e = pick(kGlobalAvgForward, op, impl, cuda, x.dtype);
  if (planes == 0) return;  // an empty batch: an empty result
  if (cuda) return e.cuda(y, x);
  PB_DISPATCH_FLOAT(x.dtype, T, e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), planes, HW));
}

void global_avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const Shape& input_shape, const std::string& impl) {
  const char* op = "global_avg_pool2d_backward";
  check_pool_input_shape(op, input_shape, dy, 2);
  check_output(op, "out", dx, dy.dtype, input_shape, {&dy});
  const int64_t planes = dy.shape[0] * dy.shape[1], HW = input_shape[2] * input_shape[3];
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"out", &dx}});
  const auto& e = pick(kGlobalAvgBackward, op, impl, cuda, dy.dtype);
  if (planes == 0) return;  // an empty batch: an empty result
  if (cuda) return e.cuda(dx, dy);
  PB_DISPATCH_FLOAT(dy.dtype, T, e.cpu.call<T>(dx.ptr<T>(), dy.ptr<T>(), planes, HW));
}

}  // namespace pb::ops
