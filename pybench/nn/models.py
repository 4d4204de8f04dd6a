"""Model builders parameterized by the sweep axes: ``mlp`` and ``cnn``.

Both return a Sequential with ``.in_shape`` (per-sample), ``.spec`` (the builder's arguments,
JSON-safe, enough to rebuild it), ``compute_dx = False`` (the data needs no gradient, so the first
Linear/Conv skips its input-gradient GEMM) and a repr that starts with the builder call. Weights
come from ``np.random.default_rng(seed)`` layer by layer in order; biases start at zero;
Dropout layer i gets a seed derived from (seed, i). ``receptive_field(model)`` gives the input
window one unit of a built model's last feature map sees.
"""

import math

import numpy as np

from . import init as _init
from .activations import activation as _activation, activation_names
from .layers import (BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool, Linear, MaxPool2d)
from .module import Sequential, check_dtype, check_int

__all__ = ["mlp", "cnn", "receptive_field"]


def _act(name, who, arg):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{who}: {arg}: expected an activation name or None, got {type(name).__name__}")
    if name is not None and name not in activation_names():
        raise ValueError(f"{who}: {arg}: expected one of {', '.join(map(repr, activation_names()))} or None, "
                         f"got {name!r}")
    return name


def _norm(norm, who):
    if norm in (None, "none"):
        return None
    if norm != "batch":
        raise ValueError(f"{who}: norm: expected None, 'none' or 'batch', got {norm!r}")
    return "batch"


def _dropout(p, who):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: dropout: expected a number in [0, 1), got {p!r}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{who}: dropout: expected a number in [0, 1), got {p!r}")
    return float(p)


def _init_spec(spec, who):
    try:
        _init.make(spec)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: init: {str(e).split(': ', 2)[-1]}") from None
    return spec


def _dropout_seed(seed, i):
    """A 64-bit dropout seed per (model seed, layer index): independent streams per layer."""
    return int(np.random.SeedSequence([seed, 0xD0, i]).generate_state(1, np.uint64)[0])


def _common(who, classes, depth, width, activation, norm, dropout, init, last_activation, seed, dtype):
    return dict(classes=check_int(classes, "classes", who), depth=check_int(depth, "depth", who, minimum=0),
                width=check_int(width, "width", who), activation=_act(activation, who, "activation"),
                norm=_norm(norm, who), dropout=_dropout(dropout, who), init=_init_spec(init, who),
                last_activation=_act(last_activation, who, "last_activation"),
                seed=check_int(seed, "seed", who, minimum=0), dtype=check_dtype(dtype, who))


def _finish(layers, in_shape, who, spec):
    spec = {k: (str(v) if k == "dtype" else v) for k, v in spec.items()}
    if callable(spec["init"]):
        spec["init"] = getattr(spec["init"], "__name__", "callable")
    args = ", ".join(f"{k}={v!r}" for k, v in spec.items())
    model = Sequential(layers, in_shape=in_shape, name=f"{who}({args})")
    model.spec = spec
    model.compute_dx = False
    return model


def mlp(in_features, classes, depth, width, activation="relu", norm=None, dropout=0.0, init="he_normal",
        last_activation=None, *, seed=0, dtype=np.float32):
    """Flatten -> depth x [Linear(width) -> BatchNorm1d if norm == "batch" -> activation ->
    Dropout(dropout) if > 0] -> Linear(classes) -> last_activation (None: raw logits).

    ``in_features``: an int or a per-sample shape (the model starts with Flatten, so (1, 1, 40)
    data works as is). ``depth`` 0 gives a linear model.
    """
    who = "mlp"
    if isinstance(in_features, (tuple, list)):
        in_shape = tuple(check_int(s, "in_features", who) for s in in_features)
        if not in_shape:
            raise ValueError(f"{who}: in_features: expected an int >= 1 or a non-empty shape, got {in_features!r}")
    else:
        in_shape = (check_int(in_features, "in_features", who),)
    a = _common(who, classes, depth, width, activation, norm, dropout, init, last_activation, seed, dtype)
    rng, dt = np.random.default_rng(a["seed"]), a["dtype"]
    layers, f = [Flatten()], math.prod(in_shape)
    for i in range(a["depth"]):
        layers.append(Linear(f, a["width"], init=init, dtype=dt, rng=rng))
        if a["norm"]:
            layers.append(BatchNorm1d(a["width"], dtype=dt))
        layers.append(_activation(a["activation"]))
        if a["dropout"] > 0:
            layers.append(Dropout(a["dropout"], seed=_dropout_seed(a["seed"], len(layers))))
        f = a["width"]
    layers.append(Linear(f, a["classes"], init=init, dtype=dt, rng=rng))
    if a["last_activation"] is not None:
        layers.append(_activation(a["last_activation"]))
    spec = dict(in_features=in_features if isinstance(in_features, int) else list(in_shape), **a)
    return _finish(layers, in_shape, who, spec)


