"""What every experiment shares: ``RunSpec``, the ``Experiment`` base class (spec expansion over axes,
``--set`` overrides, seeds), and the analysis helpers that turn stored records into table rows
(medians and spread over seeds, "first step at target" columns, statuses) and plot specs.

Writing an experiment (one module in this package; the registry finds ``EXPERIMENT``)::

    from .base import (Column, Experiment, accuracy_plot, group_by_point, standard_columns,
                       standard_notes, standard_row)

    class Depth(Experiment):
        name = "depth"                       # the directory under results/ and the CLI name
        title = "Depth: hidden layers, with and without BatchNorm"
        description = "what it measures and its documented defaults (shown by `pybench list`)"
        base = {"dataset": "mnist1d", "model": "mlp", "width": 128, "epochs": 20, "target_accuracy": 0.6}
        quick = {"epochs": 3}                # Config fields changed in quick mode
        axes = {"depth": [1, 2, 4, 8, 16, 32], "bn": [False, True]}     # full mode
        quick_axes = {"depth": [1, 4]}       # quick mode (other axes as in full mode)
        seeds = {"quick": 1, "full": 3}

        def point_config(self, point, mode):  # only needed for axes that are not Config fields
            return {"depth": point["depth"], "norm": "batch" if point["bn"] else None}

        def analyze(self, records):           # from stored records only
            rows = [{**pt, **standard_row(recs)} for pt, recs in group_by_point(records)]
            cols = [Column("depth", fmt="int"), Column("bn")] + standard_columns()
            return {"columns": cols, "rows": rows, "notes": standard_notes(records),
                    "plots": [accuracy_plot(rows, "depth", ["bn"], "accuracy_vs_depth.png", "depth", logx=True)]}

    EXPERIMENT = Depth()

- Every run gets ``COMMON`` (one thread), then ``base``, ``quick`` (quick mode), the point's
  fields, then ``--set`` values. Replicate r adds r to ``seed`` and ``data_seed``.
- Non-grid sweeps (e.g. pairs of runs) override ``points(axes, mode)`` and return the list of
  point dicts. Points mapping to the same config share a run id and run once.
- Tuned hyperparameters override ``extend(records, mode, overrides, seeds)``: the Extensions
  (RunSpecs of one more value beyond a grid's edge) ``pybench run`` should add; records of
  extension runs carry ``extension`` (the round that asked for them; 0 for the own grid).
- Records reaching ``analyze`` carry ``point``, ``replicate``, ``axes`` and the whole training
  record (pybench.train: ``config``, ``status``, ``target``, ``throughput``, ``history``, ...);
  rows are dicts, keys starting with "_" stay out of the CSV (``_display``: Markdown text for a
  cell). Show every point, whatever its status: ``standard_row`` and ``standard_notes`` do.
"""

import dataclasses
import itertools
import json
import math
from dataclasses import dataclass, field

from ..diagnostics import EMA_DECAY, history_curve
from ..runconfig import Config

CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(Config))
# Fields every experiment's runs get unless it or --set says otherwise: one thread per run, so
# results do not depend on what else shares the cores, and the Dask and local executors give the
# same run ids (the thread count is part of the config, hence of the id).
COMMON = {"threads": 1}
MODES = ("quick", "full")


@dataclass
class RunSpec:
    experiment: str
    point: dict        # the axis values of this run, JSON-safe (e.g. {"width": 64})
    seed: int          # replicate index: offsets Config.seed and Config.data_seed
    config: dict       # complete, validated pybench.train.Config fields
    mode: str = "quick"
    extension: int = 0  # the extension round that asked for it (0: the experiment's own grid)

    def run_id(self):
        return Config(**self.config).run_id()

    def label(self):
        pt = " ".join(f"{k}={_short(v)}" for k, v in self.point.items())
        return f"{self.experiment} {pt} seed {self.seed}".replace("  ", " ")


@dataclass
class Extension:
    """A tuned cell's grid extended by one value (``Experiment.extend``): ``what`` names the grid
    (e.g. "adam lr"), ``edge`` is the best value so far, on the grid's edge, ``value`` the one
    asked for, ``specs`` its RunSpecs."""
    what: str
    edge: float
    value: float
    specs: list
    where: str = ""   # which cell, when the grid is tuned per point (e.g. "batch 64")

    @property
    def text(self):
        at = f" at {self.where}" if self.where else ""
        return f"extending the {self.what} grid{at} beyond {self.edge:g} to {self.value:g} (best at the edge)"


