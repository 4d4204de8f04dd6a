// Native helpers of `pybench bench`: the copy that measures the memory-bandwidth ceiling and the
// FMA probe that measures the compute ceiling.
#include "bindings/bind.h"
#include "bindings/convert.h"
#include "core/check.h"
#include "core/dispatch.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/probe.h"
#include "ops/copy.h"

#if defined(PB_HAVE_CALLGRIND)
#include <valgrind/callgrind.h>
#endif

namespace py = pybind11;
using namespace pybind11::literals;

namespace pb::bind {

void bind_bench(py::module_& m) {
  static const std::string copy_doc =
      "out[...] = src (float32/float64, C-contiguous, same shape; `out` allocated when omitted).\n" + impls_doc("copy");
  m.def("copy", [](py::object src, py::object out, py::object impl_obj) {
    Tensor tx = to_tensor(src, "copy", "src");
    const std::string impl = impl_arg(impl_obj, "copy");
    // src must be valid before its shape and dtype size a new `out` (e.g. src=None).
    if (out.is_none()) check_input("copy", "src", tx, kAnyNdim, Empty::any);
    py::object o = out_or_empty(out, tx.shape_vec(), src);
    Tensor ty = to_tensor(o, "copy", "out");
    {
      py::gil_scoped_release nogil;
      ops::copy(ty, tx, impl);
    }
    return o;
  }, "src"_a, py::kw_only(), "out"_a = py::none(), "impl"_a = py::none(),
  copy_doc.c_str());

  m.def("fma_probe", [](py::object iters_obj) {
    const int64_t iters = int_arg(iters_obj, "fma_probe", "iters");
    if (iters < 1) value_error("fma_probe", "iters", "an integer >= 1", std::to_string(iters));
    double seconds = 0, flops = 0;
    float sink = 0;
    int lanes = 0;
    {
      py::gil_scoped_release nogil;
      PB_CPU_CALL(fma_probe, &seconds, &flops, &sink, iters);
      lanes = PB_CPU_CALL(fma_probe_lanes);
    }
    py::dict d;
    d["seconds"] = seconds;
    d["flops"] = flops;
    d["gflops"] = seconds > 0 ? flops / seconds / 1e9 : 0.0;
    d["threads"] = omp_in_parallel() ? 1 : max_threads();
    d["isa"] = isa_name(isa_active());
    d["lanes"] = lanes;
    d["sink"] = sink;
    return d;
  }, "iters"_a = 10000000,
  "Float32 FMA throughput of this machine on all threads (pybench info --calibrate): every thread\n"
  "runs independent register-only FMA chains for `iters` rounds (no memory traffic). Returns\n"
  "{seconds (slowest thread), flops (all threads; an FMA lane is 2), gflops, threads, isa, lanes, sink}.");

  // `pybench gate`: count instructions of one region under callgrind. Outside valgrind (or when the
  // header was missing at build time) both are no-ops; `callgrind_available` says which.
  m.def("callgrind_available", []() {
#if defined(PB_HAVE_CALLGRIND)
    return true;
#else
    return false;
#endif
  }, "True when the module was built with valgrind's callgrind.h (the gate hooks are live).");
  m.def("running_on_valgrind", []() {
#if defined(PB_HAVE_CALLGRIND)
    return static_cast<int>(RUNNING_ON_VALGRIND);
#else
    return 0;
#endif
  }, "Nesting depth of valgrind this process runs under (0 outside valgrind).");
  m.def("callgrind_begin", []() {
#if defined(PB_HAVE_CALLGRIND)
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_ZERO_STATS;
#endif
  }, "Start callgrind instrumentation (if off) and zero its counters: the region starts here.");
  m.def("callgrind_end", [](const std::string& name) {
#if defined(PB_HAVE_CALLGRIND)
    CALLGRIND_DUMP_STATS_AT(name.c_str());
#endif
  }, "name"_a, "Dump callgrind's counters since callgrind_begin under `name` (one callgrind.out.N file).");
}

}  // namespace pb::bind
