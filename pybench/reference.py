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


def _conv_pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _conv_geometry(x, weight, stride, padding, dilation, groups):
    (sh, sw), (ph, pw), (dh, dw) = _conv_pair(stride), _conv_pair(padding), _conv_pair(dilation)
    N, C, H, W = x.shape
    O, Cg, KH, KW = weight.shape
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    return (sh, sw), (ph, pw), (dh, dw), (N, C, H, W), (O, Cg, KH, KW), (OH, OW)


def _conv_window(xp, i, j, s, d, out_hw):
    """The (.., OH, OW) view of padded xp seen by kernel tap (i, j)."""
    (sh, sw), (dh, dw), (OH, OW) = s, d, out_hw
    return xp[..., i * dh: i * dh + sh * (OH - 1) + 1: sh, j * dw: j * dw + sw * (OW - 1) + 1: sw]


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o] = bias[o] + sum over the group's channels c and taps (i, j) of
    weight[o, c, i, j] * x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]."""
    s, (ph, pw), d, (N, C, H, W), (O, Cg, KH, KW), (OH, OW) = _conv_geometry(x, weight, stride, padding, dilation,
                                                                              groups)
    G, Og = groups, O // groups
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))).reshape(N, G, Cg, H + 2 * ph, W + 2 * pw)
    wg = weight.reshape(G, Og, Cg, KH, KW)
    y = np.zeros((N, G, Og, OH, OW), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            y += np.einsum("ngchw,goc->ngohw", _conv_window(xp, i, j, s, d, (OH, OW)), wg[..., i, j])
    y = y.reshape(N, O, OH, OW)
    if bias is not None:
        y += bias.reshape(1, O, 1, 1)
    return y


def conv2d_backward(dy, x, weight, stride=1, padding=0, dilation=1, groups=1, bias=True, compute_dx=True):
    """(dx or None, dweight, dbias or None): each tap (i, j) of the forward, transposed."""
    s, (ph, pw), d, (N, C, H, W), (O, Cg, KH, KW), (OH, OW) = _conv_geometry(x, weight, stride, padding, dilation,
                                                                              groups)
    G, Og = groups, O // groups
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))).reshape(N, G, Cg, H + 2 * ph, W + 2 * pw)
    wg = weight.reshape(G, Og, Cg, KH, KW)
    dyg = dy.reshape(N, G, Og, OH, OW)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(wg)
    for i in range(KH):
        for j in range(KW):
            dw[..., i, j] = np.einsum("ngohw,ngchw->goc", dyg, _conv_window(xp, i, j, s, d, (OH, OW)))
            _conv_window(dxp, i, j, s, d, (OH, OW))[...] += np.einsum("ngohw,goc->ngchw", dyg, wg[..., i, j])
    dx = dxp.reshape(N, C, H + 2 * ph, W + 2 * pw)[:, :, ph: ph + H, pw: pw + W].copy() if compute_dx else None
    db = dy.sum(axis=(0, 2, 3)) if bias else None
    return dx, dw.reshape(weight.shape), db


def _pool_geometry(x_shape, kernel_size, stride, padding):
    (kh, kw) = _conv_pair(kernel_size)
    (sh, sw) = (kh, kw) if stride is None else _conv_pair(stride)
    (ph, pw) = _conv_pair(padding)
    N, C, H, W = x_shape
    return (kh, kw), (sh, sw), (ph, pw), (N, C, H, W), ((H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """(y, indices): window maxima with padding as -inf; indices = h*W + w in the input plane.
    Taps are visited in row-major window order; a tap replaces the running max when it is
    larger or NaN (PyTorch's rule), starting from -inf at the window's first in-bounds position."""
    (kh, kw), s, (ph, pw), (N, C, H, W), (OH, OW) = _pool_geometry(x.shape, kernel_size, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    # position h*W + w of every padded cell (padding cells get -1; they never win)
    hh, ww = np.meshgrid(np.arange(-ph, H + ph), np.arange(-pw, W + pw), indexing="ij")
    pos = np.where((hh >= 0) & (hh < H) & (ww >= 0) & (ww < W), hh * W + ww, -1)
    oh, ow = np.arange(OH)[:, None], np.arange(OW)[None, :]
    first = np.maximum(oh * s[0] - ph, 0) * W + np.maximum(ow * s[1] - pw, 0)
    y = np.full((N, C, OH, OW), -np.inf, dtype=x.dtype)
    idx = np.broadcast_to(first, (N, C, OH, OW)).astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            v = _conv_window(xp, i, j, s, (1, 1), (OH, OW))
            take = (v > y) | np.isnan(v)
            y = np.where(take, v, y)
            idx = np.where(take, _conv_window(pos, i, j, s, (1, 1), (OH, OW)), idx)
    return y, idx


def max_pool2d_backward(dy, indices, input_shape):
    """dx: dy added at each index of its plane (overlapping windows accumulate)."""
    N, C, H, W = input_shape
    dx = np.zeros((N * C, H * W), dtype=dy.dtype)
    rows = np.repeat(np.arange(N * C), dy.shape[2] * dy.shape[3])
    np.add.at(dx, (rows, indices.reshape(-1)), dy.reshape(-1))
    return dx.reshape(N, C, H, W)


def _avg_divisor(x_shape, kernel_size, stride, padding, count_include_pad):
    (kh, kw), s, (ph, pw), (N, C, H, W), (OH, OW) = _pool_geometry(x_shape, kernel_size, stride, padding)
    if count_include_pad:
        return np.full((OH, OW), kh * kw)
    ones = np.pad(np.ones((H, W)), ((ph, ph), (pw, pw)))
    return sum(_conv_window(ones, i, j, s, (1, 1), (OH, OW)) for i in range(kh) for j in range(kw))


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Window sums over zero-padded x divided by kh*kw (count_include_pad) or by the number of
    in-bounds cells."""
    (kh, kw), s, (ph, pw), _, (OH, OW) = _pool_geometry(x.shape, kernel_size, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    total = sum(_conv_window(xp, i, j, s, (1, 1), (OH, OW)) for i in range(kh) for j in range(kw))
    return (total / _avg_divisor(x.shape, kernel_size, stride, padding, count_include_pad)).astype(x.dtype)


def avg_pool2d_backward(dy, input_shape, kernel_size, stride=None, padding=0, count_include_pad=True):
    (kh, kw), s, (ph, pw), (N, C, H, W), (OH, OW) = _pool_geometry(input_shape, kernel_size, stride, padding)
    g = (dy / _avg_divisor(input_shape, kernel_size, stride, padding, count_include_pad)).astype(dy.dtype)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            _conv_window(dxp, i, j, s, (1, 1), (OH, OW))[...] += g
    return dxp[:, :, ph: ph + H, pw: pw + W].copy()


def global_avg_pool2d_forward(x):
    return x.mean(axis=(2, 3), dtype=x.dtype)


def global_avg_pool2d_backward(dy, input_shape):
    N, C, H, W = input_shape
    return np.broadcast_to((dy / (H * W))[:, :, None, None], (N, C, H, W)).astype(dy.dtype)


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
