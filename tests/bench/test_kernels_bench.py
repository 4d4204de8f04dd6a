"""pytest-benchmark timings of the native kernels: a few shapes per op family.

Run: `PYTHONPATH=. python -m pytest tests/bench --benchmark-only --benchmark-json OUT.json`.
Each benchmark checks its output against pybench.reference once (float64 oracle) before it is
timed, and names its kernel `<family>[<shape>]` in extra_info["kernel"] (read back by
pybench.bench.pytest_json.load). Shapes are small enough for the whole suite to take about a
minute on 2 cores.
"""

import numpy as np
import pytest

from pybench import ops, reference as R
from util import assert_close


def _rng(*key):
    return np.random.default_rng(abs(hash(key)) % (2**32))


def _x(shape, *key, scale=1.0):
    return (_rng(shape, *key).standard_normal(shape) * scale).astype(np.float32)


def _f64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def _name(benchmark, family, shape_id):
    benchmark.extra_info["kernel"] = f"{family}[{shape_id}]"
    benchmark.group = family


def _gemm_close(actual, expected):
    # sums of K products: error scales with max|C| (as pybench bench's TOL_GEMM)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


GEMM = [(512, 512, 512), (1024, 1024, 1024), (1760, 128, 1760), (35, 2048, 2560)]


@pytest.mark.parametrize("m,n,k", GEMM, ids=[f"{m}x{n}x{k}" for m, n, k in GEMM])
def test_gemm(benchmark, m, n, k):
    _name(benchmark, "gemm", f"{m}x{n}x{k}")
    a, b = _x((m, k), "a"), _x((k, n), "b")
    c = np.empty((m, n), np.float32)
    ops.gemm(a, b, out=c)
    _gemm_close(c, R.gemm(*_f64(a, b)))
    benchmark(ops.gemm, a, b, out=c)


LINEAR = [(128, 784, 512), (128, 512, 512), (512, 1024, 1024)]


@pytest.mark.parametrize("n,i,o", LINEAR, ids=[f"N{n} {i}->{o}" for n, i, o in LINEAR])
def test_linear_fwd_bwd(benchmark, n, i, o):
    _name(benchmark, "linear_fwd_bwd", f"N{n} {i}->{o}")
    x, w, b, dy = _x((n, i), "x"), _x((o, i), "w", scale=i**-0.5), _x((o,), "b"), _x((n, o), "dy")
    y, dx, dw, db = (np.empty((n, o), np.float32), np.empty_like(x), np.empty_like(w), np.empty_like(b))

    def step():
        ops.linear_forward(x, w, b, out=y)
        ops.linear_backward(dy, x, w, dx=dx, dweight=dw, dbias=db)

    step()
    x64, w64, b64, dy64 = _f64(x, w, b, dy)
    _gemm_close(y, R.linear_forward(x64, w64, b64))
    for got, want in zip((dx, dw, db), R.linear_backward(dy64, x64, w64)):
        _gemm_close(got, want)
    benchmark(step)


CONV = [(8, 64, 64, 56, 3, 1, 1), (8, 256, 64, 56, 1, 1, 0), (8, 128, 128, 28, 3, 2, 1), (32, 16, 32, 14, 3, 1, 1)]


@pytest.mark.parametrize("n,c,o,h,k,s,p", CONV, ids=[f"N{n} {c}->{o} {h}x{h} k{k} s{s} p{p}" for n, c, o, h, k, s, p
                                                      in CONV])
