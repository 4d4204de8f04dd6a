// pybench._native: argument conversion only; validation lives in csrc/ops.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/bind.h"
#include "core/common.h"
#include "core/dispatch.h"

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
  // What pybench.ops re-exports (`from pybench._native import *`): every registered op bound here and
  // the implementation queries, so a new op needs no Python edit and no hand-kept list.
  pybind11::list all;
  for (const std::string& op : pb::registered_ops())
    if (pybind11::hasattr(m, op.c_str())) all.append(op);
  for (const char* n : {"impl_info", "impls", "isa_active", "isa_supported", "resolve_impl", "set_isa"}) all.append(n);
  m.attr("__all__") = all;
}
