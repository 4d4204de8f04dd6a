// What the CUDA side of this build can do, asked without ever failing: a build without a
// toolkit, a machine without a driver and a machine without a GPU all answer plainly.
// Also the one device decision every op makes (cpu:: or cuda::), so csrc/ops stays short.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/tensor.h"

namespace pb {

struct CudaStatus {
  bool built = false;       // CUDA sources compiled into this module
  int device_count = 0;     // usable devices (0 when no driver or no GPU)
  std::string device_name;  // of device 0
  int cc_major = 0, cc_minor = 0;
  std::string reason;       // why no device is usable, when device_count == 0
};
CudaStatus cuda_status();

// Throws RuntimeError("<op>: CUDA ...: <reason>") unless a device is usable; every CUDA entry calls it first.
void require_cuda(const char* op);

// One argument of an op as the device check sees it.
struct NamedTensor {
  const char* name;
  const Tensor* t;
};

// The device of a call: that of its first present tensor. Every other present tensor must be on
// the same device (and CUDA device ordinal), else ValueError "op: arg: expected an array on
// cuda:0 (the device of x), got cpu". Returns true for CUDA, after require_cuda(op) (RuntimeError
// where CUDA is not built or no GPU is usable) and after making the tensors' device and stream
// current for the calling thread (cuda_enter). Returns false for CPU.
bool on_cuda(const char* op, std::initializer_list<NamedTensor> args);

// The CUDA device ordinal of a device pointer (cudaPointerGetAttributes); -1 if it is not a
// device pointer or CUDA is not built. Used by the bindings for producers that don't say.
int cuda_pointer_device(const void* p);

}  // namespace pb

// Statements that exist only in a CUDA build: the cuda:: entry points are not linked otherwise
// (on_cuda() has already thrown there, so the statement is never reached).
#ifdef PB_WITH_CUDA
#define PB_CUDA_ONLY(...) __VA_ARGS__
#else
#define PB_CUDA_ONLY(...) ((void)0)
#endif
