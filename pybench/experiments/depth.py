"""depth: how the number of hidden layers of an MLP on MNIST-1D trades throughput against
convergence, with and without BatchNorm, He vs small-normal init, and where (and why) training
stops converging: the per-layer weight-gradient norms that the diagnostics record at each
evaluation show the gradient vanishing (or exploding) on its way back to the first layer.

Gradient measures (from each record's ``history[i].diagnostics.grad_norm``, the gradient of the
loss on a fixed batch of 256 training samples, measured without touching the trajectory):
- the Linear layers' weight gradients only (BatchNorm's gamma/beta and the biases are left out);
  layer 1 is the first hidden layer, layer depth + 1 the output layer;
- ``ratio_init``: |dL/dW_1| / |dL/dW_out| at step 0 (the initialization);
- ``ratio_first`` and ``g1_first``: the same ratio, and |dL/dW_1| itself, at the first evaluation
  after step 0 (the end of epoch 1 by default); None ("-") when that evaluation has no finite
  gradient (a run that diverged before it).
"""

import json
import re

from .base import (Column, Experiment, PlotSpec, Series, accuracy_plot, get, group_by_point, median, point_keys,
                   spread, standard_columns, standard_notes, standard_row, targets, throughput_plot)
from .stats import fmt_sci as _sci

NO_NORM = "none"   # the norm axis value meaning "no BatchNorm" (Config.norm None)
_OWN = ("depth", "norm", "init")
# per-run gradient measures (grad_summary), summarized over seeds into each row
GRAD_KEYS = ("ratio_init", "ratio_first", "g1_init", "g1_first", "gout_init", "gout_first", "first_step")


def _norm_label(v):
    return NO_NORM if v in (None, NO_NORM) else str(v)


