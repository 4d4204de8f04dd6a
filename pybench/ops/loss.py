"""Losses with mean reduction: forward returns the loss as a Python float, backward the gradient
of that mean with respect to the input, times ``grad`` (the upstream gradient, default 1.0).

Semantics follow ``torch.nn.functional`` with ``reduction='mean'``. The reduction is accumulated
in float64 for float32 inputs too, in fixed chunks, so the value is deterministic for any thread
count (and slightly more accurate than PyTorch's float32 result). The formulas live once in
``csrc/math/loss.h``; ``pybench.reference`` states them in NumPy.

An empty input (N = 0 logits for cross-entropy; any extent 0 for the element-wise losses) is not
an error: the mean over no terms is NaN, as PyTorch's ``reduction='mean'``, and the backward
returns an empty gradient.
"""

from .. import _native

__all__ = [
    "cross_entropy_forward", "cross_entropy_backward",
    "mse_forward", "mse_backward",
    "huber_forward", "huber_backward",
    "bce_with_logits_forward", "bce_with_logits_backward",
]


def cross_entropy_forward(logits, labels, *, impl=None):
    """Softmax cross-entropy, ``mean_i(logsumexp(logits[i]) - logits[i, labels[i]])``.

    logits: (N, C) float32/float64; labels: (N,) int64 class indices in [0, C). Computed with the
    max shift, so logits of +-1e4 give finite, accurate values. Differs from
    ``torch.nn.functional.cross_entropy``: 2-D logits only, no ``weight``, ``ignore_index`` or
    ``label_smoothing``; a label outside [0, C) (including PyTorch's ignore value -100) raises
    ValueError naming the label and its position.
    """
    return _native.cross_entropy_forward(logits, labels, impl=impl)


def cross_entropy_backward(logits, labels, *, grad=1.0, out=None, impl=None):
    """d(mean cross-entropy)/d(logits) * grad = grad * (softmax(logits) - onehot(labels)) / N."""
    return _native.cross_entropy_backward(logits, labels, grad=grad, out=out, impl=impl)


def mse_forward(input, target, *, impl=None):
    """Mean squared error ``mean((input - target)**2)``; input and target of the same shape and dtype."""
    return _native.mse_forward(input, target, impl=impl)


def mse_backward(input, target, *, grad=1.0, out=None, impl=None):
    """d(MSE)/d(input) * grad = grad * 2 (input - target) / numel."""
    return _native.mse_backward(input, target, grad=grad, out=out, impl=impl)


def huber_forward(input, target, delta=1.0, *, impl=None):
    """Huber loss as ``torch.nn.HuberLoss(delta=delta)``: mean over elements of
    ``0.5 d**2`` where ``|d| < delta`` else ``delta (|d| - delta/2)``, d = input - target.
    delta must be finite and > 0."""
    return _native.huber_forward(input, target, delta, impl=impl)


def huber_backward(input, target, delta=1.0, *, grad=1.0, out=None, impl=None):
    """d(Huber)/d(input) * grad = grad * clip(input - target, -delta, delta) / numel."""
    return _native.huber_backward(input, target, delta, grad=grad, out=out, impl=impl)


def bce_with_logits_forward(input, target, *, impl=None):
    """Binary cross-entropy on logits, ``mean(max(x, 0) - x t + log1p(exp(-|x|)))`` (the stable
    form; never overflows). Targets may be soft (any real value, as PyTorch). Differs from
    ``torch.nn.functional.binary_cross_entropy_with_logits``: no ``weight`` or ``pos_weight``."""
    return _native.bce_with_logits_forward(input, target, impl=impl)


def bce_with_logits_backward(input, target, *, grad=1.0, out=None, impl=None):
    """d(BCE)/d(input) * grad = grad * (sigmoid(input) - target) / numel."""
    return _native.bce_with_logits_backward(input, target, grad=grad, out=out, impl=impl)
