#include "core/device.h"

#include <stdexcept>

#include "core/common.h"

namespace pb {

#ifndef PB_WITH_CUDA
CudaStatus cuda_status() {
  CudaStatus s;
  s.reason = "this pybench was built without CUDA (no toolkit found, or -DPYBENCH_CUDA=OFF)";
  return s;
}
int cuda_pointer_device(const void*) { return -1; }
#endif

#ifdef PB_WITH_CUDA
void cuda_enter(int device, uintptr_t stream);  // csrc/cuda/device.cu
#endif

void require_cuda(const char* op) {
  CudaStatus s = cuda_status();
  if (!s.built) throw std::runtime_error(std::string(op) + ": CUDA backend not built: " + s.reason);
  if (s.device_count == 0) throw std::runtime_error(std::string(op) + ": CUDA device not usable: " + s.reason);
}

static std::string device_str(const Tensor& t) {
  return t.device == Device::cpu ? std::string("cpu") : "cuda:" + std::to_string(t.device_id);
}

bool on_cuda(const char* op, std::initializer_list<NamedTensor> args) {
  const NamedTensor* first = nullptr;
  for (const NamedTensor& a : args) {
    if (!a.t || !a.t->present) continue;
    if (!first) {
      first = &a;
      continue;
    }
    if (a.t->device != first->t->device || a.t->device_id != first->t->device_id)
      value_error(op, a.name, "an array on " + device_str(*first->t) + " (the device of " + first->name + ")",
                  device_str(*a.t));
  }
  if (!first || first->t->device != Device::cuda) return false;
  require_cuda(op);
#ifdef PB_WITH_CUDA
  cuda_enter(first->t->device_id, first->t->stream);
#endif
  return true;
}

}  // namespace pb
