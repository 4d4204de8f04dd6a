// One table per op: its implementations, each with the CPU kernel and the CUDA entry it runs.
//
// A table lists an op's implementations plainest first, the order pybench.ops.impls(op) shows;
// each row is {name, why (one line), CPU kernel, CUDA entry, which device's default it is, where
// it runs (optional, below)}:
//
//   template <class T> using CopyCpu = void(T* y, const T* x, int64_t n);   // the kernels' signature
//   using CopyCuda = void(const Tensor& y, const Tensor& x);                // the CUDA entries'
//   const OpImpl<CpuKernel<CopyCpu>, CopyCuda> kCopy[] = {
//       {"naive", "one thread", PB_CPU_KERNEL(copy_naive), PB_CUDA_ENTRY(copy<cuda::Variant::naive>)},
//       {"stream", "streaming stores", PB_CPU_KERNEL(copy_stream), nullptr, kDefaultCpu},
//       {"memcpy", "cudaMemcpyAsync", {}, PB_CUDA_ENTRY(copy<cuda::Variant::memcpy>), kDefaultCuda},
//   };
//   PB_REGISTER_OP("copy", kCopy);   // impls("copy") == ["naive", "stream"], device="cuda": ["naive", "memcpy"]
//
// The op then runs the row the caller names ("" = the device's default, below) for the data's dtype:
//   const auto& e = pick(kCopy, op, impl, cuda, x.dtype);
//   if (cuda) e.cuda(y, x); else PB_DISPATCH_FLOAT(x.dtype, T, e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), n));
//
// A row with no CPU kernel ({}) is CUDA only, one with no CUDA entry (nullptr) CPU only. Without a
// CUDA build every CUDA entry is nullptr, so the CUDA lists are simply absent. The registry
// (core/dispatch.h: impls_of, registered_ops) is filled from the tables, never written by hand.
//
// Where a row runs. A row may name what it needs (core/dispatch.h: Needs, e.g. kAvx512F32): the
// least SIMD build and float32 only. impls(op, dtype=...) lists only the rows that run on the active
// ISA for that dtype, and naming one that does not is a ValueError saying why; a kernel never
// quietly runs another row's code under its name. So that impl="" keeps running the fastest code
// everywhere, a device may have several default rows: impl="" runs the LAST default row that runs
// here, and the first default row of each device must run everywhere (checked at load time):
//   {"stream", ..., nullptr, kDefaultCpu},              // AVX2, base, float64: stream
//   {"lean", ..., nullptr, kDefaultCpu, kAvx512F32},    // AVX-512 float32: lean
// A condition on the shape (conv2d's winograd, direct) is checked by the op at call time.
// Rows built only with -DPYBENCH_DEV_KERNELS=ON (kernels under dev/kernels/<op>/) sit in the
// table inside #ifdef PB_DEV_KERNELS; they are never a default.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "core/dispatch.h"
#include "core/isa.h"

namespace pb {

#if defined(PB_X86_MULTI)
constexpr int kIsaBuilds = 3;  // pb::cpu::base, avx2, avx512 (core/isa.h)
#else
constexpr int kIsaBuilds = 1;
#endif

// A CPU kernel of csrc/cpu (a template on T declared with PB_CPU_DECLARE): its float and double
// instances in every SIMD build. get<T>() returns the one for the active ISA, as PB_CPU_CALL picks.
// Sig<T> is the kernel's function type, e.g. `template <class T> using Sig = void(T*, const T*, int64_t)`.
template <template <class> class Sig>
struct CpuKernel {
  Sig<float>* f32[kIsaBuilds];
  Sig<double>* f64[kIsaBuilds];

