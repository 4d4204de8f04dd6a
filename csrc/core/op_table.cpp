#include "core/op_table.h"

namespace pb {

void unknown_impl(const char* op, bool cuda, const std::string& impl) {
  const std::string key = cuda ? cuda_impl_key(op) : std::string(op);
  const auto& list = impls_of(key);
  std::string choices;
  for (size_t i = 0; i < list.size(); ++i) choices += (i ? ", '" : "'") + list[i] + "'";
  value_error(key.c_str(), "impl", "one of " + choices, "'" + impl + "'");
}

}  // namespace pb