class Depth(Experiment):
    name = "depth"
    title = "Depth: MLP hidden layers on MNIST-1D, BatchNorm and init"
    description = (
        "An MLP of D hidden ReLU layers of 128 units on MNIST-1D (40-sample signals, 3600 train / 400 val / "
        "1000 test), without or with BatchNorm after each hidden Linear (norm none/batch), initialized with He "
        "normal or a small normal N(0, 0.01^2) (init he_normal / normal(0.01)); SGD with momentum 0.9 at lr 0.05 "
        "(effective lr / (1 - momentum) = 0.5; not re-tuned per depth), batch 128, 40 epochs, one thread per run. "
        "Selection metric: validation accuracy (test accuracy at each run's best-validation checkpoint, the final "
        "step's beside it). Per point: throughput (samples/s, "
        "achieved GFLOP/s), steps and training time to 50% validation accuracy, best validation and test "
        "accuracy, the train/test gap, the gradient noise scale, the dead-ReLU fraction, the status "
        "(converged = reached the target; missed target; collapsed = one predicted class with the loss near "
        "ln 10; diverged = a non-finite loss), and the per-layer weight-gradient norms that show why: "
        "|dL/dW_1| / |dL/dW_out| (first hidden over output layer) at initialization and at the first evaluation "
        "after step 0 (end of epoch 1), and |dL/dW_1| there. Full mode: D = 1, 2, 4, 8, 16, 32 x norm x init, "
        "3 seeds. Quick mode: D = 2, 8, 32, 8 epochs, 1 seed.")
    base = {
        "dataset": "mnist1d", "model": "mlp", "width": 128, "activation": "relu",
        "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 128, "epochs": 40,
        "target_accuracy": 0.5, "noise_scale": True, "noise_batches": 8, "diagnostics": True,
    }
    quick = {"epochs": 8}
    axes = {"depth": [1, 2, 4, 8, 16, 32], "norm": [NO_NORM, "batch"], "init": ["he_normal", "normal(0.01)"]}
    quick_axes = {"depth": [2, 8, 32]}
    seeds = {"quick": 1, "full": 3}

    def point_config(self, point, mode):
        cfg = dict(point)
        if "norm" in cfg:
            cfg["norm"] = None if cfg["norm"] in (None, NO_NORM) else cfg["norm"]
        return super().point_config(cfg, mode)

    # ---- analysis ----------------------------------------------------------------------------
    def analyze(self, records):
        keys = point_keys(records)
        variant_keys = [k for k in ("norm", "init") if k in keys] + [k for k in keys if k not in _OWN]
        groups = group_by_point(records)
        groups.sort(key=lambda g: (tuple(self._rank(k, g[0].get(k)) for k in variant_keys),
                                   _num(g[0].get("depth"))))
        rows = []
        for point, recs in groups:
            row = {**point, **standard_row(recs)}
            if "norm" in row:
                row["norm"] = _norm_label(row["norm"])
            if row["status"] == "ok" and row["reached"] != "-":
                row["status"] = "converged"
            g = [grad_summary(r) for r in recs]
            for key in GRAD_KEYS:
                row[key], row[key + "_spread"] = median([x[key] for x in g]), spread([x[key] for x in g])
            rows.append(row)

        lead = [Column("depth", "depth", "int") if k == "depth" else Column(k)
                for k in [k for k in ("norm", "init", "depth") if k in keys] + [k for k in keys if k not in _OWN]]
        std = standard_columns(md_extra=("dead_fraction",), term=("steps_to_target", "test_acc", "dead_fraction", "status"))
        grads = [Column("ratio_init", "|g1|/|gout| init", ".2g", spread=True, term=False),
                 Column("ratio_first", "|g1|/|gout| ep1", ".2g", spread=True),
                 Column("g1_first", "|g1| ep1", ".2g", spread=True, term=False),
                 Column("g1_init", "|g1| init", ".2g", spread=True, md=False),
                 Column("gout_init", "|gout| init", ".2g", spread=True, md=False),
                 Column("gout_first", "|gout| ep1", ".2g", spread=True, md=False),
                 Column("first_step", "ep1 step", "int", md=False)]
        at = next(i for i, c in enumerate(std) if c.key == "steps")
        columns = lead + std[:at] + grads + std[at:]

        notes = standard_notes(records)
        if records:
            diag = sorted({str(get(r, "config.diag_batch", "?")) for r in records})
            notes.append("|g1|/|gout|: the norm of the loss gradient w.r.t. the first hidden layer's weights over "
                         f"the output layer's, on a fixed batch of {'/'.join(diag)} training samples, at initialization "
                         "('init') and at the first evaluation after step 0 ('ep1': the end of epoch 1 unless eval_every "
                         "says otherwise); |g1| ep1 is the first layer's norm itself. Far below 1: the gradient vanishes "
                         "on its way back; far above: it explodes.")
        notes += self._convergence_notes(rows, variant_keys)
        plots = self._plots(rows, groups, records, variant_keys)
        return {"columns": columns, "rows": rows, "notes": notes, "plots": plots}

    question = "Where does an MLP stop converging, and do BatchNorm and He init move that?"

    def headline(self, records, res=None):
        """Per variant: the deepest depth up to which every depth reached the target, how the next one
        failed (with the seeds that reached it), and the first-layer gradient ratio where it failed."""
        res = res or self.analyze(records)
        keys = [k for k in ("norm", "init") if k in point_keys(records)]
        parts = []
        for label, rs in _variants(res["rows"], keys):
            rs = [r for r in rs if _num(r.get("depth")) is not None]
            ok = [r for r in rs if _reaches(r)]
            bad = [r for r in rs if not _reaches(r)]
            below = [r for r in ok if not bad or r["depth"] < bad[0]["depth"]]
            text = f"{label}: "
            if below:
                text += f"reaches the target up to depth {below[-1]['depth']} ({below[-1]['reached']} seeds)"
                limited = [r["depth"] for r in below if r["status"] == "budget-limited"]
                if limited:
                    text += f" (budget-limited at depth {_depths(limited)}: training loss still falling at the end)"
            if bad:
                first = bad[0]
                runs = (f"; runs: {first['runs']}" if "," in first["runs"]
                        else ", all budget-limited" if "budget-limited" in first["runs"] else "")
                text += ("; " if below else "") + (f"{first['status']} from depth {first['depth']} "
                                                   f"({first['reached']} at the target{runs})")
                ratios = [(_sci(r["ratio_first"], 2) if r["ratio_first"] is not None else _shown(r, "ratio_first"))
                          + f" at {r['depth']}" for r in bad if r["status"] in ("collapsed", "diverged")]
                if len(ratios) > 1:
                    text += f" (|g1|/|gout| after epoch 1: {', '.join(ratios)})"
            elif not below:
                text += "no depth run"
            parts.append(text)
        t = targets(records)
        return (f"Target {100 * t[0]:g}% val accuracy. " if t else "") + ". ".join(parts) if parts else "no runs"

    def _rank(self, key, value):
        """Sort key of a variant axis value: the experiment's own axis order first."""
        if key == "norm":
            value = _norm_label(value)
        order = [(_norm_label(v) if key == "norm" else v) for v in self.axes.get(key, [])]
        if value in order:
            return (0, order.index(value), "")
        return (1, 0, json.dumps(value, sort_keys=True, default=str))

    def _convergence_notes(self, rows, variant_keys):
        """Per variant (norm, init, ...): the depths that converged and where it stops, with the
        gradient ratio from the shallowest to the deepest depth."""
        notes, has_target = [], any(r["reached"] != "-" for r in rows)
        for label, rs in _variants(rows, variant_keys):
            rs = [r for r in rs if _num(r.get("depth")) is not None]
            if not rs:
                continue
            ok = [r["depth"] for r in rs if _reaches(r)]
            bad = [r for r in rs if not _reaches(r)]
            if not has_target and not bad:
                text = f"trains at every depth tried ({_depths([r['depth'] for r in rs])}); no target set"
            elif not bad:
                text = f"reaches the target at every depth tried ({_depths(ok)})"
            elif not ok:
                text = "reaches the target at no depth tried: " + ", ".join(f"depth {r['depth']} {r['status']}"
                                                                            for r in bad)
            else:
                first_bad = min(r["depth"] for r in bad)
                below, again = [d for d in ok if d < first_bad], [d for d in ok if d > first_bad]
                text = (f"reaches the target up to depth {max(below)}; stops at depth {first_bad}: " if below
                        else f"fails from the shallowest depth {first_bad}: ")
                text += ", ".join(f"depth {r['depth']} {r['status']}" for r in bad)
                if again:
                    text += f" (but reaches it again at depth {_depths(again)})"
            limited = [r["depth"] for r in rs if r["status"] == "budget-limited"]
            if limited:
                text += f"; budget-limited (training loss still falling at the end) at depth {_depths(limited)}"
            lo, hi = rs[0], rs[-1]
            if lo is not hi:
                text += "; " + "; ".join(
                    f"{what} {_shown(lo, key)} at depth {lo['depth']} -> {_shown(hi, key)} at depth {hi['depth']}"
                    for key, what in (("ratio_init", "|g1|/|gout| at init"),
                                      ("ratio_first", "|g1|/|gout| after epoch 1"),
                                      ("g1_first", "|g1| after epoch 1")))
                if hi.get("g1_first") == 0:
                    text += " (exactly 0: the gradient underflowed in float32)"
            notes.append(f"{label}: {text}.")
        # the headline: first-layer gradient at the deepest depth across variants
        deepest = max((_num(r.get("depth")) for r in rows if _num(r.get("depth")) is not None), default=None)
        at = [r for r in rows if r.get("depth") == deepest and r.get("g1_first") is not None]
        if deepest is not None and len(at) > 1:
            notes.append(f"depth {deepest}, |g1| after epoch 1: "
                         + "; ".join(f"{_variant_label(r, variant_keys)} {_g(r['g1_first'])}" for r in at) + ".")
        return notes

    def _plots(self, rows, groups, records, variant_keys):
        title = "depth"
        acc = accuracy_plot(rows, "depth", variant_keys, "accuracy_vs_depth.png", title, logx=True,
                            xlabel="hidden layers")
        acc.hlines = [(100 * t, f"target {100 * t:g}%") for t in targets(records)]
        plots = [acc, throughput_plot(rows, "depth", variant_keys, "throughput_vs_depth.png", title, logx=True,
                                      xlabel="hidden layers")]
        steps = []
        for label, rs in _variants(rows, variant_keys):
            pts = [(r["depth"], r["steps_to_target"], r.get("steps_to_target_spread"), r.get("status")) for r in rs
                   if r.get("steps_to_target") is not None]
            gone = [r["depth"] for r in rs if r.get("steps_to_target") is None and _num(r.get("depth")) is not None]
            if pts or gone:
                steps.append(Series(label, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts],
                                    marks=[p[3] for p in pts], missed=gone, missed_label="target not reached"))
        plots.append(PlotSpec("steps_to_target_vs_depth.png", "depth: steps to target (triangles: not reached)",
                              "hidden layers", "steps to target", steps, logx=True, logy=True))
        ratio = []
        for label, rs in _variants(rows, variant_keys):
            for key, when, style in (("ratio_first", "ep1", "o-"), ("ratio_init", "init", "s:")):
                pts = [(r["depth"], r[key]) for r in rs if r.get(key) is not None and r[key] > 0]
                zero = [str(r["depth"]) for r in rs if r.get(key) == 0]
                undef = [str(r["depth"]) for r in rs if r.get(key) is None]
                extra = "".join(f" ({what} at depth {', '.join(ds)})"
                                for what, ds in (("0", zero), ("undefined", undef)) if ds)
                if pts or extra:
                    ratio.append(Series(f"{label} {when}{extra}", [p[0] for p in pts], [p[1] for p in pts],
                                        style=style))
        plots.append(PlotSpec("grad_ratio_vs_depth.png", "depth: first-layer / output-layer weight-gradient norm",
                              "hidden layers", "|dL/dW_1| / |dL/dW_out|", ratio, logx=True, logy=True,
                              hlines=[(1.0, "equal")]))
        # gradient norm against layer index: one plot per variant, one line per depth (median over seeds)
        by_variant = {}
        for point, recs in groups:
            v = _variant_label(point, variant_keys)
            by_variant.setdefault(v, []).append((point, recs))
        for v, items in by_variant.items():
            s = []
            for point, recs in items:
                layers = layer_profile(recs)
                pts = [(i, g) for i, g in layers if g is not None and g > 0]
                zero = sum(1 for _, g in layers if g == 0)
                none = sum(1 for _, g in layers if g is None)
                label = f"depth {point.get('depth')}" + (f" ({zero} layers at exactly 0)" if zero else "") + (
                    f" ({none} layers non-finite or not measured)" if none else "")
                s.append(Series(label, [p[0] for p in pts], [p[1] for p in pts], style="o-"))
            plots.append(PlotSpec(f"grad_norm_vs_layer_{_slug(v)}.png", f"weight-gradient norm per layer, ep1: {v}",
                                  "Linear layer (1 = first hidden, last = output)", "|dL/dW| (log)", s, logy=True))
        # learning curves at the shallowest and the deepest depth, every variant
        depths = sorted({_num(p.get("depth")) for p, _ in groups if _num(p.get("depth")) is not None})
        curves, losses = [], []
        for d in sorted({depths[0], depths[-1]}) if depths else []:
            for point, recs in groups:
                if point.get("depth") != d:
                    continue
                rec = recs[0]
                label = f"depth {d} {_variant_label(point, variant_keys)}" + (
                    "" if rec.get("status") in ("completed", None) else f" ({rec.get('status')})")
                style = "-" if d == depths[-1] else "--"
                hist = [h for h in rec.get("history") or [] if h.get("val_acc") is not None]
                if hist:
                    curves.append(Series(label, [h["epoch"] for h in hist], [100 * h["val_acc"] for h in hist],
                                         style=style))
                # a diverged run's loss ends at its last finite value
                hist = [h for h in rec.get("history") or [] if _num(h.get("train_loss")) is not None
                        and 0 < h["train_loss"] < float("inf")]
                if hist:
                    losses.append(Series(label, [h["epoch"] for h in hist], [h["train_loss"] for h in hist],
                                         style=style))
        plots.append(PlotSpec("curves.png", "depth: validation accuracy (seed 0), shallowest and deepest",
                              "epoch", "val accuracy (%)", curves,
                              hlines=[(100 * t, f"target {100 * t:g}%") for t in targets(records)]))
        plots.append(PlotSpec("loss_curves.png", "depth: training loss (seed 0), shallowest and deepest",
                              "epoch", "training loss", losses, logy=True))
        return plots


