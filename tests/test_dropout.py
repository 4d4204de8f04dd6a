import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pybench
from pybench import _native, ops, reference as ref
from util import assert_bad_call, check_grad

DTYPES = [np.float32, np.float64]
ROWS = [i["name"] for i in _native.impl_info("dropout_forward")]  # every row, wherever it runs


def _runs(impl, x):
    """True where `impl` runs here for x's dtype; else naming it must be a ValueError saying why."""
    if impl in ops.impls("dropout_forward", dtype=x.dtype):
        return True
    with pytest.raises(ValueError, match=f"dropout_forward: impl: expected one that runs here .*got '{impl}', "
                                         "which needs AVX-512 and float32"):
        ops.dropout_forward(x, 0.5, 1, impl=impl)
    with pytest.raises(ValueError, match=f"dropout_backward: impl: .*got '{impl}'"):
        ops.dropout_backward(x, 0.5, 1, impl=impl)
    return False

# Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter (4 words), key (2 words),
# expected output (4 words).
PHILOX_KAT = [
    ([0x00000000] * 4, [0x00000000] * 2, [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


@pytest.mark.parametrize("ctr,key,expected", PHILOX_KAT)
def test_philox_known_answers(ctr, key, expected):
    ctr, key = np.array(ctr, np.uint32), np.array(key, np.uint32)
    np.testing.assert_array_equal(_native.philox4x32_10(ctr, key), np.array(expected, np.uint32))
    np.testing.assert_array_equal(ref.philox4x32_10(ctr, key), np.array(expected, np.uint32))


def test_philox_native_matches_reference_on_random_counters():
    rng = np.random.default_rng(5)
    ctrs = rng.integers(0, 2**32, size=(50, 4), dtype=np.uint64).astype(np.uint32)
    key = rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)
    expected = ref.philox4x32_10(ctrs, key)
    for i in range(len(ctrs)):
        np.testing.assert_array_equal(_native.philox4x32_10(ctrs[i], key), expected[i])


def test_reference_stream_layout():
    # Element g of the stream is word g % 4 of Philox(counter = g // 4 as (lo, hi, 0, 0), key = seed).
    seed = 0x0123456789ABCDEF
    g = np.array([0, 1, 2, 3, 4, 7, 2**34 + 5])
    words = np.concatenate([ref.dropout_words(1, seed, int(gi)) for gi in g])
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], np.uint32)
    for gi, w in zip(g, words):
        blk = int(gi) // 4
        ctr = np.array([blk & 0xFFFFFFFF, blk >> 32, 0, 0], np.uint32)
        assert _native.philox4x32_10(ctr, key)[int(gi) % 4] == w


# Mask: every impl and ISA level against the reference, including offsets that cut Philox
# blocks (4 elements) and the 64-element blocks of the vec kernel, and 64-bit seeds/offsets.
MASK_CASES = [(1, 0), (7, 3), (64, 0), (64, 1), (130, 61), (1000, 64), (1001, 2**33 + 3), (4099, 2**40 - 17)]


@pytest.mark.parametrize("impl", ops.impls("dropout_mask"))
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.97, 1.0])
def test_mask_matches_reference(isa, impl, p):
    for seed in (0, 12345, 2**63 + 2**40 + 7):
        for n, offset in MASK_CASES:
            got = ops.dropout_mask(n, p, seed, offset, impl=impl)
            assert got.dtype == np.uint8 and got.shape == (n,)
            np.testing.assert_array_equal(got, ref.dropout_mask(n, p, seed, offset), err_msg=f"{seed} {n} {offset}")


@pytest.mark.parametrize("impl", ROWS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,offset", [((7, 131), 0), ((3, 5, 67), 13), ((1,), 2**35 + 1), ((2, 3, 4, 5, 6), 64)])
def test_forward_backward_match_reference(isa, impl, dtype, shape, offset, rng):
    x = rng.standard_normal(shape).astype(dtype)
    if not _runs(impl, x):
        return
    for p in (0.0, 0.3, 0.5, 1.0):
        y = ops.dropout_forward(x, p, 99, offset, impl=impl)
        assert y.dtype == x.dtype and y.shape == x.shape
        np.testing.assert_array_equal(y, ref.dropout_forward(x, p, 99, offset))
        dy = rng.standard_normal(shape).astype(dtype)
        dx = ops.dropout_backward(dy, p, 99, offset, impl=impl)
        np.testing.assert_array_equal(dx, ref.dropout_backward(dy, p, 99, offset))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3000), offset=st.integers(0, 300), p=st.floats(0.0, 1.0), seed=st.integers(0, 2**64 - 1))
