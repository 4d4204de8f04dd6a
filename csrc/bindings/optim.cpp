#include <tuple>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "ops/optim.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {
// The docstrings (semantics, shapes, PyTorch differences); op_doc adds where the impls are listed.
const char* const kSgdStepDoc =
    "SGD as ``torch.optim.SGD``::\n"
    "\n"
    "    g = grad + weight_decay * param\n"
    "    if momentum != 0:\n"
    "        buf = g if step == 1 else momentum * buf + (1 - dampening) * g\n"
    "        g = g + momentum * buf if nesterov else buf\n"
    "    param -= lr * g\n"
    "\n"
    "momentum_buf is required (and updated) when momentum != 0, ignored otherwise; ``step == 1``\n"
    "initializes it to g, as PyTorch does when the buffer does not exist yet (so pass the real\n"
    "step count: the default 1 restarts momentum every call). nesterov requires momentum > 0 and\n"
    "dampening == 0.";
const char* const kAdagradStepDoc =
    "AdaGrad as ``torch.optim.Adagrad`` (initial_accumulator_value=0: pass zeros)::\n"
    "\n"
    "    g = grad + weight_decay * param\n"
    "    clr = lr / (1 + (step - 1) * lr_decay)\n"
    "    state_sum += g * g\n"
    "    param -= clr * g / (sqrt(state_sum) + eps)";
const char* const kRmspropStepDoc =
    "RMSprop as ``torch.optim.RMSprop``::\n"
    "\n"
    "    g = grad + weight_decay * param\n"
    "    square_avg = alpha * square_avg + (1 - alpha) * g * g\n"
    "    if centered:\n"
    "        grad_avg = lerp(grad_avg, g, 1 - alpha)\n"
    "        avg = sqrt(square_avg - grad_avg**2) + eps\n"
    "    else:\n"
    "        avg = sqrt(square_avg) + eps\n"
    "    if momentum > 0:\n"
    "        momentum_buf = momentum * momentum_buf + g / avg\n"
    "        param -= lr * momentum_buf\n"
    "    else:\n"
    "        param -= lr * g / avg\n"
    "\n"
    "momentum_buf is required when momentum > 0 and grad_avg when centered (both start at zeros, as\n"
    "in PyTorch); otherwise they are ignored. Differs from PyTorch: alpha must lie in [0, 1]\n"
    "(PyTorch only rejects alpha < 0).";
const char* const kAdamStepDoc =
    "Adam as ``torch.optim.Adam`` (amsgrad=False), L2 weight decay added to the gradient::\n"
    "\n"
    "    g = grad + weight_decay * param\n"
    "    exp_avg = lerp(exp_avg, g, 1 - beta1)\n"
    "    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g\n"
    "    denom = sqrt(exp_avg_sq) / sqrt(1 - beta2**step) + eps\n"
    "    param -= lr / (1 - beta1**step) * exp_avg / denom\n"
    "\n"
    "betas in [0, 1), eps >= 0, step >= 1.";
const char* const kAdamwStepDoc =
    "AdamW as ``torch.optim.AdamW``: decoupled weight decay ``param *= 1 - lr * weight_decay``\n"
    "first, then the Adam update without the L2 term (see adam_step).";

// What every optimizer shares, said in full in the pybench.ops docstring.
std::string optim_doc(const char* op, const char* text) {
  return op_doc(op, std::string(text) +
                        "\n\nOne torch.optim step on one parameter array, in place; returns None. The state\n"
                        "arrays are the caller's (numpy.zeros_like to start); see help(pybench.ops) for what\n"
                        "every optimizer shares.");
}

}  // namespace

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
     "dampening"_a = 0.0, "nesterov"_a = false, "weight_decay"_a = 0.0, "step"_a = 1, "impl"_a = py::none(),
     optim_doc("sgd_step", kSgdStepDoc).c_str());

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
     "weight_decay"_a = 0.0, "eps"_a = 1e-10, "impl"_a = py::none(),
     optim_doc("adagrad_step", kAdagradStepDoc).c_str());

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
     "centered"_a = false, "impl"_a = py::none(),
     optim_doc("rmsprop_step", kRmspropStepDoc).c_str());

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
       "impl"_a = py::none(), optim_doc(name, decoupled ? kAdamwStepDoc : kAdamStepDoc).c_str());
  }
}

}  // namespace pb::bind
