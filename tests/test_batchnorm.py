import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pybench
from pybench import ops, reference as ref
from util import assert_bad_call, assert_close, check_grad

DTYPES = [np.float32, np.float64]
# Odd sizes on both layouts, and shapes that exercise every branch of the fused partition:
# planes shorter than a statistics piece, planes of several pieces split over channel blocks
# (2, 20, 70, 70), planes split into items (S >= 65536), (N, C) with C < 64, several 64-channel
# strips plus a partial one, several row blocks and bands, and S = 1 in 4-D.
SHAPES = [(7, 3), (13, 300), (2100, 70), (3, 5, 7, 11), (2, 3, 1, 1), (5, 2, 17, 19), (2, 20, 70, 70),
          (1, 2, 260, 260), (700, 5)]


def _params(rng, C, dtype):
    w = rng.standard_normal(C).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    rm = rng.standard_normal(C).astype(dtype)
    rv = rng.uniform(0.5, 2.0, C).astype(dtype)
    return w, b, rm, rv


def _f64(*arrays):
    return [None if a is None else np.asarray(a, np.float64).copy() for a in arrays]


@pytest.mark.parametrize("impl", ops.impls("batch_norm_forward"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_training_matches_reference(isa, impl, dtype, shape, rng):
    x = (rng.standard_normal(shape) * 1.5 + 0.7).astype(dtype)
    w, b, rm, rv = _params(rng, shape[1], dtype)
    rm64, rv64 = _f64(rm, rv)
    y, sm, si = ops.batch_norm_forward(x, w, b, rm, rv, True, 0.2, 1e-3, impl=impl)
    y_r, sm_r, si_r = ref.batch_norm_forward(*_f64(x, w, b), rm64, rv64, True, 0.2, 1e-3)
    assert y.dtype == sm.dtype == si.dtype == rm.dtype == dtype
    assert sm.shape == si.shape == (shape[1],)
    for got, want in [(y, y_r), (sm, sm_r), (si, si_r), (rm, rm64), (rv, rv64)]:
        assert_close(got, want, dtype=dtype)


@pytest.mark.parametrize("impl", ops.impls("batch_norm_forward"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 3), (3, 5, 7, 11), (1, 4), (1, 2, 1, 1)])
def test_forward_eval_uses_running_stats(isa, impl, dtype, shape, rng):
    x = rng.standard_normal(shape).astype(dtype)
    w, b, rm, rv = _params(rng, shape[1], dtype)
    rm0, rv0 = rm.copy(), rv.copy()
    y, sm, si = ops.batch_norm_forward(x, w, b, rm, rv, training=False, impl=impl)
    np.testing.assert_array_equal(rm, rm0)  # untouched in eval
    np.testing.assert_array_equal(rv, rv0)
    sh = (1, -1) + (1,) * (x.ndim - 2)
    x64, w64, b64, rm64, rv64 = _f64(x, w, b, rm, rv)
    expected = (x64 - rm64.reshape(sh)) / np.sqrt(rv64.reshape(sh) + 1e-5) * w64.reshape(sh) + b64.reshape(sh)
    assert_close(y, expected, dtype=dtype)
    assert_close(sm, rm64, dtype=dtype)
    assert_close(si, 1 / np.sqrt(rv64 + 1e-5), dtype=dtype)


@pytest.mark.parametrize("impl", ops.impls("batch_norm_forward"))
def test_running_stats_follow_update_rule(impl, rng):
    C, momentum = 4, 0.3
    rm, rv = np.zeros(C), np.ones(C)
    exp_m, exp_v = rm.copy(), rv.copy()
    for step in range(5):
        x = rng.standard_normal((6, C, 3, 5)) * (step + 1) + step
        ops.batch_norm_forward(x, None, None, rm, rv, True, momentum, impl=impl)
        batch_mean = x.mean(axis=(0, 2, 3))
        batch_var_unbiased = x.transpose(1, 0, 2, 3).reshape(C, -1).var(axis=1, ddof=1)
        exp_m = (1 - momentum) * exp_m + momentum * batch_mean
        exp_v = (1 - momentum) * exp_v + momentum * batch_var_unbiased
        np.testing.assert_allclose(rm, exp_m, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(rv, exp_v, rtol=1e-12, atol=1e-12)
    # ... and eval then normalizes with exactly these statistics
    x = rng.standard_normal((3, C, 2, 2))
    y, sm, si = ops.batch_norm_forward(x, None, None, rm, rv, training=False, impl=impl)
    np.testing.assert_allclose(y, (x - exp_m.reshape(1, -1, 1, 1)) / np.sqrt(exp_v.reshape(1, -1, 1, 1) + 1e-5),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_momentum_edges(momentum, rng):
    x = rng.standard_normal((8, 3))
    rm, rv = np.full(3, 5.0), np.full(3, 7.0)
    ops.batch_norm_forward(x, None, None, rm, rv, True, momentum)
    if momentum == 0.0:
        np.testing.assert_array_equal(rm, 5.0)
        np.testing.assert_array_equal(rv, 7.0)
    else:
        np.testing.assert_allclose(rm, x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(rv, x.var(0, ddof=1), rtol=1e-12)


def test_affine_off_and_no_running_stats(rng):
    x = rng.standard_normal((9, 4, 3, 3))
    y, sm, si = ops.batch_norm_forward(x, None, None, None, None)
    y_r, _, _ = ref.batch_norm_forward(x, None, None, None, None)
    assert_close(y, y_r)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1 / (1 + 1e-5 * si.astype(float) ** 2), rtol=1e-9)
    w = rng.standard_normal(4)
    y_w, _, _ = ops.batch_norm_forward(x, w, None, None, None)
    assert_close(y_w, y * w.reshape(1, -1, 1, 1))
    b = rng.standard_normal(4)
    y_b, _, _ = ops.batch_norm_forward(x, None, b, None, None)
    assert_close(y_b, y + b.reshape(1, -1, 1, 1))


@pytest.mark.parametrize("impl", ops.impls("batch_norm_backward"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_backward_matches_reference(isa, impl, dtype, shape, training, rng):
    x = (rng.standard_normal(shape) + 0.3).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w, b, rm, rv = _params(rng, shape[1], dtype)
    _, sm, si = ops.batch_norm_forward(x, w, b, rm, rv, training)
    dx, dw, db = ops.batch_norm_backward(dy, x, w, sm, si, training, impl=impl)
    dx_r, dw_r, db_r = ref.batch_norm_backward(*_f64(dy, x, w, sm, si), training)
    # dx is a difference of O(1) terms: compare relative to its scale (float32: 4 ulp of the terms)
    tol = dict(rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(dx_r).max()))) if dtype == np.float32 else {}
    assert_close(dx, dx_r, dtype=dtype, **tol)
    # sums over up to ~70K values: float32 results are rounded from float64 sums
    stol = dict(rtol=1e-6, atol=1e-5 * np.sqrt(x.size / shape[1])) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert_close(dw, dw_r, dtype=dtype, **stol)
    assert_close(db, db_r, dtype=dtype, **stol)
    dx2, dw2, db2 = ops.batch_norm_backward(dy, x, None, sm, si, training, impl=impl)
    assert dw2 is None and db2 is None
    dx2_r, _, _ = ref.batch_norm_backward(*_f64(dy, x), None, *_f64(sm, si), training)
    assert_close(dx2, dx2_r, dtype=dtype, **(dict(rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(dx2_r).max())))
                                              if dtype == np.float32 else {}))


@pytest.mark.parametrize("impl", ops.impls("batch_norm_backward"))
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_backward_finite_difference(impl, shape, training, rng):
    x = rng.standard_normal(shape) + 0.5
    w, b, rm, rv = _params(rng, shape[1], np.float64)
    r = rng.standard_normal(shape)  # loss = sum(r * y)

    def loss():
        y, _, _ = ops.batch_norm_forward(x, w, b, rm.copy(), rv.copy(), training)
        return float(np.sum(r * y))

    _, sm, si = ops.batch_norm_forward(x, w, b, rm.copy(), rv.copy(), training)
    dx, dw, db = ops.batch_norm_backward(r, x, w, sm, si, training, impl=impl)
    check_grad(dx, loss, x)
    check_grad(dw, loss, w)
    check_grad(db, loss, b)


def test_backward_writes_given_outputs(rng):
    x = rng.standard_normal((6, 3, 4, 4)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = np.ones(3, np.float32)
    _, sm, si = ops.batch_norm_forward(x, w, None, None, None)
    dx, dw, db = np.full_like(x, np.nan), np.full(3, np.nan, np.float32), np.full(3, np.nan, np.float32)
    got = ops.batch_norm_backward(dy, x, w, sm, si, dx=dx, dweight=dw, dbias=db)
    assert got[0] is dx and got[1] is dw and got[2] is db
    assert np.all(np.isfinite(dx)) and np.all(np.isfinite(dw)) and np.all(np.isfinite(db))
    out = np.full_like(x, np.nan)
    assert ops.batch_norm_forward(x, w, None, None, None, out=out)[0] is out
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("shape", [(4, 3, 130, 130), (2, 2, 260, 260), (3000, 300), (70000, 3)])
def test_deterministic_across_calls_and_thread_counts(shape):
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    w, b, rm, rv = _params(rng, shape[1], np.float32)
    before = pybench.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3, 1):
            pybench.set_num_threads(threads)
            rm_, rv_ = rm.copy(), rv.copy()
            y, sm, si = ops.batch_norm_forward(x, w, b, rm_, rv_)
            dx, dw, db = ops.batch_norm_backward(dy, x, w, sm, si)
            results.append([y, sm, si, rm_, rv_, dx, dw, db])
    finally:
        pybench.set_num_threads(before)
    for res in results[1:]:
        for a, b_ in zip(res, results[0]):
            np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("impl", ops.impls("batch_norm_forward"))
@pytest.mark.parametrize("dtype,mean", [(np.float32, 1e4), (np.float64, 1e4), (np.float64, 1e8)])
@pytest.mark.parametrize("shape", [(4000, 3), (8, 3, 33, 33)])
def test_large_mean_no_cancellation(impl, dtype, mean, shape, rng):
    # mean >> std: E[x^2] - E[x]^2 would lose every digit of the variance (in float64 at 1e8).
    x = (rng.standard_normal(shape) + mean).astype(dtype)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    sh = (1, -1) + (1,) * (x.ndim - 2)
    xl = x.astype(np.longdouble)
    m = xl.mean(axis=axes)
    v = ((xl - m.reshape(sh)) ** 2).mean(axis=axes)
    y, sm, si = ops.batch_norm_forward(x, None, None, None, None, impl=impl)
    y_exact = ((xl - m.reshape(sh)) / np.sqrt(v.reshape(sh) + 1e-5)).astype(np.float64)
    np.testing.assert_allclose(si.astype(np.float64), (1 / np.sqrt(v + 1e-5)).astype(np.float64), rtol=2e-7)
    np.testing.assert_allclose(sm.astype(np.float64), m.astype(np.float64), rtol=2e-7 if dtype == np.float32 else 1e-14)
    # y inherits the mean's own rounding (~1e-14 * mean in float64 with a plain double sum)
    atol = 1e-5 if dtype == np.float32 else max(1e-8, 2e-14 * mean)
    np.testing.assert_allclose(y.astype(np.float64), y_exact, rtol=0, atol=atol)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), c=st.integers(1, 7), h=st.integers(1, 9), w=st.integers(1, 9), four_d=st.booleans(),
       seed=st.integers(0, 2**31))
