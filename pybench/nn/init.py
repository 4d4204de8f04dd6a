"""Weight initializers, named by spec strings so configs stay JSON.

``make(spec)`` turns a spec into a callable ``(shape, fan_in, fan_out, rng, dtype) -> ndarray``:

=====================================  ============================================
spec                                    distribution
=====================================  ============================================
"he_normal" (alias "kaiming_normal")    N(0, std), std = sqrt(2 / fan_in)
"he_uniform" (alias "kaiming_uniform")  U(-b, b), b = sqrt(3) * sqrt(2 / fan_in)
"lecun_normal" / "lecun_uniform"        std = sqrt(1 / fan_in)
"xavier_normal" (alias "glorot_normal") std = sqrt(2 / (fan_in + fan_out))
"xavier_uniform" ("glorot_uniform")     b = sqrt(3) * that std
"zeros", "ones"                         constants
"normal(STD)", e.g. "normal(0.01)"      N(0, STD)
"uniform(A,B)", e.g. "uniform(-0.1,0.1)" U(A, B)
a callable                              used as is
=====================================  ============================================

fan_in / fan_out follow PyTorch's ``_calculate_fan_in_and_fan_out``: a Linear weight (out, in)
has fan_in = in, fan_out = out; a Conv2d weight (O, C/groups, kh, kw) has fan_in = C/groups*kh*kw
and fan_out = O*kh*kw (PyTorch does not divide fan_out by groups; neither do we). He uses
PyTorch's default gain for ReLU, sqrt(2) (``kaiming_normal_(mode="fan_in")``).

Random values are drawn in float64 from the given ``np.random.Generator`` and rounded once to
``dtype``, so a float32 and a float64 model built from one seed hold the same weights up to
rounding (the float64 gradient checks and the float32 runs describe the same network).
"""

import math
import re

import numpy as np

__all__ = ["make", "names", "std_of"]

# name -> (kind, std as a function of fan_in, fan_out)
_SCALED = {
    "he_normal": ("normal", lambda fi, fo: math.sqrt(2.0 / fi)),
    "he_uniform": ("uniform", lambda fi, fo: math.sqrt(2.0 / fi)),
    "lecun_normal": ("normal", lambda fi, fo: math.sqrt(1.0 / fi)),
    "lecun_uniform": ("uniform", lambda fi, fo: math.sqrt(1.0 / fi)),
    "xavier_normal": ("normal", lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
    "xavier_uniform": ("uniform", lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
}
_ALIASES = {"kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform",
            "glorot_normal": "xavier_normal", "glorot_uniform": "xavier_uniform"}
_NUM = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_NORMAL = re.compile(r"normal\(" + _NUM + r"\)")
_UNIFORM = re.compile(r"uniform\(" + _NUM + "," + _NUM + r"\)")


def names():
    """The named specs (without the parameterized normal(STD) / uniform(A,B) forms)."""
    return sorted(_SCALED) + sorted(_ALIASES) + ["ones", "zeros"]


def _expected():
    return ("one of " + ", ".join(repr(n) for n in names())
            + ", 'normal(STD)', 'uniform(A,B)' or a callable (shape, fan_in, fan_out, rng, dtype)")


def std_of(spec, fan_in, fan_out):
    """The standard deviation the named scaled spec gives for these fans (for tests and reports)."""
    spec = _ALIASES.get(spec, spec)
    if spec not in _SCALED:
        raise ValueError(f"init.std_of: spec: expected one of {', '.join(map(repr, sorted(_SCALED)))}, got {spec!r}")
    return _SCALED[spec][1](fan_in, fan_out)


def _normal(std):
    def init(shape, fan_in, fan_out, rng, dtype):
        return (rng.standard_normal(shape) * std).astype(dtype)
    return init


def _uniform(a, b):
    def init(shape, fan_in, fan_out, rng, dtype):
        return rng.uniform(a, b, shape).astype(dtype)
    return init


def _scaled(kind, std_fn):
    def init(shape, fan_in, fan_out, rng, dtype):
        std = std_fn(fan_in, fan_out)
        if kind == "normal":
            return (rng.standard_normal(shape) * std).astype(dtype)
        bound = math.sqrt(3.0) * std
        return rng.uniform(-bound, bound, shape).astype(dtype)
    return init


def _const(value):
    def init(shape, fan_in, fan_out, rng, dtype):
        return np.full(shape, value, dtype=dtype)
    return init


def make(spec):
    """The initializer callable ``(shape, fan_in, fan_out, rng, dtype) -> ndarray`` for ``spec``.

    Raises TypeError for a spec that is neither a string nor a callable, ValueError for an unknown
    name, a malformed ``normal(...)``/``uniform(...)``, a negative or non-finite std, or A > B.
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"init.make: spec: expected {_expected()}, got {type(spec).__name__}")
    name = spec.strip().lower().replace(" ", "")
    name = _ALIASES.get(name, name)
    if name in _SCALED:
        return _scaled(*_SCALED[name])
    if name == "zeros":
        return _const(0.0)
    if name == "ones":
        return _const(1.0)
    m = _NORMAL.fullmatch(name)
    if m:
        std = float(m.group(1))
        if not (math.isfinite(std) and std >= 0):
            raise ValueError(f"init.make: spec: expected normal(STD) with a finite STD >= 0, got {spec!r}")
        return _normal(std)
    m = _UNIFORM.fullmatch(name)
    if m:
        a, b = float(m.group(1)), float(m.group(2))
        if not (math.isfinite(a) and math.isfinite(b) and a <= b):
            raise ValueError(f"init.make: spec: expected uniform(A,B) with finite A <= B, got {spec!r}")
        return _uniform(a, b)
    raise ValueError(f"init.make: spec: expected {_expected()}, got {spec!r}")


def initialize(spec, shape, fan_in, fan_out, rng, dtype, who):
    """Run ``make(spec)`` and check what it returns (a user callable may get the shape wrong)."""
    try:
        value = make(spec)(tuple(shape), int(fan_in), int(fan_out), rng, dtype)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: {e}") from None
    value = np.ascontiguousarray(value, dtype=dtype)
    if value.shape != tuple(shape):
        raise ValueError(f"{who}: init: expected an array of shape {tuple(shape)}, got shape {value.shape}")
    return value
