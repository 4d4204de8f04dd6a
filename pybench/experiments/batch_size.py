"""batch-size: steps, examples and wall time to a target accuracy against the batch size, with the
learning rate re-tuned at every batch size (Shallue et al. 2018), the steps/examples trade-off fit
and critical batch size (McCandlish et al. 2018) next to the measured gradient noise scale at the
target (pybench.diagnostics: each term an EMA, step 0 left out), and the batch size that reaches
the target soonest on this machine.

The learning-rate grid is relative: lr = lr_factor * lr_ref(B) with lr_ref(B) = LR_MAX / (1 +
LR_KNEE / B), linear in B for small batches and saturating for large ones (the shape of the
optimal step size in McCandlish et al., eq. 2.6; the constants were read off a coarse scan of this
model at B = 8 ... 512). So the same few factors bracket the optimum at every batch size. The
per-batch-size step budget and evaluation interval follow a rough prior S_est(B) = S_PRIOR +
E_PRIOR / B for the same reason: a ~4% step resolution at every batch size and a budget a few
times what the target should take. The selection and the fit themselves are in ``_fit``; a best
LR on the edge of the factors run asks ``extend`` for the next factor beyond it (``_grid``).
"""

import json
import math

import numpy as np

from . import _fit, _grid, stats
from ..diagnostics import EMA_DECAY, seed_bootstrap
from .base import (CONFIG_FIELDS, Column, Experiment, Extension, PlotSpec, Series, _short, get, group_by_point,
                   noise_at_target, noise_loss_plot, point_keys, standard_columns, standard_notes, standard_row,
                   summarize, targets, throughput_plot)

BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]
LR_MAX, LR_KNEE = 0.4, 256          # lr_ref(B) = LR_MAX / (1 + LR_KNEE / B)
S_PRIOR, E_PRIOR = 50, 13000        # S_est(B) = S_PRIOR + E_PRIOR / B: budget and eval interval
EVALS_TO_TARGET = 25                # evaluations up to S_est(B)
BUDGET = {"quick": 3, "full": 5}    # step budget = BUDGET * S_est(B)
TARGET = 0.6


def lr_ref(batch_size):
    return LR_MAX / (1 + LR_KNEE / batch_size)


def steps_prior(batch_size):
    return S_PRIOR + E_PRIOR / batch_size


def _round_lr(v):
    return float(f"{v:.4g}")


