"""pitfalls: the classic training mistakes as pairs of runs on the same budget, bad vs fixed, and
the measured effect of each fix (one table line per bad-vs-fixed comparison).

The runs ("variants") and the comparisons are listed in ``_pitfall_cases``; this module expands
them into RunSpecs (one point per variant: ``{"variant": NAME}``) and turns the stored records
into the table and plots. A "tuned" side of a comparison is chosen from its candidates' records
by the highest median best validation accuracy, and a test-accuracy line reads every run at the
same checkpoint (its best validation accuracy); effects are paired by seed (replicate), and a line
shows its effect only when the seed bootstrap's 95% interval excludes 0 (pybench.experiments.stats).
"""

import json
import math
import re

from . import _pitfall_cases as cases
from . import stats
from .base import (Column, Experiment, PlotSpec, Series, get, group_by_point, median, spread,
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
        "regularization vs dropout and vs weight decay (each tuned) on 480 training signals with a 256-wide MLP, "
        "60 / 150 epochs (train/test gap); no early stopping vs patience 5 / 10 epochs on val loss (test loss); MSE "
        "vs cross-entropy; plain SGD vs momentum, AdaGrad, RMSprop and Adam, each at its best lr of a small grid. "
        "Grids (full mode): " + _grids_text("full") + ". Selection: a tuned side is the candidate with the highest "
        "median best validation accuracy, and test accuracy is read at each run's best-validation checkpoint "
        "(the final step's for runs that predate it, then on both sides, labelled). Effect = fixed - bad (bad - "
        "fixed for gap and loss), paired by seed: positive means the fix helps; 'shown' only when its 95% "
        "seed-bootstrap interval excludes 0 (docs/protocol.md). Quick: 1 seed; full: 5 seeds (median, "
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

    def headline(self, records, res=None):
        return headline(res or self.analyze(records))

    # ---- analysis ----------------------------------------------------------------------------
    def analyze(self, records):
        extra = []
        for r in records:
            for k in r.get("point") or {}:
                if k != "variant" and k not in extra:
                    extra.append(k)
        subsets = {}
        for r in records:
            key = json.dumps({k: (r.get("point") or {}).get(k) for k in extra}, sort_keys=True)
            subsets.setdefault(key, []).append(r)
        rows = []
        for key in sorted(subsets):
            fixed_axes = json.loads(key)
            by_variant = {}
            for point, recs in group_by_point(subsets[key]):
                by_variant[point.get("variant")] = recs
            for comp in cases.COMPARISONS:
                rows.append({**fixed_axes, **_line(comp, by_variant)})
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
                      Column("seeds", fmt="int", md=False)])
        by_variant = {p.get("variant"): recs for p, recs in group_by_point(records)} if not extra else {}
        return {"columns": columns, "rows": rows, "notes": _notes(rows, records, by_variant),
                "plots": _plots(rows, records, extra), "extra": extra}


# ---- one comparison -----------------------------------------------------------------------------

def _choose(side, by_variant):
    """(variant name or None, candidates run) for a side: a name, or the best tuned candidate."""
    if isinstance(side, str):
        return (side if side in by_variant else None), 1
    run = [c for c in side.candidates if c in by_variant]
    if not run:
        return None, 0

    def score(name):
        m = median([r.get("best_val_acc") for r in by_variant[name]])
        return -1.0 if m is None else m
    return max(run, key=score), len(run)  # ties: the first (smallest) candidate


def _side_text(template, name, n, by_variant):
    if name is None:
        return "(not run)"
    rec = by_variant[name][0]
    p = get(rec, "config.patience")
    lr, m = get(rec, "config.lr"), get(rec, "config.momentum")
    tags = ([f"best of {n}"] if n > 1 else []) + ([f"eff. lr {_eff(lr, m):g}"] if lr is not None and m else [])
    return template.format(v=name + (f" ({'; '.join(tags)})" if tags else ""), p=p)


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


