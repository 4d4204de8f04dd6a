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
def hardswish_forward(x):
    return x * np.minimum(np.maximum(x + 3, 0), 6) / 6


@_via64
def hardswish_backward(dy, x):
    """0 up to -3, dy from 3 on, dy (x / 3 + 1/2) between (PyTorch's); NaN x: NaN (its vector loop)."""
    with np.errstate(invalid="ignore"):
        return np.where(x <= -3, 0.0, np.where(x >= 3, dy, dy * (x / 3 + 0.5)))


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


def _bn_layout(x):
    """Reduction axes and the broadcast shape of a per-channel (C,) vector, for (N, C) or (N, C, H, W)."""
    if x.ndim == 2:
        return (0,), (1, -1)
    return (0, 2, 3), (1, -1, 1, 1)


def batch_norm_forward(x, weight, bias, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """PyTorch's batch_norm; returns (y, save_mean, save_invstd) and updates running stats in place.

    Training: batch mean and biased variance normalize; running_var is updated with the unbiased
    variance var * m / (m - 1), m = N*H*W values per channel. Eval: the running statistics.
    """
    axes, sh = _bn_layout(x)
    if training:
        m = x.size // x.shape[1]
        if m <= 1:
            raise ValueError("batch_norm_forward: x: expected more than 1 value per channel when training")
        mean = x.mean(axis=axes)
        var = ((x - mean.reshape(sh)) ** 2).mean(axis=axes)  # biased, two-pass
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * (var * (m / (m - 1)))
    else:
        mean, var = running_mean.copy(), running_var
    invstd = 1 / np.sqrt(var + eps)
    y = (x - mean.reshape(sh)) * invstd.reshape(sh)
    if weight is not None:
        y = y * weight.reshape(sh)
    if bias is not None:
        y = y + bias.reshape(sh)
    return y.astype(x.dtype), mean.astype(x.dtype), invstd.astype(x.dtype)


def batch_norm_backward(dy, x, weight, save_mean, save_invstd, training=True):
    """(dx, dweight, dbias); the last two None when weight is None.

    xhat = (x - mean) * invstd; dbias = sum(dy); dweight = sum(dy * xhat);
    training: dx = weight * invstd * (dy - dbias / m - xhat * dweight / m);
    eval (mean and invstd constants): dx = weight * invstd * dy.
    """
    axes, sh = _bn_layout(x)
    m = x.size // x.shape[1]
    invstd = save_invstd.reshape(sh)
    xhat = (x - save_mean.reshape(sh)) * invstd
    dbias = dy.sum(axis=axes)
    dweight = (dy * xhat).sum(axis=axes)
    w = np.ones_like(save_mean) if weight is None else weight
    if training:
        dx = w.reshape(sh) * invstd * (dy - dbias.reshape(sh) / m - xhat * (dweight.reshape(sh) / m))
    else:
        dx = dy * w.reshape(sh) * invstd
    if weight is None:
        return dx.astype(x.dtype), None, None
    return dx.astype(x.dtype), dweight.astype(x.dtype), dbias.astype(x.dtype)



# ---------------------------------------------------------------------------------------------
# dropout (Philox4x32-10)
# ---------------------------------------------------------------------------------------------

# Philox4x32-10 (Salmon et al., SC11; Random123's philox.h). Round: two 32x32->64 products; the
# high halves are mixed with the other words and the round key, the low halves move over; the key
# is bumped by the Weyl constants between rounds. NumPy uint64 holds every 64-bit product exactly.
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_U32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter, key):
    """Philox4x32-10 of counters (..., 4) uint32 under key (2,) uint32 -> (..., 4) uint32."""
    c = np.asarray(counter, dtype=np.uint32).astype(np.uint64)
    c0, c1, c2, c3 = (c[..., w] for w in range(4))
    k0, k1 = (np.uint64(int(k)) for k in np.asarray(key, dtype=np.uint32))
    for _ in range(10):
        p0 = np.uint64(PHILOX_M0) * c0
        p1 = np.uint64(PHILOX_M1) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _U32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _U32
        k0 = (k0 + np.uint64(PHILOX_W0)) & _U32
        k1 = (k1 + np.uint64(PHILOX_W1)) & _U32
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def dropout_threshold(p):
    """D = floor(p * 2**32): an element is dropped iff its 32-bit word u < D (p=0: none, p=1: all)."""
    return int(np.floor(float(p) * 2.0**32))  # p * 2**32 is exact in binary floating point


