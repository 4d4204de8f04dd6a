#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "ops/loss.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {

// The docstrings (semantics, shapes, PyTorch differences); op_doc adds where the impls are listed.
const char* const kCrossEntropyForwardDoc =
    "Softmax cross-entropy, ``mean_i(logsumexp(logits[i]) - logits[i, labels[i]])``.\n"
    "\n"
    "logits: (N, C) float32/float64; labels: (N,) int64 class indices in [0, C). Computed with the\n"
    "max shift, so logits of +-1e4 give finite, accurate values. Differs from\n"
    "``torch.nn.functional.cross_entropy``: 2-D logits only, no ``weight``, ``ignore_index`` or\n"
    "``label_smoothing``; a label outside [0, C) (including PyTorch's ignore value -100) raises\n"
    "ValueError naming the label and its position.";
const char* const kCrossEntropyBackwardDoc =
    "d(mean cross-entropy)/d(logits) * grad = grad * (softmax(logits) - onehot(labels)) / N.";
const char* const kMseForwardDoc =
    "Mean squared error ``mean((input - target)**2)``; input and target of the same shape and dtype.";
const char* const kMseBackwardDoc =
    "d(MSE)/d(input) * grad = grad * 2 (input - target) / numel.";
const char* const kHuberForwardDoc =
    "Huber loss as ``torch.nn.HuberLoss(delta=delta)``: mean over elements of\n"
    "``0.5 d**2`` where ``|d| < delta`` else ``delta (|d| - delta/2)``, d = input - target.\n"
    "delta must be finite and > 0.";
const char* const kHuberBackwardDoc =
    "d(Huber)/d(input) * grad = grad * clip(input - target, -delta, delta) / numel.";
const char* const kBceWithLogitsForwardDoc =
    "Binary cross-entropy on logits, ``mean(max(x, 0) - x t + log1p(exp(-|x|)))`` (the stable\n"
    "form; never overflows). Targets may be soft (any real value, as PyTorch). Differs from\n"
    "``torch.nn.functional.binary_cross_entropy_with_logits``: no ``weight`` or ``pos_weight``.";
const char* const kBceWithLogitsBackwardDoc =
    "d(BCE)/d(input) * grad = grad * (sigmoid(input) - target) / numel.";

// What every loss shares, said in full in the pybench.ops docstring.
std::string loss_doc(const char* op, const char* text) {
  return op_doc(op, std::string(text) +
                        "\n\nMean reduction, accumulated in float64 (deterministic for any thread count);\n"
                        "see help(pybench.ops) for what every loss shares.");
}

// forward(input, target, *params) -> float
template <class F>
void def_pair_forward(py::module_& m, const char* name, const char* doc, F call) {
  m.def(name, [name, call](py::object input, py::object target, py::object impl_obj) {
    Tensor a = to_tensor(input, name, "input"), b = to_tensor(target, name, "target");
    const std::string impl = impl_arg(impl_obj, name);
    double r;
    {
      py::gil_scoped_release nogil;
      r = call(a, b, impl);
    }
    return r;
  }, "input"_a, "target"_a, py::kw_only(), "impl"_a = py::none(), loss_doc(name, doc).c_str());
}

// backward(input, target, *, grad, out) -> dx
template <class F>
void def_pair_backward(py::module_& m, const char* name, const char* doc, F call) {
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
  }, "input"_a, "target"_a, py::kw_only(), "grad"_a = 1.0, "out"_a = py::none(), "impl"_a = py::none(),
     loss_doc(name, doc).c_str());
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
  }, "logits"_a, "labels"_a, py::kw_only(), "impl"_a = py::none(),
     loss_doc("cross_entropy_forward", kCrossEntropyForwardDoc).c_str());
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
  }, "logits"_a, "labels"_a, py::kw_only(), "grad"_a = 1.0, "out"_a = py::none(), "impl"_a = py::none(),
     loss_doc("cross_entropy_backward", kCrossEntropyBackwardDoc).c_str());

  def_pair_forward(m, "mse_forward", kMseForwardDoc,
                  [](const Tensor& a, const Tensor& b, const std::string& impl) {
    return ops::mse_forward(a, b, impl);
  });
  def_pair_backward(m, "mse_backward", kMseBackwardDoc,
                   [](const Tensor& d, const Tensor& a, const Tensor& b, double g,
                                          const std::string& impl) { ops::mse_backward(d, a, b, g, impl); });
  def_pair_forward(m, "bce_with_logits_forward", kBceWithLogitsForwardDoc,
                  [](const Tensor& a, const Tensor& b, const std::string& impl) {
    return ops::bce_with_logits_forward(a, b, impl);
  });
  def_pair_backward(m, "bce_with_logits_backward", kBceWithLogitsBackwardDoc,
                   [](const Tensor& d, const Tensor& a, const Tensor& b, double g,
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
  }, "input"_a, "target"_a, "delta"_a = 1.0, py::kw_only(), "impl"_a = py::none(),
     loss_doc("huber_forward", kHuberForwardDoc).c_str());
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
     "impl"_a = py::none(),
     loss_doc("huber_backward", kHuberBackwardDoc).c_str());
}

}  // namespace pb::bind
