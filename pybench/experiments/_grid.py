"""Tuned hyperparameters: is the chosen value interior to its grid, and if not, which value to try
next. Pure: values and scores in, a ``Decision`` out (no records, no I/O).

    d = decide([1e-3, 3e-3, 1e-2], {1e-3: 0.50, 3e-3: 0.55, 1e-2: 0.60}, higher_better=True)
    d.best, d.status, d.next        # 0.01, "edge (not extended)", 0.03 (the grid's own ratio)

The rule (docs/protocol.md, "Tuned hyperparameters: grids with an interior optimum"):

- The best value is the best score (ties: the smaller value); values without a score (a missed
  target) are tried but cannot win.
- It is *interior* when tried values lie on both sides of it. When the neighbour beyond it
  diverged or collapsed, the grid cannot go further that way: ``edge (next diverged)``, final, and
  as good as interior for a claim (the optimum is bounded by instability).
- Otherwise it sits on an edge: the next value beyond it is that edge times the grid's ratio (a
  geometric grid's own ratio, or the next value of a ladder of allowed values). The decision
  asks for it (``edge (not extended)``) unless ``max_rounds`` values beyond the original grid
  were already added (``edge (round limit)``) or the ladder has no value there (``edge (bound)``).
  A single value with no ratio to step by is ``edge (single value)``.

Only ``interior`` and ``edge (next diverged)`` support a claim (``Decision.claimable``), and
``flat at chance``: an experiment's verdict that every value tried left every run at chance, so
there is no optimum to sit on an edge of (the claim is then "at chance at every value tried").
"""

import math
from dataclasses import dataclass

MAX_ROUNDS = 3   # extension rounds: values added beyond the original grid, per tuned cell

INTERIOR = "interior"
NEXT_DIVERGED = "edge (next diverged)"
NOT_EXTENDED = "edge (not extended)"
ROUND_LIMIT = "edge (round limit)"
BOUND = "edge (bound)"
SINGLE = "edge (single value)"
NO_SCORE = "no value scored"
FLAT = "at chance at every value tried"
CLAIMABLE = (INTERIOR, NEXT_DIVERGED, FLAT)


@dataclass(frozen=True)
class Decision:
    best: float | None           # the chosen value (None: no value has a score)
    status: str                  # one of the statuses above
    next: float | None = None    # the value to try next (only with NOT_EXTENDED)
    side: str | None = None      # "high" / "low": the edge the best value sits on
    grid: tuple = ()             # every value tried, ascending
    base: tuple = ()             # the original grid (values outside it are extensions)
    failed: tuple = ()           # the values whose runs diverged or collapsed

    @property
    def claimable(self):
        return self.status in CLAIMABLE

    def grid_text(self, fmt=None):
        """The values tried, ascending: the best marked "*", extensions "+", diverged or collapsed
        ones "(x)"; e.g. "0.001, 0.003, 0.01, +0.03*"."""
        fmt = fmt or (lambda v: f"{v:g}")
        lo, hi = (min(self.base), max(self.base)) if self.base else (-math.inf, math.inf)
        parts = []
        for v in self.grid:
            text = ("+" if not lo <= v <= hi else "") + fmt(v) + ("*" if v == self.best else "")
            parts.append(text + (" (x)" if v in self.failed else ""))
        return ", ".join(parts)


def unstable(records):
    """Whether half or more of a value's runs (records with a ``status``) diverged or collapsed: a
    ``failed`` value for ``decide``."""
    bad = sum(1 for r in records if r.get("status") in ("diverged", "collapsed"))
    return bool(records) and 2 * bad >= len(records)


def grid_ratio(values):
    """The ratio of a geometric grid: (max / min) ** (1 / (n - 1)) over its distinct positive
    values; None with fewer than two."""
    vs = sorted({v for v in values if v > 0})
    if len(vs) < 2:
        return None
    return (vs[-1] / vs[0]) ** (1 / (len(vs) - 1))


def half_decades(lo_exp, hi_exp):
    """The ladder 1, 3, 10, 30, ... x 10^k from 10^lo_exp to 10^hi_exp (a half-decade grid's steps)."""
    return tuple(float(f"{m}e{k}") for k in range(lo_exp, hi_exp + 1) for m in (1, 3) if k < hi_exp or m == 1)


def _beyond(edge, side, factor):
    """edge * factor (high) or edge / factor (low), rounded to as few significant digits (>= 2) as
    keep it strictly beyond the edge: grid values stay readable (2.8, not 2.8284)."""
    raw = edge * factor if side == "high" else edge / factor
    for digits in range(2, 16):
        v = float(f"{raw:.{digits}g}")
        if (v > edge) if side == "high" else (v < edge):
            return v
    return raw


def ladder_step(ladder, edge, side):
    """The ladder value next to ``edge`` on ``side`` ("high" / "low"), None past the ladder's end."""
    tol = 1e-9 * abs(edge)
    if side == "high":
        return next((v for v in sorted(ladder) if v > edge + tol), None)
    return next((v for v in sorted(ladder, reverse=True) if v < edge - tol), None)


def decide(values, scores, *, higher_better=True, failed=(), base=None, factor=None, ladder=None,
           max_rounds=MAX_ROUNDS):
    """Where the best of ``values`` sits and what to try next (module docstring).

    ``scores``: value -> score under the experiment's selection metric (numbers or tuples, compared
    as they are; None or absent: no score). ``failed``: values whose runs diverged or collapsed.
    ``base``: the original grid (default ``values``): the values outside its range are the
    extensions made so far, at most ``max_rounds``. The step beyond an edge: the next ``ladder``
    value when given (none left: a bound), else ``factor``, else the grid's own ratio."""
    grid = tuple(sorted(set(values)))
    base = tuple(sorted(set(base))) if base else grid
    failed = tuple(v for v in grid if v in set(failed))
    scored = [v for v in grid if scores.get(v) is not None]
    common = {"grid": grid, "base": base, "failed": failed}
    if not scored:
        return Decision(None, NO_SCORE, **common)
    if higher_better:
        best = max(scored, key=lambda v: (scores[v], -v))
    else:
        best = min(scored, key=lambda v: (scores[v], v))
    i = grid.index(best)
    if 0 < i < len(grid) - 1:
        status = NEXT_DIVERGED if grid[i - 1] in failed or grid[i + 1] in failed else INTERIOR
        return Decision(best, status, **common)
    # on an edge; a single value is on both: try above it first, then below
    sides = ["high", "low"] if len(grid) == 1 else ["high" if i == len(grid) - 1 else "low"]
    step = factor or grid_ratio(grid)
    if ladder is None and not step:
        return Decision(best, SINGLE, side=sides[0], **common)
    nxt = None
    for side in sides:
        nxt = ladder_step(ladder, best, side) if ladder is not None else _beyond(best, side, step)
        if nxt is not None:
            break
    if nxt is None:
        return Decision(best, BOUND, side=sides[0], **common)
    rounds = sum(1 for v in grid if not base[0] <= v <= base[-1])
    if rounds >= max_rounds:
        return Decision(best, ROUND_LIMIT, side=side, **common)
    return Decision(best, NOT_EXTENDED, next=nxt, side=side, **common)
