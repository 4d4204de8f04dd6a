"""Optimizers, gradient clipping and L1/L2 penalties over a model's parameters.

Each optimizer applies one fused native update per parameter (``pybench.ops.*_step``: one
threaded pass over param, grad and state) and owns that parameter's state arrays, allocated once.
Names and defaults follow ``torch.optim``; ``lr`` is a plain attribute, so a schedule sets it
before each ``step()``.

Difference from PyTorch: ``weight_decay`` applies only to parameters with ``decay=True``
(Linear/Conv weights); biases and BatchNorm affine parameters are never decayed (PyTorch decays
every parameter unless you build parameter groups yourself).

A parameter is anything with ``.data`` and ``.grad`` (same shape and dtype, C-contiguous) and a
``decay`` flag (``pybench.nn.Parameter``).

Devices: state arrays are allocated on each parameter's device (build the optimizer after
``model.to(device)``); norms and penalties are reduced on the device, one sync per call.
"""

import math

import numpy as np

from .. import arrays, ops

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam", "AdamW", "make_optimizer", "OPTIMIZERS",
           "clip_grad_norm", "grad_norm", "Penalty"]


def _param_list(cls, params):
    if hasattr(params, "parameters"):
        params = params.parameters()
    params = list(params)
    for i, p in enumerate(params):
        if not (hasattr(p, "data") and hasattr(p, "grad")):
            raise TypeError(f"{cls}: params[{i}]: expected a Parameter (with .data and .grad), got {type(p).__name__}")
    return params


def _nonneg(cls, name, v):
    v = float(v)
    if not v >= 0 or not math.isfinite(v):
        raise ValueError(f"{cls}: {name}: expected a finite float >= 0, got {v}")
    return v


class Optimizer:
    """Base class: ``params`` (list, or a Module whose ``parameters()`` are used), ``lr`` and the
    step counter ``t`` (number of ``step()`` calls so far). Subclasses name their state arrays in
    ``state_names``; ``state[i][name]`` is parameter i's array."""

    state_names = ()

    def __init__(self, params, lr, weight_decay=0.0):
        cls = type(self).__name__
        self.params = _param_list(cls, params)
        self.lr = _nonneg(cls, "lr", lr)
        self.weight_decay = _nonneg(cls, "weight_decay", weight_decay)
        self.t = 0
        # state starts at zeros (PyTorch's initial value for every state array we keep)
        self.state = [{n: arrays.zeros_like(p.data) for n in self.state_names} for p in self.params]

    def _wd(self, p):
        return self.weight_decay if getattr(p, "decay", False) else 0.0

    def step(self):
        """One update of every parameter from its current ``.grad``."""
        self.t += 1
        for p, s in zip(self.params, self.state):
            self._update(p, s)

    def zero_grad(self):
        """Not needed in the training loop (backward overwrites grads); for callers that accumulate."""
        for p in self.params:
            p.grad.fill(0)

    def state_dict(self):
        """Copies of the step counter, lr and every state array (for snapshots)."""
        return {"t": self.t, "lr": self.lr, "state": [{k: v.copy() for k, v in s.items()} for s in self.state]}

    def load_state_dict(self, d):
        self.t, self.lr = int(d["t"]), float(d["lr"])
        for s, saved in zip(self.state, d["state"]):
            for k, v in saved.items():
                arrays.copyto(s[k], v)

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, {len(self.params)} params)"


