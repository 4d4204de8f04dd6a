// The one adapter between Python arguments and the ops: arrays become pb::Tensor views, scalars
// are converted with checks (float_arg, int_arg, ... below). No copies, ever: an array the
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

#include <array>
#include <cstdint>
#include <string>
#include <utility>

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

// Scalar and tuple arguments. Every binding takes them as py::object and converts them here, so a
// wrong type is a TypeError and an out-of-range value a ValueError naming the op and the argument
// (pybind11's casters would refuse the call with "incompatible function arguments" and a dump of
// every argument, arrays included). A bool is never taken for a number.
double float_arg(py::handle v, const char* op, const char* arg);     // int, float, numbers.Real
bool bool_arg(py::handle v, const char* op, const char* arg);        // bool, numpy.bool
int64_t int_arg(py::handle v, const char* op, const char* arg, int64_t lo = INT64_MIN);  // in [lo, 2**63)
uint64_t uint64_arg(py::handle v, const char* op, const char* arg);  // in [0, 2**64)
std::string str_arg(py::handle v, const char* op, const char* arg);
std::string impl_arg(py::handle v, const char* op);  // a str, or None for the default ("")
// An int (both extents) or a tuple/list of two ints: stride, padding, dilation, kernel_size.
std::array<int64_t, 2> pair_arg(py::handle v, const char* op, const char* arg);
// A tuple/list of ints (an int too, as a 1-tuple, when int_ok): input_shape, dropout_mask's shape.
Shape shape_arg(py::handle v, const char* op, const char* arg, bool int_ok = false);
// A tuple/list of two real numbers (Adam's betas); the elements are named "<arg>[0]", "<arg>[1]".
std::pair<double, double> float_pair_arg(py::handle v, const char* op, const char* arg);
}  // namespace pb::bind