def _short(v):
    return json.dumps(v, separators=(",", ":")) if not isinstance(v, str) else v


@dataclass
class Column:
    """A table column: ``key`` in each row; ``title`` for the Markdown header; ``fmt``: "pct"
    (a fraction shown as a percentage), "int" (no separators: widths, steps), "time" (seconds), "count"
    (thousands separators),
    or a format spec ("{:.3g}" style without braces, e.g. ".3g"); ``spread``: the row carries
    ``key + "_spread"`` (half the range over seeds), shown as "±"; ``md``: shown in summary.md (the
    CSV has every column); ``term``: also in the table `pybench run`/`report` print without --wide
    (a column must be ``md`` to be printed at all)."""
    key: str
    title: str | None = None
    fmt: str = ".4g"
    spread: bool = False
    md: bool = True
    term: bool = True


@dataclass
class Series:
    """One line of a plot. ``marks`` (parallel to x): a point's status word; "missed target",
    "collapsed", "diverged" and "failed" are drawn over the point with their own marker and legend
    entry (PlotSpec: STATUS_MARKS in pybench.report). ``missed``: x values of points that have no y
    (e.g. a target not reached), drawn as triangles on the top edge, so no point is dropped
    silently; ``missed_label`` names them in the legend."""
    label: str
    x: list
    y: list
    err: list | None = None       # symmetric error bar (e.g. the spread over seeds)
    style: str = "o-"
    axis: str = "left"            # "left" or "right" (twin y axis)
    marks: list | None = None
    missed: list = field(default_factory=list)
    missed_label: str = "not reached"
    markersize: float | None = None


@dataclass
class PlotSpec:
    """One PNG: ``file`` (a name in the experiment's directory), the series to draw, axis labels
    and scales, optional horizontal reference lines ``hlines`` ([(y, label), ...]) and a right-hand
    axis label when some series use ``axis="right"``."""
    file: str
    title: str
    xlabel: str
    ylabel: str
    series: list = field(default_factory=list)
    logx: bool = False
    logy: bool = False
    y2label: str | None = None
    logy2: bool = False
    hlines: list = field(default_factory=list)
    y2scale: float | None = None  # a right-hand axis showing the left one times this factor (no series of its own)