class SGD(Optimizer):
    """``torch.optim.SGD``: momentum (heavy ball, or Nesterov), dampening, L2 weight decay."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        self.momentum = _nonneg("SGD", "momentum", momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov: requires momentum > 0 and dampening == 0, "
                             f"got momentum={self.momentum}, dampening={self.dampening}")
        self.state_names = ("momentum_buffer",) if self.momentum != 0 else ()
        super().__init__(params, lr, weight_decay)

    def _update(self, p, s):
        ops.sgd_step(p.data, p.grad, s.get("momentum_buffer"), lr=self.lr, momentum=self.momentum,
                     dampening=self.dampening, nesterov=self.nesterov, weight_decay=self._wd(p), step=self.t)


class AdaGrad(Optimizer):
    """``torch.optim.Adagrad`` (initial_accumulator_value 0)."""

    state_names = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10):
        self.lr_decay = _nonneg("AdaGrad", "lr_decay", lr_decay)
        self.eps = _nonneg("AdaGrad", "eps", eps)
        super().__init__(params, lr, weight_decay)

    def _update(self, p, s):
        ops.adagrad_step(p.data, p.grad, s["sum"], step=self.t, lr=self.lr, lr_decay=self.lr_decay,
                         weight_decay=self._wd(p), eps=self.eps)


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: alpha, eps, momentum, centered."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        self.alpha, self.eps = float(alpha), _nonneg("RMSprop", "eps", eps)
        self.momentum, self.centered = _nonneg("RMSprop", "momentum", momentum), bool(centered)
        self.state_names = (("square_avg",) + (("momentum_buffer",) if self.momentum > 0 else ())
                            + (("grad_avg",) if self.centered else ()))
        super().__init__(params, lr, weight_decay)

    def _update(self, p, s):
        ops.rmsprop_step(p.data, p.grad, s["square_avg"], s.get("momentum_buffer"), s.get("grad_avg"), lr=self.lr,
                         alpha=self.alpha, eps=self.eps, weight_decay=self._wd(p), momentum=self.momentum,
                         centered=self.centered)


class Adam(Optimizer):
    """``torch.optim.Adam`` (amsgrad=False): L2 weight decay added to the gradient."""

    state_names = ("exp_avg", "exp_avg_sq")
    _step_fn = staticmethod(ops.adam_step)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__}: betas: expected a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (float(b1), float(b2))
        self.eps = _nonneg(type(self).__name__, "eps", eps)
        super().__init__(params, lr, weight_decay)

    def _update(self, p, s):
        self._step_fn(p.data, p.grad, s["exp_avg"], s["exp_avg_sq"], step=self.t, lr=self.lr, betas=self.betas,
                      eps=self.eps, weight_decay=self._wd(p))


class AdamW(Adam):
    """``torch.optim.AdamW``: decoupled weight decay (default 0.01), on ``decay=True`` params only."""

    _step_fn = staticmethod(ops.adamw_step)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


OPTIMIZERS = {"sgd": SGD, "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def make_optimizer(name, params, **kw):
    """The optimizer called ``name`` ("sgd", "adagrad", "rmsprop", "adam", "adamw") over ``params``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"make_optimizer: name: expected one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](params, **kw)


def grad_norm(params):
    """Global L2 norm of all gradients (accumulated in float64), as ``clip_grad_norm`` computes it."""
    total, dev = 0.0, None
    for p in params:
        g = p.grad.reshape(-1)
        if isinstance(g, np.ndarray):
            total += float(np.dot(g, g))
        else:  # on the device, summed there in float64: one sync at the end
            d = arrays.array_module(g).dot(g, g).astype(np.float64)
            dev = d if dev is None else dev + d
    return math.sqrt(total + (0.0 if dev is None else float(dev)))


def clip_grad_norm(params, max_norm):
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``
    (``torch.nn.utils.clip_grad_norm_``: coefficient max_norm / (norm + 1e-6), applied only when
    below 1). Returns the norm before clipping; a non-finite norm leaves the gradients unchanged
    (the training loop reports the run as diverged from its loss)."""
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm: expected a float > 0, got {max_norm}")
    params = _param_list("clip_grad_norm", params)
    total = grad_norm(params)
    coef = max_norm / (total + 1e-6)
    if math.isfinite(total) and coef < 1:
        for p in params:
            arrays.array_module(p.grad).multiply(p.grad, p.grad.dtype.type(coef), out=p.grad)
    return total


class Penalty:
    """L1 and L2 penalties on the ``decay=True`` parameters (weights, not biases or BN affine):

        penalty = l1 * sum(|w|) + (l2 / 2) * sum(w**2)

    so ``l2`` equals SGD's ``weight_decay`` coefficient (grad term ``l2 * w``). The training loop
    calls ``add_grad()`` after backward and before clipping, as if the penalty were part of the
    loss. One scratch array per parameter is kept and reused.
    """

    def __init__(self, params, l1=0.0, l2=0.0):
        self.l1, self.l2 = _nonneg("Penalty", "l1", l1), _nonneg("Penalty", "l2", l2)
        self.params = [p for p in _param_list("Penalty", params) if getattr(p, "decay", False)]
        self._scratch = [None] * len(self.params)

    @property
    def active(self):
        return self.l1 > 0 or self.l2 > 0

    def value(self):
        """The penalty term (a float; float64 accumulation)."""
        total = 0.0
        for p in self.params:
            w = p.data.reshape(-1)
            xp = arrays.array_module(w)
            if self.l1:
                total += self.l1 * float(xp.abs(w).sum(dtype=np.float64))
            if self.l2:
                total += 0.5 * self.l2 * float(xp.dot(w, w))
        return total

    def add_grad(self):
        """grad += l1 * sign(w) + l2 * w, in place, for every decay parameter."""
        if not self.active:
            return
        for i, p in enumerate(self.params):
            if self._scratch[i] is None:
                self._scratch[i] = arrays.empty_like(p.data)
            s, t = self._scratch[i], p.data.dtype.type
            xp = np if isinstance(s, np.ndarray) else arrays.array_module(s)
            if self.l2:
                xp.multiply(p.data, t(self.l2), out=s)
                xp.add(p.grad, s, out=p.grad)
            if self.l1:
                xp.sign(p.data, out=s)
                xp.multiply(s, t(self.l1), out=s)
                xp.add(p.grad, s, out=p.grad)
