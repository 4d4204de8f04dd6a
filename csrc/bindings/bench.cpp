// Native helpers of `pybench bench`: the copy that measures the memory-bandwidth ceiling.
#include "bindings/bind.h"
#include "bindings/convert.h"
#include "core/check.h"
#include "ops/copy.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

void bind_bench(py::module_& m) {
  m.def("copy", [](py::object src, py::object out, std::string impl) {
    Tensor tx = to_tensor(src, "copy", "src");
    // src must be valid before its shape and dtype size a new `out` (e.g. src=None).
    if (out.is_none()) check_input("copy", "src", tx, kAnyNdim);
    py::object o = out_or_empty(out, tx.shape_vec(), src);
    Tensor ty = to_tensor(o, "copy", "out");
    {
      py::gil_scoped_release nogil;
      ops::copy(ty, tx, impl);
    }
    return o;
  }, "src"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = "",
  "out[...] = src (float32/float64, C-contiguous, same shape; `out` allocated when omitted).\n"
  "impls('copy'): naive (one thread), parallel (memcpy per thread), stream (non-temporal stores\n"
  "for large copies; the default).");
}

}  // namespace pb::bind
