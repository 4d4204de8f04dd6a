"""pitfalls: the classic training mistakes as pairs of runs on the same budget, bad vs fixed, and
the measured effect of each fix (one table line per bad-vs-fixed comparison).

The runs ("variants") and the comparisons are listed in ``_pitfall_cases``; this module expands
them into RunSpecs (one point per variant: ``{"variant": NAME}``) and turns the stored records
into the table and plots. A "tuned" side of a comparison is chosen from its candidates' records
by the highest median best validation accuracy, and a test-accuracy line reads every run at the
same checkpoint (its best validation accuracy); effects are paired by seed (replicate), and a line
shows its effect only when the seed bootstrap's 95% interval excludes 0 (pybench.experiments.stats).
A tuned choice on an edge of its grid asks ``extend`` for the next value beyond it (``_grid``); a
comparison with a side left on an edge draws no claim ("edge: not shown").
"""

import dataclasses
import json
import math

from . import _grid
from . import _pitfall_cases as cases
from . import stats
from .base import (Column, Experiment, Extension, PlotSpec, Series, _short, get, group_by_point, median, spread,
                   standard_notes, status_text)

CHANCE_FACTOR = 1.5      # a completed run whose test accuracy is below 1.5 / classes is "at chance"


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def _values(vs):
    return ", ".join(f"{v:g}" for v in vs)


def _grids_text(mode):
    """The tuning grids of ``mode`` (effective lr in brackets where SGD has momentum)."""
    parts = []
    for key, lrs in cases.LR_GRIDS[mode].items():
        m = cases.OPTIMIZERS.get(key, {}).get("momentum", cases.MAIN["momentum"])
        parts.append(f"{key} lr {_values(lrs)}" + (f" (effective {_values(_eff(lr, m) for lr in lrs)})" if m else ""))
    parts += [f"{k.replace('_', ' ')} {_values(v)}" for k, v in cases.REG_GRIDS[mode].items()]
    return "; ".join(parts)


def _eff(lr, momentum):
    """The effective learning rate of SGD with momentum, lr / (1 - momentum), to 3 digits."""
    return float(f"{lr / (1 - momentum):.3g}")


