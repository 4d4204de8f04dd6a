"""Activations: element-wise ops of any shape, plus softmax / log_softmax over the last axis.

PyTorch functional semantics (``torch.nn.functional.relu``, ``leaky_relu``, ``elu``, ``gelu``,
``sigmoid``, ``tanh``, ``silu``, ``softplus``, ``softmax(dim=-1)``, ``log_softmax(dim=-1)``),
including NaN propagation. ``<name>_backward(dy, x, ...)`` returns ``dx`` for the forward
computed from ``x``; softmax and log_softmax backward take the forward *output* ``y``.

Every function takes ``out=`` (written in place and returned; it must have the input's shape and
dtype, be C-contiguous, writable and not overlap an input) and ``impl=`` (see
``pybench.ops.impls("gelu_forward")``: ``naive`` plain loops with std:: math, ``vec`` threaded and
vectorized with pybench's float32 fast math (a few ulp, see csrc/math/fastmath.h), ``stream``
``vec`` plus streaming stores for outputs of 16 MiB or more, ``simd`` (the default) explicit
AVX-512 loops over the same formulas with the same accuracy, streaming from registers; on builds
or CPUs without AVX-512, and for float64, ``simd`` runs ``stream`` (softmax family: ``vec``)).
float32 and float64 inputs (float64 uses the C library's math in every impl); the result has the
input's dtype.
"""

from .. import _native

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "elu_forward", "elu_backward",
    "gelu_forward", "gelu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "silu_forward", "silu_backward",
    "softplus_forward", "softplus_backward",
    "softmax_forward", "softmax_backward",
    "log_softmax_forward", "log_softmax_backward",
]


def relu_forward(x, *, out=None, impl=None):
    """y = max(x, 0); NaN propagates."""
    return _native.relu_forward(x, out=out, impl=impl)


def relu_backward(dy, x, *, out=None, impl=None):
    """dx = 0 where x <= 0, else dy (a NaN x passes dy through, as PyTorch's threshold_backward)."""
    return _native.relu_backward(dy, x, out=out, impl=impl)


def leaky_relu_forward(x, negative_slope=0.01, *, out=None, impl=None):
    """y = x if x > 0 else negative_slope * x. ``negative_slope`` must be finite (PyTorch: any)."""
    return _native.leaky_relu_forward(x, negative_slope, out=out, impl=impl)


def leaky_relu_backward(dy, x, negative_slope=0.01, *, out=None, impl=None):
    """dx = dy if x > 0 else negative_slope * dy."""
    return _native.leaky_relu_backward(dy, x, negative_slope, out=out, impl=impl)


def elu_forward(x, alpha=1.0, *, out=None, impl=None):
    """y = x if x > 0 else alpha * (exp(x) - 1) (expm1, accurate near 0). ``alpha`` must be finite."""
    return _native.elu_forward(x, alpha, out=out, impl=impl)


def elu_backward(dy, x, alpha=1.0, *, out=None, impl=None):
    """dx = dy if x > 0 else dy * alpha * exp(x) (PyTorch's elu_backward with is_result=False).
    A NaN x gives NaN, as PyTorch's float64 kernel (its float32 kernel passes dy through)."""
    return _native.elu_backward(dy, x, alpha, out=out, impl=impl)


def gelu_forward(x, approximate="none", *, out=None, impl=None):
    """approximate='none': y = x/2 (1 + erf(x / sqrt 2)); 'tanh':
    y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Any other string is a ValueError.

    The tanh form is evaluated as x * sigmoid(2k) (the same function), which avoids the
    cancellation in 1 + tanh(k) for x < -3 that costs PyTorch's float32 result ~1e-6 absolute.
    gelu(+inf) = +inf (PyTorch's vectorized float32 kernel gives NaN there)."""
    return _native.gelu_forward(x, approximate, out=out, impl=impl)


def gelu_backward(dy, x, approximate="none", *, out=None, impl=None):
    """dx = dy * d gelu / dx for the chosen form (PyTorch's gelu_backward formulas)."""
    return _native.gelu_backward(dy, x, approximate, out=out, impl=impl)


def sigmoid_forward(x, *, out=None, impl=None):
    """y = 1 / (1 + exp(-x)); saturates to exactly 0 / 1 for large |x|, never NaN for finite x."""
    return _native.sigmoid_forward(x, out=out, impl=impl)


def sigmoid_backward(dy, x, *, out=None, impl=None):
    """dx = dy * s * (1 - s), s = sigmoid(x). Takes x (PyTorch's sigmoid_backward takes the output)."""
    return _native.sigmoid_backward(dy, x, out=out, impl=impl)


def tanh_forward(x, *, out=None, impl=None):
    """y = tanh(x)."""
    return _native.tanh_forward(x, out=out, impl=impl)


def tanh_backward(dy, x, *, out=None, impl=None):
    """dx = dy * (1 - tanh(x)^2). Takes x (PyTorch's tanh_backward takes the output)."""
    return _native.tanh_backward(dy, x, out=out, impl=impl)


def silu_forward(x, *, out=None, impl=None):
    """y = x * sigmoid(x) = x / (1 + exp(-x))."""
    return _native.silu_forward(x, out=out, impl=impl)


def silu_backward(dy, x, *, out=None, impl=None):
    """dx = dy * s * (1 + x (1 - s)), s = sigmoid(x)."""
    return _native.silu_backward(dy, x, out=out, impl=impl)


def softplus_forward(x, beta=1.0, threshold=20.0, *, out=None, impl=None):
    """y = x where x * beta > threshold (PyTorch's linear region), else log(1 + exp(beta x)) / beta.

    Differs from PyTorch: the log term is evaluated stably (max(z, 0) + log1p(exp(-|z|))), so a
    threshold above ~88 (float32) gives the right value where PyTorch's log1p(exp(z)) overflows
    to inf; ``beta`` must be finite and > 0 and ``threshold`` not NaN (PyTorch accepts any).
    """
    return _native.softplus_forward(x, beta, threshold, out=out, impl=impl)


def softplus_backward(dy, x, beta=1.0, threshold=20.0, *, out=None, impl=None):
    """dx = dy where x * beta > threshold, else dy * sigmoid(beta x) (stable; PyTorch's
    z / (z + 1) with z = exp(beta x) is NaN where z overflows)."""
    return _native.softplus_backward(dy, x, beta, threshold, out=out, impl=impl)


def softmax_forward(x, *, out=None, impl=None):
    """y = exp(x - max) / sum(exp(x - max)) over the last axis (x has at least 1 dimension).
    A row holding NaN or +inf, or all -inf, gives NaN, as PyTorch."""
    return _native.softmax_forward(x, out=out, impl=impl)


def softmax_backward(dy, y, *, out=None, impl=None):
    """dx = y * (dy - sum(dy * y, last axis)), with y the forward output."""
    return _native.softmax_backward(dy, y, out=out, impl=impl)


def log_softmax_forward(x, *, out=None, impl=None):
    """y = x - max - log(sum(exp(x - max))) over the last axis."""
    return _native.log_softmax_forward(x, out=out, impl=impl)


def log_softmax_backward(dy, y, *, out=None, impl=None):
    """dx = dy - exp(y) * sum(dy, last axis), with y the forward output."""
    return _native.log_softmax_backward(dy, y, out=out, impl=impl)
