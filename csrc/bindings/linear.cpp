#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "ops/linear.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {
// The docstrings (semantics, shapes, PyTorch differences); op_doc adds where the impls are listed.
const char* const kGemmDoc =
    "General matrix multiply: ``alpha * op(a) @ op(b) + beta * out``.\n"
    "\n"
    "``op(a)`` is ``a.T`` when ``trans_a`` (likewise ``b``); ``op(a)`` is (M, K), ``op(b)`` (K, N)\n"
    "and the result (M, N). ``a`` and ``b`` are 2-D, C-contiguous, both float32 or both float64\n"
    "(pass ``a`` itself with ``trans_a=True`` rather than ``a.T``: a transposed view is refused as\n"
    "non-contiguous, never copied). ``beta != 0`` reads ``out`` and therefore requires it; with\n"
    "``beta == 0`` the previous contents of ``out`` are ignored, NaN included (BLAS semantics).\n"
    "\n"
    "Like ``torch.addmm(out, op(a), op(b), beta=beta, alpha=alpha)`` except that the result is\n"
    "written into ``out`` in place (and returned). Same inputs and thread count give bitwise equal\n"
    "results.";
const char* const kLinearForwardDoc =
    "``y = x @ weight.T + bias`` as ``torch.nn.functional.linear``.\n"
    "\n"
    "x: (N, in), weight: (out, in), bias: (out,) or None -> y: (N, out). Unlike PyTorch, x must be\n"
    "2-D (flatten leading batch dimensions yourself) and all arrays share one float dtype.\n"
    "The bias is added in the GEMM's write-out, not in a separate pass.";
const char* const kLinearBackwardDoc =
    "Gradients of ``y = x @ weight.T + bias`` given ``dy = dL/dy`` (N, out).\n"
    "\n"
    "Returns ``(dx, dweight, dbias)``: ``dx = dy @ weight`` (N, in) or None when ``compute_dx`` is\n"
    "False (e.g. for the first layer); ``dweight = dy.T @ x`` (out, in); ``dbias = dy.sum(0)``\n"
    "(out,) or None when ``bias`` is False. Outputs are overwritten, never accumulated into (unlike\n"
    "PyTorch's ``.grad``); pass ``dx=``, ``dweight=``, ``dbias=`` to reuse buffers.";
}  // namespace

void bind_linear(py::module_& m) {
  m.def("gemm", [](py::object a, py::object b, py::object trans_a_obj, py::object trans_b_obj, py::object alpha_obj,
                   py::object beta_obj, py::object out, py::object impl_obj) {
    const char* op = "gemm";
    Tensor ta = to_tensor(a, op, "a"), tb = to_tensor(b, op, "b");
    const bool trans_a = bool_arg(trans_a_obj, op, "trans_a"), trans_b = bool_arg(trans_b_obj, op, "trans_b");
    const double alpha = float_arg(alpha_obj, op, "alpha"), beta = float_arg(beta_obj, op, "beta");
    const std::string impl = impl_arg(impl_obj, op);
    const Shape s = ops::gemm_out_shape(ta, tb, trans_a, trans_b);
    // beta != 0 reads out, so it is never allocated here (the op refuses the missing array).
    py::object o = (out.is_none() && beta != 0.0) ? out : out_or_empty(out, s, a);
    Tensor tc = to_tensor(o, "gemm", "out");
    {
      py::gil_scoped_release nogil;
      ops::gemm(tc, ta, tb, trans_a, trans_b, alpha, beta, impl);
    }
    return o;
  }, "a"_a, "b"_a, py::kw_only(), "trans_a"_a = false, "trans_b"_a = false, "alpha"_a = 1.0, "beta"_a = 0.0,
     "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("gemm", kGemmDoc).c_str());

  m.def("linear_forward", [](py::object x, py::object weight, py::object bias, py::object out, py::object impl_obj) {
    const char* op = "linear_forward";
    Tensor tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight"), tb = to_tensor(bias, op, "bias");
    const std::string impl = impl_arg(impl_obj, op);
    const Shape s = ops::linear_forward_out_shape(tx, tw, tb);
    py::object o = out_or_empty(out, s, x);
    Tensor ty = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::linear_forward(ty, tx, tw, tb, impl);
    }
    return o;
  }, "x"_a, "weight"_a, "bias"_a = py::none(), py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("linear_forward", kLinearForwardDoc).c_str());

  m.def("linear_backward", [](py::object dy, py::object x, py::object weight, py::object bias_obj,
                              py::object compute_dx_obj, py::object dx, py::object dweight, py::object dbias,
                              py::object impl_obj) {
    const char* op = "linear_backward";
    Tensor tdy = to_tensor(dy, op, "dy"), tx = to_tensor(x, op, "x"), tw = to_tensor(weight, op, "weight");
    const bool bias = bool_arg(bias_obj, op, "bias"), compute_dx = bool_arg(compute_dx_obj, op, "compute_dx");
    const std::string impl = impl_arg(impl_obj, op);
    // Shapes are only trusted after the op validated the inputs; allocate from validated extents.
    py::object odx = dx, odw = dweight, odb = dbias;
    const bool shapes_ok = tdy.present && tx.present && tw.present && tdy.ndim == 2 && tx.ndim == 2 && tw.ndim == 2;
    if (shapes_ok) {
      const int64_t n = tx.shape[0], in = tx.shape[1], out = tw.shape[0];
      if (compute_dx) odx = out_or_empty(dx, {n, in}, dy);
      odw = out_or_empty(dweight, {out, in}, dy);
      if (bias) odb = out_or_empty(dbias, {out}, dy);
    }
    Tensor tdx = to_tensor(odx, op, "dx"), tdw = to_tensor(odw, op, "dweight"), tdb = to_tensor(odb, op, "dbias");
    {
      py::gil_scoped_release nogil;
      ops::linear_backward(tdx, tdw, tdb, tdy, tx, tw, bias, compute_dx, impl);
    }
    return py::make_tuple(compute_dx ? odx : py::none(), odw, bias ? odb : py::none());
  }, "dy"_a, "x"_a, "weight"_a, py::kw_only(), "bias"_a = true, "compute_dx"_a = true, "dx"_a = py::none(),
     "dweight"_a = py::none(), "dbias"_a = py::none(), "impl"_a = py::none(),
     op_doc("linear_backward", kLinearBackwardDoc).c_str());
}

}  // namespace pb::bind
