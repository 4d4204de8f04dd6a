"""resolution: what input resolution does to throughput, convergence and the gradient noise scale,
on MNIST-1D (sequence length) and the 2-D ``shapes`` set (pixels per side), with a CNN whose
capacity follows the input (one more conv+pool block per doubling, so its receptive field covers
the whole input at every resolution and the same trunk sees the same map size), and a test of the
folklore that doubling the resolution acts on gradient averaging like a 4x larger batch (2x for a
1-D signal: the sample count per example doubles).

If it did, every example would carry 2^dims times as much independent gradient signal, so the
noise scale B_simple (measured in examples) would fall by 2^dims per doubling, and, at a fixed
batch in the noise-dominated regime, so would the steps to target. B_simple grows as the loss
falls, so the resolutions are compared at matched training loss: every run's smoothed B_simple
(pybench.diagnostics: each term an EMA, step 0 left out) is interpolated at the lowest training
loss every run of the dataset reaches. The analysis fits the exponent p of B_simple ~ r^p per
dataset (least squares in log-log on the medians over seeds, with a seed-bootstrap interval) and
puts it next to the folklore's -dims.
"""

import math

from .. import nn
from ..diagnostics import common_loss_level, history_curve, seed_bootstrap
from ..train import LATE_FRACTION, OK_STATUSES, PLATEAU_TOL, late_drop
from ._fit import positive_only
from .base import (Column, Experiment, PlotSpec, Series, _short, accuracy_plot, curves_plot, get, group_by_point,
                   loss_curves_plot, median, noise_loss_plot, point_keys, series, standard_columns, standard_notes,
                   standard_row, summarize, throughput_plot)

DATASETS = ("mnist1d", "shapes")
DIMS = {"mnist1d": 1, "shapes": 2}
RES = {"mnist1d": {"full": [20, 40, 80, 160], "quick": [20, 40, 80]},
       "shapes": {"full": [8, 16, 32, 64], "quick": [8, 16, 32]}}
# The input size the 3-block trunk is built for (its receptive field, 22, covers it); each doubling
# above it adds one stem block, so the trunk sees the same map size and the receptive field the
# whole input at every resolution (a fixed 22 left 64 px shapes of up to 46 px unseen as a whole).
TRUNK_INPUT = {"mnist1d": 20, "shapes": 8}
# per-dataset Config fields (the budget by mode). Full-mode budgets: long enough for the training loss
# to flatten at every resolution: in trial runs the slowest, shapes 8 px and MNIST-1D 20, took ~70 and
# ~25 epochs; higher resolutions took fewer.
PER_DATASET = {
    "mnist1d": {"target_accuracy": 0.7, "eval_every": 14, "epochs": {"full": 40, "quick": 5}},
    "shapes": {"target_accuracy": 0.25, "n_train": 5000, "n_test": 1000, "eval_every": 35,
               "epochs": {"full": 80, "quick": 4}},
}


def _union(mode):
    return sorted({r for d in DATASETS for r in RES[d][mode]})


def stem_blocks(dataset, resolution):
    """Stem blocks (one per doubling) that bring ``resolution`` down to at most TRUNK_INPUT[dataset]."""
    n = 0
    while resolution > TRUNK_INPUT[dataset] * 2 ** n:
        n += 1
    return n


