"""width: how the hidden width of an MLP on MNIST-1D trades throughput against accuracy and speed
of convergence."""

import math

from . import stats
from ._fit import positive_only
from .base import (Column, Experiment, PlotSpec, accuracy_plot, curves_plot, get, group_by_point, loss_curves_plot,
                   point_keys, series, standard_columns, standard_notes, standard_row, targets, test_acc_values,
                   throughput_plot, TERM_DEFAULT)


class Width(Experiment):
    name = "width"
    title = "Width: MLP hidden units on MNIST-1D"
    description = (
        "An MLP with 2 hidden ReLU layers of W units (He init) on MNIST-1D (40-sample signals, 3600 train / "
        "400 val / 1000 test), SGD with momentum 0.9 at lr 0.1 (effective lr / (1 - momentum) = 1; not re-tuned "
        "per width), batch 128, 30 epochs, one thread per run. Selection metric: validation accuracy; the test "
        "accuracy is reported at each run's best-validation checkpoint, the final step's beside it. Per width: "
        "throughput (samples/s, achieved GFLOP/s of forward+backward), steps, epochs, samples and training time "
        "to 60% validation accuracy, best validation and test accuracy, the train/test gap, the gradient noise "
        "scale B_simple and the status. The highest test accuracy, the highest GFLOP/s and the shortest time to "
        "target are named only when a seed bootstrap separates them from every other width (and, for time, the "
        "width reached the target in every seed); else 'tie' (docs/protocol.md). Full mode: W = 16 ... 2048 in "
        "powers of 2, 5 seeds. Quick mode: W = 32, 128, 512, 15 epochs, 1 seed.")
    base = {
        "dataset": "mnist1d", "model": "mlp", "depth": 2, "activation": "relu", "init": "he_normal",
        "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "batch_size": 128, "epochs": 30,
        "target_accuracy": 0.6, "noise_scale": True, "noise_batches": 8,
    }
    quick = {"epochs": 15}
    axes = {"width": [16, 32, 64, 128, 256, 512, 1024, 2048]}
    quick_axes = {"width": [32, 128, 512]}
    seeds = {"quick": 1, "full": 5}   # ~9 s per seed at every width but 2048 (~60 s): seeds are cheap

    def analyze(self, records):
        rows = [{**point, **standard_row(recs)} for point, recs in group_by_point(records)]
        extra = [k for k in point_keys(records) if k != "width"]  # axes added by --set KEY=[...]
        columns = ([Column("width", "width", "int")] + [Column(k) for k in extra]
                   + standard_columns(term=("params", "best_val_acc") + TERM_DEFAULT))
        notes = standard_notes(records)
        verdicts = width_verdicts(records) if rows and not extra else {}
        for key, word in (("test_acc", "highest test acc"), ("gflops", "highest GFLOP/s"),
                          ("time_to_target", "fastest to target")):
            v = verdicts.get(key)
            for r in rows:
                tag = stats.row_tags(v, word).get(r["width"]) if v else None
                if tag:
                    r["claims"] = "; ".join(filter(None, [r.get("claims"), tag]))
        notes += [text for _, text in sorted((verdicts.get("_text") or {}).items())]
        columns.insert(next(i for i, c in enumerate(columns) if c.key == "seeds"), Column("claims", "claims", term=False))
        acc = accuracy_plot(rows, "width", extra, "accuracy_vs_width.png", "width", logx=True, xlabel="hidden width")
        acc.hlines = [(100 * t, f"target {100 * t:g}%") for t in targets(records)]
        # steps (left) and training time (right) to the target; a width that missed it sits on the top edge
        steps = PlotSpec("steps_vs_width.png", "width: steps and training time to target (1 thread)", "hidden width",
                         "steps to target",
                         series(rows, "width", "steps_to_target", "steps", extra, missing="target not reached")
                         + series(rows, "width", "time_to_target", "time (s)", extra, axis="right", style="s--"),
                         logx=True, logy=True, y2label="training time to target (s)")
        plots = [acc,
                 throughput_plot(rows, "width", extra, "throughput_vs_width.png", "width", logx=True, xlabel="hidden width"),
                 positive_only(steps),
                 curves_plot(records, "epoch", "curves.png", "width"),
                 loss_curves_plot(records, "loss_curves.png", "width")]
        return {"columns": columns, "rows": rows, "notes": notes, "plots": plots, "verdicts": verdicts}

    question = "What does width buy in accuracy, and what does it cost?"

    def headline(self, records, res=None):
        res = res or self.analyze(records)
        rows, v = res["rows"], res.get("verdicts") or {}
        if not rows or not v:
            return "no table (no runs, or an extra axis)"
        lo, hi = rows[0], rows[-1]
        label = v["_acc_label"]
        acc = {r["width"]: r["test_acc"] if label.startswith("test acc @") else r["test_acc_final"] for r in rows}
        spr = {r["width"]: r["test_acc_spread"] if label.startswith("test acc @") else r["test_acc_final_spread"]
               for r in rows}
        missed = [r["width"] for r in rows if r["steps_to_target"] is None and r["reached"] != "-"]
        top = max((r for r in rows if r.get("gflops") is not None), key=lambda r: r["gflops"], default=None)
        pct = (lambda w: "-" if acc[w] is None else f"{100 * acc[w]:.1f}%"
               + (f" ±{100 * spr[w]:.1f}" if spr[w] is not None else ""))
        text = (f"{label[0].upper() + label[1:]} {pct(lo['width'])} at width {lo['width']} → {pct(hi['width'])} at "
                f"{hi['width']}" + (f" ({_ws(missed) if len(missed) > 1 else _w(missed[0])} missed the "
                                   f"{100 * targets(records)[0]:g}% target)" if missed and targets(records) else "")
                + f"; highest: {v['test_acc'].text(_w, _ws)}")
        if top is not None:
            pm = f" ±{_g(top['gflops_spread'])}" if top.get("gflops_spread") is not None else ""
            text += (f". GFLOP/s {_g(lo['gflops'])} → {_g(top['gflops'])}{pm} at "
                     f"{top['width']} (highest: {v['gflops'].text(_w, _ws)}) while samples/s fall "
                     f"{_g(lo['samples_per_s'])} → {_g(hi['samples_per_s'])}")
        if "time_to_target" in v:
            text += (f"; shortest time to target: {v['time_to_target'].text(_w, _ws)}"
                     f"{_time_of(rows, v['time_to_target'])}")
        return text


