"""The tie rule: when do per-seed values separate two or more settings?

``rank(values)`` takes each setting's per-seed values and names the best setting (by median) only
when a seed bootstrap says the others are behind it: each setting's seeds are redrawn with
replacement (RESAMPLES times, fixed RNG seed), and for every other setting the 95% percentile
interval of the difference of medians (best minus it, signed so that positive favours the best)
must exclude 0. A setting whose interval includes 0 is tied with the best; a "best" or "fastest"
claim also needs the winner to have reached its target in every seed (``reached``). Otherwise the
verdict is a tie (naming the tied settings) or "not shown" (saying why).

``paired_effect(diffs)`` is the same rule for two settings measured on the same seeds (the pitfalls'
bad vs fixed runs): the median of the per-seed differences and its bootstrap interval.

With 3 seeds the interval of a median difference is, in effect, the range rule: the lowest and
highest values of a resample's median are each drawn with probability 7/27 > 2.5%, so the interval
excludes 0 exactly when the two settings' ranges do not overlap. docs/protocol.md has the rule.
"""

import math
from dataclasses import dataclass, field

import numpy as np

RESAMPLES = 2000
RNG_SEED = 0
LEVEL = 0.95
MIN_SEEDS = 2      # fewer seeds give no spread to judge a difference by


def _clean(values):
    """The values as a float array: None and NaN dropped, +-inf kept (a censored value, e.g. a missed
    target counts as an infinite time)."""
    return np.asarray([float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))],
                      dtype=np.float64)


def _medians(x, rng, resamples):
    """Medians of ``resamples`` bootstrap resamples of x."""
    idx = rng.integers(0, len(x), size=(resamples, len(x)))
    return np.median(x[idx], axis=1)


def _diff(a, b):
    """a - b elementwise, inf - inf (both censored) counted as no difference."""
    with np.errstate(invalid="ignore"):
        d = a - b
    return np.where(np.isnan(d), 0.0, d)


def _all_reached(kn):
    return kn is not None and kn[0] == kn[1]


_HUGE = 1e300   # stands in for +-inf while quantiles interpolate (inf - inf would be NaN)


def _interval(samples, level=LEVEL):
    q = (1 - level) / 2
    x = np.clip(samples, -_HUGE, _HUGE)
    lo, hi = (float(np.quantile(x, p)) for p in (q, 1 - q))
    return tuple(math.copysign(math.inf, v) if abs(v) >= _HUGE / 2 else v for v in (lo, hi))


def diff_interval(a, b, resamples=RESAMPLES, seed=RNG_SEED, level=LEVEL):
    """95% seed-bootstrap interval of median(a) - median(b), the seeds of a and b redrawn
    independently. None when either has fewer than MIN_SEEDS values."""
    a, b = _clean(a), _clean(b)
    if len(a) < MIN_SEEDS or len(b) < MIN_SEEDS:
        return None
    rng = np.random.default_rng(seed)
    return _interval(_diff(_medians(a, rng, resamples), _medians(b, rng, resamples)), level)


@dataclass
class Effect:
    """A paired difference over seeds: ``median`` of the per-seed differences, its bootstrap
    ``interval`` (None with fewer than MIN_SEEDS pairs), ``n`` pairs and the differences themselves."""
    median: float | None
    interval: tuple | None
    n: int
    diffs: list = field(default_factory=list)

    @property
    def sign(self):
        """+1 when the interval lies above 0, -1 below, 0 when it includes 0 or is unknown."""
        if self.interval is None:
            return 0
        return 1 if self.interval[0] > 0 else (-1 if self.interval[1] < 0 else 0)


def paired_effect(diffs, resamples=RESAMPLES, seed=RNG_SEED, level=LEVEL):
    """Effect of per-seed differences (already paired by seed; None entries dropped)."""
    d = _clean(diffs)
    if not len(d):
        return Effect(None, None, 0, [])
    interval = None
    if len(d) >= MIN_SEEDS:
        interval = _interval(_medians(d, np.random.default_rng(seed), resamples), level)
    return Effect(float(np.median(d)), interval, len(d), [float(v) for v in d])


@dataclass
class Verdict:
    """The outcome of ``rank``. ``claimed``: the best setting is separated from every other one (and
    reached its target in every seed, when that was asked). ``tied``: the settings whose interval
    against the best includes 0, the best first. ``diff``/``interval``: best minus the runner-up
    (positive favours the best). ``why``: "", "tie", "missed target", "too few seeds", "one setting"."""
    best: object = None
    runner_up: object = None
    claimed: bool = False
    tied: list = field(default_factory=list)
    diff: float | None = None
    interval: tuple | None = None
    why: str = ""
    missed: str = ""        # the best's "k of n" seeds at the target, when it missed some
    among_complete: object = None   # with a best that missed: the Verdict over those that never did

    def text(self, name=str, names=None):
        """"NAME" when claimed; "tie (A, B)"; "not shown: ..." otherwise. ``name`` renders a label,
        ``names`` a list of them (default: each with ``name``, comma-separated)."""
        names = names or (lambda ls: ", ".join(name(t) for t in ls))
        if self.best is None:
            return "not shown: no values"
        if self.claimed:
            return name(self.best)
        if self.why == "tie":
            return f"tie ({names(self.tied)})"
        if self.why == "missed target":
            if not self.missed:
                return "not shown: no setting reached the target in most seeds"
            text = f"not shown: {name(self.best)} reached the target in {self.missed} seeds"
            if self.among_complete is not None and self.among_complete.best is not None:
                text += "; of those that reached it in every seed: " + self.among_complete.text(name, names)
            return text
        if self.why == "too few seeds":
            return f"not shown: {name(self.best)} leads, but with fewer than {MIN_SEEDS} seeds a side"
        return f"not shown: {self.why}"