def test_forward_hypothesis(n, offset, p, seed):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    out = np.empty_like(x)
    assert ops.dropout_forward(x, p, seed, offset, out=out) is out
    np.testing.assert_array_equal(out, ref.dropout_forward(x, p, seed, offset))


def test_mask_is_pure_function_of_seed_offset_index():
    n = 300_007  # several 64K-element thread slices, not a multiple of 4 or 64
    before_threads, before_isa = pybench.get_num_threads(), _native.isa_active()
    masks = []
    try:
        for isa in ["base", "avx2", "avx512"]:
            if ["base", "avx2", "avx512"].index(isa) > ["base", "avx2", "avx512"].index(_native.isa_supported()):
                continue
            _native.set_isa(isa)
            for threads in (1, 2, 3):
                pybench.set_num_threads(threads)
                for impl in ops.impls("dropout_mask"):
                    masks.append(ops.dropout_mask(n, 0.4, 2024, 5, impl=impl))
                    masks.append(ops.dropout_mask(n, 0.4, 2024, 5, impl=impl))  # same call twice
                x = np.ones(n, np.float32)
                masks.append((ops.dropout_forward(x, 0.4, 2024, 5) != 0).astype(np.uint8))
    finally:
        pybench.set_num_threads(before_threads)
        _native.set_isa(before_isa)
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])


@pytest.mark.parametrize("k", [1, 3, 4, 63, 64, 65, 1000])
def test_offset_shifts_the_stream(k):
    n = 2000
    long = ops.dropout_mask(n + k, 0.5, 77, 0)
    np.testing.assert_array_equal(ops.dropout_mask(n, 0.5, 77, k), long[k:])
    x = np.random.default_rng(k).standard_normal(n + k)
    np.testing.assert_array_equal(ops.dropout_forward(x[k:].copy(), 0.5, 77, k), ops.dropout_forward(x, 0.5, 77, 0)[k:])


def test_seeds_and_offsets_change_the_mask():
    base = ops.dropout_mask(4096, 0.5, 1, 0)
    assert not np.array_equal(base, ops.dropout_mask(4096, 0.5, 2, 0))
    assert not np.array_equal(base, ops.dropout_mask(4096, 0.5, 1 + 2**32, 0))  # high key word matters
    assert not np.array_equal(base, ops.dropout_mask(4096, 0.5, 1, 4096))
    assert not np.array_equal(base, ops.dropout_mask(4096, 0.5, 1, 2**32 * 4))  # high counter word matters


@pytest.mark.parametrize("p", [0.01, 0.1, 0.5, 0.9])
def test_keep_rate_within_4_sigma(p):
    n = 1 << 20
    kept = int(ops.dropout_mask(n, p, 31337, 0).sum(dtype=np.int64))
    mean, sigma = n * (1 - p), np.sqrt(n * p * (1 - p))
    assert abs(kept - mean) <= 4 * sigma, (kept, mean, sigma)


@pytest.mark.parametrize("impl", ROWS)
def test_p0_identity_and_p1_zeros(isa, impl, rng):
    x = rng.standard_normal((5, 77)).astype(np.float32)
    if not _runs(impl, x):
        return
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    y0 = ops.dropout_forward(x, 0.0, 3, impl=impl)
    np.testing.assert_array_equal(y0, x)
    assert np.signbit(y0[0, 3])
    y1 = ops.dropout_forward(x, 1.0, 3, impl=impl)
    assert np.all(y1 == 0) and not np.any(np.isnan(y1))
    assert np.all(ops.dropout_backward(x, 1.0, 3, impl=impl) == 0)
    mask_impl = impl if impl in ops.impls("dropout_mask") else None
    assert np.all(ops.dropout_mask(x.shape, 1.0, 3, impl=mask_impl) == 0)
    assert np.all(ops.dropout_mask(x.shape, 0.0, 3, impl=mask_impl) == 1)