def dropout_words(n, seed, offset=0):
    """The 32-bit word of elements offset .. offset+n-1 of the stream of `seed`.

    Element g uses counter (lo32(g // 4), hi32(g // 4), 0, 0), key (lo32(seed), hi32(seed)) and
    output word g % 4.
    """
    seed, offset = int(seed), int(offset)
    g = np.arange(offset, offset + n, dtype=np.uint64)
    blocks = np.unique(g >> np.uint64(2))
    ctr = np.zeros(blocks.shape + (4,), dtype=np.uint32)
    ctr[:, 0] = (blocks & _U32).astype(np.uint32)
    ctr[:, 1] = (blocks >> np.uint64(32)).astype(np.uint32)
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint32)
    words = philox4x32_10(ctr, key)
    return words[(g >> np.uint64(2)) - blocks[0], (g & np.uint64(3)).astype(np.intp)]


def dropout_mask(shape, p, seed, offset=0):
    """uint8 mask, 1 where kept: the element's 32-bit word u >= floor(p * 2**32)."""
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    n = int(np.prod(shape))
    keep = dropout_words(n, seed, offset).astype(np.uint64) >= np.uint64(dropout_threshold(p))
    return keep.astype(np.uint8).reshape(shape)


def dropout_forward(x, p=0.5, seed=0, offset=0, training=True):
    """Inverted dropout: kept elements times 1/(1-p) (rounded once to x's dtype), dropped ones 0."""
    if not training:
        return x.copy()
    keep = dropout_mask(x.shape, p, seed, offset).astype(bool)
    scale = x.dtype.type(1.0 / (1.0 - p)) if p < 1 else x.dtype.type(0)
    return np.where(keep, x * scale, np.zeros_like(x))


def dropout_backward(dy, p, seed, offset=0):
    return dropout_forward(dy, p, seed, offset, training=True)



# ---------------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------------

# Mean reduction. Each per-element (per-row) term is computed in the input dtype and the mean is
# accumulated in float64; forward returns a Python float. Backward returns d(mean)/d(input) * grad
# in the input dtype, with the scale grad / count rounded to that dtype first (as the kernels do).


def _scale(grad, count, dtype):
    return dtype.type(grad / count)


def cross_entropy_forward(logits, labels):
    """mean_i(logsumexp(logits[i]) - logits[i, labels[i]]), with the max shift:
    row loss = (m - x[label]) + log(sum_j exp(x[j] - m)), m = max_j x[j]."""
    n, c = logits.shape
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= c:
        raise ValueError(f"cross_entropy_forward: labels: expected class indices in [0, {c})")
    m = logits.max(axis=1)
    sum_exp = np.exp(logits - m[:, None]).sum(axis=1, dtype=np.float64)
    rows = (m.astype(np.float64) - logits[np.arange(n), labels]) + np.log(sum_exp)
    return float(rows.sum() / n)


def cross_entropy_backward(logits, labels, *, grad=1.0):
    """grad * (softmax(logits) - onehot(labels)) / N."""
    n, c = logits.shape
    m = logits.max(axis=1)
    e = np.exp(logits - m[:, None])
    inv_sum = (1.0 / e.sum(axis=1, dtype=np.float64)).astype(logits.dtype)
    p = e * inv_sum[:, None]
    p[np.arange(n), labels] -= 1
    return _scale(grad, n, logits.dtype) * p


def mse_forward(input, target):
    return float(np.sum((input - target) ** 2, dtype=np.float64) / input.size)