class BatchSize(Experiment):
    name = "batch-size"
    title = "Batch size: steps, examples and time to target, LR re-tuned per batch size"
    description = (
        "An MLP with 2 hidden ReLU layers of 256 units (He init) on MNIST-1D with a 10,000-signal training pool "
        "(9,000 train / 1,000 val / 1,000 test; 40 samples each), plain SGD with momentum 0.9 at a constant "
        "learning rate, one thread per run, until the validation accuracy reaches 60% (stop_at_target). For every "
        "batch size the learning rate is re-tuned over lr = lr_factor * lr_ref(B), lr_ref(B) = 0.4 / (1 + 256/B) "
        "(~linear scaling below B = 256, saturating above): the best LR is the one with the fewest median steps to "
        "target (Shallue et al. 2018; a miss counts as infinitely many steps; ties go to the LR that reached the "
        "target more often, then to the higher best val accuracy, then to the smaller LR; a best LR at the edge "
        "of the grid is extended: `pybench run` adds lr_factor values beyond it by the grid's own ratio (x1.41 full, "
        "x2 quick), one a round, until the best is interior or the next LR diverges or collapses, at most "
        f"{_grid.MAX_ROUNDS} rounds; a batch size left on an edge is marked and kept out of the fit and of the "
        "fastest; docs/protocol.md). The best LR's (steps, examples) pairs are fitted with (S/S_min - 1)(E/E_min - 1) "
        "= 1 (McCandlish et al. 2018; least squares on log steps) giving S_min, E_min and the critical batch size "
        "B_crit = E_min/S_min, shown next to the measured gradient noise scale B_simple at the target (4 batches "
        "per estimate at every evaluation; |G|^2 and tr(Sigma) each an EMA over the evaluations after step 0, "
        f"decay {EMA_DECAY}, then their ratio at the first evaluation at the target; docs/protocol.md). Per batch size: "
        "steps, examples and training time to target, throughput (median over every run of that batch size), accuracy "
        "(selection metric of a run's checkpoint: validation accuracy; test accuracy at the best-validation "
        "checkpoint, the final step's beside it), gap, noise scale; the batch size with the shortest time to "
        "target on this machine is marked only when a seed bootstrap of the best LR's per-seed times separates it "
        "from every other batch size and it reached the target in every seed, else the tied ones are "
        "(docs/protocol.md). With momentum 0.9 the effective learning rate lr / (1 - momentum) is 10 x lr. Step "
        "budget 5 x S_est(B) and ~25 evaluations up to S_est(B), S_est(B) = 50 + 13000/B steps. Full mode: "
        "B = 8 ... 1024 in powers of 2, lr_factor = 0.5, 0.7, 1, 1.4, 2, 5 seeds (200 runs), plus extensions. Quick "
        "mode: B = 16, 64, 256, 1024, lr_factor = 0.7, 1.4, budget 3 x S_est(B), 1 seed (8 runs), plus extensions.")
    base = {
        "dataset": "mnist1d", "n_train": 10000, "model": "mlp", "depth": 2, "width": 256, "activation": "relu",
        "init": "he_normal", "optimizer": "sgd", "momentum": 0.9, "schedule": "constant",
        "target_accuracy": TARGET, "stop_at_target": True, "noise_scale": True, "noise_batches": 4,
        "diagnostics": False,
    }
    axes = {"batch_size": BATCH_SIZES, "lr_factor": [0.5, 0.7, 1, 1.4, 2]}
    quick_axes = {"batch_size": [16, 64, 256, 1024], "lr_factor": [0.7, 1.4]}
    seeds = {"quick": 1, "full": 5}   # the whole 3-seed sweep took 80 s of run time: seeds are cheap

    def specs(self, mode="quick", overrides=None, seeds=None):
        if overrides and "lr" in overrides:
            raise ValueError(f"{self.name}: key 'lr': the learning rate is re-tuned per batch size as lr_factor * "
                             f"lr_ref(B), lr_ref(B) = {LR_MAX} / (1 + {LR_KNEE}/B); set lr_factor=[...] instead")
        return super().specs(mode, overrides, seeds)

    def point_config(self, point, mode):
        b = point["batch_size"]
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"{self.name}: batch_size: expected an int >= 1, got {b!r}")
        f = point["lr_factor"]
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or f <= 0:
            raise ValueError(f"{self.name}: lr_factor: expected a number > 0, got {f!r}")
        s = steps_prior(b)
        cfg = {"batch_size": b, "lr": _round_lr(f * lr_ref(b)),
               "steps": int(math.ceil(BUDGET[mode] * s)), "eval_every": max(1, round(s / EVALS_TO_TARGET))}
        extra = {k: v for k, v in point.items() if k not in ("batch_size", "lr_factor")}
        unknown = [k for k in extra if k not in CONFIG_FIELDS]
        if unknown:
            raise ValueError(f"{self.name}: axis {unknown[0]!r} is not a Config field")
        return {**cfg, **extra}

    def extend(self, records, mode, overrides=None, seeds=None):
        """One more lr_factor beyond the edge at every batch size whose best LR sits on the edge of
        the factors run there (the grid's own ratio; _grid.decide)."""
        out = []
        rows, _, others = batch_rows(records)
        for row in rows:
            d = row["_decision"]
            if d is None or d.next is None:
                continue
            cell = {"batch_size": [row["batch_size"]], "lr_factor": [d.next], **{k: [row.get(k)] for k in others}}
            where = " ".join([f"batch {row['batch_size']}"] + [f"{k}={_short(row.get(k))}" for k in others])
            out.append(Extension("lr_factor", d.best, d.next, self.specs(mode, {**(overrides or {}), **cell}, seeds),
                                 where))
        return out

    # ---- analysis ---------------------------------------------------------------------------
    def analyze(self, records):
        return analyze(records, self.title)

    question = "How do steps to target fall with the batch, and where is the critical batch?"

    def headline(self, records, res=None):
        return headline(res or self.analyze(records), records)


EXPERIMENT = BatchSize()


def _lr(record):
    return get(record, "config.lr")


def _run_view(r):
    t = r.get("target")
    return {"steps": t.get("step") if t else None, "best_val_acc": r.get("best_val_acc")}


def _factor(record):
    return (record.get("point") or {}).get("lr_factor")


