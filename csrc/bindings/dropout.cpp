#include <pybind11/stl.h>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "math/philox.h"
#include "ops/dropout.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

// A Python integer (or anything with __index__) in [lo, 2**bits); ValueError naming op and arg.
static py::int_ index_arg(py::handle v, const char* op, const char* arg, const char* range) {
  PyObject* r = PyNumber_Index(v.ptr());
  if (!r) {
    PyErr_Clear();
    type_error(op, arg, std::string("an integer in ") + range, std::string(py::str(py::type::handle_of(v).attr("__name__"))));
  }
  return py::reinterpret_steal<py::int_>(r);
}

static uint64_t seed_arg(py::handle v, const char* op) {
  py::int_ i = index_arg(v, op, "seed", "[0, 2**64)");
  if (i < py::int_(0) || i >= (py::int_(1).attr("__lshift__")(64)))
    value_error(op, "seed", "an integer in [0, 2**64)", std::string(py::str(i)));
  return PyLong_AsUnsignedLongLong(i.ptr());
}

static int64_t offset_arg(py::handle v, const char* op) {
  py::int_ i = index_arg(v, op, "offset", "[0, 2**63)");
  if (i < py::int_(0) || i >= (py::int_(1).attr("__lshift__")(63)))
    value_error(op, "offset", "an integer in [0, 2**63)", std::string(py::str(i)));
  return PyLong_AsLongLong(i.ptr());
}

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
  m.def("dropout_forward", [](py::object x, double p, py::object seed, py::object offset, bool training,
                              py::object out, std::string impl) {
    const char* op = "dropout_forward";
    Tensor tx = to_tensor(x, op, "x");
    const uint64_t s = seed_arg(seed, op);
    const int64_t off = offset_arg(offset, op);
    py::object o = out_or_empty(out, tx.shape_vec(), x);
    Tensor ty = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::dropout_forward(ty, tx, p, s, off, training, impl);
    }
    return o;
  }, "x"_a, "p"_a = 0.5, "seed"_a = 0, "offset"_a = 0, "training"_a = true, py::kw_only(), "out"_a = py::none(),
     "impl"_a = "");

  m.def("dropout_backward", [](py::object dy, double p, py::object seed, py::object offset, py::object out,
                               std::string impl) {
    const char* op = "dropout_backward";
    Tensor tdy = to_tensor(dy, op, "dy");
    const uint64_t s = seed_arg(seed, op);
    const int64_t off = offset_arg(offset, op);
    py::object o = out_or_empty(out, tdy.shape_vec(), dy);
    Tensor tdx = to_tensor(o, op, "out");
    {
      py::gil_scoped_release nogil;
      ops::dropout_backward(tdx, tdy, p, s, off, impl);
    }
    return o;
  }, "dy"_a, "p"_a, "seed"_a, "offset"_a = 0, py::kw_only(), "out"_a = py::none(), "impl"_a = "");

  m.def("dropout_mask", [](std::vector<int64_t> shape, double p, py::object seed, py::object offset, std::string impl) {
    const char* op = "dropout_mask";
    const uint64_t s = seed_arg(seed, op);
    const int64_t off = offset_arg(offset, op);
    const int64_t numel = ops::dropout_mask_check(shape, p, off);
    py::array_t<uint8_t> mask(shape);
    uint8_t* data = mask.mutable_data();
    {
      py::gil_scoped_release nogil;
      ops::dropout_mask(data, numel, p, s, off, impl);
    }
    return mask;
  }, "shape"_a, "p"_a, "seed"_a, "offset"_a = 0, py::kw_only(), "impl"_a = "");

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
