"""Tables and plots from stored records, never from memory (``pybench report``).

``build(out, experiment)`` reads ``OUT/<experiment>/<mode>/`` (pybench.store), resolves the records
of the last sweep through its manifest (one per requested run; a run id shared by several points is
used for each; records of other sweeps stored beside them are kept for resume but not shown),
calls the experiment's ``analyze`` and writes, atomically:

- ``summary.csv``: every row and column (spreads as ``<column>_spread``); empty cells are missing
  values (a missed target, a failed run: the ``status``/``reached`` columns say which);
- ``summary.md``: title, description, the table (columns marked for Markdown), notes, the plots and
  the provenance of the records;
- the plots (PNG, matplotlib's Agg canvas, no pyplot state touched);
- ``OUT/README.md``: the index of every experiment and mode under OUT, and the headline table: one
  row per experiment (its full mode when stored), its question and the measured answer its
  ``headline`` builds from the records. ``update_readme`` writes the same table between the
  HEADLINE_BEGIN and HEADLINE_END markers of another file (the project's README.md).

Same records -> byte-identical CSV and Markdown (no clock, no dict-order or float-repr drift; PNGs
carry no timestamp either).
"""

import csv
import io
import json
import math
import os
import re
import textwrap

from . import console, store
from .experiments.base import Column, Experiment, group_by_point

README = "README.md"
HEADLINE_BEGIN = "<!-- headline:begin -->"
HEADLINE_END = "<!-- headline:end -->"


# ---- records and experiments ----------------------------------------------------------------------

def sweep_records(out, experiment, mode):
    """(records for the table, manifest or None, ids requested but not stored). With a manifest:
    one record per requested spec, in the sweep's order, tagged with that spec's point, axes,
    replicate, ``extension`` (the round that added it to a tuned grid, 0 for the experiment's own
    grid) and ``sweep_index`` (in memory only); without: every stored record."""
    stored = store.load_records(out, experiment, mode)
    m = store.load_manifest(out, experiment, mode)
    if not m or not isinstance(m.get("specs"), list):
        return stored, m, []
    by_id = {r["run_id"]: r for r in stored}
    records, missing = [], []
    for i, s in enumerate(m["specs"]):
        r = by_id.get(s.get("run_id"))
        if r is None:
            if s.get("run_id") not in missing:
                missing.append(s.get("run_id"))
            continue
        # the spec's point and replicate (a run id may serve several points), its place in the sweep
        records.append(dict(r, point=s.get("point"), replicate=s.get("replicate"), sweep_index=i,
                            axes=s.get("axes") or r.get("axes") or list(s.get("point") or {}),
                            extension=s.get("extension", 0)))
    return records, m, missing


def experiment_for(name, manifest=None):
    """The Experiment that analyzes ``name``: registered, or rebuilt from a custom sweep's
    definition in its manifest, or a generic one (the base class's table)."""
    from . import experiments

    if name in experiments.names():
        return experiments.get(name)
    if manifest and manifest.get("definition"):
        from .experiments.custom import CustomExperiment

        try:
            return CustomExperiment(manifest["definition"])
        except (TypeError, ValueError):
            pass
    exp = Experiment()
    exp.name = exp.title = name
    return exp


# ---- formatting ---------------------------------------------------------------------------------