def lr_decision(records):
    """Where the best lr_factor of one batch size's runs sits in the factors run (_grid.Decision;
    None when no record has a factor): scored by select_lr's order, the factors of extension runs
    (``extension`` > 0) outside the original grid, those that mostly diverged or collapsed failed."""
    by_f = {}
    for r in records:
        if _num(_factor(r)):
            by_f.setdefault(_factor(r), []).append(r)
    if not by_f:
        return None
    scores, failed, base = {}, [], []
    for f, rs in by_f.items():
        s = _fit.lr_summary([_run_view(r) for r in rs])
        scores[f] = _fit.selection_key(s) if math.isfinite(s["steps"]) else None
        if _grid.unstable(rs):
            failed.append(f)
        if any(not r.get("extension") for r in rs):
            base.append(f)
    return _grid.decide(list(by_f), scores, higher_better=False, failed=failed, base=base)


def _lr_text(sel):
    parts = []
    for lr in sorted(sel["summary"]):
        s = sel["summary"][lr]
        steps = "missed" if not math.isfinite(s["steps"]) else f"{s['steps']:.0f}"
        parts.append(f"{lr:g}: {steps}{'*' if lr == sel['lr'] else ''}")
    return ", ".join(parts)


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt_b(v):
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def batch_rows(records):
    """One row per (batch size, other axes): the best LR's standard metrics (see _fit.select_lr),
    throughput over every completed run of that batch size, and the selection details. Returns
    (rows, {row index: selection})."""
    others = [k for k in point_keys(records) if k not in ("batch_size", "lr_factor")]
    groups = {}
    for point, recs in group_by_point(records):
        key = json.dumps({k: point.get(k) for k in ["batch_size"] + others}, sort_keys=True)
        groups.setdefault(key, ({k: point.get(k) for k in ["batch_size"] + others}, []))[1].extend(recs)
    items = sorted(groups.values(), key=lambda it: (json.dumps([it[0].get(k) for k in others], sort_keys=True),
                                                    it[0]["batch_size"] if _num(it[0]["batch_size"]) else 0))
    rows, sels = [], []
    for point, recs in items:
        by_lr = {}
        for r in recs:
            if _lr(r) is not None:
                by_lr.setdefault(_lr(r), []).append(r)
        sel = _fit.select_lr({lr: [_run_view(r) for r in rs] for lr, rs in by_lr.items()}) if by_lr else None
        chosen = sel["lr"] if sel and sel["lr"] is not None else (sel["fallback"] if sel else None)
        best = by_lr.get(chosen, recs)
        row = {**point, "lr": chosen, **standard_row(best)}
        at = [noise_at_target(r) for r in best]
        # per seed, for the tie rule: a missed target is an infinitely long time
        row["_times"] = [get(r, "target.wall_time", math.inf) for r in best]
        row["_at"] = (sum(1 for r in best if get(r, "target.wall_time") is not None), len(best))
        row["_noise_seeds"] = [p["b_simple"] for p in at if p and p["b_simple"] is not None]
        done = [r for r in recs if r.get("status") == "completed"]
        for key, path in (("samples_per_s", "throughput.samples_per_s"), ("gflops", "throughput.gflops")):
            row[key], row[key + "_spread"] = summarize([get(r, path) for r in done])
        row["throughput_runs"] = len(done)
        row["lrs"] = _lr_text(sel) if sel else "-"
        row["lr_edge"] = (sel or {}).get("edge") or ""
        d = row["_decision"] = lr_decision(recs)
        row["lr_grid"] = d.status if d is not None and d.best is not None else ""  # "": no LR reached the target
        row["lr_factors"] = d.grid_text() if d is not None else ""
        if sel is not None and sel["lr"] is None:
            row["status"] = "missed target (every LR)"
        row["fit_steps"] = None
        row["fastest"] = ""
        rows.append(row)
        sels.append(sel)
    return rows, sels, others


def _subsets(rows, others):
    out = {}
    for i, r in enumerate(rows):
        key = json.dumps([r.get(k) for k in others], sort_keys=True)
        label = " ".join(f"{k}={_short(r.get(k))}" for k in others)
        out.setdefault(key, (label, []))[1].append(i)
    return list(out.values())