class Experiment:
    """Base class; see the module docstring. ``specs`` and the default ``analyze`` work for any
    grid over Config fields."""

    name = ""
    title = ""
    description = ""
    base: dict = {}
    quick: dict = {}
    axes: dict = {}
    quick_axes: dict = {}
    seeds = {"quick": 1, "full": 3}

    # ---- expansion ---------------------------------------------------------------------------
    def base_config(self, mode):
        return {**COMMON, **self.base, **(self.quick if mode == "quick" else {})}

    def mode_axes(self, mode):
        return {k: list(self.quick_axes.get(k, v) if mode == "quick" else v) for k, v in self.axes.items()}

    def points(self, axes, mode):
        """The points of a sweep over ``axes`` (name -> values): the grid, first axis outermost."""
        names = list(axes)
        return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]

    def point_config(self, point, mode):
        """Config fields a point sets (default: its axes, which must be Config fields)."""
        unknown = [k for k in point if k not in CONFIG_FIELDS]
        if unknown:
            raise ValueError(f"{self.name}: axis {unknown[0]!r} is not a Config field; "
                             "the experiment must map it in point_config")
        return dict(point)

    def default_seeds(self, mode):
        return int(self.seeds.get(mode, 1))

    def specs(self, mode="quick", overrides=None, seeds=None):
        """RunSpecs of this experiment in ``mode``. ``overrides`` (``--set``): an axis name replaces
        that axis (a list, or one value); a Config field is applied to every run, or, given a list
        (``betas``: a list of pairs), becomes a new axis. ``seeds``: replicates per point (default:
        the experiment's for the mode). Unknown keys and invalid values raise ValueError/TypeError
        naming the key and the valid choices, before anything runs."""
        if mode not in MODES:
            raise ValueError(f"{self.name}: mode: expected one of {list(MODES)}, got {mode!r}")
        seeds = self.default_seeds(mode) if seeds is None else seeds
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ValueError(f"{self.name}: seeds: expected an int >= 1, got {seeds!r}")
        axes, extra, fixed = self.mode_axes(mode), {}, {}
        for key, value in (overrides or {}).items():
            if key in axes:
                axes[key] = _as_axis(key, value, force=True)
            elif key in CONFIG_FIELDS:
                as_axis = _as_axis(key, value, force=False)
                if as_axis is None:
                    fixed[key] = value
                else:
                    extra[key] = as_axis
            else:
                raise ValueError(f"{self.name}: unknown key {key!r}: expected an axis ({', '.join(self.axes) or 'none'}) "
                                 f"or a Config field ({', '.join(CONFIG_FIELDS)})")
        base = self.base_config(mode)
        # the budget is steps or epochs: overriding one drops the other the experiment set
        drop = [b for a, b in (("steps", "epochs"), ("epochs", "steps"))
                if a in (overrides or {}) and b not in (overrides or {})]
        out, seen = [], {}
        # a Config field given as a list becomes an extra axis, crossed with the experiment's points
        points = [(p, dict(zip(extra, combo))) for p in self.points(axes, mode)
                  for combo in itertools.product(*extra.values())]
        for rep in range(seeds):
            for own, added in points:
                point = {**own, **added}
                cfg = {**base, **self.point_config(own, mode), **added, **fixed}
                cfg.update({b: None for b in drop})
                cfg["seed"] = cfg.get("seed", 0) + rep
                cfg["data_seed"] = cfg.get("data_seed", 0) + rep
                key = json.dumps(cfg, sort_keys=True, default=str)
                if key not in seen:
                    seen[key] = _validated(self.name, point, cfg)
                out.append(RunSpec(self.name, point, rep, dict(seen[key]), mode))
        return out

    def extend(self, records, mode, overrides=None, seeds=None):
        """Extensions of the tuned grids whose best value sits on an edge (pybench.experiments._grid),
        judged from the records of the sweep so far (``specs(mode, overrides, seeds)`` plus earlier
        extensions): a list of Extension. ``pybench run`` runs them and asks again, up to
        _grid.MAX_ROUNDS rounds. Default: nothing is tuned, nothing to extend."""
        return []

    # ---- analysis ----------------------------------------------------------------------------
    question = ""   # what the experiment asks, for the headline table of `pybench report`

    def headline(self, records, res=None):
        """The measured answer in one line (for the headline table), from the records alone; ``res``:
        this experiment's ``analyze(records)`` when already computed. Default: the table's size."""
        res = res or self.analyze(records)
        return f"{len(res['rows'])} points, {len(records)} runs: see the table"

    def analyze(self, records):
        """Default table: one row per point (its axis values, then the standard metrics, medians
        and spread over seeds), notes on targets/statuses, and accuracy/throughput plots against
        the first numeric axis."""
        groups = group_by_point(records)
        axis_names = point_keys(records)
        rows = [{**point, **standard_row(recs)} for point, recs in groups]
        columns = [Column(a) for a in axis_names] + standard_columns()
        plots = []
        numeric = [a for a in axis_names if all(_is_num(r.get(a)) for r in rows)]
        if numeric and rows:
            x = numeric[0]
            others = [a for a in axis_names if a != x]
            log = all(r[x] > 0 for r in rows) and _spans_decade(r[x] for r in rows)
            plots = [accuracy_plot(rows, x, others, f"accuracy_vs_{x}.png", self.title or self.name, logx=log),
                     throughput_plot(rows, x, others, f"throughput_vs_{x}.png", self.title or self.name, logx=log)]
        return {"columns": columns, "rows": rows, "notes": standard_notes(records), "plots": plots}


def _as_axis(key, value, force):
    """A list of values when ``value`` is an axis, else None (force: a scalar becomes [value])."""
    is_list = isinstance(value, list)
    if key == "betas":  # a Config field whose value is itself a list: an axis is a list of pairs
        is_list = is_list and bool(value) and all(isinstance(v, list) for v in value)
    if is_list:
        if not value:
            raise ValueError(f"{key}: expected a non-empty list of values, got []")
        return check_distinct(key, list(value))
    return [value] if force else None