def mse_backward(input, target, *, grad=1.0):
    return _scale(grad, input.size, input.dtype) * (2 * (input - target))


def huber_forward(input, target, delta=1.0):
    """torch.nn.HuberLoss: 0.5 d**2 where |d| < delta, else delta (|d| - delta / 2)."""
    z = np.abs(input - target)
    terms = np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))
    return float(np.sum(terms, dtype=np.float64) / input.size)


def huber_backward(input, target, delta=1.0, *, grad=1.0):
    d = input - target
    return _scale(grad, input.size, input.dtype) * np.where(d < -delta, -delta, np.where(d > delta, delta, d))


def bce_with_logits_forward(input, target):
    """max(x, 0) - x t + log1p(exp(-|x|)), the stable form of -t log s(x) - (1-t) log(1-s(x))."""
    x, t = input, target
    terms = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    return float(np.sum(terms, dtype=np.float64) / x.size)


def bce_with_logits_backward(input, target, *, grad=1.0):
    """grad * (sigmoid(x) - t) / numel, the sigmoid formed from exp(-|x|)."""
    e = np.exp(-np.abs(input))
    sig = np.where(input >= 0, 1, e) / (1 + e)
    return _scale(grad, input.size, input.dtype) * (sig - target)


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------

# One step of torch.optim's single-tensor algorithms, updating param and the state arrays in place
# (state starts as zeros). Scalars derived from the hyperparameters are Python floats (float64);
# NumPy rounds them to the array dtype where they meet an array, as PyTorch does. The operation
# order mirrors PyTorch's: add(alpha=) -> g + a*p; mul_ then addcmul_ -> (s*b) + v*x*y;
# addcdiv_ -> p + v*x/y; lerp_ -> torch.lerp.


def _lerp(a, b, w):
    """torch.lerp: a + w (b - a) if |w| < 0.5 else b - (b - a)(1 - w)."""
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


def sgd_step(param, grad, momentum_buf=None, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
             weight_decay=0.0, step=1):
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if step == 1:
            momentum_buf[...] = g
        else:
            momentum_buf[...] = momentum_buf * momentum + (1 - dampening) * g
        g = g + momentum * momentum_buf if nesterov else momentum_buf
    param[...] = param + (-lr) * g


def adagrad_step(param, grad, state_sum, *, step, lr=0.01, lr_decay=0.0, weight_decay=0.0, eps=1e-10):
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum[...] = state_sum + g * g
    std = np.sqrt(state_sum) + eps
    param[...] = param + (-clr) * g / std


def rmsprop_step(param, grad, square_avg, momentum_buf=None, grad_avg=None, *, lr=0.01, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg[...] = square_avg * alpha + (1 - alpha) * g * g
    if centered:
        grad_avg[...] = _lerp(grad_avg, g, 1 - alpha)
        avg = np.sqrt(square_avg + (-1) * grad_avg * grad_avg)
    else:
        avg = np.sqrt(square_avg)
    avg = avg + eps
    if momentum > 0:
        momentum_buf[...] = momentum_buf * momentum + 1 * g / avg
        param[...] = param + (-lr) * momentum_buf
    else:
        param[...] = param + (-lr) * g / avg


def _adam(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay, decoupled):
    beta1, beta2 = betas
    g = grad
    if weight_decay != 0:
        if decoupled:
            param[...] = param * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * param
    exp_avg[...] = _lerp(exp_avg, g, 1 - beta1)
    exp_avg_sq[...] = exp_avg_sq * beta2 + (1 - beta2) * g * g
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    step_size = lr / bias_correction1
    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    param[...] = param + (-step_size) * exp_avg / denom


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0):
    """Adam: L2 weight decay added to the gradient; bias correction by step."""
    _adam(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay, decoupled=False)


def adamw_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.01):
    """AdamW: decoupled weight decay, param *= 1 - lr * weight_decay, before the Adam update."""
    _adam(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay, decoupled=True)
