"""conv2d forward/backward: every impl x ISA level vs pybench.reference, exact on small integers,
hypothesis-drawn geometries (also around the Winograd kernel's register tiles and chunks), float64
finite differences, determinism across calls and thread counts, and a bad-input table."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import ISA_LEVELS
from pybench import _native, ops, reference as ref
from util import assert_bad_call, check_grad

DTYPES = [np.float32, np.float64]
# Every row of the table; _runs says where one runs as itself (and checks the refusal elsewhere).
IMPLS = ["naive", "im2col", "winograd", "direct", "fast"]


def test_conv2d_impl_tables(isa):
    # forward and backward list the same variants in the same order, the default (`fast`) last;
    # direct (AVX-512 float32 kernels) only where it runs
    want = ["naive", "im2col", "winograd"] + (["direct"] if isa == "avx512" else []) + ["fast"]
    assert ops.impls("conv2d_forward", dtype="float32") == ops.impls("conv2d_backward", dtype="float32") == want
    assert ops.impls("conv2d_forward", dtype="float64") == ["naive", "im2col", "winograd", "fast"]


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _runs(impl, x, w, kw, compute_dx=True):
    """True where `impl` runs as itself on this call. Elsewhere (winograd, direct on a shape they do
    not handle; direct off AVX-512 float32) naming it must be a ValueError: checked, then False."""
    C, (KH, KW) = x.shape[1], w.shape[2:]
    s, p, d = (_pair(kw.get(k, dflt)) for k, dflt in (("stride", 1), ("padding", 0), ("dilation", 1)))
    g = kw.get("groups", 1)
    three = (KH, KW) == (3, 3) and s == (1, 1) and d == (1, 1) and g == 1
    fwd_ok = bwd_ok = impl in ops.impls("conv2d_forward", dtype=x.dtype)
    if impl == "winograd":
        fwd_ok = bwd_ok = fwd_ok and three and max(p) <= 2
    if impl == "direct":
        fwd_ok = fwd_ok and three and C == 1
        bwd_ok = fwd_ok and not compute_dx
    if not fwd_ok:
        with pytest.raises(ValueError, match=f"conv2d_forward: impl: expected .*got '{impl}'"):
            ops.conv2d_forward(x, w, **kw, impl=impl)
    if not bwd_ok:
        dy = np.zeros(ops.conv2d_forward(x, w, **kw, impl="naive").shape, x.dtype)
        with pytest.raises(ValueError, match=f"conv2d_backward: impl: expected .*got '{impl}'"):
            ops.conv2d_backward(dy, x, w, **kw, compute_dx=compute_dx, impl=impl)
    return fwd_ok and bwd_ok

# (N, C, H, W, O, (KH, KW), stride, padding, dilation, groups)
CASES = [
    (2, 3, 8, 8, 4, (3, 3), 1, 1, 1, 1),            # the common 3x3 pad 1
    (3, 4, 9, 7, 6, (3, 2), (2, 1), (1, 0), 1, 2),  # rectangular kernel/input, strides, groups
    (2, 6, 7, 7, 6, (3, 3), 1, 1, 1, 6),            # depthwise
    (2, 4, 10, 9, 8, (3, 3), 2, 2, 2, 4),           # depthwise x2 multiplier, dilation
    (2, 5, 6, 5, 7, (1, 1), 1, 0, 1, 1),            # 1x1 (GEMM straight on x)
    (1, 6, 5, 6, 4, (1, 1), 2, 1, 1, 2),            # 1x1 with stride, padding and groups
    (2, 3, 1, 17, 5, (1, 5), (1, 2), (0, 2), (1, 2), 1),  # H = 1: a 1-D signal
    (1, 2, 5, 5, 3, (5, 5), 1, 0, 1, 1),            # kernel as large as the input
    (17, 3, 5, 4, 2, (2, 3), 3, 1, 1, 1),           # odd batch (uneven split over threads)
    (2, 64, 31, 30, 4, (3, 3), 2, 1, 1, 1),         # im2col in row blocks (column block > 512 KiB)
    # Winograd F(2x2,3x3) (impl `winograd` on every 3x3/stride-1/groups-1 case; `fast` from 16
    # channels in and out, dW by Winograd from 96 output tiles): odd sizes, every padding 0..2
    (1, 8, 3, 24, 8, (3, 3), 1, 1, 1, 1),
    (3, 8, 7, 25, 9, (3, 3), 1, 1, 1, 1),           # odd H, W
    (2, 9, 5, 26, 10, (3, 3), 1, (0, 2), 1, 1),
    (4, 8, 1, 30, 8, (3, 3), 1, (2, 0), 1, 1),      # H = 1; tile blocks spanning samples
    (5, 17, 15, 13, 19, (3, 3), 1, 1, 1, 1),        # fast: Winograd, dW in several chunks
    (3, 16, 9, 20, 33, (3, 3), 1, (2, 0), 1, 1),    # fast: Winograd; 33 = one register tile + 1
    (1, 16, 6, 5, 16, (3, 3), 1, 1, 1, 1),          # fast: Winograd y and dx, dW by im2col (9 tiles)
    (64, 16, 8, 8, 16, (3, 3), 1, 1, 1, 1),         # fast: 1024 tiles (the benchmark's 8x8 planes)
    # one input channel, 3x3, stride 1 (impl `direct` and `fast`: the direct kernels; dx, when
    # asked for, by `fast`'s other paths): 16-column chunks with masked ends, odd O, padding 0..2
    (3, 1, 28, 28, 16, (3, 3), 1, 1, 1, 1),
    (2, 1, 7, 33, 7, (3, 3), 1, (0, 2), 1, 1),
    (3, 1, 1, 17, 3, (3, 3), 1, (2, 1), 1, 1),      # H = 1: rows of zeros from the padding
]




def _int_data(case, dtype, seed=0):
    N, C, H, W, O, (KH, KW), s, p, d, g = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, (N, C, H, W)).astype(dtype)
    w = rng.integers(-4, 5, (O, C // g, KH, KW)).astype(dtype)
    b = rng.integers(-4, 5, O).astype(dtype)
    return x, w, b


def _params(case):
    return dict(stride=case[6], padding=case[7], dilation=case[8], groups=case[9])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_conv2d_exact_on_integers(isa, impl, dtype, case):
    x, w, b = _int_data(case, dtype)
    kw = _params(case)
    if not _runs(impl, x, w, kw):
        return
    y = ops.conv2d_forward(x, w, b, **kw, impl=impl)
    y_ref = ref.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **kw)
    assert y.dtype == dtype and y.shape == y_ref.shape
    np.testing.assert_array_equal(y, y_ref)
    dy = np.random.default_rng(1).integers(-4, 5, y.shape).astype(dtype)
    dx, dw, db = ops.conv2d_backward(dy, x, w, **kw, impl=impl)
    rdx, rdw, rdb = ref.conv2d_backward(dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64), **kw)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(dw, rdw)
    np.testing.assert_array_equal(db, rdb)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_random_vs_reference(isa, impl, dtype, rng):
    # float64 reference; float32 error bound: each output is a sum of K products of O(1) values,
    # so |err| <~ K * eps32 * |terms|; we allow atol = 1e-6 * K (K = terms per output).
    N, C, H, W, O, KH, KW, g = 3, 6, 11, 13, 4, 3, 3, 2
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C // g, KH, KW))
    b = rng.standard_normal(O)
    kw = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=g)
    if not _runs(impl, x.astype(dtype), w.astype(dtype), kw):
        return
    y_ref = ref.conv2d_forward(x, w, b, **kw)
    dy = rng.standard_normal(y_ref.shape)
    rdx, rdw, rdb = ref.conv2d_backward(dy, x, w, **kw)
    y = ops.conv2d_forward(x.astype(dtype), w.astype(dtype), b.astype(dtype), **kw, impl=impl)
    dx, dw, db = ops.conv2d_backward(dy.astype(dtype), x.astype(dtype), w.astype(dtype), **kw, impl=impl)
    P = N * y.shape[2] * y.shape[3]
    tight = dtype == np.float64
    for got, want, terms in [(y, y_ref, C // g * KH * KW), (dx, rdx, O // g * KH * KW), (dw, rdw, P), (db, rdb, P)]:
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-12 if tight else 1e-5, atol=1e-12 if tight else 1e-6 * terms)


@st.composite
def geometries(draw):
    g = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    depthwise = draw(st.booleans())
    if depthwise:
        g, cg = draw(st.integers(2, 5)), 1
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    H = draw(st.integers(max(1, dh * (KH - 1) + 1 - 2 * ph), 11))
    W = draw(st.integers(max(1, dw * (KW - 1) + 1 - 2 * pw), 17))
    N = draw(st.integers(1, 5))
    return (N, g * cg, H, W, g * og, (KH, KW), (sh, sw), (ph, pw), (dh, dw), g)


@settings(max_examples=60, deadline=None)
@given(case=geometries(), bias=st.booleans(), compute_dx=st.booleans())
def test_conv2d_hypothesis_exact(case, bias, compute_dx):
    x, w, b = _int_data(case, np.float32, seed=case[0])
    kw = _params(case)
    y_ref = ref.conv2d_forward(x, w, b if bias else None, **kw)
    dy = np.random.default_rng(2).integers(-4, 5, y_ref.shape).astype(np.float32)
    rdx, rdw, rdb = ref.conv2d_backward(dy, x, w, **kw, bias=bias, compute_dx=compute_dx)
    for impl in IMPLS:
        if not _runs(impl, x, w, kw, compute_dx):
            continue
        y = ops.conv2d_forward(x, w, b if bias else None, **kw, impl=impl)
        np.testing.assert_array_equal(y, y_ref, err_msg=impl)
        dx, dw, db = ops.conv2d_backward(dy, x, w, **kw, bias=bias, compute_dx=compute_dx, impl=impl)
        assert (dx is None) == (not compute_dx) and (db is None) == (not bias)
        if compute_dx:
            np.testing.assert_array_equal(dx, rdx, err_msg=impl)
        np.testing.assert_array_equal(dw, rdw, err_msg=impl)
        if bias:
            np.testing.assert_array_equal(db, rdb, err_msg=impl)


def _assert_exact_every_isa(case, impls, bias, compute_dx, seed, dy_seed):
    """Forward and backward of `impls` on every ISA level equal the reference bit for bit
    (integer data in [-4, 4]: every partial sum is exact in float32)."""
    x, wt, b = _int_data(case, np.float32, seed=seed)
    kw = _params(case)
    y_ref = ref.conv2d_forward(x, wt, b if bias else None, **kw)
    dy = np.random.default_rng(dy_seed).integers(-4, 5, y_ref.shape).astype(np.float32)
    want = ref.conv2d_backward(dy, x, wt, **kw, bias=bias, compute_dx=compute_dx)
    before = _native.isa_active()
    try:
        for isa in ISA_LEVELS:
            _native.set_isa(isa)
            for impl in impls:
                if not _runs(impl, x, wt, kw, compute_dx):
                    continue
                msg = f"{impl} {isa}"
                np.testing.assert_array_equal(ops.conv2d_forward(x, wt, b if bias else None, **kw, impl=impl), y_ref,
                                              err_msg=msg)
                got = ops.conv2d_backward(dy, x, wt, **kw, bias=bias, compute_dx=compute_dx, impl=impl)
                for g_, w_ in zip(got, want):
                    assert (g_ is None) == (w_ is None)
                    if w_ is not None:
                        np.testing.assert_array_equal(g_, w_, err_msg=msg)
    finally:
        _native.set_isa(before)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 40), o=st.integers(1, 40), h=st.integers(1, 14), w=st.integers(1, 20),
       ph=st.integers(0, 2), pw=st.integers(0, 2), bias=st.booleans(), compute_dx=st.booleans())
def test_conv2d_winograd_shapes_exact(n, c, o, h, w, ph, pw, bias, compute_dx):
    # Winograd geometries (3x3, stride 1, padding 0..2) on every ISA level: channel counts across
    # the register tiles (8/16/32 channels, 4-8 tiles wide), planes from 1 pixel, tiles spanning
    # samples; `fast` takes Winograd from 16 channels. Exact: integer data in [-4, 4].
    if h + 2 * ph < 3 or w + 2 * pw < 3:
        return
    _assert_exact_every_isa((n, c, h, w, o, (3, 3), 1, (ph, pw), 1, 1), ("winograd", "fast"), bias, compute_dx,
                            seed=h * 32 + w, dy_seed=3)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9), o=st.integers(1, 20), h=st.integers(1, 12), w=st.integers(1, 40),
       ph=st.integers(0, 2), pw=st.integers(0, 2), bias=st.booleans(), compute_dx=st.booleans())
def test_conv2d_direct_one_channel_exact(n, o, h, w, ph, pw, bias, compute_dx):
    # the direct one-input-channel 3x3 kernels (a first layer's: dW/db only when compute_dx is
    # False) on every ISA level: widths across the 16-column chunks, odd and even O, padding
    # 0..2, more samples than dW slots. Exact: integer data in [-4, 4].
    if h + 2 * ph < 3 or w + 2 * pw < 3:
        return
    _assert_exact_every_isa((n, 1, h, w, o, (3, 3), 1, (ph, pw), 1, 1), ("direct", "fast"), bias, compute_dx,
                            seed=h * 64 + w, dy_seed=4)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_random_one_channel(isa, impl, dtype, rng):
    # the benchmark CNN's first layer (1 -> 16, 3x3, padding 1, no dx) on random data; float32
    # bound as above (atol 1e-6 per summed term)
    N, H, W, O = 5, 28, 28, 16
    x, w, b = rng.standard_normal((N, 1, H, W)), rng.standard_normal((O, 1, 3, 3)), rng.standard_normal(O)
    if not _runs(impl, x.astype(dtype), w.astype(dtype), dict(padding=1), compute_dx=False):
        return
    y_ref = ref.conv2d_forward(x, w, b, padding=1)
    dy = rng.standard_normal(y_ref.shape)
    _, rdw, rdb = ref.conv2d_backward(dy, x, w, padding=1, compute_dx=False)
    y = ops.conv2d_forward(x.astype(dtype), w.astype(dtype), b.astype(dtype), padding=1, impl=impl)
    dx, dw, db = ops.conv2d_backward(dy.astype(dtype), x.astype(dtype), w.astype(dtype), padding=1, compute_dx=False,
                                     impl=impl)
    assert dx is None
    tight = dtype == np.float64
    for got, want, terms in [(y, y_ref, 9), (dw, rdw, N * H * W), (db, rdb, N * H * W)]:
        np.testing.assert_allclose(got, want, rtol=1e-11 if tight else 1e-5, atol=1e-11 if tight else 1e-6 * terms)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 32, 14, 25, 16), (6, 48, 9, 10, 40)], ids=["wide", "small-planes"])
def test_conv2d_random_winograd_shape(isa, impl, dtype, shape, rng):
    # 3x3 stride 1 with many channels: `fast` uses Winograd, whose transforms add a few roundings
    # per term; same bound as above (atol 1e-6 per summed term).
    N, C, H, W, O = shape
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C, 3, 3))
    b = rng.standard_normal(O)
    y_ref = ref.conv2d_forward(x, w, b, padding=1)
    if not _runs(impl, x.astype(dtype), w.astype(dtype), dict(padding=1)):
        return
    dy = rng.standard_normal(y_ref.shape)
    rdx, rdw, _ = ref.conv2d_backward(dy, x, w, padding=1)
    y = ops.conv2d_forward(x.astype(dtype), w.astype(dtype), b.astype(dtype), padding=1, impl=impl)
    dx, dw, _ = ops.conv2d_backward(dy.astype(dtype), x.astype(dtype), w.astype(dtype), padding=1, impl=impl)
    tight = dtype == np.float64
    for got, want, terms in [(y, y_ref, C * 9), (dx, rdx, O * 9), (dw, rdw, N * H * W)]:
        np.testing.assert_allclose(got, want, rtol=1e-11 if tight else 1e-5, atol=1e-11 if tight else 1e-6 * terms)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[5], CASES[10]], ids=["groups", "depthwise", "pointwise",
                                                                                 "winograd"])
def test_conv2d_grad_finite_difference(impl, case, one_thread):
    rng = np.random.default_rng(7)
    N, C, H, W, O, (KH, KW), s, p, d, g = case
    N = min(N, 2)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, C // g, KH, KW))
    b = rng.standard_normal(O)
    kw = _params(case)
    r = rng.standard_normal(ops.conv2d_forward(x, w, b, **kw).shape)  # loss = sum(r * y)
    if not _runs(impl, x, w, kw):
        return
    dx, dw, db = ops.conv2d_backward(r, x, w, **kw, impl=impl)

    def loss():
        return float(np.sum(r * ops.conv2d_forward(x, w, b, **kw, impl=impl)))

    check_grad(dx, loss, x)
    check_grad(dw, loss, w)
    check_grad(db, loss, b)


@pytest.mark.parametrize("impl", IMPLS)
def test_conv2d_deterministic_and_out(impl, rng):
    x = rng.standard_normal((9, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    if not _runs(impl, x, w, dict(padding=1)):
        return
    b = rng.standard_normal(16).astype(np.float32)
    y1 = ops.conv2d_forward(x, w, b, padding=1, impl=impl)
    out = np.full_like(y1, np.nan)
    assert ops.conv2d_forward(x, w, b, padding=1, out=out, impl=impl) is out
    np.testing.assert_array_equal(out, y1)
    dy = rng.standard_normal(y1.shape).astype(np.float32)
    g1 = ops.conv2d_backward(dy, x, w, padding=1, impl=impl)
    bufs = [np.full_like(a, np.nan) for a in g1]  # outputs are overwritten, never accumulated into
    g2 = ops.conv2d_backward(dy, x, w, padding=1, dx=bufs[0], dweight=bufs[1], dbias=bufs[2], impl=impl)
    for a, b_, buf in zip(g1, g2, bufs):
        assert b_ is buf
        np.testing.assert_array_equal(a, b_)  # bitwise: same inputs, same thread count


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", [(7, 4, 10, 10, 6, 3, 1), (7, 16, 16, 16, 24, 3, 1), (9, 8, 6, 6, 12, 1, 0),
                                   (11, 1, 28, 28, 16, 3, 1)],
                         ids=["im2col", "winograd", "pointwise", "one-channel"])
def test_conv2d_thread_counts_agree(impl, shape, rng):
    # Every output, dW and db included, is summed in an order fixed by the shape: bitwise equal
    # for 1, 2 and 3 threads (the Winograd shape has 448 tiles: dW in several chunks; the
    # one-channel shape without dx, a first layer's: the direct kernel's dW in 8 slots).
    N, C, H, W, O, k, p = shape
    cdx = C > 1
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((O, C, k, k)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    dy = rng.standard_normal((N, O, H + 2 * p - k + 1, W + 2 * p - k + 1)).astype(np.float32)
    if not _runs(impl, x, w, dict(padding=p), cdx):
        return
    before = _native.get_num_threads()
    try:
        res = []
        for t in (1, 2, 3):
            _native.set_num_threads(t)
            res.append((ops.conv2d_forward(x, w, b, padding=p, impl=impl),
                        *ops.conv2d_backward(dy, x, w, padding=p, compute_dx=cdx, impl=impl)))
            again = ops.conv2d_backward(dy, x, w, padding=p, compute_dx=cdx, impl=impl)
            for a, b_ in zip(res[-1][1:], again):
                np.testing.assert_array_equal(a, b_)
    finally:
        _native.set_num_threads(before)
    for other in res[1:]:
        for a, b_ in zip(res[0], other):
            np.testing.assert_array_equal(a, b_)


# (C, O, groups, kernel, stride, padding): a shape for each path of "fast" (Winograd, depthwise,
# 1x1 GEMM, one-channel direct 3x3, im2col)
ZERO_BATCH_GEOMETRIES = [(16, 16, 1, 3, 1, 1), (8, 8, 8, 3, 1, 1), (8, 4, 1, 1, 1, 0), (1, 16, 1, 3, 1, 1),
                         (4, 6, 2, 3, 2, 1)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_zero_batch(isa, impl, dtype):
    """N = 0 (as PyTorch): y is (0, O, OH, OW); dx (0, C, H, W), dW and db sums over no images: +0,
    written over whatever the given buffers held."""
    for c, o, groups, k, stride, pad in ZERO_BATCH_GEOMETRIES:
        x = np.zeros((0, c, 9, 7), dtype)
        w = np.ones((o, c // groups, k, k), dtype)
        p = dict(stride=stride, padding=pad, groups=groups)
        oh, ow = (9 + 2 * pad - k) // stride + 1, (7 + 2 * pad - k) // stride + 1
        if not _runs(impl, x, w, p, compute_dx=False):
            continue
        y = ops.conv2d_forward(x, w, np.ones(o, dtype), **p, impl=impl)
        assert y.shape == (0, o, oh, ow) and y.dtype == dtype
        dy = np.zeros(y.shape, dtype)
        for bias in (True, False):
            for compute_dx in (True, False):
                if not _runs(impl, x, w, p, compute_dx):
                    continue
                dw = np.full(w.shape, np.nan, dtype)
                db = np.full(o, np.nan, dtype) if bias else None
                gdx, gdw, gdb = ops.conv2d_backward(dy, x, w, **p, bias=bias, compute_dx=compute_dx, dweight=dw,
                                                    dbias=db, impl=impl)
                assert gdw is dw and dw.tobytes() == np.zeros(w.shape, dtype).tobytes()
                assert gdx.shape == x.shape if compute_dx else gdx is None
                assert db.tobytes() == np.zeros(o, dtype).tobytes() if bias else gdb is None


def test_conv2d_nan_propagates():
    x = np.ones((1, 2, 5, 5), np.float32)
    x[0, 1, 2, 2] = np.nan
    y = ops.conv2d_forward(x, np.ones((3, 2, 3, 3), np.float32), padding=1)
    assert np.isnan(y[0, :, 1:4, 1:4]).all() and np.isfinite(y[0, :, 0, :]).all()


def _bad_calls():
    x = np.ones((2, 4, 6, 6), np.float32)
    w = np.ones((8, 4, 3, 3), np.float32)
    dy = np.ones((2, 8, 4, 4), np.float32)
    ro = np.ones((2, 8, 4, 4), np.float32)
    ro.flags.writeable = False
    f, b = ops.conv2d_forward, ops.conv2d_backward
    return [
        ("groups not dividing C", lambda: f(x, np.ones((8, 1, 3, 3), np.float32), groups=3), ValueError,
         ["conv2d_forward", "groups", "divisor", "C=4", "got 3"]),
        ("out channels not divisible", lambda: f(x, np.ones((6, 1, 3, 3), np.float32), groups=4), ValueError,
         ["weight", "divisible by groups=4", "got 6"]),
        ("kernel larger than padded input", lambda: f(x, np.ones((8, 4, 9, 9), np.float32), padding=1), ValueError,
         ["weight", "no larger than the padded input (8, 8)", "(9, 9)"]),
        ("dilated kernel too large", lambda: f(x, w, dilation=3), ValueError, ["weight", "kernel extent of (7, 7)"]),
        ("zero stride", lambda: f(x, w, stride=0), ValueError, ["stride", "positive", "(0, 0)"]),
        ("negative stride", lambda: f(x, w, stride=(1, -2)), ValueError, ["stride", "positive", "(1, -2)"]),
        ("zero dilation", lambda: f(x, w, dilation=(0, 1)), ValueError, ["dilation", "positive", "(0, 1)"]),
        ("negative padding", lambda: f(x, w, padding=-1), ValueError, ["padding", "non-negative", "(-1, -1)"]),
        ("zero groups", lambda: f(x, w, groups=0), ValueError, ["groups", "positive", "got 0"]),
        ("weight channel mismatch", lambda: f(x, np.ones((8, 3, 3, 3), np.float32)), ValueError,
         ["weight", "shape (*, 4, *, *)", "(8, 3, 3, 3)"]),
        ("bias shape", lambda: f(x, w, np.ones(7, np.float32)), ValueError, ["bias", "(8,)", "(7,)"]),
        ("int dtype", lambda: f(x.astype(np.int32), w), TypeError, ["conv2d_forward", "x", "int32"]),
        ("mixed dtypes", lambda: f(x, w.astype(np.float64)), TypeError, ["weight", "float32", "float64"]),
        ("3-D x", lambda: f(x[0], w), ValueError, ["x", "4-D", "3-D"]),
        ("non-contiguous x", lambda: f(np.ones((2, 4, 6, 12), np.float32)[..., ::2], w), ValueError,
         ["x", "C-contiguous"]),
        # only the batch may be 0: zero channels or spatial extents are refused
        ("zero channels", lambda: f(np.ones((2, 0, 6, 6), np.float32), np.ones((8, 0, 3, 3), np.float32)), ValueError,
         ["x", "every dimension but the batch", "(2, 0, 6, 6)"]),
        ("zero height", lambda: f(np.ones((2, 4, 0, 6), np.float32), w), ValueError,
         ["x", "every dimension but the batch", "(2, 4, 0, 6)"]),
        ("zero out channels", lambda: f(x, np.ones((0, 4, 3, 3), np.float32)), ValueError,
         ["weight", "non-empty", "(0, 4, 3, 3)"]),
        ("empty batch, kernel too large", lambda: f(np.ones((0, 4, 2, 2), np.float32), w), ValueError,
         ["weight", "no larger than the padded input (2, 2)", "(3, 3)"]),
        ("out wrong shape", lambda: f(x, w, out=np.empty((2, 8, 6, 6), np.float32)), ValueError,
         ["out", "(2, 8, 4, 4)", "(2, 8, 6, 6)"]),
        ("out wrong dtype", lambda: f(x, w, out=np.empty((2, 8, 4, 4))), TypeError, ["out", "float32", "float64"]),
        ("out read-only", lambda: f(x, w, out=ro), ValueError, ["out", "writable", "read-only"]),
        ("out non-contiguous", lambda: f(x, w, out=np.empty((2, 8, 4, 8), np.float32)[..., ::2]), ValueError,
         ["out", "C-contiguous"]),
        ("out overlapping x", _overlap_call, ValueError, ["conv2d_forward", "out", "overlapping"]),
        ("overflowing padding", lambda: f(x, w, padding=2**62), ValueError, ["padding", "overflow"]),
        ("overflowing dilation", lambda: f(x, w, dilation=2**62), ValueError, ["dilation", "overflow"]),
        ("float stride", lambda: f(x, w, stride=1.5), TypeError, ["conv2d_forward", "stride", "float"]),
        ("backward dy shape", lambda: b(np.ones((2, 8, 5, 5), np.float32), x, w), ValueError,
         ["conv2d_backward", "dy", "(2, 8, 4, 4)", "(2, 8, 5, 5)"]),
        ("backward dx given without compute_dx", lambda: b(dy, x, w, compute_dx=False, dx=np.empty_like(x)),
         ValueError, ["conv2d_backward", "dx", "compute_dx"]),
        ("backward dweight overlapping dx", lambda: _overlap_outputs(dy, x, w), ValueError,
         ["conv2d_backward", "overlapping"]),
        ("backward dbias read-only", lambda: b(dy, x, w, dbias=_readonly(8)), ValueError, ["dbias", "writable"]),
        ("backward dtype mismatch", lambda: b(dy.astype(np.float64), x, w), TypeError, ["dy", "float32", "float64"]),
        ("unknown impl", lambda: f(x, w, impl="cudnn"), ValueError, ["conv2d_forward", "impl", "'naive'", "'cudnn'"]),
    ]


def _readonly(n):
    a = np.ones(n, np.float32)
    a.flags.writeable = False
    return a


def _overlap_call():
    buf = np.ones(2 * 8 * 4 * 4 + 100, np.float32)
    x = buf[:2 * 4 * 6 * 6].reshape(2, 4, 6, 6)
    out = buf[:2 * 8 * 4 * 4].reshape(2, 8, 4, 4)
    return ops.conv2d_forward(x, np.ones((8, 4, 3, 3), np.float32), out=out)


def _overlap_outputs(dy, x, w):
    buf = np.zeros(x.size + w.size, np.float32)
    return ops.conv2d_backward(dy, x, w, dx=buf[:x.size].reshape(x.shape), dweight=buf[10:10 + w.size].reshape(w.shape))


BAD_CALLS = _bad_calls()


@pytest.mark.parametrize("name,call,exc,fragments", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_conv2d_bad_calls(name, call, exc, fragments):
    assert_bad_call(call, exc, *fragments)
