#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "ops/activation.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {

// make_args(op) converts the scalar parameters, with op (e.g. "elu_backward") naming them in errors.
template <class MakeArgs>
py::object forward(const std::string& name, py::object x, py::object out, MakeArgs make_args, py::handle impl_obj) {
  const std::string op = name + "_forward";
  Tensor tx = to_tensor(x, op.c_str(), "x");
  const ops::ActArgs args = make_args(op.c_str());
  const std::string impl = impl_arg(impl_obj, op.c_str());
  py::object o = out_or_empty(out, tx.shape_vec(), x);
  Tensor ty = to_tensor(o, op.c_str(), "out");
  {
    py::gil_scoped_release nogil;
    ops::activation_forward(name, ty, tx, args, impl);
  }
  return o;
}

template <class MakeArgs>
py::object backward(const std::string& name, py::object dy, py::object x, py::object out, MakeArgs make_args,
                    py::handle impl_obj) {
  const std::string op = name + "_backward";
  Tensor tdy = to_tensor(dy, op.c_str(), "dy"), tx = to_tensor(x, op.c_str(), "x");
  const ops::ActArgs args = make_args(op.c_str());
  const std::string impl = impl_arg(impl_obj, op.c_str());
  py::object o = out_or_empty(out, tdy.shape_vec(), dy);
  Tensor tdx = to_tensor(o, op.c_str(), "out");
  {
    py::gil_scoped_release nogil;
    ops::activation_backward(name, tdx, tdy, tx, args, impl);
  }
  return o;
}

ops::ActArgs no_args(const char*) { return {}; }

// Every element-wise activation: the formula from its table row, then what they all share.
std::string act_doc(const std::string& name, bool forward) {
  const ops::ActivationDoc& d = ops::activation_doc(name);
  const std::string op = name + (forward ? "_forward" : "_backward");
  return op_doc(op, std::string(forward ? d.forward : d.backward) +
                        "\n\nElement-wise on float32/float64 arrays of any shape" +
                        (forward ? "" : " (dy and x alike)") +
                        "; the result has the input's dtype.\nout: that shape and dtype, C-contiguous, "
                        "writable, not overlapping an input (written in\nplace and returned; allocated "
                        "when omitted).");
}

void def_plain(py::module_& m, const std::string& name) {
  m.def((name + "_forward").c_str(), [name](py::object x, py::object out, py::object impl) {
    return forward(name, x, out, no_args, impl);
  }, "x"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(), act_doc(name, true).c_str());
  m.def((name + "_backward").c_str(), [name](py::object dy, py::object x, py::object out, py::object impl) {
    return backward(name, dy, x, out, no_args, impl);
  }, "dy"_a, "x"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(), act_doc(name, false).c_str());
}

// Parameter converters: each returns make_args for forward / backward.
auto with_slope(py::handle s) {
  return [s](const char* op) { ops::ActArgs a; a.negative_slope = float_arg(s, op, "negative_slope"); return a; };
}
auto with_alpha(py::handle v) {
  return [v](const char* op) { ops::ActArgs a; a.alpha = float_arg(v, op, "alpha"); return a; };
}
auto with_approx(py::handle s) {
  return [s](const char* op) { ops::ActArgs a; a.approximate = str_arg(s, op, "approximate"); return a; };
}
auto with_beta(py::handle b, py::handle t) {
  return [b, t](const char* op) {
    ops::ActArgs a;
    a.beta = float_arg(b, op, "beta");
    a.threshold = float_arg(t, op, "threshold");
    return a;
  };
}

const char* const kSoftmaxCommon =
    "\n\nx: float32/float64 with at least 1 dimension; the result has its shape and dtype. out: that shape\n"
    "and dtype, C-contiguous, writable, not overlapping an input (written in place and returned; allocated\n"
    "when omitted).";
const char* const kSoftmaxDoc[2][2] = {
    {"y = exp(x - max) / sum(exp(x - max)) over the last axis (x has at least 1 dimension).\n"
     "A row holding NaN or +inf, or all -inf, gives NaN, as PyTorch.",
     "dx = y * (dy - sum(dy * y, last axis)), with y the forward output."},
    {"y = x - max - log(sum(exp(x - max))) over the last axis.",
     "dx = dy - exp(y) * sum(dy, last axis), with y the forward output."},
};

