// The one adapter between Python arrays and pb::Tensor views. No copies, ever: an array the
// kernels cannot use as it is gets a TypeError/ValueError from csrc/ops, not a conversion.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/tensor.h"

namespace pb::bind {
namespace py = pybind11;

// A view of `obj` (a NumPy array; CuPy arrays arrive with the CUDA backend). `None` gives a
// tensor with present=false, so an optional argument is checked by the op like any other.
Tensor to_tensor(py::handle obj, const char* op, const char* arg);

// `out` itself if given, else a new C-contiguous array of `shape` with the dtype of `like`
// (allocated here so its shape logic stays in csrc/ops, which computed `shape`).
py::object out_or_empty(py::object out, const Shape& shape, py::handle like);
py::object out_or_empty(py::object out, const Shape& shape, const char* numpy_dtype);

// Raise a pybind11-friendly error if `obj` is a Python float where an int is required, etc.
}  // namespace pb::bind
