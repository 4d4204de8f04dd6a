#include "ops/copy.h"

#include <algorithm>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "cpu/copy.h"
#include "cuda/ops.h"

namespace pb::ops {

PB_REGISTER_IMPLS("copy", "naive", "parallel", "stream");

void copy(const Tensor& y, const Tensor& x, const std::string& impl) {
  const char* op = "copy";
  check_input(op, "src", x, kAnyNdim, Empty::any);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  const bool cuda = on_cuda(op, {{"src", &x}, {"out", &y}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (x.numel == 0) return;  // no kernel (nor CUDA grid) ever sees an empty array
  if (cuda) {
    PB_CUDA_ONLY(cuda::copy(v, y, x));
    return;
  }
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (v == 0) PB_CPU_CALL(copy_naive<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
    else if (v == 1) PB_CPU_CALL(copy_parallel<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
    else PB_CPU_CALL(copy_stream<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
  });
}

void fill(const char* op, const Tensor& out, double value) {
  if (out.numel == 0) return;
  if (out.device == Device::cuda) {
    PB_CUDA_ONLY(cuda::fill(op, out, value));
    return;
  }
  PB_DISPATCH_FLOAT(out.dtype, T, std::fill(out.ptr<T>(), out.ptr<T>() + out.numel, static_cast<T>(value)));
}

}  // namespace pb::ops
