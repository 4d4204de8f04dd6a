"""What a network looks like inside while it trains, measured without changing its trajectory.

Both passes here run forward/backward on extra batches in training mode, which would move the
BatchNorm running statistics and the Dropout stream offsets; they snapshot ``model.state_dict()``
before and load it back after, and draw their batches from their own RNG, so a run with them
on follows bit for bit the same path as a run with them off. Gradients they leave in ``.grad`` are
overwritten by the next training backward.

- ``Diagnostics``: on one fixed batch, each layer's output mean and std, the fraction of dead
  ReLU units and each parameter's gradient norm.
- ``NoiseScale``: raw estimates of |G|^2 and tr(Sigma) at each evaluation; their reduction to the
  simple gradient noise scale B_simple = tr(Sigma) / |G|^2 follows McCandlish et al. 2018, "An
  Empirical Model of Large-Batch Training", appendix A.1 (the protocol below, also in
  docs/protocol.md).

The noise-scale protocol:

1. Estimate. At every evaluation, K gradients g_j at the training batch size b (K =
   ``Config.noise_batches``, fresh batches each time) and their mean, the gradient at B = K b,
   give the unbiased pair |G|^2 = (B |G_B|^2 - b |G_b|^2) / (B - b) and tr(Sigma) = (|G_b|^2 -
   |G_B|^2) / (1/b - 1/B) (``estimates``). The history entry keeps them with the per-batch values
   they come from: ``sq_norms`` (|g_j|^2) and ``dots`` (g_j . mean g).
2. Smooth. The initialization (step 0, where |G|^2 is largest) never enters an average. Over the
   remaining evaluations each term separately is an exponential moving average with decay
   EMA_DECAY = 0.9 per evaluation (bias-corrected; an estimate's weight halves every 6.6
   evaluations, mean age 9), and B_simple is the ratio of the two averages, never an average of
   ratios (``NoiseCurve``). A ratio of averages is biased too, but far less than the average of
   ratios of noisy terms, whose |G|^2 often comes out near 0 or negative.
3. Report. At the first evaluation at or above the target accuracy (``at_step``; the record's
   ``noise_scale.at_target``), at the last one (the record's ``noise_scale.b_simple``), against the
   training loss (``curve``) and, across the points of a sweep, at one training-loss level every
   run reaches (``common_loss_level``, ``at_loss``: linear in log loss between the evaluations
   around the first crossing).
4. Uncertainty. Within a run: the delete-one jackknife over the K gradients of every evaluation
   that enters the value (``NoiseCurve.se``), so it needs K >= 3 and the per-batch values. Across
   runs: the experiments give the spread over seeds and bootstrap their fits over seeds.

On a CUDA model the batches are CUDA arrays and every statistic is reduced on the device; only
the scalars come back (a few syncs per evaluation, none per training step).
"""

import math

import numpy as np

from . import arrays

# Smoothing of the noise-scale terms: an EMA over evaluations (see the module docstring)
EMA_DECAY = 0.9

# Units of these ops count as dead when their output is never positive on the diagnostic batch.
_RELU_OPS = ("relu", "leaky_relu")


def layer_name(i, layer):
    return f"{i}.{layer.op}"


def _alive(out):
    """Per unit: positive anywhere on the batch. Units are features for (N, F), channels for
    (N, C, H, W) (a conv channel is dead when no position of any sample is positive)."""
    axes = (0,) if out.ndim == 2 else (0,) + tuple(range(2, out.ndim))
    return (out > 0).any(axis=axes)


class Diagnostics:
    """Per-layer and per-parameter statistics on a fixed batch (x, y) of the training set."""

    def __init__(self, model, loss_fn, x, y):
        self.model, self.loss_fn, self.x, self.y = model, loss_fn, x, y

    def __call__(self):
        model = self.model
        snap = model.state_dict()
        was_training = model.training
        model.train()
        try:
            layers, h = [], self.x
            for i, layer in enumerate(model.layers):
                h = layer.forward(h)
                entry = {"name": layer_name(i, layer), "op": layer.op,
                         "mean": _finite_or_none(h.mean(dtype=np.float64)),
                         "std": _finite_or_none(h.std(dtype=np.float64))}
                if layer.op in _RELU_OPS:
                    entry["dead_fraction"] = float(1.0 - _alive(h).mean(dtype=np.float64))
                layers.append(entry)
            loss = self.loss_fn.forward(h, self.y)
            model.backward(self.loss_fn.backward())
            grads = {p.name: _norm(p.grad) for p in model.parameters()}
            weights = {p.name: _norm(p.data) for p in model.parameters()}
        finally:
            model.load_state_dict(snap)
            model.train(was_training)
        dead = [e["dead_fraction"] for e in layers if "dead_fraction" in e]
        return {"loss": _finite_or_none(loss), "layers": layers, "grad_norm": grads, "weight_norm": weights,
                "dead_fraction": float(np.mean(dead)) if dead else None}