void def_softmax(py::module_& m, const char* fwd, const char* bwd, bool log) {
  m.def(fwd, [log, fwd](py::object x, py::object out, py::object impl_obj) {
    Tensor tx = to_tensor(x, fwd, "x");
    const std::string impl = impl_arg(impl_obj, fwd);
    py::object o = out_or_empty(out, tx.shape_vec(), x);
    Tensor ty = to_tensor(o, fwd, "out");
    {
      py::gil_scoped_release nogil;
      ops::softmax_forward(ty, tx, log, impl);
    }
    return o;
  }, "x"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc(fwd, std::string(kSoftmaxDoc[log][0]) + kSoftmaxCommon).c_str());
  m.def(bwd, [log, bwd](py::object dy, py::object y, py::object out, py::object impl_obj) {
    Tensor tdy = to_tensor(dy, bwd, "dy"), ty = to_tensor(y, bwd, "y");
    const std::string impl = impl_arg(impl_obj, bwd);
    py::object o = out_or_empty(out, tdy.shape_vec(), dy);
    Tensor tdx = to_tensor(o, bwd, "out");
    {
      py::gil_scoped_release nogil;
      ops::softmax_backward(tdx, tdy, ty, log, impl);
    }
    return o;
  }, "dy"_a, "y"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc(bwd, std::string(kSoftmaxDoc[log][1]) + kSoftmaxCommon).c_str());
}

}  // namespace

void bind_activation(py::module_& m) {
  for (const std::string& name : ops::activation_names(false)) def_plain(m, name);

  m.def("leaky_relu_forward", [](py::object x, py::object s, py::object out, py::object impl) {
    return forward("leaky_relu", x, out, with_slope(s), impl);
  }, "x"_a, "negative_slope"_a = 0.01, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     act_doc("leaky_relu", true).c_str());
  m.def("leaky_relu_backward", [](py::object dy, py::object x, py::object s, py::object out, py::object impl) {
    return backward("leaky_relu", dy, x, out, with_slope(s), impl);
  }, "dy"_a, "x"_a, "negative_slope"_a = 0.01, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     act_doc("leaky_relu", false).c_str());

  m.def("elu_forward", [](py::object x, py::object alpha, py::object out, py::object impl) {
    return forward("elu", x, out, with_alpha(alpha), impl);
  }, "x"_a, "alpha"_a = 1.0, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     act_doc("elu", true).c_str());
  m.def("elu_backward", [](py::object dy, py::object x, py::object alpha, py::object out, py::object impl) {
    return backward("elu", dy, x, out, with_alpha(alpha), impl);
  }, "dy"_a, "x"_a, "alpha"_a = 1.0, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     act_doc("elu", false).c_str());

  m.def("gelu_forward", [](py::object x, py::object approximate, py::object out, py::object impl) {
    return forward("gelu", x, out, with_approx(approximate), impl);
  }, "x"_a, "approximate"_a = "none", py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     act_doc("gelu", true).c_str());
  m.def("gelu_backward", [](py::object dy, py::object x, py::object approximate, py::object out, py::object impl) {
    return backward("gelu", dy, x, out, with_approx(approximate), impl);
  }, "dy"_a, "x"_a, "approximate"_a = "none", py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     act_doc("gelu", false).c_str());

  m.def("softplus_forward", [](py::object x, py::object beta, py::object threshold, py::object out, py::object impl) {
    return forward("softplus", x, out, with_beta(beta, threshold), impl);
  }, "x"_a, "beta"_a = 1.0, "threshold"_a = 20.0, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     act_doc("softplus", true).c_str());
  m.def("softplus_backward", [](py::object dy, py::object x, py::object beta, py::object threshold, py::object out,
                                py::object impl) {
    return backward("softplus", dy, x, out, with_beta(beta, threshold), impl);
  }, "dy"_a, "x"_a, "beta"_a = 1.0, "threshold"_a = 20.0, py::kw_only(), "out"_a = py::none(),
     "impl"_a = py::none(),
     act_doc("softplus", false).c_str());

  def_softmax(m, "softmax_forward", "softmax_backward", false);
  def_softmax(m, "log_softmax_forward", "log_softmax_backward", true);

  m.def("_fastmath", [](py::object fn_obj, py::object x, py::object out, py::object impl_obj) {
    const std::string fn = str_arg(fn_obj, "_fastmath", "fn"), impl = impl_arg(impl_obj, "_fastmath");
    Tensor tx = to_tensor(x, "_fastmath", "x");
    py::object o = out_or_empty(out, tx.shape_vec(), x);
    Tensor ty = to_tensor(o, "_fastmath", "out");
    {
      py::gil_scoped_release nogil;
      ops::fastmath_eval(ty, tx, fn, impl);
    }
    return o;
  }, "fn"_a, "x"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     "Test hook: the vectorized float32 fastmath function fn (exp, expm1, log, log1p, tanh, erf, log1p_01) "
     "of a 1-D x; impl 'vec' (the scalar code) or 'simd' (default: the AVX-512 V16 code on that build).");
}

}  // namespace pb::bind
