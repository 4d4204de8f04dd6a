import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pybench import _native, ops, reference as ref
from util import assert_bad_call

DTYPES = [np.float32, np.float64]
IMPLS = ops.impls("gemm")
TRANS = [(False, False), (True, False), (False, True), (True, True)]

# (M, N, K): ones, primes, sizes off the register tile (MR 4/6/8 rows, NR 8/16/32 columns),
# K = 1, and shapes large enough to cross the k block (384 floats / 192 doubles: K is cut into
# several blocks), the row block (192) and to be split across threads.
SHAPES = [(1, 1, 1), (1, 7, 1), (7, 1, 13), (13, 17, 1), (3, 5, 7), (8, 32, 16), (9, 33, 17),
          (31, 37, 41), (65, 47, 3), (67, 131, 401), (197, 70, 800)]


def _operands(rng, m, n, k, ta, tb, dtype, lo=-8, hi=8):
    a = rng.integers(lo, hi + 1, (k, m) if ta else (m, k)).astype(dtype)
    b = rng.integers(lo, hi + 1, (n, k) if tb else (k, n)).astype(dtype)
    return a, b


def _exact(a, b, ta, tb, alpha=1.0, beta=0.0, out=None):
    """Exact result for small-integer operands (float64 integer arithmetic is exact here)."""
    return ref.gemm(a.astype(np.float64), b.astype(np.float64), trans_a=ta, trans_b=tb, alpha=alpha,
                    beta=beta, out=None if out is None else out.astype(np.float64))


def _error_bound(a, b, ta, tb, alpha, dtype):
    """|fl(alpha op(a) op(b)) - exact| <= (K + 2) u |alpha| (|op(a)| |op(b)|) (+ subnormal slack)."""
    opa = np.abs(a.T if ta else a).astype(np.float64)
    opb = np.abs(b.T if tb else b).astype(np.float64)
    k = opa.shape[1]
    u = np.finfo(dtype).eps
    return (k + 2) * u * abs(alpha) * (opa @ opb) + np.finfo(dtype).tiny


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_gemm_exact_small_integers(isa, impl, dtype, ta, tb):
    rng = np.random.default_rng(7)
    for m, n, k in SHAPES:
        assert k * 64 <= 2**24
        a, b = _operands(rng, m, n, k, ta, tb, dtype)
        got = ops.gemm(a, b, trans_a=ta, trans_b=tb, impl=impl)
        assert got.dtype == dtype and got.shape == (m, n)
        np.testing.assert_array_equal(got, _exact(a, b, ta, tb), err_msg=f"{(m, n, k)}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_gemm_alpha_beta_exact(isa, impl, dtype, ta, tb):
    rng = np.random.default_rng(11)
    # alpha and beta powers of two (or small integers) keep integer results exact.
    for (m, n, k), alpha, beta in [((5, 9, 4), 2.0, 1.0), ((33, 17, 19), -0.5, 0.25), ((67, 131, 401), 1.0, -3.0),
                                   ((8, 32, 800), 0.0, 2.0), ((13, 45, 7), 3.0, 0.0)]:
        a, b = _operands(rng, m, n, k, ta, tb, dtype)
        c = rng.integers(-8, 9, (m, n)).astype(dtype)
        expect = _exact(a, b, ta, tb, alpha, beta, c)
        out = c.copy()
        got = ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out, impl=impl)
        assert got is out
        np.testing.assert_array_equal(out, expect, err_msg=f"{(m, n, k, alpha, beta)}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_beta_zero_ignores_nan_out(isa, impl, dtype):
    rng = np.random.default_rng(3)
    for m, n, k in [(7, 9, 5), (67, 131, 401)]:
        a, b = _operands(rng, m, n, k, False, True, dtype)
        out = np.full((m, n), np.nan, dtype)
        ops.gemm(a, b, trans_b=True, out=out, impl=impl)
        np.testing.assert_array_equal(out, _exact(a, b, False, True))


@pytest.mark.parametrize("impl", IMPLS)
def test_gemm_nan_inf_propagate(isa, impl):
    a = np.ones((9, 5), np.float32)
    b = np.ones((5, 35), np.float32)
    a[2, 3] = np.nan
    b[1, 4] = np.inf
    c = ops.gemm(a, b, impl=impl)
    assert np.isnan(c[2]).all()
    assert np.isposinf(c[[0, 1, 3, 4, 5, 6, 7, 8], 4]).all()
    assert np.isfinite(np.delete(np.delete(c, 2, axis=0), 4, axis=1)).all()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", TRANS)
def test_gemm_random_within_error_bound(isa, impl, dtype, ta, tb):
    rng = np.random.default_rng(5)
    for m, n, k in [(31, 37, 41), (67, 131, 401), (130, 66, 813)]:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        c = rng.standard_normal((m, n)).astype(dtype)
        got = ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=1.5, beta=-0.5, out=c.copy(), impl=impl)
        exact = ref.gemm(a.astype(np.float64), b.astype(np.float64), trans_a=ta, trans_b=tb, alpha=1.5, beta=-0.5,
                         out=c.astype(np.float64))
        bound = _error_bound(a, b, ta, tb, 1.5, dtype) + 2 * np.finfo(dtype).eps * (np.abs(exact) + np.abs(c))
        err = np.abs(got.astype(np.float64) - exact)
        assert (err <= bound).all(), f"{(m, n, k)}: max err/bound {np.max(err / bound)}"


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(1, 500), ta=st.booleans(), tb=st.booleans(),
       dtype=st.sampled_from(DTYPES), impl=st.sampled_from(IMPLS))
