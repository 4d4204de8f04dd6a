#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "ops/batchnorm.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {
// The docstrings (semantics, shapes, PyTorch differences); op_doc adds where the impls are listed.
const char* const kBatchNormForwardDoc =
    "Batch normalization forward.\n"
    "\n"
    "Args:\n"
    "    x: (N, C) or (N, C, H, W) float32/float64, C-contiguous.\n"
    "    weight, bias: (C,) arrays of x's dtype, or None (1 and 0: no affine transform).\n"
    "    running_mean, running_var: (C,) arrays of x's dtype, updated in place when training; both\n"
    "        or neither may be None (then no running statistics are kept; ``training`` must be True).\n"
    "    training: use batch statistics (True) or the running statistics (False).\n"
    "    momentum: in [0, 1]; eps: finite, >= 0.\n"
    "    out: optional output for y (x's shape and dtype, not overlapping any input).\n"
    "\n"
    "Returns:\n"
    "    (y, save_mean, save_invstd), the last two of shape (C,).\n"
    "\n"
    "Raises ValueError in training mode when a channel has a single value (N * H * W == 1), as\n"
    "PyTorch does. An empty batch (N = 0; the other extents must be > 0) gives an empty ``y``, as\n"
    "PyTorch: in training the running statistics are left untouched and ``save_mean`` /\n"
    "``save_invstd`` (statistics of no values) are NaN; in eval they come from the running\n"
    "statistics as usual.";
const char* const kBatchNormBackwardDoc =
    "Batch normalization backward.\n"
    "\n"
    "``save_mean``/``save_invstd`` are the forward's second and third results. With\n"
    "``training=True`` the mean and variance are functions of x (the full batch-norm gradient);\n"
    "with ``training=False`` they are constants (``dx = dy * weight * invstd``).\n"
    "\n"
    "Returns:\n"
    "    (dx, dweight, dbias); dweight = sum(dy * xhat) and dbias = sum(dy) per channel, both None\n"
    "    when ``weight`` is None (then dweight/dbias must not be given). For an empty batch (N = 0)\n"
    "    dx is empty and dweight / dbias are zeros, as PyTorch.";
}  // namespace

void bind_batchnorm(py::module_& m) {
  m.def("batch_norm_forward", [](py::object x, py::object weight, py::object bias, py::object running_mean,
                                 py::object running_var, py::object training_obj, py::object momentum_obj,
                                 py::object eps_obj, py::object out, py::object impl_obj) {
    const char* op = "batch_norm_forward";
    Tensor tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight"), tb = to_tensor(bias, op, "bias");
    Tensor trm = to_tensor(running_mean, op, "running_mean"), trv = to_tensor(running_var, op, "running_var");
    const bool training = bool_arg(training_obj, op, "training");
    const double momentum = float_arg(momentum_obj, op, "momentum"), eps = float_arg(eps_obj, op, "eps");
    const std::string impl = impl_arg(impl_obj, op);
    // Shapes of the allocated outputs come from x; a malformed x is reported by the op below
    // (a placeholder shape keeps the allocation harmless until then).
    const bool shaped = tx.present && (tx.ndim == 2 || tx.ndim == 4);
    const Shape cshape{shaped ? tx.shape[1] : 1};
    auto alloc = [&](py::object given, const Shape& s) {
      return shaped ? out_or_empty(given, s, x) : out_or_empty(given, s, "float32");
    };
    py::object o = alloc(out, shaped ? tx.shape_vec() : Shape{1});
    py::object sm = alloc(py::none(), cshape), si = alloc(py::none(), cshape);
    Tensor ty = to_tensor(o, op, "out"), tsm = to_tensor(sm, op, "save_mean"), tsi = to_tensor(si, op, "save_invstd");
    {
      py::gil_scoped_release nogil;
      ops::batch_norm_forward(ty, tsm, tsi, tx, tw, tb, trm, trv, training, momentum, eps, impl);
    }
    return py::make_tuple(o, sm, si);
  }, "x"_a, "weight"_a, "bias"_a, "running_mean"_a, "running_var"_a, "training"_a = true, "momentum"_a = 0.1,
     "eps"_a = 1e-5, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("batch_norm_forward", kBatchNormForwardDoc).c_str());

  m.def("batch_norm_backward", [](py::object dy, py::object x, py::object weight, py::object save_mean,
                                  py::object save_invstd, py::object training_obj, py::object dx, py::object dweight,
                                  py::object dbias, py::object impl_obj) {
    const char* op = "batch_norm_backward";
    Tensor tdy = to_tensor(dy, op, "dy"), tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight");
    Tensor tsm = to_tensor(save_mean, op, "save_mean"), tsi = to_tensor(save_invstd, op, "save_invstd");
    const bool training = bool_arg(training_obj, op, "training");
    const std::string impl = impl_arg(impl_obj, op);
    const bool shaped = tdy.present && (tdy.ndim == 2 || tdy.ndim == 4);
    auto alloc = [&](py::object given, const Shape& s) {
      return shaped ? out_or_empty(given, s, dy) : out_or_empty(given, s, "float32");
    };
    py::object odx = alloc(dx, shaped ? tdy.shape_vec() : Shape{1});
    py::object odw = dweight, odb = dbias;
    if (tw.present) {
      const Shape cshape{shaped ? tdy.shape[1] : 1};
      odw = alloc(dweight, cshape);
      odb = alloc(dbias, cshape);
    }
    Tensor tdx = to_tensor(odx, op, "dx"), tdw = to_tensor(odw, op, "dweight"), tdb = to_tensor(odb, op, "dbias");
    {
      py::gil_scoped_release nogil;
      ops::batch_norm_backward(tdx, tdw, tdb, tdy, tx, tw, tsm, tsi, training, impl);
    }
    return py::make_tuple(odx, tw.present ? odw : py::none(), tw.present ? odb : py::none());
  }, "dy"_a, "x"_a, "weight"_a, "save_mean"_a, "save_invstd"_a, "training"_a = true, py::kw_only(),
     "dx"_a = py::none(), "dweight"_a = py::none(), "dbias"_a = py::none(), "impl"_a = py::none(),
     op_doc("batch_norm_backward", kBatchNormBackwardDoc).c_str());
}

}  // namespace pb::bind
