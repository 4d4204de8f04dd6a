#include "bindings/bind.h"

namespace pb::bind {
void bind_optim(pybind11::module_& m) {}
}  // namespace pb::bind
