#include "bindings/bind.h"

namespace pb::bind {
void bind_dropout(pybind11::module_& m) {}
}  // namespace pb::bind
