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


# ---------------------------------------------------------------------------------------------
# conv2d and pooling
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------