def cnn(in_shape, classes, depth, width, activation="relu", norm="batch", dropout=0.0, init="he_normal",
        last_activation=None, *, kernel_size=3, head="flatten", stem_blocks=0, seed=0, dtype=np.float32):
    """``stem_blocks`` + ``depth`` blocks of Conv(k x k, "same" padding) -> BatchNorm2d (norm ==
    "batch") -> activation -> MaxPool 2, then a head; the block's pool is kept only while the pooled
    size stays >= 1. The channel count is ``width`` through the stem blocks, then doubles after each
    pool of the ``depth`` (trunk) blocks: a stem of s blocks hands an input 2^s times larger to the
    same trunk at the same map size, for width^2 * (kernel area) + width (+ 2 width with BatchNorm)
    more parameters per stem block (as if a width -> width block were added).

    ``in_shape`` (C, H, W); H == 1 means a 1-D signal: kernels (1, k), pools (1, 2).
    ``head`` "flatten": Flatten -> Dropout(dropout) if > 0 -> Linear(classes); "gap":
    GlobalAvgPool -> Dropout(dropout) if > 0 -> Linear(classes) (the contract's gap head has
    no dropout; we add it when asked for so the argument is never silently ignored).
    Then last_activation. ``kernel_size`` must be odd ("same" padding k // 2 is symmetric).
    """
    who = "cnn"
    if not isinstance(in_shape, (tuple, list)) or len(in_shape) != 3:
        raise (TypeError if not isinstance(in_shape, (tuple, list)) else ValueError)(
            f"{who}: in_shape: expected (C, H, W), got {in_shape!r}")
    in_shape = tuple(check_int(s, "in_shape", who) for s in in_shape)
    k = check_int(kernel_size, "kernel_size", who)
    if k % 2 == 0:
        raise ValueError(f"{who}: kernel_size: expected an odd int (symmetric 'same' padding), got {k}")
    if head not in ("flatten", "gap"):
        raise ValueError(f"{who}: head: expected 'flatten' or 'gap', got {head!r}")
    stem = check_int(stem_blocks, "stem_blocks", who, minimum=0)
    a = _common(who, classes, depth, width, activation, norm, dropout, init, last_activation, seed, dtype)
    rng, dt = np.random.default_rng(a["seed"]), a["dtype"]
    c, h, w = in_shape
    one_d = h == 1
    ksize, pad, pool = ((1, k), (0, k // 2), (1, 2)) if one_d else ((k, k), (k // 2, k // 2), (2, 2))
    layers, c_out = [], a["width"]
    for i in range(stem + a["depth"]):
        layers.append(Conv2d(c, c_out, ksize, padding=pad, init=init, dtype=dt, rng=rng))
        if a["norm"]:
            layers.append(BatchNorm2d(c_out, dtype=dt))
        layers.append(_activation(a["activation"]))
        c = c_out
        if h // pool[0] >= 1 and w // pool[1] >= 1:
            layers.append(MaxPool2d(pool))
            h, w = h // pool[0], w // pool[1]
            c_out = c_out if i < stem else 2 * c_out
    layers.append(Flatten() if head == "flatten" else GlobalAvgPool())
    if a["dropout"] > 0:
        layers.append(Dropout(a["dropout"], seed=_dropout_seed(a["seed"], len(layers))))
    layers.append(Linear(c * h * w if head == "flatten" else c, a["classes"], init=init, dtype=dt, rng=rng))
    if a["last_activation"] is not None:
        layers.append(_activation(a["last_activation"]))
    spec = dict(in_shape=list(in_shape), **a, kernel_size=k, head=head)
    if stem:  # only when used: the specs (and reprs) of models without a stem stay what they were
        spec["stem_blocks"] = stem
    return _finish(layers, in_shape, who, spec)


def receptive_field(model):
    """(height, width) in input samples of the window one unit of the model's last spatial feature
    map sees (the layers up to the first Flatten / GlobalAvgPool / Linear): the usual recurrence
    rf += (k - 1) * dilation * jump, jump *= stride over convolutions and pools; padding does not
    change it. (1, 1) for a model that starts with a dense layer."""
    rf, jump = [1, 1], [1, 1]
    for layer in model.layers:
        if isinstance(layer, (Flatten, GlobalAvgPool, Linear)):
            break
        kernel = getattr(layer, "kernel_size", None)
        if kernel is None:  # BatchNorm, activations, Dropout: one input sample per output sample
            continue
        dilation = getattr(layer, "dilation", (1, 1))
        for i in range(2):
            rf[i] += (kernel[i] - 1) * dilation[i] * jump[i]
            jump[i] *= layer.stride[i]
    return tuple(rf)
