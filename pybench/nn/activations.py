"""One layer per activation, on the native element-wise ops, plus the ``activation(name)`` factory.

Activations have no dtype of their own: they take float32 or float64 input of any shape and
return the same (the native op refuses anything else; the error names the layer). Output and dx
buffers are reused per input shape (valid until the layer's next call, see pybench.nn.module).
FLOPs are nominal: 1 per element forward, 1 more per element for dx (they are memory-bound, so
time follows bytes, not this count).
"""

import math

import numpy as np

from .. import ops
from ..arrays import is_cuda_array
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh", "SiLU", "Hardswish", "Softplus", "Softmax",
           "LogSoftmax", "activation", "activation_names"]


class _Activation(Module):
    """y = f(x) element-wise; backward dx = dy * f'(x) from the saved input x."""

    by_output = False  # softmax-style: backward takes the forward output instead of x

    def __init__(self, fwd, bwd, *args):
        super().__init__()
        self._f, self._b, self._args = fwd, bwd, args  # instance attributes: plain functions, not methods
        self._x = self._ent = None

    def forward(self, x):
        if not (isinstance(x, np.ndarray) or is_cuda_array(x)):
            raise self._not_array(x)
        ent = self._entry(x)
        return self._call(self._f, x, *self._args, out=ent[0])

    def backward(self, dy):
        dx = self._dx()
        if dx is None:
            return None
        return self._call(self._b, dy, self._ent[0] if self.by_output else self._x, *self._args, out=dx)

    def flops(self, in_shape, backward=False):
        n = math.prod(in_shape)
        return n * (2 if backward and self.compute_dx else 1)


def _finite(value, name, who):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: {name}: expected a finite number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{who}: {name}: expected a finite number, got {value!r}")
    return float(value)


class ReLU(_Activation):
    op = "relu"

    def __init__(self):
        super().__init__(ops.relu_forward, ops.relu_backward)


class LeakyReLU(_Activation):
    op = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        self.negative_slope = _finite(negative_slope, "negative_slope", "LeakyReLU")
        super().__init__(ops.leaky_relu_forward, ops.leaky_relu_backward, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(_Activation):
    op = "elu"

    def __init__(self, alpha=1.0):
        self.alpha = _finite(alpha, "alpha", "ELU")
        super().__init__(ops.elu_forward, ops.elu_backward, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class GELU(_Activation):
    op = "gelu"

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate: expected 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        super().__init__(ops.gelu_forward, ops.gelu_backward, approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Sigmoid(_Activation):
    op = "sigmoid"

    def __init__(self):
        super().__init__(ops.sigmoid_forward, ops.sigmoid_backward)


class Tanh(_Activation):
    op = "tanh"

    def __init__(self):
        super().__init__(ops.tanh_forward, ops.tanh_backward)


class SiLU(_Activation):
    op = "silu"

    def __init__(self):
        super().__init__(ops.silu_forward, ops.silu_backward)


class Hardswish(_Activation):
    op = "hardswish"

    def __init__(self):
        super().__init__(ops.hardswish_forward, ops.hardswish_backward)


class Softplus(_Activation):
    op = "softplus"

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta = _finite(beta, "beta", "Softplus")
        self.threshold = _finite(threshold, "threshold", "Softplus")
        if self.beta <= 0:
            raise ValueError(f"Softplus: beta: expected a finite number > 0, got {beta!r}")
        super().__init__(ops.softplus_forward, ops.softplus_backward, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(_Activation):
    """Softmax over the last axis (not in the contract's list: here for the "softmax before
    cross-entropy" last-layer pitfall)."""

    op = "softmax"
    by_output = True

    def __init__(self):
        super().__init__(ops.softmax_forward, ops.softmax_backward)


class LogSoftmax(_Activation):
    """log-softmax over the last axis."""

    op = "log_softmax"
    by_output = True

    def __init__(self):
        super().__init__(ops.log_softmax_forward, ops.log_softmax_backward)


def _identity(**kw):
    from .layers import Identity
    if kw:
        raise TypeError(f"activation: identity takes no options, got {sorted(kw)}")
    return Identity()


_FACTORIES = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU, "gelu": GELU,
    "gelu_tanh": lambda **kw: GELU(approximate="tanh", **kw), "sigmoid": Sigmoid, "tanh": Tanh,
    "silu": SiLU, "hardswish": Hardswish, "softplus": Softplus, "softmax": Softmax, "log_softmax": LogSoftmax,
    "identity": _identity,
}


def activation_names():
    return list(_FACTORIES)


def activation(name, **kw):
    """A fresh activation layer by name: "relu", "leaky_relu", "elu", "gelu", "gelu_tanh",
    "sigmoid", "tanh", "silu", "hardswish", "softplus", "identity" (or None), plus "softmax" and
    "log_softmax"; ``kw`` goes to the class (e.g. ``negative_slope=0.1``)."""
    if name is None:
        name = "identity"
    if not isinstance(name, str):
        raise TypeError(f"activation: name: expected a str or None, got {type(name).__name__}")
    if name not in _FACTORIES:
        raise ValueError(f"activation: name: expected one of {', '.join(map(repr, _FACTORIES))} or None, "
                         f"got {name!r}")
    try:
        return _FACTORIES[name](**kw)
    except TypeError as e:
        raise TypeError(f"activation: {name!r}: {e}") from None
