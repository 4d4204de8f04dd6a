"""Every pybench op in plain NumPy: the oracle for the tests and the readable statement of the math.

Functions mirror ``pybench.ops`` name for name and argument for argument (``out=`` and ``impl=``
aside). They compute in the dtype they are given, so float64 inputs give a float64 reference.
Clarity beats speed here; nothing in this file is ever timed as "ours".
"""

import numpy as np

# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------


# Element-wise ops follow PyTorch's CPU formulas, NaN handling included (a comparison that is
# false for NaN decides which branch a NaN takes). Overflow inside np.where's unused branch is
# expected, so these run under np.errstate(all="ignore").

_quiet = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")


def _via64(fn):
    """Evaluate fn in float64 and round the result to the input dtype: the transcendental ops'
    textbook formulas cancel in float32 (1 - s for s = sigmoid(x) near 1, 1 - tanh(x)^2, 1 + tanh(k)
    in gelu's tanh form), so the float32 oracle is the float64 value, rounded once."""
    def wrapped(*arrays, **params):
        dtype = arrays[0].dtype
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            return fn(*(np.asarray(a, np.float64) for a in arrays), **params).astype(dtype)
    wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
    return wrapped


def _erf(x):
    """erf element-wise (NumPy has none): math.erf in float64, cast back to x's dtype."""
    import math  # here, not at the top: the file header is shared by every op family

    x = np.asarray(x)
    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


def relu_forward(x):
    return np.where(x < 0, np.zeros_like(x), x)


def relu_backward(dy, x):
    return np.where(x <= 0, np.zeros_like(dy), dy)


def leaky_relu_forward(x, negative_slope=0.01):
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(dy, x, negative_slope=0.01):
    return np.where(x > 0, dy, dy * dy.dtype.type(negative_slope))


@_via64
def elu_forward(x, alpha=1.0):
    return np.where(x <= 0, x.dtype.type(alpha) * np.expm1(x), x)


@_via64
def elu_backward(dy, x, alpha=1.0):
    return np.where(x > 0, dy, dy * (x.dtype.type(alpha) * np.exp(x)))  # NaN x -> NaN


_SQRT1_2 = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794
_GELU_BETA = 0.79788456080286535588  # sqrt(2 / pi)
_GELU_KAPPA = 0.044715


@_via64
def gelu_forward(x, approximate="none"):
    if approximate == "tanh":
        inner = _GELU_BETA * (x + _GELU_KAPPA * x * x * x)
        return 0.5 * x * (1 + np.tanh(inner))
    return x * 0.5 * (1 + _erf(x * _SQRT1_2))


@_via64
def gelu_backward(dy, x, approximate="none"):
    if approximate == "tanh":
        x2 = x * x
        th = np.tanh(_GELU_BETA * (x + _GELU_KAPPA * x2 * x))
        left, right = 0.5 * x, 1 + th
        dright = left * (1 - th * th) * (_GELU_BETA * (1 + 3 * _GELU_KAPPA * x2))
        return dy * (0.5 * right + dright)
    cdf = 0.5 * (1 + _erf(x * _SQRT1_2))
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return dy * (cdf + x * pdf)


@_via64
def sigmoid_forward(x):
    return 1 / (1 + np.exp(-x))


@_via64
def sigmoid_backward(dy, x):
    s = sigmoid_forward(x)
    return dy * (1 - s) * s


@_via64
def tanh_forward(x):
    return np.tanh(x)


@_via64
def tanh_backward(dy, x):
    t = np.tanh(x)
    return dy * (1 - t * t)


@_via64
def silu_forward(x):
    return x / (1 + np.exp(-x))


@_via64
def silu_backward(dy, x):
    s = sigmoid_forward(x)
    return dy * s * (1 + x * (1 - s))


@_via64
def softplus_forward(x, beta=1.0, threshold=20.0):
    """x where x*beta > threshold, else log(1 + exp(beta x)) / beta, written stably as
    (max(z, 0) + log1p(exp(-|z|))) / beta (PyTorch's log1p(exp(z)) overflows for z > 88 in float32)."""
    t = x.dtype.type
    z = x * t(beta)
    soft = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / t(beta)
    return np.where(z > threshold, x, soft)


@_via64
def softplus_backward(dy, x, beta=1.0, threshold=20.0):
    z = x * x.dtype.type(beta)
    return np.where(z > threshold, dy, dy * sigmoid_forward(z))


@_quiet
def softmax_forward(x):
    """Over the last axis. A row with NaN or +inf, or all -inf, is NaN (inf - inf), as PyTorch."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@_quiet
def log_softmax_forward(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def softmax_backward(dy, y):
    """y is the forward output: dx = y * (dy - sum(dy * y))."""
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


@_quiet
def log_softmax_backward(dy, y):
    """y is the forward output (log-probabilities): dx = dy - exp(y) * sum(dy)."""
    return dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# conv2d and pooling
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# batch_norm
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# dropout (Philox4x32-10)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------
