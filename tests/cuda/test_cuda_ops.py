"""Every CUDA op against the CPU op on the same random inputs (marker ``cuda``).

Skipped with the reason where no GPU or no CuPy is present -- which is everywhere this project
has been developed: none of these tests has run on a GPU yet. Per op and CUDA implementation:
the device result equals the CPU result (float32 rtol = atol = 1e-3; float64 1e-9; TF32 2e-2;
exact on small-integer inputs for gemm / linear / conv, TF32 included), two runs are bitwise
equal, dropout masks equal the CPU's bit for bit, and canary values around an ``out=`` view stay
untouched.

``PB_CUDA_SELFCHECK=1`` runs the same tests with NumPy as the "device" (CPU against CPU, every
CPU impl): a check of this file's own plumbing on machines without a GPU.
"""

import os
import re
from dataclasses import dataclass, field

import numpy as np
import pytest

from pybench import _native, ops

from cuda_util import cuda_skip_reason

pytestmark = pytest.mark.cuda
SELFCHECK = os.environ.get("PB_CUDA_SELFCHECK") == "1"


class Dev:
    """The device under test: put/get copy between the host and it; impls lists its impls."""

    def __init__(self, xp, device):
        self.xp, self.device = xp, device

    def put(self, a):
        return self.xp.asarray(a) if isinstance(a, np.ndarray) else a

    def get(self, a):
        if self.xp is np or not hasattr(a, "__cuda_array_interface__"):
            return a
        return self.xp.asnumpy(a)

    def impls(self, op, dtype=None):
        names = ops.impls(op, device=self.device, dtype=dtype)
        if self.device == "cpu":  # the self-check: the CPU's winograd and direct refuse most conv shapes
            names = [n for n in names if n not in ("winograd", "direct")]
        return names

    def sync(self):
        if self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()


@pytest.fixture(scope="module")
def dev():
    if SELFCHECK:
        return Dev(np, "cpu")
    reason = cuda_skip_reason()
    if reason:
        pytest.skip(reason)
    from pybench import arrays

    return Dev(arrays.cupy(), "cuda")


@dataclass
class Case:
    op: str
    make: object            # (rng, dtype) -> list of positional args (arrays on the host, or scalars)
    kwargs: dict = field(default_factory=dict)
    inplace: tuple = ()     # positional args the op updates in place (compared after the call)
    integer: bool = False   # small-integer inputs: results must be exact


def n(rng, dt, *shape):
    return rng.standard_normal(shape).astype(dt)


def small_int(rng, dt, *shape):
    return rng.integers(-8, 9, size=shape).astype(dt)


def labels(rng, N, C):
    return rng.integers(0, C, size=N).astype(np.int64)


ACTS = ["relu", "sigmoid", "tanh", "silu", "hardswish"]
CASES = []
for a in ACTS:
    CASES += [Case(f"{a}_forward", lambda r, d: [n(r, d, 3, 37)]),
              Case(f"{a}_backward", lambda r, d: [n(r, d, 3, 37), n(r, d, 3, 37)])]
