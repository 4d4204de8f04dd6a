#include "bindings/bind.h"
#include "bindings/convert.h"
#include "ops/batchnorm.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

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
     "eps"_a = 1e-5, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none());

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
     "dx"_a = py::none(), "dweight"_a = py::none(), "dbias"_a = py::none(), "impl"_a = py::none());
}

}  // namespace pb::bind