class Pitfalls(Experiment):
    name = "pitfalls"
    title = "Pitfalls: classic training mistakes, bad vs fixed"
    description = (
        "Each classic pitfall as runs on the same budget, bad vs fixed, on MNIST-1D (40-sample signals, "
        "3600 train / 400 val / 1000 test, standardized unless said otherwise). Base run: an MLP with 2 hidden "
        "ReLU layers of 128 units, He init, SGD with momentum 0.9 at lr 0.03 (effective lr / (1 - momentum) = 0.3), "
        "batch 32, cross-entropy, one thread per run; 4 epochs (quick) / 20 (full). Pitfalls: raw 0-255 inputs; "
        "lr 1.0 and 1e-4 (effective 10 and 1e-3) vs the tuned lr; ReLU on the output vs linear (both MSE on one-hot "
        "targets, each at its tuned lr: the engine's regression target is the one-hot vector); ReLU at lr 0.3 "
        "(effective 3 with momentum 0.9) vs leaky ReLU / ELU at the same lr (dead fraction: units never positive on "
        "256 training signals); zeros and N(0, 0.01) init vs He / Xavier on an 8-layer MLP; 16 layers without vs "
        "with BatchNorm; batch 1024 vs 32 at the same epochs, each at its own tuned lr (batch 1024: "
        f"{_values(cases.LR_GRIDS['full']['batch1024'])}, from the batch-32 lr to its linear scaling); no "
        f"regularization vs dropout and vs weight decay (each tuned) on {cases.SMALL_TRAIN} training signals "
        f"({cases.SMALL_VAL} validation) with a 256-wide MLP, 60 / 150 epochs (train/test gap); no early stopping vs "
        f"stopping after {cases.PATIENCE['quick']} / {cases.PATIENCE['full']} epochs without a gain in validation "
        f"accuracy above {cases.EARLY_STOP['min_delta']:g}, restoring the most accurate weights (test loss); MSE vs "
        "cross-entropy; plain SGD vs momentum, AdaGrad, RMSprop and Adam, each at its best lr of a small grid. "
        "Grids (full mode): " + _grids_text("full") + ". Selection: a tuned side is the candidate with the highest "
        "median best validation accuracy, and test accuracy is read at each run's best-validation checkpoint "
        "(the final step's for runs that predate it, then on both sides, labelled). A tuned value (each optimizer's "
        "lr, the MSE lr with linear and ReLU output, batch 1024's lr, dropout, weight decay) whose best sits on an "
        "edge of its grid is extended by `pybench run`, one value a round: learning rates and weight decay continue "
        "their 1-3-10 steps, dropout goes 0.7, 0.8, 0.9 (p < 1: then a bound) or 0.1, 0.05, until the best is "
        f"interior or the next value diverges or collapses, at most {_grid.MAX_ROUNDS} rounds; a comparison with a "
        "side left on an edge is 'edge: not shown'. Effect = fixed - bad (bad - fixed for gap and loss), paired by "
        "seed: positive means the fix helps; otherwise 'shown' only when its 95% seed-bootstrap interval excludes 0 "
        "(docs/protocol.md). Quick: 1 seed; full: 5 seeds (median, "
        "± half the range).")
    base = {**cases.MAIN, **cases.BUDGETS["main"]["full"]}
    quick = dict(cases.BUDGETS["main"]["quick"])
    axes = {"variant": cases.variant_names("full")}
    quick_axes = {"variant": cases.variant_names("quick")}
    seeds = {"quick": 1, "full": 5}   # the 3-seed sweep took 91 s of run time in all: seeds are cheap

    def points(self, axes, mode):
        return [{"variant": v} for v in axes["variant"]]

    def point_config(self, point, mode):
        return cases.variant_config(point["variant"], mode)

    question = "What does each classic mistake cost on one budget?"

    def extend(self, records, mode, overrides=None, seeds=None):
        """The next value beyond the edge of every tuned choice whose best value sits on an edge of
        the values run (per set of extra axes)."""
        out = []
        _, subsets = _subsets(records)
        for fixed_axes, by_variant in subsets:
            for t in cases.TUNED.values():
                d = tuned_decision(t, by_variant, mode)
                if d is None or d.next is None:
                    continue
                specs = [s for s in self.specs(mode, {**(overrides or {}), "variant": [t.name(d.next)]}, seeds)
                         if all(s.point.get(k) == v for k, v in fixed_axes.items())]
                out.append(Extension(t.label, d.best, d.next, specs,
                                     " ".join(f"{k}={_short(v)}" for k, v in fixed_axes.items())))
        return out

    def headline(self, records, res=None):
        return headline(res or self.analyze(records))

    # ---- analysis ----------------------------------------------------------------------------
    def analyze(self, records):
        mode = _mode(records)
        extra, subsets = _subsets(records)
        rows, grids = [], []
        for fixed_axes, by_variant in subsets:
            for comp in cases.COMPARISONS:
                rows.append({**fixed_axes, **_line(comp, by_variant, mode)})
            grids.append(_grids_note(by_variant, mode, fixed_axes))
        columns = ([Column("pitfall", "pitfall"), Column("bad", "bad", term=False), Column("fixed", "fixed")]
                   + [Column(k) for k in extra]
                   + [Column("metric", "metric"),
                      Column("bad_value", "bad value", spread=True), Column("fixed_value", "fixed value", spread=True),
                      Column("effect", "effect (+ = fix helps)", spread=True),
                      Column("effect_ci", "95% interval", term=False),
                      Column("effect_lo", fmt=".4g", md=False), Column("effect_hi", fmt=".4g", md=False),
                      Column("shown", "shown"),
                      Column("details", "details", term=False),
                      Column("bad_status", md=False), Column("fixed_status", md=False),
                      Column("bad_test_acc", fmt="pct", spread=True, md=False),
                      Column("fixed_test_acc", fmt="pct", spread=True, md=False),
                      Column("bad_dead_fraction", fmt="pct", md=False), Column("fixed_dead_fraction", fmt="pct", md=False),
                      Column("bad_gap", fmt="pct", md=False), Column("fixed_gap", fmt="pct", md=False),
                      Column("bad_steps", fmt="int", md=False), Column("fixed_steps", fmt="int", md=False),
                      Column("bad_tuning", md=False), Column("fixed_tuning", md=False),
                      Column("seeds", fmt="int", md=False)])
        return {"columns": columns, "rows": rows, "notes": _notes(rows, records, [g for g in grids if g]),
                "plots": _plots(rows, records, extra, mode), "extra": extra}


