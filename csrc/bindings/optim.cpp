#include <tuple>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "ops/optim.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

void bind_optim(py::module_& m) {
  m.def("sgd_step", [](py::object param, py::object grad, py::object momentum_buf, py::object lr, py::object momentum,
                       py::object dampening, py::object nesterov, py::object weight_decay, py::object step,
                       py::object impl) {
    const char* op = "sgd_step";
    Tensor p = to_tensor(param, op, "param"), g = to_tensor(grad, op, "grad"), b = to_tensor(momentum_buf, op, "momentum_buf");
    math::SgdConfig c;
    c.lr = float_arg(lr, op, "lr"), c.momentum = float_arg(momentum, op, "momentum");
    c.dampening = float_arg(dampening, op, "dampening"), c.nesterov = bool_arg(nesterov, op, "nesterov");
    c.weight_decay = float_arg(weight_decay, op, "weight_decay"), c.step = int_arg(step, op, "step");
    const std::string im = impl_arg(impl, op);
    py::gil_scoped_release nogil;
    ops::sgd_step(p, b, g, c, im);
  }, "param"_a, "grad"_a, "momentum_buf"_a = py::none(), py::kw_only(), "lr"_a, "momentum"_a = 0.0,
     "dampening"_a = 0.0, "nesterov"_a = false, "weight_decay"_a = 0.0, "step"_a = 1, "impl"_a = py::none());

  m.def("adagrad_step", [](py::object param, py::object grad, py::object state_sum, py::object step, py::object lr,
                           py::object lr_decay, py::object weight_decay, py::object eps, py::object impl) {
    const char* op = "adagrad_step";
    Tensor p = to_tensor(param, op, "param"), g = to_tensor(grad, op, "grad"), s = to_tensor(state_sum, op, "state_sum");
    math::AdagradConfig c;
    c.lr = float_arg(lr, op, "lr"), c.lr_decay = float_arg(lr_decay, op, "lr_decay");
    c.weight_decay = float_arg(weight_decay, op, "weight_decay"), c.eps = float_arg(eps, op, "eps");
    c.step = int_arg(step, op, "step");
    const std::string im = impl_arg(impl, op);
    py::gil_scoped_release nogil;
    ops::adagrad_step(p, s, g, c, im);
  }, "param"_a, "grad"_a, "state_sum"_a, py::kw_only(), "step"_a, "lr"_a = 0.01, "lr_decay"_a = 0.0,
     "weight_decay"_a = 0.0, "eps"_a = 1e-10, "impl"_a = py::none());

  m.def("rmsprop_step", [](py::object param, py::object grad, py::object square_avg, py::object momentum_buf,
                           py::object grad_avg, py::object lr, py::object alpha, py::object eps, py::object weight_decay,
                           py::object momentum, py::object centered, py::object impl) {
    const char* op = "rmsprop_step";
    Tensor p = to_tensor(param, op, "param"), g = to_tensor(grad, op, "grad"),
           sq = to_tensor(square_avg, op, "square_avg"), b = to_tensor(momentum_buf, op, "momentum_buf"),
           ga = to_tensor(grad_avg, op, "grad_avg");
    math::RmspropConfig c;
    c.lr = float_arg(lr, op, "lr"), c.alpha = float_arg(alpha, op, "alpha"), c.eps = float_arg(eps, op, "eps");
    c.weight_decay = float_arg(weight_decay, op, "weight_decay"), c.momentum = float_arg(momentum, op, "momentum");
    c.centered = bool_arg(centered, op, "centered");
    const std::string im = impl_arg(impl, op);
    py::gil_scoped_release nogil;
    ops::rmsprop_step(p, sq, b, ga, g, c, im);
  }, "param"_a, "grad"_a, "square_avg"_a, "momentum_buf"_a = py::none(), "grad_avg"_a = py::none(), py::kw_only(),
     "lr"_a = 0.01, "alpha"_a = 0.99, "eps"_a = 1e-8, "weight_decay"_a = 0.0, "momentum"_a = 0.0,
     "centered"_a = false, "impl"_a = py::none());

  for (const bool decoupled : {false, true}) {
    const char* name = decoupled ? "adamw_step" : "adam_step";
    m.def(name, [name, decoupled](py::object param, py::object grad, py::object exp_avg, py::object exp_avg_sq,
                                  py::object step, py::object lr, py::object betas, py::object eps,
                                  py::object weight_decay, py::object impl) {
      Tensor p = to_tensor(param, name, "param"), g = to_tensor(grad, name, "grad"),
             m1 = to_tensor(exp_avg, name, "exp_avg"), m2 = to_tensor(exp_avg_sq, name, "exp_avg_sq");
      math::AdamConfig c;
      c.lr = float_arg(lr, name, "lr");
      std::tie(c.beta1, c.beta2) = float_pair_arg(betas, name, "betas");
      c.eps = float_arg(eps, name, "eps"), c.weight_decay = float_arg(weight_decay, name, "weight_decay");
      c.decoupled = decoupled, c.step = int_arg(step, name, "step");
      const std::string im = impl_arg(impl, name);
      py::gil_scoped_release nogil;
      ops::adam_step(p, m1, m2, g, c, im);
    }, "param"_a, "grad"_a, "exp_avg"_a, "exp_avg_sq"_a, py::kw_only(), "step"_a, "lr"_a = 1e-3,
       "betas"_a = py::make_tuple(0.9, 0.999), "eps"_a = 1e-8, "weight_decay"_a = decoupled ? 0.01 : 0.0,
       "impl"_a = py::none());
  }
}

}  // namespace pb::bind
