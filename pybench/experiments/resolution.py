"""resolution: what input resolution does to throughput, convergence and the gradient noise scale,
on MNIST-1D (sequence length) and the 2-D ``shapes`` set (pixels per side), with a CNN whose
parameter count does not depend on the resolution, and a test of the folklore that doubling the
resolution acts on gradient averaging like a 4x larger batch (2x for a 1-D signal: the sample
count per example doubles).

If it did, every example would carry 2^dims times as much independent gradient signal, so the
noise scale B_simple (measured in examples) would fall by 2^dims per doubling, and, at a fixed
batch in the noise-dominated regime, so would the steps to target. The analysis fits the exponent
p of B_simple ~ r^p per dataset (least squares in log-log) and puts it next to the folklore's
-dims.
"""

import math

from ._fit import positive_only
from .base import (Column, Experiment, PlotSpec, Series, accuracy_plot, curves_plot, get, group_by_point,
                   loss_curves_plot, point_keys,
                   series, standard_columns, standard_notes, standard_row, summarize, throughput_plot)

DATASETS = ("mnist1d", "shapes")
DIMS = {"mnist1d": 1, "shapes": 2}
RES = {"mnist1d": {"full": [20, 40, 80, 160], "quick": [20, 40, 80]},
       "shapes": {"full": [8, 16, 32, 64], "quick": [8, 16, 32]}}
# per-dataset Config fields (the budget by mode)
PER_DATASET = {
    "mnist1d": {"target_accuracy": 0.7, "eval_every": 14, "epochs": {"full": 15, "quick": 5}},
    "shapes": {"target_accuracy": 0.25, "n_train": 5000, "n_test": 1000, "eval_every": 35,
               "epochs": {"full": 10, "quick": 4}},
}


def _union(mode):
    return sorted({r for d in DATASETS for r in RES[d][mode]})