def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "" if not math.isfinite(v) else format(v, ".6g")
    if isinstance(v, (int, str)):
        return str(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def fmt_time(s):
    if s is None or not math.isfinite(s):
        return "-"
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def fmt_value(v, fmt):
    """One cell of Markdown text."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
    if fmt == "pct":
        return f"{100 * v:.1f}%"
    if fmt == "time":
        return fmt_time(v)
    if fmt == "count":
        return f"{v:,.0f}"
    if fmt == "int":
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    return format(v, fmt)


def fmt_spread(s, fmt):
    if s is None or not math.isfinite(s) or s == 0:
        return "" if s is None else " ±0"
    if fmt == "pct":
        return f" ±{100 * s:.1f}"
    if fmt == "time":
        return " ±" + fmt_time(s)
    if fmt == "count":
        return f" ±{s:,.0f}"
    if fmt == "int":
        return f" ±{s:.0f}" if float(s).is_integer() else f" ±{s:.1f}"
    return " ±" + format(s, fmt)


def _columns(columns):
    return [c if isinstance(c, Column) else Column(str(c)) for c in columns]


def csv_text(columns, rows):
    """Every column (spreads right after theirs), every row."""
    keys = []
    for c in _columns(columns):
        keys.append(c.key)
        if c.spread:
            keys.append(c.key + "_spread")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for r in rows:
        w.writerow([_csv_value(r.get(k)) for k in keys])
    return buf.getvalue()


def md_cell(text):
    """Cell text for a Markdown table: a '|' in it (e.g. |g1|/|gout|) would split the cell."""
    return str(text).replace("|", "\\|")


def markdown_table(columns, rows):
    """An aligned Markdown table of the columns marked ``md`` (readable as plain text too)."""
    cols = [c for c in _columns(columns) if c.md]
    if not cols:
        return ""
    head = [md_cell(c.title or c.key) for c in cols]
    body = []
    for r in rows:
        disp = r.get("_display") or {}
        cells = []
        for c in cols:
            if c.key in disp:
                cells.append(str(disp[c.key]))
            else:
                spread = fmt_spread(r.get(c.key + "_spread"), c.fmt) if c.spread else ""
                cells.append(fmt_value(r.get(c.key), c.fmt) + spread)
        body.append([md_cell(s) for s in cells])
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]
    numeric = [all(_looks_numeric(b[i]) for b in body) and bool(body) for i in range(len(cols))]

    def line(cells):
        return "| " + " | ".join(s.rjust(w) if num else s.ljust(w) for s, w, num in zip(cells, widths, numeric)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(head), sep] + [line(b) for b in body]) + "\n"


def cell_text(c, r):
    """One cell of a row, as markdown_table writes it (before escaping): the row's ``_display``
    text, else the value and its spread formatted by the column's ``fmt``."""
    disp = r.get("_display") or {}
    if c.key in disp:
        return str(disp[c.key])
    spread = fmt_spread(r.get(c.key + "_spread"), c.fmt) if c.spread else ""
    return fmt_value(r.get(c.key), c.fmt) + spread


def terminal_table(columns, rows, width=None):
    """markdown_table's table (the columns marked ``md``) for a terminal ``width`` columns wide
    (None: no limit): the same text when it fits; else headers, then text cells, wrap at spaces
    onto continuation lines (numbers never wrap; see _fit_widths), and a rule parts the rows."""
    cols = [c for c in _columns(columns) if c.md]
    if not cols:
        return ""
    # a '|' in a header (|g1|/|gout|) or a cell would read as a border: escaped, as Markdown wants
    head = [(c.title or c.key).replace("|", "\\|") for c in cols]
    body = [[cell_text(c, r).replace("|", "\\|") for c in cols] for r in rows]
    numeric = [all(_looks_numeric(b[i]) for b in body) and bool(body) for i in range(len(cols))]
    widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]
    if width is not None:
        _fit_widths(widths, head, body, numeric, width)

    def lines(cells):
        parts = [_wrap_cell(s, w) for s, w in zip(cells, widths)]
        n = max(len(p) for p in parts)
        parts = [p + [""] * (n - len(p)) for p in parts]
        return ["| " + " | ".join(p[k].rjust(w) if num else p[k].ljust(w) for p, w, num in zip(parts, widths, numeric))
                + " |" for k in range(n)]

    sep = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    rows_lines = [lines(b) for b in body]
    rule = any(len(r) > 1 for r in rows_lines)  # rows of several lines: a rule shows where one ends
    out = lines(head) + [sep]
    for i, r in enumerate(rows_lines):
        if rule and i:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        out += r
    return "\n".join(out) + "\n"


# a number keeps its unit and spread on its line ("+6.7 pp", "1.2 s ±0.1 s")
_GLUED = re.compile(r"(?<=\d) (?=(?:pp|ms|µs|s)\b|±)")


# a word may break after a hyphen between letters ("budget-|limited", "train-|test"), as textwrap's
# break_on_hyphens does; never inside a number ("1e-4")
_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")


def _words(s):
    """The pieces a cell can wrap between: words, and the parts of letter-hyphen-letter words."""
    words = [w for w in _GLUED.sub("\u00a0", s).split(" ") if w]  # split() would split at the no-break space
    return [p for w in words for p in _HYPHEN.sub("-\n", w).split("\n")]


def _wrap_cell(s, w):
    if len(s) <= w:
        return [s]
    return [t.replace("\u00a0", " ") for t in textwrap.wrap(_GLUED.sub("\u00a0", s), w, break_long_words=False,
                                                            break_on_hyphens=True)] or [""]


