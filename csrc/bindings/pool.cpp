#include <array>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "core/check.h"
#include "ops/pool.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {
// The docstrings (semantics, shapes, PyTorch differences); op_doc adds where the impls are listed.
const char* const kMaxPool2dForwardDoc =
    "Max over kH x kW windows: returns (y, indices), y (N, C, OH, OW).\n"
    "\n"
    "indices are int64 positions h*W + w of the maximum within each input plane (as PyTorch's\n"
    "return_indices=True). Padding counts as -inf; among equal maxima the first in row-major window\n"
    "order wins; a NaN in the window wins (NaN propagates). OH = (H + 2*padding - kH)//stride + 1.";
const char* const kMaxPool2dBackwardDoc =
    "dx of shape input_shape (N, C, H, W): dy scattered (added) at the forward's indices.\n"
    "\n"
    "Raises ValueError if an index lies outside [0, H*W) (out then holds no valid result).";
const char* const kAvgPool2dForwardDoc =
    "Mean over kH x kW windows (zero padding). count_include_pad=True divides by kH*kW, else by\n"
    "the number of in-bounds elements of the window (PyTorch's rule).";
const char* const kAvgPool2dBackwardDoc =
    "dx of shape input_shape: each dy spread evenly (dy / divisor) over its window.";
const char* const kGlobalAvgPool2dForwardDoc =
    "(N, C, H, W) -> (N, C): the mean of each plane (adaptive_avg_pool2d(x, 1) flattened).";
const char* const kGlobalAvgPool2dBackwardDoc =
    "dx (N, C, H, W) = dy[n, c] / (H*W) everywhere in plane (n, c).";
}  // namespace

using Pair = std::array<int64_t, 2>;

