"""Pure analysis helpers of the batch-size experiment: the steps/examples trade-off fit of
McCandlish et al. 2018 ("An Empirical Model of Large-Batch Training") and the per-batch-size
learning-rate selection of Shallue et al. 2018 ("Measuring the Effects of Data Parallelism on Neural Network
Training"); also ``positive_only``, a plot helper both batch-size and resolution use. No I/O, no
training: numbers in, numbers out.

The trade-off. Training to a fixed target takes S optimizer steps and E = B * S examples at batch
size B; McCandlish et al. find

    (S / S_min - 1) (E / E_min - 1) = 1,

which is the same as S(B) = S_min + E_min / B (and E(B) = E_min + S_min * B): small batches are
example-efficient (E -> E_min, perfect scaling S ~ E_min / B), large ones step-efficient (S ->
S_min), and the two regimes meet at the critical batch size B_crit = E_min / S_min, where training
takes 2 S_min steps and 2 E_min examples. ``fit_tradeoff`` fits that curve by least squares on
log S (the steps span decades; a relative error is what matters), profiling over B_crit: for a
fixed B_crit the best log S_min is the mean of log S_i - log(1 + B_crit / B_i), so the fit is a
1-D minimization (a log-spaced scan, then golden-section refinement), exact on noise-free data and
with no starting guess to get wrong. A B_crit at the scan's edge means the data show one regime
only (S flat: B_crit below the batches tried; S ~ 1/B: above them) and is reported as a bound.

The selection. For every batch size the learning rate with the fewest (median over seeds) steps to
the target wins; a run that missed its target (or diverged, collapsed, failed) counts as +inf
steps, so an LR whose median run missed cannot win. Ties (evaluations are discrete, so equal step
counts happen) go to the LR whose runs reached the target more often, then to the higher median
best validation accuracy, then to the smaller LR. A batch size where no LR reached the target has
no best LR (it is reported as missed and left out of the fit); a best LR at the edge of the grid
is flagged, since the true optimum may lie outside it.
"""

import math

# B_crit is searched over [min B / SPAN, max B * SPAN]; an optimum within EDGE of either end is a bound
SPAN = 1e4
EDGE = 1e3
_SCAN = 801


