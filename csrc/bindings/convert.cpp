#include "bindings/convert.h"

#include <pybind11/stl.h>

#include <cstring>

#include "core/device.h"

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

static std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

bool is_cuda_array(py::handle obj) {
  return !obj.is_none() && !py::isinstance<py::array>(obj) && py::hasattr(obj, "__cuda_array_interface__");
}

static py::module_ arrays_module() { return py::module_::import("pybench.arrays"); }

// The op of the latest to_tensor call on this thread: bindings convert their inputs before they
// allocate outputs, so an allocation failure for a CUDA output can name the op.
static thread_local const char* t_op = "pybench";

// __cuda_array_interface__ (version 2 or 3): shape, typestr, data = (pointer, read_only),
// strides (None: C order), stream (v3, the producer's stream). See
// https://numba.readthedocs.io/en/stable/cuda/cuda_array_interface.html
static Tensor cuda_tensor(py::handle obj, const char* op, const char* arg) {
  Tensor t;
  py::dict cai = obj.attr("__cuda_array_interface__");
  py::tuple shape = cai["shape"];
  if (shape.size() > static_cast<size_t>(kMaxDims))
    value_error(op, arg, "at most 8 dimensions", std::to_string(shape.size()));
  t.present = true;
  t.device = Device::cuda;
  const py::dtype dt(py::cast<std::string>(cai["typestr"]));
  t.dtype = dtype_of(dt);
  t.dtype_str = t.dtype == DType::other ? py::cast<std::string>(py::str(dt)) : dtype_name(t.dtype);
  t.itemsize = dt.itemsize();
  py::tuple data = cai["data"];
  t.data = reinterpret_cast<void*>(py::cast<uintptr_t>(data[0]));
  t.writable = !py::cast<bool>(data[1]);
  t.ndim = static_cast<int>(shape.size());
  t.numel = 1;
  for (int d = 0; d < t.ndim; ++d) {
    t.shape[d] = py::cast<int64_t>(shape[d]);
    t.numel *= t.shape[d];
  }
  t.contiguous = true;
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    py::tuple strides = cai["strides"];
    int64_t expect = t.itemsize;
    for (int d = t.ndim - 1; d >= 0; --d) {
      if (t.shape[d] != 1 && py::cast<int64_t>(strides[d]) != expect) t.contiguous = false;
      expect *= t.shape[d];
    }
  }
  // The device: asked of the runtime for the pointer, else the producer's own attribute.
  int dev = t.data ? cuda_pointer_device(t.data) : -1;
  if (dev < 0) dev = py::cast<int>(arrays_module().attr("cuda_device_id")(obj));
  t.device_id = dev;
  t.stream = py::cast<uintptr_t>(arrays_module().attr("cuda_stream")(obj, cai));
  return t;
}

