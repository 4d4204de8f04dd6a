"""The gate's history: one JSON line per gate run (`results/bench/history.jsonl`), and
`pybench report --history`: a plot per kernel of the metric over the runs, and a table."""

from __future__ import annotations

import io
import json
import os

from .. import store


class HistoryError(Exception):
    """Missing or unreadable history file: exit 2."""


def entry(figures, git, compared=None):
    """One history line: when, which commit (and whether the tree was dirty), under which key,
    every kernel's figure, failures, and the comparison's verdict when there was one."""
    return {
        "time": figures.get("created"),
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "metric": figures.get("metric"),
        "key": figures.get("key"),
        "kernels": {k: v["instructions"] for k, v in figures.get("kernels", {}).items()},
        "failed": sorted(figures.get("failed") or {}),
        "compared": compared,
    }


def append(path, line):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")


def read(path):
    if not os.path.exists(path):
        raise HistoryError(f"{path}: no such file (a gate run appends to it: pybench gate)")
    rows = []
    with open(path) as f:
        for i, raw in enumerate(f, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                d = json.loads(raw)
                if not isinstance(d.get("kernels"), dict):
                    raise ValueError("no 'kernels' object")
            except (ValueError, AttributeError) as e:
                raise HistoryError(f"{path}:{i}: not a gate history line ({e})")
            rows.append(d)
    if not rows:
        raise HistoryError(f"{path}: empty (a gate run appends to it: pybench gate)")
    return rows


def _label(r):
    c = (r.get("commit") or "?")[:7]
    return c + ("+" if r.get("dirty") else "")


def kernels_of(rows):
    names = []
    for r in rows:
        for k in r["kernels"]:
            if k not in names:
                names.append(k)
    return names


def table(rows):
    """Text table: per kernel, the first and last figure, the change, min and max over the runs."""
    names = kernels_of(rows)
    head = ("kernel", "runs", "first", "last", "change", "min", "max")
    body = []
    for k in names:
        vs = [r["kernels"][k] for r in rows if k in r["kernels"]]
        ch = (vs[-1] - vs[0]) / vs[0] * 100 if vs[0] else 0.0
        body.append((k, str(len(vs)), f"{vs[0]:,.0f}", f"{vs[-1]:,.0f}", f"{ch:+.2f}%", f"{min(vs):,.0f}",
                     f"{max(vs):,.0f}"))
    w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    fmt = lambda x: "  ".join(f"{v:<{w[0]}}" if i == 0 else f"{v:>{w[i]}}" for i, v in enumerate(x))  # noqa: E731
    commits = ", ".join(dict.fromkeys(_label(r) for r in rows))
    metric = rows[-1].get("metric") or "instructions"
    return "\n".join([f"{len(rows)} gate runs ({metric} per call); commits: {commits}", fmt(head),
                      "-" * (sum(w) + 2 * (len(w) - 1))] + [fmt(x) for x in body])


def plot(rows, path):
    """One small plot per kernel: its figure (relative to its first run, in percent) over the runs,
    x labelled by commit. PNG via matplotlib's Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = kernels_of(rows)
    ncol = 5 if len(names) > 8 else max(1, min(len(names), 4))
    nrow = (len(names) + ncol - 1) // ncol
    fig = Figure(figsize=(3.2 * ncol, 2.3 * nrow + 0.6), constrained_layout=True)
    FigureCanvasAgg(fig)
    labels = [_label(r) for r in rows]
    for i, k in enumerate(names):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        pts = [(j, r["kernels"][k]) for j, r in enumerate(rows) if k in r["kernels"]]
        first = pts[0][1] or 1
        ax.plot([j for j, _ in pts], [(v / first - 1) * 100 for _, v in pts], marker="o", ms=3, lw=1)
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_title(k, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(labels, rotation=90, fontsize=5)
        ax.set_ylabel(f"% vs first ({first:,.0f})", fontsize=6)
    fig.suptitle(f"pybench gate history: {rows[-1].get('metric') or 'instructions'} per call, by commit", fontsize=9)
    buf = io.BytesIO()  # rendered in memory, written whole by store.atomic_write
    fig.savefig(buf, format=os.path.splitext(path)[1][1:].lower() or None, dpi=110)
    return store.atomic_write(path, buf.getvalue())
