#include "ops/copy.h"

#include <algorithm>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/copy.h"
#include "cuda/ops.h"

namespace pb::ops {

namespace {

// The copy that bounds every memory-bound kernel (kernels: csrc/cpu/copy.h; CUDA: csrc/cuda/ops.h).
template <class T> using CopyCpu = void(T* y, const T* x, int64_t n);
using CopyCuda = void(const Tensor& y, const Tensor& x);

const OpImpl<CpuKernel<CopyCpu>, CopyCuda> kCopy[] = {
    {"naive", "one thread, one element at a time; CUDA: a thread per element, grid-stride",
     PB_CPU_KERNEL(copy_naive), PB_CUDA_ENTRY(copy<cuda::Variant::naive>)},
    {"parallel", "one contiguous slice per thread, each a libc memcpy", PB_CPU_KERNEL(copy_parallel), nullptr},
    {"stream", "parallel with streaming stores for copies of >= 8 MiB", PB_CPU_KERNEL(copy_stream), nullptr,
     kDefaultCpu},
    {"memcpy", "CUDA: cudaMemcpyAsync device to device (the copy engine path)", {},
     PB_CUDA_ENTRY(copy<cuda::Variant::memcpy>), kDefaultCuda},
};
PB_REGISTER_OP("copy", kCopy);

}  // namespace

void copy(const Tensor& y, const Tensor& x, const std::string& impl) {
  const char* op = "copy";
  check_input(op, "src", x, kAnyNdim, Empty::any);
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  const bool cuda = on_cuda(op, {{"src", &x}, {"out", &y}});
  const auto& e = pick(kCopy, op, impl, cuda, x.dtype);
  if (x.numel == 0) return;  // no kernel (nor CUDA grid) ever sees an empty array
  if (cuda) return e.cuda(y, x);
  PB_DISPATCH_FLOAT(x.dtype, T, e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), x.numel));
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