def _fit_widths(widths, head, body, numeric, width):
    """Narrow ``widths`` (in place) until the table fits ``width``: first headers down to their
    widest cell, then text cells down to their longest word, each step where it adds the fewest
    lines (then the widest column)."""
    def longest_word(t):
        return max((len(w) for w in _words(t)), default=0)

    n = len(widths)
    cells = [max([len(b[i]) for b in body], default=0) for i in range(n)]
    floors = ([max(c, longest_word(h)) for c, h in zip(cells, head)],
              [max([longest_word(h)] + [len(b[i]) if numeric[i] else longest_word(b[i]) for b in body])
               for i, h in enumerate(head)])
    cache = {}

    def heights(i, w):  # lines of column i at width w: the header's, then each row's
        if (i, w) not in cache:
            cache[i, w] = [len(_wrap_cell(t, w)) for t in [head[i]] + [b[i] for b in body]]
        return cache[i, w]

    def total(ws):
        per = [heights(i, w) for i, w in enumerate(ws)]
        return sum(max(p[r] for p in per) for r in range(len(body) + 1))

    for floor in floors:
        while sum(widths) + 3 * n + 1 > width:
            options = [j for j in range(n) if widths[j] > floor[j]]
            if not options:
                break  # at the floor: wider than the terminal, but no word is cut
            i = min(options, key=lambda j: (total(widths[:j] + [widths[j] - 1] + widths[j + 1:]), -widths[j]))
            widths[i] -= 1
    for i, w in enumerate(widths):  # a wrapped header may leave its column wider than any of its lines
        widths[i] = max(len(line) for t in [head[i]] + [b[i] for b in body] for line in _wrap_cell(t, w))


def _looks_numeric(s):
    s = s.split(" ±")[0].replace(",", "").rstrip("%").replace(" ms", "").replace(" µs", "").replace(" s", "")
    if s in ("-", "missed"):
        return True
    try:
        float(s)
        return True
    except ValueError:
        return False


# ---- plots --------------------------------------------------------------------------------------

def _pow2(values):
    return all(isinstance(v, (int, float)) and v > 0 and float(v).is_integer() and (int(v) & (int(v) - 1)) == 0
               for v in values)


LEGEND_INSIDE_MAX = 6  # more legend entries than this: the legend goes beside the axes

# how a point whose status is not "ok" is marked (drawn over it; one legend entry per kind)
STATUS_MARKS = {
    "missed target": dict(marker="o", markerfacecolor="none", markeredgecolor="black", markersize=10,
                          markeredgewidth=1.2),
    "collapsed": dict(marker="x", color="black", markersize=9, markeredgewidth=2),
    "diverged": dict(marker="X", color="red", markersize=10, markeredgecolor="black", markeredgewidth=0.5),
    "failed": dict(marker="D", markerfacecolor="none", markeredgecolor="red", markersize=10, markeredgewidth=1.5),
    "budget-limited": dict(marker="s", markerfacecolor="none", markeredgecolor="darkorange", markersize=10,
                           markeredgewidth=1.2),
}


def _plain_log_axis(axis, values):
    """Plain numbers (0.2, 50, 3000) instead of 2x10^-1 on a log axis whose values lie in [1e-3, 1e5)
    (matplotlib still decides which minor ticks get a label)."""
    from matplotlib import ticker

    class Plain(ticker.LogFormatter):
        def _num_to_string(self, x, vmin, vmax):
            return f"{x:g}"

    vs = [v for v in values if isinstance(v, (int, float)) and v > 0]
    if vs and min(vs) >= 1e-3 and max(vs) < 1e5:
        axis.set_major_formatter(Plain(labelOnlyBase=False))
        axis.set_minor_formatter(Plain(labelOnlyBase=False))


