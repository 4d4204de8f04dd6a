"""Activations: element-wise ops of any shape, plus softmax / log_softmax over the last axis."""

from .. import _native

__all__ = ["relu_forward", "relu_backward"]


def relu_forward(x, *, out=None, impl=None):
    """y = max(x, 0); NaN propagates."""
    return _native.relu_forward(x, out=out, impl=impl or "")


def relu_backward(dy, x, *, out=None, impl=None):
    """dx = dy where x > 0, else 0."""
    return _native.relu_backward(dy, x, out=out, impl=impl or "")
