import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pybench import _native, ops, reference as ref
from util import assert_bad_call, assert_close, check_grad

DTYPES = [np.float32, np.float64]
FWD_IMPLS = ops.impls("linear_forward")
BWD_IMPLS = ops.impls("linear_backward")
# (batch, in, out): ones, primes, sizes off the SIMD/register tile, and one crossing the k block;
# (32, 37, 67) and (60, 129, 70) take the smallm impls' transposed path on every ISA (batch a
# multiple of its column sliver or nearly, out >= 64 for dx; edge rows on both sides).
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (13, 17, 11), (33, 65, 31), (64, 400, 70), (32, 37, 67), (60, 129, 70)]


def _bound(k, absprod, dtype):
    """Rounding bound of a k-term dot product: (k + 2) u sum |terms| (+ subnormal slack)."""
    return (k + 2) * np.finfo(dtype).eps * absprod + np.finfo(dtype).tiny


def _inputs(rng, n, fin, fout, dtype):
    x = rng.standard_normal((n, fin)).astype(dtype)
    w = rng.standard_normal((fout, fin)).astype(dtype)
    b = rng.standard_normal(fout).astype(dtype)
    dy = rng.standard_normal((n, fout)).astype(dtype)
    return x, w, b, dy


def _check_forward(y, x, w, b):
    dtype = x.dtype.type
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    exact = ref.linear_forward(x64, w64, None if b is None else b.astype(np.float64))
    bound = _bound(x.shape[1] + 1, np.abs(x64) @ np.abs(w64).T + (0 if b is None else np.abs(b)), dtype)
    err = np.abs(y - exact)
    assert (err <= bound).all(), f"max err/bound {np.max(err / bound)}"


def _check_backward(got, dy, x, w, bias, compute_dx):
    dtype = x.dtype.type
    dy64, x64, w64 = dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64)
    dx, dw, db = ref.linear_backward(dy64, x64, w64, bias=bias, compute_dx=compute_dx)
    gdx, gdw, gdb = got
    if compute_dx:
        err = np.abs(gdx - dx)
        assert (err <= _bound(w.shape[0], np.abs(dy64) @ np.abs(w64), dtype)).all()
    else:
        assert gdx is None
    assert (np.abs(gdw - dw) <= _bound(x.shape[0], np.abs(dy64).T @ np.abs(x64), dtype)).all()
    if bias:
        assert (np.abs(gdb - db) <= _bound(x.shape[0], np.abs(dy64).sum(0), dtype)).all()
    else:
        assert gdb is None


@pytest.mark.parametrize("impl", FWD_IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_forward_matches_reference(isa, impl, dtype, with_bias):
    rng = np.random.default_rng(1)
    for n, fin, fout in SHAPES:
        x, w, b, _ = _inputs(rng, n, fin, fout, dtype)
        bb = b if with_bias else None
        y = ops.linear_forward(x, w, bb, impl=impl)
        assert y.dtype == dtype and y.shape == (n, fout)
        _check_forward(y, x, w, bb)
        # Same summation order in float32 as the float32 reference is not promised; stated bound above.
        if dtype == np.float64:
            assert_close(y, ref.linear_forward(x, w, bb))


@pytest.mark.parametrize("impl", BWD_IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias,compute_dx", [(True, True), (False, True), (True, False), (False, False)])
def test_linear_backward_matches_reference(isa, impl, dtype, bias, compute_dx):
    rng = np.random.default_rng(2)
    for n, fin, fout in SHAPES:
        x, w, _, dy = _inputs(rng, n, fin, fout, dtype)
        got = ops.linear_backward(dy, x, w, bias=bias, compute_dx=compute_dx, impl=impl)
        _check_backward(got, dy, x, w, bias, compute_dx)


@pytest.mark.parametrize("impl", FWD_IMPLS)
def test_linear_exact_small_integers(isa, impl):
    rng = np.random.default_rng(3)
    for n, fin, fout in SHAPES:
        x = rng.integers(-8, 9, (n, fin)).astype(np.float32)
        w = rng.integers(-8, 9, (fout, fin)).astype(np.float32)
        b = rng.integers(-8, 9, fout).astype(np.float32)
        dy = rng.integers(-8, 9, (n, fout)).astype(np.float32)
        np.testing.assert_array_equal(ops.linear_forward(x, w, b, impl=impl), x.astype(np.float64) @ w.T + b)
        dx, dw, db = ops.linear_backward(dy, x, w, impl=impl)
        np.testing.assert_array_equal(dx, dy.astype(np.float64) @ w)
        np.testing.assert_array_equal(dw, dy.astype(np.float64).T @ x)
        np.testing.assert_array_equal(db, dy.astype(np.float64).sum(0))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), fin=st.integers(1, 70), fout=st.integers(1, 40), dtype=st.sampled_from(DTYPES),
       bias=st.booleans())