def render_plot(spec):
    """PNG bytes of one PlotSpec (see ``figure``)."""
    fig = figure(spec)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def figure(spec):
    """The matplotlib Figure of one PlotSpec (Agg canvas, no pyplot state). Points whose status is
    not "ok" (``Series.marks``) get a marker of their own over them; points without a value
    (``Series.missed``) are drawn as triangles on the top edge; every kind has a legend entry."""
    from matplotlib import transforms
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_legend = len(spec.series) + len(spec.hlines)
    wide = n_legend > LEGEND_INSIDE_MAX  # a long legend goes to the right of the axes, not over the data
    fig = Figure(figsize=(9.6 if wide else 6.4, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax2 = None
    xs_all = [x for s in spec.series for x in s.x]
    categorical = any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in xs_all)
    cats = []
    if categorical:
        for x in xs_all:
            k = json.dumps(x, sort_keys=True) if not isinstance(x, str) else x
            if k not in cats:
                cats.append(k)
    handles, status_handles, missed_handles = [], {}, {}
    n_missed = sum(1 for s in spec.series if s.missed)
    k_missed = 0
    for i, s in enumerate(spec.series):
        target = ax
        if s.axis == "right":
            if ax2 is None:
                ax2 = ax.twinx()
            target = ax2
        x = [cats.index(json.dumps(v, sort_keys=True) if not isinstance(v, str) else v) for v in s.x] if categorical else s.x
        color = f"C{i % 10}"
        ms = s.markersize or 4
        if s.err is not None and any(e is not None for e in s.err):
            h = target.errorbar(x, s.y, yerr=[e or 0.0 for e in s.err], fmt=s.style, color=color, capsize=3,
                                label=s.label, markersize=ms)
        elif s.x:
            (h,) = target.plot(x, s.y, s.style, color=color, label=s.label, markersize=ms)
        else:  # every point of this series is missing: a legend entry for its edge markers
            (h,) = target.plot([], [], s.style, color=color, label=s.label, markersize=ms)
        handles.append(h)
        for status, kw in STATUS_MARKS.items():
            pts = [(xv, yv) for xv, yv, m in zip(x, s.y, s.marks or []) if m == status and yv is not None]
            if pts:
                (hm,) = target.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="none", zorder=5,
                                    label=status, **kw)
                status_handles.setdefault(status, hm)
        if s.missed:
            # on the top edge (axes coordinates in y), series side by side a few points apart
            xm = [cats.index(json.dumps(v, sort_keys=True) if not isinstance(v, str) else v) for v in s.missed] \
                if categorical else s.missed
            shift = (k_missed - (n_missed - 1) / 2) * 6
            k_missed += 1
            trans = transforms.offset_copy(transforms.blended_transform_factory(ax.transData, ax.transAxes),
                                           fig=fig, x=shift, y=0, units="points")
            ax.plot(xm, [1.0] * len(xm), linestyle="none", marker="^", color=color, markersize=8,
                    markeredgecolor="black", markeredgewidth=0.5, transform=trans, clip_on=False, zorder=6)
            if s.missed_label not in missed_handles:
                (hm,) = ax.plot([], [], linestyle="none", marker="^", color="lightgrey", markeredgecolor="black",
                                markeredgewidth=0.5, markersize=8, label=f"{s.missed_label} (top edge)")
                missed_handles[s.missed_label] = hm
    handles += list(status_handles.values()) + list(missed_handles.values())
    if categorical:
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels(cats, rotation=30 if len(cats) > 4 else 0, ha="right" if len(cats) > 4 else "center")
    elif spec.logx:
        xs_pos = [x for x in xs_all + [m for s in spec.series for m in s.missed] if x > 0]
        ax.set_xscale("log", base=2 if _pow2(xs_pos) else 10)
        ticks = sorted(set(xs_pos))
        if _pow2(xs_pos) or len(ticks) <= 12:  # a tick at every value swept (8, 16, 20, 32, ...)
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.minorticks_off()
    missed_x = [m for s in spec.series for m in s.missed if isinstance(m, (int, float))]
    data_x = [x for x in xs_all if isinstance(x, (int, float))]
    if missed_x and not categorical and (not data_x or min(missed_x) < min(data_x) or max(missed_x) > max(data_x)):
        # the edge markers lie outside the drawn points: widen the x range to show them
        lo, hi = min(missed_x + data_x), max(missed_x + data_x)
        if spec.logx and lo > 0:
            f = (hi / lo) ** 0.05 if hi > lo else 1.5
            ax.set_xlim(lo / f, hi * f)
        else:
            pad = 0.05 * (hi - lo) if hi > lo else 1.0
            ax.set_xlim(lo - pad, hi + pad)
    left_y = [y for s in spec.series if s.axis != "right" for y in s.y if y is not None and y > 0]
    right_y = [y for s in spec.series if s.axis == "right" for y in s.y if y is not None and y > 0]
    if spec.logy and left_y:  # no value at all (every point missed): a plain axis under the edge markers
        ax.set_yscale("log")
        _plain_log_axis(ax.yaxis, left_y)
    elif spec.logy:
        ax.set_yticks([])
    if ax2 is None and spec.y2scale:
        k = spec.y2scale
        sec = ax.secondary_yaxis("right", functions=(lambda v: v * k, lambda v: v / k))
        sec.set_ylabel(spec.y2label or "")
        if spec.logy and left_y:
            _plain_log_axis(sec.yaxis, [y * k for y in left_y])
    if ax2 is not None:
        if (spec.logy2 or spec.logy) and right_y:
            ax2.set_yscale("log")
            _plain_log_axis(ax2.yaxis, right_y)
        elif not right_y:
            ax2.set_yticks([])
        ax2.set_ylabel(spec.y2label or "")
    for y, label in spec.hlines:
        handles.append(ax.axhline(y, color="grey", linestyle=":", label=label))
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel(spec.ylabel)
    ax.set_title(spec.title)
    ax.grid(True, which="major", alpha=0.3)
    if handles and wide:
        ax.legend(handles=handles, labels=[h.get_label() for h in handles], fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.13 if ax2 is not None else 1.02, 1.0), borderaxespad=0.0)
    elif handles:
        ax.legend(handles=handles, labels=[h.get_label() for h in handles], fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# ---- provenance ---------------------------------------------------------------------------------

def provenance_lines(records):
    """What produced these records: code version, machine, threads, executor, when."""
    if not records:
        return []
    prov = [r.get("provenance") or {} for r in records]
    shas = sorted({(p.get("git") or {}).get("sha") or "unknown" for p in prov})
    dirty = any((p.get("git") or {}).get("dirty") for p in prov)
    cpus = sorted({p.get("cpu") or "unknown" for p in prov})
    threads = sorted({str(p.get("threads")) for p in prov if p.get("threads") is not None})
    isa = sorted({p.get("isa_active") for p in prov if p.get("isa_active")})
    versions = sorted({f"pybench {p.get('pybench')}, Python {p.get('python')}, NumPy {p.get('numpy')}" for p in prov
                       if p.get("pybench")})
    times = sorted(p.get("time") for p in prov if p.get("time"))
    kinds = sorted({(r.get("executor") or {}).get("kind") or "unknown" for r in records})
    hosts = sorted({(r.get("executor") or {}).get("host") for r in records if (r.get("executor") or {}).get("host")})
    total = sum((r.get("elapsed") or 0.0) for r in records)
    lines = [f"{len(records)} runs, {fmt_time(total)} of run time in all",
             "code: git " + ", ".join(s[:12] for s in shas) + (" (uncommitted changes)" if dirty else ""),
             "machine: " + "; ".join(cpus) + (f" ({', '.join(hosts)})" if hosts else "")
             + (f", SIMD {', '.join(isa)}" if isa else "") + (f", {'/'.join(threads)} thread(s) per run" if threads else ""),
             "executor: " + ", ".join(kinds)]
    if versions:
        lines.append("software: " + "; ".join(versions))
    if times:
        lines.append(f"runs started between {times[0]} and {times[-1]}")
    return lines


# ---- building -----------------------------------------------------------------------------------

def analysis(out, experiment, mode):
    """(experiment object, manifest, records, missing ids, analyze result) for one stored sweep."""
    records, m, missing = sweep_records(out, experiment, mode)
    exp = experiment_for(experiment, m)
    return exp, m, records, missing, exp.analyze(records)


def stale_definition(exp, m, mode):
    """(runs the command makes today that the sweep lacks, runs it makes today) when the experiment's
    definition changed since the stored sweep (its manifest lacks some of today's run ids), else None."""
    if not m or not isinstance(m.get("specs"), list) or exp.name == "custom" or getattr(exp, "definition", None):
        return None
    try:
        # seeds given on the command line stay; a default then is compared with today's default
        seeds = m.get("seeds") if "--seeds" in (m.get("command") or "") else None
        ids = {s.run_id() for s in exp.specs(mode, m.get("overrides") or None, seeds)}
    except (TypeError, ValueError):
        return None
    lacking = ids - {s.get("run_id") for s in m["specs"]}
    return (len(lacking), len(ids)) if lacking else None


def _summary_md(exp, mode, m, records, missing, res, plot_files):
    title = exp.title or exp.name
    parts = [f"# {title} ({mode} mode)", ""]
    stale = stale_definition(exp, m, mode)
    if stale:
        parts += [f"> **Stale:** these runs predate the experiment's current definition: `{m.get('command')}` now "
                  f"makes {stale[1]} runs, {stale[0]} of them not among these records. The description below is "
                  "the current definition and the table today's analysis of the stored runs (each record holds "
                  "the config it ran); run the command again to publish results of the current definition.", ""]
    if exp.description:
        parts += [exp.description, ""]
    if m and m.get("command"):
        parts += ["Command: `" + m["command"] + "`", ""]
    if records:
        parts.append(markdown_table(res["columns"], res["rows"]))
    else:
        parts += ["No runs stored yet.", ""]
    notes = list(res.get("notes") or [])
    if missing:
        notes.append(f"{len(missing)} of {len({s['run_id'] for s in m['specs']})} runs of this sweep are not stored yet "
                     "(interrupted? run the same command again: finished runs are kept).")
    if notes:
        parts += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    for spec, f in plot_files:
        parts += [f"![{spec.title}]({f})", ""]
    prov = provenance_lines(records)
    if prov:
        parts += ["Provenance:", ""] + [f"- {p}" for p in prov] + [""]
    parts.append("Columns, all rows and the spread over seeds: [summary.csv](summary.csv); one JSON record per run "
                 "in [runs/](runs/). Rebuild this page from the records with `pybench report`.")
    return "\n".join(parts).rstrip("\n") + "\n"


def build(out, experiment, mode=None, index=True):
    """Write the tables and plots of ``experiment`` (one mode, or every stored mode) from the stored
    records; refresh ``OUT/README.md`` unless ``index`` is False. Returns the paths written."""
    modes = [mode] if mode else [m for e, m in store.list_stored(out) if e == experiment]
    written = []
    for md in modes:
        exp, m, records, missing, res = analysis(out, experiment, md)
        d = store.exp_dir(out, experiment, md)
        plot_files = []
        for spec in res.get("plots") or []:
            if not any(s.x or s.missed for s in spec.series):
                continue  # nothing to draw (e.g. no runs)
            path = store.atomic_write(os.path.join(d, spec.file), render_plot(spec))
            written.append(path)
            plot_files.append((spec, spec.file))
        written.append(store.atomic_write(os.path.join(d, "summary.csv"), csv_text(res["columns"], res["rows"])))
        written.append(store.atomic_write(os.path.join(d, "summary.md"),
                                          _summary_md(exp, md, m, records, missing, res, plot_files)))
    if index:
        written.append(write_index(out))
    return written


def build_all(out):
    """Rebuild every stored experiment and mode under ``out``, then the index."""
    written = []
    for e in sorted({e for e, _ in store.list_stored(out)}):
        written += build(out, e, index=False)
    written.append(write_index(out))
    return written


def index_text(out):
    entries = store.list_stored(out)
    lines = ["# pybench results", "",
             "Built by `pybench report` from the run records below it (one JSON file per run); "
             "`full` is the published mode, `quick` the smoke-test mode of `pybench run`.", ""]
    if not entries:
        return "\n".join(lines + ["No experiments stored yet."]) + "\n"
    lines += ["| experiment | mode | runs | statuses | table | code | machine |", "|---|---|---:|---|---|---|---|"]
    for e, md in entries:
        records, m, missing = sweep_records(out, e, md)
        exp = experiment_for(e, m)
        counts = {}
        for r in records:
            counts[r.get("status")] = counts.get(r.get("status"), 0) + 1
        status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
        if missing:
            status += (", " if status else "") + f"{len(missing)} not run yet"
        if stale_definition(exp, m, md):
            status += (", " if status else "") + "stale: predates the current definition"
        prov = [r.get("provenance") or {} for r in records]
        shas = sorted({((p.get("git") or {}).get("sha") or "?")[:7] + ("+" if (p.get("git") or {}).get("dirty") else "")
                       for p in prov})
        cpus = sorted({p.get("cpu") or "?" for p in prov})
        link = f"[{exp.title or e}]({e}/{md}/summary.md)"
        lines.append(f"| {e} | {md} | {len(records)} | {status or '-'} | {link} | {', '.join(shas) or '-'} | "
                     f"{md_cell('; '.join(cpus) or '-')} |")
    lines += ["", "`+` after a commit: the runs were made with uncommitted changes.", "",
              "## Headline results", "", headline_table(out).rstrip("\n")]
    return "\n".join(lines) + "\n"


def write_index(out):
    return store.atomic_write(os.path.join(os.fspath(out), README), index_text(out))


# ---- the headline table -------------------------------------------------------------------------

STALE_HEADLINE = "(Stale: these runs predate the current definition; see the page.)"


def headline_rows(out):
    """[(experiment, mode, question, answer, seeds, summary path relative to out)]: one per stored
    experiment, its full mode when stored (else its first stored mode); the answer is the
    experiment's ``headline`` of the sweep's records, never typed by hand."""
    from . import experiments

    rows, done = [], set()
    entries = store.list_stored(out)
    for e, md in sorted(entries, key=lambda em: (em[1] != "full", em)):
        if e in done:
            continue
        done.add(e)
        exp, m, records, missing, res = analysis(out, e, md)
        counts = sorted({len(recs) for _, recs in group_by_point(records)})
        answer = exp.headline(records, res) if records else "no runs stored"
        if missing:
            answer += f" ({len(missing)} runs of the sweep not stored yet)"
        if records and stale_definition(exp, m, md):  # the answer is of the runs as made, not of today's definition
            answer = f"{STALE_HEADLINE} {answer}"
        rows.append((e, md, exp.question or exp.title or e, answer, "/".join(map(str, counts)) or "-",
                     f"{e}/{md}/summary.md"))
    order = {n: i for i, n in enumerate(experiments.names())}
    return sorted(rows, key=lambda r: (order.get(r[0], len(order)), r[0]))


def headline_table(out, link_prefix=""):
    """The headline table as Markdown; links are ``link_prefix`` + each summary's path under out."""
    rows = headline_rows(out)
    if not rows:
        return "No experiments stored yet.\n"
    lines = ["| experiment | question | measured answer | seeds | table |", "|---|---|---|---:|---|"]
    for e, md, q, answer, seeds, path in rows:
        mode = "" if md == "full" else f" ({md} mode)"
        lines.append(f"| {md_cell(e + mode)} | {md_cell(q)} | {md_cell(answer)} | {seeds} | "
                     f"[summary]({link_prefix}{path}) |")
    return "\n".join(lines) + "\n"


def replace_headline(text, table):
    """``text`` with what lies between HEADLINE_BEGIN and HEADLINE_END replaced by ``table``;
    ValueError when the markers are missing or out of order."""
    a, b = text.find(HEADLINE_BEGIN), text.find(HEADLINE_END)
    if a < 0 or b < a:
        raise ValueError(f"expected {HEADLINE_BEGIN} ... {HEADLINE_END} in the file")
    return text[:a + len(HEADLINE_BEGIN)] + "\n" + table + text[b:]


def readme_block(path):
    """The text between the headline markers of the file at ``path`` (None without markers)."""
    text = open(path, encoding="utf-8").read()
    a, b = text.find(HEADLINE_BEGIN), text.find(HEADLINE_END)
    return text[a + len(HEADLINE_BEGIN) + 1:b] if 0 <= a < b else None


def update_readme(path, out):
    """Write the headline table of ``out`` between the markers of the file at ``path`` (links relative
    to that file). Returns the path when it changed, None when it was already current."""
    link = os.path.relpath(os.path.abspath(out), os.path.dirname(os.path.abspath(path))).replace(os.sep, "/")
    text = open(path, encoding="utf-8").read()
    new = replace_headline(text, headline_table(out, "" if link == "." else link + "/"))
    if new == text:
        return None
    return store.atomic_write(path, new)


def table_text(out, experiment, mode, wide=False, width=None):
    """The Markdown table (with a title line) of one stored sweep, for a terminal ``width`` columns
    wide (None: no limit): the columns marked ``term``, or with ``wide`` every column of summary.md."""
    exp, m, records, missing, res = analysis(out, experiment, mode)
    head = "\n".join(console.wrap(f"## {exp.title or exp.name} ({mode} mode)", width, "   ")) + "\n\n"
    cols = _columns(res["columns"]) if wide else [c for c in _columns(res["columns"]) if c.term]
    body = terminal_table(cols, res["rows"], width) if records else "No runs stored.\n"
    tail = ""
    if missing:
        tail = f"\n{len(missing)} runs not stored yet (rerun the same command to finish).\n"
    return head + body + tail