def _mode(records):
    """The records' mode when they share one (which grids the tuned choices started from), else None."""
    modes = {r.get("mode") for r in records}
    return modes.pop() if len(modes) == 1 else None


def _subsets(records):
    """(extra axes, [(their values, {variant: records}), ...]): one set of comparisons per
    combination of the axes added by --set KEY=[...]."""
    extra = []
    for r in records:
        for k in r.get("point") or {}:
            if k != "variant" and k not in extra:
                extra.append(k)
    subsets = {}
    for r in records:
        key = json.dumps({k: (r.get("point") or {}).get(k) for k in extra}, sort_keys=True)
        subsets.setdefault(key, []).append(r)
    out = []
    for key in sorted(subsets):
        out.append((json.loads(key), {point.get("variant"): recs for point, recs in group_by_point(subsets[key])}))
    return extra, out


# ---- one comparison -----------------------------------------------------------------------------

def tuned_decision(tuned, by_variant, mode=None):
    """Where the best of a Tuned choice's values run sits in its grid (_grid.Decision; None when
    none was run): scored by the median best validation accuracy, failed where half or more of a
    value's runs diverged or collapsed, extensions counted beyond the grid of ``mode``."""
    run = tuned.values_run(by_variant, mode)
    if not run:
        return None
    scores = {v: median([r.get("best_val_acc") for r in by_variant[n]]) for v, n in run.items()}
    failed = [v for v, n in run.items() if _grid.unstable(by_variant[n])]
    return _grid.decide(list(run), scores, higher_better=True, failed=failed, base=tuned.base(mode),
                        ladder=tuned.ladder)


def _choose(side, by_variant, mode=None):
    """(variant name or None, values run, Decision or None) for a side: a name, or the best tuned
    value (none scored: the smallest run)."""
    if isinstance(side, str):
        return (side if side in by_variant else None), 1, None
    d = tuned_decision(side, by_variant, mode)
    if d is None:
        return None, 0, None
    if not d.claimable and _flat_at_chance([r for v in d.grid for r in by_variant.get(side.name(v), [])]):
        d = dataclasses.replace(d, status=_grid.FLAT)
    return side.name(d.best if d.best is not None else d.grid[0]), len(d.grid), d


def _flat_at_chance(recs):
    """Every run of every value tried ended at chance (best val accuracy below CHANCE_FACTOR / classes)
    or diverged or collapsed: a tuned side with nothing to find, whatever edge its "best" is on."""
    def at_chance(r):
        acc, c = _value(r, "best_val_acc"), get(r, "data.num_classes")
        return r.get("status") in ("diverged", "collapsed") or (acc is not None and bool(c) and acc < CHANCE_FACTOR / c)
    return bool(recs) and all(at_chance(r) for r in recs)


def _side_text(template, name, n, by_variant, decision=None, lr_knob=False):
    """A side's cell: its variant, "best of n", the effective lr (``lr_knob``: a side that sets its lr)
    and a tuned side's edge status."""
    if name is None:
        return "(not run)"
    rec = by_variant[name][0]
    on = {"val_acc": "val accuracy", "val_loss": "val loss"}.get(get(rec, "config.early_stop_on") or "val_loss")
    lr, m = get(rec, "config.lr"), get(rec, "config.momentum")
    why = (([f"best of {n}"] if n > 1 else []) + ([f"eff. lr {_eff(lr, m):g}"] if lr_knob and lr is not None and m else [])
           + ([decision.status] if decision and (not decision.claimable or decision.status == _grid.FLAT) else []))
    return template.format(v=name + (f" ({'; '.join(why)})" if why else ""), p=get(rec, "config.patience"), on=on,
                           min_delta=get(rec, "config.min_delta") or 0.0)


def _value(rec, path):
    v = get(rec, path)
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def _by_rep(recs, path):
    return {r.get("replicate", 0): _value(r, path) for r in recs}


def _tag(recs, acc_path):
    """Status words for a side's value cell: non-completed statuses, or "at chance" (test accuracy
    at ``acc_path``)."""
    if any(r.get("status") != "completed" for r in recs):
        return status_text(recs)
    classes = [get(r, "data.num_classes") for r in recs]
    accs = [get(r, acc_path) for r in recs]
    chance = [a is not None and c and a < CHANCE_FACTOR / c for a, c in zip(accs, classes)]
    if chance and all(chance):
        return "at chance"
    if any(chance):
        return f"{sum(chance)}/{len(chance)} at chance"
    return ""