def test_gemm_hypothesis_shapes(m, n, k, ta, tb, dtype, impl):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a, b = _operands(rng, m, n, k, ta, tb, dtype)
    np.testing.assert_array_equal(ops.gemm(a, b, trans_a=ta, trans_b=tb, impl=impl), _exact(a, b, ta, tb))


@pytest.mark.parametrize("impl", IMPLS)
def test_gemm_deterministic_across_calls_and_threads(impl):
    rng = np.random.default_rng(9)
    a = rng.standard_normal((301, 517)).astype(np.float32)
    b = rng.standard_normal((263, 517)).astype(np.float32)
    first = ops.gemm(a, b, trans_b=True, impl=impl)
    np.testing.assert_array_equal(ops.gemm(a, b, trans_b=True, impl=impl), first)
    before = _native.get_num_threads()
    try:
        for t in (1, 2, 3):
            _native.set_num_threads(t)
            # The k order of every element depends only on K, so even the thread count is irrelevant.
            assert np.array_equal(ops.gemm(a, b, trans_b=True, impl=impl), first), f"threads={t}"
    finally:
        _native.set_num_threads(before)


def test_gemm_matches_numpy_float32_default_impl():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((256, 300)).astype(np.float32)
    b = rng.standard_normal((300, 200)).astype(np.float32)
    np.testing.assert_allclose(ops.gemm(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def _same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), (got, want)  # bitwise: -0.0 and NaN included


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", TRANS)
def test_gemm_zero_size(isa, impl, dtype, ta, tb):
    """M or N = 0: an empty result. K = 0: an empty sum, so out = beta * out, +0 for beta == 0 (NaN
    in out ignored), alpha unused -- torch.addmm's result."""
    for m, n, k in [(0, 3, 4), (2, 0, 4), (0, 0, 0), (0, 3, 0), (2, 3, 0)]:
        a = np.ones((k, m) if ta else (m, k), dtype)
        b = np.ones((n, k) if tb else (k, n), dtype)
        _same_bits(ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=-1.0, impl=impl), np.zeros((m, n), dtype))
        out = np.full((m, n), np.nan, dtype)
        got = ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=-1.0, out=out, impl=impl)
        assert got is out
        _same_bits(out, np.zeros((m, n), dtype))
    a = np.ones((0, 2) if ta else (2, 0), dtype)
    b = np.ones((3, 0) if tb else (0, 3), dtype)
    c = np.array([[1.5, -2.0, 0.0], [np.nan, np.inf, -0.0]], dtype)
    for alpha, beta in [(1.0, -2.0), (np.inf, 0.5), (-1.0, 1.0)]:
        out = c.copy()
        ops.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out, impl=impl)
        _same_bits(out, (c * dtype(beta)).astype(dtype))


