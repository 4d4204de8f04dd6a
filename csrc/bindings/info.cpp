#include <pybind11/stl.h>

#include <climits>

#include "bindings/bind.h"
#include "bindings/convert.h"
#include "build_config.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/isa.h"
#include "core/parallel.h"

namespace py = pybind11;

namespace pb::bind {

void bind_info(py::module_& m) {
  m.def("build_info", [] {
    py::dict d;
    d["build_type"] = PB_BUILD_TYPE;
    d["compiler"] = PB_CXX_COMPILER;
    d["flags"] = PB_CXX_FLAGS;
#if defined(PB_X86_MULTI)
    d["isa_levels_built"] = std::vector<std::string>{"base", "avx2", "avx512"};
#else
    d["isa_levels_built"] = std::vector<std::string>{"base"};
#endif
#ifdef PB_WITH_CUDA
    d["cuda_built"] = true;
    d["cuda_archs"] = PB_CUDA_ARCHS;
#else
    d["cuda_built"] = false;
    d["cuda_archs"] = "";
#endif
    d["openmp"] = _OPENMP;
    // the commit built from (empty outside a git checkout) and whether tracked files differed from it
    d["git_sha"] = PB_GIT_SHA;
    d["git_dirty"] = PB_GIT_DIRTY != 0;
    return d;
  });
  m.def("cuda_status", [] {
    CudaStatus s = cuda_status();
    py::dict d;
    d["built"] = s.built;
    d["device_count"] = s.device_count;
    d["device_name"] = s.device_name;
    d["compute_capability"] = std::to_string(s.cc_major) + "." + std::to_string(s.cc_minor);
    d["reason"] = s.reason;
    return d;
  });
  m.def("isa_supported", [] { return isa_name(isa_supported()); }, "Best SIMD level this CPU supports.");
  m.def("isa_active", [] { return isa_name(isa_active()); }, "SIMD level the CPU kernels use now.");
  m.def("set_isa", [](py::object name) { set_isa(str_arg(name, "set_isa", "name")); }, py::arg("name"),
        "Use the 'base', 'avx2' or 'avx512' build of the CPU kernels.");
  m.def("get_num_threads", &max_threads);
  m.def("set_num_threads", [](py::object n) {
    const int64_t v = int_arg(n, "set_num_threads", "n");
    if (v > INT_MAX) value_error("set_num_threads", "n", "a thread count below 2**31", std::to_string(v));
    set_num_threads(static_cast<int>(v));  // ValueError below 1
  }, py::arg("n"));
  // The list of `op` on `device` ("cpu" or "cuda"), from the op's table (core/op_table.h).
  auto list_of = [](py::object op_obj, py::object device_obj, const char* fn) -> const ImplList& {
    const std::string op = str_arg(op_obj, fn, "op"), device = str_arg(device_obj, fn, "device");
    if (device == "cpu") return impl_list(op);
    if (device == "cuda") {
      impl_list(op);                          // ValueError for an unknown op first
      return impl_list(cuda_impl_key(op));    // ValueError where CUDA is not built
    }
    value_error(fn, "device", "'cpu' or 'cuda'", "'" + device + "'");
  };
  m.def("impls", [list_of](py::object op, py::object device) { return list_of(op, device, "impls").names; },
        py::arg("op"), py::arg("device") = "cpu",
        "Implementations of an op on a device ('cpu' or 'cuda'), plainest first; the last is the default.");
  m.def("impl_info", [list_of](py::object op, py::object device) {
    const ImplList& l = list_of(op, device, "impl_info");
    py::list r;
    for (size_t i = 0; i < l.names.size(); ++i) {
      py::dict d;
      d["name"] = l.names[i];
      d["why"] = l.why[i];
      d["default"] = l.names[i] == l.default_name;
      r.append(d);
    }
    return r;
  }, py::arg("op"), py::arg("device") = "cpu",
        "impls(op, device) with what each does and which one impl=None runs: [{name, why, default}].");
  m.def("ops", [] {
    std::vector<std::string> r;
    for (auto& op : registered_ops())
      if (op.rfind("cuda:", 0) != 0) r.push_back(op);  // the CUDA lists are impls(op, device="cuda")
    return r;
  }, "Names of every registered op.");
}

}  // namespace pb::bind