def analyze(records, title="batch-size"):
    rows, sels, others = batch_rows(records)
    notes = standard_notes(records)
    notes.append("lr: the best learning rate of the grid at that batch size (fewest median steps to target; a miss "
                 "counts as infinitely many steps; ties: reached more often, then higher best val accuracy, then "
                 "the smaller LR); 'steps per LR' lists every LR tried ('*' = best). The other columns are the best "
                 "LR's runs, except samples/s and GFLOP/s: median over every completed run of that batch size.")
    plots = []
    fits, facts = {}, {}
    for label, idx in _subsets(rows, others):
        sub = [rows[i] for i in idx]
        where = f" ({label})" if label else ""
        ok = [r for r in sub if r["steps_to_target"] is not None and r["samples_to_target"] is not None
              and _lr_claimable(r)]
        fit = _fit.fit_tradeoff([r["steps_to_target"] for r in ok], [r["samples_to_target"] for r in ok])
        fits[label] = fit
        if fit is not None:
            for r in sub:
                if _num(r["batch_size"]) and r["batch_size"] > 0:
                    r["fit_steps"] = _fit.predict_steps(fit, r["batch_size"])
        notes += _fit_notes(fit, sub, ok, where)
        text, noise = _noise_note(fit, sub, where)
        notes.append(text)
        notes += _grid_notes(sub, where)
        for r in sub:
            if r["status"] == "missed target (every LR)":
                notes.append(f"batch {r['batch_size']}{where}: no LR reached the target within the budget; the row "
                             f"shows the LR with the highest best val accuracy ({r['lr']:g}) and is left out of the fit.")
        timed = [r for r in sub if r["time_to_target"] is not None and r["status"] != "missed target (every LR)"
                 and _lr_claimable(r)]
        fastest = None
        if timed:
            # a batch size whose LR optimum is on an edge takes no part in the ranking (only an upper bound)
            ranked = [r for r in sub if _lr_claimable(r)]
            fastest = stats.rank({r["batch_size"]: r["_times"] for r in ranked}, higher=False,
                                 reached={r["batch_size"]: r["_at"] for r in ranked})
            tags = stats.row_tags(fastest, "fastest")
            for r in sub:
                r["fastest"] = tags.get(r["batch_size"], "")
            fast = min(timed, key=lambda r: (r["time_to_target"], r["batch_size"]))
            slow = max(timed, key=lambda r: r["time_to_target"])
            notes.append(stats.judged(fastest, f"shortest time to target on this machine{where} (the best LR's training "
                                               "steps, 1 thread, per seed)", _b, _ms, _bs)
                         + f"; the slowest median is batch {slow['batch_size']} ({slow['time_to_target']:.3g} s), "
                         f"{slow['time_to_target'] / fast['time_to_target']:.2g}x the shortest "
                         f"(batch {fast['batch_size']}, {fast['time_to_target']:.3g} s).")
        facts[label] = {"fit": fit, "noise": noise, "fastest": fastest, "rows": idx}
    columns = ([Column("batch_size", "batch", "int")] + [Column(k) for k in others]
               + [Column("lr", "lr", ".4g"), Column("lrs", "steps per LR", term=False),
                  Column("lr_edge", "LR at grid edge", md=False), Column("lr_grid", "LR optimum", term=False),
                  Column("lr_factors", "lr_factor grid run", md=False)]
               + _columns())
    plots = _plots(rows, sels, others, fits, records, title)
    return {"columns": columns, "rows": rows, "notes": notes, "plots": plots, "facts": facts}


_b, _bs = stats.labelled("batch", "batches")


def _ms(v):
    return f"{1e3 * v:+.0f} ms" if math.isfinite(v) else ("+inf" if v > 0 else "-inf")


def headline(res, records):
    """One line: steps to target from the smallest to the largest batch, the fit's B_crit next to
    B_simple, and the fastest batch under the tie rule (the first subset when --set added axes)."""
    rows, facts = res["rows"], res.get("facts") or {}
    if not rows or not facts:
        return "no runs"
    f = next(iter(facts.values()))
    sub = [rows[i] for i in f["rows"]]
    steps = [r for r in sub if r["steps_to_target"] is not None]
    t = targets(records)
    parts = []
    if steps:
        lo, hi = steps[0], steps[-1]
        parts.append(f"Steps to {100 * t[0]:g}% val accuracy (LR re-tuned per batch): {_steps(lo)} at B = "
                     f"{lo['batch_size']} → {_steps(hi)} at B = {hi['batch_size']}")
    fit, noise = f["fit"], f["noise"]
    if fit is not None:
        text = (f"fit (S/S_min − 1)(E/E_min − 1) = 1: S_min = {fit['s_min']:.3g} steps, E_min = "
                f"{stats.fmt_sci(fit['e_min'])} examples, B_crit = {_fmt_b(fit['b_crit'])}")
        if fit["loo"]:
            text += f" (leave-one-out {_fmt_b(fit['loo'][0])}–{_fmt_b(fit['loo'][1])})"
        if noise:
            text += (f" vs the noise scale at the target B_simple = {_fmt_b(noise['med'])}"
                     + (f" (seed bootstrap {_fmt_b(noise['ci'][0])}–{_fmt_b(noise['ci'][1])})" if noise["ci"] else "")
                     + f": B_crit / B_simple = {fit['b_crit'] / noise['med']:.2g}")
        parts.append(text)
    if f["fastest"] is not None:
        parts.append("shortest time to target on this machine: " + _fastest_text(sub, f["fastest"]))
    return "; ".join(parts) if parts else "no batch size reached the target"