def _norm(a):
    v = a.reshape(-1)
    return _finite_or_none(math.sqrt(float(arrays.array_module(v).dot(v, v))))


def _finite_or_none(v):
    v = float(v)
    return v if math.isfinite(v) else None


class NoiseScale:
    """Raw |G|^2 and tr(Sigma) estimates at each call from K minibatch gradients (see the module
    docstring for the reduction).

    With |G_b|^2 the mean squared norm of the K gradients at batch b and |G_B|^2 the squared norm
    of their mean (the gradient at B = K b for a model without batch statistics; with BatchNorm it
    is the data-parallel gradient McCandlish et al. use, statistics per small batch):

        |G|^2    ~ (B |G_B|^2 - b |G_b|^2) / (B - b)
        tr(Sigma) ~ (|G_b|^2 - |G_B|^2) / (1/b - 1/B)

    Each call returns those two, their ratio, and the per-batch values they are made of:
    ``sq_norms`` (|g_j|^2) and ``dots`` (g_j . mean gradient), enough to recompute the estimates
    and their leave-one-out versions (the jackknife). The batches are drawn without replacement
    (when the training set is large enough) by ``rng``.
    """

    def __init__(self, model, loss_fn, x, y, batch_size, k, rng):
        self.model, self.loss_fn, self.x, self.y = model, loss_fn, x, y
        self.b, self.k, self.rng = int(batch_size), int(k), rng
        self.xb = arrays.empty(x, (self.b,) + x.shape[1:])
        self.yb = arrays.empty(y, (self.b,) + y.shape[1:])  # labels (N,) or regression targets (N, ...)
        self.xp = arrays.array_module(x)
        self.values = []   # (step, estimate) per call

    def __call__(self, step):
        """The estimates at the model's current parameters. ``step``: the training step, which
        decides what the reductions may use (step 0, the initialization, never)."""
        model, n, b, k = self.model, len(self.x), self.b, self.k
        idx = self.rng.choice(n, size=b * k, replace=b * k > n)  # on the host, moved once
        xp = self.xp
        if xp is not np:
            idx = xp.asarray(idx)
        snap = model.state_dict()
        was_training = model.training
        model.train()
        grads, sq, total = [], [], None
        try:
            for j in range(k):
                xp.take(self.x, idx[j * b:(j + 1) * b], axis=0, out=self.xb)
                xp.take(self.y, idx[j * b:(j + 1) * b], axis=0, out=self.yb)
                self.loss_fn.forward(model.forward(self.xb), self.yb)
                model.backward(self.loss_fn.backward())
                g = xp.concatenate([p.grad.reshape(-1) for p in model.parameters()])
                g64 = g.astype(np.float64)
                sq.append(float(xp.dot(g64, g64)))
                total = g64 if total is None else total + g64
                grads.append(g)  # in the model's dtype: exact, and half the memory of float64 for float32
        finally:
            model.load_state_dict(snap)
            model.train(was_training)
        mean = total / k
        dots = [float(xp.dot(g.astype(np.float64), mean)) for g in grads]
        g2, trace = estimates(sq, dots, b)
        v = {"g2": _finite_or_none(g2), "trace_sigma": _finite_or_none(trace),
             "b_simple": _finite_or_none(trace / g2) if g2 != 0 and math.isfinite(g2) else None,
             "sq_norms": [_finite_or_none(s) for s in sq], "dots": [_finite_or_none(d) for d in dots]}
        self.values.append((step, v))
        return v

    def summary(self, target_step=None):
        """The reduction of every call so far (see ``reduce_estimates``); ``target_step``: the
        step at which the run first reached its target (None: not reached or no target)."""
        entries = [dict(v, step=s) for s, v in self.values]
        return reduce_estimates(entries, self.b, self.k, target_step)


# ---- the reduction: estimator, smoothing, jackknife (pure functions of the recorded values) ----

def estimates(sq_norms, dots, b):
    """(|G|^2, tr(Sigma)) from K >= 2 minibatch gradients g_j at batch ``b``: ``sq_norms[j]`` =
    |g_j|^2, ``dots[j]`` = g_j . (mean of the g_l). |G_b|^2 is the mean of sq_norms and |G_B|^2 =
    |mean g|^2 the mean of dots; the pair is unbiased (McCandlish et al., appendix A.1)."""
    k = len(sq_norms)
    return _unbiased(sum(sq_norms) / k, sum(dots) / k, b, k)


