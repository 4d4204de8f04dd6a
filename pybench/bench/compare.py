"""`pybench compare BASELINE CURRENT`: per-kernel change between two sets of figures.

Reads the gate's JSON (:mod:`pybench.bench.gate`, metric: instructions per call) and
pytest-benchmark's JSON (``pytest --benchmark-json``; metric: median seconds, through
``pybench.bench.pytest_json.load``). Lower is better for both. A kernel is a REGRESSION when it got
slower by more than the threshold (percent), improved when faster by more than it.

It also reads two ``pybench bench --json`` or two ``pybench bench-train --json`` runs (wall clock,
:func:`compare_runs`): rows are matched by identity and judged by their medians AND quartiles, so a
change inside either run's spread is not a regression (the rule: :data:`RULE`).
"""

from __future__ import annotations

import json
import math
import os

from .. import store
from . import pytest_json

# Default thresholds per metric, from the measured noise (docs/benchmarks.md, "Regression gate"): instruction
# counts repeat to the instruction (a 10% slowdown must be caught: 2% leaves room for small benign
# changes in the bindings); wall-clock medians on a shared VM swing by 20%+ between runs.
DEFAULT_THRESHOLDS = {"instructions": 2.0, "seconds": 25.0}


class CompareError(Exception):
    """A usage error (missing or unreadable file, unknown format, bad threshold): exit 2."""


UNKNOWN_KIND = ("expected the JSON of `pybench gate` or of pytest-benchmark (--benchmark-json), or the --json "
                "of `pybench bench` or `pybench bench-train`")


def read(path):
    """(kind, parsed JSON) of a file `pybench compare` reads; kind: gate | pytest-benchmark | bench |
    bench-train. Raises CompareError (missing, unreadable, or of another kind)."""
    if not os.path.exists(path):
        raise CompareError(f"{path}: no such file")
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CompareError(f"{path}: not readable JSON ({type(e).__name__}: {e})")
    if isinstance(d, dict):
        if str(d.get("schema", "")).startswith("pybench-gate/"):
            return "gate", d
        if isinstance(d.get("benchmarks"), list):
            return "pytest-benchmark", d
        if isinstance(d.get("records"), list) and isinstance(d.get("options"), dict) and "machine" in d:
            return "bench", d
        if isinstance(d.get("records"), list) and isinstance(d.get("environment"), dict):
            return "bench-train", d
        if isinstance(d.get("runs"), list) and (d.get("command") or [])[1:2] == ["bench-train"]:
            raise CompareError(f"{path}: a `pybench bench-train --convergence` run holds accuracies, not timings: "
                               "nothing to compare")
    raise CompareError(f"{path}: {UNKNOWN_KIND}")


def load(path):
    """{'metric', 'key' (or None), 'kernels': {name: value}, 'failed': {name: reason}, 'source'} from
    a gate JSON or a pytest-benchmark JSON."""
    kind, d = read(path)
    return figures(kind, d, path)