CASES += [
    Case("leaky_relu_forward", lambda r, d: [n(r, d, 101), 0.2]),
    Case("leaky_relu_backward", lambda r, d: [n(r, d, 101), n(r, d, 101), 0.2]),
    Case("elu_forward", lambda r, d: [n(r, d, 101), 0.7]),
    Case("elu_backward", lambda r, d: [n(r, d, 101), n(r, d, 101), 0.7]),
    Case("gelu_forward", lambda r, d: [n(r, d, 101)]),
    Case("gelu_forward", lambda r, d: [n(r, d, 101), "tanh"]),
    Case("gelu_backward", lambda r, d: [n(r, d, 101), n(r, d, 101)]),
    Case("gelu_backward", lambda r, d: [n(r, d, 101), n(r, d, 101), "tanh"]),
    Case("softplus_forward", lambda r, d: [n(r, d, 101) * 10, 2.0, 5.0]),
    Case("softplus_backward", lambda r, d: [n(r, d, 101), n(r, d, 101) * 10, 2.0, 5.0]),
    Case("softmax_forward", lambda r, d: [n(r, d, 7, 45)]),
    Case("log_softmax_forward", lambda r, d: [n(r, d, 7, 1000)]),
    Case("softmax_backward", lambda r, d: [n(r, d, 5, 33), ops.softmax_forward(n(r, d, 5, 33))]),
    Case("log_softmax_backward", lambda r, d: [n(r, d, 5, 33), ops.log_softmax_forward(n(r, d, 5, 33))]),
    Case("gemm", lambda r, d: [n(r, d, 37, 19), n(r, d, 19, 70)]),
    Case("gemm", lambda r, d: [n(r, d, 19, 37), n(r, d, 70, 19)], {"trans_a": True, "trans_b": True, "alpha": 0.5}),
    Case("gemm", lambda r, d: [small_int(r, d, 65, 33), small_int(r, d, 67, 33)], {"trans_b": True}, integer=True),
    Case("linear_forward", lambda r, d: [n(r, d, 9, 20), n(r, d, 13, 20), n(r, d, 13)]),
    Case("linear_forward", lambda r, d: [small_int(r, d, 9, 20), small_int(r, d, 13, 20), small_int(r, d, 13)],
         integer=True),
    Case("linear_backward", lambda r, d: [n(r, d, 9, 13), n(r, d, 9, 20), n(r, d, 13, 20)]),
    Case("linear_backward", lambda r, d: [small_int(r, d, 9, 13), small_int(r, d, 9, 20), small_int(r, d, 13, 20)],
         integer=True),
    Case("conv2d_forward", lambda r, d: [n(r, d, 2, 4, 9, 8), n(r, d, 6, 2, 3, 3), n(r, d, 6), 2, 1, 1, 2]),
    Case("conv2d_forward", lambda r, d: [small_int(r, d, 2, 3, 7, 7), small_int(r, d, 5, 3, 3, 2), None, 1, (1, 0), 2],
         integer=True),
    Case("conv2d_backward", lambda r, d: [n(r, d, 2, 6, 5, 4), n(r, d, 2, 4, 9, 8), n(r, d, 6, 2, 3, 3), 2, 1, 1, 2]),
    Case("conv2d_backward", lambda r, d: [small_int(r, d, 2, 5, 5, 5), small_int(r, d, 2, 3, 7, 7),
                                          small_int(r, d, 5, 3, 3, 2), 1, (1, 0), 2], integer=True),
    Case("max_pool2d_forward", lambda r, d: [n(r, d, 2, 3, 9, 8), 3, 2, 1]),
    Case("max_pool2d_backward", lambda r, d: [n(r, d, 2, 3, 5, 4)] +
         [ops.max_pool2d_forward(n(r, d, 2, 3, 9, 8), 3, 2, 1)[1], (2, 3, 9, 8)]),
    Case("avg_pool2d_forward", lambda r, d: [n(r, d, 2, 3, 9, 8), 3, 2, 1, False]),
    Case("avg_pool2d_backward", lambda r, d: [n(r, d, 2, 3, 5, 4), (2, 3, 9, 8), 3, 2, 1, True]),
    Case("global_avg_pool2d_forward", lambda r, d: [n(r, d, 2, 3, 9, 8)]),
    Case("global_avg_pool2d_backward", lambda r, d: [n(r, d, 2, 3), (2, 3, 9, 8)]),
    Case("batch_norm_forward", lambda r, d: [n(r, d, 6, 4, 5, 3) + 3, n(r, d, 4), n(r, d, 4), n(r, d, 4),
                                             np.abs(n(r, d, 4)) + 0.5], inplace=(3, 4)),
    Case("batch_norm_forward", lambda r, d: [n(r, d, 6, 4), None, None, n(r, d, 4), np.abs(n(r, d, 4)) + 0.5, False]),
    Case("batch_norm_backward", lambda r, d: [n(r, d, 6, 4, 5, 3), n(r, d, 6, 4, 5, 3), n(r, d, 4), n(r, d, 4),
                                              np.abs(n(r, d, 4)) + 0.5]),
    Case("batch_norm_backward", lambda r, d: [n(r, d, 6, 4), n(r, d, 6, 4), None, n(r, d, 4),
                                              np.abs(n(r, d, 4)) + 0.5, False]),
    Case("cross_entropy_forward", lambda r, d: [n(r, d, 9, 40) * 5, labels(r, 9, 40)]),
    Case("cross_entropy_backward", lambda r, d: [n(r, d, 9, 40) * 5, labels(r, 9, 40)], {"grad": 0.5}),
    Case("mse_forward", lambda r, d: [n(r, d, 3, 50), n(r, d, 3, 50)]),
    Case("mse_backward", lambda r, d: [n(r, d, 3, 50), n(r, d, 3, 50)], {"grad": 2.0}),
    Case("huber_forward", lambda r, d: [n(r, d, 3, 50) * 2, n(r, d, 3, 50), 0.7]),
    Case("huber_backward", lambda r, d: [n(r, d, 3, 50) * 2, n(r, d, 3, 50), 0.7]),
    Case("bce_with_logits_forward", lambda r, d: [n(r, d, 77) * 4, (n(r, d, 77) > 0).astype(d)]),
    Case("bce_with_logits_backward", lambda r, d: [n(r, d, 77) * 4, (n(r, d, 77) > 0).astype(d)]),
    Case("dropout_forward", lambda r, d: [n(r, d, 3, 41), 0.3, 7, 5]),
    Case("dropout_forward", lambda r, d: [n(r, d, 3, 41), 0.3, 7, 5, False]),
    Case("dropout_backward", lambda r, d: [n(r, d, 3, 41), 0.6, 2**40 + 3, 2**33 + 1]),
    Case("sgd_step", lambda r, d: [n(r, d, 50), n(r, d, 50), n(r, d, 50)],
         {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01, "step": 3}, inplace=(0, 2)),
    Case("adagrad_step", lambda r, d: [n(r, d, 50), n(r, d, 50), np.abs(n(r, d, 50))],
         {"step": 4, "lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}, inplace=(0, 2)),
    Case("rmsprop_step", lambda r, d: [n(r, d, 50), n(r, d, 50), np.abs(n(r, d, 50)), n(r, d, 50), n(r, d, 50) * 0.1],
         {"momentum": 0.9, "centered": True, "weight_decay": 0.1}, inplace=(0, 2, 3, 4)),
    Case("adam_step", lambda r, d: [n(r, d, 50), n(r, d, 50), n(r, d, 50), np.abs(n(r, d, 50))],
         {"step": 5, "weight_decay": 0.1}, inplace=(0, 2, 3)),
    Case("adamw_step", lambda r, d: [n(r, d, 50), n(r, d, 50), n(r, d, 50), np.abs(n(r, d, 50))],
         {"step": 5}, inplace=(0, 2, 3)),
]
CASE_IDS = [f"{c.op}-{i}" for i, c in enumerate(CASES)]
DTYPES = [np.float32, np.float64]


def impl_ids(dev, op):
    return dev.impls(op)


def run(dev_or_none, case, dtype, impl):
    """The case's results as host arrays / floats: on the CPU with the default impl when
    dev_or_none is None, else on the device with `impl`."""
    rng = np.random.default_rng(1234)
    args = case.make(rng, dtype)
    put = (lambda a: a) if dev_or_none is None else dev_or_none.put
    get = (lambda a: a) if dev_or_none is None else dev_or_none.get
    dargs = [put(a) for a in args]
    out = getattr(ops, case.op)(*dargs, **case.kwargs, impl=None if dev_or_none is None else impl)
    outs = list(out) if isinstance(out, tuple) else ([] if out is None else [out])
    outs += [dargs[i] for i in case.inplace]
    return [None if o is None else (float(o) if isinstance(o, float) else np.array(get(o))) for o in outs]


def tolerance(case, dtype, impl):
    if case.integer:
        return 0.0, 0.0
    if impl == "tf32":
        return 2e-2, 2e-2
    return (1e-3, 1e-3) if dtype == np.float32 else (1e-9, 1e-9)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_device_matches_cpu_and_repeats_bitwise(dev, case, dtype):
    expected = run(None, case, dtype, None)
    for impl in dev.impls(case.op, dtype):  # tf32: float32 only
        got = run(dev, case, dtype, impl)
        again = run(dev, case, dtype, impl)
        rtol, atol = tolerance(case, dtype, impl)
        assert len(got) == len(expected), (case.op, impl)
        for k, (g, e, g2) in enumerate(zip(got, expected, again)):
            if e is None:
                assert g is None, (case.op, impl, k)
                continue
            if isinstance(e, float):
                assert g == pytest.approx(e, rel=rtol, abs=atol), (case.op, impl, k)
                assert g == g2, (case.op, impl, k, "two runs differ")
                continue
            assert g.dtype == e.dtype and g.shape == e.shape, (case.op, impl, k)
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"{case.op} impl={impl} output {k}")
            assert g.tobytes() == g2.tobytes(), f"{case.op} impl={impl} output {k}: two runs differ"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape, p, seed, offset", [
    ((1,), 0.5, 0, 0), ((7,), 0.5, 1, 3), ((3, 41), 0.3, 7, 5), ((1000,), 0.9, 2**63 + 5, 2**40 + 2),
    ((5, 5, 5), 0.0, 3, 1), ((6,), 1.0, 3, 1),
])
def test_dropout_mask_equals_cpu(dev, dtype, shape, p, seed, offset):
    mask = ops.dropout_mask(shape, p, seed, offset).astype(bool)
    x = np.ones(shape, dtype)
    for impl in dev.impls("dropout_forward"):
        y = np.array(dev.get(ops.dropout_forward(dev.put(x), p, seed, offset, impl=impl)))
        np.testing.assert_array_equal(y != 0, mask, err_msg=f"impl={impl}")
        cpu = ops.dropout_forward(x, p, seed, offset)
        assert y.tobytes() == cpu.tobytes(), f"impl={impl}: kept values differ from the CPU's"