def test_hypothesis_shapes_vs_reference(n, c, h, w, four_d, seed):
    shape = (n, c, h, w) if four_d else (n * h, c)
    training = int(np.prod(shape)) // c > 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2 - 1
    wt, b, rm, rv = _params(rng, c, np.float64)
    rm_r, rv_r = rm.copy(), rv.copy()
    for impl in ops.impls("batch_norm_forward"):
        rm_, rv_ = rm.copy(), rv.copy()
        y, sm, si = ops.batch_norm_forward(x, wt, b, rm_, rv_, training, impl=impl)
        y_r, sm_r, si_r = ref.batch_norm_forward(x, wt, b, rm_r.copy(), rv_r.copy(), training)
        np.testing.assert_allclose(y, y_r, rtol=1e-10, atol=1e-10)
        dy = rng.standard_normal(shape)
        bwd_impl = impl if impl in ops.impls("batch_norm_backward") else "l3"  # pipe's backward: dev build only
        dx, dw, db = ops.batch_norm_backward(dy, x, wt, sm, si, training, impl=bwd_impl)
        dx_r, dw_r, db_r = ref.batch_norm_backward(dy, x, wt, sm, si, training)
        np.testing.assert_allclose(dx, dx_r, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(dw, dw_r, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(db, db_r, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("bwd_impl", ["fused", "l3", "pipe"])
@pytest.mark.parametrize("shape", [(8, 4, 361, 367), (4100, 1031), (4, 16, 257, 263)])
def test_streaming_outputs_large_unaligned(isa, shape, bwd_impl):
    """Outputs of 16 MiB or more are written with streaming stores (y and dx); offset views make
    every array unaligned, and the sizes are not multiples of 16 (masked / scalar ends).
    (4, 16, 257, 263): 1 MiB channels, C >= 4 * threads: pipe's own paths (its backward where
    the dev build lists it)."""
    rng = np.random.default_rng(11)
    n, c = int(np.prod(shape)), shape[1]
    assert n * 4 >= 16 << 20

    def view(a):  # a float32 array of `shape` starting 4 bytes into its buffer
        buf = np.empty(n + 1, np.float32)[1:].reshape(shape)
        buf[...] = a
        return buf

    x = view(rng.standard_normal(shape) * 3 + 2)
    dy = view(rng.standard_normal(shape))
    w, b, rm, rv = _params(rng, c, np.float32)
    y = view(np.zeros(shape))
    dx = view(np.zeros(shape))
    fwd_impl = bwd_impl if bwd_impl == "pipe" else "fused"
    if bwd_impl not in ops.impls("batch_norm_backward"):  # pipe's backward: the dev build only
        bwd_impl = "l3"
    _, sm, si = ops.batch_norm_forward(x, w, b, rm.copy(), rv.copy(), True, out=y, impl=fwd_impl)
    y_n, sm_n, si_n = ops.batch_norm_forward(x, w, b, rm.copy(), rv.copy(), True, impl="naive")
    assert_close(sm, sm_n, rtol=1e-6, atol=1e-6)
    assert_close(si, si_n, rtol=1e-5, atol=1e-6)
    assert_close(y, y_n, rtol=1e-5, atol=1e-5)
    dw, db = np.empty(c, np.float32), np.empty(c, np.float32)
    ops.batch_norm_backward(dy, x, w, sm_n, si_n, True, dx=dx, dweight=dw, dbias=db, impl=bwd_impl)
    dx_n, dw_n, db_n = ops.batch_norm_backward(dy, x, w, sm_n, si_n, True, impl="naive")
    assert_close(dx, dx_n, rtol=1e-5, atol=1e-5)
    stol = 1e-5 * np.sqrt(n / c)
    assert_close(dw, dw_n, rtol=1e-6, atol=stol)
    assert_close(db, db_n, rtol=1e-6, atol=stol)


def test_single_value_per_channel_in_training_is_an_error():
    for shape in [(1, 3), (1, 3, 1, 1)]:
        x = np.ones(shape)
        assert_bad_call(lambda: ops.batch_norm_forward(x, None, None, None, None), ValueError,
                        "batch_norm_forward", "x", "more than 1 value per channel")
        y, _, _ = ops.batch_norm_forward(x, None, None, np.zeros(3), np.ones(3), training=False)
        np.testing.assert_allclose(y, 1 / np.sqrt(1 + 1e-5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4, 5)])
def test_zero_batch(isa, dtype, shape, rng):
    """N = 0, as torch.nn.functional.batch_norm: training gives an empty y and leaves the running
    statistics untouched (save_mean / save_invstd, the statistics of no values, are NaN); eval
    gives an empty y and the running statistics' save_mean / save_invstd; the backward (either
    mode) an empty dx and zero dweight / dbias."""
    w, b, rm, rv = _params(rng, 3, dtype)
    x = np.zeros(shape, dtype)
    x1 = rng.standard_normal((2,) + shape[1:]).astype(dtype)
    nan3 = np.full(3, np.nan, dtype)
    for impl in ops.impls("batch_norm_forward"):
        for running in (True, False):
            rm_i, rv_i = (rm.copy(), rv.copy()) if running else (None, None)
            y, sm, si = ops.batch_norm_forward(x, w, b, rm_i, rv_i, True, impl=impl)
            assert y.shape == shape and y.dtype == sm.dtype == si.dtype == dtype
            assert sm.tobytes() == si.tobytes() == nan3.tobytes()
            if running:
                assert rm_i.tobytes() == rm.tobytes() and rv_i.tobytes() == rv.tobytes()
        _, sm1, si1 = ops.batch_norm_forward(x1, w, b, rm, rv, False, impl=impl)  # same stats, a non-empty batch
        y, sm, si = ops.batch_norm_forward(x, w, b, rm, rv, False, impl=impl)
        assert y.shape == shape and sm.tobytes() == sm1.tobytes() and si.tobytes() == si1.tobytes()
    for impl in ops.impls("batch_norm_backward"):
        for training in (True, False):
            dw, db = np.full(3, np.nan, dtype), np.full(3, np.nan, dtype)
            dx, gdw, gdb = ops.batch_norm_backward(x, x, w, sm1, si1, training, dweight=dw, dbias=db, impl=impl)
            assert dx.shape == shape and dx.dtype == dtype and gdw is dw and gdb is db
            assert dw.tobytes() == db.tobytes() == np.zeros(3, dtype).tobytes()
            dx, gdw, gdb = ops.batch_norm_backward(x, x, None, sm1, si1, training, impl=impl)
            assert dx.shape == shape and gdw is None and gdb is None


def _ro(shape, dtype=np.float32):
    a = np.ones(shape, dtype)
    a.flags.writeable = False
    return a


X = np.ones((4, 3, 2, 2), np.float32)
C3 = np.ones(3, np.float32)


def _c3():
    return np.ones(3, np.float32)


FWD = ops.batch_norm_forward
BWD = ops.batch_norm_backward
BAD_FORWARD = [
    (lambda: FWD(X.astype(np.int64), None, None, None, None), TypeError, ["batch_norm_forward", "x", "int64"]),
    (lambda: FWD(X, C3.astype(np.float64), None, None, None), TypeError, ["batch_norm_forward", "weight", "float32", "float64"]),
    (lambda: FWD(X[0], None, None, None, None), ValueError, ["batch_norm_forward", "x", "2 or 4-D", "3-D"]),
    (lambda: FWD(X, np.ones(4, np.float32), None, None, None), ValueError, ["batch_norm_forward", "weight", "(3,)", "(4,)"]),
    (lambda: FWD(X, None, np.ones((3, 1), np.float32), None, None), ValueError, ["batch_norm_forward", "bias", "1-D"]),
    (lambda: FWD(X, None, None, np.ones(2, np.float32), _c3()), ValueError, ["batch_norm_forward", "running_mean", "(3,)", "(2,)"]),
    (lambda: FWD(X, None, None, _c3(), np.ones(5, np.float32)), ValueError, ["batch_norm_forward", "running_var", "(3,)", "(5,)"]),
    (lambda: FWD(X, None, None, _c3(), None), ValueError, ["batch_norm_forward", "running_var", "None"]),
    (lambda: FWD(X, None, None, None, None, training=False), ValueError, ["batch_norm_forward", "running_mean", "training=False", "None"]),
    (lambda: FWD(X, None, None, _ro(3), _c3()), ValueError, ["batch_norm_forward", "running_mean", "read-only"]),
    (lambda: FWD(X, None, None, _c3(), np.ones(6, np.float32)[::2]), ValueError, ["batch_norm_forward", "running_var", "C-contiguous"]),
    (lambda: FWD(X, None, None, C3, C3), ValueError, ["batch_norm_forward", "running_var", "overlapping"]),
    (lambda: FWD(X, None, None, None, None, momentum=1.5), ValueError, ["batch_norm_forward", "momentum", "[0, 1]", "1.5"]),
    (lambda: FWD(X, None, None, None, None, momentum=-0.1), ValueError, ["batch_norm_forward", "momentum", "-0.1"]),
    (lambda: FWD(X, None, None, None, None, eps=-1e-5), ValueError, ["batch_norm_forward", "eps", ">= 0", "-1e-05"]),
    (lambda: FWD(X, None, None, None, None, eps=float("inf")), ValueError, ["batch_norm_forward", "eps", "inf"]),
    (lambda: FWD(X[:, :, :, ::2], None, None, None, None), ValueError, ["batch_norm_forward", "x", "C-contiguous"]),
    (lambda: FWD(np.ones((2, 0), np.float32), None, None, None, None), ValueError,
     ["batch_norm_forward", "x", "every dimension but the batch", "(2, 0)"]),
    (lambda: FWD(np.ones((0, 3, 0, 2), np.float32), None, None, None, None), ValueError,
     ["batch_norm_forward", "x", "every dimension but the batch", "(0, 3, 0, 2)"]),
    (lambda: FWD(np.ones((0, 3), np.float32), None, None, None, None, training=False), ValueError,
     ["batch_norm_forward", "running_mean", "training=False"]),
    (lambda: FWD(np.ones((0, 3), np.float32), np.ones(2, np.float32), None, None, None), ValueError,
     ["batch_norm_forward", "weight", "(3,)", "(2,)"]),
    (lambda: FWD(X, None, None, None, None, out=X), ValueError, ["batch_norm_forward", "out", "overlapping"]),
    (lambda: FWD(X, None, None, None, None, out=_ro(X.shape)), ValueError, ["batch_norm_forward", "out", "read-only"]),
    (lambda: FWD(X, None, None, None, None, out=np.ones((4, 3, 2, 3), np.float32)), ValueError, ["batch_norm_forward", "out", "(4, 3, 2, 2)"]),
    (lambda: FWD(X, None, None, None, None, out=np.ones(X.shape)), TypeError, ["batch_norm_forward", "out", "float32", "float64"]),
    (lambda: FWD(X, None, None, None, None, impl="fast"), ValueError, ["batch_norm_forward", "impl", "'fast'"]),
    (lambda: FWD(X.tolist(), None, None, None, None), TypeError, ["batch_norm_forward", "x", "numpy.ndarray", "list"]),
]

DY = np.ones((4, 3, 2, 2), np.float32)
BAD_BACKWARD = [
    (lambda: BWD(DY.astype(np.float16), X, None, C3, C3), TypeError, ["batch_norm_backward", "dy", "float16"]),
    (lambda: BWD(DY, X.astype(np.float64), None, C3, C3), TypeError, ["batch_norm_backward", "x", "float32", "float64"]),
    (lambda: BWD(DY, X[:3], None, C3, C3), ValueError, ["batch_norm_backward", "x", "(4, 3, 2, 2)", "(3, 3, 2, 2)"]),
    (lambda: BWD(DY[..., 0], X[..., 0], None, C3, C3), ValueError, ["batch_norm_backward", "dy", "2 or 4-D", "3-D"]),
    (lambda: BWD(DY, X, None, None, C3), ValueError, ["batch_norm_backward", "save_mean", "None"]),
    (lambda: BWD(DY, X, None, C3, np.ones(4, np.float32)), ValueError, ["batch_norm_backward", "save_invstd", "(3,)", "(4,)"]),
    (lambda: BWD(DY, X, np.ones(2, np.float32), C3, C3), ValueError, ["batch_norm_backward", "weight", "(3,)", "(2,)"]),
    (lambda: BWD(DY, X, None, C3, C3, dx=DY), ValueError, ["batch_norm_backward", "dx", "overlapping"]),
    (lambda: BWD(DY, X, None, C3, C3, dx=_ro(X.shape)), ValueError, ["batch_norm_backward", "dx", "read-only"]),
    (lambda: BWD(DY, X, None, C3, C3, dweight=_c3()), ValueError, ["batch_norm_backward", "dweight", "weight is None"]),
    (lambda: BWD(DY, X, C3, C3, C3, dweight=C3), ValueError, ["batch_norm_backward", "dweight", "overlapping"]),
    (lambda: BWD(DY, X, C3, C3, C3, dbias=np.ones(4, np.float32)), ValueError, ["batch_norm_backward", "dbias", "(3,)", "(4,)"]),
    (lambda: (lambda d: BWD(DY, X, C3, C3, C3, dweight=d, dbias=d))(_c3()), ValueError, ["batch_norm_backward", "dbias", "overlapping"]),
    (lambda: BWD(DY, X, None, C3, C3, dx=np.ones((4, 3, 4), np.float32)[..., ::1].reshape(4, 3, 2, 2).T), ValueError,
     ["batch_norm_backward", "dx"]),
    (lambda: BWD(np.ones((4, 0), np.float32), np.ones((4, 0), np.float32), None, np.ones(0, np.float32), np.ones(0, np.float32)),
     ValueError, ["batch_norm_backward", "dy", "every dimension but the batch", "(4, 0)"]),
    (lambda: BWD(np.ones((0, 3), np.float32), np.ones((0, 4), np.float32), None, C3, C3), ValueError,
     ["batch_norm_backward", "x", "(0, 3)", "(0, 4)"]),
]


@pytest.mark.parametrize("call,exc,fragments", BAD_FORWARD + BAD_BACKWARD,
                         ids=[f"fwd{i}" for i in range(len(BAD_FORWARD))] + [f"bwd{i}" for i in range(len(BAD_BACKWARD))])
def test_bad_calls(call, exc, fragments):
    assert_bad_call(call, exc, *fragments)


def test_bad_call_writes_nothing():
    rm, rv = np.full(3, 2.0, np.float32), np.full(3, 3.0, np.float32)
    out = np.full(X.shape, 9.0, np.float32)
    with pytest.raises(ValueError):
        FWD(X, None, None, rm, rv, momentum=2.0, out=out)
    assert np.all(rm == 2.0) and np.all(rv == 3.0) and np.all(out == 9.0)


@pytest.mark.parametrize("impl", ["fused", "l3", "pipe"])
def test_backward_bitwise_across_thread_counts(impl):
    """l3 takes whole channels per thread when C >= 4 * threads and channel groups shared by all
    threads otherwise: both (and every thread count) give the same bits."""
    if impl not in ops.impls("batch_norm_backward"):
        pytest.skip("pipe's backward is built with -DPYBENCH_DEV_KERNELS=ON")
    rng = np.random.default_rng(8)
    shape = (6, 8, 33, 35)
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    w, b, rm, rv = _params(rng, shape[1], np.float32)
    _, sm, si = ops.batch_norm_forward(x, w, b, rm, rv)
    before = pybench.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3, 4):
            pybench.set_num_threads(threads)
            results.append(ops.batch_norm_backward(dy, x, w, sm, si, impl=impl))
    finally:
        pybench.set_num_threads(before)
    for res in results[1:]:
        for a, b_ in zip(res, results[0]):
            np.testing.assert_array_equal(a, b_)
    ref_dx, ref_dw, ref_db = ref.batch_norm_backward(*_f64(dy, x, w, sm, si), True)
    assert_close(results[0][0], ref_dx, dtype=np.float32, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(ref_dx).max())))
    assert_close(results[0][1], ref_dw, dtype=np.float32, rtol=1e-6, atol=1e-5 * np.sqrt(x.size / shape[1]))


