#include "core/dispatch.h"

#include <map>
#include <stdexcept>

namespace pb {

static std::map<std::string, ImplList>& registry() {
  static std::map<std::string, ImplList> r;
  return r;
}

void register_impls(const std::string& key, ImplList list) { registry()[key] = std::move(list); }

const ImplList& impl_list(const std::string& op) {
  auto it = registry().find(op);
  if (it == registry().end()) throw std::invalid_argument("impls: op: expected a registered op name, got '" + op + "'");
  return it->second;
}

const std::vector<std::string>& impls_of(const std::string& op) { return impl_list(op).names; }

std::vector<std::string> registered_ops() {
  std::vector<std::string> ops;
  for (auto& kv : registry()) ops.push_back(kv.first);
  return ops;
}

std::string impls_doc(const std::string& op) {
  const ImplList& l = impl_list(op);
  std::string r = "impls('" + op + "'):";
  for (size_t i = 0; i < l.names.size(); ++i)
    r += "\n  " + l.names[i] + (l.names[i] == l.default_name ? " (the default): " : ": ") + l.why[i];
  return r;
}

std::string cuda_impl_key(const std::string& op) { return "cuda:" + op; }

}  // namespace pb