class Resolution(Experiment):
    name = "resolution"
    title = "Resolution: MNIST-1D sequence length and shapes image size"
    description = (
        "A CNN of 3 blocks (conv 3 [1-D: 1x3] 'same', BatchNorm, ReLU, max-pool 2; 16, 32, 64 channels) with a "
        "global-average-pool head, so its parameter count is the same at every resolution (the pooled maps "
        "shrink, the weights do not; nor does the receptive field in pixels, so at a higher resolution it covers "
        "less of the input). Data: MNIST-1D at sequence length 20, 40, 80, 160 (the generator's final_seq_length:"
        " the same curves sampled more finely; 3,600 train / 400 val / 1,000 test; target 70% val accuracy; 15 "
        "epochs; evaluated every 14 steps, 1/4 epoch) and the 2-D shapes set at 8, 16, 32, 64 px (the same scenes"
        " rendered at each resolution, per-pixel noise scaled so that more pixels bring no free averaging; 4,500 "
        "train / 500 val / 1,000 test; target 25%, which 8 px images just reach; 10 epochs; evaluated every 35 "
        "steps, 1/2 epoch). Adam, lr 0.002, batch 64, one thread per run. Per point: throughput (samples/s, "
        "GFLOP/s), steps, epochs and time to target, best val and test accuracy, the train/test gap, the gradient"
        " noise scale B_simple (8 batches of 64 per estimate, at every evaluation) averaged over the whole run "
        "and over the evaluations up to the target (matched progress), and the status. The folklore that doubling"
        " the resolution acts like a 4x batch (2x for 1-D) predicts B_simple ~ r^-2 (r^-1 for 1-D) and fewer "
        "steps to target at a fixed batch; the notes give the measured exponents. Full mode: the resolutions "
        "above, 3 seeds. Quick mode: lengths 20, 40, 80 (5 epochs) and 8, 16, 32 px (4 epochs), 1 seed. --set "
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
        return {"dataset": d, "resolution": point["resolution"], "epochs": PER_DATASET[d]["epochs"][mode], **extra}

    def analyze(self, records):
        return analyze(records, self.title)


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


def noise_to_target(record):
    """B_simple over the evaluations from step 0 up to the one that first reached the target: the
    mean of tr(Sigma) over the mean of |G|^2, as the record's own run average (pybench.diagnostics),
    so runs are compared at matched progress. None when the run missed the target or has no
    estimates."""
    t = record.get("target")
    if not t:
        return None
    g2, tr = [], []
    for h in record.get("history") or []:
        if h.get("step") is None or h["step"] > t.get("step", -1):
            continue
        ns = h.get("noise_scale") or {}
        if ns.get("g2") is not None and ns.get("trace_sigma") is not None:
            g2.append(ns["g2"])
            tr.append(ns["trace_sigma"])
    if not g2 or sum(g2) <= 0:
        return None
    return sum(tr) / sum(g2)


def _exponent_text(sub, key, label):
    pts = [(r["resolution"], r[key]) for r in sub if r.get(key) is not None and r[key] > 0]
    p = log_slope([x for x, _ in pts], [y for _, y in pts])
    if p is None:
        return None, None
    return p, (f"{label} ~ r^{p:.2f} (x{2 ** p:.2f} per doubling; {', '.join(f'{y:.3g}' for _, y in pts)} "
               f"at r = {', '.join(str(x) for x, _ in pts)})")


def _folklore_notes(rows):
    notes = []
    for d in sorted({r["dataset"] for r in rows}, key=lambda d: (d not in DATASETS, str(d))):
        sub = sorted((r for r in rows if r["dataset"] == d), key=lambda r: r["resolution"])
        dims = DIMS.get(d, 2)
        folk = -dims
        p_t, t_text = _exponent_text(sub, "noise_target", "B_simple up to the target")
        p_a, a_text = _exponent_text(sub, "noise_scale", "B_simple over the whole run")
        _, s_text = _exponent_text(sub, "steps_to_target", f"steps to target at batch {sub[0].get('batch_size')}")
        p = p_t if p_t is not None else p_a
        if p is None:
            notes.append(f"{d}: fewer than 2 resolutions with a noise scale; no exponent.")
            continue
        parts = [x for x in (t_text, a_text, s_text) if x]
        missed = [r["resolution"] for r in sub if r["steps_to_target"] is None and r["reached"] != "-"]
        if missed:
            parts.append(f"target missed at r = {', '.join(map(str, missed))}")
        if p > folk / 2:
            verdict = (f"B_simple falls far less than the folklore's r^{folk} (x{2.0 ** folk:g} per doubling), or rises: "
                       "here extra resolution does not act like a larger batch")
        elif p < folk * 1.5:
            verdict = f"B_simple falls even faster than the folklore's r^{folk}"
        else:
            verdict = f"B_simple falls roughly as the folklore's r^{folk} says"
        text = f"{d} ({dims}-D): " + "; ".join(parts) + f". Verdict ({'matched progress' if p_t is not None else 'run average'}): {verdict}."
        accs = [r["best_val_acc"] for r in sub if r["best_val_acc"] is not None]
        top = [r for r in sub if r.get("noise_target")][-2:]
        if accs and max(accs) - min(accs) > 0.1:
            text += (f" Caveat: the resolutions differ in what they can reach (best val {100 * min(accs):.0f}% - "
                     f"{100 * max(accs):.0f}%), so at the low ones the target sits nearer the ceiling and their steps and "
                     "B to target include a plateau")
            if len(top) == 2 and top[1]["resolution"] == 2 * top[0]["resolution"]:
                q = top[1]["noise_target"] / top[0]["noise_target"]
                text += (f"; between the two highest resolutions ({top[0]['resolution']} -> {top[1]['resolution']}) "
                         f"B to target changes x{q:.2f} (folklore x{2.0 ** folk:g})")
            text += "."
        notes.append(text)
    return notes


def analyze(records, title="resolution"):
    groups = group_by_point(records)
    extra = [k for k in point_keys(records) if k not in ("dataset", "resolution")]
    rows = []
    for point, recs in groups:
        row = {**point, **standard_row(recs)}
        row["batch_size"] = (recs[0].get("config") or {}).get("batch_size") if recs else None
        row["noise_target"], row["noise_target_spread"] = summarize([noise_to_target(r) for r in recs])
        rows.append(row)
    rows.sort(key=lambda r: (str(r.get("dataset")), str([r.get(k) for k in extra]), _num_or_zero(r.get("resolution"))))
    prev = {}
    for r in rows:
        key = (r.get("dataset"), str([r.get(k) for k in extra]))
        p = prev.get(key)
        r["noise_ratio"] = (r["noise_target"] / p["noise_target"] if p and p["noise_target"] and r["noise_target"]
                            and r["resolution"] == 2 * p["resolution"] else None)
        prev[key] = r
    columns = ([Column("dataset", "dataset"), Column("resolution", "resolution", "int")] + [Column(k) for k in extra]
               + standard_columns(md_extra=("epochs_to_target",),
                                  term=("steps_to_target", "epochs_to_target", "test_acc", "status")))
    at = [c.key for c in columns].index("noise_scale")
    columns[at:at + 1] = [Column("batch_size", "batch", "int", md=False),
                          Column("noise_scale", "B (run avg)", ".3g", spread=True, term=False),
                          Column("noise_target", "B to target", ".3g", spread=True),
                          Column("noise_ratio", "B ratio per doubling", ".2f")]
    notes = standard_notes(records)
    for d in sorted({r["dataset"] for r in rows}, key=str):
        params = sorted({r["params"] for r in rows if r["dataset"] == d and r["params"] is not None})
        if len(params) > 1:
            notes.append(f"{d}: the parameter count differs across resolutions ({', '.join(f'{p:,.0f}' for p in params)}): "
                         "a resolution below 2^depth loses a pooling stage.")
        elif params:
            notes.append(f"{d}: {params[0]:,.0f} parameters at every resolution (global-average-pool head).")
    notes.append("B (run avg): the gradient noise scale B_simple averaged over every evaluation of the run; B to target: "
                 "over the evaluations from step 0 to the first one at or above the target, i.e. at matched progress "
                 "(B_simple grows as the loss falls, so run averages favour runs that learn fast); B ratio per "
                 "doubling: B to target at r over that at r/2 (folklore: 0.5 for 1-D, 0.25 for 2-D).")
    if not extra:
        notes += _folklore_notes(rows)
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
    noise_s = (series(rows, "resolution", "noise_target", "B to target", others)
               + series(rows, "resolution", "noise_scale", "B run avg", others, style="s--"))
    for d in sorted({r["dataset"] for r in rows}, key=str):
        sub = sorted((r for r in rows if r["dataset"] == d and r["noise_target"] is not None), key=lambda r: r["resolution"])
        if len(sub) >= 2 and not extra:
            r0, b0, k = sub[0]["resolution"], sub[0]["noise_target"], DIMS.get(d, 2)
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
    plots = [acc, thr, noise, steps, time_, curves, loss_curves_plot(records, "loss_curves.png", "resolution")]
    for p in plots:
        positive_only(p)
    return {"columns": columns, "rows": rows, "notes": notes, "plots": plots}


def _num_or_zero(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0
