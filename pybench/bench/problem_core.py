"""The bench's building blocks, shared by every case module: the tolerances of the checks, the
Candidate (one timed thing), the Problem (one row of the table), the cached random Inputs, and the
look-ups of our ops, the reference and the registered impls.

The cases that build on them are in cases_compute.py (gemm, linear, conv2d), cases_memory.py
(copy, activations, dropout, batch_norm) and cases_train.py (pooling, losses, optimizer steps);
problems.py is the table: every problem and its sizes by class, for every mode that runs them.
"""

import zlib
from dataclasses import dataclass, field

import numpy as np

from .check import CheckResult, Tol

F32 = np.float32

# Tolerances of the checks (ours float32 against the reference evaluated in float64 on the same
# float32 inputs, except dropout which is exact by construction).
TOL_GEMM = Tol(1e-4, 1e-4, relative_to_max=True)   # sums of K products: error scales with |result|
TOL_ELEMENTWISE = Tol(1e-5, 1e-5)                   # atol as the op tests (assert_close fp32); rtol ~ 80 ulp
TOL_BN = Tol(1e-4, 1e-4)                            # statistics over ~1M elements in float32
TOL_DROPOUT = Tol(1e-6, 0.0)
TOL_SUM = Tol(2e-4, 2e-4)                           # a loss's value: a float32 peer's mean of many terms


class Unavailable(Exception):
    """This build cannot run the problem (op or reference missing, impl not registered)."""


@dataclass
class Candidate:
    """One timed thing: `run()` computes into the arrays `outputs()` returns."""

    run: object
    outputs: object
    buffers: list = field(default_factory=list)  # preallocated outputs, poisoned with NaN before the check
    preallocated: bool = True                    # False: the call allocates its outputs (no out= API used)
    note: str = ""
    check: object = None                         # overrides the case's check (e.g. a peer with other RNG)
    prepare: object = None                       # resets state the call updates in place (not timed)


def ops_fn(name):
    """pybench.ops.<name>, looked up at call-building time (so tests can monkeypatch it)."""
    from .. import ops  # noqa: PLC0415

    fn = getattr(ops, name, None)
    if fn is None:
        raise Unavailable("op not built")
    return fn


def ref_fn(name, fallback=None):
    from .. import reference  # noqa: PLC0415

    fn = getattr(reference, name, None)
    if fn is None:
        if fallback is None:
            raise Unavailable(f"no oracle: pybench.reference.{name} missing")
        return fallback
    return fn


def native_impls(name):
    """Registered impls of a native op, or None when the registry does not know the name."""
    from .. import _native  # noqa: PLC0415

    try:
        return list(_native.impls(name))
    except Exception:
        return None


class Inputs:
    """Random inputs (float32 unless `dtype`), cached per (tag, shape) for one run, so the
    64M-element arrays are generated once and shared by every activation problem. Seeded by the
    crc32 of the key: the same values in every process."""

    def __init__(self, dtype=F32):
        self.dtype = np.dtype(dtype)
        self._cache = {}

    def _rng(self, key):
        return np.random.default_rng(zlib.crc32(repr(key).encode()))

    def get(self, tag, shape, scale=1.0, offset=0.0, positive=False):
        key = (tag, tuple(shape), scale, offset) + (("abs",) if positive else ())
        a = self._cache.get(key)
        if a is None:
            t = self.dtype.type
            a = self._rng(key).standard_normal(shape, dtype=F32).astype(self.dtype, copy=False)
            if positive:
                np.abs(a, out=a)
            if scale != 1.0:
                a *= t(scale)
            if offset != 0.0:
                a += t(offset)
            self._cache[key] = a
        return a

    def labels(self, tag, n, classes):
        """int64 class indices in [0, classes)."""
        key = (tag, n, classes, "labels")
        if key not in self._cache:
            self._cache[key] = self._rng(key).integers(0, classes, n).astype(np.int64)
        return self._cache[key]

    def clear(self):
        self._cache.clear()


def _t(torch, a):
    return torch.from_numpy(a)


# ----------------------------------------------------------------------------------------------
# Problem: one row of the table
# ----------------------------------------------------------------------------------------------


@dataclass
class Problem:
    op: str                 # the --op name
    label: str              # "fwd", "bwd", "fwd+bwd", ...
    shape: str              # human-readable sizes
    params: dict            # the sizes, for JSON
    kind: str               # "compute" (FLOPs) or "memory" (bytes)
    work: float             # FLOPs or minimum bytes moved per call
    work_formula: str       # how `work` was counted
    fns: tuple              # pybench.ops functions our side needs ("copy" means _native.copy)
    build: object           # (Inputs) -> Case
    peers: tuple = ()       # peers that have this problem ("numpy", "torch")
    auto_added: bool = False  # the copy row added as the bandwidth ceiling: always its default impl
    gate: str = ""          # the gate's name of the problem (its "gate" size class only)

    @property
    def name(self):
        return " ".join(s for s in (self.op, self.label, self.shape) if s)

    def missing(self):
        """None if our side can run, else the reason it cannot."""
        from .. import _native, ops  # noqa: PLC0415

        for f in self.fns:
            if f == "copy":
                if not hasattr(_native, "copy"):
                    return "op not built"
            elif not hasattr(ops, f):
                return "op not built"
        return None

    def impl_choices(self):
        """Impl names every needed function registers (in registry order), or None if unknown."""
        lists = [native_impls(f) for f in self.fns]
        if any(lst is None for lst in lists):
            return None
        first = lists[0]
        return [i for i in first if all(i in lst for lst in lists[1:])]


def try_check(cand, check):
    """Run the candidate once into NaN-poisoned outputs, from its start state, and check them."""
    for b in cand.buffers:
        b.fill(np.nan)
    try:
        if cand.prepare is not None:
            cand.prepare()
        cand.run()
    except Exception as e:
        return CheckResult(ok=False, worst=float("inf"), detail=f"raised {type(e).__name__}: {e}")
    try:
        return (cand.check or check)(cand.outputs())
    except Exception as e:
        return CheckResult(ok=False, worst=float("inf"), detail=f"check raised {type(e).__name__}: {e}")


def resolve_impl(fn, impl=None, device="cpu", dtype="float32"):
    """The name of the registered row that runs `fn` with `impl` (None: the default) — from
    _native.resolve_impl where the module has it, else the last registered impl (the default
    before resolve_impl existed); None when the registry does not know `fn`."""
    from .. import _native  # noqa: PLC0415

    resolve = getattr(_native, "resolve_impl", None)
    if resolve is not None:
        try:
            return resolve(fn, impl, device=device, dtype=dtype)
        except (ValueError, TypeError):
            return None
    if impl:
        return impl
    try:
        impls = list(_native.impls(fn, device=device)) if device != "cpu" else list(_native.impls(fn))
    except Exception:
        return None
    return impls[-1] if impls else None