def test_kept_values_scaled_and_dropped_values_exactly_zero(rng):
    x = rng.standard_normal(5000)
    x[::7] = np.inf
    p = 0.3
    y = ops.dropout_forward(x, p, 8)
    keep = ops.dropout_mask(x.shape, p, 8).astype(bool)
    np.testing.assert_array_equal(y[keep], x[keep] * (1.0 / (1.0 - p)))
    assert np.all(y[~keep] == 0)
    assert 0 < keep.sum() < x.size


def test_eval_mode_copies(rng):
    x = rng.standard_normal((33, 17)).astype(np.float32)
    out = np.full_like(x, 7.0)
    y = ops.dropout_forward(x, 0.9, 1, training=False, out=out)
    assert y is out
    np.testing.assert_array_equal(y, x)
    y2 = ops.dropout_forward(x, 0.9, 1, training=False)
    assert y2 is not x and not np.shares_memory(y2, x)
    np.testing.assert_array_equal(y2, x)


def test_backward_finite_difference(rng):
    x = rng.standard_normal((4, 9))
    w = rng.standard_normal(x.shape)
    dx = ops.dropout_backward(w, 0.35, 11, 6)
    check_grad(dx, lambda: float(np.sum(w * ops.dropout_forward(x, 0.35, 11, 6))), x)


def test_backward_recomputes_forward_mask(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    y = ops.dropout_forward(x, 0.25, 5, 17)
    dx = ops.dropout_backward(np.ones_like(x), 0.25, 5, 17)
    np.testing.assert_array_equal(y != 0, dx != 0)
    np.testing.assert_array_equal(y, x * dx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 2)])
def test_zero_size(isa, shape, dtype):
    """An empty array (any extent 0, as PyTorch) gives an empty result; the mask of no elements is empty."""
    x = np.zeros(shape, dtype)
    for impl in ops.impls("dropout_forward", dtype=dtype):
        for training in (True, False):
            y = ops.dropout_forward(x, 0.5, 7, 3, training, impl=impl)
            assert y.shape == shape and y.dtype == dtype
            out = np.empty(shape, dtype)
            assert ops.dropout_forward(x, 0.5, 7, 3, training, out=out, impl=impl) is out
    for impl in ops.impls("dropout_backward", dtype=dtype):
        dx = ops.dropout_backward(x, 0.5, 7, 3, impl=impl)
        assert dx.shape == shape and dx.dtype == dtype
    for impl in ops.impls("dropout_mask"):
        m = ops.dropout_mask(shape, 0.5, 7, 3, impl=impl)
        assert m.shape == shape and m.dtype == np.uint8


