// Grow-only scratch memory for the CPU kernels (conv2d, pooling), compiled into each ISA namespace
// like the files that include it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/common.h"

namespace pb::cpu::PB_ISA_NS {

// Grow-only scratch memory, one per thread and use (fresh pages cost ~1 us per 4 KiB here, so
// the buffers are kept across calls). get() returns null when memory runs out.
struct Scratch {
  void* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  template <class T> T* get(int64_t n) {
    size_t bytes = (static_cast<size_t>(n) * sizeof(T) + 63) & ~size_t(63);
    if (bytes == 0) bytes = 64;
    if (bytes > cap) {
      std::free(p);
      p = std::aligned_alloc(64, bytes);
      cap = p ? bytes : 0;
    }
    return static_cast<T*>(p);
  }
};

}  // namespace pb::cpu::PB_ISA_NS
