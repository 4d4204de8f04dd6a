// Device query for the CUDA backend. The runtime is linked statically, so this module imports
// on machines without a driver; we ask for the device count before any other call and turn
// "driver version is insufficient" or "no device" into a reason string.
#include <cuda_runtime.h>

#include "core/device.h"

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

}  // namespace pb
