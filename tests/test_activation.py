import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pybench import ops, reference as ref
from util import assert_bad_call, assert_close, check_grad

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("impl", ops.impls("relu_forward"))
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_matches_reference(isa, impl, dtype, rng):
    x = rng.standard_normal((7, 131)).astype(dtype)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    assert_close(ops.relu_forward(x, impl=impl), ref.relu_forward(x))
    dy = rng.standard_normal(x.shape).astype(dtype)
    assert_close(ops.relu_backward(dy, x, impl=impl), ref.relu_backward(dy, x))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4099))
def test_relu_odd_lengths(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    assert ops.relu_forward(x, out=out) is out
    np.testing.assert_array_equal(out, ref.relu_forward(x))


def test_relu_grad_finite_difference(rng):
    x = rng.standard_normal(12)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    w = rng.standard_normal(12)
    dx = ops.relu_backward(w, x)
    check_grad(dx, lambda: float(np.sum(w * ops.relu_forward(x))), x)


def test_relu_bad_calls():
    x = np.ones((4, 5), np.float32)
    assert_bad_call(lambda: ops.relu_forward(x.astype(np.int32)), TypeError, "relu_forward", "x", "int32")
    assert_bad_call(lambda: ops.relu_forward(x, out=x), ValueError, "relu_forward", "out", "overlapping")
    assert_bad_call(lambda: ops.relu_backward(x, x[:, :4].copy()), ValueError, "relu_backward", "x", "(4, 5)")
