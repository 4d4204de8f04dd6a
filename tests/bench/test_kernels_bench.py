"""pytest-benchmark timings of the native kernels: the problem table at its "pytest" size class.

Run: `PYTHONPATH=. python -m pytest tests/bench --benchmark-only --benchmark-json OUT.json`.
Each benchmark runs our default call once into NaN-poisoned outputs and checks them against
pybench.reference (float64 oracle; conv2d's large batches on their batch-1 proxy, as
`pybench bench`), then times the call. It names its kernel `<op>_<label>[<shape>]` in
extra_info["kernel"] (read back by pybench.bench.pytest_json.load); the group is the op.
"""

import pytest

from pybench.bench import problems as P
from pybench.bench.problem_core import Inputs, try_check

PROBLEMS = P.table("pytest")


def kernel_name(prob):
    shape = prob.shape.strip("()").rstrip(",").replace(", ", "x")
    return "_".join([prob.op, *prob.label.split()]) + f"[{shape}]"


@pytest.mark.parametrize("prob", PROBLEMS, ids=[kernel_name(p) for p in PROBLEMS])
def test_kernel(benchmark, prob):
    benchmark.extra_info["kernel"] = kernel_name(prob)
    benchmark.group = prob.op
    case = prob.build(Inputs())
    cand = case.ours(None)
    proxy = case.proxy() if hasattr(case, "proxy") else None
    res = try_check(proxy.ours(None) if proxy is not None else cand, (proxy or case).check)
    assert res.ok, f"{prob.name}: {res.describe()}"
    benchmark(cand.run)