Tensor to_tensor(py::handle obj, const char* op, const char* arg) {
  Tensor t;
  t_op = op;
  if (obj.is_none()) return t;
  if (!py::isinstance<py::array>(obj)) {
    if (py::hasattr(obj, "__cuda_array_interface__")) return cuda_tensor(obj, op, arg);
    // DLPack-only producers (JAX, PyTorch CPU tensors): a zero-copy NumPy/CuPy view made by
    // pybench.arrays.from_dlpack (which keeps it alive), then converted as such.
    if (py::hasattr(obj, "__dlpack__")) {
      py::object view = arrays_module().attr("from_dlpack")(obj, op, arg);
      if (py::isinstance<py::array>(view) || is_cuda_array(view)) return to_tensor(view, op, arg);
    }
    type_error(op, arg, "a numpy.ndarray or a CUDA array (CuPy), or a DLPack array", type_name(obj));
  }
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

static py::object cuda_empty(const Shape& shape, py::object dtype, py::handle like) {
  require_cuda(t_op);  // the op's own RuntimeError where CUDA is not built or no GPU is usable
  return arrays_module().attr("cuda_empty")(like, py::tuple(py::cast(shape)), dtype);
}

// A DLPack-only `like` allocates alike through its NumPy/CuPy view.
static py::object dlpack_like(py::handle like) {
  if (like.is_none() || py::isinstance<py::array>(like) || !py::hasattr(like, "__dlpack__") ||
      py::hasattr(like, "__cuda_array_interface__"))
    return py::reinterpret_borrow<py::object>(like);
  return arrays_module().attr("from_dlpack")(like, t_op, "like");
}

py::object out_or_empty(py::object out, const Shape& shape, py::handle like_in) {
  if (!out.is_none()) return out;
  py::object like = dlpack_like(like_in);
  if (is_cuda_array(like)) return cuda_empty(shape, py::none(), like);
  // `like` is validated by the op after this; a non-array must reach that check, not fail here.
  if (!py::isinstance<py::array>(like)) return empty(shape, py::dtype("float32"));
  return empty(shape, py::reinterpret_borrow<py::array>(like).dtype());
}

py::object out_or_empty(py::object out, const Shape& shape, const char* numpy_dtype, py::handle like_in) {
  if (!out.is_none()) return out;
  py::object like = dlpack_like(like_in);
  if (is_cuda_array(like)) return cuda_empty(shape, py::str(numpy_dtype), like);
  return empty(shape, py::dtype(numpy_dtype));
}

// ---- scalar arguments ----

namespace {

// numpy.bool (numpy.bool_ before NumPy 2) is neither int nor bool to Python's C API.
bool is_bool(py::handle v) {
  const char* name = Py_TYPE(v.ptr())->tp_name;
  return PyBool_Check(v.ptr()) || std::strcmp(name, "numpy.bool") == 0 || std::strcmp(name, "numpy.bool_") == 0;
}

// What came, in a TypeError: the type's name ("str", "ndarray"), or None.
std::string got_type(py::handle v) { return v.is_none() ? "None" : type_name(v); }

// The UTF-8 text of a str (refused: a str with lone surrogates, which has none).
std::string utf8(py::handle v, const char* op, const char* arg) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(v.ptr(), &n);
  if (!p) {
    PyErr_Clear();
    value_error(op, arg, "a str encodable as UTF-8", "a str with surrogates");
  }
  return std::string(p, static_cast<size_t>(n));
}

// A number as it appears in messages: str(v), shortened past 40 characters (2**1000 has 302 digits).
std::string num_text(py::handle v) {
  std::string t = py::str(v);
  if (t.size() > 40) t = t.substr(0, 20) + "... (" + std::to_string(t.size()) + " characters)";
  return t;
}

// The Python int of an int or an object with __index__ (numpy integers), bools refused.
py::int_ index_of(py::handle v, const char* op, const char* arg, const std::string& expected) {
  if (is_bool(v)) type_error(op, arg, expected, "bool");
  PyObject* r = PyNumber_Index(v.ptr());
  if (!r) {
    PyErr_Clear();
    type_error(op, arg, expected, got_type(v));
  }
  return py::reinterpret_steal<py::int_>(r);
}

// A sequence argument: only a tuple or a list (a str or an array is never taken for one).
bool is_tuple_or_list(py::handle v) { return PyTuple_Check(v.ptr()) || PyList_Check(v.ptr()); }

// An integer in [lo, 2**63); `type_expected` (when given) says what the argument as a whole should
// be in a TypeError ("an int or a pair of ints").
int64_t to_int64(py::handle v, const char* op, const char* arg, const char* type_expected, int64_t lo) {
  const std::string range =
      "an integer in [" + (lo == INT64_MIN ? std::string("-2**63") : std::to_string(lo)) + ", 2**63)";
  const py::int_ i = index_of(v, op, arg, type_expected ? std::string(type_expected) : range);
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow != 0 || x < lo) value_error(op, arg, range, num_text(i));
  return static_cast<int64_t>(x);
}

}  // namespace

