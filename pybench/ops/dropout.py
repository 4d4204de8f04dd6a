"""Dropout with a counter-based (Philox4x32-10) mask (see pybench/reference.py for the math).

The mask is a pure function of ``(seed, offset, element index)``: element ``i`` (flat C order) of a
call uses the stream position ``g = offset + i``; Philox4x32-10 with counter
``(lo32(g // 4), hi32(g // 4), 0, 0)`` and key ``(lo32(seed), hi32(seed))`` gives four 32-bit
words, of which word ``g % 4`` is the element's ``u``. The element is kept iff
``u >= floor(p * 2**32)`` (an integer test: ``p=0`` keeps all, ``p=1`` none). So the mask does
not depend on the thread count, the SIMD level or (later) the device, and a call at ``offset=k``
sees elements ``k, k+1, ...`` of the stream that a call at ``offset=0`` sees: advance ``offset`` by
the number of elements used to get fresh masks from one seed.

Differences from PyTorch's ``torch.nn.functional.dropout``: the RNG is explicit (``seed``,
``offset``) instead of a global generator; a dropped element is exactly ``0`` even where ``x`` is
NaN or Inf (PyTorch multiplies by a zero mask and gets NaN there); the keep probability is
``1 - floor(p * 2**32) / 2**32`` (within ``2**-32`` of ``1 - p``).
"""

from .. import _native

__all__ = ["dropout_forward", "dropout_backward", "dropout_mask"]


def dropout_forward(x, p=0.5, seed=0, offset=0, training=True, *, out=None, impl=None):
    """Inverted dropout: ``y = x * mask / (1 - p)``; ``training=False`` copies ``x``.

    Args:
        x: float32/float64 C-contiguous array of any shape.
        p: probability of dropping an element, in [0, 1]; ``p=1`` gives zeros (no NaN).
        seed: integer in [0, 2**64) selecting the random stream.
        offset: integer >= 0, the stream position of ``x``'s first element.
        training: when False, ``y`` is a copy of ``x`` (no mask).
        out: optional output array (same shape and dtype as ``x``, not overlapping it).
        impl: implementation name (``pybench.ops.impls("dropout_forward")``); default the fastest.

    Returns:
        ``y`` (``out`` when given). The scale ``1/(1-p)`` is computed in double and rounded once
        to ``x``'s dtype; kept elements are ``x * scale``.
    """
    return _native.dropout_forward(x, p, seed, offset, training, out=out, impl=impl)


def dropout_backward(dy, p, seed, offset=0, *, out=None, impl=None):
    """Gradient of :func:`dropout_forward` (training): ``dx = dy * mask / (1 - p)``.

    The mask is regenerated from ``(seed, offset)``, so pass the forward call's values; nothing
    is stored between the two calls.
    """
    return _native.dropout_backward(dy, p, seed, offset, out=out, impl=impl)


def dropout_mask(shape, p, seed, offset=0, *, impl=None):
    """The keep mask (uint8, 1 = kept) that :func:`dropout_forward` uses for an array of ``shape``
    (an int or a tuple of ints)."""
    return _native.dropout_mask(shape, p, seed, offset, impl=impl)