def _finite_pos(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _profile(log_b, log_s, t):
    """(sum of squared log residuals, log S_min) at log B_crit = t."""
    bc = math.exp(t)
    shape = [math.log1p(bc / math.exp(lb)) for lb in log_b]
    a = sum(ls - sh for ls, sh in zip(log_s, shape)) / len(log_s)
    return sum((ls - a - sh) ** 2 for ls, sh in zip(log_s, shape)), a


def _minimize(log_b, log_s, lo, hi):
    ts = [lo + (hi - lo) * i / (_SCAN - 1) for i in range(_SCAN)]
    vals = [_profile(log_b, log_s, t)[0] for t in ts]
    i = min(range(_SCAN), key=lambda k: (vals[k], k))
    a, b = ts[max(i - 1, 0)], ts[min(i + 1, _SCAN - 1)]
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _profile(log_b, log_s, c)[0], _profile(log_b, log_s, d)[0]
    for _ in range(200):
        if b - a < 1e-12:
            break
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _profile(log_b, log_s, c)[0]
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _profile(log_b, log_s, d)[0]
    t = (a + b) / 2
    best = min((vals[i], ts[i]), (_profile(log_b, log_s, t)[0], t))
    return best[1]


def fit_tradeoff(steps, examples):
    """Fit (S/S_min - 1)(E/E_min - 1) = 1 to (steps, examples) pairs (one per batch size; the batch
    size is E / S). Pairs with a missing or non-positive value are skipped.

    Returns None with fewer than 2 usable pairs (or a single batch size), else a dict:
    ``s_min``, ``e_min``, ``b_crit`` (= e_min / s_min), ``n`` (pairs used), ``rms_log`` (root mean
    square residual of log S), ``bound`` (None; "below" when B_crit is far below the smallest batch
    (S flat: b_crit, e_min are then upper bounds), "above" when far above the largest (S ~ 1/B:
    b_crit a lower bound, s_min an upper bound)), ``b_range`` ([min B, max B]) and ``loo`` ([min, max]
    of B_crit over leave-one-out refits, with >= 4 pairs, else None). ``predict_steps(fit, B)``
    evaluates the fitted curve."""
    pairs = [(float(s), float(e)) for s, e in zip(steps, examples) if _finite_pos(s) and _finite_pos(e)]
    if len(pairs) < 2:
        return None
    bs = [e / s for s, e in pairs]
    if max(bs) / min(bs) < 1 + 1e-9:
        return None
    res = _fit(bs, [s for s, _ in pairs])
    if len(pairs) >= 4:
        loo = [_fit(bs[:i] + bs[i + 1:], [s for s, _ in pairs[:i] + pairs[i + 1:]])["b_crit"] for i in range(len(pairs))]
        res["loo"] = [min(loo), max(loo)]
    else:
        res["loo"] = None
    return res


def _fit(bs, ss):
    log_b, log_s = [math.log(b) for b in bs], [math.log(s) for s in ss]
    lo, hi = math.log(min(bs) / SPAN), math.log(max(bs) * SPAN)
    t = _minimize(log_b, log_s, lo, hi)
    sse, a = _profile(log_b, log_s, t)
    s_min, b_crit = math.exp(a), math.exp(t)
    bound = None
    if t < math.log(min(bs) / EDGE):
        bound = "below"
    elif t > math.log(max(bs) * EDGE):
        bound = "above"
    return {"s_min": s_min, "e_min": s_min * b_crit, "b_crit": b_crit, "n": len(bs),
            "rms_log": math.sqrt(sse / len(bs)), "bound": bound, "b_range": [min(bs), max(bs)]}


def predict_steps(fit, batch_size):
    """S(B) = S_min + E_min / B of a fit."""
    return fit["s_min"] + fit["e_min"] / batch_size


def tradeoff_pairs(s_min, e_min, batch_sizes):
    """Noise-free (steps, examples) pairs on the curve at ``batch_sizes`` (tests, plots)."""
    out = []
    for b in batch_sizes:
        s = s_min + e_min / b
        out.append((s, s * b))
    return out


# ---- learning-rate selection ------------------------------------------------------------------------

def _median(vs):
    vs = sorted(vs)
    n = len(vs)
    if not n:
        return None
    return vs[n // 2] if n % 2 else (vs[n // 2 - 1] + vs[n // 2]) / 2


def lr_summary(runs):
    """Per-LR summary of one batch size. ``runs``: dicts with ``steps`` (steps to target, None when
    the run missed it, whatever the reason) and ``best_val_acc`` (None allowed). Returns
    {"steps": median with misses as +inf (inf when half or more missed), "reached": fraction,
    "best_val_acc": median of the known values (None when none)}."""
    steps = [r["steps"] if r.get("steps") is not None else math.inf for r in runs]
    accs = [r["best_val_acc"] for r in runs if r.get("best_val_acc") is not None]
    return {"steps": _median(steps) if steps else math.inf,
            "reached": sum(1 for s in steps if math.isfinite(s)) / len(steps) if steps else 0.0,
            "best_val_acc": _median(accs)}


def selection_key(summary):
    """The order of select_lr, smaller first, for one LR's lr_summary: median steps, then reached
    more often, then higher median best val accuracy (the last tie, the smaller LR, is the caller's)."""
    acc = summary["best_val_acc"]
    return summary["steps"], -summary["reached"], -(-1.0 if acc is None else acc)


def select_lr(by_lr):
    """The best learning rate of one batch size. ``by_lr``: {lr: [run dicts]} (see lr_summary).

    Returns {"lr": best LR or None (no LR reached the target), "fallback": the LR shown when none
    reached (highest median best val accuracy, then the smaller LR), "summary": {lr: lr_summary},
    "ties": LRs with the same median steps as the best (besides it), "edge": "low"/"high" when the
    best LR is the smallest/largest of a grid of >= 2 LRs, else None}."""
    if not by_lr:
        raise ValueError("select_lr: by_lr: expected at least one learning rate, got none")
    summ = {lr: lr_summary(runs) for lr, runs in by_lr.items()}
    lrs = sorted(summ)
    ok = [lr for lr in lrs if math.isfinite(summ[lr]["steps"])]

    def acc(lr):
        a = summ[lr]["best_val_acc"]
        return -1.0 if a is None else a

    best = min(ok, key=lambda lr: (*selection_key(summ[lr]), lr)) if ok else None
    fallback = min(lrs, key=lambda lr: (-acc(lr), lr))
    ties = [lr for lr in ok if lr != best and summ[lr]["steps"] == summ[best]["steps"]] if best is not None else []
    edge = None
    if best is not None and len(lrs) >= 2:
        edge = "low" if best == lrs[0] else "high" if best == lrs[-1] else None
    return {"lr": best, "fallback": fallback, "summary": summ, "ties": ties, "edge": edge}


# ---- plots -------------------------------------------------------------------------------------------

def positive_only(plot):
    """Drop the points a log axis cannot show (y <= 0, e.g. a target reached at step 0) from a
    log-y plot's series; the table still has them."""
    if not plot.logy:
        return plot
    for s in plot.series:
        keep = [i for i, y in enumerate(s.y) if y is not None and y > 0]
        s.x, s.y = [s.x[i] for i in keep], [s.y[i] for i in keep]
        if s.err is not None:
            s.err = [s.err[i] for i in keep]
        if s.marks is not None:
            s.marks = [s.marks[i] for i in keep]
    plot.series = [s for s in plot.series if s.x or s.missed]
    return plot
