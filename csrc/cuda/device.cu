// Device query for the CUDA backend. The runtime is linked statically, so this module imports
// on machines without a driver; we ask for the device count before any other call and turn
// "driver version is insufficient" or "no device" into a reason string.
#include <cuda_runtime.h>

#include "core/device.h"
#include "cuda/common.cuh"

namespace pb {

CudaStatus cuda_status() {
  CudaStatus s;
  s.built = true;
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    s.reason = std::string("CUDA runtime: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later queries start clean
    return s;
  }
  if (n == 0) {
    s.reason = "no CUDA device found";
    return s;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    s.reason = "cudaGetDeviceProperties failed";
    return s;
  }
  s.device_count = n;
  s.device_name = prop.name;
  s.cc_major = prop.major;
  s.cc_minor = prop.minor;
  return s;
}

int cuda_pointer_device(const void* p) {
  cudaPointerAttributes a;
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged) return -1;
  return a.device;
}

namespace {
thread_local cudaStream_t t_stream = nullptr;
}

// Called by on_cuda() for every CUDA call: the device of the arrays and the caller's stream.
void cuda_enter(int device, uintptr_t stream) {
  int cur = -1;
  if (cudaGetDevice(&cur) != cudaSuccess || cur != device)
    if (cudaSetDevice(device) != cudaSuccess)
      cuda::fail("cuda_enter", "cudaSetDevice", cudaGetLastError());
  t_stream = reinterpret_cast<cudaStream_t>(stream);
}

namespace cuda {

cudaStream_t stream() { return t_stream; }

void fail(const char* op, const char* what, cudaError_t err) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw std::runtime_error(std::string(op) + ": CUDA " + what + ": " + cudaGetErrorString(err));
}

}  // namespace cuda
}  // namespace pb