def _bad_calls():
    f32 = np.ones((4, 5), np.float32)
    b32 = np.ones((5, 3), np.float32)
    sq = np.ones((4, 4), np.float32)
    ro = np.empty((4, 3), np.float32)
    ro.flags.writeable = False
    return [
        ("a int32", lambda: ops.gemm(f32.astype(np.int32), b32), TypeError, ["gemm", "a", "int32"]),
        ("mixed dtypes", lambda: ops.gemm(f32, b32.astype(np.float64)), TypeError, ["gemm", "b", "float32", "float64"]),
        ("a not an array", lambda: ops.gemm([[1.0]], b32), TypeError, ["gemm", "a", "numpy.ndarray", "list"]),
        ("a 1-D", lambda: ops.gemm(np.ones(5, np.float32), b32), ValueError, ["gemm", "a", "2-D", "1-D"]),
        ("b 3-D", lambda: ops.gemm(f32, np.ones((5, 3, 1), np.float32)), ValueError, ["gemm", "b", "2-D", "3-D"]),
        ("K mismatch", lambda: ops.gemm(f32, np.ones((4, 3), np.float32)), ValueError, ["gemm", "b", "(5, *)", "(4, 3)"]),
        ("K mismatch trans_b", lambda: ops.gemm(f32, np.ones((3, 4), np.float32), trans_b=True), ValueError,
         ["gemm", "b", "(*, 5)", "(3, 4)"]),
        ("a non-contiguous", lambda: ops.gemm(np.ones((5, 4), np.float32).T, b32), ValueError,
         ["gemm", "a", "C-contiguous", "strided"]),
        ("K = 0 mismatch", lambda: ops.gemm(np.ones((4, 0), np.float32), b32), ValueError, ["gemm", "b", "(0, *)", "(5, 3)"]),
        ("K = 0 beta without out", lambda: ops.gemm(np.ones((4, 0), np.float32), np.ones((0, 3), np.float32), beta=1.0),
         ValueError, ["gemm", "out", "beta", "None"]),
        ("out wrong shape", lambda: ops.gemm(f32, b32, out=np.empty((3, 4), np.float32)), ValueError,
         ["gemm", "out", "(4, 3)", "(3, 4)"]),
        ("out wrong dtype", lambda: ops.gemm(f32, b32, out=np.empty((4, 3), np.float64)), TypeError,
         ["gemm", "out", "float32", "float64"]),
        ("out read-only", lambda: ops.gemm(f32, b32, out=ro), ValueError, ["gemm", "out", "writable", "read-only"]),
        ("out non-contiguous", lambda: ops.gemm(f32, b32, out=np.empty((3, 4), np.float32).T), ValueError,
         ["gemm", "out", "C-contiguous", "strided"]),
        ("out overlaps a", lambda: ops.gemm(sq, sq.copy(), out=sq), ValueError, ["gemm", "out", "overlapping"]),
        ("beta without out", lambda: ops.gemm(f32, b32, beta=1.0), ValueError, ["gemm", "out", "beta", "None"]),
        ("unknown impl", lambda: ops.gemm(f32, b32, impl="fast"), ValueError, ["gemm", "impl", "'packed'", "'fast'"]),
    ]


BAD_CALLS = _bad_calls()


@pytest.mark.parametrize("name,fn,exc,frags", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_gemm_bad_calls(name, fn, exc, frags):
    assert_bad_call(fn, exc, *frags)


def test_gemm_out_overlapping_b_refused():
    buf = np.ones((4, 8), np.float32)
    a = np.ones((4, 4), np.float32)
    b = buf.reshape(8, 4)[:4]  # rows 0-3 of an (8, 4) view of buf
    out = buf.reshape(8, 4)[4:]  # rows 4-7: disjoint from b, allowed
    ops.gemm(a, b, out=out)
    np.testing.assert_array_equal(out, np.full((4, 4), 4.0, np.float32))
    # rows 2-5 share rows 2-3 with b
    assert_bad_call(lambda: ops.gemm(a, b, out=buf.reshape(8, 4)[2:6]), ValueError, "gemm", "out", "overlapping")
