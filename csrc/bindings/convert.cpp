#include "bindings/convert.h"

#include <pybind11/stl.h>

namespace pb::bind {

// Type numbers and the byte-order flag: no Python attribute lookups on the per-call path.
static DType dtype_of(const py::dtype& dt) {
  if (dt.byteorder() == '>') return DType::other;  // '=' native, '|' not applicable, '<' little
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  if (kind == 'i' && size == 8) return DType::i64;
  if (kind == 'i' && size == 4) return DType::i32;
  return DType::other;
}

Tensor to_tensor(py::handle obj, const char* op, const char* arg) {
  Tensor t;
  if (obj.is_none()) return t;
  if (!py::isinstance<py::array>(obj))
    type_error(op, arg, "a numpy.ndarray", std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.ndim() > kMaxDims) value_error(op, arg, "at most 8 dimensions", std::to_string(a.ndim()));
  t.present = true;
  t.data = const_cast<void*>(a.data());
  const py::dtype dt = a.dtype();
  t.dtype = dtype_of(dt);
  // The caller's own name for a dtype we cannot use (">f4", "int16"): only needed for messages.
  t.dtype_str = t.dtype == DType::other ? py::cast<std::string>(py::str(dt)) : dtype_name(t.dtype);
  t.device = Device::cpu;
  t.writable = a.writeable();
  t.contiguous = (a.flags() & py::array::c_style) != 0;
  t.ndim = static_cast<int>(a.ndim());
  t.numel = 1;
  for (int d = 0; d < t.ndim; ++d) {
    t.shape[d] = a.shape(d);
    t.numel *= t.shape[d];
  }
  t.itemsize = a.itemsize();
  return t;
}

static py::object empty(const Shape& shape, const py::dtype& dtype) {
  return py::array(dtype, std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

py::object out_or_empty(py::object out, const Shape& shape, py::handle like) {
  if (!out.is_none()) return out;
  // `like` is validated by the op after this; a non-array must reach that check, not fail here.
  if (!py::isinstance<py::array>(like)) return empty(shape, py::dtype("float32"));
  return empty(shape, py::reinterpret_borrow<py::array>(like).dtype());
}

py::object out_or_empty(py::object out, const Shape& shape, const char* numpy_dtype) {
  if (!out.is_none()) return out;
  return empty(shape, py::dtype(numpy_dtype));
}

}  // namespace pb::bind
