"""Activations, softmax / log_softmax and the float fast math under them (csrc/math/fastmath.h).

Tolerances. float32: every impl within rtol 1e-5 / atol 1e-6 of pybench.reference, whose
transcendental ops are the float64 value rounded to float32 (the fast math is a few ulp -- see
test_fastmath_ulp -- and the composed formulas add a few roundings). float64: rtol 1e-10 /
atol 1e-12 (every impl uses the C library there; some formulas are rewritten identities of
PyTorch's, e.g. gelu's tanh form as x * sigmoid(2k), so they differ by rounding only).
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from pybench import _native, ops, reference as ref
from util import assert_bad_call, assert_close, check_grad

DTYPES = [np.float32, np.float64]
TOL32 = dict(rtol=1e-5, atol=1e-6)
TOL64 = dict(rtol=1e-10, atol=1e-12)

# (op name, parameters) -- each parameter set is its own case.
ELEMENTWISE = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": -0.5}),
    ("elu", {}),
    ("elu", {"alpha": 0.5}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("silu", {}),
    ("hardswish", {}),
    ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}),
]
CASE_IDS = [n + "".join(f"-{k}={v}" for k, v in p.items()) for n, p in ELEMENTWISE]
SPECIAL = [0.0, -0.0, 1e4, -1e4, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 1e-30, 88.0, -88.0, 100.0, -100.0,
           3.9, -3.9, 20.0, 20.5, 2.5, 2.6]


def fwd(name):
    return getattr(ops, name + "_forward")


def bwd(name):
    return getattr(ops, name + "_backward")


def tol(dtype):
    return TOL32 if dtype == np.float32 else TOL64


def sample(rng, shape, dtype, scale=4.0, special=True):
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    if special:
        flat = x.reshape(-1)
        flat[: len(SPECIAL)] = np.array(SPECIAL, dtype=dtype)
    return x


# ---- element-wise: every op x impl x ISA x dtype against the reference ---------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ELEMENTWISE, ids=CASE_IDS)
def test_elementwise_matches_reference(isa, case, dtype, rng):
    name, params = case
    x = sample(rng, (7, 131), dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    want_y = getattr(ref, name + "_forward")(x, **params)
    want_dx = getattr(ref, name + "_backward")(dy, x, **params)
    assert want_y.dtype == dtype and want_dx.dtype == dtype
    for impl in ops.impls(name + "_forward", dtype=dtype):
        y = fwd(name)(x, **params, impl=impl)
        assert y.dtype == dtype and y.shape == x.shape
        assert_close(y, want_y, err_msg=f"{name} forward impl={impl}", **tol(dtype))
    for impl in ops.impls(name + "_backward", dtype=dtype):
        dx = bwd(name)(dy, x, **params, impl=impl)
        assert_close(dx, want_dx, err_msg=f"{name} backward impl={impl}", **tol(dtype))


# Any extent may be 0 (as PyTorch): the result is an empty array of the input's shape and dtype.
EMPTY_SHAPES = [(0,), (0, 5), (3, 0), (2, 0, 4)]


def _check_empty(call, shape, dtype, what):
    y = call(None)
    assert y.shape == shape and y.dtype == dtype, what
    out = np.empty(shape, dtype)
    assert call(out) is out, what


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ELEMENTWISE, ids=CASE_IDS)
def test_elementwise_zero_size(isa, case, dtype):
    name, params = case
    for shape in EMPTY_SHAPES:
        x = np.zeros(shape, dtype)
        for impl in ops.impls(name + "_forward", dtype=dtype):
            _check_empty(lambda out: fwd(name)(x, **params, out=out, impl=impl), shape, dtype, (name, impl, shape))
        for impl in ops.impls(name + "_backward", dtype=dtype):
            _check_empty(lambda out: bwd(name)(x.copy(), x, **params, out=out, impl=impl), shape, dtype,
                         (name, impl, shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_zero_size(isa, name, dtype):
    """No rows, or rows of no columns (never rows = numel / cols with cols == 0)."""
    for shape in EMPTY_SHAPES:
        x = np.zeros(shape, dtype)
        for impl in ops.impls(name + "_forward", dtype=dtype):
            _check_empty(lambda out: fwd(name)(x, out=out, impl=impl), shape, dtype, (name, impl, shape))
        for impl in ops.impls(name + "_backward", dtype=dtype):
            _check_empty(lambda out: bwd(name)(x.copy(), x, out=out, impl=impl), shape, dtype, (name, impl, shape))


@pytest.mark.parametrize("case", ELEMENTWISE, ids=CASE_IDS)
def test_elementwise_extremes_finite(case):
    """+-1e4 (and everything finite) never gives NaN; +-inf saturate like the reference."""
    name, params = case
    for dtype in DTYPES:
        x = np.array([1e4, -1e4, 1e3, -1e3, 90.0, -90.0, 1e-40, 0.0], dtype)
        for impl in ops.impls(name + "_forward", dtype=dtype):
            y = fwd(name)(x, **params, impl=impl)
            assert np.all(np.isfinite(y)), (name, impl, y)
            dx = bwd(name)(np.ones_like(x), x, **params, impl=impl)
            assert np.all(np.isfinite(dx)), (name, impl, dx)
        # NaN in -> NaN out (forward), as PyTorch
        y = fwd(name)(np.array([np.nan], dtype), **params)
        assert np.isnan(y[0])


def test_elementwise_matches_torch_on_special_values():
    """PyTorch semantics, including what happens at NaN / inf / +-1e4 (float32, default impl)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.array(SPECIAL + [0.5, -0.5, 3.0, -3.0, 1e-3, -1e-3], np.float32)
    dy = np.linspace(-2, 2, x.size).astype(np.float32)
    tfn = {
        "relu": lambda t, **p: F.relu(t),
        "leaky_relu": lambda t, negative_slope=0.01: F.leaky_relu(t, negative_slope),
        "elu": lambda t, alpha=1.0: F.elu(t, alpha),
        "gelu": lambda t, approximate="none": F.gelu(t, approximate=approximate),
        "sigmoid": lambda t: torch.sigmoid(t),
        "tanh": lambda t: torch.tanh(t),
        "silu": lambda t: F.silu(t),
        "hardswish": lambda t: F.hardswish(t),
        "softplus": lambda t, beta=1.0, threshold=20.0: F.softplus(t, beta, threshold),
    }
    for name, params in ELEMENTWISE:
        tx = torch.tensor(x, requires_grad=True)
        ty = tfn[name](tx, **params)
        ty.backward(torch.tensor(dy))
        for got, want, what in [(fwd(name)(x, **params), ty.detach().numpy(), "forward"),
                                (bwd(name)(dy, x, **params), tx.grad.numpy(), "backward")]:
            if name == "gelu" and what == "forward":  # PyTorch's float32 vectorized erf(+inf) is NaN
                got, want = got[x != np.inf], want[x != np.inf]
            if name == "elu" and what == "backward":  # NaN x: PyTorch float32 passes dy, float64 NaN; we NaN
                got, want = got[~np.isnan(x)], want[~np.isnan(x)]
            if name == "hardswish" and what == "backward":  # NaN x: PyTorch's scalar loop (short tensors,
                got, want = got[~np.isnan(x)], want[~np.isnan(x)]  # tails) passes dy, its vector loop and we NaN
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name} {params} {what} NaN")
            # PyTorch's float32 gelu tanh form cancels in 1 + tanh(k) for x < -3 (~1e-6 absolute)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{name} {params} {what}")


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.sampled_from([1, 2, 3, 5, 7, 13, 17, 31, 33, 127, 1031]), min_size=1, max_size=3),
       case=st.sampled_from(ELEMENTWISE), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31))
