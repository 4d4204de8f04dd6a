"""The kernels' check over the problem table (pybench/bench/problems.py): every problem at its
smallest ("check") size class, our default call against pybench.reference, float32 and float64.
The same check runs before `pybench bench` times, before pytest-benchmark times and before the
gate counts, on their own size classes."""

import numpy as np
import pytest

from pybench.bench import problems as P
from pybench.bench.problem_core import Inputs, try_check

PROBLEMS = P.table("check")


def test_every_op_and_size_class_is_in_the_table():
    assert set(P.TABLE) == set(P.OPS)
    for op in P.OPS:
        for size in P.SIZE_CLASSES:
            assert P.problems_for(op, size=size), (op, size)
    gate = P.table("gate")
    assert all(p.gate for p in gate) and len({p.gate for p in gate}) == len(gate)
    with pytest.raises(ValueError, match="size class: expected one of"):
        P.problems_for("relu", size="huge")
    with pytest.raises(ValueError, match="unknown op 'nope'"):
        P.problems_for("nope")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("prob", PROBLEMS, ids=[p.name for p in PROBLEMS])
def test_problem_matches_the_reference(prob, dtype):
    case = prob.build(Inputs(dtype))
    cand = case.ours(None)
    res = try_check(cand, case.check)
    assert res.ok, f"{prob.name} ({dtype}): {res.describe()}"
    out = cand.outputs()
    floats = {k: v for k, v in out.items() if np.asarray(v).dtype.kind == "f"}
    assert all(np.asarray(v).dtype == np.dtype(dtype) for k, v in floats.items() if k != "loss"), prob.name
    key = next(iter(floats))
    wrong = dict(out, **{key: np.asarray(floats[key]) + 1.0})  # a wrong kernel's output
    assert not case.check(wrong).ok, prob.name
