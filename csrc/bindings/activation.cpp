#include "bindings/bind.h"
#include "bindings/convert.h"
#include "ops/activation.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

void bind_activation(py::module_& m) {
  m.def("relu_forward", [](py::object x, py::object out, std::string impl) {
    Tensor tx = to_tensor(x, "relu_forward", "x");
    py::object o = out_or_empty(out, tx.shape_vec(), x);
    Tensor ty = to_tensor(o, "relu_forward", "out");
    {
      py::gil_scoped_release nogil;
      ops::relu_forward(ty, tx, impl);
    }
    return o;
  }, "x"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = "");
  m.def("relu_backward", [](py::object dy, py::object x, py::object out, std::string impl) {
    Tensor tdy = to_tensor(dy, "relu_backward", "dy"), tx = to_tensor(x, "relu_backward", "x");
    py::object o = out_or_empty(out, tdy.shape_vec(), dy);
    Tensor tdx = to_tensor(o, "relu_backward", "out");
    {
      py::gil_scoped_release nogil;
      ops::relu_backward(tdx, tdy, tx, impl);
    }
    return o;
  }, "dy"_a, "x"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = "");
}

}  // namespace pb::bind