def test_linear_hypothesis_shapes(n, fin, fout, dtype, bias):
    rng = np.random.default_rng(n * 7919 + fin * 31 + fout)
    x, w, b, dy = _inputs(rng, n, fin, fout, dtype)
    for impl in FWD_IMPLS:
        _check_forward(ops.linear_forward(x, w, b if bias else None, impl=impl), x, w, b if bias else None)
    for impl in BWD_IMPLS:
        _check_backward(ops.linear_backward(dy, x, w, bias=bias, impl=impl), dy, x, w, bias, True)


@pytest.mark.parametrize("impl", BWD_IMPLS)
def test_linear_backward_finite_difference(impl):
    rng = np.random.default_rng(4)
    n, fin, fout = 3, 5, 4
    x, w, b, _ = _inputs(rng, n, fin, fout, np.float64)
    g = rng.standard_normal((n, fout))  # L = sum(g * y), so dL/dy = g

    def loss():
        return float(np.sum(g * ops.linear_forward(x, w, b)))

    dx, dw, db = ops.linear_backward(g, x, w, impl=impl)
    check_grad(dx, loss, x)
    check_grad(dw, loss, w)
    check_grad(db, loss, b)


def test_linear_outputs_reused_and_overwritten():
    rng = np.random.default_rng(5)
    x, w, b, dy = _inputs(rng, 6, 10, 7, np.float32)
    y = np.full((6, 7), np.nan, np.float32)
    assert ops.linear_forward(x, w, b, out=y) is y
    _check_forward(y, x, w, b)
    dx, dw, db = np.full_like(x, np.nan), np.full_like(w, 5.0), np.full_like(b, 5.0)
    got = ops.linear_backward(dy, x, w, dx=dx, dweight=dw, dbias=db)
    assert got[0] is dx and got[1] is dw and got[2] is db
    _check_backward(got, dy, x, w, True, True)  # overwritten, not accumulated


@pytest.mark.parametrize("impl", FWD_IMPLS)
@pytest.mark.parametrize("n", [128, 32])  # 32: the smallm path (its threads split the features)
def test_linear_deterministic(impl, n):
    rng = np.random.default_rng(6)
    x, w, b, dy = _inputs(rng, n, 300, 200, np.float32)
    y1 = ops.linear_forward(x, w, b, impl=impl)
    g1 = ops.linear_backward(dy, x, w, impl=impl)
    before = _native.get_num_threads()
    try:
        for t in (before, 1, 2):
            _native.set_num_threads(t)
            assert np.array_equal(ops.linear_forward(x, w, b, impl=impl), y1)
            for a, e in zip(ops.linear_backward(dy, x, w, impl=impl), g1):
                assert np.array_equal(a, e)
    finally:
        _native.set_num_threads(before)


