#include "ops/copy.h"

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "cpu/copy.h"
#include "cuda/ops.h"

namespace pb::ops {

PB_REGISTER_IMPLS("copy", "naive", "parallel", "stream");

void copy(const Tensor& y, const Tensor& x, const std::string& impl) {
  const char* op = "copy";
  check_input(op, "src", x, kAnyNdim);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  if (on_cuda(op, {{"src", &x}, {"out", &y}})) {
    PB_CUDA_ONLY(cuda::copy(resolve_cuda_impl(op, impl), y, x));
    return;
  }
  const int v = resolve_impl(op, impl);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (v == 0) PB_CPU_CALL(copy_naive<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
    else if (v == 1) PB_CPU_CALL(copy_parallel<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
    else PB_CPU_CALL(copy_stream<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
  });
}

}  // namespace pb::ops
