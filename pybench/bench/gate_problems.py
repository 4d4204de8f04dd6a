"""What `pybench gate` counts: the problem table's "gate" size class, and the worker that counts
them under valgrind.

Each gate problem is a row of the table (problems.py) at a tiny size, float32, with its stable
gate name (``--only`` names or prefixes pick some of them: :func:`select`). :func:`worker` is what
valgrind runs (``python -m pybench.bench.gate --worker``): it checks every problem against
pybench.reference uninstrumented, then counts our default call of each checked one between
``_native.callgrind_begin`` and ``callgrind_end``. How the counts are taken, keyed, compared and
recorded is :mod:`.gate`.
"""

import json

import numpy as np

from .. import store
from . import problems as P
from .problem_core import Inputs, try_check

# the family each op's figures are filed under
FAMILY = {**{op: "pool" for op in P.POOL_OPS}, **{op: "loss" for op in P.LOSS_OPS},
          **{op: "optim" for op in P.OPTIM_OPS}, **{op: "activation" for op in P.ACT_OPS},
          "softmax": "softmax", "log_softmax": "softmax"}


class Problem:
    """One gate problem: ``build()`` makes the inputs and our default call, ``prepare()`` resets
    in-place state (outside the counted region), ``run()`` is the counted call (outputs
    preallocated), ``check()`` runs it into NaN-poisoned outputs and returns None when they match
    pybench.reference, else a one-line reason; ``outputs()`` copies what the run writes (compared
    bitwise between the checked and the counted run)."""

    def __init__(self, prob):
        self.prob, self.name, self.family = prob, prob.gate, FAMILY.get(prob.op, prob.op)
        self.case = self.cand = None

    def build(self, inputs=None):
        self.case = self.prob.build(inputs if inputs is not None else Inputs())
        self.cand = self.case.ours(None)
        return self

    def prepare(self):
        if self.cand.prepare is not None:
            self.cand.prepare()

    def run(self):
        self.cand.run()

    def check(self, outputs=None):
        """None if the outputs (default: of a fresh checked run) match the reference, else why not."""
        if outputs is None:
            res = try_check(self.cand, self.case.check)
        else:
            res = (self.cand.check or self.case.check)(outputs)
        return None if res.ok else res.describe()

    def outputs(self):
        return {k: np.array(v, copy=True) for k, v in self.cand.outputs().items()}


def problems():
    """The gate's problems in table order: every op at its "gate" size, float32, a few million
    instructions each (the whole gate takes a few minutes under callgrind)."""
    return [Problem(p) for p in P.table("gate")]


def select(names=None):
    """The problems whose name starts with one of `names` (all when None); ValueError on no match."""
    all_ = problems()
    if not names:
        return all_
    chosen = [p for p in all_ if any(p.name == n or p.name.startswith(n) for n in names)]
    if not chosen:
        raise ValueError(f"--only: expected a problem name or prefix (e.g. {all_[0].name.split('/')[0]}), "
                         f"got {', '.join(names)}")
    return chosen


# ---------------------------------------------------------------------------------------------
# The worker (runs under valgrind)
# ---------------------------------------------------------------------------------------------

def worker(out_path, names=None, isa=None, repeat=1):
    """Check every problem, then count it `repeat` times under callgrind (dumps named
    '<problem>#<i>'); write {problem: {ok, error}} plus the ISA path to `out_path`."""
    from .. import _native

    _native.set_num_threads(1)
    if isa:
        _native.set_isa(isa)
    chosen = select(names)
    inputs = Inputs()
    result = {"isa_active": _native.isa_active(), "threads": _native.get_num_threads(),
              "on_valgrind": _native.running_on_valgrind(), "callgrind_hooks": _native.callgrind_available(),
              "problems": {}}
    checked = {}
    for p in chosen:  # phase 1, uninstrumented: build, run, check against the reference
        rec = result["problems"][p.name] = {"family": p.family, "ok": False, "error": None}
        try:
            rec["error"] = p.build(inputs).check()
        except Exception as e:  # a kernel that raises is a failed problem, not a crashed gate
            rec["error"] = f"{type(e).__name__}: {e}"
        rec["ok"] = rec["error"] is None
        if rec["ok"]:
            checked[p.name] = p.outputs()
    for p in chosen:  # phase 2: count the checked ones
        if p.name not in checked:
            continue
        for i in range(repeat):
            p.prepare()
            _native.callgrind_begin()
            p.run()
            _native.callgrind_end(f"{p.name}#{i}")
            got = p.outputs()
            same = all(np.array_equal(a, got[k], equal_nan=True) for k, a in checked[p.name].items())
            if not same:
                rec = result["problems"][p.name]
                rec["ok"], rec["error"] = False, "counted run gave other bits than the checked run"
    store.atomic_write(out_path, json.dumps(result))