class Resolution(Experiment):
    name = "resolution"
    title = "Resolution: MNIST-1D sequence length and shapes image size"
    description = (
        "A CNN whose depth follows the input: a trunk of 3 blocks (conv 3 [1-D: 1x3] 'same', BatchNorm, ReLU, "
        "max-pool 2; 16, 32, 64 channels) with a global-average-pool head, built for inputs of 20 samples (MNIST-1D) "
        "/ 8 px (shapes), and in front of it a stem of one more such block (16 channels) per doubling above that, so "
        "the trunk always sees a 20-sample / 8 px map and the receptive field grows with the input: 22, 46, 94, 190 "
        "samples or px, at least the input's size at every resolution (a fixed 3-block net saw 22 px of a 64 px "
        "image holding shapes of up to 46 px). Each stem block adds 816 (1-D) / 2,352 (2-D) parameters: 8,714 to "
        "11,162 and 24,170 to 31,226 from the lowest resolution to the highest (the notes give each point's count and "
        "receptive field). Data: MNIST-1D at sequence length 20, 40, 80, 160 (the generator's final_seq_length: the "
        "same curves sampled more finely; 3,600 train / 400 val / 1,000 test; target 70% val accuracy; 40 epochs, "
        "2,240 steps; evaluated every 14 steps, 1/4 epoch) and the 2-D shapes set at 8, 16, 32, 64 px (the same "
        "scenes rendered at each resolution, per-pixel noise scaled so that more pixels bring no free averaging; "
        "4,500 train / 500 val / 1,000 test; target 25%, which 8 px images just reach; 80 epochs, 5,600 steps, long "
        "enough for the training loss of the slowest, 8 px, to flatten; evaluated every 35 steps, 1/2 epoch). Adam, "
        "lr 0.002, batch 64, one thread per run. A run whose training loss still falls at the end of its budget is "
        "budget-limited (pybench.train: its last 20% of the steps brought > 5% of its drop): the table's status and "
        "the notes say so, and its accuracy is not read as a result about resolution. Per point: throughput "
        "(samples/s, GFLOP/s), steps, epochs and time to target, best val and test accuracy, the train/test gap, the "
        "gradient noise scale B_simple (8 batches of 64 per estimate at every evaluation; |G|^2 and tr(Sigma) each an "
        "EMA over the evaluations after step 0, then their ratio; docs/protocol.md) at the target and at matched "
        "training loss (the lowest loss every run of the dataset reaches), the training loss's drop over the last 20% "
        "of the budget, and the status. The folklore that doubling the resolution acts like a 4x batch (2x for 1-D) "
        "predicts B_simple ~ r^-2 (r^-1 for 1-D) and fewer steps to target at a fixed batch; the notes give the "
        "measured exponents (at matched training loss). Full mode: the resolutions above, 3 seeds. Quick mode: "
        "lengths 20, 40, 80 (5 epochs) and 8, 16, 32 px (4 epochs), 1 seed: budget-limited, a smoke test. --set "
        "resolution=[...] applies one list to every dataset; --set dataset=shapes keeps one.")
    base = {
        "model": "cnn", "depth": 3, "width": 16, "head": "gap", "kernel_size": 3, "activation": "relu",
        "norm": "batch", "init": "he_normal", "optimizer": "adam", "lr": 0.002, "batch_size": 64,
        "noise_scale": True, "noise_batches": 8, "diagnostics": False,
    }
    axes = {"dataset": list(DATASETS), "resolution": _union("full")}
    quick_axes = {"dataset": list(DATASETS), "resolution": _union("quick")}
    seeds = {"quick": 1, "full": 3}

    def points(self, axes, mode):
        """Each dataset at its own resolutions (RES), or, when the resolution axis was overridden,
        at every resolution given."""
        own = axes["resolution"] == self.mode_axes(mode)["resolution"]
        out = []
        for d in axes["dataset"]:
            if d not in DATASETS:
                raise ValueError(f"{self.name}: dataset: expected one of {', '.join(DATASETS)}, got {d!r}")
            for r in (RES[d][mode] if own else axes["resolution"]):
                out.append({"dataset": d, "resolution": r})
        return out

    def point_config(self, point, mode):
        d = point["dataset"]
        extra = {k: v for k, v in PER_DATASET[d].items() if k != "epochs"}
        return {"dataset": d, "resolution": point["resolution"], "epochs": PER_DATASET[d]["epochs"][mode],
                "stem_blocks": stem_blocks(d, point["resolution"]), **extra}

    def analyze(self, records):
        return analyze(records, self.title)

    question = "Does doubling the resolution act like a 4× batch (B_simple ~ r⁻², r⁻¹ in 1-D)?"

    def headline(self, records, res=None):
        return headline(res or self.analyze(records))


EXPERIMENT = Resolution()


