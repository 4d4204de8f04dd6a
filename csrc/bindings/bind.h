#pragma once
#include <pybind11/pybind11.h>

namespace pb::bind {
// One registration function per op family, one file each (bindings/<family>.cpp).
void bind_info(pybind11::module_& m);
void bind_activation(pybind11::module_& m);
void bind_linear(pybind11::module_& m);
void bind_conv(pybind11::module_& m);
void bind_pool(pybind11::module_& m);
void bind_batchnorm(pybind11::module_& m);
void bind_dropout(pybind11::module_& m);
void bind_loss(pybind11::module_& m);
void bind_optim(pybind11::module_& m);
void bind_bench(pybind11::module_& m);
}  // namespace pb::bind
