"""Optimizer updates: 100 steps of every config x impl x ISA level vs pybench.reference (float32 and
float64), the same against torch.optim where torch is importable, determinism, PyTorch's
first-step rules, and a bad-call table."""

import numpy as np
import pytest

from pybench import _native, ops, reference as ref
from util import assert_bad_call

DTYPES = [np.float32, np.float64]
STEPS = 100
SHAPE = (37, 29)  # 1073 elements: not a multiple of any SIMD width

# Tolerances after 100 steps. float64: rounding-order differences only (measured <= 4e-16 of
# max|x|, <= 4e-13 element-relative where an entry crosses zero). float32: FMA contraction and
# operation grouping differ between ISA builds, NumPy and ATen; measured <= 2.3e-7 of max|x| over
# 100 steps against both the reference and torch.optim -> allow 2e-6 of max|x| (about 10x) plus rtol 1e-5.
TOL = {np.float64: dict(rtol=1e-12, atol_scale=1e-13), np.float32: dict(rtol=1e-5, atol_scale=2e-6)}

# state arrays each optimizer takes (by keyword), in the order the ops take them
STATE = {
    "sgd": ["momentum_buf"],
    "adagrad": ["state_sum"],
    "rmsprop": ["square_avg", "momentum_buf", "grad_avg"],
    "adam": ["exp_avg", "exp_avg_sq"],
    "adamw": ["exp_avg", "exp_avg_sq"],
}
TAKES_STEP = {"sgd", "adagrad", "adam", "adamw"}

CONFIGS = [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.02)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, eps=1e-6)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, momentum=0.8)),
    ("rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01, eps=1e-6)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, betas=(0.3, 0.99), weight_decay=0.05)),  # beta1 < 0.5: lerp's other form
    ("adamw", dict(lr=0.01)),
    ("adamw", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, eps=1e-6)),
]
CONFIG_IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]


def _problem(dtype, shape=SHAPE, seed=7):
    """Initial param and a deterministic gradient sequence (independent of the trajectory)."""
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(shape)
    grads = rng.standard_normal((STEPS,) + shape) + 0.3 * np.sin(np.arange(STEPS)).reshape((STEPS,) + (1,) * len(shape))
    return p0.astype(dtype), grads.astype(dtype)


def _run(fn, name, kw, p0, grads, impl=None):
    p = p0.copy()
    state = {k: np.zeros_like(p) for k in STATE[name]}
    extra = {} if impl is None else {"impl": impl}
    for s, g in enumerate(grads, start=1):
        step = {"step": s} if name in TAKES_STEP else {}
        assert fn(p, g, **state, **kw, **step, **extra) is None
    return p, state


def _close(actual, expected, dtype, what):
    t = TOL[dtype]
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=t["rtol"], atol=t["atol_scale"] * scale, err_msg=what)


# ---------------------------------------------------------------------------------------------
# vs reference: every config x impl x ISA level x dtype; no torch needed


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", CONFIGS, ids=CONFIG_IDS)
def test_100_steps_match_reference(isa, name, kw, dtype):
    p0, grads = _problem(dtype)
    p_ref, s_ref = _run(getattr(ref, f"{name}_step"), name, kw, p0, grads)
    assert not np.allclose(p_ref, p0)  # the test moves the parameters
    for impl in ops.impls(f"{name}_step"):
        p, s = _run(getattr(ops, f"{name}_step"), name, kw, p0, grads, impl=impl)
        assert p.dtype == dtype
        _close(p, p_ref, dtype, f"{impl} param")
        for k in STATE[name]:
            _close(s[k], s_ref[k], dtype, f"{impl} {k}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", CONFIGS, ids=CONFIG_IDS)
def test_zero_size_param_is_a_no_op(isa, name, kw, dtype):
    """An empty parameter (as torch.optim): every check still runs, nothing is written."""
    for shape in [(0,), (3, 0)]:
        for impl in ops.impls(f"{name}_step"):
            p, s = _run(getattr(ops, f"{name}_step"), name, kw, np.zeros(shape, dtype), np.zeros((2,) + shape, dtype),
                        impl=impl)
            assert p.shape == shape and p.dtype == dtype and all(v.shape == shape for v in s.values())


THREADED = [CONFIGS[4], CONFIGS[6], CONFIGS[10], CONFIGS[12], CONFIGS[14]]