# The ops taking out=: pybind11 writes each signature as the first line of the docstring.
OUT_CASES = [c for c in CASES if re.search(r"\bout: ", getattr(ops, c.op).__doc__.split("\n", 1)[0])
             and c.op not in ("max_pool2d_forward",) and not c.inplace]
PAD = 64
CANARY = 1234.5


@pytest.mark.parametrize("case", OUT_CASES, ids=[c.op for c in OUT_CASES])
def test_canaries_around_out_untouched(dev, case):
    dtype = np.float32
    expected = run(None, case, dtype, None)[0]
    for impl in dev.impls(case.op):
        rng = np.random.default_rng(1234)
        args = [dev.put(a) for a in case.make(rng, dtype)]
        buf = dev.put(np.full(expected.size + 2 * PAD, CANARY, dtype))
        out = buf[PAD:PAD + expected.size].reshape(expected.shape)
        getattr(ops, case.op)(*args, **case.kwargs, out=out, impl=impl)
        host = np.array(dev.get(buf))
        assert (host[:PAD] == CANARY).all() and (host[-PAD:] == CANARY).all(), f"{case.op} impl={impl} wrote outside out"
        rtol, atol = tolerance(case, dtype, impl)
        np.testing.assert_allclose(host[PAD:-PAD].reshape(expected.shape), expected, rtol=rtol, atol=atol)


def test_copy_matches(dev):
    x = np.random.default_rng(0).standard_normal((3, 1001)).astype(np.float32)
    for impl in dev.impls("copy"):
        y = np.array(dev.get(_native.copy(dev.put(x), impl=impl)))
        assert y.tobytes() == x.tobytes()


def test_cross_entropy_bad_label_is_value_error(dev):
    logits = dev.put(np.zeros((3, 4), np.float32))
    bad = dev.put(np.array([0, 4, 1], np.int64))
    with pytest.raises(ValueError, match=r"cross_entropy_forward: labels: expected class indices in \[0, 4\), got 4 at position 1"):
        ops.cross_entropy_forward(logits, bad)


def test_outputs_stay_on_the_device(dev):
    x = dev.put(np.ones((2, 3), np.float32))
    y = ops.relu_forward(x)
    assert type(y) is type(x)
    y, idx = ops.max_pool2d_forward(dev.put(np.ones((1, 1, 4, 4), np.float32)), 2)
    assert type(idx) is type(x) and np.dtype(idx.dtype) == np.int64
