#include "core/isa.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace pb {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "base";
  }
}

Isa isa_supported() {
#if defined(PB_X86_MULTI)
  static const Isa best = [] {
    __builtin_cpu_init();  // libgcc also checks that the OS saves the wider registers (XCR0)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512cd"))
      return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
      return Isa::avx2;
    return Isa::base;
  }();
  return best;
#else
  return Isa::base;
#endif
}

static Isa parse(const std::string& s, bool* ok) {
  *ok = true;
  if (s == "avx512") return Isa::avx512;
  if (s == "avx2") return Isa::avx2;
  if (s == "base" || s == "baseline") return Isa::base;
  *ok = false;
  return Isa::base;
}

static std::atomic<int>& active() {
  static std::atomic<int> level = [] {
    Isa best = isa_supported();
    if (const char* env = std::getenv("PYBENCH_ISA")) {
      bool ok;
      Isa want = parse(env, &ok);
      if (ok && static_cast<int>(want) < static_cast<int>(best)) best = want;
    }
    return static_cast<int>(best);
  }();
  return level;
}

Isa isa_active() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

void set_isa(const std::string& name) {
  bool ok;
  Isa want = parse(name, &ok);
  if (!ok) throw std::invalid_argument("set_isa: name: expected 'base', 'avx2' or 'avx512', got '" + name + "'");
  if (static_cast<int>(want) > static_cast<int>(isa_supported()))
    throw std::invalid_argument(std::string("set_isa: name: expected a level this CPU supports (up to '") +
                                isa_name(isa_supported()) + "'), got '" + name + "'");
  active().store(static_cast<int>(want));
}

}  // namespace pb