  template <class T> Sig<T>* get() const {
    const int i = kIsaBuilds == 1 ? 0 : static_cast<int>(isa_active());
    if constexpr (std::is_same_v<T, float>) return f32[i];
    else return f64[i];
  }
  // Runs the kernel for T on the active ISA.
  template <class T, class... Args> auto call(Args&&... args) const { return get<T>()(std::forward<Args>(args)...); }
  constexpr bool present() const { return f32[0] != nullptr; }
};

// Which device's default a row is (impl="" runs the last default row that runs here, see above).
enum : unsigned { kDefaultCpu = 1u, kDefaultCuda = 2u, kDefault = kDefaultCpu | kDefaultCuda };

// One row of an op's table. Cpu: a CpuKernel<Sig>, or a struct of them with present() where an
// implementation is several passes (batch norm). Cuda: the function type of the CUDA entries.
template <class Cpu, class Cuda>
struct OpImpl {
  const char* name;
  const char* why;      // one line: what this implementation does differently
  Cpu cpu;              // {}: no CPU implementation by this name
  Cuda* cuda = nullptr; // nullptr: no CUDA implementation by this name (always, without CUDA)
  unsigned defaults = 0;
  Needs needs = kAnywhere;  // where it runs (both devices; the ISA part on the CPU only)
};

template <class E> bool offers(const E& e, bool cuda) { return cuda ? e.cuda != nullptr : e.cpu.present(); }

// ValueError: `impl` is unknown on the device or does not run here (core/dispatch.h: resolve_impl).
[[noreturn]] void cannot_run(const char* op, bool cuda, const std::string& impl, DType dtype);

// The row `impl` names among those the device offers, if it runs here for `dtype`; "" -> the last
// default row of the device that runs here. ValueError otherwise.
template <class E, size_t N>
const E& pick(const E (&table)[N], const char* op, const std::string& impl, bool cuda, DType dtype) {
  const unsigned def = cuda ? kDefaultCuda : kDefaultCpu;
  const AnyFloat dt = any_float(dtype);
  const E* found = nullptr;
  for (const E& e : table)
    if (offers(e, cuda) && (impl.empty() ? (e.defaults & def) != 0 && runs_here(e.needs, cuda, dt) : impl == e.name))
      found = &e;
  if (!found || !runs_here(found->needs, cuda, dt)) cannot_run(op, cuda, impl, dtype);
  return *found;
}

// The list a device offers, as the registry keeps it; std::logic_error unless the table has
// unique names and the device's rows (when it has any) a default that runs everywhere first.
template <class E, size_t N>
ImplList impl_list_of(const char* op, const E (&table)[N], bool cuda) {
  ImplList l;
  const unsigned def = cuda ? kDefaultCuda : kDefaultCpu;
  for (const E& e : table) {
    if (!offers(e, cuda)) continue;
    for (const std::string& n : l.names)
      if (n == e.name) throw std::logic_error(std::string(op) + ": impl '" + n + "' listed twice");
    const bool is_default = (e.defaults & def) != 0;
    bool first_default = is_default;
    for (const ImplRow& r : l.rows) first_default = first_default && !r.is_default;
    if (first_default && (e.needs.f32_only || (!cuda && e.needs.isa != Isa::base)))
      throw std::logic_error(std::string(op) + ": the first default impl '" + e.name + "' must run everywhere");
    l.names.push_back(e.name);
    l.rows.push_back({e.name, e.why, e.needs, is_default});
  }
  bool any_default = false;
  for (const ImplRow& r : l.rows) any_default = any_default || r.is_default;
  if (!l.rows.empty() && !any_default)
    throw std::logic_error(std::string(op) + ": no default impl on " + (cuda ? "cuda" : "cpu"));
  return l;
}

// Makes the table's lists what impls(op) and impls(op, device="cuda") return.
template <class E, size_t N>
void register_op(const std::string& op, const E (&table)[N]) {
  ImplList cpu = impl_list_of(op.c_str(), table, false), cuda = impl_list_of(op.c_str(), table, true);
  if (!cpu.names.empty()) register_impls(op, std::move(cpu));
  if (!cuda.names.empty()) register_impls(cuda_impl_key(op), std::move(cuda));
}

struct OpRegistrar {
  template <class E, size_t N> OpRegistrar(const char* op, const E (&table)[N]) { register_op(op, table); }
};

}  // namespace pb

#define PB_CONCAT2(a, b) a##b
#define PB_CONCAT(a, b) PB_CONCAT2(a, b)
// Registers `table` as the implementations of `op` when the module loads.
#define PB_REGISTER_OP(op, table) static const ::pb::OpRegistrar PB_CONCAT(pb_op_, __LINE__)(op, table)

// The CpuKernel of kernel `fn` (a template on T in csrc/cpu): every build, float and double.
#if defined(PB_X86_MULTI)
#define PB_CPU_KERNEL(fn)                                                                              \
  {                                                                                                    \
    {&::pb::cpu::base::fn<float>, &::pb::cpu::avx2::fn<float>, &::pb::cpu::avx512::fn<float>},        \
        {&::pb::cpu::base::fn<double>, &::pb::cpu::avx2::fn<double>, &::pb::cpu::avx512::fn<double>} \
  }
// A kernel with no dtype (Sig ignores T): the same function for float and double.
#define PB_CPU_KERNEL_UNTYPED(fn)                                                \
  {                                                                              \
    {&::pb::cpu::base::fn, &::pb::cpu::avx2::fn, &::pb::cpu::avx512::fn},       \
        {&::pb::cpu::base::fn, &::pb::cpu::avx2::fn, &::pb::cpu::avx512::fn}    \
  }
// A host function template of csrc/ops that runs several kernels itself (each with PB_CPU_CALL).
#define PB_HOST_KERNEL(fn) \
  { {&fn<float>, &fn<float>, &fn<float>}, {&fn<double>, &fn<double>, &fn<double>} }
#else
#define PB_CPU_KERNEL(fn) { {&::pb::cpu::base::fn<float>}, {&::pb::cpu::base::fn<double>} }
#define PB_CPU_KERNEL_UNTYPED(fn) { {&::pb::cpu::base::fn}, {&::pb::cpu::base::fn} }
#define PB_HOST_KERNEL(fn) { {&fn<float>}, {&fn<double>} }
#endif

// The CUDA entry `fn` of csrc/cuda/ops.h, or nullptr where CUDA is not built (never linked there).
#ifdef PB_WITH_CUDA
#define PB_CUDA_ENTRY(...) (&::pb::cuda::__VA_ARGS__)
#else
#define PB_CUDA_ENTRY(...) nullptr
#endif