def test_elementwise_shapes(shape, case, dtype, seed):
    assume(math.prod(shape) <= 300_000)  # keep memory and time small (1031^3 would be 4 GB)
    name, params = case
    rng = np.random.default_rng(seed)
    x = sample(rng, tuple(shape), dtype, special=False)
    dy = rng.standard_normal(x.shape).astype(dtype)
    out = np.empty_like(x)
    assert fwd(name)(x, **params, out=out) is out
    assert_close(out, getattr(ref, name + "_forward")(x, **params), **tol(dtype))
    dx = np.empty_like(x)
    assert bwd(name)(dy, x, **params, out=dx) is dx
    assert_close(dx, getattr(ref, name + "_backward")(dy, x, **params), **tol(dtype))


def test_zero_dim_input():
    x = np.array(-2.0, np.float32)
    assert ops.relu_forward(x).shape == ()
    assert_close(ops.sigmoid_forward(x), ref.sigmoid_forward(x), **TOL32)


@pytest.mark.parametrize("name, cols", [("relu", 0), ("gelu", 0), ("softplus", 0), ("softmax", 1000),
                                        ("softmax", 5000), ("log_softmax", 1000)])
def test_streaming_path_large_unaligned(isa, name, cols):
    """Outputs >= 16 MiB take the streaming-store path; an offset view makes x and out unaligned.
    Softmax rows of 1000 use the row buffer, rows of 5000 recompute exp."""
    rng = np.random.default_rng(7)
    n = 4_200_000  # 16.8 MB of float32, a multiple of the softmax row lengths
    shape = (n,) if cols == 0 else (n // cols, cols)
    x = (rng.standard_normal(n + 1).astype(np.float32) * 4)[1:].reshape(shape)
    out = np.empty(n + 1, np.float32)[1:].reshape(shape)
    # element-wise: against the reference; softmax: against vec. gelu's float32 forms cancel in
    # 0.5 + 0.5 erf(x / sqrt 2) for x < -5 (|y| < 1e-6 there): up to 1.06e-6 absolute error in
    # stream (SSE2), 6.5e-7 in simd, 6e-7 in lean on these 4.2M values, so atol 2e-6 for gelu.
    tol32 = dict(TOL32, atol=2e-6) if name == "gelu" else TOL32
    want = fwd(name)(x, impl="vec") if cols else getattr(ref, name + "_forward")(x)
    dy = np.ones_like(x)
    yb = want if cols else x
    want_dx = bwd(name)(dy, yb, impl="vec") if cols else getattr(ref, name + "_backward")(dy, yb)
    for impl in [i for i in ["stream", "simd", "lean", "online"] if i in ops.impls(name + "_forward", dtype="float32")]:
        fwd(name)(x, out=out, impl=impl)
        assert_close(out, want, err_msg=impl, **tol32)
        if impl not in ops.impls(name + "_backward", dtype="float32"):  # online: forward only
            continue
        dx = np.empty(n + 1, np.float32)[1:].reshape(shape)
        bwd(name)(dy, yb, out=dx, impl=impl)
        assert_close(dx, want_dx, err_msg=impl, **tol32)


def test_streaming_path_misaligned_buffers():
    """float32 arrays at an odd byte address (NumPy allows them) never reach 64-byte alignment."""
    n = 4_200_000
    x = np.frombuffer(bytearray(4 * n + 1), dtype=np.float32, count=n, offset=1)
    x[:] = np.random.default_rng(5).standard_normal(n)
    out = np.frombuffer(bytearray(4 * n + 3), dtype=np.float32, count=n, offset=3)
    assert not x.flags.aligned and not out.flags.aligned
    for impl in ["stream", "simd", "lean", "online"]:
        for name in ["relu", "sigmoid", "gelu"]:
            if impl not in ops.impls(name + "_forward", dtype="float32"):
                continue
            fwd(name)(x, out=out, impl=impl)
            assert_close(out, getattr(ref, name + "_forward")(x), err_msg=impl, **TOL32)
        if impl in ops.impls("softmax_forward", dtype="float32"):
            ops.softmax_forward(x.reshape(-1, 1000), out=out.reshape(-1, 1000), impl=impl)
            assert_close(out.reshape(-1, 1000).sum(axis=1), np.ones(n // 1000, np.float32), err_msg=impl, **TOL32)


@pytest.mark.parametrize("case", ELEMENTWISE + [("softmax", {}), ("log_softmax", {})],
                         ids=CASE_IDS + ["softmax", "log_softmax"])
def test_deterministic(case):
    name, params = case
    x = np.random.default_rng(3).standard_normal((64, 1500)).astype(np.float32)
    a, b = fwd(name)(x, **params), fwd(name)(x, **params)
    np.testing.assert_array_equal(a, b)
    y = a if "softmax" in name else x
    np.testing.assert_array_equal(bwd(name)(x, y, **params), bwd(name)(x, y, **params))


# ---- finite differences (float64) ----------------------------------------------------------------

@pytest.mark.parametrize("case", ELEMENTWISE, ids=CASE_IDS)
def test_elementwise_grad_finite_difference(case, rng):
    name, params = case
    x = rng.standard_normal(16) * 2
    x[np.abs(x) < 1e-2] = 0.5  # keep away from the kinks of relu / leaky_relu / elu
    if name == "softplus":     # and from the threshold switch
        z = x * params.get("beta", 1.0)
        x[np.abs(z - params.get("threshold", 20.0)) < 1e-2] = 0.3
    w = rng.standard_normal(16)
    dx = bwd(name)(w, x, **params)
    check_grad(dx, lambda: float(np.sum(w * fwd(name)(x, **params))), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_grad_finite_difference(name, rng):
    x = rng.standard_normal((3, 7)) * 2
    w = rng.standard_normal((3, 7))
    dx = bwd(name)(w, fwd(name)(x))
    check_grad(dx, lambda: float(np.sum(w * fwd(name)(x))), x)


# ---- softmax / log_softmax -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(7, 131), (1, 1), (3, 1), (2, 3, 17), (5000,), (2, 9000),
                                   (1, 16), (9, 64), (2, 3, 48), (3, 4096), (2, 4112)])
def test_softmax_matches_reference(isa, name, shape, dtype, rng):
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    want = getattr(ref, name + "_forward")(x)
    for impl in ops.impls(name + "_forward", dtype=dtype):
        y = fwd(name)(x, impl=impl)
        assert_close(y, want, err_msg=f"{name} forward impl={impl}", **tol(dtype))
        if name == "softmax":
            assert_close(y.sum(axis=-1), np.ones(shape[:-1], dtype), **tol(dtype))
    for impl in ops.impls(name + "_backward", dtype=dtype):
        dx = bwd(name)(dy, want, impl=impl)
        assert_close(dx, getattr(ref, name + "_backward")(dy, want), err_msg=f"{name} backward impl={impl}",
                     **tol(dtype))


@settings(max_examples=25, deadline=None)
@given(rows=st.sampled_from([1, 2, 3, 7, 13]), cols=st.sampled_from([1, 2, 5, 16, 17, 31, 33, 127, 1031]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31))
def test_softmax_shapes_rows_sum_to_one(rows, cols, dtype, seed):
    x = (np.random.default_rng(seed).standard_normal((rows, cols)) * 10).astype(dtype)
    y = ops.softmax_forward(x)
    assert_close(y.sum(axis=-1), np.ones(rows, dtype), **tol(dtype))
    assert_close(np.exp(ops.log_softmax_forward(x)), y, **tol(dtype))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_extremes(isa, name):
    x = np.array([[1e4, -1e4, 0.0],          # finite, no overflow
                  [-1e4, -1e4, -1e4],        # equal
                  [np.nan, 1.0, 2.0],        # NaN -> NaN row
                  [-np.inf, -np.inf, -np.inf],  # all -inf -> NaN row (PyTorch)
                  [np.inf, 1.0, 2.0],        # +inf -> NaN row (inf - inf)
                  [-np.inf, 0.0, 1.0]],      # -inf -> probability 0
                 np.float32)
    for impl in ops.impls(name + "_forward", dtype="float32"):
        y = fwd(name)(x, impl=impl)
        want = getattr(ref, name + "_forward")(x)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
        assert_close(y, want, **TOL32)
        assert np.all(np.isfinite(y[[0, 1, 5] if name == "softmax" else [0, 1]]))
        assert np.all(np.isnan(y[2:5]))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("rows, cols, offset", [(9, 64, 0), (5, 48, 3), (1, 16, 0), (3, 4096, 5), (4, 4112, 0),
                                                (2, 1000, 0), (4100, 1024, 0), (4100, 1024, 4), (4100, 1024, 13)])
def test_softmax_lean_is_simd_bitwise(name, rows, cols, offset):
    """lean pipelines the rows (row r's exp with row r-1's stores, half a row rotated) but keeps
    simd's sums and formulas: the same bits, on the plain path, the streaming one (>= 16 MiB:
    4100 x 1024) with y at several alignments (offset floats into a buffer), and the fallbacks
    (cols % 16 != 0, cols > 4096)."""
    if "lean" not in ops.impls(name + "_forward", dtype="float32"):
        pytest.skip("lean is built with -DPYBENCH_DEV_KERNELS=ON and runs on AVX-512 only")
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((rows, cols)) * 6).astype(np.float32)
    x[0, :3] = [-np.inf, 80.0, -80.0]
    if rows > 2:
        x[1, 5], x[2, :] = np.nan, -np.inf
    buf = np.empty(rows * cols + 16, np.float32)
    out = buf[offset:offset + rows * cols].reshape(rows, cols)
    fwd(name)(x, out=out, impl="lean")
    np.testing.assert_array_equal(out, fwd(name)(x, impl="simd"))
    with np.errstate(invalid="ignore"):
        want = getattr(ref, name + "_forward")(x)
    assert_close(out, want, **TOL32)


ONLINE_COLS = [1, 15, 16, 17, 63, 64, 65, 1024, 1031]


def _online_rows(cols, rng):
    """Rows for `online` (running lane max m raised only past m + 8, sums rescaled then): random
    rows, the max at the end (m grows in the last block / the masked tail), a steadily rising row
    (m raised in many blocks: softmax rescales earlier blocks in L1), +-1e4 magnitudes, a row
    that is -inf but its last element, and the special rows (-inf, NaN, +inf)."""
    r = [rng.standard_normal(cols) * 5,
         np.where(np.arange(cols) == cols - 1, 40.0, rng.standard_normal(cols)),
         np.arange(cols) * 0.75 - 30.0,
         rng.uniform(-1e4, 1e4, cols),
         np.where(np.arange(cols) == cols - 1, 1e4, -1e4),
         np.where(np.arange(cols) == cols - 1, 3.0, -np.inf),
         np.full(cols, -np.inf),
         np.where(np.arange(cols) == cols // 2, np.nan, rng.standard_normal(cols)),
         np.where(np.arange(cols) == cols // 3, np.inf, rng.standard_normal(cols))]
    if cols > 1:
        r.append(np.where(np.arange(cols) < cols // 2, -np.inf, rng.standard_normal(cols)))  # m from -FLT_MAX late
    return np.array(r, np.float32)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("cols", ONLINE_COLS)
def test_softmax_online_edge_rows(isa, name, cols):
    """online (exp in the loop that reads the row, a lane-wise running max) against the reference,
    and NaN exactly where simd has NaN (the last bits differ from simd: exp(x - m) exp(m - M)).
    Tolerance: TOL32 (every finite value within rtol 1e-5 / atol 1e-6)."""
    if "online" not in ops.impls(name + "_forward", dtype="float32"):
        pytest.skip(f"online runs on AVX-512 only (this level: {isa})")
    x = _online_rows(cols, np.random.default_rng(cols))
    with np.errstate(invalid="ignore", over="ignore"):
        want = getattr(ref, name + "_forward")(x)
    for offset in [0, 1, 5]:  # y at several alignments (the plain-store path)
        buf = np.empty(x.size + 16, np.float32)
        out = buf[offset:offset + x.size].reshape(x.shape)
        fwd(name)(x, out=out, impl="online")
        np.testing.assert_array_equal(np.isnan(out), np.isnan(fwd(name)(x, impl="simd")), err_msg=f"offset {offset}")
        assert_close(out, want, err_msg=f"offset {offset}", **TOL32)
    if cols > 1:
        assert np.all(np.isnan(out[6:9]))  # all -inf, NaN, +inf rows
        assert np.all(np.isfinite(out[[0, 1, 2, 3, 4]]))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("cols, offset", [(1024, 0), (1024, 3), (1031, 7), (1031, 0), (4096, 1), (4097, 2)])
def test_softmax_online_streaming_unaligned(name, cols, offset):
    """Outputs >= 16 MiB take online's streaming path: y's rows at every alignment (cols % 16 != 0)
    or a fixed non-zero one (offset floats into a buffer): pass 2 rotates the per-lane factor to
    y's alignment. 4097 columns take simd's loop. Rows with their max at the end and +-1e4 rows
    mixed in; the output does not depend on y's alignment (the bits at offset 0 are the same)."""
    if "online" not in ops.impls(name + "_forward", dtype="float32"):
        pytest.skip("online runs on AVX-512 only")
    rows = (4_200_000 + cols - 1) // cols
    rng = np.random.default_rng(cols + offset)
    x = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
    x[::7, -1] = 30.0
    x[3::11] *= 2500.0
    buf = np.empty(rows * cols + 16, np.float32)
    out = buf[offset:offset + rows * cols].reshape(rows, cols)
    fwd(name)(x, out=out, impl="online")
    want = fwd(name)(x, impl="vec")
    assert_close(out, want, **TOL32)
    np.testing.assert_array_equal(out, fwd(name)(x, impl="online"))


def test_lean_gelu_saturates():
    """lean's gelu cdf is clamped at |x| = 5.55, where it must come out as exactly 0 and 1 (not every
    clamp does: 5.6 gives 2^-25, and gelu(-1e4) would be -3e-4)."""
    for impl in ops.impls("gelu_forward", dtype="float32"):
        # the other impls saturate from 3.925 sqrt 2 = 5.5508 (fm::erf); lean is listed on AVX-512 only
        own = impl == "lean"
        v = np.array(([5.55, 5.5500007] if own else []) + [5.6, 6.0, 30.0, 1e4, 3e38], np.float32)
        x = np.concatenate([v, -v, np.linspace(-12, 12, 4099, dtype=np.float32)])
        y = ops.gelu_forward(x, impl=impl)
        np.testing.assert_array_equal(y[: v.size], v, err_msg=impl)
        np.testing.assert_array_equal(y[v.size: 2 * v.size], np.zeros_like(v), err_msg=impl)
        assert_close(y, ref.gelu_forward(x), err_msg=impl, **TOL32)
        dy = np.linspace(-2, 2, x.size).astype(np.float32)
        assert_close(ops.gelu_backward(dy, x, impl=impl), ref.gelu_backward(dy, x), err_msg=impl, **TOL32)
        for approx in ["tanh"]:
            assert_close(ops.gelu_forward(x, approximate=approx, impl=impl),
                         ref.gelu_forward(x, approximate=approx), err_msg=impl, **TOL32)


@pytest.mark.parametrize("threshold", [16.0, 20.0, 30.0, np.inf])
def test_lean_softplus_threshold_select_dropped(threshold):
    """beta = 1, threshold >= 16: lean computes x + log1p(e^-x) everywhere; above the threshold that
    rounds to x, which is what the select returns: the same values as simd there."""
    if "lean" not in ops.impls("softplus_forward", dtype="float32"):
        pytest.skip("lean runs on AVX-512 only")
    x = np.concatenate([np.linspace(-100, 100, 20011), [15.9, 16.0, 16.1, 19.99, 20.0, 20.01, 1e4, 3e38, np.inf,
                                                        -np.inf, np.nan]]).astype(np.float32)
    y = ops.softplus_forward(x, threshold=threshold, impl="lean")
    big = x > 16
    np.testing.assert_array_equal(y[big], ops.softplus_forward(x, threshold=threshold, impl="simd")[big])
    np.testing.assert_array_equal(y[big], x[big])
    assert_close(y, ref.softplus_forward(x, threshold=threshold), **TOL32)


def test_softmax_matches_torch():
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(0).standard_normal((4, 33)) * 8).astype(np.float32)
    x[0, 0], x[1, :] = 1e4, -np.inf
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    for name, tf in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
        tx = torch.tensor(x, requires_grad=True)
        ty = tf(tx, -1)
        ty.backward(torch.tensor(dy))
        y = fwd(name)(x)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bwd(name)(dy, y), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


# ---- fast math accuracy ------------------------------------------------------------------------

def _floats(lo, hi, count):
    """About `count` floats evenly spaced in bit pattern over [lo, hi] (all binades equally)."""
    def key(f):
        i = int(np.array(f, np.float32).view(np.int32))
        return -(i & 0x7FFFFFFF) if i < 0 else i
    k = np.unique(np.linspace(key(lo), key(hi), count).astype(np.int64))
    return np.where(k < 0, (-k) | 0x80000000, k).astype(np.uint32).view(np.float32)


def _erf64(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# fn: (float64 reference, range, max ulp allowed; what csrc/math/fastmath.h states)
FASTMATH = {
    "exp": (np.exp, (-104.0, 89.0), 1.2),  # 0.91 with FMA; the SSE2 build (no FMA) 1.18
    "expm1": (np.expm1, (-40.0, 89.0), 2.0),
    "log": (np.log, (1e-45, 3.4e38), 1.0),
    "log1p": (np.log1p, (-0.99999994, 3.4e38), 1.0),
    "tanh": (np.tanh, (-12.0, 12.0), 3.0),
    "erf": (_erf64, (-4.5, 4.5), 6.0),
    "log1p_01": (np.log1p, (0.0, 1.0), 2.0),
}


# impl "vec": the scalar code (compiled for the ISA, vectorized by GCC) that the vec / stream impls
# run; "simd": what the simd impls run (the fm::V16 code on AVX-512, the scalar code elsewhere).
FASTMATH_IMPLS = ["vec", "simd"]


@pytest.mark.parametrize("impl", FASTMATH_IMPLS)
@pytest.mark.parametrize("fn", list(FASTMATH))
def test_fastmath_ulp(isa, fn, impl):
    ref64, (lo, hi), bound = FASTMATH[fn]
    x = _floats(lo, hi, 60000)
    got = _native._fastmath(fn, x, impl=impl).astype(np.float64)
    want = ref64(x.astype(np.float64))
    with np.errstate(over="ignore"):
        want32 = want.astype(np.float32)
    fin = np.isfinite(want32)
    np.testing.assert_array_equal(got[~fin], want32[~fin].astype(np.float64))
    err = np.abs(got[fin] - want[fin]) / np.spacing(np.abs(want32[fin])).astype(np.float64)
    assert err.max() <= bound, f"{fn}: {err.max():.2f} ulp at x={x[fin][np.argmax(err)]!r}"


@pytest.mark.parametrize("impl", FASTMATH_IMPLS)
def test_fastmath_special_values(isa, impl):
    inf, nan = np.inf, np.nan
    cases = {
        "exp": ([inf, -inf, nan, 0.0, -0.0, 89.0, 88.7, -104.0, -103.0, 1e30, -1e30],
                None),
        "expm1": ([inf, -inf, nan, 0.0, -0.0, 1e-30, -1e-30, 89.0, 88.7, -50.0, 1e30, -1e30], None),
        "log": ([inf, 0.0, -0.0, -1.0, nan, 1e-45, 1e-40, 1.0, 3.4e38], None),
        "log1p": ([inf, -1.0, -2.0, nan, 0.0, -0.0, 1e-30, -1e-30, 3.4e38], None),
        "tanh": ([inf, -inf, nan, 0.0, -0.0, 1e-30, -1e-30, 1e4, -1e4], None),
        "erf": ([inf, -inf, nan, 0.0, -0.0, 1e-30, -1e-30, 3.92, 3.93, 1e4, -1e4, 1e20], None),
    }
    npref = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
             "erf": lambda v: _erf64(v.astype(np.float64)).astype(np.float32)}
    for fn, (vals, _) in cases.items():
        x = np.array(vals, np.float32)
        with np.errstate(all="ignore"):
            want = npref[fn](x)
        got = _native._fastmath(fn, x, impl=impl)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=fn)
        np.testing.assert_allclose(got, want, rtol=4e-7, atol=0, err_msg=fn)
        # signed zeros are kept where the function is odd
        if fn in ("expm1", "tanh", "erf", "log1p"):
            i = next(i for i, v in enumerate(vals) if v == 0 and math.copysign(1.0, v) < 0)
            assert np.signbit(got[i]), fn


# ---- bad input -------------------------------------------------------------------------------------

_x = np.ones((4, 5), np.float32)
_ro = np.ones((4, 5), np.float32)
_ro.setflags(write=False)

BAD_CALLS = [
    # (call, exception, message fragments)
    (lambda: ops.relu_forward(_x.astype(np.int32)), TypeError, ["relu_forward", "x", "int32"]),
    (lambda: ops.sigmoid_forward(_x.astype(np.float16)), TypeError, ["sigmoid_forward", "x", "float16"]),
    (lambda: ops.tanh_forward([1.0, 2.0]), TypeError, ["tanh_forward", "x", "numpy.ndarray", "list"]),
    (lambda: ops.silu_forward(np.ones((4, 10), np.float32)[:, ::2]), ValueError,
     ["silu_forward", "x", "C-contiguous"]),
    (lambda: ops.elu_forward(_x, out=_ro), ValueError, ["elu_forward", "out", "writable", "read-only"]),
    (lambda: ops.relu_forward(_x, out=_x), ValueError, ["relu_forward", "out", "overlapping"]),
    (lambda: ops.gelu_backward(_x, _x.copy(), out=_x), ValueError, ["gelu_backward", "out", "overlapping"]),
    (lambda: ops.relu_forward(_x, out=np.empty((5, 4), np.float32)), ValueError,
     ["relu_forward", "out", "(4, 5)", "(5, 4)"]),
    (lambda: ops.relu_forward(_x, out=np.empty((4, 5))), TypeError, ["relu_forward", "out", "float32", "float64"]),
    (lambda: ops.relu_forward(_x, out=np.empty((4, 10), np.float32)[:, ::2]), ValueError,
     ["relu_forward", "out", "C-contiguous"]),
    (lambda: ops.relu_backward(_x, _x[:, :4].copy()), ValueError, ["relu_backward", "x", "(4, 5)", "(4, 4)"]),
    (lambda: ops.sigmoid_backward(_x, _x.astype(np.float64)), TypeError, ["sigmoid_backward", "x", "float32"]),
    (lambda: ops.gelu_forward(_x, approximate="fast"), ValueError, ["gelu_forward", "approximate", "'fast'"]),
    (lambda: ops.gelu_backward(_x, _x, approximate="Tanh"), ValueError, ["gelu_backward", "approximate", "'Tanh'"]),
    (lambda: ops.softplus_forward(_x, beta=0.0), ValueError, ["softplus_forward", "beta", "> 0", "0"]),
    (lambda: ops.softplus_forward(_x, beta=-1.0), ValueError, ["softplus_forward", "beta", "-1"]),
    (lambda: ops.softplus_backward(_x, _x, beta=float("nan")), ValueError, ["softplus_backward", "beta", "nan"]),
    (lambda: ops.softplus_forward(_x, threshold=float("nan")), ValueError, ["softplus_forward", "threshold", "nan"]),
    (lambda: ops.leaky_relu_forward(_x, negative_slope=float("nan")), ValueError,
     ["leaky_relu_forward", "negative_slope", "nan"]),
    (lambda: ops.elu_backward(_x, _x, alpha=float("inf")), ValueError, ["elu_backward", "alpha", "inf"]),
    # an empty input is still checked like any other
    (lambda: ops.softplus_forward(np.ones((0, 5), np.float32), beta=0.0), ValueError, ["softplus_forward", "beta", "0"]),
    (lambda: ops.relu_forward(np.ones((0, 5), np.float32), impl="bogus"), ValueError, ["relu_forward", "impl", "'bogus'"]),
    (lambda: ops.softmax_forward(np.ones((3, 0), np.float32), out=np.empty((0, 3), np.float32)), ValueError,
     ["softmax_forward", "out", "(3, 0)", "(0, 3)"]),
    (lambda: ops.relu_backward(np.ones((0, 5), np.float32), np.ones((0, 4), np.float32)), ValueError,
     ["relu_backward", "x", "(0, 5)", "(0, 4)"]),
    (lambda: ops.softmax_forward(np.array(1.0, np.float32)), ValueError, ["softmax_forward", "x", "0-D"]),
    (lambda: ops.log_softmax_forward(_x.astype(np.int64)), TypeError, ["log_softmax_forward", "x", "int64"]),
    (lambda: ops.softmax_backward(_x, np.ones((4, 6), np.float32)), ValueError,
     ["softmax_backward", "y", "(4, 5)", "(4, 6)"]),
    (lambda: ops.log_softmax_backward(_x, _x.copy(), out=_ro), ValueError, ["log_softmax_backward", "out", "read-only"]),
    (lambda: ops.relu_forward(_x, impl="bogus"), ValueError, ["relu_forward", "impl", "'bogus'", "'naive'"]),
    (lambda: _native._fastmath("sin", np.ones(3, np.float32)), ValueError, ["_fastmath", "fn", "'sin'"]),
    (lambda: _native._fastmath("exp", np.ones(3, np.float32), impl="fast"), ValueError, ["_fastmath", "impl", "'fast'"]),
]


@pytest.mark.parametrize("call, exc, fragments", BAD_CALLS, ids=[f"bad{i}" for i in range(len(BAD_CALLS))])
def test_bad_calls(call, exc, fragments):
    assert_bad_call(call, exc, *fragments)


def test_bad_out_is_not_written():
    out = np.full((4, 5), 7.0, np.float32)
    with pytest.raises(ValueError):
        ops.softplus_forward(_x, beta=0.0, out=out)
    assert np.all(out == 7.0)
