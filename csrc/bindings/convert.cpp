#include "bindings/convert.h"

#include <pybind11/stl.h>

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

}  // namespace pb::bind