def _unbiased(small, big, b, k):
    big_b = k * b
    return (big_b * big - b * small) / (big_b - b), (small - big) / (1.0 / b - 1.0 / big_b)


def leave_one_out(sq_norms, dots, b):
    """[(|G|^2, tr(Sigma)) without gradient j] for j < K: the same estimator on the other K - 1
    gradients (batch (K-1) b); [] when K < 3 (one gradient left has no spread)."""
    k = len(sq_norms)
    if k < 3:
        return []
    s, tot = sum(sq_norms), k * sum(dots)  # tot: sum over all pairs (i, l) of g_i . g_l
    m = k - 1
    return [_unbiased((s - sq_norms[j]) / m, (tot - 2 * k * dots[j] + sq_norms[j]) / m ** 2, b, m) for j in range(k)]


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _usable(e):
    """An estimate the averages may use: after the initialization, both terms finite."""
    return _num(e.get("step")) and e["step"] > 0 and _num(e.get("g2")) and _num(e.get("trace_sigma"))


def ema_weights(n, decay=EMA_DECAY):
    """W[t, s]: weight of estimate s in the smoothed value at estimate t; decay^(t-s) for s <= t,
    rows normalized (the EMA m_t = decay m_{t-1} + (1 - decay) x_t from m = 0, divided by
    1 - decay^(t+1): no pull towards 0 at the start)."""
    t = np.arange(n)
    lag = t[:, None] - t[None, :]
    w = np.where(lag >= 0, float(decay) ** np.maximum(lag, 0), 0.0)
    return w / w.sum(axis=1, keepdims=True) if n else w


class NoiseCurve:
    """The smoothed noise scale of one run, from its per-evaluation estimates (history entries:
    ``step``, ``train_loss``, ``g2``, ``trace_sigma``, optional ``sq_norms`` and ``dots``).

    Estimates at step 0 or with a missing term are left out. ``g2`` and ``trace`` are the EMAs of
    the two terms at each remaining evaluation, ``b_simple`` their ratio (None where the smoothed
    |G|^2 is not positive). Reductions: ``at_step`` (e.g. the target), ``final``, ``at_loss`` (a
    training-loss level, interpolated). Each comes with ``b_simple_se``, the delete-one jackknife
    over the K gradients of every evaluation in the average (None when a record lacks the
    per-batch values, or a replicate's smoothed |G|^2 is not positive: no finite bound)."""

    def __init__(self, entries, b, decay=EMA_DECAY):
        pts = [e for e in entries if _usable(e)]
        self.b, self.decay, self.n = b, decay, len(pts)
        self.steps = [p["step"] for p in pts]
        self.losses = [p.get("train_loss") if _num(p.get("train_loss")) else None for p in pts]
        self.w = ema_weights(self.n, decay)
        self.g2 = self.w @ np.array([p["g2"] for p in pts], dtype=np.float64)
        self.trace = self.w @ np.array([p["trace_sigma"] for p in pts], dtype=np.float64)
        self.b_simple = [float(t / g) if g > 0 else None for g, t in zip(self.g2, self.trace)]
        self._dg = self._dt = None
        loo = [_loo_deltas(p, b) for p in pts]
        if pts and all(d is not None for d in loo) and len({len(d[0]) for d in loo}) == 1:
            self._dg, self._dt = np.array([d[0] for d in loo]), np.array([d[1] for d in loo])

    def _point(self, t):
        return {"step": self.steps[t], "train_loss": self.losses[t], "g2": float(self.g2[t]),
                "trace_sigma": float(self.trace[t]), "b_simple": self.b_simple[t]}

    def se(self, coef):
        """Jackknife standard error of sum_t coef[t] * b_simple[t]. Evaluations are independent
        draws, so the variance is the sum over evaluations s of the delete-one variance with only
        s's K gradients resampled ("stratified" jackknife)."""
        if self._dg is None or any(self.b_simple[t] is None for t in coef):
            return None
        k = self._dg.shape[1]
        reps = np.zeros_like(self._dg)  # [s, j]: the combination with gradient j of evaluation s left out
        for t, c in coef.items():
            w = self.w[t][:, None]
            den = self.g2[t] + w * self._dg
            if (den <= 0).any():
                return None
            reps += c * (self.trace[t] + w * self._dt) / den
        var = (k - 1) / k * ((reps - reps.mean(axis=1, keepdims=True)) ** 2).sum()
        return _finite_or_none(math.sqrt(var))

    def at_index(self, t):
        return dict(self._point(t), b_simple_se=self.se({t: 1.0}))

    def at_step(self, step):
        """The smoothed value at the last evaluation at or before ``step`` (None if none after
        the initialization)."""
        idx = [t for t, s in enumerate(self.steps) if s <= step]
        return self.at_index(idx[-1]) if idx else None

    def final(self):
        return self.at_index(self.n - 1) if self.n else None

    def min_loss(self):
        ls = [v for v in self.losses if v is not None]
        return min(ls) if ls else None

    def at_loss(self, level):
        """B_simple where the training loss first falls to ``level``: linear in log loss between
        the last evaluation above it and the first at or below it. None when never reached, or
        reached by the first evaluation after the initialization (nothing to interpolate from)."""
        idx = [t for t, v in enumerate(self.losses) if v is not None]
        hit = next((i for i, t in enumerate(idx) if self.losses[t] <= level), None)
        if hit is None or hit == 0:
            return None
        t0, t1 = idx[hit - 1], idx[hit]
        b0, b1 = self.b_simple[t0], self.b_simple[t1]
        if b0 is None or b1 is None or level <= 0:
            return None
        l0, l1 = math.log(self.losses[t0]), math.log(self.losses[t1])
        a = 1.0 if l0 == l1 else (l0 - math.log(level)) / (l0 - l1)
        return {"level": level, "b_simple": (1 - a) * b0 + a * b1, "b_simple_se": self.se({t0: 1 - a, t1: a}),
                "steps": [self.steps[t0], self.steps[t1]]}

    def curve(self):
        """[(training loss, smoothed B_simple)] at every evaluation that has both."""
        return [(v, b) for v, b in zip(self.losses, self.b_simple) if v is not None and b is not None]


