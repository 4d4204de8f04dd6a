"""2-D pooling: max_pool2d, avg_pool2d and global average pooling, NCHW, PyTorch semantics.

Differences from PyTorch: inputs are 4-D (N, C, H, W) only; no ``ceil_mode``, no ``dilation``
and no ``divisor_override`` (floor mode, dilation 1, the usual divisor). As in PyTorch, padding
may be at most half the kernel size; ``stride=None`` means stride = kernel_size.
See ``pybench/reference.py`` for the math in NumPy.
"""

from .. import _native

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
]


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, *, out=None, indices=None, impl=None):
    """Max over kH x kW windows: returns (y, indices), y (N, C, OH, OW).

    indices are int64 positions h*W + w of the maximum within each input plane (as PyTorch's
    return_indices=True). Padding counts as -inf; among equal maxima the first in row-major window
    order wins; a NaN in the window wins (NaN propagates). OH = (H + 2*padding - kH)//stride + 1.
    """
    return _native.max_pool2d_forward(x, kernel_size, stride, padding, out=out, indices=indices, impl=impl)


def max_pool2d_backward(dy, indices, input_shape, *, out=None, impl=None):
    """dx of shape input_shape (N, C, H, W): dy scattered (added) at the forward's indices.

    Raises ValueError if an index lies outside [0, H*W) (out then holds no valid result).
    """
    return _native.max_pool2d_backward(dy, indices, input_shape, out=out, impl=impl)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True, *, out=None, impl=None):
    """Mean over kH x kW windows (zero padding). count_include_pad=True divides by kH*kW, else by
    the number of in-bounds elements of the window (PyTorch's rule)."""
    return _native.avg_pool2d_forward(x, kernel_size, stride, padding, count_include_pad, out=out, impl=impl)


def avg_pool2d_backward(dy, input_shape, kernel_size, stride=None, padding=0, count_include_pad=True, *, out=None,
                        impl=None):
    """dx of shape input_shape: each dy spread evenly (dy / divisor) over its window."""
    return _native.avg_pool2d_backward(dy, input_shape, kernel_size, stride, padding, count_include_pad, out=out,
                                       impl=impl)


def global_avg_pool2d_forward(x, *, out=None, impl=None):
    """(N, C, H, W) -> (N, C): the mean of each plane (adaptive_avg_pool2d(x, 1) flattened)."""
    return _native.global_avg_pool2d_forward(x, out=out, impl=impl)


def global_avg_pool2d_backward(dy, input_shape, *, out=None, impl=None):
    """dx (N, C, H, W) = dy[n, c] / (H*W) everywhere in plane (n, c)."""
    return _native.global_avg_pool2d_backward(dy, input_shape, out=out, impl=impl)
