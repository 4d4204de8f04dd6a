"""Every pybench op in plain NumPy: the oracle for the tests and the readable statement of the math.

Functions mirror ``pybench.ops`` name for name and argument for argument (``out=`` and ``impl=``
aside). They compute in the dtype they are given, so float64 inputs give a float64 reference.
Clarity beats speed here; nothing in this file is ever timed as "ours".
"""

import numpy as np

# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------


def relu_forward(x):
    return np.where(x < 0, np.zeros_like(x), x)


def relu_backward(dy, x):
    return np.where(x > 0, dy, np.zeros_like(dy))


# ---------------------------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------------------------


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, out=None):
    """alpha * op(a) @ op(b) + beta * out, computed in the dtype of a (out is not modified).

    beta == 0 ignores out entirely (so NaN in it does not propagate), as BLAS does.
    """
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    dt = a.dtype.type
    prod = dt(alpha) * (opa @ opb)
    if beta != 0:
        prod = prod + dt(beta) * out
    return prod.astype(a.dtype, copy=False)


def linear_forward(x, weight, bias=None):
    """y = x @ weight.T + bias;  x (N, in), weight (out, in), bias (out,) -> (N, out)."""
    y = x @ weight.T
    return y if bias is None else y + bias


def linear_backward(dy, x, weight, *, bias=True, compute_dx=True):
    """(dx, dweight, dbias) of linear_forward given dy (N, out)."""
    dx = dy @ weight if compute_dx else None
    dweight = dy.T @ x
    dbias = dy.sum(axis=0) if bias else None
    return dx, dweight, dbias


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