def _steps(row):
    # an LR optimum on a grid edge makes the steps only an upper bound (see _grid_notes)
    s = row.get("steps_to_target_spread")
    return ("" if _lr_claimable(row) else "≤ ") + f"{row['steps_to_target']:.0f}" + (f" ±{s:.0f}" if s else "")


def _fastest_text(sub, verdict):
    """The fastest-batch verdict with the median times (± half the range) of the batches it names."""
    rows = {r["batch_size"]: r for r in sub}

    def t(b):
        r = rows[b]
        s = r.get("time_to_target_spread")
        return f"{1e3 * r['time_to_target']:.0f}" + (f" ±{1e3 * s:.0f}" if s else "") + " ms"
    if verdict.claimed:
        return f"batch {verdict.best} ({t(verdict.best)})"
    if verdict.why == "tie":
        return "tie (" + ", ".join(f"batch {b}: {t(b)}" for b in verdict.tied) + ")"
    return verdict.text(_b, _bs)


def _lr_claimable(row):
    """Whether the row's tuned LR supports a claim (the fit, the fastest batch size): its optimum is
    interior, or bounded by a diverging next LR (_grid.CLAIMABLE)."""
    return not row["lr_grid"] or row["lr_grid"] in _grid.CLAIMABLE


def _edge_word(decision):
    if len(decision.grid) == 1:
        return "the only one"
    return "smallest" if decision.side == "low" else "largest"


def _grid_notes(sub, where):
    """Which lr_factor grid ran at each batch size and where its optimum sits; rows whose optimum is
    on an edge are named, with why the grid stopped there."""
    notes = []
    extended = [r for r in sub if r["_decision"] is not None and len(r["_decision"].grid) > len(r["_decision"].base)]
    if extended:
        notes.append(f"lr_factor grid extended beyond an edge optimum{where} (by the grid's own ratio, at most "
                     f"{_grid.MAX_ROUNDS} rounds; '+' = extension, '*' = best, '(x)' = diverged or collapsed): "
                     + "; ".join(f"batch {r['batch_size']}: {r['lr_factors']} "
                                 f"({r['lr_grid'] or 'no LR reached the target'})" for r in extended) + ".")
    edges = [r for r in sub if not _lr_claimable(r)]
    if edges:
        notes.append(f"best LR at the edge of the grid{where} at batch "
                     + ", ".join(f"{r['batch_size']} ({_edge_word(r['_decision'])}; {r['lr_grid']})" for r in edges)
                     + ": the optimum may lie beyond it, so the steps there are only an upper bound on the tuned "
                     "value; left out of the trade-off fit and of the fastest batch size.")
    bounded = [str(r["batch_size"]) for r in sub if r["lr_grid"] == _grid.NEXT_DIVERGED]
    if bounded:
        notes.append(f"at batch {', '.join(bounded)}{where} the LR next to the best diverged or collapsed: the "
                     "optimum is bounded by instability (kept).")
    return notes


def _columns():
    out = []
    for c in standard_columns(md_extra=("samples_to_target",),
                              term=("steps_to_target", "samples_to_target", "time_to_target", "status")):
        out.append(c)
        if c.key == "steps_to_target":
            out.append(Column("fit_steps", "fit S(B)", "int"))
        if c.key == "time_to_target":
            out.append(Column("fastest", "fastest"))
        if c.key == "gflops":
            out.append(Column("throughput_runs", "throughput runs", "int", md=False))
    return out


