// A non-owning view of an array handed in from Python (NumPy, or a CUDA array such as CuPy's).
// The bindings build it without copying; csrc/ops validates it; kernels see raw pointers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/common.h"

namespace pb {

enum class DType { f32, f64, i64, i32, other };
enum class Device { cpu, cuda };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
    case DType::i32: return "int32";
    default: return "other";
  }
}

constexpr int kMaxDims = 8;
using Shape = std::vector<int64_t>;

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::other;
  std::string dtype_str;        // the caller's name for its dtype, for messages ("int16", "list")
  Device device = Device::cpu;
  int device_id = 0;            // CUDA device ordinal (0 for CPU arrays)
  uintptr_t stream = 0;         // CUDA stream the caller's library works on (CuPy's current stream); 0 = default
  bool present = false;         // false for an omitted optional argument (Python None)
  bool writable = false;
  bool contiguous = false;      // C order
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t numel = 0;
  int64_t itemsize = 0;

  int64_t size(int d) const { return shape[d < 0 ? d + ndim : d]; }
  Shape shape_vec() const { return Shape(shape, shape + ndim); }
  int64_t nbytes() const { return numel * itemsize; }
  template <class T> T* ptr() const { return static_cast<T*>(data); }
};

std::string shape_str(const Shape& s);
inline std::string shape_str(const Tensor& t) { return shape_str(t.shape_vec()); }

}  // namespace pb