def _bad_calls():
    x = np.ones((4, 5), np.float32)
    w = np.ones((3, 5), np.float32)
    b = np.ones(3, np.float32)
    dy = np.ones((4, 3), np.float32)
    ro = np.empty((4, 3), np.float32)
    ro.flags.writeable = False
    ro_w = np.empty((3, 5), np.float32)
    ro_w.flags.writeable = False
    buf = np.empty(4 * 5 + 3 * 5, np.float32)
    F, B = ops.linear_forward, ops.linear_backward
    return [
        ("x int32", lambda: F(x.astype(np.int32), w), TypeError, ["linear_forward", "x", "int32"]),
        ("weight float64", lambda: F(x, w.astype(np.float64)), TypeError, ["linear_forward", "weight", "float32", "float64"]),
        ("bias float64", lambda: F(x, w, b.astype(np.float64)), TypeError, ["linear_forward", "bias", "float64"]),
        ("x 3-D", lambda: F(x.reshape(4, 5, 1), w), ValueError, ["linear_forward", "x", "2-D", "3-D"]),
        ("in mismatch", lambda: F(x, np.ones((3, 4), np.float32)), ValueError, ["linear_forward", "weight", "(*, 5)", "(3, 4)"]),
        ("bias shape", lambda: F(x, w, np.ones(4, np.float32)), ValueError, ["linear_forward", "bias", "(3,)", "(4,)"]),
        ("bias 2-D", lambda: F(x, w, np.ones((1, 3), np.float32)), ValueError, ["linear_forward", "bias", "1-D", "2-D"]),
        ("x non-contiguous", lambda: F(np.ones((5, 4), np.float32).T, w), ValueError, ["linear_forward", "x", "C-contiguous"]),
        # only the batch may be 0: zero features are refused, like zero channels in conv2d
        ("zero in_features", lambda: F(np.ones((4, 0), np.float32), np.ones((3, 0), np.float32)), ValueError,
         ["linear_forward", "x", "every dimension but the batch", "(4, 0)"]),
        ("zero out_features", lambda: F(x, np.ones((0, 5), np.float32)), ValueError,
         ["linear_forward", "weight", "non-empty", "(0, 5)"]),
        ("empty batch, in mismatch", lambda: F(np.ones((0, 4), np.float32), w), ValueError,
         ["linear_forward", "weight", "(*, 4)", "(3, 5)"]),
        ("empty batch, dy rows", lambda: B(np.ones((0, 3), np.float32), x, w), ValueError,
         ["linear_backward", "x", "(0, *)", "(4, 5)"]),
        ("out shape", lambda: F(x, w, out=np.empty((4, 4), np.float32)), ValueError, ["linear_forward", "out", "(4, 3)", "(4, 4)"]),
        ("out read-only", lambda: F(x, w, out=ro), ValueError, ["linear_forward", "out", "writable", "read-only"]),
        ("out overlaps x", lambda: F(buf[:9].reshape(3, 3), np.ones((3, 3), np.float32), out=buf[:9].reshape(3, 3)), ValueError,
         ["linear_forward", "out", "overlapping"]),
        ("dy rows mismatch", lambda: B(np.ones((2, 3), np.float32), x, w), ValueError, ["linear_backward", "x", "(2, *)", "(4, 5)"]),
        ("weight shape", lambda: B(dy, x, np.ones((3, 4), np.float32)), ValueError, ["linear_backward", "weight", "(3, 5)", "(3, 4)"]),
        ("dy float64", lambda: B(dy, x.astype(np.float64), w), TypeError, ["linear_backward", "x", "float32", "float64"]),
        ("dy non-contiguous", lambda: B(np.ones((3, 4), np.float32).T, x, w), ValueError, ["linear_backward", "dy", "C-contiguous"]),
        ("dx with compute_dx=False", lambda: B(dy, x, w, compute_dx=False, dx=np.empty_like(x)), ValueError,
         ["linear_backward", "dx", "compute_dx=False"]),
        ("dbias with bias=False", lambda: B(dy, x, w, bias=False, dbias=np.empty(3, np.float32)), ValueError,
         ["linear_backward", "dbias", "bias=False"]),
        ("dweight read-only", lambda: B(dy, x, w, dweight=ro_w), ValueError, ["linear_backward", "dweight", "writable"]),
        ("dweight overlaps dx", lambda: B(dy, x, w, dx=buf[:20].reshape(4, 5), dweight=buf[5:20].reshape(3, 5)), ValueError,
         ["linear_backward", "dweight", "overlapping"]),
        ("dweight is weight", lambda: B(dy, x, w, dweight=w), ValueError, ["linear_backward", "dweight", "overlapping"]),
        ("unknown impl", lambda: B(dy, x, w, impl="blas"), ValueError, ["linear_backward", "impl", "'blas'"]),
    ]


BAD_CALLS = _bad_calls()


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_zero_batch(isa, dtype):
    """N = 0 (as PyTorch): y is (0, out); dx (0, in), dW and db sums over no rows: +0, written
    over whatever the given buffers held."""
    rng = np.random.default_rng(3)
    _, w, b, _ = _inputs(rng, 1, 5, 3, dtype)
    x, dy = np.zeros((0, 5), dtype), np.zeros((0, 3), dtype)
    for impl in FWD_IMPLS:
        for bias in (b, None):
            y = ops.linear_forward(x, w, bias, impl=impl)
            assert y.shape == (0, 3) and y.dtype == dtype
    for impl in BWD_IMPLS:
        for bias in (True, False):
            for compute_dx in (True, False):
                dw, db = np.full((3, 5), np.nan, dtype), np.full(3, np.nan, dtype) if bias else None
                gdx, gdw, gdb = ops.linear_backward(dy, x, w, bias=bias, compute_dx=compute_dx, dweight=dw, dbias=db,
                                                    impl=impl)
                assert gdw is dw and gdw.tobytes() == np.zeros((3, 5), dtype).tobytes()
                assert (gdx.shape == (0, 5) and gdx.dtype == dtype) if compute_dx else gdx is None
                assert gdb.tobytes() == np.zeros(3, dtype).tobytes() if bias else gdb is None
                _, gdw, _ = ops.linear_backward(dy, x, w, bias=bias, compute_dx=compute_dx, impl=impl)  # allocated
                assert gdw.tobytes() == np.zeros((3, 5), dtype).tobytes()


@pytest.mark.parametrize("name,fn,exc,frags", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_linear_bad_calls(name, fn, exc, frags):
    assert_bad_call(fn, exc, *frags)