double float_arg(py::handle v, const char* op, const char* arg) {
  if (PyFloat_Check(v.ptr())) return PyFloat_AS_DOUBLE(v.ptr());
  static const char* expected = "a real number";
  if (is_bool(v)) type_error(op, arg, expected, "bool");
  // numbers.Real: numpy floats and ints, Fraction. Kept for the process (no destructor at exit).
  static const py::handle real = py::object(py::module_::import("numbers").attr("Real")).release();
  if (!PyLong_Check(v.ptr()) && !py::isinstance(v, real)) type_error(op, arg, expected, got_type(v));
  const double d = PyFloat_AsDouble(v.ptr());
  if (d == -1.0 && PyErr_Occurred()) {  // an int beyond float64's range
    PyErr_Clear();
    value_error(op, arg, "a real number within float64 range", num_text(v));
  }
  return d;
}

bool bool_arg(py::handle v, const char* op, const char* arg) {
  if (!is_bool(v)) type_error(op, arg, "a bool", got_type(v));
  return PyObject_IsTrue(v.ptr()) == 1;
}

int64_t int_arg(py::handle v, const char* op, const char* arg, int64_t lo) {
  return to_int64(v, op, arg, nullptr, lo);
}

uint64_t uint64_arg(py::handle v, const char* op, const char* arg) {
  static const char* expected = "an integer in [0, 2**64)";
  const py::int_ i = index_of(v, op, arg, expected);
  const unsigned long long x = PyLong_AsUnsignedLongLong(i.ptr());  // OverflowError when negative or >= 2**64
  if (PyErr_Occurred()) {
    PyErr_Clear();
    value_error(op, arg, expected, num_text(i));
  }
  return static_cast<uint64_t>(x);
}

std::string str_arg(py::handle v, const char* op, const char* arg) {
  if (!PyUnicode_Check(v.ptr())) type_error(op, arg, "a str", got_type(v));
  return utf8(v, op, arg);
}

std::string impl_arg(py::handle v, const char* op) {
  if (v.is_none()) return "";
  if (!PyUnicode_Check(v.ptr())) type_error(op, "impl", "a str (an implementation name) or None", got_type(v));
  return utf8(v, op, "impl");
}

std::array<int64_t, 2> pair_arg(py::handle v, const char* op, const char* arg) {
  static const char* expected = "an int or a pair of ints";
  if (!is_tuple_or_list(v)) {
    const int64_t x = to_int64(v, op, arg, expected, INT64_MIN);
    return {x, x};
  }
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(v);
  if (seq.size() != 2) value_error(op, arg, expected, "a sequence of length " + std::to_string(seq.size()));
  return {to_int64(seq[0], op, arg, expected, INT64_MIN), to_int64(seq[1], op, arg, expected, INT64_MIN)};
}

Shape shape_arg(py::handle v, const char* op, const char* arg, bool int_ok) {
  const char* expected = int_ok ? "an int or a tuple of ints" : "a tuple of ints";
  if (!is_tuple_or_list(v)) {
    if (!int_ok) type_error(op, arg, expected, got_type(v));
    return {to_int64(v, op, arg, expected, INT64_MIN)};
  }
  Shape s;
  for (py::handle e : py::reinterpret_borrow<py::sequence>(v)) s.push_back(to_int64(e, op, arg, expected, INT64_MIN));
  return s;
}

std::pair<double, double> float_pair_arg(py::handle v, const char* op, const char* arg) {
  static const char* expected = "a pair of real numbers";
  if (!is_tuple_or_list(v)) type_error(op, arg, expected, got_type(v));
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(v);
  if (seq.size() != 2) value_error(op, arg, expected, "a sequence of length " + std::to_string(seq.size()));
  const std::string a0 = std::string(arg) + "[0]", a1 = std::string(arg) + "[1]";
  return {float_arg(seq[0], op, a0.c_str()), float_arg(seq[1], op, a1.c_str())};
}

}  // namespace pb::bind
