// dtype dispatch and the registry of the implementations ("variants") each op offers.
#pragma once
#include <string>
#include <vector>

#include "core/common.h"
#include "core/isa.h"
#include "core/tensor.h"

// Runs BODY with T = float or double according to DTYPE (validated before this point).
#define PB_DISPATCH_FLOAT(DTYPE, T, ...)   \
  do {                                     \
    if ((DTYPE) == ::pb::DType::f32) {     \
      using T = float;                     \
      __VA_ARGS__;                         \
    } else {                               \
      using T = double;                    \
      __VA_ARGS__;                         \
    }                                      \
  } while (0)

namespace pb {

// Where an implementation runs: the least SIMD build it needs (CPU rows; the active level, see
// core/isa.h) and whether it takes float32 only. A row whose kernel would run other code
// elsewhere says so here, so that impls() never lists it there and naming it is an error.
struct Needs {
  Isa isa = Isa::base;
  bool f32_only = false;
};
constexpr Needs kAnywhere{};
constexpr Needs kF32Only{Isa::base, true};
constexpr Needs kAvx512F32{Isa::avx512, true};

// The dtype a query is about: one float dtype, or either (impls(op) without dtype).
enum class AnyFloat { f32, f64, either };
inline AnyFloat any_float(DType d) { return d == DType::f32 ? AnyFloat::f32 : AnyFloat::f64; }

// True where a row with `needs` runs on `cuda` (else the CPU at the active level) for `dtype`.
bool runs_here(const Needs& needs, bool cuda, AnyFloat dtype);
// What a row needs ("AVX-512 and float32"; "" for none), and why it does not run here:
// "needs AVX-512 and float32 (this CPU runs avx2, the data is float64)".
std::string needs_str(const Needs& needs, bool cuda);
std::string why_not_here(const Needs& needs, bool cuda, AnyFloat dtype);

// The implementations an op has on one device, plainest first, each with where it runs and
// whether it is a default. Filled from the op tables (core/op_table.h) at load time: op
// "relu_forward" for the CPU, "cuda:relu_forward" for CUDA (only when CUDA is built and the op has
// CUDA entries). Tests and benchmarks enumerate them so no variant goes untested.
struct ImplRow {
  std::string name;
  std::string why;  // one line: what the implementation does
  Needs needs;
  bool is_default = false;  // impl "" runs the last default row that runs here
};
struct ImplList {
  std::vector<ImplRow> rows;
  std::vector<std::string> names;  // every row's name (whether or not it runs here)
};
void register_impls(const std::string& key, ImplList list);
const ImplList& impl_list(const std::string& op);                 // ValueError for an unknown op
const std::vector<std::string>& impls_of(const std::string& op);  // impl_list(op).names
// The names that run here (active ISA, dtype), plainest first: what impls(op) returns.
std::vector<std::string> impls_here(const std::string& key, bool cuda, AnyFloat dtype);
// The name of the row that `impl` ("" = the default) runs here; ValueError naming op, impl,
// expected and got where it is unknown or does not run here.
std::string resolve_impl(const std::string& key, const std::string& impl, bool cuda, DType dtype);
std::vector<std::string> registered_ops();
// "impls('copy'): naive: one thread ...; stream (default): ..." for docstrings.
std::string impls_doc(const std::string& op);

// The registry key of an op's CUDA implementations: "cuda:<op>".
std::string cuda_impl_key(const std::string& op);

}  // namespace pb
