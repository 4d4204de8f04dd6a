// pybench._native: argument conversion only; validation lives in csrc/ops.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bind.h"
#include "core/common.h"

PYBIND11_MODULE(_native, m) {
  m.doc() = "pybench native kernels (C++/OpenMP CPU backend, optional CUDA backend)";
  pybind11::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const pb::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  pb::bind::bind_info(m);
  pb::bind::bind_activation(m);
  pb::bind::bind_linear(m);
  pb::bind::bind_conv(m);
  pb::bind::bind_pool(m);
  pb::bind::bind_batchnorm(m);
  pb::bind::bind_dropout(m);
  pb::bind::bind_loss(m);
  pb::bind::bind_optim(m);
  pb::bind::bind_bench(m);
}
