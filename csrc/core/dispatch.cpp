#include "core/dispatch.h"

#include <map>
#include <stdexcept>

#include "core/check.h"

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

bool runs_here(const Needs& needs, bool cuda, AnyFloat dtype) {
  if (needs.f32_only && dtype == AnyFloat::f64) return false;
  return cuda || static_cast<int>(isa_active()) >= static_cast<int>(needs.isa);
}

std::string needs_str(const Needs& needs, bool cuda) {
  std::string need;
  if (!cuda && needs.isa != Isa::base) need = needs.isa == Isa::avx512 ? "AVX-512" : "AVX2";
  if (needs.f32_only) need += need.empty() ? "float32" : " and float32";
  return need;
}

std::string why_not_here(const Needs& needs, bool cuda, AnyFloat dtype) {
  std::string have;
  if (!cuda && needs.isa != Isa::base) have = std::string("this CPU runs ") + isa_name(isa_active());
  if (needs.f32_only && dtype != AnyFloat::either)
    have += std::string(have.empty() ? "" : ", ") + "the data is " + (dtype == AnyFloat::f32 ? "float32" : "float64");
  return "needs " + needs_str(needs, cuda) + (have.empty() ? "" : " (" + have + ")");
}

std::vector<std::string> impls_here(const std::string& key, bool cuda, AnyFloat dtype) {
  std::vector<std::string> r;
  for (const ImplRow& row : impl_list(key).rows)
    if (runs_here(row.needs, cuda, dtype)) r.push_back(row.name);
  return r;
}

std::string resolve_impl(const std::string& key, const std::string& impl, bool cuda, DType dtype) {
  const AnyFloat dt = any_float(dtype);
  const ImplList& l = impl_list(key);
  const ImplRow* found = nullptr;
  for (const ImplRow& row : l.rows)
    if (impl.empty() ? row.is_default && runs_here(row.needs, cuda, dt) : row.name == impl) found = &row;
  if (found && runs_here(found->needs, cuda, dt)) return found->name;
  std::string choices;
  for (const std::string& n : impls_here(key, cuda, dt)) choices += (choices.empty() ? "'" : ", '") + n + "'";
  if (!found) value_error(key.c_str(), "impl", "one of " + choices, "'" + impl + "'");
  value_error(key.c_str(), "impl", "one that runs here (" + choices + ")",
              "'" + impl + "', which " + why_not_here(found->needs, cuda, dt));
}

std::vector<std::string> registered_ops() {
  std::vector<std::string> ops;
  for (auto& kv : registry()) ops.push_back(kv.first);
  return ops;
}

std::string impls_doc(const std::string& op) {
  const ImplList& l = impl_list(op);
  int defaults = 0;
  for (const ImplRow& row : l.rows) defaults += row.is_default;
  std::string r = "impls('" + op + "'):";
  for (const ImplRow& row : l.rows)
    r += "\n  " + row.name + (!row.is_default ? ": " : defaults == 1 ? " (the default): " : " (a default): ") + row.why;
  if (defaults > 1) r += "\n  (impl=None runs the last default that runs on this CPU and dtype)";
  return r;
}

std::string cuda_impl_key(const std::string& op) { return "cuda:" + op; }

}  // namespace pb
