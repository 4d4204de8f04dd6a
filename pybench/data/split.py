"""Splits (train / validation / test by seed) and input normalization fitted on train only.

Everything here is a pure function of its arguments: the seeded generator is local
(`np.random.default_rng(seed)`), never NumPy's or Python's global RNG.
"""

import numpy as np

# A feature whose training-split std is below STD_FLOOR x (the pooled std of the whole training
# split) counts as constant: it is divided by the pooled std instead of its own. Equivalently:
# the data are first divided by one global scale, then any per-feature std below STD_FLOOR is
# "treated as 1". Constant pixels (MNIST's borders) then come out as exactly 0 on train and stay
# on the scale of the other features in val/test instead of exploding to (x - mean) / 1e-9.
STD_FLOOR = 1e-2


def carve(n, count, seed, salt):
    """Split range(n) by a seeded permutation: (rest, carved) index arrays, each sorted so the
    arrays keep the source order. `salt` separates the streams of different carvings (test vs
    validation) drawn with the same seed."""
    perm = np.random.default_rng([seed, salt]).permutation(n)
    return np.sort(perm[count:]), np.sort(perm[:count])


def standardize(x_train, others, dtype):
    """Per-feature (pixel / time step) mean and std fitted on x_train only, applied to x_train and
    to every array in `others` (validation, test). Returns (arrays, stats): arrays in `dtype`,
    stats a JSON-safe summary. Statistics are computed in float64 whatever `dtype` is."""
    xt = _flat(x_train).astype(np.float64)
    mean = xt.mean(axis=0)
    std = xt.std(axis=0)
    pooled = float(xt.std()) if xt.size else 0.0
    pooled = pooled if pooled > 0 else 1.0  # an all-constant training split: plain centering
    floored = std < STD_FLOOR * pooled
    scale = np.where(floored, pooled, std)
    out = [_affine(a, mean, scale, dtype) for a in (x_train, *others)]
    stats = {
        "kind": "standard",
        "fitted_on": "train split only",
        "features": int(mean.size),
        "mean": _summary(mean),
        "std": _summary(std),
        "pooled_std": pooled,
        "std_floor": STD_FLOOR * pooled,
        "floored_features": int(floored.sum()),
        "note": "x' = (x - mean_j) / std_j per feature; std_j below std_floor is replaced by "
                "pooled_std (the whole training split's std)",
    }
    return out, stats


def to_raw(x_train, others, dtype, source_scale):
    """The 'raw' inputs of the normalization pitfall, on the 0-255 scale an 8-bit sensor gives.
    source_scale "0-255": images already stored on that scale are returned as they are.
    Otherwise the data are mapped affinely so the training split spans exactly [0, 255]
    (validation / test use the same map and may fall slightly outside)."""
    if source_scale == "0-255":
        out = [np.ascontiguousarray(a, dtype=dtype) for a in (x_train, *others)]
        lo, hi, mapping = 0.0, 255.0, "as stored (8-bit images)"
    else:
        lo = float(x_train.min()) if x_train.size else 0.0
        hi = float(x_train.max()) if x_train.size else 1.0
        span = hi - lo if hi > lo else 1.0
        mean = np.full(1, lo)
        scale = np.full(1, span / 255.0)
        out = [_affine(a, mean, scale, dtype) for a in (x_train, *others)]
        mapping = "affine: train-split [min, max] -> [0, 255]"
    stats = {"kind": "raw", "scale": "0-255", "mapping": mapping,
             "source_min": lo, "source_max": hi,
             "train_min": float(out[0].min()) if out[0].size else 0.0,
             "train_max": float(out[0].max()) if out[0].size else 0.0}
    return out, stats


def _affine(a, mean, scale, dtype):
    # (a - mean) / scale in float64, then cast once: float32 results are correctly rounded.
    flat = _flat(a).astype(np.float64)
    flat -= mean
    flat /= scale
    return np.ascontiguousarray(flat.reshape(a.shape), dtype=dtype)


def _flat(a):
    # (N, features) without -1, so an empty split (val_fraction=0) reshapes too.
    return a.reshape(a.shape[0], int(np.prod(a.shape[1:], dtype=np.int64)))


def _summary(v):
    if v.size == 0:
        return {"min": 0.0, "max": 0.0, "mean": 0.0}
    return {"min": float(v.min()), "max": float(v.max()), "mean": float(v.mean())}