def test_conv2d_fwd_bwd(benchmark, n, c, o, h, k, s, p):
    _name(benchmark, "conv2d_fwd_bwd", f"N{n} {c}->{o} {h}x{h} k{k} s{s} p{p}")
    ho = (h + 2 * p - k) // s + 1
    x, w, b = _x((n, c, h, h), "x"), _x((o, c, k, k), "w", scale=(c * k * k) ** -0.5), _x((o,), "b")
    dy = _x((n, o, ho, ho), "dy")
    y, dx, dw, db = np.empty_like(dy), np.empty_like(x), np.empty_like(w), np.empty_like(b)

    def step():
        ops.conv2d_forward(x, w, b, stride=s, padding=p, out=y)
        ops.conv2d_backward(dy, x, w, stride=s, padding=p, dx=dx, dweight=dw, dbias=db)

    step()
    # the float64 oracle on the first image only (batch items are independent in y and dx; dW, db
    # sum over the batch, so they are checked on a batch-1 run of ours)
    x1, dy1 = x[:1], dy[:1]
    ry = R.conv2d_forward(*_f64(x1, w, b), stride=s, padding=p)
    rdx, rdw, rdb = R.conv2d_backward(*_f64(dy1, x1, w), stride=s, padding=p)
    _gemm_close(y[:1], ry)
    _gemm_close(dx[:1], rdx)
    _, dw1, db1 = ops.conv2d_backward(dy1, x1, w, stride=s, padding=p)
    _gemm_close(dw1, rdw)
    _gemm_close(db1, rdb)
    benchmark(step)


POOL = [(32, 64, 56, 3, 2, 1), (64, 32, 28, 2, 2, 0)]
POOL_IDS = [f"N{n} C{c} {h}x{h} k{k} s{s} p{p}" for n, c, h, k, s, p in POOL]


@pytest.mark.parametrize("n,c,h,k,s,p", POOL, ids=POOL_IDS)
def test_max_pool2d_fwd_bwd(benchmark, n, c, h, k, s, p):
    _name(benchmark, "max_pool2d_fwd_bwd", f"N{n} C{c} {h}x{h} k{k} s{s} p{p}")
    x = _x((n, c, h, h), "x")
    y, idx = ops.max_pool2d_forward(x, k, s, p)
    dy = _x(y.shape, "dy")
    dx = np.empty_like(x)

    def step():
        ops.max_pool2d_forward(x, k, s, p, out=y, indices=idx)
        ops.max_pool2d_backward(dy, idx, x.shape, out=dx)

    step()
    ry, ridx = R.max_pool2d_forward(x.astype(np.float64), k, s, p)
    np.testing.assert_array_equal(y, ry.astype(np.float32))
    np.testing.assert_array_equal(idx, ridx)
    assert_close(dx, R.max_pool2d_backward(dy.astype(np.float64), ridx, x.shape), np.float32)
    benchmark(step)


@pytest.mark.parametrize("n,c,h,k,s,p", POOL, ids=POOL_IDS)
def test_avg_pool2d_fwd_bwd(benchmark, n, c, h, k, s, p):
    _name(benchmark, "avg_pool2d_fwd_bwd", f"N{n} C{c} {h}x{h} k{k} s{s} p{p}")
    x = _x((n, c, h, h), "x")
    y = ops.avg_pool2d_forward(x, k, s, p)
    dy = _x(y.shape, "dy")
    dx = np.empty_like(x)

    def step():
        ops.avg_pool2d_forward(x, k, s, p, out=y)
        ops.avg_pool2d_backward(dy, x.shape, k, s, p, out=dx)

    step()
    assert_close(y, R.avg_pool2d_forward(x.astype(np.float64), k, s, p), np.float32)
    assert_close(dx, R.avg_pool2d_backward(dy.astype(np.float64), x.shape, k, s, p), np.float32)
    benchmark(step)


BN = [(32, 64, 56, 56), (128, 512)]


