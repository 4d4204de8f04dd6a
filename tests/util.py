"""Helpers shared by the tests: tolerances, finite differences, bad-call assertions, printed tables."""

import itertools

import numpy as np
import pytest

# float32: PyTorch's assert_close defaults; float64: tight.
TOL = {np.float32: dict(rtol=1.3e-6, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def assert_close(actual, expected, dtype=None, rtol=None, atol=None, err_msg=""):
    dtype = np.dtype(dtype or np.asarray(actual).dtype).type
    tol = dict(TOL[dtype])
    if rtol is not None:
        tol["rtol"] = rtol
    if atol is not None:
        tol["atol"] = atol
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), err_msg=err_msg, **tol)


def numerical_grad(f, x, eps=1e-6):
    """Central finite difference of the scalar f() with respect to the float64 array x (in place)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def check_grad(analytic, f, x, eps=1e-6, rtol=1e-5, atol=1e-7):
    np.testing.assert_allclose(analytic, numerical_grad(f, x, eps), rtol=rtol, atol=atol)


def assert_bad_call(fn, exc, *fragments):
    """fn() must raise exc whose message contains every fragment (op, argument, expected/got)."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"


class DLOnly:
    """A producer exporting nothing but DLPack (like a JAX array): not NumPy, no
    __cuda_array_interface__, no buffer protocol."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, **kw):
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def table_cells(table):
    """{header: [cell text of each row]} of a printed table, wrapped lines joined and Markdown's
    escaped '|' undone (the columns are found from the |---| rule under the header; rows of several
    lines are parted by rules)."""
    lines = table.splitlines()

    def is_rule(line):
        return line.startswith("|-") and set(line) <= set("|-:")

    at = next(i for i, line in enumerate(lines) if is_rule(line))
    bars = [i for i, ch in enumerate(lines[at]) if ch == "|"]

    def join(block):
        return [" ".join(line[a + 1:b].strip() for line in block if line[a + 1:b].strip()).replace("\\|", "|")
                for a, b in zip(bars, bars[1:])]

    top = at
    while top and lines[top - 1].startswith("|"):
        top -= 1
    body = list(itertools.takewhile(lambda line: line.startswith("|"), lines[at + 1:]))
    blocks = [[line] for line in body]
    if any(is_rule(line) for line in body):
        blocks = [[]]
        for line in body:
            blocks.append([]) if is_rule(line) else blocks[-1].append(line)
    rows = [join(b) for b in blocks]
    return {h: [r[i] for r in rows] for i, h in enumerate(join(lines[top:at]))}
