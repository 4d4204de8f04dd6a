"""Losses on the native ops: ``forward(output, target) -> float`` (the batch mean), then
``backward(grad=1.0) -> doutput``.

Each loss keeps its gradient buffer (and, for integer targets of the element-wise losses, its
one-hot buffer) and reuses it while the batch shape stays the same: the array ``backward``
returns is valid until that loss's next ``backward`` call.

Targets: ``CrossEntropyLoss`` takes integer class indices (N,). ``MSELoss``, ``HuberLoss`` and
``BCEWithLogitsLoss`` take a float target of the output's shape, or integer class indices (N,)
meaning one-hot classification targets (1 at the class, 0 elsewhere) for an (N, C) output.

On a CUDA output (CuPy) the target must be on the same device; buffers are allocated there, and
``forward`` returns a Python float (the one device sync of a training step). Integer targets of
the element-wise losses are range-checked on the device, which costs one more sync.
"""

import numpy as np

from .. import arrays, ops
from ..arrays import is_cuda_array

__all__ = ["Loss", "CrossEntropyLoss", "MSELoss", "HuberLoss", "BCEWithLogitsLoss", "make_loss", "LOSSES"]


def _check_output(cls, output):
    if not (isinstance(output, np.ndarray) or is_cuda_array(output)) or output.dtype not in (np.float32, np.float64):
        got = output.dtype if arrays.is_array(output) else type(output).__name__
        raise TypeError(f"{cls}.forward: output: expected a float32/float64 ndarray, got {got}")


def _out_of_range(target, classes):
    """Any label outside [0, classes)? (On the device: one reduction, one sync.)"""
    if isinstance(target, np.ndarray):
        return target.min() < 0 or target.max() >= classes
    return bool(((target < 0) | (target >= classes)).any())


def _as_target(target):
    """A CUDA target as it is, anything else through np.asarray."""
    return target if is_cuda_array(target) else np.asarray(target)


def _reuse(buf, like):
    """buf when it has like's shape and dtype, else a fresh array (the reuse of every buffer here)."""
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
        return arrays.empty_like(like)
    return buf


class Loss:
    """Base class: ``forward`` remembers its inputs for ``backward``; ``__call__`` is ``forward``."""

    name = "loss"

    def __init__(self):
        self._output = self._target = self._grad = None

    def __call__(self, output, target):
        return self.forward(output, target)

    def forward(self, output, target):
        raise NotImplementedError(f"{type(self).__name__}.forward: every loss defines its own")

    def backward(self, grad=1.0):
        if self._output is None:
            raise ValueError(f"{type(self).__name__}.backward: needs a preceding forward call")
        self._grad = _reuse(self._grad, self._output)
        return self._backward(float(grad), self._grad)

    def __repr__(self):
        return f"{type(self).__name__}()"


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (N, C) with integer labels (N,), mean over the batch
    (``torch.nn.CrossEntropyLoss()``; no weights, ignore_index or label smoothing)."""

    name = "cross_entropy"

    def forward(self, output, target):
        _check_output("CrossEntropyLoss", output)
        target = _as_target(target)
        if target.dtype.kind not in "iu":
            raise TypeError(f"CrossEntropyLoss.forward: target: expected integer class indices, got {target.dtype}")
        if output.ndim != 2 or target.shape != output.shape[:1]:
            raise ValueError(f"CrossEntropyLoss.forward: expected output (N, C) and target (N,), "
                             f"got {output.shape} and {target.shape}")
        self._output, self._target = output, target.astype(np.int64, copy=False)
        return ops.cross_entropy_forward(output, self._target)

    def _backward(self, grad, out):
        return ops.cross_entropy_backward(self._output, self._target, grad=grad, out=out)


class _Elementwise(Loss):
    """A loss over elements of output and a same-shaped float target (integer labels -> one-hot)."""

    def __init__(self):
        super().__init__()
        self._onehot = None

    def forward(self, output, target):
        cls = type(self).__name__
        _check_output(cls, output)
        target = _as_target(target)
        if target.dtype.kind in "iub":
            if output.ndim != 2 or target.shape != output.shape[:1]:
                raise ValueError(f"{cls}.forward: integer target: expected class indices (N,) for an (N, C) "
                                 f"output, got target {target.shape} and output {output.shape}")
            if target.size and _out_of_range(target, output.shape[1]):
                raise ValueError(f"{cls}.forward: target: expected class indices in [0, {output.shape[1]}), "
                                 f"got values in [{target.min()}, {target.max()}]")
            self._onehot = _reuse(self._onehot, output)
            self._onehot.fill(0)
            if isinstance(self._onehot, np.ndarray):
                np.put_along_axis(self._onehot, target.astype(np.intp).reshape(-1, 1), 1, axis=1)
            else:  # CuPy: the same scatter by fancy indexing, on the device
                xp = arrays.array_module(self._onehot)
                self._onehot[xp.arange(target.shape[0]), target.astype(np.intp)] = 1
            target = self._onehot
        elif target.shape != output.shape:
            raise ValueError(f"{cls}.forward: target: expected shape {output.shape} (the output's), got {target.shape}")
        elif target.dtype != output.dtype or not target.flags.c_contiguous:
            target = arrays.array_module(target).ascontiguousarray(target, dtype=output.dtype)
        self._output, self._target = output, target
        return self._forward(output, target)


class MSELoss(_Elementwise):
    """Mean squared error over all elements (``torch.nn.MSELoss()``)."""

    name = "mse"

    def _forward(self, output, target):
        return ops.mse_forward(output, target)

    def _backward(self, grad, out):
        return ops.mse_backward(self._output, self._target, grad=grad, out=out)


class HuberLoss(_Elementwise):
    """Huber loss with threshold ``delta`` (``torch.nn.HuberLoss(delta=delta)``), mean over elements."""

    name = "huber"

    def __init__(self, delta=1.0):
        super().__init__()
        delta = float(delta)
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"HuberLoss: delta: expected a finite float > 0, got {delta}")
        self.delta = delta

    def _forward(self, output, target):
        return ops.huber_forward(output, target, self.delta)

    def _backward(self, grad, out):
        return ops.huber_backward(self._output, self._target, self.delta, grad=grad, out=out)

    def __repr__(self):
        return f"HuberLoss(delta={self.delta})"


class BCEWithLogitsLoss(_Elementwise):
    """Binary cross-entropy on logits, mean over elements (``torch.nn.BCEWithLogitsLoss()``);
    with integer labels, one independent sigmoid per class against the one-hot target."""

    name = "bce"

    def _forward(self, output, target):
        return ops.bce_with_logits_forward(output, target)

    def _backward(self, grad, out):
        return ops.bce_with_logits_backward(self._output, self._target, grad=grad, out=out)


LOSSES = {"cross_entropy": CrossEntropyLoss, "mse": MSELoss, "huber": HuberLoss, "bce": BCEWithLogitsLoss}


def make_loss(name, **kw):
    """The loss called ``name`` ("cross_entropy", "mse", "huber", "bce") built with ``kw``."""
    if name not in LOSSES:
        raise ValueError(f"make_loss: name: expected one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name](**kw)