@pytest.mark.parametrize("shape", BN, ids=["x".join(map(str, s)) for s in BN])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_batch_norm(benchmark, shape, direction):
    sid = "x".join(map(str, shape))
    _name(benchmark, f"batch_norm_{direction}", sid)
    c = shape[1]
    x, w, b = _x(shape, "x"), 1 + _x((c,), "w", scale=0.1), _x((c,), "b", scale=0.1)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    tol = dict(rtol=1e-4, atol=1e-4)
    if direction == "forward":
        y = np.empty_like(x)
        _, mean, invstd = ops.batch_norm_forward(x, w, b, rm.copy(), rv.copy(), out=y)
        ry, rmean, rinv = R.batch_norm_forward(*_f64(x, w, b, rm, rv))
        assert_close(y, ry, np.float32, **tol)
        assert_close(mean, rmean, np.float32, **tol)
        benchmark(ops.batch_norm_forward, x, w, b, rm, rv, out=y)
        return
    dy = _x(shape, "dy")
    _, mean, invstd = ops.batch_norm_forward(x, w, b, None, None)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    ops.batch_norm_backward(dy, x, w, mean, invstd, dx=dx, dweight=dw, dbias=db)
    rdx, rdw, rdb = R.batch_norm_backward(*_f64(dy, x, w, mean, invstd))
    assert_close(dx, rdx, np.float32, **tol)
    m = x.size // c
    assert_close(dw, rdw, np.float32, rtol=1e-4, atol=1e-4 * m**0.5)
    assert_close(db, rdb, np.float32, rtol=1e-4, atol=1e-4 * m**0.5)
    benchmark(ops.batch_norm_backward, dy, x, w, mean, invstd, dx=dx, dweight=dw, dbias=db)


ACT_N = 1 << 20
ACTS = [("relu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("softmax", {})]


@pytest.mark.parametrize("name,params", ACTS, ids=[a for a, _ in ACTS])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_activation(benchmark, name, params, direction):
    shape = (ACT_N // 1024, 1024)
    _name(benchmark, f"{name}_{direction}", str(ACT_N))
    x, dy = _x(shape, "x"), _x(shape, "dy")
    out = np.empty_like(x)
    if direction == "forward":
        f, args, ref = getattr(ops, f"{name}_forward"), (x,), R.__dict__[f"{name}_forward"](x.astype(np.float64),
                                                                                            **params)
    else:
        second = getattr(ops, f"{name}_forward")(x, **params) if name == "softmax" else x  # softmax: takes y
        f, args = getattr(ops, f"{name}_backward"), (dy, second)
        ref = R.__dict__[f"{name}_backward"](*_f64(dy, second), **params)
    f(*args, out=out, **params)
    assert_close(out, ref, np.float32)
    benchmark(f, *args, out=out, **params)


@pytest.mark.parametrize("n", [1 << 20, 1 << 22], ids=str)
def test_dropout_forward(benchmark, n):
    _name(benchmark, "dropout_forward", str(n))
    x = _x((n,), "x")
    out = np.empty_like(x)
    ops.dropout_forward(x, p=0.5, seed=3, out=out)
    np.testing.assert_array_equal(out, R.dropout_forward(x, p=0.5, seed=3))
    benchmark(ops.dropout_forward, x, p=0.5, seed=3, out=out)


@pytest.mark.parametrize("n", [1 << 20, 1 << 22], ids=str)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_optimizer_step(benchmark, opt, n):
    _name(benchmark, f"{opt}_step", str(n))
    p, g, s1, s2 = _x((n,), "p"), _x((n,), "g"), np.abs(_x((n,), "s1")), np.abs(_x((n,), "s2"))
    if opt == "sgd":
        kw = dict(lr=0.01, momentum=0.9, weight_decay=1e-4, step=2)
        f, args = ops.sgd_step, lambda: (p, g, s1)
        ref_state = [a.astype(np.float64) for a in (p, g, s1)]
        R.sgd_step(*ref_state, **kw)
    else:
        kw = dict(step=3, lr=1e-3, weight_decay=1e-4)
        f, args = ops.adam_step, lambda: (p, g, s1, s2)
        ref_state = [a.astype(np.float64) for a in (p, g, s1, s2)]
        R.adam_step(*ref_state, **kw)
    f(*args(), **kw)
    for got, want in zip(args(), ref_state):
        assert_close(got, want, np.float32)
    benchmark(f, *args(), **kw)
