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
#ifdef PB_DEV_KERNELS
    d["dev_kernels"] = true;  // -DPYBENCH_DEV_KERNELS=ON: the rows of dev/kernels are in the tables
#else
    d["dev_kernels"] = false;
#endif
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
  // The table of `op` on `device` ("cpu" or "cuda") as the registry keeps it (core/op_table.h).
  auto list_of = [](py::object op_obj, py::object device_obj, const char* fn, bool& cuda) -> std::string {
    const std::string op = str_arg(op_obj, fn, "op"), device = str_arg(device_obj, fn, "device");
    cuda = device == "cuda";
    if (device != "cpu" && !cuda) value_error(fn, "device", "'cpu' or 'cuda'", "'" + device + "'");
    impl_list(op);  // ValueError for an unknown op first
    if (!cuda) return op;
    impl_list(cuda_impl_key(op));  // ValueError where CUDA is not built
    return cuda_impl_key(op);
  };
  // "float32", "float64", a NumPy dtype or type; None (either) where allowed.
  auto dtype_of = [](py::object d, const char* fn, bool none_ok) -> AnyFloat {
    if (d.is_none() && none_ok) return AnyFloat::either;
    std::string name;
    try {
      name = d.is_none() ? "None" : py::str(py::module_::import("numpy").attr("dtype")(d).attr("name"));
    } catch (const py::error_already_set&) {
      name = py::str(py::repr(d));
    }
    if (name == "float32") return AnyFloat::f32;
    if (name == "float64") return AnyFloat::f64;
    value_error(fn, "dtype", none_ok ? "'float32', 'float64' or None" : "'float32' or 'float64'", name);
  };
  m.def("impls", [list_of, dtype_of](py::object op, py::object device, py::object dtype) {
    bool cuda;
    const std::string key = list_of(op, device, "impls", cuda);
    return impls_here(key, cuda, dtype_of(dtype, "impls", true));
  }, py::arg("op"), py::arg("device") = "cpu", py::arg("dtype") = py::none(),
        "Implementations of an op that run on a device ('cpu': at the active ISA) for dtype (None: for\n"
        "float32 or float64), plainest first; the last is what impl=None runs for that dtype.");
  m.def("impl_info", [list_of, dtype_of](py::object op, py::object device, py::object dtype) {
    bool cuda;
    const std::string key = list_of(op, device, "impl_info", cuda);
    const AnyFloat dt = dtype_of(dtype, "impl_info", true);
    py::list r;
    for (const ImplRow& row : impl_list(key).rows) {
      const bool here = runs_here(row.needs, cuda, dt);
      py::dict d;
      d["name"] = row.name;
      d["why"] = row.why;
      d["default"] = row.is_default;  // impl=None runs the last default row that runs here
      d["runs_here"] = here;
      d["needs"] = needs_str(row.needs, cuda);  // "" where it runs everywhere
      r.append(d);
    }
    return r;
  }, py::arg("op"), py::arg("device") = "cpu", py::arg("dtype") = py::none(),
        "Every row of the op's table on a device: [{name, why, default, runs_here, needs}]: runs_here at\n"
        "the active ISA for dtype (None: either); needs: e.g. 'AVX-512 and float32', '' for none.");
  m.def("resolve_impl", [list_of, dtype_of](py::object op, py::object impl, py::object device, py::object dtype) {
    bool cuda;
    const std::string key = list_of(op, device, "resolve_impl", cuda);
    const std::string name = impl.is_none() ? std::string() : str_arg(impl, "resolve_impl", "impl");
    const AnyFloat dt = dtype_of(dtype, "resolve_impl", false);
    return resolve_impl(key, name, cuda, dt == AnyFloat::f32 ? DType::f32 : DType::f64);
  }, py::arg("op"), py::arg("impl") = py::none(), py::kw_only(), py::arg("device") = "cpu",
        py::arg("dtype") = "float32",
        "The name of the row that impl (None: the default) runs on device for dtype here; ValueError\n"
        "where it is unknown or does not run here (the error the op itself raises).");
  m.def("ops", [] {
    std::vector<std::string> r;
    for (auto& op : registered_ops())
      if (op.rfind("cuda:", 0) != 0) r.push_back(op);  // the CUDA lists are impls(op, device="cuda")
    return r;
  }, "Names of every registered op.");
}

}  // namespace pb::bind
