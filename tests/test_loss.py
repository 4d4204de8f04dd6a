"""Losses: every op x impl x ISA level vs pybench.reference, edge shapes, +-1e4 logits, float64
finite differences, determinism across calls and thread counts, and a bad-call table."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pybench import _native, ops, reference as ref
from util import assert_bad_call, assert_close, check_grad

DTYPES = [np.float32, np.float64]
# Forward values: float32 terms summed in float64 in a different order than NumPy's pairwise sum,
# relative difference ~1e-7; rtol 2e-6 leaves room without hiding a wrong formula.
FWD_RTOL = {np.float32: 2e-6, np.float64: 1e-12}

# name -> (make_inputs(rng, shape, dtype), extra positional params)
ELEMENTWISE = {
    "mse": (),
    "huber": (0.7,),
    "bce_with_logits": (),
}


def _pair(rng, shape, dtype, name):
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    if name == "bce_with_logits":
        t = rng.uniform(0, 1, shape).astype(dtype)  # soft targets, as PyTorch allows
    else:
        t = rng.standard_normal(shape).astype(dtype)
    return x, t


def _ce_inputs(rng, n, c, dtype):
    return (rng.standard_normal((n, c)) * 3).astype(dtype), rng.integers(0, c, n).astype(np.int64)


def _grad_close(actual, expected, dtype):
    # Gradients are O(1/numel); compare relative to their scale rather than with a fixed atol.
    scale = float(np.max(np.abs(expected))) or 1.0
    assert_close(actual, expected, dtype, rtol=1.3e-6 if dtype == np.float32 else 1e-12,
                 atol=(1e-6 if dtype == np.float32 else 1e-13) * scale)


# ---------------------------------------------------------------------------------------------
# vs reference


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_losses_match_reference(isa, name, dtype, rng):
    params = ELEMENTWISE[name]
    fwd, bwd = getattr(ops, f"{name}_forward"), getattr(ops, f"{name}_backward")
    rfwd, rbwd = getattr(ref, f"{name}_forward"), getattr(ref, f"{name}_backward")
    for shape in [(7, 131), (1,), (3, 1, 17), (100_003,)]:  # the last spans several sum chunks
        x, t = _pair(rng, shape, dtype, name)
        expected = rfwd(x, t, *params)
        for impl in ops.impls(f"{name}_forward"):
            got = fwd(x, t, *params, impl=impl)
            assert isinstance(got, float)
            assert got == pytest.approx(expected, rel=FWD_RTOL[dtype]), (impl, shape)
        for impl in ops.impls(f"{name}_backward"):
            out = np.full_like(x, np.nan)
            assert bwd(x, t, *params, grad=2.5, out=out, impl=impl) is out
            _grad_close(out, rbwd(x, t, *params, grad=2.5), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_matches_reference(isa, dtype, rng):
    # (N, C): tiny, C below/above the 16 SIMD lanes, N*C over one sum chunk, C over one chunk.
    for n, c in [(1, 1), (1, 2), (5, 7), (13, 16), (31, 37), (5000, 7), (3, 20_011)]:
        x, y = _ce_inputs(rng, n, c, dtype)
        expected = ref.cross_entropy_forward(x, y)
        for impl in ops.impls("cross_entropy_forward"):
            got = ops.cross_entropy_forward(x, y, impl=impl)
            assert isinstance(got, float)
            assert got == pytest.approx(expected, rel=FWD_RTOL[dtype], abs=1e-12), (impl, n, c)
        for impl in ops.impls("cross_entropy_backward"):
            out = np.full_like(x, np.nan)
            assert ops.cross_entropy_backward(x, y, grad=0.5, out=out, impl=impl) is out
            _grad_close(out, ref.cross_entropy_backward(x, y, grad=0.5), dtype)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.sampled_from([1, 2, 3, 5, 7, 13, 16, 17, 31, 33, 127]), min_size=1, max_size=3),
       name=st.sampled_from(sorted(ELEMENTWISE)), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_elementwise_losses_drawn_shapes(shape, name, dtype, seed):
    rng = np.random.default_rng(seed)
    x, t = _pair(rng, tuple(shape), dtype, name)
    params = ELEMENTWISE[name]
    assert getattr(ops, f"{name}_forward")(x, t, *params) == pytest.approx(
        getattr(ref, f"{name}_forward")(x, t, *params), rel=FWD_RTOL[dtype])
    _grad_close(getattr(ops, f"{name}_backward")(x, t, *params), getattr(ref, f"{name}_backward")(x, t, *params), dtype)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 70), c=st.integers(1, 70), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_cross_entropy_drawn_shapes(n, c, dtype, seed):
    x, y = _ce_inputs(np.random.default_rng(seed), n, c, dtype)
    assert ops.cross_entropy_forward(x, y) == pytest.approx(ref.cross_entropy_forward(x, y), rel=FWD_RTOL[dtype], abs=1e-12)
    _grad_close(ops.cross_entropy_backward(x, y), ref.cross_entropy_backward(x, y), dtype)


# ---------------------------------------------------------------------------------------------
# numerics


@pytest.mark.parametrize("impl", ["naive", "vec"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_huge_logits_finite_and_exact(isa, impl, dtype):
    x = np.array([[1e4, -1e4, 0.0, 1e4],
                  [-1e4, -1e4, -1e4, -1e4],
                  [1e4, -1e4, 0.0, 1e4],
                  [0.0, 0.0, 1e4, -1e4]], dtype)
    y = np.array([0, 2, 1, 3], np.int64)
    ln2, ln4 = math.log(2), math.log(4)
    rows = [ln2, ln4, 2e4 + ln2, 2e4]  # exp(-1e4) and smaller vanish exactly in float64
    loss = ops.cross_entropy_forward(x, y, impl=impl)
    assert math.isfinite(loss)
    assert loss == pytest.approx(sum(rows) / 4, rel=1e-12)
    dx = ops.cross_entropy_backward(x, y, impl=impl)
    assert np.all(np.isfinite(dx))
    expected = np.array([[-0.5, 0, 0, 0.5], [0.25, 0.25, -0.75, 0.25], [0.5, -1, 0, 0.5], [0, 0, 1, -1]]) / 4
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_huge_logits_finite(dtype):
    x = np.array([1e4, -1e4, 80.0, -80.0, 0.0], dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5], dtype)
    # terms: 1e4, 1e4, log1p(e^-80), log1p(e^-80), log 2
    expected = (2e4 + 2 * math.log1p(math.exp(-80)) + math.log(2)) / 5
    assert ops.bce_with_logits_forward(x, t) == pytest.approx(expected, rel=1e-7)
    dx = ops.bce_with_logits_backward(x, t)
    assert np.all(np.isfinite(dx))
    np.testing.assert_allclose(dx, np.array([1, -1, 0, 0, 0]) / 5, atol=1e-7)


def test_nan_propagates():
    x = np.array([[0.0, np.nan, 1.0], [1.0, 2.0, 3.0]])
    assert math.isnan(ops.cross_entropy_forward(x, np.array([0, 1])))
    assert np.isnan(ops.cross_entropy_backward(x, np.array([0, 1]))[0]).all()
    a, b = np.array([1.0, np.nan]), np.zeros(2)
    for name, params in ELEMENTWISE.items():
        assert math.isnan(getattr(ops, f"{name}_forward")(a, b, *params)), name
        assert np.isnan(getattr(ops, f"{name}_backward")(a, b, *params)[1]), name


def test_huber_matches_mse_inside_delta_and_l1_outside():
    x, t = np.array([0.1, -0.2, 3.0, -5.0]), np.zeros(4)
    # 0.5 d^2 inside, delta (|d| - delta/2) outside (delta = 1)
    assert ops.huber_forward(x, t) == pytest.approx((0.005 + 0.02 + 2.5 + 4.5) / 4, rel=1e-15)
    np.testing.assert_array_equal(ops.huber_backward(x, t), np.array([0.1, -0.2, 1.0, -1.0]) / 4)


# ---------------------------------------------------------------------------------------------
# float64 central finite differences of every backward


@pytest.mark.parametrize("impl", ["naive", "vec"])
def test_cross_entropy_grad_finite_difference(impl, rng):
    x, y = _ce_inputs(rng, 4, 6, np.float64)
    dx = ops.cross_entropy_backward(x, y, grad=1.7, impl=impl)
    check_grad(dx, lambda: 1.7 * ops.cross_entropy_forward(x, y, impl=impl), x)


@pytest.mark.parametrize("impl", ["naive", "vec"])
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_grad_finite_difference(impl, name, rng):
    params = ELEMENTWISE[name]
    x, t = _pair(rng, (3, 7), np.float64, name)
    if name == "huber":
        d = x - t  # keep |d| away from the kink at delta
        x[np.abs(np.abs(d) - params[0]) < 1e-3] += 0.01
    dx = getattr(ops, f"{name}_backward")(x, t, *params, grad=-0.8, impl=impl)
    check_grad(dx, lambda: -0.8 * getattr(ops, f"{name}_forward")(x, t, *params, impl=impl), x)


# ---------------------------------------------------------------------------------------------
# determinism


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_is_bitwise_deterministic_across_calls_and_threads(dtype, rng):
    x, t = _pair(rng, (300_007,), dtype, "mse")
    lx, ly = _ce_inputs(rng, 9000, 11, dtype)
    before = _native.get_num_threads()
    try:
        results = []
        for threads in (before, 1, max(2, before)):
            _native.set_num_threads(threads)
            results.append((ops.mse_forward(x, t), ops.huber_forward(x, t), ops.bce_with_logits_forward(x, t),
                            ops.cross_entropy_forward(lx, ly), ops.cross_entropy_backward(lx, ly).tobytes()))
        results.append(results[0])
        _native.set_num_threads(before)
        results.append((ops.mse_forward(x, t), ops.huber_forward(x, t), ops.bce_with_logits_forward(x, t),
                        ops.cross_entropy_forward(lx, ly), ops.cross_entropy_backward(lx, ly).tobytes()))
    finally:
        _native.set_num_threads(before)
    assert all(r == results[0] for r in results)


# ---------------------------------------------------------------------------------------------
# torch cross-check (skipped where torch is not importable)


def test_losses_match_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, y = _ce_inputs(rng, 9, 5, np.float64)
    xt = torch.tensor(x, requires_grad=True)
    F.cross_entropy(xt, torch.tensor(y)).backward()
    assert ops.cross_entropy_forward(x, y) == pytest.approx(F.cross_entropy(torch.tensor(x), torch.tensor(y)).item(), rel=1e-13)
    np.testing.assert_allclose(ops.cross_entropy_backward(x, y), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    torch_fns = {"mse": lambda a, b: F.mse_loss(a, b),
                 "huber": lambda a, b: F.huber_loss(a, b, delta=ELEMENTWISE["huber"][0]),
                 "bce_with_logits": lambda a, b: F.binary_cross_entropy_with_logits(a, b)}
    for name, params in ELEMENTWISE.items():
        a, b = _pair(rng, (6, 11), np.float64, name)
        at = torch.tensor(a, requires_grad=True)
        loss = torch_fns[name](at, torch.tensor(b))
        loss.backward()
        assert getattr(ops, f"{name}_forward")(a, b, *params) == pytest.approx(loss.item(), rel=1e-13), name
        np.testing.assert_allclose(getattr(ops, f"{name}_backward")(a, b, *params), at.grad.numpy(),
                                   rtol=1e-12, atol=1e-15, err_msg=name)


# ---------------------------------------------------------------------------------------------
# bad calls

_L = np.zeros((4, 5), np.float32)
_Y = np.array([0, 1, 4, 2], np.int64)
_A = np.zeros((3, 4), np.float64)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch_mean_is_nan(isa, dtype):
    """reduction='mean' over no terms is 0/0 = NaN, as PyTorch (not an error); the gradient of an
    empty input is empty."""
    for impl in ops.impls("cross_entropy_forward"):
        logits, labels = np.zeros((0, 5), dtype), np.zeros(0, np.int64)
        assert math.isnan(ops.cross_entropy_forward(logits, labels, impl=impl))
        dx = ops.cross_entropy_backward(logits, labels, impl=impl)
        assert dx.shape == (0, 5) and dx.dtype == dtype
    for name, params in ELEMENTWISE.items():
        for shape in [(0,), (2, 0)]:
            x = np.zeros(shape, dtype)
            for impl in ops.impls(name + "_forward"):
                assert math.isnan(getattr(ops, name + "_forward")(x, x, *params, impl=impl))
                dx = getattr(ops, name + "_backward")(x, x, *params, grad=2.0, impl=impl)
                assert dx.shape == shape and dx.dtype == dtype


BAD_CALLS = [
    # (call, exception, message fragments)
    (lambda: ops.cross_entropy_forward(_L, np.array([0, 1, 5, 2])), ValueError,
     ["cross_entropy_forward", "labels", "[0, 5)", "5 at position 2"]),
    (lambda: ops.cross_entropy_backward(_L, np.array([0, -100, 1, 2])), ValueError,
     ["cross_entropy_backward", "labels", "-100 at position 1"]),
    (lambda: ops.cross_entropy_forward(_L, _Y.astype(np.int32)), TypeError, ["cross_entropy_forward", "labels", "int64", "int32"]),
    (lambda: ops.cross_entropy_forward(_L, _Y.astype(np.float32)), TypeError, ["cross_entropy_forward", "labels", "int64", "float32"]),
    (lambda: ops.cross_entropy_forward(_L, _Y[:3]), ValueError, ["cross_entropy_forward", "labels", "(4,)", "(3,)"]),
    (lambda: ops.cross_entropy_forward(_L.reshape(20), _Y), ValueError, ["cross_entropy_forward", "logits", "2-D", "1-D"]),
    (lambda: ops.cross_entropy_forward(_L.astype(np.int64), _Y), TypeError, ["cross_entropy_forward", "logits", "float32 or float64", "int64"]),
    (lambda: ops.cross_entropy_forward(np.zeros((4, 0), np.float32), _Y), ValueError,
     ["cross_entropy_forward", "logits", "every dimension but the batch", "(4, 0)"]),
    (lambda: ops.cross_entropy_forward(np.zeros((0, 5), np.float32), _Y), ValueError,
     ["cross_entropy_forward", "labels", "(0,)", "(4,)"]),
    (lambda: ops.mse_forward(np.zeros((0, 3)), np.zeros((3, 0))), ValueError, ["mse_forward", "target", "(0, 3)", "(3, 0)"]),
    (lambda: ops.huber_forward(np.zeros(0), np.zeros(0), 0.0), ValueError, ["huber_forward", "delta", "> 0"]),
    (lambda: ops.cross_entropy_forward(np.zeros((4, 10), np.float32)[:, ::2], _Y), ValueError,
     ["cross_entropy_forward", "logits", "C-contiguous"]),
    (lambda: ops.cross_entropy_backward(_L, _Y, out=np.zeros((4, 5), np.float64)), TypeError,
     ["cross_entropy_backward", "out", "float32", "float64"]),
    (lambda: ops.cross_entropy_backward(_L.copy(), _Y, out=_readonly(_L)), ValueError,
     ["cross_entropy_backward", "out", "writable", "read-only"]),
    (lambda: ops.mse_forward(_A, _A[:, :3].copy()), ValueError, ["mse_forward", "target", "(3, 4)", "(3, 3)"]),
    (lambda: ops.mse_forward(_A, _A.astype(np.float32)), TypeError, ["mse_forward", "target", "float64", "float32"]),
    (lambda: ops.mse_forward(_A, [[0.0] * 4] * 3), TypeError, ["mse_forward", "target", "numpy.ndarray", "list"]),
    (lambda: ops.mse_backward(_A, _A.copy(), out=np.zeros((4, 3))), ValueError, ["mse_backward", "out", "(3, 4)", "(4, 3)"]),
    (lambda: ops.huber_forward(_A, _A, 0.0), ValueError, ["huber_forward", "delta", "> 0", "got 0"]),
    (lambda: ops.huber_backward(_A, _A, -1.0), ValueError, ["huber_backward", "delta", "> 0", "-1"]),
    (lambda: ops.huber_forward(_A, _A, float("nan")), ValueError, ["huber_forward", "delta", "finite"]),
    (lambda: ops.bce_with_logits_backward(x := np.zeros(6), x.copy(), out=x), ValueError,
     ["bce_with_logits_backward", "out", "overlapping"]),
    (lambda: ops.mse_forward(_A, _A, impl="fast"), ValueError, ["mse_forward", "impl", "'naive', 'vec'", "'fast'"]),
]


@pytest.mark.parametrize("call,exc,fragments", BAD_CALLS, ids=[f"bad{i}" for i in range(len(BAD_CALLS))])
def test_loss_bad_calls(call, exc, fragments):
    assert_bad_call(call, exc, *fragments)


def test_bad_labels_rejected_before_any_write():
    out = np.full((4, 5), 7.0, np.float32)
    with pytest.raises(ValueError):
        ops.cross_entropy_backward(_L, np.array([0, 1, 2, 9]), out=out)
    assert np.all(out == 7.0)