// stride None: the kernel size, as PyTorch.
static ops::Pool2dParams pool_params(const char* op, py::handle kernel_obj, py::handle stride_obj,
                                     py::handle padding_obj) {
  const Pair kernel = pair_arg(kernel_obj, op, "kernel_size");
  const Pair stride = stride_obj.is_none() ? kernel : pair_arg(stride_obj, op, "stride");
  const Pair padding = pair_arg(padding_obj, op, "padding");
  ops::Pool2dParams p;
  p.kernel_h = kernel[0], p.kernel_w = kernel[1];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  return p;
}

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", [](py::object x, py::object kernel_size, py::object stride, py::object padding,
                                 py::object out, py::object indices, py::object impl_obj) {
    const char* op = "max_pool2d_forward";
    Tensor tx = to_tensor(x, op, "x");
    const ops::Pool2dParams p = pool_params(op, kernel_size, stride, padding);
    const std::string impl = impl_arg(impl_obj, op);
    check_input(op, "x", tx, {4}, Empty::batch);
    const Shape s = ops::pool2d_output_shape(op, tx.shape_vec(), p);
    py::object o = out_or_empty(out, s, x), oi = out_or_empty(indices, s, "int64", x);
    Tensor ty = to_tensor(o, op, "out"), ti = to_tensor(oi, op, "indices");
    {
      py::gil_scoped_release nogil;
      ops::max_pool2d_forward(ty, ti, tx, p, impl);
    }
    return py::make_tuple(o, oi);
  }, "x"_a, "kernel_size"_a, "stride"_a = py::none(), "padding"_a = 0, py::kw_only(), "out"_a = py::none(),
     "indices"_a = py::none(), "impl"_a = py::none(),
     op_doc("max_pool2d_forward", kMaxPool2dForwardDoc).c_str());

  m.def("max_pool2d_backward", [](py::object dy, py::object indices, py::object input_shape, py::object out,
                                  py::object impl_obj) {
    const char* op = "max_pool2d_backward";
    Tensor tdy = to_tensor(dy, op, "dy"), ti = to_tensor(indices, op, "indices");
    const Shape s = shape_arg(input_shape, op, "input_shape");
    const std::string impl = impl_arg(impl_obj, op);
    ops::check_pool_input_shape(op, s, tdy, 4);
    py::object o = out_or_empty(out, s, dy);
    Tensor tdx = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::max_pool2d_backward(tdx, tdy, ti, s, impl);
    }
    return o;
  }, "dy"_a, "indices"_a, "input_shape"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("max_pool2d_backward", kMaxPool2dBackwardDoc).c_str());

  m.def("avg_pool2d_forward", [](py::object x, py::object kernel_size, py::object stride, py::object padding,
                                 py::object count_include_pad_obj, py::object out, py::object impl_obj) {
    const char* op = "avg_pool2d_forward";
    Tensor tx = to_tensor(x, op, "x");
    const ops::Pool2dParams p = pool_params(op, kernel_size, stride, padding);
    const bool count_include_pad = bool_arg(count_include_pad_obj, op, "count_include_pad");
    const std::string impl = impl_arg(impl_obj, op);
    check_input(op, "x", tx, {4}, Empty::batch);
    py::object o = out_or_empty(out, ops::pool2d_output_shape(op, tx.shape_vec(), p), x);
    Tensor ty = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::avg_pool2d_forward(ty, tx, p, count_include_pad, impl);
    }
    return o;
  }, "x"_a, "kernel_size"_a, "stride"_a = py::none(), "padding"_a = 0, "count_include_pad"_a = true, py::kw_only(),
     "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("avg_pool2d_forward", kAvgPool2dForwardDoc).c_str());

  m.def("avg_pool2d_backward", [](py::object dy, py::object input_shape, py::object kernel_size, py::object stride,
                                  py::object padding, py::object count_include_pad_obj, py::object out,
                                  py::object impl_obj) {
    const char* op = "avg_pool2d_backward";
    Tensor tdy = to_tensor(dy, op, "dy");
    const Shape s = shape_arg(input_shape, op, "input_shape");
    const ops::Pool2dParams p = pool_params(op, kernel_size, stride, padding);
    const bool count_include_pad = bool_arg(count_include_pad_obj, op, "count_include_pad");
    const std::string impl = impl_arg(impl_obj, op);
    ops::check_pool_input_shape(op, s, tdy, 4);
    py::object o = out_or_empty(out, s, dy);
    Tensor tdx = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::avg_pool2d_backward(tdx, tdy, s, p, count_include_pad, impl);
    }
    return o;
  }, "dy"_a, "input_shape"_a, "kernel_size"_a, "stride"_a = py::none(), "padding"_a = 0, "count_include_pad"_a = true,
     py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("avg_pool2d_backward", kAvgPool2dBackwardDoc).c_str());

  m.def("global_avg_pool2d_forward", [](py::object x, py::object out, py::object impl_obj) {
    const char* op = "global_avg_pool2d_forward";
    Tensor tx = to_tensor(x, op, "x");
    const std::string impl = impl_arg(impl_obj, op);
    check_input(op, "x", tx, {4}, Empty::batch);
    py::object o = out_or_empty(out, Shape{tx.shape[0], tx.shape[1]}, x);
    Tensor ty = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::global_avg_pool2d_forward(ty, tx, impl);
    }
    return o;
  }, "x"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("global_avg_pool2d_forward", kGlobalAvgPool2dForwardDoc).c_str());

  m.def("global_avg_pool2d_backward", [](py::object dy, py::object input_shape, py::object out, py::object impl_obj) {
    const char* op = "global_avg_pool2d_backward";
    Tensor tdy = to_tensor(dy, op, "dy");
    const Shape s = shape_arg(input_shape, op, "input_shape");
    const std::string impl = impl_arg(impl_obj, op);
    ops::check_pool_input_shape(op, s, tdy, 2);
    py::object o = out_or_empty(out, s, dy);
    Tensor tdx = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::global_avg_pool2d_backward(tdx, tdy, s, impl);
    }
    return o;
  }, "dy"_a, "input_shape"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("global_avg_pool2d_backward", kGlobalAvgPool2dBackwardDoc).c_str());
}

}  // namespace pb::bind