def _fit_notes(fit, sub, ok, where):
    if fit is None:
        return [f"trade-off fit{where}: needs the steps to target at 2 or more batch sizes; {len(ok)} available."]
    b_lo, b_hi = fit["b_range"]
    text = (f"trade-off fit{where}, (S/S_min - 1)(E/E_min - 1) = 1 on the best-LR medians of {fit['n']} batch sizes "
            f"(least squares on log S, rms residual {fit['rms_log']:.2g} in log steps): S_min = {fit['s_min']:.3g} steps, "
            f"E_min = {fit['e_min']:.3g} examples, critical batch size B_crit = E_min/S_min = {_fmt_b(fit['b_crit'])}")
    if fit["loo"]:
        text += f" (leave-one-out range {_fmt_b(fit['loo'][0])} - {_fmt_b(fit['loo'][1])})"
    if fit["bound"] == "below":
        text += (f"; S barely depends on B here, so B_crit is only known to lie below the batch sizes tried "
                 f"({b_lo:g})")
    elif fit["bound"] == "above":
        text += (f"; S ~ 1/B throughout (perfect scaling), so B_crit is only known to lie above the batch sizes "
                 f"tried ({b_hi:g})")
    elif not b_lo <= fit["b_crit"] <= b_hi:
        text += f"; outside the batch sizes tried ({b_lo:g} - {b_hi:g}): an extrapolation"
    return [text + "."]


def _noise_note(fit, sub, where):
    """B_simple at the target next to B_crit: the median over batch sizes of each batch size's
    median over seeds, with a seed-bootstrap interval (for the ratio too) and the within-run
    jackknife error. Returns (the note, {"med", "ci", "range"} or None)."""
    groups = [r["_noise_seeds"] for r in sub if r.get("_noise_seeds")]
    if not groups:
        return (f"gradient noise scale B_simple at the target{where}: no best-LR run with an estimate after the "
                "initialization that reached the target."), None
    meds = [float(np.median(g)) for g in groups]
    med = float(np.median(meds))
    ci = seed_bootstrap(groups, lambda ms: float(np.median(ms)))
    text = (f"gradient noise scale B_simple at the target{where} (each best-LR run's |G|^2 and tr(Sigma), each an EMA "
            f"over its evaluations after step 0 with decay {EMA_DECAY}, divided at its first evaluation at the target; "
            f"median over seeds, then over the {len(meds)} batch sizes): {_fmt_b(med)} (per batch size "
            f"{_fmt_b(min(meds))} - {_fmt_b(max(meds))}")
    if ci:
        text += f"; 95% seed-bootstrap interval {_fmt_b(ci[0])} - {_fmt_b(ci[1])}"
    text += ")"
    if fit is not None and med > 0:
        text += f"; B_crit / B_simple = {fit['b_crit'] / med:.2g}"
        if ci and ci[0] > 0:
            text += f" ({fit['b_crit'] / ci[1]:.2g} - {fit['b_crit'] / ci[0]:.2g} over B_simple's interval)"
    ses = [r["noise_se"] for r in sub if r.get("noise_se") is not None]
    text += (f". Within a run, the jackknife over the estimate's batches gives a median standard error of "
             f"{_fmt_b(float(np.median(ses)))}" if ses else
             ". No within-run (jackknife) error: the records hold no per-batch gradient norms, or fewer than 3 batches")
    return text + (". McCandlish et al. predict B_crit ~ B_noise, with B_simple = B_noise for a well-conditioned "
                   "Hessian; B_simple grows as the loss falls, so it is compared at the target. Its curve against "
                   "the training loss: noise_vs_loss.png."), {"med": med, "ci": ci, "range": (min(meds), max(meds))}


