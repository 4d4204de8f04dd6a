#include "ops/dropout.h"

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "cpu/dropout.h"
#include "cuda/ops.h"
#include "math/dropout.h"

namespace pb::ops {

PB_REGISTER_IMPLS("dropout_forward", "naive", "vec", "stream");
PB_REGISTER_IMPLS("dropout_backward", "naive", "vec", "stream");
PB_REGISTER_IMPLS("dropout_mask", "naive", "vec");

static void check_params(const char* op, double p, int64_t offset, int64_t numel) {
  check_range(op, "p", p, 0.0, 1.0);
  check_nonnegative(op, "offset", offset);
  int64_t end;
  if (__builtin_add_overflow(offset, numel, &end))
    value_error(op, "offset", "offset + number of elements < 2**63", std::to_string(offset));
}

// y = mask(seed, offset) * x * scale over the flat array (forward on x, backward on dy).
template <class T>
static void run(int v, const Tensor& y, const Tensor& x, double p, uint64_t seed, int64_t offset) {
  const uint64_t thr = math::dropout_threshold(p);
  const T scale = math::dropout_scale<T>(p);
  const auto off = static_cast<uint64_t>(offset);
  if (v == 0) PB_CPU_CALL(dropout_forward_naive<T>, y.ptr<T>(), x.ptr<T>(), x.numel, seed, off, thr, scale);
  else if (v == 1) PB_CPU_CALL(dropout_forward_vec<T>, y.ptr<T>(), x.ptr<T>(), x.numel, seed, off, thr, scale);
  else PB_CPU_CALL(dropout_forward_stream<T>, y.ptr<T>(), x.ptr<T>(), x.numel, seed, off, thr, scale);
}

void dropout_forward(const Tensor& y, const Tensor& x, double p, uint64_t seed, int64_t offset, bool training,
                     const std::string& impl) {
  const char* op = "dropout_forward";
  check_input(op, "x", x, kAnyNdim, Empty::any);
  check_params(op, p, offset, x.numel);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  const bool cuda = on_cuda(op, {{"x", &x}, {"out", &y}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (x.numel == 0) return;  // an empty result
  if (cuda) {
    PB_CUDA_ONLY(cuda::dropout_forward(v, y, x, p, seed, static_cast<uint64_t>(offset), training));
    return;
  }
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (!training) PB_CPU_CALL(dropout_identity<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
    else run<T>(v, y, x, p, seed, offset);
  });
}

void dropout_backward(const Tensor& dx, const Tensor& dy, double p, uint64_t seed, int64_t offset,
                      const std::string& impl) {
  const char* op = "dropout_backward";
  check_input(op, "dy", dy, kAnyNdim, Empty::any);
  check_params(op, p, offset, dy.numel);
  check_output(op, "out", dx, dy.dtype, dy.shape_vec(), {&dy});
  const bool cuda = on_cuda(op, {{"dy", &dy}, {"out", &dx}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (dy.numel == 0) return;  // an empty result
  if (cuda) {
    PB_CUDA_ONLY(cuda::dropout_forward(v, dx, dy, p, seed, static_cast<uint64_t>(offset), true));
    return;
  }
  PB_DISPATCH_FLOAT(dy.dtype, T, run<T>(v, dx, dy, p, seed, offset));
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
  const int v = resolve_impl(op, impl);
  if (numel == 0) return;  // an empty mask
  const uint64_t thr = math::dropout_threshold(p);
  if (v == 0) PB_CPU_CALL(dropout_mask_naive, mask, numel, seed, static_cast<uint64_t>(offset), thr);
  else PB_CPU_CALL(dropout_mask_vec, mask, numel, seed, static_cast<uint64_t>(offset), thr);
}

}  // namespace pb::ops
