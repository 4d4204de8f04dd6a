"""Reads the JSON that `pytest tests/bench --benchmark-only --benchmark-json OUT` writes.

Naming: every benchmark in tests/bench (one per problem of the table's "pytest" size class)
records its kernel name in ``extra_info["kernel"]`` as ``<op>_<label>[<shape>]``, e.g.
``gemm[512x512x512]``, ``linear_fwd+bwd[N=128 in=784 out=512]``, ``relu_fwd[1024x1024]``,
``adam_step[1048576]``; ``group`` is the op. That name is the key `load` returns, stable across
pytest versions and parametrization order. The pytest-benchmark ``name`` is the pytest node name
(``test_kernel[gemm[512x512x512]]``): an entry without ``extra_info["kernel"]`` (another suite) is
keyed by that name with its ``test_`` prefix removed. Times are seconds per call.
"""

import json
import math


class PytestJsonError(ValueError):
    """Not a pytest-benchmark JSON file (or a malformed one)."""


def kernel_name(bench):
    """The kernel name of one entry of the file's "benchmarks" list."""
    extra = bench.get("extra_info") or {}
    if isinstance(extra.get("kernel"), str) and extra["kernel"]:
        return extra["kernel"]
    name = str(bench.get("name", ""))
    return name[5:] if name.startswith("test_") else name


def load(path):
    """{kernel_name: {"median_s", "iqr_s", "mean_s", "min_s", "stddev_s", "rounds"}} of a
    pytest-benchmark JSON file. Raises PytestJsonError for a file of another kind."""
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise PytestJsonError(f"{path}: cannot read as JSON ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict) or not isinstance(d.get("benchmarks"), list):
        raise PytestJsonError(f"{path}: expected pytest-benchmark JSON (a top-level 'benchmarks' list)")
    out = {}
    for b in d["benchmarks"]:
        st = b.get("stats") if isinstance(b, dict) else None
        if not isinstance(st, dict) or "median" not in st:
            raise PytestJsonError(f"{path}: a benchmark entry lacks stats.median")
        name = kernel_name(b)
        if name in out:
            raise PytestJsonError(f"{path}: kernel {name!r} appears twice")
        med = float(st["median"])
        if not math.isfinite(med) or med <= 0:
            raise PytestJsonError(f"{path}: {name}: median {st['median']!r} is not a positive time")
        out[name] = {"median_s": med, "iqr_s": float(st.get("iqr", float("nan"))),
                     "mean_s": float(st.get("mean", float("nan"))), "min_s": float(st.get("min", float("nan"))),
                     "stddev_s": float(st.get("stddev", float("nan"))), "rounds": int(st.get("rounds", 0))}
    return out
