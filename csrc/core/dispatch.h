// dtype dispatch and the registry of the implementations ("variants") each op offers.
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

// The names an op offers on one device, plainest first, and the one impl "" picks. Filled from the
// op tables (core/op_table.h) at load time: op "relu_forward" for the CPU, "cuda:relu_forward" for
// CUDA (only when CUDA is built and the op has CUDA entries). Tests and benchmarks enumerate them
// so no variant goes untested.
struct ImplList {
  std::vector<std::string> names;
  std::vector<std::string> why;  // one line per name: what the implementation does
  std::string default_name;
};
void register_impls(const std::string& key, ImplList list);
const ImplList& impl_list(const std::string& op);                 // ValueError for an unknown op
const std::vector<std::string>& impls_of(const std::string& op);  // impl_list(op).names
std::vector<std::string> registered_ops();
// "impls('copy'): naive: one thread ...; stream (default): ..." for docstrings.
std::string impls_doc(const std::string& op);

// The registry key of an op's CUDA implementations: "cuda:<op>".
std::string cuda_impl_key(const std::string& op);

}  // namespace pb
