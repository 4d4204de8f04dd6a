#include "core/dispatch.h"

#include <map>
#include <stdexcept>

namespace pb {

static std::map<std::string, std::vector<std::string>>& registry() {
  static std::map<std::string, std::vector<std::string>> r;
  return r;
}

ImplRegistrar::ImplRegistrar(const char* op, std::vector<std::string> impls) { registry()[op] = std::move(impls); }

const std::vector<std::string>& impls_of(const std::string& op) {
  auto it = registry().find(op);
  if (it == registry().end()) throw std::invalid_argument("impls: op: expected a registered op name, got '" + op + "'");
  return it->second;
}

std::vector<std::string> registered_ops() {
  std::vector<std::string> ops;
  for (auto& kv : registry()) ops.push_back(kv.first);
  return ops;
}

int resolve_impl(const char* op, const std::string& impl) {
  const auto& list = impls_of(op);
  if (impl.empty()) return static_cast<int>(list.size()) - 1;
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i] == impl) return static_cast<int>(i);
  std::string choices;
  for (size_t i = 0; i < list.size(); ++i) choices += (i ? ", '" : "'") + list[i] + "'";
  value_error(op, "impl", "one of " + choices, "'" + impl + "'");
}

}  // namespace pb