def _loo_deltas(e, b):
    """Leave-one-out minus full (|G|^2, tr(Sigma)) of one estimate, or None without per-batch values."""
    sq, dots = e.get("sq_norms"), e.get("dots")
    if not isinstance(sq, list) or not isinstance(dots, list) or len(sq) != len(dots) or len(sq) < 3:
        return None
    if not all(_num(v) for v in sq + dots):
        return None
    g2, tr = estimates(sq, dots, b)
    loo = leave_one_out(sq, dots, b)
    return [x - g2 for x, _ in loo], [y - tr for _, y in loo]


def history_curve(record):
    """The NoiseCurve of a run record (its history's ``noise_scale`` entries), or None when it has
    none. The small batch b is the record's ``noise_scale.b_small``, else its batch size."""
    entries = [dict(h["noise_scale"], step=h.get("step"), train_loss=h.get("train_loss"))
               for h in record.get("history") or [] if isinstance(h.get("noise_scale"), dict)]
    b = (record.get("noise_scale") or {}).get("b_small") or (record.get("config") or {}).get("batch_size")
    if not entries or not b:
        return None
    return NoiseCurve(entries, b)


def common_loss_level(curves):
    """The lowest training loss every curve reaches: the highest of their minima (None when a
    curve has no training loss)."""
    mins = [c.min_loss() for c in curves]
    return max(mins) if mins and all(m is not None for m in mins) else None


def reduce_estimates(entries, b, k, target_step=None, decay=EMA_DECAY):
    """A run's record summary: the smoothed values at its last evaluation (``g2``,
    ``trace_sigma``, ``b_simple``, ``b_simple_se``) and ``at_target``, the same at ``target_step``
    (None without one)."""
    c = NoiseCurve(entries, b, decay)
    fin = c.final() or {}
    at = c.at_step(target_step) if target_step is not None else None
    if at is not None:
        at.pop("train_loss")  # the estimator's calls do not see the loss; the history has it
    return {"b_small": b, "b_big": b * k, "k": k, "ema_decay": decay, "evaluations": c.n,
            "g2": fin.get("g2"), "trace_sigma": fin.get("trace_sigma"), "b_simple": fin.get("b_simple"),
            "b_simple_se": fin.get("b_simple_se"), "at_target": at}


def seed_bootstrap(groups, stat, n=2000, seed=0, level=0.95):
    """Percentile interval of ``stat`` over bootstrap resamples of the seeds: ``groups`` holds the
    per-seed values of each point; every resample redraws each point's seeds with replacement
    and hands ``stat`` the list of the points' medians. None when ``stat`` is never defined."""
    rng = np.random.default_rng(seed)
    groups = [np.asarray(g, dtype=np.float64) for g in groups]
    out = []
    for _ in range(n):
        meds = [float(np.median(g[rng.integers(0, len(g), len(g))])) if len(g) else None for g in groups]
        v = stat(meds)
        if v is not None and math.isfinite(v):
            out.append(v)
    if not out:
        return None
    q = (1 - level) / 2
    return float(np.quantile(out, q)), float(np.quantile(out, 1 - q))