@pytest.mark.parametrize("shape", [(6, 8, 33, 35), (3, 9, 300, 300), (5, 8, 2, 3), (2, 12, 1, 1), (300, 8)])
def test_pipe_bitwise_equal_to_fused_and_l3(shape):
    """pipe computes the statistics with fused's items and (dev build) the backward sums with l3's,
    combined in the same order: the same bits as those impls, both where it takes whole channels per
    thread (C >= 4 * threads) and where it falls back, at any thread count."""
    rng = np.random.default_rng(sum(shape))
    before = pybench.get_num_threads()
    try:
        for dtype in DTYPES:
            x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
            dy = rng.standard_normal(shape).astype(dtype)
            w, b, rm, rv = _params(rng, shape[1], dtype)
            for threads in (1, 2, 3):
                pybench.set_num_threads(threads)
                outs = {}
                for impl in ("fused", "pipe"):
                    rm_, rv_ = rm.copy(), rv.copy()
                    outs[impl] = ops.batch_norm_forward(x, w, b, rm_, rv_, impl=impl) + (rm_, rv_)
                _, sm, si = outs["fused"][:3]
                for training in (True, False):
                    want = ops.batch_norm_backward(dy, x, w, sm, si, training, impl="l3")
                    for a, b_ in zip(outs["pipe"], outs["fused"]):
                        np.testing.assert_array_equal(a, b_)
                    if "pipe" not in ops.impls("batch_norm_backward"):
                        continue  # pipe's backward: the dev build only
                    got = ops.batch_norm_backward(dy, x, w, sm, si, training, impl="pipe")
                    for a, b_ in zip(got, want):
                        np.testing.assert_array_equal(a, b_)
    finally:
        pybench.set_num_threads(before)