def _fmt(v, kind, signed=False):
    if v is None:
        return "-"
    if kind == "pct":
        return f"{100 * v:+.1f} pp" if signed else f"{100 * v:.1f}%"
    return f"{v:+.3g}" if signed else f"{v:.3g}"


def _fmt_spread(s, kind):
    if s is None:
        return ""
    return f" ±{100 * s:.1f}" if kind == "pct" else f" ±{s:.2g}"


def _metric(comp, sides):
    """(record path, label) of a line's metric. Test accuracy is read at the best-validation checkpoint
    when every run on both sides has it, else at every run's final step, labelled so (never mixed)."""
    path = cases.METRICS[comp.metric][0]
    if path in cases.FINAL_PATH:
        recs = sides["bad"] + sides["fixed"]
        if all("selected" in r for r in recs if get(r, cases.FINAL_PATH[path]) is not None):
            return path, comp.metric + " @ best val"
        return cases.FINAL_PATH[path], comp.metric + " (final step)"
    return path, comp.metric


def _shown(effect, threshold):
    """The tie rule on a line's paired effect: "tie" when the 95% interval includes 0; else "yes" (above
    0) or "reversed" (below: the 'bad' side is better) when the median is beyond the threshold, and
    "small" when not; "n/a" without a value, "1 seed" with too few to judge."""
    if effect.median is None:
        return "n/a"
    if effect.n < stats.MIN_SEEDS:
        return f"{effect.n} seed" + ("s" if effect.n != 1 else "")
    if effect.sign == 0:
        return "tie"
    if abs(effect.median) <= threshold:
        return "small"
    return "yes" if effect.sign > 0 else "reversed"


def _line(comp, by_variant, mode=None):
    _, higher, threshold, kind = cases.METRICS[comp.metric]
    bad, n_bad, d_bad = _choose(comp.bad, by_variant, mode)
    fixed, n_fixed, d_fixed = _choose(comp.fixed, by_variant, mode)
    sides = {"bad": by_variant.get(bad, []), "fixed": by_variant.get(fixed, [])}
    path, label = _metric(comp, sides)
    knob = {k: name is not None and ("lr=" in name or getattr(side, "what", None) == "lr")
            for k, side, name in (("bad", comp.bad, bad), ("fixed", comp.fixed, fixed))}
    row = {"pitfall": comp.pitfall, "bad": _side_text(comp.bad_text, bad, n_bad, by_variant, d_bad, knob["bad"]),
           "fixed": _side_text(comp.fixed_text, fixed, n_fixed, by_variant, d_fixed, knob["fixed"]), "metric": label,
           "_metric": comp.metric, "_label": comp.label, "bad_tuning": d_bad.status if d_bad else "",
           "fixed_tuning": d_fixed.status if d_fixed else ""}
    # a tuned side whose optimum may lie beyond its grid: its value, hence the effect, proves nothing
    edges = [f"{side}: {d.status}" for side, d in (("bad", d_bad), ("fixed", d_fixed)) if d and not d.claimable]
    if edges:
        row["_edges"] = edges
    if comp.untuned and isinstance(comp.bad, cases.Tuned) and n_bad == 1:
        row["_note"] = comp.untuned.format(v=bad)
    display, details = {}, []
    # the test accuracy of the weights the line's metric is read at (a gap or loss line: the final ones)
    acc_path = path if comp.metric == "test acc" else "test.acc"
    for side, recs in sides.items():
        vals = list(_by_rep(recs, path).values())
        row[f"{side}_value"], row[f"{side}_value_spread"] = median(vals), spread(vals)
        row[f"{side}_status"] = status_text(recs) if recs else "not run"
        for key, p in (("test_acc", acc_path), ("dead_fraction", "collapse.dead_fraction"), ("gap", "gap"),
                       ("steps", "steps")):
            vs = [_value(r, p) for r in recs]
            row[f"{side}_{key}"] = median(vs)
            if key == "test_acc":
                row[f"{side}_{key}_spread"] = spread(vs)
        if not recs:
            display[f"{side}_value"] = "not run"
            continue
        tag = _tag(recs, acc_path)
        display[f"{side}_value"] = (_fmt(row[f"{side}_value"], kind) + _fmt_spread(row[f"{side}_value_spread"], kind)
                                    + (f" ({tag})" if tag else ""))
    # the effect, paired by replicate: fixed - bad (bad - fixed when lower is better)
    b, f = _by_rep(sides["bad"], path), _by_rep(sides["fixed"], path)
    diffs = [(f[k] - b[k]) * (1 if higher else -1) for k in sorted(set(b) & set(f))
             if b[k] is not None and f[k] is not None]
    effect = stats.paired_effect(diffs)
    row["effect"], row["effect_spread"] = effect.median, spread(diffs)
    row["effect_lo"], row["effect_hi"] = effect.interval or (None, None)
    row["seeds"] = len(diffs)
    display["effect"] = _fmt(row["effect"], kind, signed=True) + _fmt_spread(row["effect_spread"], kind)
    row["effect_ci"] = ("-" if effect.interval is None else
                        f"{_fmt(effect.interval[0], kind, signed=True)} to {_fmt(effect.interval[1], kind, signed=True)}")
    if row["effect"] is None:
        row["shown"] = "n/a"
    elif edges:
        row["shown"] = "edge: not shown"
    else:
        row["shown"] = _shown(effect, threshold)
    for key in comp.details:
        col = "dead_fraction" if key == "dead" else key
        bv, fv = row.get(f"bad_{col}"), row.get(f"fixed_{col}")
        if key == "test_acc":
            details.append(f"test acc {_pct(bv)} → {_pct(fv)}")
        elif key == "dead":
            details.append(f"dead ReLUs {_pct(bv)} → {_pct(fv)}")
        elif key == "steps":
            details.append(f"steps {'-' if bv is None else f'{bv:.0f}'} → {'-' if fv is None else f'{fv:.0f}'}")
    row["details"] = "; ".join(details)
    row["_display"] = display
    return row


