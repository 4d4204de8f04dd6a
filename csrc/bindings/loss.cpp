#include "bindings/bind.h"
#include "bindings/convert.h"
#include "ops/loss.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {

// forward(input, target, *params) -> float
template <class F>
void def_pair_forward(py::module_& m, const char* name, F call) {
  m.def(name, [name, call](py::object input, py::object target, py::object impl_obj) {
    Tensor a = to_tensor(input, name, "input"), b = to_tensor(target, name, "target");
    const std::string impl = impl_arg(impl_obj, name);
    double r;
    {
      py::gil_scoped_release nogil;
      r = call(a, b, impl);
    }
    return r;
  }, "input"_a, "target"_a, py::kw_only(), "impl"_a = py::none());
}

// backward(input, target, *, grad, out) -> dx
template <class F>
void def_pair_backward(py::module_& m, const char* name, F call) {
  m.def(name, [name, call](py::object input, py::object target, py::object grad_obj, py::object out,
                           py::object impl_obj) {
    Tensor a = to_tensor(input, name, "input"), b = to_tensor(target, name, "target");
    const double grad = float_arg(grad_obj, name, "grad");
    const std::string impl = impl_arg(impl_obj, name);
    py::object o = out_or_empty(out, a.shape_vec(), input);
    Tensor d = to_tensor(o, name, "out");
    {
      py::gil_scoped_release nogil;
      call(d, a, b, grad, impl);
    }
    return o;
  }, "input"_a, "target"_a, py::kw_only(), "grad"_a = 1.0, "out"_a = py::none(), "impl"_a = py::none());
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("cross_entropy_forward", [](py::object logits, py::object labels, py::object impl_obj) {
    const char* op = "cross_entropy_forward";
    Tensor tl = to_tensor(logits, op, "logits"), ty = to_tensor(labels, op, "labels");
    const std::string impl = impl_arg(impl_obj, op);
    double r;
    {
      py::gil_scoped_release nogil;
      r = ops::cross_entropy_forward(tl, ty, impl);
    }
    return r;
  }, "logits"_a, "labels"_a, py::kw_only(), "impl"_a = py::none());
  m.def("cross_entropy_backward", [](py::object logits, py::object labels, py::object grad_obj, py::object out,
                                      py::object impl_obj) {
    const char* op = "cross_entropy_backward";
    Tensor tl = to_tensor(logits, op, "logits"), ty = to_tensor(labels, op, "labels");
    const double grad = float_arg(grad_obj, op, "grad");
    const std::string impl = impl_arg(impl_obj, op);
    py::object o = out_or_empty(out, tl.shape_vec(), logits);
    Tensor td = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::cross_entropy_backward(td, tl, ty, grad, impl);
    }
    return o;
  }, "logits"_a, "labels"_a, py::kw_only(), "grad"_a = 1.0, "out"_a = py::none(), "impl"_a = py::none());

  def_pair_forward(m, "mse_forward", [](const Tensor& a, const Tensor& b, const std::string& impl) {
    return ops::mse_forward(a, b, impl);
  });
  def_pair_backward(m, "mse_backward", [](const Tensor& d, const Tensor& a, const Tensor& b, double g,
                                          const std::string& impl) { ops::mse_backward(d, a, b, g, impl); });
  def_pair_forward(m, "bce_with_logits_forward", [](const Tensor& a, const Tensor& b, const std::string& impl) {
    return ops::bce_with_logits_forward(a, b, impl);
  });
  def_pair_backward(m, "bce_with_logits_backward", [](const Tensor& d, const Tensor& a, const Tensor& b, double g,
                                                      const std::string& impl) {
    ops::bce_with_logits_backward(d, a, b, g, impl);
  });

  m.def("huber_forward", [](py::object input, py::object target, py::object delta_obj, py::object impl_obj) {
    const char* op = "huber_forward";
    Tensor a = to_tensor(input, op, "input"), b = to_tensor(target, op, "target");
    const double delta = float_arg(delta_obj, op, "delta");
    const std::string impl = impl_arg(impl_obj, op);
    double r;
    {
      py::gil_scoped_release nogil;
      r = ops::huber_forward(a, b, delta, impl);
    }
    return r;
  }, "input"_a, "target"_a, "delta"_a = 1.0, py::kw_only(), "impl"_a = py::none());
  m.def("huber_backward", [](py::object input, py::object target, py::object delta_obj, py::object grad_obj,
                             py::object out, py::object impl_obj) {
    const char* op = "huber_backward";
    Tensor a = to_tensor(input, op, "input"), b = to_tensor(target, op, "target");
    const double delta = float_arg(delta_obj, op, "delta"), grad = float_arg(grad_obj, op, "grad");
    const std::string impl = impl_arg(impl_obj, op);
    py::object o = out_or_empty(out, a.shape_vec(), input);
    Tensor d = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::huber_backward(d, a, b, delta, grad, impl);
    }
    return o;
  }, "input"_a, "target"_a, "delta"_a = 1.0, py::kw_only(), "grad"_a = 1.0, "out"_a = py::none(),
     "impl"_a = py::none());
}

}  // namespace pb::bind