def _line(comp, by_variant):
    _, higher, threshold, kind = cases.METRICS[comp.metric]
    bad, n_bad = _choose(comp.bad, by_variant)
    fixed, n_fixed = _choose(comp.fixed, by_variant)
    sides = {"bad": by_variant.get(bad, []), "fixed": by_variant.get(fixed, [])}
    path, label = _metric(comp, sides)
    row = {"pitfall": comp.pitfall, "bad": _side_text(comp.bad_text, bad, n_bad, by_variant),
           "fixed": _side_text(comp.fixed_text, fixed, n_fixed, by_variant), "metric": label,
           "_metric": comp.metric, "_label": comp.label}
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
                        ("reversed", "Reversed (the 'bad' side better)"), ("n/a", "Not run"),
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

def _notes(rows, records, by_variant):
    notes = ["One line per bad-vs-fixed comparison. Selection: a 'tuned' side (\"best of n\") is the candidate with "
             "the highest median best validation accuracy, and a test-accuracy line reads every run's test accuracy "
             "at the same checkpoint, its best validation accuracy ('test acc @ best val'); runs written before that "
             "checkpoint was recorded are read at their final step on both sides ('test acc (final step)'). The "
             "train-test gap and test loss lines are of the final weights (early stopping: the restored ones), and "
             "so is the test accuracy in their details. Effect: fixed - bad, or bad - fixed for the gap and the test "
             "loss (positive = the fix helps), paired by seed: median, ± half the range, and the 95% seed-bootstrap "
             f"interval of the median ({stats.RESAMPLES:,} resamples of the seeds' differences, fixed RNG seed). "
             "'shown': tie when the interval includes 0; else yes when it lies above 0 and the median exceeds 2 pp "
             "(accuracy, gap) or 0.05 (loss), reversed when it lies below 0 and the median beyond that (the 'bad' side "
             "is better), small when the median is within it; '1 seed': too few to judge. 'at chance': completed, "
             f"but test accuracy below {CHANCE_FACTOR:g}/classes.",
             "eff. lr: the effective learning rate of SGD with momentum, lr / (1 - momentum): with momentum "
             f"{cases.MAIN['momentum']:g}, {_eff(1, cases.MAIN['momentum']):g}x the lr (the dead-ReLU lines run at lr "
             f"{cases.DEAD_LR:g}, effective {_eff(cases.DEAD_LR, cases.MAIN['momentum']):g}; the MSE lines' grid is "
             f"{_eff(1, cases.MAIN['momentum']):g}x in effect too); plain SGD, AdaGrad, RMSprop and Adam have none.",
             "Dead ReLUs: the fraction of ReLU / leaky-ReLU units never positive on 256 training signals at the end, "
             "averaged over layers (leaky units that are never positive still pass a small gradient; ELU is not "
             "counted: '-').",
             "Early stopping restores the weights of the lowest validation loss: its test metrics are those weights'."]
    grids = _grid_note(by_variant)
    if grids:
        notes.append(grids)
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


def _grid_note(by_variant):
    """The tuning grids as run: every Tuned side's candidates with their values (and effective lr)."""
    seen, parts = set(), []
    for comp in cases.COMPARISONS:
        for side in (comp.bad, comp.fixed):
            if not isinstance(side, cases.Tuned) or tuple(side.candidates) in seen:
                continue
            seen.add(tuple(side.candidates))
            run = [c for c in side.candidates if c in by_variant]
            if run:
                stem = re.sub(r"\s*\S*=\S+$", "", run[0])
                parts.append(f"{stem}: {side.what} " + ", ".join(_setting(c, side.what, by_variant) for c in run))
    if not parts:
        return None
    return ("tuning grids as run (eff. lr in brackets where SGD has momentum; the best of each, by median best "
            "validation accuracy, is the side shown): " + "; ".join(parts) + ".")


_FIELDS = {"lr": "lr", "dropout": "dropout", "weight decay": "weight_decay"}


def _setting(name, what, by_variant):
    """A candidate's value of ``what`` from its record's config (else from its name), with the
    effective lr where SGD has momentum."""
    rec = by_variant[name][0]
    v = get(rec, f"config.{_FIELDS.get(what, what)}")
    if v is None:
        found = re.search(r"=(\S+)$", name)
        v = float(found.group(1)) if found else cases.BASE_LR if what == "lr" else None
    m = get(rec, "config.momentum")
    text = "-" if v is None else f"{v:g}"
    return text + (f" ({_eff(v, m):g})" if what == "lr" and v is not None and m else "")


def _plots(rows, records, extra):
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
            name, _ = _choose(side, by_variant)
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
