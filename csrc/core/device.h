// What the CUDA side of this build can do, asked without ever failing: a build without a
// toolkit, a machine without a driver and a machine without a GPU all answer plainly.
#pragma once
#include <string>

namespace pb {

struct CudaStatus {
  bool built = false;       // CUDA sources compiled into this module
  int device_count = 0;     // usable devices (0 when no driver or no GPU)
  std::string device_name;  // of device 0
  int cc_major = 0, cc_minor = 0;
  std::string reason;       // why no device is usable, when device_count == 0
};
CudaStatus cuda_status();

// Throws RuntimeError with `reason` unless a device is usable; every CUDA entry calls it first.
void require_cuda(const char* op);

}  // namespace pb