def log_slope(xs, ys):
    """Least-squares slope of log y against log x over the positive pairs; None with fewer than 2
    distinct x."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys)
           if x is not None and y is not None and x > 0 and y > 0 and math.isfinite(y)]
    if len({p[0] for p in pts}) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sum((p[0] - mx) ** 2 for p in pts)


def receptive_field(record):
    """The receptive field along the resolution axis (samples or px) of the record's CNN, rebuilt
    from its stored spec; None for another model or a record without one."""
    spec = get(record, "model.spec")
    if get(record, "config.model") != "cnn" or not isinstance(spec, dict):
        return None
    return nn.receptive_field(nn.cnn(**spec))[-1]  # width: the signal's axis in 1-D (H == 1)


def convergence(record):
    """The record's plateau test (pybench.train.late_drop: is the training loss still falling at the
    end of the budget?). Records written before train.py made it get the same test on their
    history when they ran their whole budget; None when it does not apply (stopped early, failed)."""
    if "convergence" in record:
        return record["convergence"]
    total = get(record, "budget.steps")
    if record.get("status") == "completed" and total and record.get("steps") == total and record.get("history"):
        return late_drop(record["history"], total)
    return None


def budget_limited(record):
    c = convergence(record)
    return record.get("status") == "budget-limited" or bool(c and c.get("still_falling"))


def matched_loss(records):
    """The records' smoothed B_simple at one training loss: (level, [value dict or None per record],
    the record that sets the level). The level is the lowest training loss every run that trained to
    the end of its budget (completed or budget-limited: each reached the losses it passed) with an
    estimate reaches (pybench.diagnostics.common_loss_level); each run's value is interpolated
    where its loss first falls to it (NoiseCurve.at_loss)."""
    curves = [history_curve(r) if r.get("status") in OK_STATUSES else None for r in records]
    usable = [(r, c) for r, c in zip(records, curves) if c is not None and c.min_loss() is not None]
    level = common_loss_level([c for _, c in usable])
    if level is None:
        return None, [None] * len(records), None
    setter = max(usable, key=lambda rc: rc[1].min_loss())[0]
    return level, [c.at_loss(level) if c is not None else None for c in curves], setter


def _exponent_text(sub, key, label, boot=False):
    pts = [(r["resolution"], r[key]) for r in sub if r.get(key) is not None and r[key] > 0]
    p = log_slope([x for x, _ in pts], [y for _, y in pts])
    if p is None:
        return None, None
    ci = None
    if boot:  # resample the seeds of each resolution, refit on the medians
        groups = [r["_noise_seeds"] for r in sub if r.get(key) is not None and r[key] > 0]
        xs = [x for x, _ in pts]
        ci = seed_bootstrap(groups, lambda ms: log_slope(xs, ms))
    return p, (f"{label} ~ r^{p:.2f} (" + (f"95% seed-bootstrap interval {ci[0]:.2f} to {ci[1]:.2f}; " if ci else "")
               + f"x{2 ** p:.2f} per doubling; {', '.join(f'{y:.3g}' for _, y in pts)} "
               f"at r = {', '.join(str(x) for x, _ in pts)})")


def _folklore_notes(rows, levels):
    notes = []
    for d in sorted({r["dataset"] for r in rows}, key=lambda d: (d not in DATASETS, str(d))):
        sub = sorted((r for r in rows if r["dataset"] == d), key=lambda r: r["resolution"])
        dims = DIMS.get(d, 2)
        folk = -dims
        level = levels.get(d)
        p_m, m_text = _exponent_text(sub, "noise_matched", f"B_simple at training loss {level:.3g}" if level else
                                     "B_simple at matched loss", boot=True)
        p_t, t_text = _exponent_text(sub, "noise_scale", "B_simple at the target")
        _, s_text = _exponent_text(sub, "steps_to_target", f"steps to target at batch {sub[0].get('batch_size')}")
        p = p_m if p_m is not None else p_t
        if p is None:
            notes.append(f"{d}: fewer than 2 resolutions with a noise scale; no exponent.")
            continue
        parts = [x for x in (m_text, t_text, s_text) if x]
        missed = [str(r["resolution"]) + (" (budget-limited)" if r["budget_limited"] else "") for r in sub
                  if r["steps_to_target"] is None and r["reached"] != "-"]
        if missed:
            parts.append(f"target missed at r = {', '.join(missed)}")
        if p > folk / 2:
            how = "rises with the resolution, against" if p > 0 else "falls far less than"
            verdict = (f"B_simple {how} the folklore's r^{folk} (x{2.0 ** folk:g} per doubling): here extra "
                       "resolution does not act like a larger batch")
        elif p < folk * 1.5:
            verdict = f"B_simple falls even faster than the folklore's r^{folk}"
        else:
            verdict = f"B_simple falls roughly as the folklore's r^{folk} says"
        text = (f"{d} ({dims}-D): " + "; ".join(parts)
                + f". Verdict ({'matched training loss' if p_m is not None else 'at the target'}): {verdict}.")
        # what a resolution can reach is read only off points that trained to a plateau
        accs = [r["best_val_acc"] for r in sub if r["best_val_acc"] is not None and not r["budget_limited"]]
        if accs and max(accs) - min(accs) > 0.1:
            text += (f" Caveat: the resolutions differ in what they can reach (best val {100 * min(accs):.0f}% - "
                     f"{100 * max(accs):.0f}%), so the matched loss is one the weakest resolution reaches late and the "
                     "others early in their training.")
        notes.append(text)
    return notes


def analyze(records, title="resolution"):
    groups = group_by_point(records)
    extra = [k for k in point_keys(records) if k not in ("dataset", "resolution")]
    # one matched level per dataset (and value of any extra axis): losses differ across datasets
    by_group, levels, setters = {}, {}, {}
    for r in records:
        by_group.setdefault((get(r, "point.dataset"), str([get(r, f"point.{k}") for k in extra])), []).append(r)
    matched = {}
    for key, recs in by_group.items():
        level, vals, setter = matched_loss(recs)
        levels[key] = level
        setters[key] = setter
        for r, v in zip(recs, vals):
            matched[id(r)] = (level, v)
    rows = []
    for point, recs in groups:
        row = {**point, **standard_row(recs)}
        row["batch_size"] = (recs[0].get("config") or {}).get("batch_size") if recs else None
        vals = [matched.get(id(r), (None, None))[1] for r in recs]
        row["noise_level"] = next((matched[id(r)][0] for r in recs if id(r) in matched), None)
        row["noise_matched"], row["noise_matched_spread"] = summarize([v["b_simple"] if v else None for v in vals])
        row["noise_matched_se"] = median([v["b_simple_se"] for v in vals if v])
        row["_noise_seeds"] = [v["b_simple"] for v in vals if v and v["b_simple"] is not None]
        row["receptive_field"] = median([receptive_field(r) for r in recs])
        drops = [(convergence(r) or {}).get("late_drop_fraction") for r in recs]
        row["late_drop"], row["late_drop_spread"] = summarize(drops)
        row["budget_limited"] = sum(budget_limited(r) for r in recs)
        if row["budget_limited"] and row["status"] in ("ok", "missed target"):
            row["status"] = "budget-limited"  # a miss or a low accuracy here is the budget's, not the resolution's
        rows.append(row)
    rows.sort(key=lambda r: (str(r.get("dataset")), str([r.get(k) for k in extra]), _num_or_zero(r.get("resolution"))))
    prev = {}
    for r in rows:
        key = (r.get("dataset"), str([r.get(k) for k in extra]))
        p = prev.get(key)
        r["noise_ratio"] = (r["noise_matched"] / p["noise_matched"] if p and p["noise_matched"] and r["noise_matched"]
                            and r["resolution"] == 2 * p["resolution"] else None)
        prev[key] = r
    columns = ([Column("dataset", "dataset"), Column("resolution", "resolution", "int"),
                Column("receptive_field", "receptive field", "int", term=False)] + [Column(k) for k in extra]
               + standard_columns(md_extra=("epochs_to_target",),
                                  term=("steps_to_target", "epochs_to_target", "test_acc", "status")))
    at = [c.key for c in columns].index("status")
    columns[at:at] = [Column("late_drop", "loss drop in last 20%", "pct", spread=True, term=False),
                      Column("budget_limited", "budget-limited runs", "int", md=False)]
    at = [c.key for c in columns].index("noise_scale")
    columns[at:at + 1] = [Column("batch_size", "batch", "int", md=False),
                          Column("noise_scale", "B at target", ".3g", spread=True, term=False),
                          Column("noise_level", "matched train loss", ".3g", term=False),
                          Column("noise_matched", "B at matched loss", ".3g", spread=True),
                          Column("noise_matched_se", "B at matched loss jackknife SE", ".3g", md=False),
                          Column("noise_ratio", "B ratio per doubling", ".2f")]
    notes = standard_notes(records)
    for d in sorted({r["dataset"] for r in rows}, key=str):
        sub = sorted((r for r in rows if r["dataset"] == d), key=lambda r: _num_or_zero(r["resolution"]))
        counted = [(r["resolution"], r["params"]) for r in sub if r["params"] is not None]
        params = sorted({p for _, p in counted})
        if len(params) > 1:
            notes.append(f"{d}: {', '.join(f'{p:,.0f}' for _, p in counted)} parameters at r = "
                         f"{', '.join(str(x) for x, _ in counted)} (x{params[-1] / params[0]:.2f} from the fewest to "
                         "the most): the stem's blocks (one per doubling, each at the first block's width) in front of "
                         "the same trunk.")
        elif params:
            notes.append(f"{d}: {params[0]:,.0f} parameters at every resolution (global-average-pool head).")
        rf = [(r["resolution"], r["receptive_field"]) for r in sub if r["receptive_field"] is not None]
        if rf:
            short = [str(x) for x, f in rf if _num_or_zero(x) > f]
            unit = "samples" if DIMS.get(d) == 1 else "px"
            notes.append(f"{d}: receptive field of the last feature map {', '.join(str(f) for _, f in rf)} {unit} at "
                         f"r = {', '.join(str(x) for x, _ in rf)}: "
                         + (f"smaller than the input at r = {', '.join(short)}, so no unit sees the whole input there "
                            "and a lower accuracy there may be the network's, not the resolution's." if short else
                            "at least the input's size at every resolution, so every object fits in it."))
    limited = [r for r in rows if r["budget_limited"]]
    if limited:
        notes.append(f"Budget-limited (the training loss still fell at the end: its last {100 * LATE_FRACTION:g}% of "
                     f"the steps brought more than {100 * PLATEAU_TOL:g}% of the run's drop): "
                     + "; ".join(f"{r['dataset']} r = {r['resolution']} ({r['budget_limited']}/{r['seeds']} runs"
                                 + (f", {100 * r['late_drop']:.0f}% of the drop" if r["late_drop"] is not None else "")
                                 + ")" for r in limited)
                     + ". Their accuracies, gaps and missed targets are what the budget allowed, not results about "
                     "resolution; B at matched loss is still taken where their loss reached the level.")
    for (d, ex), level in sorted(levels.items(), key=lambda kv: str(kv[0])):
        where = d + ("" if ex == "[]" else f" {ex}")
        if level is None:
            notes.append(f"B at matched loss ({where}): no common training-loss level (a run without a training loss "
                         "or a noise-scale estimate after step 0).")
            continue
        s = setters[(d, ex)]
        n_val = sum(1 for r in by_group[(d, ex)] if (matched[id(r)][1] or {}).get("b_simple") is not None)
        notes.append(f"B at matched loss ({where}): each run's smoothed B_simple where its training loss first falls "
                     f"to {level:.3g}, linear in log loss between the evaluations around the crossing; {level:.3g} is "
                     "the lowest training loss every run that trained to the end of its budget reaches (the minimum of "
                     f"{' '.join(f'{k}={_short(v)}' for k, v in (s.get('point') or {}).items())} seed "
                     f"{s.get('replicate', 0)}); {n_val} of {len(by_group[(d, ex)])} runs have a value there.")
    notes.append("B at target: the smoothed B_simple at the first evaluation at or above the target (runs compared at "
                 "matched accuracy); B ratio per doubling: B at matched loss at r over that at r/2 (folklore: 0.5 for "
                 "1-D, 0.25 for 2-D).")
    if not extra:
        notes += _folklore_notes(rows, {d: lv for (d, ex), lv in levels.items()})
    others = ["dataset"] + extra
    xl = "resolution (sequence length / px per side)"
    acc = accuracy_plot(rows, "resolution", others, "accuracy_vs_resolution.png", "resolution", logx=True, xlabel=xl)
    by_target = {}
    for r in records:
        t = get(r, "config.target_accuracy")
        if t is not None and get(r, "config.dataset") not in by_target.setdefault(t, []):
            by_target[t].append(get(r, "config.dataset"))
    acc.hlines = [(100 * t, f"target {100 * t:g}% ({', '.join(map(str, by_target[t]))})") for t in sorted(by_target)]
    thr = throughput_plot(rows, "resolution", others, "throughput_vs_resolution.png", "resolution", logx=True, xlabel=xl)
    noise_s = (series(rows, "resolution", "noise_matched", "B at matched loss", others)
               + series(rows, "resolution", "noise_scale", "B at target", others, style="s--"))
    for d in sorted({r["dataset"] for r in rows}, key=str):
        sub = sorted((r for r in rows if r["dataset"] == d and r["noise_matched"] is not None),
                     key=lambda r: r["resolution"])
        if len(sub) >= 2 and not extra:
            r0, b0, k = sub[0]["resolution"], sub[0]["noise_matched"], DIMS.get(d, 2)
            noise_s.append(Series(f"folklore r^-{k} from {d} r={r0}", [r["resolution"] for r in sub],
                                  [b0 * (r0 / r["resolution"]) ** k for r in sub], style=":"))
    noise = PlotSpec("noise_scale_vs_resolution.png", "resolution: gradient noise scale at a fixed batch",
                     xl, "B_simple (examples)", noise_s, logx=True, logy=True)
    steps = PlotSpec("steps_vs_resolution.png", "resolution: steps to target at a fixed batch", xl, "steps to target",
                     series(rows, "resolution", "steps_to_target", "steps", others, missing="target not reached"),
                     logx=True)
    time_ = PlotSpec("time_vs_resolution.png", "resolution: training time to target (1 thread)", xl, "time to target (s)",
                     series(rows, "resolution", "time_to_target", "time", others, missing="target not reached"),
                     logx=True, logy=True)
    curves = curves_plot(records, "epoch", "curves.png", "resolution")
    plots = [acc, thr, noise, steps, time_, curves, loss_curves_plot(records, "loss_curves.png", "resolution"),
             _noise_curves(groups, levels)]
    for p in plots:
        positive_only(p)
    return {"columns": columns, "rows": rows, "notes": notes, "plots": plots}


def _noise_curves(groups, levels):
    """Smoothed B_simple against training loss (seed 0 of every point), with the matched levels."""
    runs = []
    for point, recs in groups:
        rec = next((r for r in recs if r.get("replicate", 0) == 0), recs[0])
        runs.append((" ".join(f"{k}={_short(v)}" for k, v in point.items()), rec))
    plot = noise_loss_plot(runs, "noise_vs_loss.png", "resolution (seed 0)")
    ys = [y for s in plot.series for y in s.y if y > 0]
    if ys:
        for (d, ex), level in sorted(levels.items(), key=lambda kv: str(kv[0])):
            if level is not None and level > 0:
                plot.series.append(Series(f"matched loss {d}{'' if ex == '[]' else ' ' + ex} ({level:.3g})",
                                          [level, level], [min(ys), max(ys)], style=":"))
    return plot


def _num_or_zero(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def headline(res):
    """One line: per dataset, the exponent of B_simple at matched training loss with its seed-bootstrap
    interval against the folklore's -dims, and the range of best val accuracy over the resolutions."""
    rows, parts = res["rows"], []
    for d in sorted({r["dataset"] for r in rows}, key=lambda d: (d not in DATASETS, str(d))):
        sub = sorted((r for r in rows if r["dataset"] == d), key=lambda r: r["resolution"])
        pts = [r for r in sub if r.get("noise_matched") is not None and r["noise_matched"] > 0]
        xs = [r["resolution"] for r in pts]
        p = log_slope(xs, [r["noise_matched"] for r in pts])
        folk = -DIMS.get(d, 2)
        text = f"{d}: "
        if p is None:
            text += "no exponent (fewer than 2 resolutions with a noise scale)"
        else:
            ci = seed_bootstrap([r["_noise_seeds"] for r in pts], lambda ms: log_slope(xs, ms))
            text += f"B_simple at matched training loss ~ r^{p:.2f}"
            if ci:
                inside = ci[0] <= folk <= ci[1]
                text += (f" (95% seed bootstrap {ci[0]:.2f} to {ci[1]:.2f}: the folklore's r^{folk} is "
                         + ("inside it" if inside else "outside it") + ")")
        accs = [r for r in sub if r["best_val_acc"] is not None]
        if accs:
            lo, hi = min(accs, key=lambda r: r["best_val_acc"]), max(accs, key=lambda r: r["best_val_acc"])
            text += (f"; best val accuracy {100 * lo['best_val_acc']:.0f}% (r {lo['resolution']}) to "
                     f"{100 * hi['best_val_acc']:.0f}% (r {hi['resolution']})")
        parts.append(text)
    return ". ".join(parts) if parts else "no runs"
