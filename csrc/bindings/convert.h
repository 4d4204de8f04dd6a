// The one adapter between Python arrays and pb::Tensor views. No copies, ever: an array the
// kernels cannot use as it is gets a TypeError/ValueError from csrc/ops, not a conversion.
// NumPy arrays (buffer of a py::array) give CPU tensors; any object exporting
// __cuda_array_interface__ (CuPy, Numba, PyTorch CUDA tensors) gives a CUDA tensor on its device
// and, for CuPy, CuPy's current stream (pybench/arrays.py: cuda_stream). Outputs for CUDA inputs
// are allocated by pybench/arrays.py (CuPy), so all Python-side array handling lives there.
// Objects exporting only __dlpack__/__dlpack_device__ (JAX arrays, PyTorch CPU tensors) are
// viewed zero-copy as NumPy (CPU) or CuPy (CUDA) arrays by pybench.arrays.from_dlpack; outputs
// allocated for them are NumPy / CuPy arrays.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/tensor.h"

namespace pb::bind {
namespace py = pybind11;

// A view of `obj`. `None` gives a tensor with present=false, so an optional argument is checked
// by the op like any other.
Tensor to_tensor(py::handle obj, const char* op, const char* arg);

// `out` itself if given, else a new C-contiguous array of `shape` with the dtype of `like`
// (allocated here so its shape logic stays in csrc/ops, which computed `shape`), on the device
// of `like` (a CuPy array for a CUDA `like`).
py::object out_or_empty(py::object out, const Shape& shape, py::handle like);
// The same with a NumPy dtype name; on the device of `like` when given (e.g. int64 indices).
py::object out_or_empty(py::object out, const Shape& shape, const char* numpy_dtype, py::handle like = py::none());

// True for an object exporting __cuda_array_interface__ (and not a NumPy array).
bool is_cuda_array(py::handle obj);
}  // namespace pb::bind
