"""Result checks run before anything is timed: a wrong answer is FAILED, never a speed."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tol:
    """|actual - expected| <= atol_eff + rtol * |expected|, element-wise, NaN only where NaN.

    atol_eff = atol * max|expected| when `relative_to_max` (for GEMM-like sums whose rounding error
    scales with the size of the result, not with each element), else atol.
    """

    rtol: float
    atol: float
    relative_to_max: bool = False

    def describe(self):
        a = f"{self.atol:g}*max|ref|" if self.relative_to_max else f"{self.atol:g}"
        return f"rtol {self.rtol:g}, atol {a}"


EXACT = Tol(0.0, 0.0)


@dataclass
class CheckResult:
    ok: bool
    worst: float = 0.0        # max over outputs of max(|a-e| / (atol_eff + rtol|e|)); <= 1 passes
    where: str = ""           # output with the worst ratio
    max_abs_err: float = 0.0  # of that output
    detail: str = ""          # e.g. the exception of a call that raised

    def to_dict(self):
        return {"ok": self.ok, "worst_err_over_tol": self.worst, "worst_output": self.where,
                "max_abs_err": self.max_abs_err, "detail": self.detail}

    def describe(self):
        if self.detail:
            return self.detail
        return f"{self.where}: max |err| {self.max_abs_err:.3g}, err/tol {self.worst:.3g}"


CHUNK = 1 << 16  # elements compared at a time: float64 temporaries of 512 KiB stay in L2


def _compare_chunk(a, e, atol, rtol):
    a = a.astype(np.float64)
    e = e.astype(np.float64)
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    if (nan_a != nan_e).any():
        return float("inf"), float("inf")
    inf_e = np.isinf(e)
    if inf_e.any() and (a[inf_e] != e[inf_e]).any():
        return float("inf"), float("inf")
    fin = ~(nan_e | inf_e)
    if not fin.all():
        a, e = a[fin], e[fin]
    if a.size == 0:
        return 0.0, 0.0
    if not np.isfinite(a).all():
        return float("inf"), float("inf")
    err = np.abs(a - e)
    bound = atol + rtol * np.abs(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)
    return float(ratio.max()), float(err.max())


def _max_abs_finite(e):
    m = 0.0
    for i in range(0, e.size, CHUNK):
        c = np.abs(e[i:i + CHUNK].astype(np.float64))
        c = c[np.isfinite(c)]
        if c.size:
            m = max(m, float(c.max()))
    return m


def compare(actual, expected, tol):
    """(worst err/tol ratio, max abs err) of `actual` against `expected` (any float dtypes),
    chunk by chunk so a 64M-element check needs no 64M-element float64 temporaries."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape:
        return float("inf"), float("inf")
    a, e = a.reshape(-1), e.reshape(-1)
    atol = tol.atol * (_max_abs_finite(e) if tol.relative_to_max else 1.0)
    worst, max_abs = 0.0, 0.0
    for i in range(0, a.size, CHUNK):
        ac, ec = a[i:i + CHUNK], e[i:i + CHUNK]
        if np.array_equal(ac, ec, equal_nan=True):
            continue  # equal chunks (the common case of exact ops) need no arithmetic
        w, m = _compare_chunk(ac, ec, atol, tol.rtol)
        worst, max_abs = max(worst, w), max(max_abs, m)
    return worst, max_abs


class Accumulator:
    """Collects compare() results over outputs (and chunks of them) into one CheckResult."""

    def __init__(self):
        self.worst, self.where, self.max_abs = 0.0, "", 0.0

    def add(self, name, actual, expected, tol):
        w, m = compare(actual, expected, tol)
        if w > self.worst or not self.where:
            self.worst, self.where, self.max_abs = w, name, m
        return w

    def result(self):
        return CheckResult(ok=self.worst <= 1.0, worst=self.worst, where=self.where, max_abs_err=self.max_abs)


def check_outputs(actual, expected, tols):
    """actual/expected: {name: array}; tols: {name: Tol} (names of `expected` are checked)."""
    acc = Accumulator()
    for name, e in expected.items():
        if name not in actual:
            continue
        acc.add(name, actual[name], e, tols[name])
    return acc.result()