def figures(kind, d, path):
    """load()'s dict from read()'s (kind, JSON) of a gate or pytest-benchmark file."""
    if kind == "gate":
        try:
            kernels = {k: float(v["instructions"]) for k, v in d["kernels"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CompareError(f"{path}: malformed gate figures ({type(e).__name__}: {e})")
        return {"metric": d.get("metric", "instructions"), "key": d.get("key"), "kernels": kernels,
                "failed": dict(d.get("failed") or {}), "source": "gate"}
    if kind == "pytest-benchmark":
        try:
            got = pytest_json.load(path)
            kernels = {k: float(v["median_s"]) for k, v in got.items()}
        except (KeyError, TypeError, ValueError) as e:
            raise CompareError(f"{path}: malformed pytest-benchmark JSON ({type(e).__name__}: {e})")
        mi = d.get("machine_info") or {}
        key = {"machine": mi.get("node"), "cpu": (mi.get("cpu") or {}).get("brand_raw"),
               "python": mi.get("python_version")} if mi else None
        return {"metric": "seconds", "key": key, "kernels": kernels, "failed": {}, "source": "pytest-benchmark"}
    raise CompareError(f"{path}: {describe(kind)}, not figures of `pybench gate` or pytest-benchmark")


def describe(kind):
    """What a file of this kind holds, for messages."""
    return {"gate": "instructions", "pytest-benchmark": "seconds"}.get(kind, f"a `pybench {kind}` run")


def check_threshold(value, metric=None, default=None):
    """The threshold in percent: a finite number > 0; None -> `default`, else the metric's default."""
    if value is None:
        return default or DEFAULT_THRESHOLDS.get(metric, DEFAULT_THRESHOLDS["instructions"])
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


# What a gate's instruction counts depend on (pybench.bench.gate.environment_key builds it).
GATE_KEY_FIELDS = ("compiler", "build_type", "flags", "isa_path", "valgrind", "python", "numpy")


def key_diff(a, b):
    """['field: baseline X, current Y', ...] for the fields where two keys differ. For gate keys only
    GATE_KEY_FIELDS count (older baselines also keyed the CPU model); other keys compare every field."""
    fields = GATE_KEY_FIELDS if any(f in a for f in GATE_KEY_FIELDS) else sorted(set(a) | set(b))
    return [f"{k}: baseline {a.get(k)!r}, current {b.get(k)!r}" for k in fields if a.get(k) != b.get(k)]


def key_mismatch_line(diff, refresh_hint):
    return f"not compared: the baseline was recorded under another key ({'; '.join(diff)}); {refresh_hint}"


def _print(x):
    if isinstance(x, str):
        print(x)
    else:
        from ..console import make

        make(highlight=False).print(x)


def run_compare(base_path, cur_path, threshold=None, ignore_key=False, out=_print, err=print, json_out=None,
                md_out=None):
    """The `pybench compare` command; returns its exit code (0 pass or not comparable, 1 past the
    threshold, 2 usage error). `out` gets strings and, for bench runs, rich renderables (a table, a note)."""
    try:
        (bk, bd), (ck, cd) = read(base_path), read(cur_path)
        if bk != ck:
            raise CompareError(f"{base_path} holds {describe(bk)}, {cur_path} holds {describe(ck)}: "
                               "compare figures of the same kind")
        if ck in RUN_KINDS:
            base, cur = load_run(bk, bd, base_path), load_run(ck, cd, cur_path)
            thr = check_threshold(threshold, default=DEFAULT_RUN_THRESHOLD)
        else:
            base, cur = figures(bk, bd, base_path), figures(ck, cd, cur_path)
            thr = check_threshold(threshold, cur["metric"])
    except CompareError as e:
        err(f"pybench compare: error: {e}")
        return 2
    if ck in RUN_KINDS:
        rows, counts = compare_runs(base, cur, thr)
        for line in run_header_lines(base, cur):
            out(line)
        out(runs_table(rows, thr))
        out(runs_note(thr))
        out(runs_summary_line(counts, thr))
        code = runs_exit_code(counts)
        report = {"kind": ck, "baseline": base_path, "current": cur_path, "threshold_pct": thr, "rule": RULE,
                  "setup_differences": setup_diff(base, cur), "counts": counts, "exit_code": code, "rows": rows}
        table = (RUN_COLUMNS, [_run_cells(r) for r in rows], runs_summary_line(counts, thr))
    else:
        if base["key"] and cur["key"] and key_diff(base["key"], cur["key"]) and not ignore_key:
            err(key_mismatch_line(key_diff(base["key"], cur["key"]),
                                  "use --ignore-key to compare anyway, or record both on one set-up"))
            return 0
        rows, counts = compare(base, cur, thr)
        out(format_table(rows, cur["metric"], thr))
        out(summary_line(counts, cur["metric"], thr))
        code = exit_code(counts)
        report = {"kind": ck, "baseline": base_path, "current": cur_path, "metric": cur["metric"],
                  "threshold_pct": thr, "counts": counts, "exit_code": code, "rows": rows}
        table = (("kernel", "baseline", "current", "change", "status"),
                 [(r["kernel"], _fmt(r["baseline"], cur["metric"]), _fmt(r["current"], cur["metric"]),
                   "-" if r["change_pct"] is None else f"{r['change_pct']:+.2f}%",
                   r["status"] + (f" ({r['reason']})" if r.get("reason") else "")) for r in rows],
                 summary_line(counts, cur["metric"], thr))
    try:
        if json_out:
            from .tables import write_json

            write_json(report, json_out)
        if md_out:
            write_markdown(md_out, base_path, cur_path, *table)
    except OSError as e:
        err(f"pybench compare: error: cannot write {e.filename}: {e.strerror}")
        return 2
    return code


def write_markdown(path, base_path, cur_path, head, body, summary):
    """The comparison as a Markdown table (for a PR comment or a CI summary)."""
    def cell(x):
        return str(x).replace("|", "\\|")

    lines = [f"`pybench compare {base_path} {cur_path}`", "",
             "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in body]
    lines += ["", summary, ""]
    return store.atomic_write(path, "\n".join(lines))


# ---------------------------------------------------------------------------------------------
# Two `pybench bench` or two `pybench bench-train` runs: wall clock, judged with each row's spread
# ---------------------------------------------------------------------------------------------

RUN_KINDS = ("bench", "bench-train")
# With the interquartile ranges guarding against noise, the threshold only sets the size of change
# worth reporting (docs/benchmarks.md, "Comparing two runs").
DEFAULT_RUN_THRESHOLD = 5.0
SLOWER, FASTER, SAME, NOISE = "slower", "faster", "same", "same (within noise)"
ONLY_BASE, ONLY_CUR, NOT_TIMED = "only in baseline", "only in current", "not timed"
RULE = ("slower (or faster) when the median changed by more than the threshold AND the two runs' "
        "interquartile ranges do not overlap (current q1 above the baseline's q3, or current q3 below its "
        "q1); a larger change with overlapping ranges is 'same (within noise)'")


def _stats(ours):
    """{'median_s', 'q1_s', 'q3_s', 'samples'} of a record's timing; quartiles default to the median."""
    med = float(ours["median_s"])
    if not (math.isfinite(med) and med > 0):
        raise ValueError(f"median_s {ours['median_s']!r}")
    q1, q3 = ours.get("q1_s"), ours.get("q3_s")
    return {"median_s": med, "q1_s": float(med if q1 is None else q1), "q3_s": float(med if q3 is None else q3),
            "samples": ours.get("samples")}


def _bench_row(r):
    key = {"op": r["op"], "pass": r.get("label") or "", "shape": r["shape"], "impl": r.get("impl")}
    name = " ".join(x for x in (key["op"], key["pass"], key["shape"]) if x)
    return key, name + (f" [{key['impl']}]" if key["impl"] else "")


def _train_row(r):
    key = {"model": r["model"], "batch": r["batch"], "resolution": r.get("resolution")}
    res = r.get("resolution")
    return key, f"{r['model']} batch {r['batch']}" + (f", {res}x{res}" if r["model"] != "mlp" and res else "")


def load_run(kind, d, path):
    """{'kind', 'path', 'rows': {identity: row}, 'setup', 'command'} of a bench or bench-train run;
    a row: {'name', 'key', 'status', 'reason', 'stats' (None when not timed)}."""
    if kind == "bench":
        from .runner import SCHEMA

        if d.get("schema") != SCHEMA:
            raise CompareError(f"{path}: a `pybench bench` run of schema {d.get('schema')!r}; this pybench "
                               f"reads schema {SCHEMA}")
    rows = {}
    for i, r in enumerate(d["records"]):
        try:
            key, name = (_bench_row if kind == "bench" else _train_row)(r)
            timed = r.get("status") == "ok" and r.get("ours")
            row = {"name": name, "key": key, "status": r.get("status"), "reason": r.get("reason") or "",
                   "stats": _stats(r["ours"]) if timed else None}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CompareError(f"{path}: malformed `pybench {kind}` record {i} ({type(e).__name__}: {e})")
        ident, n = tuple(key.values()), 1
        while ident + ((n,) if n > 1 else ()) in rows:  # a repeated row pairs with its namesake by position
            n += 1
        if n > 1:
            ident, row["name"] = ident + (n,), f"{name} #{n}"
        rows[ident] = row
    try:
        setup = run_setup(kind, d)
    except (KeyError, TypeError, AttributeError) as e:
        raise CompareError(f"{path}: malformed `pybench {kind}` run ({type(e).__name__}: {e})")
    return {"kind": kind, "path": path, "rows": rows, "setup": setup, "command": d.get("command")}


def run_setup(kind, d):
    """What a run's timings depend on beyond the code: CPU, CPU count, threads, SIMD path, device."""
    e = d["environment"]
    if kind == "bench":
        m = d["machine"]
        gpu = ((e.get("cuda") or {}).get("device") or {}).get("name")
        return {"cpu": m.get("cpu"), "cpus": m.get("cpu_count"), "threads": e.get("threads"),
                "SIMD": e.get("isa_active") or m.get("isa_active"), "device": d["options"].get("device", "cpu"),
                "gpu": gpu}
    m = e.get("machine") or {}
    return {"cpu": m.get("cpu"), "cpus": m.get("cpu_count"), "threads": e.get("threads"), "SIMD": m.get("isa_active")}


def setup_diff(base, cur):
    return key_diff(base["setup"], cur["setup"])


def judge(b, c, threshold):
    """(change of the median in %, verdict) of one row timed in both runs (the rule: RULE)."""
    change = (c["median_s"] - b["median_s"]) / b["median_s"] * 100.0
    if change > threshold:
        return change, SLOWER if c["q1_s"] > b["q3_s"] else NOISE
    if change < -threshold:
        return change, FASTER if c["q3_s"] < b["q1_s"] else NOISE
    return change, SAME


def compare_runs(base, cur, threshold):
    """Rows [{'row', 'key', 'baseline', 'current', 'change_pct', 'verdict', 'note'}] in the baseline's
    order, then the rows only in the current run; and {verdict: count}."""
    rows = []
    for ident in list(base["rows"]) + [k for k in cur["rows"] if k not in base["rows"]]:
        b, c = base["rows"].get(ident), cur["rows"].get(ident)
        either = b or c
        row = {"row": either["name"], "key": either["key"], "baseline": b and b["stats"], "current": c and c["stats"],
               "change_pct": None, "verdict": None, "note": ""}
        if c is None:
            row["verdict"] = ONLY_BASE
        elif b is None:
            row["verdict"] = ONLY_CUR
        elif b["stats"] is None or c["stats"] is None:
            row["verdict"] = NOT_TIMED
            untimed = [(which, x) for which, x in (("baseline", b), ("current", c)) if x["stats"] is None]
            row["note"] = "; ".join(f"{x['status']} in {which}" for which, x in untimed)
            row["reasons"] = {which: x["reason"] for which, x in untimed if x["reason"]}  # JSON only: long
        else:
            row["change_pct"], row["verdict"] = judge(b["stats"], c["stats"], threshold)
        rows.append(row)
    counts = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return rows, counts


def runs_exit_code(counts):
    return 1 if counts.get(SLOWER) else 0


def run_header_lines(base, cur):
    what = "median time per call of our kernels" if cur["kind"] == "bench" else "median time of our training step"
    lines = [f"pybench compare: two `pybench {cur['kind']}` runs; {what} (not the peers')",
             f"baseline {base['path']} ({len(base['rows'])} rows), current {cur['path']} ({len(cur['rows'])} rows)"]
    diff = setup_diff(base, cur)
    if diff:
        lines.append(f"warning: recorded on different set-ups ({'; '.join(diff)}): part of any change may be the "
                     "set-up's")
    else:
        s = cur["setup"]
        lines.append(f"set-up (same in both): {s['cpu']}, {s['cpus']} CPUs, {s['threads']} threads, SIMD {s['SIMD']}"
                     + (f", device {s['device']}" if s.get("device", "cpu") != "cpu" else ""))
    return lines


RUN_COLUMNS = ("row", "baseline", "IQR", "current", "IQR", "change", "verdict")


def _iqr(s):
    return "-" if s is None else f"{100 * (s['q3_s'] - s['q1_s']) / s['median_s']:.1f}%"


def _run_cells(r):
    from .tables import fmt_time

    b, c = r["baseline"], r["current"]
    return (r["row"], fmt_time(b["median_s"]) if b else "-", _iqr(b), fmt_time(c["median_s"]) if c else "-", _iqr(c),
            "-" if r["change_pct"] is None else f"{r['change_pct']:+.1f}%",
            r["note"] or r["verdict"])  # "FAILED in current" says it was not timed, in fewer columns


_STYLE = {SLOWER: "bold red", FASTER: "green", NOISE: "yellow", NOT_TIMED: "yellow"}


def runs_table(rows, threshold):
    """A rich table of compare_runs' rows: as wide as its content, row names wrapping to fit the console."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for i, col in enumerate(RUN_COLUMNS):
        t.add_column(col, justify="left" if col in ("row", "verdict") else "right", no_wrap=0 < i < 6,
                     min_width=len(NOISE) if col == "verdict" else None)
    for r in rows:  # Text, not str: a row name such as "copy (256, 1000) [stream]" is not markup
        cells = _run_cells(r)
        t.add_row(*map(Text, cells[:-1]), Text(cells[-1], style=_STYLE.get(r["verdict"], "")))
    return t


def runs_note(threshold):
    """What the columns and the verdicts mean (under the table)."""
    from rich.text import Text

    return Text("median: per call (bench) or per training step (bench-train); IQR: (q3 - q1) / median; change: of "
                "the median; " + RULE.replace("the threshold", f"{threshold:g}%"))


def runs_summary_line(counts, threshold):
    order = (SLOWER, FASTER, SAME, NOISE, NOT_TIMED, ONLY_BASE, ONLY_CUR)
    parts = [f"{counts[v]} {v}" for v in order if counts.get(v)]
    verdict = "FAIL" if runs_exit_code(counts) else "pass"
    return f"{verdict}: {', '.join(parts) or 'no rows'} (threshold {threshold:g}%, medians and quartiles)"