@pytest.mark.parametrize("name,kw", THREADED, ids=[CONFIG_IDS[CONFIGS.index(c)] for c in THREADED])
def test_threaded_size_matches_reference(name, kw):
    # 70001 elements: above the threading grain (several slices), odd length.
    p0, grads = _problem(np.float64, shape=(70_001,), seed=3)
    grads = grads[:5]
    p_ref, s_ref = _run(getattr(ref, f"{name}_step"), name, kw, p0, grads)
    p, s = _run(getattr(ops, f"{name}_step"), name, kw, p0, grads)
    _close(p, p_ref, np.float64, "param")
    for k in STATE[name]:
        _close(s[k], s_ref[k], np.float64, k)


# ---------------------------------------------------------------------------------------------
# vs torch.optim (single-tensor algorithms), where torch is importable

TORCH = {
    "sgd": ("SGD", {"momentum_buf": "momentum_buffer"}),
    "adagrad": ("Adagrad", {"state_sum": "sum"}),
    "rmsprop": ("RMSprop", {"square_avg": "square_avg", "momentum_buf": "momentum_buffer", "grad_avg": "grad_avg"}),
    "adam": ("Adam", {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}),
    "adamw": ("AdamW", {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", CONFIGS, ids=CONFIG_IDS)
def test_100_steps_match_torch_optim(name, kw, dtype):
    torch = pytest.importorskip("torch")
    p0, grads = _problem(dtype)
    cls, state_names = TORCH[name]
    tp = torch.tensor(p0.copy())
    opt = getattr(torch.optim, cls)([tp], foreach=False, **kw)
    for g in grads:
        tp.grad = torch.tensor(g)
        opt.step()
    p, s = _run(getattr(ops, f"{name}_step"), name, kw, p0, grads)
    _close(p, tp.numpy(), dtype, "param vs torch")
    tstate = opt.state[tp]
    checked = 0
    for k in STATE[name]:
        if state_names[k] in tstate and tstate[state_names[k]] is not None:
            _close(s[k], tstate[state_names[k]].numpy(), dtype, f"{k} vs torch")
            checked += 1
    assert checked >= 1 or name == "sgd" and not kw.get("momentum")


# ---------------------------------------------------------------------------------------------
# semantics PyTorch fixes


def test_sgd_first_step_initializes_buffer_to_grad():
    p = np.array([1.0, 2.0, 3.0])
    g = np.array([0.5, -1.0, 2.0])
    buf = np.full(3, 123.0)  # garbage: step 1 must overwrite, not read it
    ops.sgd_step(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1, step=1)
    g_wd = g + 0.1 * np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(buf, g_wd)  # no dampening on the first step (as PyTorch)
    np.testing.assert_allclose(p, np.array([1.0, 2.0, 3.0]) - 0.1 * g_wd, rtol=1e-15)
    ops.sgd_step(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5, step=2)
    np.testing.assert_allclose(buf, 0.9 * g_wd + 0.5 * g, rtol=1e-15)


def test_unused_state_is_ignored_and_untouched():
    p, g = np.ones(5), np.full(5, 0.5)
    buf = np.full(5, 7.0)
    ops.sgd_step(p, g, buf, lr=0.1)  # momentum 0: the buffer is not used
    np.testing.assert_array_equal(buf, 7.0)
    np.testing.assert_allclose(p, 0.95)
    sq, mb, ga = np.zeros(5), np.full(5, 7.0), np.full(5, 7.0)
    ops.rmsprop_step(p, g, sq, mb, ga)  # momentum 0, not centered
    np.testing.assert_array_equal(mb, 7.0)
    np.testing.assert_array_equal(ga, 7.0)


def test_adam_first_step_moves_each_entry_by_lr():
    # With zero state, step 1 of Adam gives |update| = lr * |g| / (|g| + eps) ~ lr.
    p = np.zeros(4)
    g = np.array([1e-3, -2.0, 5.0, -7e2])
    m, v = np.zeros(4), np.zeros(4)
    ops.adam_step(p, g, m, v, step=1, lr=0.01, eps=0.0)
    np.testing.assert_allclose(p, -0.01 * np.sign(g), rtol=1e-14)


def test_nan_grad_propagates():
    p, g = np.ones(3), np.array([0.1, np.nan, 0.2])
    m, v = np.zeros(3), np.zeros(3)
    ops.adam_step(p, g, m, v, step=1)
    assert np.isnan(p[1]) and np.isfinite(p[[0, 2]]).all()


# ---------------------------------------------------------------------------------------------
# determinism


@pytest.mark.parametrize("name,kw", THREADED, ids=[CONFIG_IDS[CONFIGS.index(c)] for c in THREADED])
def test_bitwise_deterministic_across_calls_and_threads(name, kw):
    p0, grads = _problem(np.float32, shape=(70_001,), seed=5)
    grads = grads[:4]
    before = _native.get_num_threads()
    try:
        runs = []
        for threads in (before, before, 1):
            _native.set_num_threads(threads)
            p, s = _run(getattr(ops, f"{name}_step"), name, kw, p0, grads)
            runs.append([p.tobytes()] + [s[k].tobytes() for k in STATE[name]])
    finally:
        _native.set_num_threads(before)
    assert runs[0] == runs[1] == runs[2]


# ---------------------------------------------------------------------------------------------
# bad calls


def _arrs(n=3, dtype=np.float64, shape=(4, 5)):
    return [np.zeros(shape, dtype) for _ in range(n)]


def _readonly(a):
    a.flags.writeable = False
    return a


def _sgd(**kw):
    p, g, b = _arrs()
    args = dict(lr=0.1)
    args.update(kw)
    return lambda: ops.sgd_step(p, g, b, **args)


def _adam(op="adam_step", **kw):
    p, g, m, v = _arrs(4)
    args = dict(step=1)
    args.update(kw)
    return lambda: getattr(ops, op)(p, g, m, v, **args)


_P, _G, _S = _arrs()
_big = np.zeros(40)

BAD_CALLS = [
    (_sgd(lr=-0.1), ValueError, ["sgd_step", "lr", ">= 0", "-0.1"]),
    (_sgd(lr=float("inf")), ValueError, ["sgd_step", "lr", "finite", "inf"]),
    (_sgd(momentum=-0.5), ValueError, ["sgd_step", "momentum", ">= 0", "-0.5"]),
    (_sgd(nesterov=True), ValueError, ["sgd_step", "nesterov", "momentum > 0 and dampening == 0", "momentum=0"]),
    (_sgd(nesterov=True, momentum=0.9, dampening=0.1), ValueError, ["sgd_step", "nesterov", "dampening=0.1"]),
    (_sgd(weight_decay=-1.0), ValueError, ["sgd_step", "weight_decay", ">= 0", "-1"]),
    (_sgd(step=0, momentum=0.9), ValueError, ["sgd_step", "step", ">= 1", "got 0"]),
    (lambda: ops.sgd_step(_P.copy(), _G, lr=0.1, momentum=0.9, step=2), ValueError,
     ["sgd_step", "momentum_buf", "required when momentum != 0", "None"]),
    (lambda: ops.sgd_step(_P.copy(), _G, _readonly(np.zeros((4, 5))), lr=0.1, momentum=0.9), ValueError,
     ["sgd_step", "momentum_buf", "writable", "read-only"]),
    (lambda: ops.sgd_step(_readonly(np.zeros((4, 5))), _G, lr=0.1), ValueError, ["sgd_step", "param", "writable", "read-only"]),
    (lambda: ops.sgd_step(_big[:20].reshape(4, 5), _big[10:30].reshape(4, 5), lr=0.1), ValueError,
     ["sgd_step", "param", "overlapping"]),
    (lambda: ops.sgd_step(p := np.zeros((4, 5)), _G, p, lr=0.1, momentum=0.9), ValueError,
     ["sgd_step", "momentum_buf", "not shared", "overlapping"]),
    (lambda: ops.sgd_step(_P.copy(), np.zeros((5, 4)), lr=0.1), ValueError, ["sgd_step", "grad", "(4, 5)", "(5, 4)"]),
    (lambda: ops.sgd_step(_P.copy(), np.zeros((4, 5), np.float32), lr=0.1), TypeError, ["sgd_step", "grad", "float64", "float32"]),
    (lambda: ops.sgd_step(np.zeros((4, 5), np.int64), np.zeros((4, 5), np.int64), lr=0.1), TypeError,
     ["sgd_step", "param", "float32 or float64", "int64"]),
    # an empty param is still checked like any other
    (lambda: ops.sgd_step(np.zeros((0, 5)), np.zeros((0, 4)), lr=0.1), ValueError, ["sgd_step", "grad", "(0, 5)", "(0, 4)"]),
    (lambda: ops.adam_step(np.zeros(0), np.zeros(0), np.zeros(0), None, step=1), ValueError,
     ["adam_step", "exp_avg_sq", "an array", "None"]),
    (lambda: ops.sgd_step(np.zeros(0), np.zeros(0), lr=-1.0), ValueError, ["sgd_step", "lr", ">= 0", "-1"]),
    (lambda: ops.sgd_step(np.zeros((4, 10))[:, ::2], _G, lr=0.1), ValueError, ["sgd_step", "param", "C-contiguous"]),
    (lambda: ops.sgd_step(_P.copy(), _G, lr=0.1, step=1.5), TypeError, ["sgd_step", "step", "int", "float"]),
    (lambda: ops.adagrad_step(_P.copy(), _G, np.zeros((4, 5), np.float32), step=1), TypeError,
     ["adagrad_step", "state_sum", "float64", "float32"]),
    (lambda: ops.adagrad_step(_P.copy(), _G, np.zeros((20,)), step=1), ValueError, ["adagrad_step", "state_sum", "(4, 5)", "(20,)"]),
    (lambda: ops.adagrad_step(_P.copy(), _G, np.zeros((4, 5)), step=1, lr_decay=-0.1), ValueError, ["adagrad_step", "lr_decay", ">= 0"]),
    (lambda: ops.adagrad_step(_P.copy(), _G, np.zeros((4, 5)), step=1, eps=-1e-10), ValueError, ["adagrad_step", "eps", ">= 0"]),
    (lambda: ops.rmsprop_step(_P.copy(), _G, np.zeros((4, 5)), centered=True), ValueError,
     ["rmsprop_step", "grad_avg", "required when centered=True", "None"]),
    (lambda: ops.rmsprop_step(_P.copy(), _G, np.zeros((4, 5)), momentum=0.9), ValueError,
     ["rmsprop_step", "momentum_buf", "required when momentum > 0", "None"]),
    (lambda: ops.rmsprop_step(_P.copy(), _G, np.zeros((4, 5)), alpha=1.5), ValueError, ["rmsprop_step", "alpha", "[0, 1]", "1.5"]),
    (lambda: ops.rmsprop_step(_P.copy(), _G, sq := np.zeros((4, 5)), sq, momentum=0.9), ValueError,
     ["rmsprop_step", "momentum_buf", "not shared", "overlapping"]),
    (_adam(betas=(1.0, 0.999)), ValueError, ["adam_step", "betas[0]", "[0, 1)", "got 1"]),
    (_adam(betas=(0.9, 1.5)), ValueError, ["adam_step", "betas[1]", "[0, 1)", "1.5"]),
    (_adam(op="adamw_step", betas=(-0.1, 0.9)), ValueError, ["adamw_step", "betas[0]", "-0.1"]),
    (_adam(betas=(0.9,)), ValueError, ["adam_step", "betas", "pair"]),
    (_adam(eps=-1.0), ValueError, ["adam_step", "eps", ">= 0", "-1"]),
    (_adam(step=0), ValueError, ["adam_step", "step", ">= 1", "got 0"]),
    (_adam(op="adamw_step", lr=float("nan")), ValueError, ["adamw_step", "lr", "finite", "nan"]),
    (_adam(op="adamw_step", weight_decay=-0.01), ValueError, ["adamw_step", "weight_decay", ">= 0"]),
    (lambda: ops.adam_step(_P.copy(), _G, m := np.zeros((4, 5)), m, step=1), ValueError,
     ["adam_step", "exp_avg_sq", "not shared", "overlapping"]),
    (lambda: ops.adam_step(_P.copy(), _G, None, np.zeros((4, 5)), step=1), ValueError, ["adam_step", "exp_avg", "an array", "None"]),
    (lambda: ops.adam_step(_P.copy(), _G, np.zeros((4, 5)), _readonly(np.zeros((4, 5))), step=1), ValueError,
     ["adam_step", "exp_avg_sq", "writable", "read-only"]),
    (lambda: ops.adam_step(_P.copy(), _G, np.zeros((4, 5)), np.zeros((4, 5)), step=1, impl="simd"), ValueError,
     ["adam_step", "impl", "'naive', 'vec'", "'simd'"]),
]


@pytest.mark.parametrize("call,exc,fragments", BAD_CALLS, ids=[f"bad{i}" for i in range(len(BAD_CALLS))])
def test_optim_bad_calls(call, exc, fragments):
    assert_bad_call(call, exc, *fragments)


def test_rejected_call_writes_nothing():
    p, g, b = np.ones((4, 5)), np.ones((4, 5)), np.ones((4, 5))
    with pytest.raises(ValueError):
        ops.sgd_step(p, g, b, lr=0.1, momentum=0.9, nesterov=True, dampening=0.5, step=2)
    assert np.all(p == 1) and np.all(b == 1)
