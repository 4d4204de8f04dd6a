#include "core/device.h"

#include <stdexcept>

namespace pb {

#ifndef PB_WITH_CUDA
CudaStatus cuda_status() {
  CudaStatus s;
  s.reason = "this pybench was built without CUDA (no toolkit found, or -DPYBENCH_CUDA=OFF)";
  return s;
}
#endif

void require_cuda(const char* op) {
  CudaStatus s = cuda_status();
  if (s.device_count == 0) throw std::runtime_error(std::string(op) + ": no usable CUDA device: " + s.reason);
}

}  // namespace pb
