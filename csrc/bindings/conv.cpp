#include <pybind11/stl.h>

#include <array>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "ops/conv.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

using Pair = std::array<int64_t, 2>;

static ops::Conv2dParams conv_params(Pair stride, Pair padding, Pair dilation, int64_t groups) {
  ops::Conv2dParams p;
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dil_h = dilation[0], p.dil_w = dilation[1];
  p.groups = groups;
  return p;
}

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", [](py::object x, py::object weight, py::object bias, Pair stride, Pair padding,
                             Pair dilation, int64_t groups, py::object out, std::string impl) {
    const char* op = "conv2d_forward";
    Tensor tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight"), tb = to_tensor(bias, op, "bias");
    const ops::Conv2dParams p = conv_params(stride, padding, dilation, groups);
    py::object o = out_or_empty(out, ops::conv2d_output_shape(op, tx, tw, p), x);
    Tensor ty = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::conv2d_forward(ty, tx, tw, tb, p, impl);
    }
    return o;
  }, "x"_a, "weight"_a, "bias"_a = py::none(), "stride"_a = Pair{1, 1}, "padding"_a = Pair{0, 0},
     "dilation"_a = Pair{1, 1}, "groups"_a = 1, py::kw_only(), "out"_a = py::none(), "impl"_a = "");

  m.def("conv2d_backward", [](py::object dy, py::object x, py::object weight, Pair stride, Pair padding,
                              Pair dilation, int64_t groups, bool bias, bool compute_dx, py::object dx,
                              py::object dweight, py::object dbias, std::string impl) {
    const char* op = "conv2d_backward";
    Tensor tdy = to_tensor(dy, op, "dy"), tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight");
    const ops::Conv2dParams p = conv_params(stride, padding, dilation, groups);
    ops::conv2d_output_shape(op, tx, tw, p);  // validates x and weight before anything is allocated
    if (!compute_dx && !dx.is_none()) value_error(op, "dx", "None when compute_dx is False", "an array");
    if (!bias && !dbias.is_none()) value_error(op, "dbias", "None when bias is False", "an array");
    py::object odx = compute_dx ? out_or_empty(dx, tx.shape_vec(), x) : py::none();
    py::object odw = out_or_empty(dweight, tw.shape_vec(), x);
    py::object odb = bias ? out_or_empty(dbias, Shape{tw.shape[0]}, x) : py::none();
    Tensor tdx = to_tensor(odx, op, "dx"), tdw = to_tensor(odw, op, "dweight"), tdb = to_tensor(odb, op, "dbias");
    {
      py::gil_scoped_release nogil;
      ops::conv2d_backward(tdx, tdw, tdb, tdy, tx, tw, p, impl);
    }
    return py::make_tuple(odx, odw, odb);
  }, "dy"_a, "x"_a, "weight"_a, "stride"_a = Pair{1, 1}, "padding"_a = Pair{0, 0}, "dilation"_a = Pair{1, 1},
     "groups"_a = 1, py::kw_only(), "bias"_a = true, "compute_dx"_a = true, "dx"_a = py::none(),
     "dweight"_a = py::none(), "dbias"_a = py::none(), "impl"_a = "");
}

}  // namespace pb::bind