def headline(res):
    """One line: the effects shown, those not shown (tie / small) and those reversed, each with its
    median effect; the seeds and the checkpoint the test accuracies are read at."""
    rows = res["rows"]
    if not rows or res.get("extra"):
        return "no table (no runs, or an extra axis)"
    groups = {}
    for r in rows:
        kind = cases.METRICS[r["_metric"]][3]
        what = "" if r["_metric"] == "test acc" else f" ({r['_metric']})"
        text = f"{r['_label']} {_fmt(r['effect'], kind, signed=True)}{what}"
        if r.get("_note"):
            text += " (untuned LR: overstated)"
        b, f = r.get("bad_test_acc"), r.get("fixed_test_acc")
        if r["_metric"] != "test acc" and b is not None and f is not None and f < b - 0.02:
            text += f" (but test acc {_pct(b)} → {_pct(f)})"
        groups.setdefault(r["shown"], []).append(text)
    seeds = sorted({r["seeds"] for r in rows if r["seeds"]})
    parts = []
    for word, title in (("yes", "Shown"), ("tie", "Tie (not shown)"), ("small", "Within the threshold (not shown)"),
                        ("reversed", "Reversed (the 'bad' side better)"),
                        ("edge: not shown", "A tuned side on its grid's edge (not shown)"), ("n/a", "Not run"),
                        ("1 seed", "One seed (not judged)")):
        if groups.get(word):
            parts.append(f"{title}: " + ", ".join(groups[word]))
    acc = {r["metric"] for r in rows if r["_metric"] == "test acc"}
    where = ("at each run's best-validation checkpoint" if acc == {"test acc @ best val"} else
             "at the final step (runs that predate the best-validation checkpoint)" if acc == {"test acc (final step)"}
             else "at the best-validation checkpoint or, where a line's runs predate it, the final step")
    return (f"Effect of each fix, median over {'/'.join(map(str, seeds)) or 0} seeds paired by seed, shown when its "
            f"95% seed-bootstrap interval excludes 0; test accuracy {where}. " + ". ".join(parts))


# ---- notes and plots ----------------------------------------------------------------------------

