"""GEMM and the linear (fully connected) layer (see pybench/reference.py for the math)."""

from .. import _native

__all__ = ["gemm", "linear_forward", "linear_backward"]


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None, impl=None):
    """General matrix multiply: ``alpha * op(a) @ op(b) + beta * out``.

    ``op(a)`` is ``a.T`` when ``trans_a`` (likewise ``b``); ``op(a)`` is (M, K), ``op(b)`` (K, N)
    and the result (M, N). ``a`` and ``b`` are 2-D, C-contiguous, both float32 or both float64
    (pass ``a`` itself with ``trans_a=True`` rather than ``a.T``: a transposed view is refused as
    non-contiguous, never copied). ``beta != 0`` reads ``out`` and therefore requires it; with
    ``beta == 0`` the previous contents of ``out`` are ignored, NaN included (BLAS semantics).

    Like ``torch.addmm(out, op(a), op(b), beta=beta, alpha=alpha)`` except that the result is
    written into ``out`` in place (and returned). Same inputs and thread count give bitwise equal
    results. ``impl``: one of ``impls("gemm")`` ("naive", "blocked", "packed"; default the last).
    """
    return _native.gemm(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, out=out, impl=impl)


def linear_forward(x, weight, bias=None, *, out=None, impl=None):
    """``y = x @ weight.T + bias`` as ``torch.nn.functional.linear``.

    x: (N, in), weight: (out, in), bias: (out,) or None -> y: (N, out). Unlike PyTorch, x must be
    2-D (flatten leading batch dimensions yourself) and all arrays share one float dtype.
    The bias is added in the GEMM's write-out, not in a separate pass.
    """
    return _native.linear_forward(x, weight, bias, out=out, impl=impl)


def linear_backward(dy, x, weight, *, bias=True, compute_dx=True, dx=None, dweight=None, dbias=None, impl=None):
    """Gradients of ``y = x @ weight.T + bias`` given ``dy = dL/dy`` (N, out).

    Returns ``(dx, dweight, dbias)``: ``dx = dy @ weight`` (N, in) or None when ``compute_dx`` is
    False (e.g. for the first layer); ``dweight = dy.T @ x`` (out, in); ``dbias = dy.sum(0)``
    (out,) or None when ``bias`` is False. Outputs are overwritten, never accumulated into (unlike
    PyTorch's ``.grad``); pass ``dx=``, ``dweight=``, ``dbias=`` to reuse buffers.
    """
    return _native.linear_backward(dy, x, weight, bias=bias, compute_dx=compute_dx, dx=dx, dweight=dweight,
                                   dbias=dbias, impl=impl)
