"""Batch normalization over (N, C) and (N, C, H, W) (see pybench/reference.py for the math).

Semantics of ``torch.nn.functional.batch_norm``: training normalizes with the batch mean and the
biased batch variance and updates ``running_mean`` / ``running_var`` in place with
``running = (1 - momentum) * running + momentum * batch`` (the unbiased variance for
``running_var``); eval normalizes with the running statistics. ``y = (x - mean) / sqrt(var + eps)
* weight + bias`` per channel.

Differences from PyTorch: ``momentum=None`` (cumulative moving average) is not supported; the
forward returns ``(y, save_mean, save_invstd)`` (what the backward needs) instead of ``y``, and in
eval mode these are the running mean and ``1/sqrt(running_var + eps)``. Statistics are computed in
float64 for every input dtype, and results are bitwise reproducible for any thread count.
"""

from .. import _native

__all__ = ["batch_norm_forward", "batch_norm_backward"]


def batch_norm_forward(x, weight, bias, running_mean, running_var, training=True, momentum=0.1, eps=1e-5, *,
                       out=None, impl=None):
    """Batch normalization forward.

    Args:
        x: (N, C) or (N, C, H, W) float32/float64, C-contiguous.
        weight, bias: (C,) arrays of x's dtype, or None (1 and 0: no affine transform).
        running_mean, running_var: (C,) arrays of x's dtype, updated in place when training; both
            or neither may be None (then no running statistics are kept; ``training`` must be True).
        training: use batch statistics (True) or the running statistics (False).
        momentum: in [0, 1]; eps: finite, >= 0.
        out: optional output for y (x's shape and dtype, not overlapping any input).
        impl: implementation name (``pybench.ops.impls("batch_norm_forward")``).

    Returns:
        (y, save_mean, save_invstd), the last two of shape (C,).

    Raises ValueError in training mode when a channel has a single value (N * H * W == 1), as
    PyTorch does. An empty batch (N = 0; the other extents must be > 0) gives an empty ``y``, as
    PyTorch: in training the running statistics are left untouched and ``save_mean`` /
    ``save_invstd`` (statistics of no values) are NaN; in eval they come from the running
    statistics as usual.
    """
    return _native.batch_norm_forward(x, weight, bias, running_mean, running_var, training, momentum, eps, out=out,
                                      impl=impl)


def batch_norm_backward(dy, x, weight, save_mean, save_invstd, training=True, *, dx=None, dweight=None, dbias=None,
                        impl=None):
    """Batch normalization backward.

    ``save_mean``/``save_invstd`` are the forward's second and third results. With
    ``training=True`` the mean and variance are functions of x (the full batch-norm gradient);
    with ``training=False`` they are constants (``dx = dy * weight * invstd``).

    Returns:
        (dx, dweight, dbias); dweight = sum(dy * xhat) and dbias = sum(dy) per channel, both None
        when ``weight`` is None (then dweight/dbias must not be given). For an empty batch (N = 0)
        dx is empty and dweight / dbias are zeros, as PyTorch.
    """
    return _native.batch_norm_backward(dy, x, weight, save_mean, save_invstd, training, dx=dx, dweight=dweight,
                                       dbias=dbias, impl=impl)