X = np.ones((4, 5), np.float32)
BAD_CALLS = [
    (lambda: ops.dropout_forward(X.astype(np.int32)), TypeError, ["dropout_forward", "x", "int32"]),
    (lambda: ops.dropout_forward(X, 1.5), ValueError, ["dropout_forward", "p", "[0, 1]", "1.5"]),
    (lambda: ops.dropout_forward(X, -0.1), ValueError, ["dropout_forward", "p", "-0.1"]),
    (lambda: ops.dropout_forward(X, float("nan")), ValueError, ["dropout_forward", "p", "nan"]),
    (lambda: ops.dropout_forward(X, 0.5, -1), ValueError, ["dropout_forward", "seed", "[0, 2**64)", "-1"]),
    (lambda: ops.dropout_forward(X, 0.5, 2**64), ValueError, ["dropout_forward", "seed", "2**64"]),
    (lambda: ops.dropout_forward(X, 0.5, 1.5), TypeError, ["dropout_forward", "seed", "float"]),
    (lambda: ops.dropout_forward(X, 0.5, 0, -3), ValueError, ["dropout_forward", "offset", "-3"]),
    (lambda: ops.dropout_forward(X, 0.5, 0, 2**63 - 5), ValueError, ["dropout_forward", "offset", "2**63"]),
    (lambda: ops.dropout_forward(X[:, ::2]), ValueError, ["dropout_forward", "x", "C-contiguous"]),
    (lambda: ops.dropout_forward(np.ones((0, 5), np.float32), 1.5), ValueError, ["dropout_forward", "p", "1.5"]),
    (lambda: ops.dropout_forward(X, out=X), ValueError, ["dropout_forward", "out", "overlapping"]),
    (lambda: ops.dropout_forward(X, out=np.ones((4, 5))), TypeError, ["dropout_forward", "out", "float32", "float64"]),
    (lambda: ops.dropout_forward(X, out=np.ones((5, 4), np.float32)), ValueError, ["dropout_forward", "out", "(4, 5)"]),
    (lambda: ops.dropout_forward(X, out=_readonly((4, 5))), ValueError, ["dropout_forward", "out", "read-only"]),
    (lambda: ops.dropout_forward(X, out=np.ones((4, 10), np.float32)[:, ::2]), ValueError, ["dropout_forward", "out", "C-contiguous"]),
    (lambda: ops.dropout_forward([1.0, 2.0]), TypeError, ["dropout_forward", "x", "numpy.ndarray", "list"]),
    (lambda: ops.dropout_forward(X, impl="fast"), ValueError, ["dropout_forward", "impl", "'naive'", "'fast'"]),
    (lambda: ops.dropout_backward(X, 2.0, 0), ValueError, ["dropout_backward", "p", "2"]),
    (lambda: ops.dropout_backward(X.astype(np.float16), 0.5, 0), TypeError, ["dropout_backward", "dy", "float16"]),
    (lambda: ops.dropout_backward(X, 0.5, 0, out=X[:1]), ValueError, ["dropout_backward", "out", "(4, 5)"]),
    (lambda: ops.dropout_mask((3, -2), 0.5, 0), ValueError, ["dropout_mask", "shape", "non-negative", "(3, -2)"]),
    (lambda: ops.dropout_mask((2**40, 2**40), 0.5, 0), ValueError, ["dropout_mask", "shape", "overflow"]),
    (lambda: ops.dropout_mask(4, 1.01, 0), ValueError, ["dropout_mask", "p", "1.01"]),
    (lambda: ops.dropout_mask(4, 0.5, -7), ValueError, ["dropout_mask", "seed", "-7"]),
    (lambda: _native.philox4x32_10(np.zeros(4, np.int64), np.zeros(2, np.uint32)), TypeError, ["philox4x32_10", "counter", "uint32", "int64"]),
    (lambda: _native.philox4x32_10(np.zeros(4, np.uint32), np.zeros(3, np.uint32)), ValueError, ["philox4x32_10", "key", "(2,)"]),
]


def _readonly(shape):
    a = np.ones(shape, np.float32)
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("call,exc,fragments", BAD_CALLS, ids=[f"bad{i}" for i in range(len(BAD_CALLS))])
def test_bad_calls(call, exc, fragments):
    assert_bad_call(call, exc, *fragments)


def test_bad_call_leaves_output_untouched():
    out = np.full((4, 5), 3.0, np.float32)
    with pytest.raises(ValueError):
        ops.dropout_forward(X, 2.0, out=out)
    assert np.all(out == 3.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset,start", [(0, 0), (5, 0), (64, 3), (0, 1), (7, 12), (130, 15)])
def test_streaming_forward_large(isa, dtype, offset, start):
    """Outputs of 16 MiB or more take the streaming path of the `stream` impl (float32 AVX-512:
    results realigned to cache lines in registers, one code path per misalignment `start`):
    bitwise the same as `vec` and the reference, cut blocks at both ends included."""
    n = (16 << 20) // np.dtype(dtype).itemsize + 37
    x = np.random.default_rng(n + offset).standard_normal(n).astype(dtype)
    if not _runs("stream", x):
        return
    buf = np.full(n + start, np.nan, dtype)
    out = buf[start:]
    assert ops.dropout_forward(x, 0.5, 4242, offset, out=out, impl="stream") is out
    np.testing.assert_array_equal(out, ops.dropout_forward(x, 0.5, 4242, offset, impl="vec"))
    for lo in (0, n // 2 - 2000, n - 4099):  # the reference on slices at their element offset
        sl = slice(lo, lo + 4099)
        np.testing.assert_array_equal(out[sl], ref.dropout_forward(x[sl], 0.5, 4242, offset + lo))
    dx = ops.dropout_backward(x, 0.5, 4242, offset, impl="stream")
    np.testing.assert_array_equal(dx, out)
