#include <pybind11/stl.h>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "ops/optim.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

void bind_optim(py::module_& m) {
  m.def("sgd_step", [](py::object param, py::object grad, py::object momentum_buf, double lr, double momentum,
                       double dampening, bool nesterov, double weight_decay, int64_t step, std::string impl) {
    const char* op = "sgd_step";
    Tensor p = to_tensor(param, op, "param"), g = to_tensor(grad, op, "grad"), b = to_tensor(momentum_buf, op, "momentum_buf");
    math::SgdConfig c;
    c.lr = lr, c.momentum = momentum, c.dampening = dampening, c.nesterov = nesterov, c.weight_decay = weight_decay;
    c.step = step;
    py::gil_scoped_release nogil;
    ops::sgd_step(p, b, g, c, impl);
  }, "param"_a, "grad"_a, "momentum_buf"_a = py::none(), py::kw_only(), "lr"_a, "momentum"_a = 0.0,
     "dampening"_a = 0.0, "nesterov"_a = false, "weight_decay"_a = 0.0, "step"_a = 1, "impl"_a = "");

  m.def("adagrad_step", [](py::object param, py::object grad, py::object state_sum, int64_t step, double lr,
                           double lr_decay, double weight_decay, double eps, std::string impl) {
    const char* op = "adagrad_step";
    Tensor p = to_tensor(param, op, "param"), g = to_tensor(grad, op, "grad"), s = to_tensor(state_sum, op, "state_sum");
    math::AdagradConfig c;
    c.lr = lr, c.lr_decay = lr_decay, c.weight_decay = weight_decay, c.eps = eps, c.step = step;
    py::gil_scoped_release nogil;
    ops::adagrad_step(p, s, g, c, impl);
  }, "param"_a, "grad"_a, "state_sum"_a, py::kw_only(), "step"_a, "lr"_a = 0.01, "lr_decay"_a = 0.0,
     "weight_decay"_a = 0.0, "eps"_a = 1e-10, "impl"_a = "");

  m.def("rmsprop_step", [](py::object param, py::object grad, py::object square_avg, py::object momentum_buf,
                           py::object grad_avg, double lr, double alpha, double eps, double weight_decay,
                           double momentum, bool centered, std::string impl) {
    const char* op = "rmsprop_step";
    Tensor p = to_tensor(param, op, "param"), g = to_tensor(grad, op, "grad"),
           sq = to_tensor(square_avg, op, "square_avg"), b = to_tensor(momentum_buf, op, "momentum_buf"),
           ga = to_tensor(grad_avg, op, "grad_avg");
    math::RmspropConfig c;
    c.lr = lr, c.alpha = alpha, c.eps = eps, c.weight_decay = weight_decay, c.momentum = momentum, c.centered = centered;
    py::gil_scoped_release nogil;
    ops::rmsprop_step(p, sq, b, ga, g, c, impl);
  }, "param"_a, "grad"_a, "square_avg"_a, "momentum_buf"_a = py::none(), "grad_avg"_a = py::none(), py::kw_only(),
     "lr"_a = 0.01, "alpha"_a = 0.99, "eps"_a = 1e-8, "weight_decay"_a = 0.0, "momentum"_a = 0.0,
     "centered"_a = false, "impl"_a = "");

  for (const bool decoupled : {false, true}) {
    const char* name = decoupled ? "adamw_step" : "adam_step";
    m.def(name, [name, decoupled](py::object param, py::object grad, py::object exp_avg, py::object exp_avg_sq,
                                  int64_t step, double lr, std::pair<double, double> betas, double eps,
                                  double weight_decay, std::string impl) {
      Tensor p = to_tensor(param, name, "param"), g = to_tensor(grad, name, "grad"),
             m1 = to_tensor(exp_avg, name, "exp_avg"), m2 = to_tensor(exp_avg_sq, name, "exp_avg_sq");
      math::AdamConfig c;
      c.lr = lr, c.beta1 = betas.first, c.beta2 = betas.second, c.eps = eps, c.weight_decay = weight_decay;
      c.decoupled = decoupled, c.step = step;
      py::gil_scoped_release nogil;
      ops::adam_step(p, m1, m2, g, c, impl);
    }, "param"_a, "grad"_a, "exp_avg"_a, "exp_avg_sq"_a, py::kw_only(), "step"_a, "lr"_a = 1e-3,
       "betas"_a = std::make_pair(0.9, 0.999), "eps"_a = 1e-8, "weight_decay"_a = decoupled ? 0.01 : 0.0,
       "impl"_a = "");
  }
}

}  // namespace pb::bind
