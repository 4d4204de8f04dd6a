#include "ops/dropout.h"

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/dropout.h"
#include "cuda/ops.h"
#include "math/dropout.h"

namespace pb::ops {

namespace {

// ---- the implementations (kernels: csrc/cpu/dropout.h; CUDA entries: csrc/cuda/ops.h) ----
// y = mask(seed, offset) * x * scale over the flat array: the forward on x, the backward on dy.
template <class T>
using DropoutCpu = void(T* y, const T* x, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold, T scale);
using DropoutCuda = void(const Tensor& y, const Tensor& x, double p, uint64_t seed, uint64_t offset, bool training);
template <class> using MaskCpu = void(uint8_t* mask, int64_t n, uint64_t seed, uint64_t offset, uint64_t threshold);

const OpImpl<CpuKernel<DropoutCpu>, DropoutCuda> kDropout[] = {
    {"naive", "plain loop, one thread, one Philox call per element; CUDA: the same per thread",
     PB_CPU_KERNEL(dropout_forward_naive), PB_CUDA_ENTRY(dropout_forward<cuda::Variant::naive>)},
    {"vec", "64-element blocks (16 Philox counters) split across threads, Philox in SIMD lanes",
     PB_CPU_KERNEL(dropout_forward_vec), nullptr, kDefaultCpu},
    {"stream", "vec with streaming stores of y from the registers for outputs >= 16 MiB (AVX-512, float32)",
     PB_CPU_KERNEL(dropout_forward_stream), nullptr, kDefaultCpu, kAvx512F32},
    {"vec4", "CUDA: a thread per Philox block of 4 elements (all four words used)", {},
     PB_CUDA_ENTRY(dropout_forward<cuda::Variant::vec4>), kDefaultCuda},
};
const OpImpl<CpuKernel<MaskCpu>, void()> kDropoutMask[] = {
    {"naive", "plain loop, one thread", PB_CPU_KERNEL_UNTYPED(dropout_mask_naive)},
    {"vec", "the blocks of the vec dropout, Philox in SIMD lanes", PB_CPU_KERNEL_UNTYPED(dropout_mask_vec), nullptr,
     kDefaultCpu},
};
PB_REGISTER_OP("dropout_forward", kDropout);
PB_REGISTER_OP("dropout_backward", kDropout);
PB_REGISTER_OP("dropout_mask", kDropoutMask);

}  // namespace

static void check_params(const char* op, double p, int64_t offset, int64_t numel) {
  check_range(op, "p", p, 0.0, 1.0);
  check_nonnegative(op, "offset", offset);
  int64_t end;
  if (__builtin_add_overflow(offset, numel, &end))
    value_error(op, "offset", "offset + number of elements < 2**63", std::to_string(offset));
}

// y = mask(seed, offset) * x * scale over the flat array (forward on x, backward on dy).
template <class T, class Entry>
static void run(const Entry& e, const Tensor& y, const Tensor& x, double p, uint64_t seed, int64_t offset) {
  const uint64_t thr = math::dropout_threshold(p);
  const T scale = math::dropout_scale<T>(p);
  e.cpu.template call<T>(y.ptr<T>(), x.ptr<T>(), x.numel, seed, static_cast<uint64_t>(offset), thr, scale);
}

void dropout_forward(const Tensor& y, const Tensor& x, double p, uint64_t seed, int64_t offset, bool training,
                     const std::string& impl) {
  const char* op = "dropout_forward";
  check_input(op, "x", x, kAnyNdim, Empty::any);
  check_params(op, p, offset, x.numel);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  const bool cuda = on_cuda(op, {{"x", &x}, {"out", &y}});
  const auto& e = pick(kDropout, op, impl, cuda, x.dtype);
  if (x.numel == 0) return;  // an empty result
  if (cuda) return e.cuda(y, x, p, seed, static_cast<uint64_t>(offset), training);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (!training) PB_CPU_CALL(dropout_identity<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
    else run<T>(e, y, x, p, seed, offset);
  });
}

void dropout_backward(const Tensor& dx, const Tensor& dy, double p, uint64_t seed, int64_t offset,
                      const std::string& impl) {
  const char* op = "dropout_backward";
  check_input(op, "dy", dy, kAnyNdim, Empty::any);
  check_params(op, p, offset, dy.numel);
  check_output(op, "out", dx, dy.dtype, dy.shape_vec(), {&dy});
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"out", &dx}});
  const auto& e = pick(kDropout, op, impl, cuda, dy.dtype);
  if (dy.numel == 0) return;  // an empty result
  if (cuda) return e.cuda(dx, dy, p, seed, static_cast<uint64_t>(offset), true);
  PB_DISPATCH_FLOAT(dy.dtype, T, run<T>(e, dx, dy, p, seed, offset));
}

int64_t dropout_mask_check(const Shape& shape, double p, int64_t offset) {
  const char* op = "dropout_mask";
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims))
    value_error(op, "shape", "1 to 8 extents", std::to_string(shape.size()));
  for (int64_t e : shape)
    if (e < 0) value_error(op, "shape", "non-negative extents", "shape " + shape_str(shape));
  const int64_t numel = checked_numel(op, "shape", shape);
  check_params(op, p, offset, numel);
  return numel;
}

void dropout_mask(uint8_t* mask, int64_t numel, double p, uint64_t seed, int64_t offset, const std::string& impl) {
  const char* op = "dropout_mask";
  check_params(op, p, offset, numel);
  const auto& e = pick(kDropoutMask, op, impl, false, DType::f32);
  if (numel == 0) return;  // an empty mask
  e.cpu.call<float>(mask, numel, seed, static_cast<uint64_t>(offset), math::dropout_threshold(p));  // no dtype: either
}

}  // namespace pb::ops