def check_distinct(key, values):
    """``values`` when no two are the same point; ValueError otherwise (a repeated value would be
    one run counted twice, e.g. as two seeds). 64 and 64.0 count as the same value."""
    def canon(v):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return [canon(x) for x in v] if isinstance(v, (list, tuple)) else v

    seen = set()
    for v in values:
        k = json.dumps(canon(v), sort_keys=True)
        if k in seen:
            raise ValueError(f"{key}: expected distinct values, got {v!r} twice in {values!r}")
        seen.add(k)
    return values


def check_names(cfg):
    """What Config.validate leaves to run time, checked up front: dataset, activation and init
    names (ValueError naming the valid choices)."""
    from .. import data
    from ..nn import init as nn_init
    from ..nn.activations import activation_names

    if cfg.get("dataset") not in data.names():
        raise ValueError(f"Config: dataset: expected one of {', '.join(data.names())}, got {cfg.get('dataset')!r}")
    for key in ("activation", "last_activation"):
        if cfg.get(key) is not None and cfg[key] not in activation_names():
            raise ValueError(f"Config: {key}: expected one of {', '.join(activation_names())} or None, got {cfg[key]!r}")
    try:
        nn_init.make(cfg.get("init"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Config: init: {str(e).split(': ', 2)[-1]}") from None


def _validated(name, point, cfg):
    try:
        out = Config.from_dict(cfg).validate().to_dict()
        check_names(out)
        return out
    except (TypeError, ValueError) as e:
        where = " ".join(f"{k}={_short(v)}" for k, v in point.items())
        raise type(e)(f"{name}{' (' + where + ')' if where else ''}: {e}") from None


# ================================================================================================
# analysis helpers: everything computed from stored records alone
# ================================================================================================

def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _spans_decade(values):
    vs = [v for v in values if _is_num(v) and v > 0]
    return bool(vs) and max(vs) / min(vs) >= 8


def _sort_value(v):
    if v is None:
        return (0, 0, "")
    if isinstance(v, bool):
        return (1, int(v), "")
    if _is_num(v):
        return (2, v, "")
    return (3, 0, json.dumps(v, sort_keys=True))


def point_keys(records):
    """Axis names over the records, in the sweep's order (a record's ``axes`` list: JSON objects
    lose their key order on disk), else first-seen order."""
    keys = []
    for r in records:
        for k in list(r.get("axes") or []) + list(r.get("point") or {}):
            if k not in keys:
                keys.append(k)
    return keys


def group_by_point(records, order=None):
    """[(point, [records of that point, by replicate then run id]), ...]. Points are ordered by
    ``order`` (a list of points) when given; else in the sweep's order when every record carries
    its position in the sweep manifest (``sweep_index``, set by pybench.report); else by their
    values, axis by axis (numbers numerically)."""
    groups = {}
    for r in records:
        pt = r.get("point") or {}
        groups.setdefault(json.dumps(pt, sort_keys=True), (pt, []))[1].append(r)
    items = list(groups.values())
    for _, recs in items:
        recs.sort(key=lambda r: (r.get("replicate", 0), r.get("run_id", "")))
    if order is not None:
        pos = {json.dumps(p, sort_keys=True): i for i, p in enumerate(order)}
        items.sort(key=lambda it: pos.get(json.dumps(it[0], sort_keys=True), len(pos)))
    elif records and all(isinstance(r.get("sweep_index"), int) for r in records):
        items.sort(key=lambda it: min(r["sweep_index"] for r in it[1]))
    else:
        keys = point_keys(records)
        items.sort(key=lambda it: tuple(_sort_value(it[0].get(k)) for k in keys))
    keys = point_keys(records)
    return [({k: pt[k] for k in keys if k in pt}, recs) for pt, recs in items]


def get(record, path, default=None):
    """record["a"]["b"] for path "a.b"; ``default`` when any step is missing or None."""
    v = record
    for part in path.split("."):
        if not isinstance(v, dict) or v.get(part) is None:
            return default
        v = v[part]
    return v


def median(values):
    """Median of the finite values (None when none); inf counts (a missed target)."""
    vs = sorted(v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))
    if not vs:
        return None
    n = len(vs)
    m = vs[n // 2] if n % 2 else (vs[n // 2 - 1] + vs[n // 2]) / 2
    return None if isinstance(m, float) and math.isinf(m) else m


def spread(values):
    """Half the range (max - min) / 2 of the finite values; None with fewer than two."""
    vs = [v for v in values if v is not None and math.isfinite(v)]
    return (max(vs) - min(vs)) / 2 if len(vs) >= 2 else None


def summarize(values):
    """(median, spread) of a list of per-seed values (None entries skipped)."""
    return median(values), spread(values)


TARGET_KEYS = ("step", "epoch", "samples", "wall_time")


def to_target(records, key):
    """Median and spread over seeds of the first ``key`` (one of TARGET_KEYS) at which the val
    accuracy reached the target. A run that missed the target counts as +inf (a censored value), so
    the median is None ("missed") when half or more of the runs missed; the spread is over the runs
    that reached it."""
    vals = []
    for r in records:
        t = r.get("target")
        vals.append(t[key] if t and t.get(key) is not None else math.inf)
    return median(vals), spread([v for v in vals if math.isfinite(v)])


def reached(records):
    """How many of ``records`` reached their target: "k/n" ("-" when no target was set)."""
    with_target = [r for r in records if get(r, "config.target_accuracy") is not None]
    if not with_target:
        return "-"
    return f"{sum(1 for r in with_target if r.get('target'))}/{len(with_target)}"


def status_text(records):
    """"completed", or counts like "2 completed, 1 collapsed" (statuses in a fixed order)."""
    counts = {}
    for r in records:
        s = r.get("status") or "unknown"
        counts[s] = counts.get(s, 0) + 1
    if len(counts) == 1 and len(records) == 1:
        return next(iter(counts))
    order = ["completed", "budget-limited", "diverged", "collapsed", "failed"]
    keys = sorted(counts, key=lambda s: (order.index(s) if s in order else len(order), s))
    if len(keys) == 1:
        return keys[0]
    return ", ".join(f"{counts[k]} {k}" for k in keys)


def point_status(records):
    """One word for a point: the worst status among its runs, or "missed target" when every run
    completed but the median run did not reach the target, or "budget-limited" when a run was still
    improving at the end of its budget (the point is not converged), or "ok"."""
    statuses = {r.get("status") for r in records}
    for s in ("failed", "diverged", "collapsed"):
        if s in statuses:
            return s
    if any(get(r, "config.target_accuracy") is not None for r in records) and to_target(records, "step")[0] is None:
        return "missed target"
    if "budget-limited" in statuses:
        return "budget-limited"
    return "ok"


# (row key, record path) of the per-run metrics that standard_row summarizes
METRICS = (
    ("samples_per_s", "throughput.samples_per_s"),
    ("gflops", "throughput.gflops"),
    ("step_time", "throughput.step_time"),
    ("train_time", "throughput.train_time"),
    ("best_val_acc", "best_val_acc"),
    ("test_acc_final", "test.acc"),
    ("train_acc", "train.acc"),
    ("gap", "gap"),
    ("dead_fraction", "collapse.dead_fraction"),
    ("steps", "steps"),
)


# The selection metric: every run's checkpoint with the best validation accuracy (pybench.train
# snapshots it); tables report the test accuracy there, the final step's beside it.
SELECTED_TEST = "selected.test.acc"
FINAL_TEST = "test.acc"
NOT_RECORDED = "not recorded"


def selection_recorded(records):
    """True when every record that has a final test accuracy also has the selected checkpoint's
    (``selected``: records written before pybench.train kept it have none)."""
    return all("selected" in r for r in records if get(r, FINAL_TEST) is not None)


def test_acc_values(records):
    """(label, per-record test accuracies) for a comparison: at the best-validation checkpoint
    ("test acc @ best val") when every record has it, else every record's final step ("final-step
    test acc"): one or the other for all, never mixed."""
    if selection_recorded(records):
        return "test acc @ best val", [get(r, SELECTED_TEST) for r in records]
    return "final-step test acc", [get(r, FINAL_TEST) for r in records]


def standard_row(records):
    """The standard metrics of one point over its seeds: ``seeds`` (runs), ``params``, medians and
    ``_spread`` of METRICS, ``test_acc`` (at the best-validation-accuracy checkpoint; None, shown
    "not recorded", when a run predates it: ``test_acc_final`` has the final step's), the
    noise-scale columns (noise_columns), the to-target columns (steps/epochs/samples/time_to_target;
    a missed target is None, shown as "missed" through ``row["_display"]``), ``reached``, ``runs``
    (status counts) and ``status`` (point_status). Keys starting with "_" never reach the CSV."""
    row = {"seeds": len(records), "params": median([get(r, "model.num_parameters") for r in records])}
    for key, path in METRICS:
        row[key], row[key + "_spread"] = summarize([get(r, path) for r in records])
    recorded = selection_recorded(records)
    row["test_acc"], row["test_acc_spread"] = summarize([get(r, SELECTED_TEST) for r in records] if recorded else [])
    row["selected_step"] = median([get(r, "selected.step") for r in records]) if recorded else None
    row["reached"] = reached(records)
    display = noise_columns(records, row)
    if not recorded:
        display["test_acc"] = NOT_RECORDED
    for key, tk in (("steps_to_target", "step"), ("epochs_to_target", "epoch"),
                    ("samples_to_target", "samples"), ("time_to_target", "wall_time")):
        row[key], row[key + "_spread"] = to_target(records, tk)
        if row[key] is None and row["reached"] != "-":
            display[key] = "missed"
    if display:
        row["_display"] = display  # Markdown text for cells shown otherwise than their CSV value
    row["runs"] = status_text(records)
    row["status"] = point_status(records)
    return row


def noise_at_target(record):
    """The run's smoothed B_simple at the evaluation that first reached its target (a dict with
    ``b_simple`` and ``b_simple_se``, see pybench.diagnostics.NoiseCurve), None when the run missed
    the target or has no noise-scale estimates. Computed from the history, so records written
    before the reduction changed get the same one."""
    t = record.get("target")
    c = history_curve(record) if t and t.get("step") is not None else None
    return c.at_step(t["step"]) if c is not None else None


def noise_columns(records, row):
    """Sets ``noise_scale`` (median and spread over seeds of B_simple at the target, over the
    runs that have one; when none has, the value at the last evaluation, marked "(end)"),
    ``noise_final`` (at the last evaluation) and ``noise_se`` (median jackknife SE of the values
    in ``noise_scale``) in ``row``; returns the Markdown display overrides."""
    curves = [history_curve(r) for r in records]
    at = [noise_at_target(r) for r in records]
    end = [c.final() if c is not None else None for c in curves]
    row["noise_final"], row["noise_final_spread"] = summarize([p["b_simple"] if p else None for p in end])
    used = [p for p in at if p and p["b_simple"] is not None]
    if not used:
        used = [p for p in end if p and p["b_simple"] is not None]
    row["noise_scale"], row["noise_scale_spread"] = summarize([p["b_simple"] for p in used])
    row["noise_se"] = median([p["b_simple_se"] for p in used])
    if row["noise_scale"] is not None and not any(p and p["b_simple"] is not None for p in at):
        text = format(row["noise_scale"], ".3g")
        if row["noise_scale_spread"] is not None:
            text += f" ±{row['noise_scale_spread']:.3g}"
        return {"noise_scale": text + " (end)"}
    return {}


def noise_note(records):
    """The standard note on the B_simple column (None when no run has noise-scale estimates)."""
    if not any(history_curve(r) is not None for r in records):
        return None
    return (f"B_simple at target: the gradient noise scale tr(Sigma)/|G|^2 (McCandlish et al. 2018), each term an "
            f"EMA over the evaluations after the initialization (decay {EMA_DECAY} per evaluation), at the first "
            "evaluation at or above the target; median over the seeds that have it; '(end)': none has (target missed, "
            "or the smoothed |G|^2 not positive there), the value at the last evaluation instead. Protocol: "
            "docs/protocol.md.")


# standard columns printed on the terminal by default: what a reader needs to judge a point
TERM_DEFAULT = ("samples_per_s", "steps_to_target", "test_acc", "status")


def standard_columns(md_extra=(), term=TERM_DEFAULT):
    """Columns of standard_row, in table order; those in ``md_extra`` are also shown in Markdown
    besides the default selection; those in ``term`` are printed on the terminal by default (the
    final-step test accuracy always goes with the selected one)."""
    if "test_acc" in term:
        term = tuple(term) + ("test_acc_final",)
    cols = [
        Column("params", "params", "count"),
        Column("samples_per_s", "samples/s", "count", spread=True),
        Column("gflops", "GFLOP/s", ".3g", spread=True),
        Column("step_time", "step time", "time", spread=True, md=False),
        Column("train_time", "train time", "time", spread=True, md=False),
        Column("steps_to_target", "steps to target", "int", spread=True),
        Column("epochs_to_target", "epochs to target", ".3g", spread=True, md=False),
        Column("samples_to_target", "samples to target", "count", spread=True, md=False),
        Column("time_to_target", "time to target", "time", spread=True),
        Column("reached", "reached"),
        Column("best_val_acc", "best val acc", "pct", spread=True),
        Column("test_acc", "test acc @ best val", "pct", spread=True),
        Column("test_acc_final", "final test acc", "pct", spread=True),
        Column("selected_step", "best val step", "int", md=False),
        Column("train_acc", "train acc", "pct", spread=True, md=False),
        Column("gap", "train-test gap", "pct", spread=True),
        Column("noise_scale", "B_simple at target", ".3g", spread=True),
        Column("noise_final", "B_simple at end", ".3g", spread=True, md=False),
        Column("noise_se", "B_simple jackknife SE", ".3g", md=False),
        Column("dead_fraction", "dead ReLUs", "pct", spread=True, md=False),
        Column("steps", "steps run", "int", md=False),
        Column("seeds", "seeds", "int"),
        Column("runs", "runs", md=False),
        Column("status", "status"),
    ]
    for c in cols:
        if c.key in md_extra:
            c.md = True
        c.term = c.key in term
    return cols


def targets(records):
    """The distinct target accuracies of the records, sorted."""
    return sorted({get(r, "config.target_accuracy") for r in records} - {None})


def standard_notes(records):
    """Notes under a table: target and budget, how seeds are summarized, and every run that did
    not complete normally (with its stop reason), so nothing is silently dropped."""
    notes = []
    ts = targets(records)
    if ts:
        notes.append("target: validation accuracy >= " + ", ".join(f"{100 * t:g}%" for t in ts)
                     + "; steps/time to target are the first evaluation at or above it (time: training steps only, "
                     "evaluation excluded); 'missed' when the median run did not reach it.")
    if records:
        notes.append(selection_note(records))
    n_seeds = sorted({len(recs) for _, recs in group_by_point(records)})
    if n_seeds and max(n_seeds) > 1:
        notes.append(f"{'/'.join(map(str, n_seeds))} seeds per point: values are medians, ± is half the range over seeds.")
    noise = noise_note(records)
    if noise:
        notes.append(noise)
    for r in sorted(records, key=lambda r: (json.dumps(r.get("point") or {}, sort_keys=True), r.get("replicate", 0))):
        if r.get("status") not in ("completed", None):
            pt = " ".join(f"{k}={_short(v)}" for k, v in (r.get("point") or {}).items())
            notes.append(f"{pt} seed {r.get('replicate', 0)}: {r.get('status')} ({r.get('stop_reason')}).")
    return notes


def selection_note(records):
    """The standard note on the selection rule (and on records that predate it)."""
    text = ("selection metric: validation accuracy. 'test acc @ best val' is the test accuracy of each run's "
            "weights at its best validation accuracy (snapshotted when reached), 'final test acc' that of the "
            "final weights (early stopping: the restored ones); the train-test gap is the final weights'.")
    old = sum(1 for r in records if get(r, FINAL_TEST) is not None and "selected" not in r)
    if old:
        text += (f" {old} of {len(records)} runs predate the best-val checkpoint: their 'test acc @ best val' is "
                 f"'{NOT_RECORDED}', and any comparison including them uses the final-step values, labelled so.")
    return text


def _groups(rows, others):
    """Rows split by the values of the axes ``others`` (label, rows)."""
    out = {}
    for r in rows:
        key = tuple(json.dumps(r.get(a), sort_keys=True) for a in others)
        label = " ".join(f"{a}={_short(r.get(a))}" for a in others)
        out.setdefault(key, (label, []))[1].append(r)
    return list(out.values())


def series(rows, x, y, label, others=(), axis="left", style="o-", scale=1.0, missing=None):
    """Series of ``y`` against ``x`` over ``rows`` (one per combination of the axes ``others``).
    Each point carries its row's ``status`` (``Series.marks``: a collapsed, diverged, failed or
    missed-target point is marked on the plot). Points whose y is missing are left out of the line;
    with ``missing`` (a legend text, e.g. "not reached") they are drawn on the top edge instead."""
    out = []
    for sub, rs in _groups(rows, list(others)):
        pts = [(r[x], r.get(y), r.get(y + "_spread"), r.get("status")) for r in rs if r.get(y) is not None]
        gone = [r[x] for r in rs if r.get(y) is None and _is_num(r.get(x))] if missing else []
        if not pts and not gone:
            continue
        out.append(Series(f"{label} {sub}".strip(), [p[0] for p in pts], [p[1] * scale for p in pts],
                          [None if p[2] is None else p[2] * scale for p in pts], style=style, axis=axis,
                          marks=[p[3] for p in pts] if any(p[3] is not None for p in pts) else None,
                          missed=gone, missed_label=missing or "not reached"))
    return out


def accuracy_plot(rows, x, others, file, title, logx=False, xlabel=None):
    s = (series(rows, x, "best_val_acc", "best val", others, scale=100, missing="no value (failed)")
         + series(rows, x, "test_acc", "test @ best val", others, style="s--", scale=100)
         + series(rows, x, "test_acc_final", "test, final step", others, style="^:", scale=100))
    return PlotSpec(file, f"{title}: accuracy", xlabel or x, "accuracy (%)", s, logx=logx)


def throughput_plot(rows, x, others, file, title, logx=False, xlabel=None):
    """samples/s (left) and GFLOP/s (right). When every point has the same FLOPs per sample (one model
    throughout, e.g. a batch-size sweep) the two lines would coincide: one line, and the right axis
    is samples/s times FLOPs/sample."""
    s = series(rows, x, "samples_per_s", "samples/s", others, missing="no value (failed)")
    per_sample = [r["gflops"] / r["samples_per_s"] for r in rows
                  if _is_num(r.get("gflops")) and _is_num(r.get("samples_per_s")) and r["samples_per_s"] > 0]
    k = median(per_sample)
    if per_sample and k and all(abs(v / k - 1) < 0.01 for v in per_sample):
        for one in s:
            one.label += f" (right axis: GFLOP/s, {k * 1e3:.3g} MFLOP per sample)"
        return PlotSpec(file, f"{title}: throughput", xlabel or x, "samples/s", s, logx=logx, logy=True,
                        y2label="GFLOP/s", y2scale=k)
    s += series(rows, x, "gflops", "GFLOP/s", others, axis="right", style="s--")
    return PlotSpec(file, f"{title}: throughput", xlabel or x, "samples/s", s, logx=logx, logy=True,
                    y2label="GFLOP/s")


def curves_plot(records, x, file, title, metric="val_acc", ylabel="val accuracy (%)", scale=100.0, replicate=0,
                what="learning curves", logy=False):
    """Learning curves (``metric`` from each run's history against ``x``: "step", "epoch" or
    "wall_time") of one replicate per point; a run that did not complete says so in its label.
    Non-finite values (a diverged run's loss) end the curve."""
    s = []
    for point, recs in group_by_point(records):
        rec = next((r for r in recs if r.get("replicate", 0) == replicate), recs[0])
        hist = [h for h in rec.get("history") or [] if _is_num(h.get(metric)) and math.isfinite(h[metric])
                and (not logy or h[metric] > 0)]
        if hist:
            label = " ".join(f"{k}={_short(v)}" for k, v in point.items())
            if rec.get("status") not in ("completed", None):
                label += f" ({rec.get('status')})"
            s.append(Series(label, [h[x] for h in hist], [h[metric] * scale for h in hist], style="-"))
    return PlotSpec(file, f"{title}: {what} (seed {replicate})", x, ylabel, s, logy=logy)


def noise_loss_plot(runs, file, title):
    """Smoothed B_simple (pybench.diagnostics) against the training loss, one line per (label,
    record) in ``runs``; log-log, so the x axis reads from high loss (early) to low."""
    s = []
    for label, rec in runs:
        c = history_curve(rec)
        pts = [(v, b) for v, b in (c.curve() if c is not None else []) if v > 0 and b > 0]
        if pts:
            s.append(Series(label, [v for v, _ in pts], [b for _, b in pts], style="-"))
    return PlotSpec(file, f"{title}: noise scale against training loss", "training loss",
                    "B_simple (EMA of each term, step 0 left out)", s, logx=True, logy=True)


def loss_curves_plot(records, file, title, x="epoch", replicate=0):
    """Training loss against ``x`` of one replicate per point (log y)."""
    return curves_plot(records, x, file, title, metric="train_loss", ylabel="training loss", scale=1.0,
                       replicate=replicate, what="training loss", logy=True)
