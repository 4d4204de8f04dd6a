// dtype dispatch and the table of implementations ("variants") each op offers.
#pragma once
#include <string>
#include <vector>

#include "core/common.h"
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

// Every op registers its implementations, plainest first ("naive"), fastest last; the last one
// is the default. Tests and benchmarks enumerate them so no variant goes untested.
struct ImplRegistrar {
  ImplRegistrar(const char* op, std::vector<std::string> impls);
};
const std::vector<std::string>& impls_of(const std::string& op);  // ValueError for unknown op
std::vector<std::string> registered_ops();
// Index of `impl` in the op's list ("" -> the default, the last); ValueError naming the choices.
int resolve_impl(const char* op, const std::string& impl);

}  // namespace pb

#define PB_CONCAT2(a, b) a##b
#define PB_CONCAT(a, b) PB_CONCAT2(a, b)
#define PB_REGISTER_IMPLS(op, ...) \
  static ::pb::ImplRegistrar PB_CONCAT(pb_impls_, __LINE__)(op, {__VA_ARGS__})
