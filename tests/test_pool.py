"""max/avg/global-average pooling: every impl x ISA level vs pybench.reference, hypothesis-drawn
geometries, float64 finite differences, NaN/tie semantics, determinism and a bad-input table."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pybench import ops, reference as ref
from util import assert_bad_call, assert_close, check_grad

DTYPES = [np.float32, np.float64]

# (x shape, kernel_size, stride, padding)
CASES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 3, 9, 7), 3, 2, 1),
    ((1, 4, 7, 10), (3, 2), (1, 2), (1, 1)),
    ((3, 2, 1, 13), (1, 3), (1, 2), (0, 1)),  # H = 1
    ((2, 2, 5, 5), 5, 1, 2),                  # padding = kernel // 2, overlapping windows
    ((1, 1, 4, 6), (4, 6), None, 0),          # one window covering the plane
]




@pytest.mark.parametrize("impl", ops.impls("max_pool2d_forward"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_max_pool2d_matches_reference(isa, impl, dtype, case, rng):
    shape, k, s, p = case
    x = rng.integers(-3, 4, shape).astype(dtype)  # small integers: plenty of ties
    y, idx = ops.max_pool2d_forward(x, k, s, p, impl=impl)
    ry, ridx = ref.max_pool2d_forward(x, k, s, p)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    dy = rng.standard_normal(y.shape).astype(dtype)
    bwd_impl = ops.impls("max_pool2d_backward")[ops.impls("max_pool2d_forward").index(impl)]  # same name
    dx = ops.max_pool2d_backward(dy, idx, x.shape, impl=bwd_impl)
    assert_close(dx, ref.max_pool2d_backward(dy, idx, x.shape))


@pytest.mark.parametrize("impl", ops.impls("avg_pool2d_forward"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_avg_pool2d_matches_reference(isa, impl, dtype, cip, case, rng):
    shape, k, s, p = case
    x = rng.standard_normal(shape).astype(dtype)
    y = ops.avg_pool2d_forward(x, k, s, p, cip, impl=impl)
    assert_close(y, ref.avg_pool2d_forward(x, k, s, p, cip))
    dy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(ops.avg_pool2d_backward(dy, x.shape, k, s, p, cip, impl=impl),
                 ref.avg_pool2d_backward(dy, x.shape, k, s, p, cip))


@pytest.mark.parametrize("impl", ops.impls("global_avg_pool2d_forward"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 7, 7), (1, 5, 1, 1), (3, 2, 1, 37), (2, 3, 32, 33)])
def test_global_avg_pool2d_matches_reference(isa, impl, dtype, shape, rng):
    x = rng.standard_normal(shape).astype(dtype)
    y = ops.global_avg_pool2d_forward(x, impl=impl)
    assert y.shape == shape[:2]
    assert_close(y, ref.global_avg_pool2d_forward(x.astype(np.float64)), dtype=dtype)
    dy = rng.standard_normal(shape[:2]).astype(dtype)
    assert_close(ops.global_avg_pool2d_backward(dy, shape, impl=impl), ref.global_avg_pool2d_backward(dy, shape))


@st.composite
def pool_geometries(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = draw(st.integers(max(1, kh - 2 * ph), 13))
    W = draw(st.integers(max(1, kw - 2 * pw), 19))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W), (kh, kw), (sh, sw), (ph, pw)


@settings(max_examples=60, deadline=None)
@given(case=pool_geometries(), cip=st.booleans())
def test_pool_hypothesis(case, cip):
    shape, k, s, p = case
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-3, 4, shape).astype(np.float32)
    ry, ridx = ref.max_pool2d_forward(x, k, s, p)
    ra = ref.avg_pool2d_forward(x.astype(np.float64), k, s, p, cip)
    dy = rng.integers(-3, 4, ry.shape).astype(np.float32)
    rdx = ref.max_pool2d_backward(dy, ridx, shape)
    rda = ref.avg_pool2d_backward(dy.astype(np.float64), shape, k, s, p, cip)
    for impl in ops.impls("max_pool2d_forward"):
        y, idx = ops.max_pool2d_forward(x, k, s, p, impl=impl)
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(ops.max_pool2d_backward(dy, idx, shape, impl=impl), rdx)
        assert_close(ops.avg_pool2d_forward(x, k, s, p, cip, impl=impl), ra, dtype=np.float32)
        assert_close(ops.avg_pool2d_backward(dy, shape, k, s, p, cip, impl=impl), rda, dtype=np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("W", [8, 15, 28, 57, 66])  # rows shorter than, about, and over several SIMD vectors
@pytest.mark.parametrize("H", [6, 7])  # odd H, W: a row/column no window reads
def test_max_pool2d_2x2_stride2_ties_nan_inf(isa, dtype, W, H, rng):
    # the fast path for 2x2/2 windows (AVX-512: 16 outputs a step, masked row ends): ties (small
    # integers), NaN and -inf, on every ISA build
    x = rng.integers(-2, 3, (3, 4, H, W)).astype(dtype)
    x[0, 0, 0, :5] = np.nan
    x[1, 2, 3, 3] = np.nan
    x[2, 1] = -np.inf
    for impl in ops.impls("max_pool2d_forward"):
        y, idx = ops.max_pool2d_forward(x, 2, impl=impl)
        ry, ridx = ref.max_pool2d_forward(x, 2)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(y, ry)  # NaN compares equal in assert_array_equal


def test_max_pool2d_nan_and_ties():
    x = np.zeros((1, 1, 2, 4), np.float32)
    x[0, 0, 1, 3] = np.nan
    x[0, 0, 0, 2] = -np.inf
    x[0, 0, 1, 2] = -np.inf
    for impl in ops.impls("max_pool2d_forward"):
        y, idx = ops.max_pool2d_forward(x, 2, impl=impl)
        assert y[0, 0, 0, 0] == 0 and idx[0, 0, 0, 0] == 0  # tie: first in window order wins
        assert np.isnan(y[0, 0, 0, 1]) and idx[0, 0, 0, 1] == 7  # NaN wins
    allneg = np.full((1, 1, 3, 3), -np.inf, np.float32)
    y, idx = ops.max_pool2d_forward(allneg, 3, 1, 1)
    # as PyTorch: all -inf keeps the window's first in-bounds position
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1], [0, 0, 1], [3, 3, 4]])


def test_pool_grads_finite_difference(rng, one_thread):
    x = rng.standard_normal((2, 2, 6, 5))
    for k, s, p in [(3, 2, 1), ((2, 3), (1, 2), (1, 0))]:
        y, idx = ops.max_pool2d_forward(x, k, s, p)
        r = rng.standard_normal(y.shape)
        for impl in ops.impls("max_pool2d_backward"):
            dx = ops.max_pool2d_backward(r, idx, x.shape, impl=impl)
            check_grad(dx, lambda: float(np.sum(r * ops.max_pool2d_forward(x, k, s, p)[0])), x)
        for cip in (True, False):
            r = rng.standard_normal(ops.avg_pool2d_forward(x, k, s, p, cip).shape)
            for impl in ops.impls("avg_pool2d_backward"):
                dx = ops.avg_pool2d_backward(r, x.shape, k, s, p, cip, impl=impl)
                check_grad(dx, lambda: float(np.sum(r * ops.avg_pool2d_forward(x, k, s, p, cip))), x)
    r = rng.standard_normal((2, 2))
    for impl in ops.impls("global_avg_pool2d_backward"):
        dx = ops.global_avg_pool2d_backward(r, x.shape, impl=impl)
        check_grad(dx, lambda: float(np.sum(r * ops.global_avg_pool2d_forward(x))), x)


def test_pool_deterministic_and_out(rng):
    x = rng.standard_normal((8, 16, 20, 20)).astype(np.float32)
    y1, i1 = ops.max_pool2d_forward(x, 3, 2, 1)
    y2, i2 = np.full_like(y1, np.nan), np.full(i1.shape, -5, np.int64)
    r = ops.max_pool2d_forward(x, 3, 2, 1, out=y2, indices=i2)
    assert r[0] is y2 and r[1] is i2
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(i1, i2)
    dx = np.full_like(x, np.nan)
    assert ops.max_pool2d_backward(y1, i1, x.shape, out=dx) is dx
    np.testing.assert_array_equal(dx, ops.max_pool2d_backward(y1, i1, x.shape))
    a1 = ops.avg_pool2d_forward(x, 3, 2, 1)
    np.testing.assert_array_equal(a1, ops.avg_pool2d_forward(x, 3, 2, 1))
    g = ops.global_avg_pool2d_forward(x)
    np.testing.assert_array_equal(g, ops.global_avg_pool2d_forward(x))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_pool_zero_batch(isa, dtype, case):
    """N = 0 (as PyTorch): every forward and backward gives the empty result of the right shape."""
    shape, k, s, p = case
    shape = (0,) + shape[1:]
    x = np.zeros(shape, dtype)
    oshape = ref.avg_pool2d_forward(np.zeros((1,) + shape[1:]), k, s, p).shape[1:]
    for impl in ops.impls("max_pool2d_forward"):  # the same names for every pooling op
        y, idx = ops.max_pool2d_forward(x, k, s, p, impl=impl)
        assert y.shape == idx.shape == (0,) + oshape and y.dtype == dtype and idx.dtype == np.int64
        dx = ops.max_pool2d_backward(np.zeros(y.shape, dtype), idx, shape, impl=impl)
        assert dx.shape == shape and dx.dtype == dtype
        y = ops.avg_pool2d_forward(x, k, s, p, impl=impl)
        assert y.shape == (0,) + oshape and y.dtype == dtype
        dx = ops.avg_pool2d_backward(np.zeros(y.shape, dtype), shape, k, s, p, impl=impl)
        assert dx.shape == shape and dx.dtype == dtype
        g = ops.global_avg_pool2d_forward(x, impl=impl)
        assert g.shape == shape[:2] and g.dtype == dtype
        dx = ops.global_avg_pool2d_backward(g, shape, impl=impl)
        assert dx.shape == shape and dx.dtype == dtype


def _bad_calls():
    x = np.ones((2, 3, 6, 6), np.float32)
    dy = np.ones((2, 3, 3, 3), np.float32)
    idx = np.zeros((2, 3, 3, 3), np.int64)
    ro = np.ones((2, 3, 3, 3), np.float32)
    ro.flags.writeable = False
    mf, mb, af, ab = ops.max_pool2d_forward, ops.max_pool2d_backward, ops.avg_pool2d_forward, ops.avg_pool2d_backward
    gf, gb = ops.global_avg_pool2d_forward, ops.global_avg_pool2d_backward
    bad_idx = idx.copy()
    bad_idx[1, 2, 0, 0] = 36
    return [
        ("int dtype", lambda: mf(x.astype(np.int64), 2), TypeError, ["max_pool2d_forward", "x", "int64"]),
        ("3-D x", lambda: af(x[0], 2), ValueError, ["avg_pool2d_forward", "x", "4-D", "3-D"]),
        # only the batch may be 0, as PyTorch ("optional 0 dim batch size")
        ("zero channels", lambda: mf(np.ones((2, 0, 6, 6), np.float32), 2), ValueError,
         ["max_pool2d_forward", "x", "every dimension but the batch", "(2, 0, 6, 6)"]),
        ("zero width, empty batch", lambda: af(np.ones((0, 3, 6, 0), np.float32), 1), ValueError,
         ["avg_pool2d_forward", "x", "every dimension but the batch", "(0, 3, 6, 0)"]),
        ("global zero height", lambda: gf(np.ones((2, 3, 0, 4), np.float32)), ValueError,
         ["global_avg_pool2d_forward", "x", "every dimension but the batch"]),
        ("empty batch, kernel too large", lambda: mf(np.ones((0, 3, 2, 2), np.float32), 3), ValueError,
         ["kernel_size", "no larger than the padded input (2, 2)", "(3, 3)"]),
        ("backward input_shape zero channels", lambda: ab(np.ones((2, 0, 3, 3), np.float32), (2, 0, 6, 6), 2),
         ValueError, ["avg_pool2d_backward", "dy", "every dimension but the batch"]),
        ("backward input_shape zero height", lambda: gb(np.ones((0, 3), np.float32), (0, 3, 0, 6)), ValueError,
         ["global_avg_pool2d_backward", "input_shape", "positive extents (N may be 0)", "(0, 3, 0, 6)"]),
        ("non-contiguous", lambda: af(np.ones((2, 3, 6, 12), np.float32)[..., ::2], 2), ValueError,
         ["x", "C-contiguous"]),
        ("zero kernel", lambda: mf(x, 0), ValueError, ["kernel_size", "positive", "(0, 0)"]),
        ("zero stride", lambda: af(x, 2, 0), ValueError, ["stride", "positive", "(0, 0)"]),
        ("negative padding", lambda: mf(x, 3, 1, -1), ValueError, ["padding", "non-negative", "(-1, -1)"]),
        ("padding over half kernel", lambda: mf(x, 3, 1, 2), ValueError, ["padding", "at most half", "(2, 2)"]),
        ("kernel larger than padded input", lambda: af(x, 9, 1, 1), ValueError,
         ["kernel_size", "no larger than the padded input (8, 8)", "(9, 9)"]),
        ("huge kernel", lambda: mf(x, 2**62), ValueError, ["kernel_size", "no larger"]),
        ("out wrong shape", lambda: mf(x, 2, out=np.empty((2, 3, 2, 2), np.float32)), ValueError,
         ["out", "(2, 3, 3, 3)", "(2, 3, 2, 2)"]),
        ("indices wrong dtype", lambda: mf(x, 2, indices=np.empty((2, 3, 3, 3), np.int32)), TypeError,
         ["indices", "int64", "int32"]),
        ("out read-only", lambda: af(x, 2, out=ro), ValueError, ["out", "writable"]),
        ("out overlapping x", lambda: gf(x, out=x.reshape(-1)[:6].reshape(2, 3)), ValueError, ["out", "overlapping"]),
        ("backward indices dtype", lambda: mb(dy, idx.astype(np.int32), x.shape), TypeError, ["indices", "int64"]),
        ("backward indices shape", lambda: mb(dy, idx[:1], x.shape), ValueError, ["indices", "(2, 3, 3, 3)"]),
        ("backward indices out of range", lambda: mb(dy, bad_idx, x.shape), ValueError,
         ["max_pool2d_backward", "indices", "[0, H*W=36)", "1 out-of-range"]),
        ("backward input_shape mismatch", lambda: mb(dy, idx, (2, 4, 6, 6)), ValueError,
         ["input_shape", "N and C equal to dy's (2, 3)"]),
        ("backward input_shape ndim", lambda: gb(np.ones((2, 3), np.float32), (2, 3, 6)), ValueError,
         ["global_avg_pool2d_backward", "input_shape", "4 extents"]),
        ("backward input_shape overflow", lambda: mb(dy, idx, (2, 3, 2**40, 2**40)), ValueError,
         ["input_shape", "overflow"]),
        ("avg backward dy shape", lambda: ab(np.ones((2, 3, 4, 4), np.float32), x.shape, 2), ValueError,
         ["avg_pool2d_backward", "dy", "(2, 3, 3, 3)", "(2, 3, 4, 4)"]),
        ("global dy ndim", lambda: gb(dy, x.shape), ValueError, ["global_avg_pool2d_backward", "dy", "2-D", "4-D"]),
        ("float kernel", lambda: mf(x, 2.0), TypeError, ["kernel_size", "float"]),
    ]


BAD_CALLS = _bad_calls()


@pytest.mark.parametrize("name,call,exc,fragments", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_pool_bad_calls(name, call, exc, fragments):
    assert_bad_call(call, exc, *fragments)
