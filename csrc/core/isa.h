// Runtime choice of the SIMD build of the CPU kernels.
//
// Every csrc/cpu/*.cpp is compiled once per level (CMakeLists.txt): baseline x86-64 (SSE2),
// x86-64-v3 (AVX2+FMA) and x86-64-v4 (AVX-512), into namespaces pb::cpu::base / avx2 / avx512.
// A kernel header declares its functions in all of them with PB_CPU_DECLARE, and csrc/ops calls
// the active one with PB_CPU_CALL. The active level is the best the CPU supports, capped by the
// PYBENCH_ISA environment variable or set_isa() (tests run every level the machine has).
#pragma once
#include <string>

namespace pb {

enum class Isa { base = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
Isa isa_supported();  // best level this CPU (and OS) can run
Isa isa_active();     // level in use
void set_isa(const std::string& name);  // "base", "avx2", "avx512"; ValueError if unsupported

}  // namespace pb

#if defined(PB_X86_MULTI)
#define PB_CPU_DECLARE(...)                 \
  namespace pb::cpu::base { __VA_ARGS__ }   \
  namespace pb::cpu::avx2 { __VA_ARGS__ }   \
  namespace pb::cpu::avx512 { __VA_ARGS__ }
#define PB_CPU_CALL(fn, ...)                                                         \
  (::pb::isa_active() == ::pb::Isa::avx512 ? ::pb::cpu::avx512::fn(__VA_ARGS__)      \
   : ::pb::isa_active() == ::pb::Isa::avx2 ? ::pb::cpu::avx2::fn(__VA_ARGS__)        \
                                           : ::pb::cpu::base::fn(__VA_ARGS__))
#else
#define PB_CPU_DECLARE(...) namespace pb::cpu::base { __VA_ARGS__ }
#define PB_CPU_CALL(fn, ...) ::pb::cpu::base::fn(__VA_ARGS__)
#endif