# ---- gradient analysis (from stored records alone) --------------------------------------------------

def linear_weight_grads(entry):
    """[(layer number, |dL/dW|), ...] of the Linear layers' weights in one history entry, first hidden
    layer first, output layer last (numbers 1, 2, ...); None norms are kept (non-finite). The Linear
    layers are found from the diagnostics' layer list (op "linear"); without it, every "*.weight"."""
    diag = (entry or {}).get("diagnostics") or {}
    grads = diag.get("grad_norm") or {}
    layers = diag.get("layers")
    if layers:
        idx = sorted(int(l["name"].split(".")[0]) for l in layers if l.get("op") == "linear")
    else:
        idx = sorted(int(k.split(".")[0]) for k in grads if k.endswith(".weight") and k.split(".")[0].isdigit())
    return [(n + 1, grads.get(f"{i}.weight")) for n, i in enumerate(idx)]


def _ratio(layers):
    if len(layers) < 1:
        return None
    first, last = layers[0][1], layers[-1][1]
    if first is None or last is None or last == 0:
        return None
    return first / last


def _first_after_zero(record):
    return next((h for h in record.get("history") or [] if (h.get("step") or 0) > 0 and h.get("diagnostics")), None)


def grad_summary(record):
    """The gradient measures of one run: ratio/first-layer norm at init (step 0) and at the first
    evaluation after step 0, that evaluation's step, the output layer's norm there."""
    hist = record.get("history") or []
    init = next((h for h in hist if h.get("step") == 0), None)
    first = _first_after_zero(record)
    li, lf = linear_weight_grads(init), linear_weight_grads(first)
    return {"ratio_init": _ratio(li), "g1_init": li[0][1] if li else None, "gout_init": li[-1][1] if li else None,
            "ratio_first": _ratio(lf), "g1_first": lf[0][1] if lf else None,
            "gout_first": lf[-1][1] if lf else None, "first_step": first.get("step") if first else None}


