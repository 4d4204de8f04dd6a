"""2-D pooling: max_pool2d, avg_pool2d and global average pooling, NCHW, PyTorch semantics.

Differences from PyTorch: inputs are 4-D (N, C, H, W) only; no ``ceil_mode``, no ``dilation``
and no ``divisor_override`` (floor mode, dilation 1, the usual divisor). As in PyTorch, padding
may be at most half the kernel size; ``stride=None`` means stride = kernel_size.
See ``pybench/reference.py`` for the math in NumPy.
"""

from .. import _native
from .conv import _pair

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
]


def _params(op, kernel_size, stride, padding):
    k = _pair(kernel_size, "kernel_size", op)
    s = k if stride is None else _pair(stride, "stride", op)
    return k, s, _pair(padding, "padding", op)


def _shape(op, input_shape):
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"{op}: input_shape: expected a tuple of 4 ints, got {type(input_shape).__name__}")
    return [int(e.__index__()) if hasattr(e, "__index__") and not isinstance(e, bool) else _bad(op, e)
            for e in input_shape]


def _bad(op, e):
    raise TypeError(f"{op}: input_shape: expected ints, got {type(e).__name__}")


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, *, out=None, indices=None, impl=None):
    """Max over kH x kW windows: returns (y, indices), y (N, C, OH, OW).

    indices are int64 positions h*W + w of the maximum within each input plane (as PyTorch's
    return_indices=True). Padding counts as -inf; among equal maxima the first in row-major window
    order wins; a NaN in the window wins (NaN propagates). OH = (H + 2*padding - kH)//stride + 1.
    """
    op = "max_pool2d_forward"
    k, s, p = _params(op, kernel_size, stride, padding)
    return _native.max_pool2d_forward(x, k, s, p, out=out, indices=indices, impl=impl or "")


def max_pool2d_backward(dy, indices, input_shape, *, out=None, impl=None):
    """dx of shape input_shape (N, C, H, W): dy scattered (added) at the forward's indices.

    Raises ValueError if an index lies outside [0, H*W) (out then holds no valid result).
    """
    op = "max_pool2d_backward"
    return _native.max_pool2d_backward(dy, indices, _shape(op, input_shape), out=out, impl=impl or "")


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True, *, out=None, impl=None):
    """Mean over kH x kW windows (zero padding). count_include_pad=True divides by kH*kW, else by
    the number of in-bounds elements of the window (PyTorch's rule)."""
    op = "avg_pool2d_forward"
    k, s, p = _params(op, kernel_size, stride, padding)
    return _native.avg_pool2d_forward(x, k, s, p, bool(count_include_pad), out=out, impl=impl or "")


def avg_pool2d_backward(dy, input_shape, kernel_size, stride=None, padding=0, count_include_pad=True, *, out=None,
                        impl=None):
    """dx of shape input_shape: each dy spread evenly (dy / divisor) over its window."""
    op = "avg_pool2d_backward"
    k, s, p = _params(op, kernel_size, stride, padding)
    return _native.avg_pool2d_backward(dy, _shape(op, input_shape), k, s, p, bool(count_include_pad), out=out,
                                       impl=impl or "")


def global_avg_pool2d_forward(x, *, out=None, impl=None):
    """(N, C, H, W) -> (N, C): the mean of each plane (adaptive_avg_pool2d(x, 1) flattened)."""
    return _native.global_avg_pool2d_forward(x, out=out, impl=impl or "")


def global_avg_pool2d_backward(dy, input_shape, *, out=None, impl=None):
    """dx (N, C, H, W) = dy[n, c] / (H*W) everywhere in plane (n, c)."""
    return _native.global_avg_pool2d_backward(dy, _shape("global_avg_pool2d_backward", input_shape), out=out,
                                              impl=impl or "")