def _plots(rows, sels, others, fits, records, title):
    groups = _subsets(rows, others)
    thr = throughput_plot(rows, "batch_size", others, "throughput_vs_batch_size.png", "batch size", logx=True,
                          xlabel="batch size")
    steps_s, pareto_s, time_s = [], [], []
    for label, idx in groups:
        sub = [rows[i] for i in idx if rows[i]["steps_to_target"] is not None]
        # a batch size where every LR missed the target: a triangle on the top edge, not a gap
        gone = [rows[i]["batch_size"] for i in idx if rows[i]["steps_to_target"] is None and _num(rows[i]["batch_size"])]
        tag = f" {label}" if label else ""
        if sub or gone:
            steps_s.append(Series(f"measured (best LR){tag}", [r["batch_size"] for r in sub],
                                  [r["steps_to_target"] for r in sub], [r.get("steps_to_target_spread") for r in sub],
                                  missed=gone, missed_label="no LR reached the target"))
        if sub:
            pareto_s.append(Series(f"measured (best LR){tag}", [r["samples_to_target"] for r in sub],
                                   [r["steps_to_target"] for r in sub], style="o"))
        fit = fits.get(label)
        if fit is not None:
            bs = sorted({rows[i]["batch_size"] for i in idx if _num(rows[i]["batch_size"])})
            steps_s.append(Series(f"fit S_min + E_min/B{tag} (B_crit {_fmt_b(fit['b_crit'])})", bs,
                                  [_fit.predict_steps(fit, b) for b in bs], style="-"))
            steps_s.append(Series(f"S_min{tag}", bs, [fit["s_min"]] * len(bs), style=":"))
            steps_s.append(Series(f"E_min / B{tag}", bs, [fit["e_min"] / b for b in bs], style="--"))
            pts = _fit.tradeoff_pairs(fit["s_min"], fit["e_min"], bs)
            pareto_s.append(Series(f"fit (S/S_min-1)(E/E_min-1)=1{tag}", [e for _, e in pts], [s for s, _ in pts],
                                   style="-"))
        tsub = [rows[i] for i in idx if rows[i]["time_to_target"] is not None]
        gone = [rows[i]["batch_size"] for i in idx if rows[i]["time_to_target"] is None and _num(rows[i]["batch_size"])]
        if tsub or gone:
            time_s.append(Series(f"time to target (best LR){tag}", [r["batch_size"] for r in tsub],
                                 [r["time_to_target"] for r in tsub], [r.get("time_to_target_spread") for r in tsub],
                                 missed=gone, missed_label="no LR reached the target"))
            # a star at the fastest batch, or at each tied one (the tie rule, pybench.experiments.stats)
            fast = [r for r in tsub if r["fastest"] in ("fastest", "fastest (tie)")]
            if fast:
                which = ", ".join(f"{r['batch_size']:g}" for r in fast)
                word = "fastest" if len(fast) == 1 else "tied fastest"
                time_s.append(Series(f"{word}{tag}: batch {which}",
                                     [r["batch_size"] for r in fast], [r["time_to_target"] for r in fast], style="*",
                                     markersize=16))
    steps = PlotSpec("steps_vs_batch_size.png", "batch size: steps to target (LR re-tuned per batch size)",
                     "batch size", "steps to target", steps_s, logx=True, logy=True)
    pareto = PlotSpec("steps_vs_examples.png", "batch size: the steps / examples trade-off",
                      "examples to target", "steps to target", pareto_s, logx=True, logy=True)
    times = PlotSpec("time_vs_batch_size.png", "batch size: training time to target (1 thread)", "batch size",
                     "time to target (s)", time_s, logx=True, logy=True)
    plots = [thr, steps, times, pareto, _curves(rows, sels, records, others), _noise_curves(rows, records, others)]
    return [_fit.positive_only(p) for p in plots]


def _first_best(row, records, others):
    """The best LR's first replicate at a row's batch size (None when there is none)."""
    recs = [r for r in records if _lr(r) == row["lr"]
            and all((r.get("point") or {}).get(k) == row.get(k) for k in ["batch_size"] + others)]
    return min(recs, key=lambda r: (r.get("replicate", 0), r.get("run_id", ""))) if recs else None


def _noise_curves(rows, records, others):
    runs = []
    for row in rows:
        rec = _first_best(row, records, others)
        if rec is not None:
            runs.append((f"B={row['batch_size']}" + "".join(f" {k}={_short(row.get(k))}" for k in others), rec))
    return noise_loss_plot(runs, "noise_vs_loss.png", "batch size (best LR, seed 0, up to the target)")


def _curves(rows, sels, records, others):
    """Training loss against steps of the best LR's first replicate at every batch size."""
    s = []
    for row in rows:
        rec = _first_best(row, records, others)
        if rec is None:
            continue
        hist = [h for h in rec.get("history") or [] if h.get("train_loss") is not None and h.get("step")]
        if hist:
            label = f"B={row['batch_size']} lr={row['lr']:g}" + "".join(f" {k}={_short(row.get(k))}" for k in others)
            s.append(Series(label, [h["step"] for h in hist], [h["train_loss"] for h in hist], style="-"))
    return PlotSpec("curves.png", "batch size: training loss (best LR, seed 0)", "step", "training loss", s,
                    logx=True, logy=True)
