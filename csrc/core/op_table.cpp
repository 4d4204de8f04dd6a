#include "core/op_table.h"

namespace pb {

void cannot_run(const char* op, bool cuda, const std::string& impl, DType dtype) {
  resolve_impl(cuda ? cuda_impl_key(op) : std::string(op), impl, cuda, dtype);  // throws the ValueError
  throw std::logic_error(std::string(op) + ": impl '" + impl + "' was refused by the table but not the registry");
}

}  // namespace pb
