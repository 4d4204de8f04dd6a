#include "bindings/bind.h"

namespace pb::bind {
void bind_batchnorm(pybind11::module_& m) {}
}  // namespace pb::bind