def _grids_note(by_variant, mode, fixed_axes):
    """One note: every tuned choice run, the values run (with the effective lr where SGD has
    momentum) and where its optimum sits."""
    parts = []
    for t in cases.TUNED.values():
        d = tuned_decision(t, by_variant, mode)
        if d is not None:
            parts.append(f"{t.label} {d.grid_text(_value_text(t))} ({d.status})")
    if not parts:
        return None
    where = " ".join(f"{k}={_short(v)}" for k, v in fixed_axes.items())
    return (f"tuning grids as run{' (' + where + ')' if where else ''}, the values run (eff. lr in brackets where SGD "
            "has momentum; '*' = chosen, by median best validation accuracy, the side shown; '+' = added beyond the "
            f"{mode or 'quick and full'} grid because the best sat on its edge; '(x)' = half or more of its runs "
            "diverged or collapsed): " + "; ".join(parts) + ".")


def _value_text(tuned):
    """How a Tuned choice's values read in the grids note: a learning rate under momentum with its
    effective lr beside it."""
    def fmt(v):
        m = {**cases.MAIN, **cases.FAMILIES[tuned.family], **tuned.fields(v)}.get("momentum")
        return f"{v:g}" + (f" ({_eff(v, m):g})" if tuned.what == "lr" and m else "")
    return fmt


def _notes(rows, records, grids=()):
    notes = ["One line per bad-vs-fixed comparison. Selection: a 'tuned' side (\"best of n\") is the candidate with "
             "the highest median best validation accuracy, and a test-accuracy line reads every run's test accuracy "
             "at the same checkpoint, its best validation accuracy ('test acc @ best val'); runs written before that "
             "checkpoint was recorded are read at their final step on both sides ('test acc (final step)'). The "
             "train-test gap and test loss lines are of the final weights (early stopping: the restored ones), and "
             "so is the test accuracy in their details. Effect: fixed - bad, or bad - fixed for the gap and the test "
             "loss (positive = the fix helps), paired by seed: median, ± half the range, and the 95% seed-bootstrap "
             f"interval of the median ({stats.RESAMPLES:,} resamples of the seeds' differences, fixed RNG seed). "
             "'shown': 'edge: not shown' when a tuned side is on an edge of its grid; else tie when the interval "
             "includes 0; yes when it lies above 0 and the median exceeds 2 pp (accuracy, gap) or 0.05 (loss), "
             "reversed when it lies below 0 and the median beyond that (the 'bad' side is better), small when the "
             "median is within it; '1 seed': too few to judge. 'at chance': completed, but test accuracy below "
             f"{CHANCE_FACTOR:g}/classes.",
             "eff. lr: the effective learning rate of SGD with momentum, lr / (1 - momentum): with momentum "
             f"{cases.MAIN['momentum']:g}, {_eff(1, cases.MAIN['momentum']):g}x the lr (the dead-ReLU lines run at lr "
             f"{cases.DEAD_LR:g}, effective {_eff(cases.DEAD_LR, cases.MAIN['momentum']):g}; the MSE lines' grid is "
             f"{_eff(1, cases.MAIN['momentum']):g}x in effect too); plain SGD, AdaGrad, RMSprop and Adam have none.",
             "Dead ReLUs: the fraction of ReLU / leaky-ReLU units never positive on 256 training signals at the end, "
             "averaged over layers (leaky units that are never positive still pass a small gradient; ELU is not "
             "counted: '-')."]
    watched = {get(r, "config.early_stop_on") or "val_loss" for r in records if get(r, "config.patience") is not None}
    if watched:  # records made before early stopping watched accuracy restored the lowest loss
        notes.append("Early stopping restores the weights of "
                     + " or ".join("the highest validation accuracy" if w == "val_acc" else "the lowest validation loss"
                                   for w in sorted(watched, reverse=True))
                     + ": its test metrics are those weights'.")
    notes.append("Tuned choices on an edge of their grid: `pybench run` adds the next value beyond the edge "
                 "(learning rates and weight decay on 1-3-10 steps, dropout 0.7, 0.8, 0.9 up or 0.1, 0.05 down) until "
                 "the best is interior or the next value diverges or collapses ('edge (next diverged)': an optimum "
                 f"bounded by instability), at most {_grid.MAX_ROUNDS} rounds; a comparison with a side still on an "
                 "edge (round limit, a bound of the ladder, or not extended) is 'edge: not shown': its effect proves "
                 "nothing.")
    notes += list(grids)
    edged = [f"{r['_label']} ({'; '.join(r['_edges'])})" for r in rows if r["shown"] == "edge: not shown"]
    if edged:
        notes.append("no claim drawn (a tuned side on an edge of its grid) for: " + ", ".join(edged) + ".")
    missing = sorted({r["pitfall"] for r in rows if r["shown"] == "n/a"})
    if missing:
        notes.append("not run (no effect measured): " + "; ".join(missing) + ".")
    for word, what in (("tie", "tie (the 95% interval of the effect includes 0)"),
                       ("small", "small (the interval excludes 0, the median is within the threshold)"),
                       ("reversed", "reversed (the 'bad' side is better beyond the seed spread)")):
        these = [f"{r['_label']} ({_effect_text(r)})" for r in rows if r["shown"] == word]
        if these:
            notes.append(f"{what}: " + ", ".join(these) + ".")
    for r in rows:
        b, f = r.get("bad_test_acc"), r.get("fixed_test_acc")
        if r["_metric"] != "test acc" and r["shown"] in ("yes", "small", "1 seed") and b is not None and f is not None \
                and f < b - 0.02:
            notes.append(f"{r['_label']}: the {r['metric']} improves but test accuracy falls ({_pct(b)} → {_pct(f)}).")
    notes += list(dict.fromkeys(r["_note"] for r in rows if r.get("_note")))
    return notes + standard_notes(records)


