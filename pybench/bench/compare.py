"""`pybench compare BASELINE CURRENT`: per-kernel change between two sets of figures.

Reads the gate's JSON (:mod:`pybench.bench.gate`, metric: instructions per call) and
pytest-benchmark's JSON (``pytest --benchmark-json``; metric: median seconds, through
``pybench.bench.pytest_json.load``). Lower is better for both. A kernel is a REGRESSION when it got
slower by more than the threshold (percent), improved when faster by more than it.
"""

from __future__ import annotations

import json
import math
import os

from . import pytest_json

# Default thresholds per metric, from the measured noise (README "Regression gate"): instruction
# counts repeat to the instruction (a 10% slowdown must be caught: 2% leaves room for small benign
# changes in the Python wrappers); wall-clock medians on this shared VM swing by 20%+ between runs.
DEFAULT_THRESHOLDS = {"instructions": 2.0, "seconds": 25.0}


class CompareError(Exception):
    """A usage error (missing or unreadable file, unknown format, bad threshold): exit 2."""


def load(path):
    """{'metric', 'key' (or None), 'kernels': {name: value}, 'failed': {name: reason}, 'source'} from
    a gate JSON or a pytest-benchmark JSON."""
    if not os.path.exists(path):
        raise CompareError(f"{path}: no such file")
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CompareError(f"{path}: not readable JSON ({type(e).__name__}: {e})")
    if isinstance(d, dict) and str(d.get("schema", "")).startswith("pybench-gate/"):
        try:
            kernels = {k: float(v["instructions"]) for k, v in d["kernels"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CompareError(f"{path}: malformed gate figures ({type(e).__name__}: {e})")
        return {"metric": d.get("metric", "instructions"), "key": d.get("key"), "kernels": kernels,
                "failed": dict(d.get("failed") or {}), "source": "gate"}
    if isinstance(d, dict) and isinstance(d.get("benchmarks"), list):
        try:
            figures = pytest_json.load(path)
            kernels = {k: float(v["median_s"]) for k, v in figures.items()}
        except (KeyError, TypeError, ValueError) as e:
            raise CompareError(f"{path}: malformed pytest-benchmark JSON ({type(e).__name__}: {e})")
        mi = d.get("machine_info") or {}
        key = {"machine": mi.get("node"), "cpu": (mi.get("cpu") or {}).get("brand_raw"),
               "python": mi.get("python_version")} if mi else None
        return {"metric": "seconds", "key": key, "kernels": kernels, "failed": {}, "source": "pytest-benchmark"}
    raise CompareError(f"{path}: expected the JSON of `pybench gate` or of pytest-benchmark (--benchmark-json)")


def check_threshold(value, metric=None):
    """The threshold in percent: a finite number > 0; None -> the metric's default."""
    if value is None:
        return DEFAULT_THRESHOLDS.get(metric, DEFAULT_THRESHOLDS["instructions"])
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CompareError(f"--threshold: expected a percentage > 0, got {value!r}")
    if not (math.isfinite(v) and v > 0):
        raise CompareError(f"--threshold: expected a percentage > 0, got {value!r}")
    return v


def compare(base, cur, threshold):
    """Rows [{'kernel', 'baseline', 'current', 'change_pct', 'status'}] and counts per status.

    status: ok | REGRESSION | improved | MISSING (in the baseline, not measured now) | FAILED (its
    output did not match the reference now) | new (not in the baseline)."""
    rows = []
    for name in list(base["kernels"]) + [k for k in cur["kernels"] if k not in base["kernels"]] + \
            [k for k in cur.get("failed", {}) if k not in base["kernels"] and k not in cur["kernels"]]:
        b, c = base["kernels"].get(name), cur["kernels"].get(name)
        change = None
        if name in cur.get("failed", {}):
            status = "FAILED"
        elif c is None:
            status = "MISSING"
        elif b is None:
            status = "new"
        else:
            change = (c - b) / b * 100.0 if b else (0.0 if c == b else math.inf)
            status = "REGRESSION" if change > threshold else ("improved" if change < -threshold else "ok")
        rows.append({"kernel": name, "baseline": b, "current": c, "change_pct": change, "status": status,
                     "reason": cur.get("failed", {}).get(name)})
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return rows, counts


BAD = ("REGRESSION", "FAILED", "MISSING")


def exit_code(counts):
    return 1 if any(counts.get(s) for s in BAD) else 0


def _fmt(v, metric):
    if v is None:
        return "-"
    if metric == "seconds":
        return f"{v * 1e6:,.1f} us"
    return f"{int(round(v)):,}"


def format_table(rows, metric, threshold):
    """Plain-text table (fixed width, fine for CI logs)."""
    head = ("kernel", "baseline", "current", "change", "status")
    body = []
    for r in rows:
        ch = "-" if r["change_pct"] is None else f"{r['change_pct']:+.2f}%"
        st = r["status"] + (f" ({r['reason']})" if r.get("reason") else "")
        body.append((r["kernel"], _fmt(r["baseline"], metric), _fmt(r["current"], metric), ch, st))
    w = [max(len(x[i]) for x in [head] + body) for i in range(4)]
    lines = [f"{head[0]:<{w[0]}}  {head[1]:>{w[1]}}  {head[2]:>{w[2]}}  {head[3]:>{w[3]}}  {head[4]}"]
    lines.append("-" * (sum(w) + 8 + 10))
    for x in body:
        lines.append(f"{x[0]:<{w[0]}}  {x[1]:>{w[1]}}  {x[2]:>{w[2]}}  {x[3]:>{w[3]}}  {x[4]}")
    return "\n".join(lines)


def summary_line(counts, metric, threshold):
    parts = [f"{n} {s}" for s, n in sorted(counts.items())]
    verdict = "FAIL" if exit_code(counts) else "pass"
    return f"{verdict}: {', '.join(parts) or 'no kernels'} (metric: {metric}, threshold {threshold:g}%)"


def key_diff(a, b):
    """['field: baseline X, current Y', ...] for the fields where two keys differ."""
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f"{k}: baseline {a.get(k)!r}, current {b.get(k)!r}")
    return out


def key_mismatch_line(diff, refresh_hint):
    return f"not compared: the baseline was recorded under another key ({'; '.join(diff)}); {refresh_hint}"


def run_compare(base_path, cur_path, threshold=None, ignore_key=False, out=print, err=print):
    """The `pybench compare` command; returns its exit code (0 pass or not comparable, 1 past the
    threshold, 2 usage error)."""
    try:
        base, cur = load(base_path), load(cur_path)
        if base["metric"] != cur["metric"]:
            raise CompareError(f"{base_path} holds {base['metric']}, {cur_path} holds {cur['metric']}: "
                               "compare figures of the same kind")
        thr = check_threshold(threshold, cur["metric"])
    except CompareError as e:
        err(f"pybench compare: error: {e}")
        return 2
    if base["key"] and cur["key"] and base["key"] != cur["key"] and not ignore_key:
        err(key_mismatch_line(key_diff(base["key"], cur["key"]),
                              "use --ignore-key to compare anyway, or record both on one set-up"))
        return 0
    rows, counts = compare(base, cur, thr)
    out(format_table(rows, cur["metric"], thr))
    out(summary_line(counts, cur["metric"], thr))
    return exit_code(counts)
