"""conv2d forward and backward (NCHW), PyTorch's ``torch.nn.functional.conv2d`` semantics.

See ``pybench/reference.py`` for the math in NumPy.
"""

from .. import _native

__all__ = ["conv2d_forward", "conv2d_backward"]


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, out=None, impl=None):
    """2-D convolution (cross-correlation, as PyTorch), NCHW.

    x: (N, C, H, W); weight: (O, C/groups, kH, kW); bias: (O,) or None. stride, padding and
    dilation are ints or (h, w) pairs; groups divides C and O (groups == C is depthwise).
    Returns y of shape (N, O, OH, OW) with OH = (H + 2*padding - dilation*(kH-1) - 1)//stride + 1.
    Padding is zeros. Differences from PyTorch: padding is an int or a pair only (no 'same' /
    'valid' strings), inputs must be 4-D (use H = 1 for 1-D signals, N = 1 for one image).

    impl: None for the default ``'fast'`` (picks per shape: 1x1 as a GEMM, a direct depthwise
    kernel, Winograd F(2x2,3x3) for 3x3/stride-1/groups-1 layers with >= 16 channels in and out,
    else im2col + GEMM), or ``'naive'``, ``'im2col'``, ``'winograd'`` (Winograd wherever it
    applies). Winograd rounds differently from direct summation (float32 results differ from
    PyTorch's in the last bits); every impl gives the same bits for any thread count.
    """
    return _native.conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out=out, impl=impl)


def conv2d_backward(dy, x, weight, stride=1, padding=0, dilation=1, groups=1, *, bias=True, compute_dx=True,
                    dx=None, dweight=None, dbias=None, impl=None):
    """Gradients of conv2d_forward: returns (dx or None, dweight, dbias or None).

    dy: (N, O, OH, OW), the gradient of the output; x and weight as in the forward, same
    parameters. ``compute_dx=False`` skips dx (e.g. for a first layer), ``bias=False`` skips dbias.
    Outputs are overwritten (never accumulated into); pass ``dx=``/``dweight=``/``dbias=`` to reuse
    buffers. Matches ``torch.ops.aten.convolution_backward`` with output_mask (compute_dx, True, bias).
    impl as in :func:`conv2d_forward`. dweight and dbias are summed in an order fixed by the shapes
    (never by the thread count or scheduling), so they are bitwise reproducible.
    """
    return _native.conv2d_backward(dy, x, weight, stride, padding, dilation, groups, bias=bias, compute_dx=compute_dx,
                                   dx=dx, dweight=dweight, dbias=dbias, impl=impl)
