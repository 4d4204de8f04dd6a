// Shared macros and error types for every layer (host, CPU kernels, CUDA kernels).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#ifdef __CUDACC__
#define PB_HD __host__ __device__
// Internal linkage and forced inlining (see the host branch for why).
#define PB_INLINE __host__ __device__ static __forceinline__
#else
#define PB_HD
// Headers are compiled into one translation unit per ISA level (csrc/cpu). An out-of-line copy
// of an inline function built for AVX-512 must never be picked by the linker for baseline
// code, so helpers in headers get internal linkage and are always inlined.
#define PB_INLINE static inline __attribute__((always_inline))
#endif

namespace pb {

// Raised for a wrong dtype; the bindings translate it to Python's TypeError.
// Everything else that is wrong with an argument is std::invalid_argument -> ValueError.
struct TypeError : std::logic_error {
  using std::logic_error::logic_error;
};

// "<op>: <arg>: expected <expected>, got <got>" -- the one shape of every argument error.
inline std::string arg_message(const char* op, const char* arg, const std::string& expected,
                               const std::string& got) {
  return std::string(op) + ": " + arg + ": expected " + expected + ", got " + got;
}
[[noreturn]] inline void value_error(const char* op, const char* arg, const std::string& expected,
                                     const std::string& got) {
  throw std::invalid_argument(arg_message(op, arg, expected, got));
}
[[noreturn]] inline void type_error(const char* op, const char* arg, const std::string& expected,
                                    const std::string& got) {
  throw TypeError(arg_message(op, arg, expected, got));
}

}  // namespace pb