def _effect_text(row):
    kind = cases.METRICS[row["_metric"]][3]
    return "-" if row["effect"] is None else (_fmt(row["effect"], kind, True) + ", 95% interval " + row["effect_ci"])


def _plots(rows, records, extra, mode=None):
    plots = []
    if rows:
        # with extra axes (--set KEY=[...]) each line's label names its values
        labels = [" ".join([r["_label"]] + [f"{k}={r.get(k)}" for k in extra]) for r in rows]
        series = []
        for side, style in (("bad", "v"), ("fixed", "o")):
            pts = [(lbl, r[f"{side}_test_acc"], r.get(f"{side}_test_acc_spread"), _worst(r.get(f"{side}_status")))
                   for lbl, r in zip(labels, rows)]
            gone = [p[0] for p in pts if p[1] is None]
            pts = [p for p in pts if p[1] is not None]
            if pts or gone:
                series.append(Series(side, [p[0] for p in pts], [100 * p[1] for p in pts],
                                     [None if p[2] is None else 100 * p[2] for p in pts], style=style,
                                     marks=[p[3] for p in pts], missed=gone, missed_label="not run or failed"))
        final = all(r["metric"] != "test acc @ best val" for r in rows)
        plots.append(PlotSpec("bad_vs_fixed.png", "pitfalls: test accuracy, bad vs fixed", "comparison",
                              "test accuracy (%), final step" if final else
                              "test accuracy (%) @ best val (gap, loss lines: final)",
                              series, hlines=[(10.0, "chance (10 classes)")]))
    by_variant = {p.get("variant"): recs for p, recs in group_by_point(records)} if not extra else {}
    for file, (title, x, metric, sides) in cases.CURVES.items():
        series = []
        for side in sides:
            name = _choose(side, by_variant, mode)[0]
            if name is None:
                continue
            rec = min(by_variant[name], key=lambda r: r.get("replicate", 0))
            hist = [h for h in rec.get("history") or [] if h.get(metric) is not None]
            if hist:
                scale = 100.0 if metric == "val_acc" else 1.0
                series.append(Series(name + ("" if rec.get("status") == "completed" else f" ({rec.get('status')})"),
                                     [h[x] for h in hist], [h[metric] * scale for h in hist], style=".-"))
        ylabel = "validation accuracy (%)" if metric == "val_acc" else "validation loss"
        if metric != "val_acc":  # losses span decades (raw 0-255 inputs start in the hundreds)
            for s in series:
                keep = [i for i, y in enumerate(s.y) if 0 < y < math.inf]
                s.x, s.y = [s.x[i] for i in keep], [s.y[i] for i in keep]
        plots.append(PlotSpec(file, f"pitfalls: {title} (seed 0)", x, ylabel, series, logy=metric != "val_acc"))
    return plots


def _worst(status):
    """The status word that marks a side's point: its worst run's ("2 completed, 1 collapsed" ->
    "collapsed"), None when every run completed."""
    for s in ("failed", "diverged", "collapsed"):
        if status and s in status:
            return s
    return None


EXPERIMENT = Pitfalls()