def rank(values, higher=True, reached=None, resamples=RESAMPLES, seed=RNG_SEED, level=LEVEL):
    """The tie rule over settings. ``values``: {label: [per-seed values]} (None dropped; inf is a
    censored value, e.g. a missed target's time); the best is the highest (``higher``) or lowest
    median, the first in ``values``' order on equal medians. ``reached``: {label: (k, n)} seeds at
    the target; a best with k < n is not claimed, and ``among_complete`` ranks the settings that
    reached it in every seed instead. Returns a Verdict."""
    data = {k: _clean(v) for k, v in values.items()}
    data = {k: v for k, v in data.items() if len(v)}
    if not data:
        return Verdict(why="no values")
    sign = 1.0 if higher else -1.0
    meds = {k: float(np.median(v)) for k, v in data.items()}
    order = list(data)
    best = max(order, key=lambda k: (sign * meds[k], -order.index(k)))
    others = sorted((k for k in order if k != best), key=lambda k: (-sign * meds[k], order.index(k)))
    v = Verdict(best=best, tied=[best], runner_up=others[0] if others else None)
    k, n = (reached or {}).get(best, (None, None))
    if (k is not None and k < n) or not math.isfinite(meds[best]):
        # a winner must have reached the target in every seed: rank those that did instead
        v.why, v.missed = "missed target", (f"{k} of {n}" if k is not None else "")
        complete = {l: values[l] for l in data if l != best and _all_reached((reached or {}).get(l))}
        if complete:
            v.among_complete = rank(complete, higher, reached, resamples, seed, level)
        return v
    if not others:
        v.why = "one setting"
        return v
    rng = np.random.default_rng(seed)
    boot_best = _medians(data[best], rng, resamples)
    few = len(data[best]) < MIN_SEEDS
    for o in others:
        few = few or len(data[o]) < MIN_SEEDS
        lo, hi = _interval(sign * _diff(boot_best, _medians(data[o], rng, resamples)), level)
        if o == v.runner_up:
            v.diff, v.interval = sign * float(_diff(np.array([meds[best]]), np.array([meds[o]]))[0]), (lo, hi)
        if not lo > 0 and math.isfinite(meds[o]):   # a median "missed" is never tied with a value
            v.tied.append(o)
    if few:
        v.why = "too few seeds"
    elif len(v.tied) > 1:
        v.why = "tie"
    else:
        v.claimed = True
    return v


def row_tags(verdict, word):
    """{label: cell text} for a table column: ``word`` at a claimed winner, ``word + " (tie)"`` at
    each tied setting, nothing elsewhere (a best that missed its target in a seed: "not shown")."""
    if verdict.best is None:
        return {}
    if verdict.claimed:
        return {verdict.best: word}
    if verdict.why == "tie":
        return {t: f"{word} (tie)" for t in verdict.tied}
    if verdict.why == "missed target":
        out = {verdict.best: f"{word}: not shown (target {verdict.missed})"} if verdict.missed else {}
        if verdict.among_complete is not None:
            for k, v in row_tags(verdict.among_complete, f"{word} of those always at target").items():
                out.setdefault(k, v)
        return out
    if verdict.why == "too few seeds":
        return {verdict.best: f"{word} (not judged: < {MIN_SEEDS} seeds)"}
    return {verdict.best: f"{word}: not shown ({verdict.why})"}


def interval_text(interval, fmt):
    """"lo to hi" with ``fmt`` (a function of one value)."""
    return "-" if interval is None else f"{fmt(interval[0])} to {fmt(interval[1])}"


def lead_text(verdict, name=str, fmt=str):
    """"A leads B by D (95% interval LO to HI)": the best against the runner-up, or "" without one."""
    if verdict.runner_up is None or verdict.diff is None:
        return ""
    return (f"{name(verdict.best)} leads {name(verdict.runner_up)} by {fmt(verdict.diff)} "
            f"(95% seed-bootstrap interval {interval_text(verdict.interval, fmt)})")


def judged(verdict, what, name=str, fmt=str, names=None):
    """One sentence for a note: "WHAT: VERDICT; A leads B by ...". A best that missed its target in a
    seed gets the lead among the settings that never missed."""
    lead = lead_text(verdict, name, fmt)
    if verdict.why == "missed target" and verdict.among_complete is not None:
        lead = lead_text(verdict.among_complete, name, fmt)
    return f"{what}: {verdict.text(name, names)}" + (f"; {lead}" if lead else "")


def labelled(singular, plural):
    """(name, names) renderers for Verdict.text: "width 64" and "widths 64, 128"."""
    return (lambda x: f"{singular} {x}"), (lambda xs: f"{plural} " + ", ".join(str(x) for x in xs))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def fmt_sci(v, digits=3):
    """A number for prose: 3 significant digits, m·10ⁿ from 10^5 up (or below 10^-3)."""
    if v is None or not math.isfinite(v):
        return "-"
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        r = float(f"{v:.{digits}g}")
        return f"{r:,.0f}" if abs(r) >= 1000 else f"{r:g}"
    m, e = f"{v:.{digits - 1}e}".split("e")
    return f"{float(m):g}·10{str(int(e)).translate(_SUPERSCRIPT)}"