_w, _ws = stats.labelled("width", "widths")
_g = stats.fmt_sci


def _ms(v):
    return f"{1e3 * v:+.0f} ms" if math.isfinite(v) else ("+inf" if v > 0 else "-inf")


def _pp(v):
    return f"{100 * v:+.1f} pp"


def _time_of(rows, verdict):
    """" (T ±S)" of the width a verdict names (its winner, or the winner among those at the target)."""
    v = verdict.among_complete if verdict.why == "missed target" and verdict.among_complete else verdict
    r = next((r for r in rows if r["width"] == v.best), None)
    if r is None or r.get("time_to_target") is None or not (v.claimed or v.why == "tie"):
        return ""
    return f" ({1e3 * r['time_to_target']:.0f} ms" + (f" ±{1e3 * r['time_to_target_spread']:.0f}"
                                                   if r.get("time_to_target_spread") is not None else "") + ")"


def width_verdicts(records):
    """The tie rule (pybench.experiments.stats) on the widths' per-seed test accuracy (at the
    best-val checkpoint, or every run's final step when some run predates it), GFLOP/s, and time to
    target (a missed target counts as infinitely long; the winner must reach it in every seed);
    with the notes' sentences under "_text"."""
    groups = group_by_point(records)
    label, accs = test_acc_values(records)
    acc_of = dict(zip(map(id, records), accs))
    acc = {p["width"]: [acc_of[id(r)] for r in recs] for p, recs in groups}
    gflops = {p["width"]: [get(r, "throughput.gflops") for r in recs] for p, recs in groups}
    time = {p["width"]: [get(r, "target.wall_time", math.inf) for r in recs] for p, recs in groups}
    at = {p["width"]: (sum(1 for r in recs if get(r, "target.wall_time") is not None), len(recs)) for p, recs in groups}
    out = {"test_acc": stats.rank(acc), "gflops": stats.rank(gflops), "_acc_label": label}
    text = {"1": stats.judged(out["test_acc"], f"highest {label} (median over seeds)", _w, _pp, _ws),
            "2": stats.judged(out["gflops"], "highest GFLOP/s", _w, lambda v: f"{v:+.3g} GFLOP/s", _ws)}
    if targets(records):
        out["time_to_target"] = stats.rank(time, higher=False, reached=at)
        text["3"] = stats.judged(out["time_to_target"], "shortest training time to target", _w, _ms, _ws)
    text["4"] = (f"a width is named only when the 95% seed-bootstrap interval ({stats.RESAMPLES:,} resamples, fixed "
                 "seed) of its difference of medians with every other width excludes 0; 'tie' lists those it does not "
                 "separate (docs/protocol.md).")
    out["_text"] = {k: t if t.endswith(".") else t + "." for k, t in text.items()}
    return out


EXPERIMENT = Width()
