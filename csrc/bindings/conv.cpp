#include <array>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "ops/conv.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {
// The docstrings (semantics, shapes, PyTorch differences); op_doc adds where the impls are listed.
const char* const kConv2dForwardDoc =
    "2-D convolution (cross-correlation, as PyTorch), NCHW.\n"
    "\n"
    "x: (N, C, H, W); weight: (O, C/groups, kH, kW); bias: (O,) or None. stride, padding and\n"
    "dilation are ints or (h, w) pairs; groups divides C and O (groups == C is depthwise).\n"
    "Returns y of shape (N, O, OH, OW) with OH = (H + 2*padding - dilation*(kH-1) - 1)//stride + 1.\n"
    "Padding is zeros. Differences from PyTorch: padding is an int or a pair only (no 'same' /\n"
    "'valid' strings), inputs must be 4-D (use H = 1 for 1-D signals, N = 1 for one image).\n"
    "\n"
    "The default implementation picks a kernel per shape (impl_info says which). Winograd\n"
    "F(2x2,3x3), where used, rounds differently from direct summation (float32 results differ from\n"
    "PyTorch's in the last bits); every impl gives the same bits for any thread count.";
const char* const kConv2dBackwardDoc =
    "Gradients of conv2d_forward: returns (dx or None, dweight, dbias or None).\n"
    "\n"
    "dy: (N, O, OH, OW), the gradient of the output; x and weight as in the forward, same\n"
    "parameters. ``compute_dx=False`` skips dx (e.g. for a first layer), ``bias=False`` skips dbias.\n"
    "Outputs are overwritten (never accumulated into); pass ``dx=``/``dweight=``/``dbias=`` to reuse\n"
    "buffers. Matches ``torch.ops.aten.convolution_backward`` with output_mask (compute_dx, True, bias).\n"
    "dweight and dbias are summed in an order fixed by the shapes (never by the thread count or\n"
    "scheduling), so they are bitwise reproducible.";
}  // namespace

using Pair = std::array<int64_t, 2>;

static ops::Conv2dParams conv_params(const char* op, py::handle stride_obj, py::handle padding_obj,
                                     py::handle dilation_obj, py::handle groups) {
  const Pair stride = pair_arg(stride_obj, op, "stride"), padding = pair_arg(padding_obj, op, "padding");
  const Pair dilation = pair_arg(dilation_obj, op, "dilation");
  ops::Conv2dParams p;
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dil_h = dilation[0], p.dil_w = dilation[1];
  p.groups = int_arg(groups, op, "groups");
  return p;
}

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", [](py::object x, py::object weight, py::object bias, py::object stride, py::object padding,
                             py::object dilation, py::object groups, py::object out, py::object impl_obj) {
    const char* op = "conv2d_forward";
    Tensor tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight"), tb = to_tensor(bias, op, "bias");
    const ops::Conv2dParams p = conv_params(op, stride, padding, dilation, groups);
    const std::string impl = impl_arg(impl_obj, op);
    py::object o = out_or_empty(out, ops::conv2d_output_shape(op, tx, tw, p), x);
    Tensor ty = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::conv2d_forward(ty, tx, tw, tb, p, impl);
    }
    return o;
  }, "x"_a, "weight"_a, "bias"_a = py::none(), "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1,
     py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("conv2d_forward", kConv2dForwardDoc).c_str());

  m.def("conv2d_backward", [](py::object dy, py::object x, py::object weight, py::object stride, py::object padding,
                              py::object dilation, py::object groups, py::object bias_obj, py::object compute_dx_obj,
                              py::object dx, py::object dweight, py::object dbias, py::object impl_obj) {
    const char* op = "conv2d_backward";
    Tensor tdy = to_tensor(dy, op, "dy"), tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight");
    const ops::Conv2dParams p = conv_params(op, stride, padding, dilation, groups);
    const bool bias = bool_arg(bias_obj, op, "bias"), compute_dx = bool_arg(compute_dx_obj, op, "compute_dx");
    const std::string impl = impl_arg(impl_obj, op);
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
  }, "dy"_a, "x"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1, py::kw_only(),
     "bias"_a = true, "compute_dx"_a = true, "dx"_a = py::none(), "dweight"_a = py::none(), "dbias"_a = py::none(),
     "impl"_a = py::none(),
     op_doc("conv2d_backward", kConv2dBackwardDoc).c_str());
}

}  // namespace pb::bind