def layer_profile(records):
    """[(layer number, median over seeds of |dL/dW|)] at the first evaluation after step 0."""
    per = [dict(linear_weight_grads(_first_after_zero(r))) for r in records]
    n = max((len(p) for p in per), default=0)
    return [(i, median([p.get(i) for p in per])) for i in range(1, n + 1)]


# ---- small helpers ----------------------------------------------------------------------------------

def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _g(v):
    return "-" if v is None else format(v, ".2g")


def _shown(row, key):
    """A row's gradient value for a note; a ratio of two exact zeros is "0/0"."""
    if key.startswith("ratio_") and row.get(key) is None:
        when = key[len("ratio_"):]
        if row.get(f"g1_{when}") == 0 and row.get(f"gout_{when}") == 0:
            return "0/0"
    return _g(row.get(key))


def _depths(ds):
    return ", ".join(str(d) for d in ds)


def _variant_label(point, keys):
    parts = []
    for k in keys:
        v = point.get(k)
        if k == "norm":
            parts.append("BatchNorm" if _norm_label(v) == "batch" else ("no norm" if _norm_label(v) == NO_NORM
                                                                         else f"norm {v}"))
        elif k == "init":
            parts.append(f"init {v}")
        else:
            parts.append(f"{k}={v if isinstance(v, str) else json.dumps(v)}")
    return ", ".join(parts) or "all"


def _reaches(row):
    """Every seed reached the target (or, with no target, the runs completed), whether or not the
    training loss had stopped falling: budget-limited is said beside it, not counted as a failure."""
    if row["status"] in ("converged", "ok"):
        return True
    if row["status"] != "budget-limited":
        return False
    n, _, of = str(row.get("reached", "")).partition("/")
    return of == "" or n == of  # "-": no target set


def _variants(rows, keys):
    """[(label, rows sorted by depth)] per combination of the non-depth axes, in row order."""
    out = {}
    for r in rows:
        out.setdefault(_variant_label(r, keys), []).append(r)
    return [(k, sorted(v, key=lambda r: (_num(r.get("depth")) is None, _num(r.get("depth")) or 0)))
            for k, v in out.items()]


def _slug(text):
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "all"


EXPERIMENT = Depth()
