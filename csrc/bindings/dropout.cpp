#include <pybind11/stl.h>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "bindings/doc.h"
#include "math/philox.h"
#include "ops/dropout.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

namespace {
// The docstrings (semantics, shapes, PyTorch differences); op_doc adds where the impls are listed.
const char* const kDropoutForwardDoc =
    "Inverted dropout: ``y = x * mask / (1 - p)``; ``training=False`` copies ``x``.\n"
    "\n"
    "Args:\n"
    "    x: float32/float64 C-contiguous array of any shape.\n"
    "    p: probability of dropping an element, in [0, 1]; ``p=1`` gives zeros (no NaN).\n"
    "    seed: integer in [0, 2**64) selecting the random stream.\n"
    "    offset: integer >= 0, the stream position of ``x``'s first element.\n"
    "    training: when False, ``y`` is a copy of ``x`` (no mask).\n"
    "    out: optional output array (same shape and dtype as ``x``, not overlapping it).\n"
    "\n"
    "Returns:\n"
    "    ``y`` (``out`` when given). The scale ``1/(1-p)`` is computed in double and rounded once\n"
    "    to ``x``'s dtype; kept elements are ``x * scale``.";
const char* const kDropoutBackwardDoc =
    "Gradient of dropout_forward (training): ``dx = dy * mask / (1 - p)``.\n"
    "\n"
    "The mask is regenerated from ``(seed, offset)``, so pass the forward call's values; nothing\n"
    "is stored between the two calls.";
const char* const kDropoutMaskDoc =
    "The keep mask (uint8, 1 = kept) that dropout_forward uses for an array of ``shape``\n"
    "(an int or a tuple of ints).";
}  // namespace

static py::array_t<uint32_t> philox_words(py::handle a, const char* arg, py::ssize_t n) {
  auto arr = py::reinterpret_borrow<py::array>(a);
  if (!py::isinstance<py::array>(a) || !arr.dtype().is(py::dtype::of<uint32_t>()))
    type_error("philox4x32_10", arg, "a numpy uint32 array",
               py::isinstance<py::array>(a) ? std::string(py::str(arr.dtype())) : "a non-array");
  if (arr.ndim() != 1 || arr.shape(0) != n)
    value_error("philox4x32_10", arg, "shape (" + std::to_string(n) + ",)", "ndim " + std::to_string(arr.ndim()));
  return py::array_t<uint32_t>::ensure(arr);
}

void bind_dropout(py::module_& m) {
  m.def("dropout_forward", [](py::object x, py::object p, py::object seed, py::object offset, py::object training,
                              py::object out, py::object impl) {
    const char* op = "dropout_forward";
    Tensor tx = to_tensor(x, op, "x");
    const double pv = float_arg(p, op, "p");
    const uint64_t s = uint64_arg(seed, op, "seed");
    const int64_t off = int_arg(offset, op, "offset", 0);
    const bool tr = bool_arg(training, op, "training");
    const std::string im = impl_arg(impl, op);
    py::object o = out_or_empty(out, tx.shape_vec(), x);
    Tensor ty = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::dropout_forward(ty, tx, pv, s, off, tr, im);
    }
    return o;
  }, "x"_a, "p"_a = 0.5, "seed"_a = 0, "offset"_a = 0, "training"_a = true, py::kw_only(), "out"_a = py::none(),
     "impl"_a = py::none(),
     op_doc("dropout_forward", kDropoutForwardDoc).c_str());

  m.def("dropout_backward", [](py::object dy, py::object p, py::object seed, py::object offset, py::object out,
                               py::object impl) {
    const char* op = "dropout_backward";
    Tensor tdy = to_tensor(dy, op, "dy");
    const double pv = float_arg(p, op, "p");
    const uint64_t s = uint64_arg(seed, op, "seed");
    const int64_t off = int_arg(offset, op, "offset", 0);
    const std::string im = impl_arg(impl, op);
    py::object o = out_or_empty(out, tdy.shape_vec(), dy);
    Tensor tdx = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::dropout_backward(tdx, tdy, pv, s, off, im);
    }
    return o;
  }, "dy"_a, "p"_a, "seed"_a, "offset"_a = 0, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
     op_doc("dropout_backward", kDropoutBackwardDoc).c_str());

  m.def("dropout_mask", [](py::object shape, py::object p, py::object seed, py::object offset, py::object impl) {
    const char* op = "dropout_mask";
    const Shape sh = shape_arg(shape, op, "shape", true);
    const double pv = float_arg(p, op, "p");
    const uint64_t s = uint64_arg(seed, op, "seed");
    const int64_t off = int_arg(offset, op, "offset", 0);
    const std::string im = impl_arg(impl, op);
    const int64_t numel = ops::dropout_mask_check(sh, pv, off);
    py::array_t<uint8_t> mask(std::vector<py::ssize_t>(sh.begin(), sh.end()));
    uint8_t* data = mask.mutable_data();
    {
      py::gil_scoped_release nogil;
      ops::dropout_mask(data, numel, pv, s, off, im);
    }
    return mask;
  }, "shape"_a, "p"_a, "seed"_a, "offset"_a = 0, py::kw_only(), "impl"_a = py::none(),
     op_doc("dropout_mask", kDropoutMaskDoc).c_str());

  m.def("philox4x32_10", [](py::object counter, py::object key) {
    auto c = philox_words(counter, "counter", 4), k = philox_words(key, "key", 2);
    uint32_t ctr[4], kk[2], out[4];
    for (int i = 0; i < 4; ++i) ctr[i] = c.at(i);
    for (int i = 0; i < 2; ++i) kk[i] = k.at(i);
    math::philox4x32_10(out, ctr, kk);
    py::array_t<uint32_t> r(4);
    for (int i = 0; i < 4; ++i) r.mutable_at(i) = out[i];
    return r;
  }, "counter"_a, "key"_a, "Philox4x32-10 of one 128-bit counter (4 uint32) and 64-bit key (2 uint32), for tests.");
}

}  // namespace pb::bind
