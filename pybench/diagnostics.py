"""What a network looks like inside while it trains, measured without changing its trajectory.

Both passes here run forward/backward on extra batches in training mode, which would move the
BatchNorm running statistics and the Dropout stream offsets; they snapshot ``model.state_dict()``
before and load it back after, and draw their batches from their own RNG, so a run with them
on follows bit for bit the same path as a run with them off. Gradients they leave in ``.grad`` are
overwritten by the next training backward.

- ``Diagnostics``: on one fixed batch, each layer's output mean and std, the fraction of dead
  ReLU units and each parameter's gradient norm.
- ``NoiseScale``: the simple gradient noise scale B_simple = tr(Sigma) / |G|^2 (McCandlish et al.
  2018, "An Empirical Model of Large-Batch Training", appendix A.1) from K gradients at a small
  batch size b and their mean, the gradient at B = K b.

On a CUDA model the batches are CUDA arrays and every statistic is reduced on the device; only
the scalars come back (a few syncs per evaluation, none per training step).
"""

import math

import numpy as np

from . import arrays

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
    """Estimates |G|^2 and tr(Sigma) at each call from K minibatch gradients.

    With |G_b|^2 the mean squared norm of the K gradients at batch b and |G_B|^2 the squared norm
    of their mean (the gradient at B = K b for a model without batch statistics; with BatchNorm it
    is the data-parallel gradient McCandlish et al. use, statistics per small batch):

        |G|^2    ~ (B |G_B|^2 - b |G_b|^2) / (B - b)
        tr(Sigma) ~ (|G_b|^2 - |G_B|^2) / (1/b - 1/B)

    Both are unbiased but noisy; ``summary`` averages each over calls before taking the ratio
    B_simple = tr(Sigma) / |G|^2, as the paper advises. The batches are drawn without replacement
    (when the training set is large enough) by ``rng``.
    """

    def __init__(self, model, loss_fn, x, y, batch_size, k, rng):
        self.model, self.loss_fn, self.x, self.y = model, loss_fn, x, y
        self.b, self.k, self.rng = int(batch_size), int(k), rng
        self.xb = arrays.empty(x, (self.b,) + x.shape[1:])
        self.yb = arrays.empty(y, (self.b,))
        self.xp = arrays.array_module(x)
        self.values = []

    def __call__(self):
        model, n, b, k = self.model, len(self.x), self.b, self.k
        idx = self.rng.choice(n, size=b * k, replace=b * k > n)  # on the host, moved once
        xp = self.xp
        if xp is not np:
            idx = xp.asarray(idx)
        snap = model.state_dict()
        was_training = model.training
        model.train()
        total, sq = None, 0.0
        try:
            for j in range(k):
                xp.take(self.x, idx[j * b:(j + 1) * b], axis=0, out=self.xb)
                xp.take(self.y, idx[j * b:(j + 1) * b], out=self.yb)
                self.loss_fn.forward(model.forward(self.xb), self.yb)
                model.backward(self.loss_fn.backward())
                g = xp.concatenate([p.grad.reshape(-1) for p in model.parameters()]).astype(np.float64)
                sq += float(xp.dot(g, g))
                total = g if total is None else total + g
        finally:
            model.load_state_dict(snap)
            model.train(was_training)
        big_b = b * k
        mean = total / k
        g_small, g_big = sq / k, float(self.xp.dot(mean, mean))
        g2 = (big_b * g_big - b * g_small) / (big_b - b)
        trace = (g_small - g_big) / (1.0 / b - 1.0 / big_b)
        v = {"g2": _finite_or_none(g2), "trace_sigma": _finite_or_none(trace),
             "b_simple": _finite_or_none(trace / g2) if g2 != 0 and math.isfinite(g2) else None}
        self.values.append(v)
        return v

    def summary(self):
        """The averaged estimate over every call so far (None values skipped)."""
        g2 = [v["g2"] for v in self.values if v["g2"] is not None and v["trace_sigma"] is not None]
        tr = [v["trace_sigma"] for v in self.values if v["g2"] is not None and v["trace_sigma"] is not None]
        mg2, mtr = (float(np.mean(g2)), float(np.mean(tr))) if g2 else (None, None)
        return {"b_small": self.b, "b_big": self.b * self.k, "k": self.k, "evaluations": len(g2),
                "g2": mg2, "trace_sigma": mtr,
                "b_simple": mtr / mg2 if g2 and mg2 > 0 else None}
