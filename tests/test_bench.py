"""`pybench bench`: the CLI, check-before-time, exit codes, and the native copy it measures against.

Nothing here asserts a speed: only that numbers exist, are positive, and that wrong results are
caught before they are timed.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import pybench
from pybench import _native, ops
from pybench.bench import OPS, cases_memory, problems as P, runner, timing
from pybench.bench.check import EXACT, Tol, compare
from pybench.bench.timing import measure, paired_ratio
from pybench.cli import main
from util import assert_bad_call

FAST = ["--quick", "--repeat-seconds", "0.02"]


@pytest.fixture(autouse=True)
def _no_user_calibration(tmp_path, monkeypatch):
    """Runs here never read or write the user's calibration cache."""
    monkeypatch.setenv("PYBENCH_CALIBRATION", str(tmp_path / "calibration.json"))


def _bench(capsys, *args):
    rc = main(["bench", *FAST, *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _records(path):
    with open(path) as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------
# CLI end to end
# ----------------------------------------------------------------------------------------------


def test_bench_relu_in_process_table_and_json(capsys, tmp_path):
    out_json = tmp_path / "sub" / "bench.json"
    rc, out, err = _bench(capsys, "--op", "relu", "--json", str(out_json))
    assert rc == 0, err
    assert "relu" in out and "fwd (256, 1000)" in out and "bwd (256, 1000)" in out
    assert "copy bandwidth" in out  # the ceiling is measured in the same run
    d = _records(out_json)
    assert d["schema"] == 1 and d["machine"]["pybench"] == pybench.__version__
    assert d["environment"]["threads"] >= 1 and d["environment"]["numpy_blas"]
    assert isinstance(d["environment"]["omp_env"], dict) and d["environment"]["loadavg_start"] is not None
    rows = {(r["op"], r["label"]): r for r in d["records"]}
    assert set(rows) == {("copy", ""), ("relu", "fwd"), ("relu", "bwd")}
    assert rows[("copy", "")]["auto_added"] is True
    for r in rows.values():
        assert r["status"] == "ok" and r["check"]["ok"]
        assert r["ours"]["median_s"] > 0 and r["ours"]["samples"] >= 3
        assert r["ours"]["q1_s"] <= r["ours"]["median_s"] <= r["ours"]["q3_s"]
        assert r["ours"]["rate"] > 0 and r["rate_unit"] == "GB/s"
        assert r["fraction_of_copy"] > 0
    assert d["copy_bandwidth"]["gbs"] > 0
    for key in (("relu", "fwd"), ("relu", "bwd")):  # each memory row carries the copy timed beside it
        along = rows[key]["copy_alongside"]
        assert along["gbs"] > 0 and rows[key]["fraction_of_copy"] == along["fraction"] > 0
    assert "copy_alongside" not in rows[("copy", "")]
    np_relu = rows[("relu", "fwd")]["peers"]["numpy"]
    assert np_relu["status"] == "ok" and np_relu["median_s"] > 0 and np_relu["ratio"] > 0
    assert rows[("relu", "bwd")]["peers"]["numpy"]["status"] == "n/a"
    assert d["failed"] == 0


def _rich_header(out):
    """Column names of the rich table in ``out``."""
    line = next(line for line in out.splitlines() if line.startswith("┃"))
    return [c.strip() for c in line.split("┃")[1:-1]]


def test_bench_fits_100_columns_and_wide_prints_every_column(capsys, tmp_path):
    out_json = tmp_path / "b.json"
    rc, out, err = _bench(capsys, "--op", "relu", "gemm", "--peers", "none", "--json", str(out_json))
    assert rc == 0, err
    assert max(map(len, out.splitlines())) <= 100
    assert "\n  " in out  # the long header lines (copy bandwidth) wrapped, continuations indented
    narrow = _rich_header(out)
    rc, wide, err = _bench(capsys, "--op", "relu", "gemm", "--peers", "none", "--wide")
    assert rc == 0, err
    assert set(_rich_header(wide)) - set(narrow) == {"IQR", "impl"} and "--wide shows them" in out
    assert max(map(len, wide.splitlines())) > 100  # header lines as they are
    assert all(r["ours"]["iqr_rel"] >= 0 and r["impl"] for r in _records(out_json)["records"])  # --json keeps all


def test_bench_train_fits_100_columns_and_wide_prints_every_column(capsys):
    args = ["bench-train", "--quick", "--peers", "none", "--repeat-seconds", "0.02"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 100
    assert main([*args, "--wide"]) == 0
    wide = capsys.readouterr().out
    assert set(_rich_header(wide)) - set(_rich_header(out)) >= {"params", "dominant ops (ours)"}


def test_bench_subprocess_module_entry(tmp_path):
    out_json = tmp_path / "b.json"
    # The child must import the pybench this process imported (the source tree in a dev build,
    # site-packages after `pip install .`), so put that one first on its path.
    home = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))
    env = dict(os.environ, PYTHONPATH=home + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "pybench", "bench", *FAST, "--op", "relu", "copy", "--peers", "numpy",
                        "--threads", "1", "--json", str(out_json)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "relu" in p.stdout and "median" in p.stdout and "vs numpy" in p.stdout and "torch" not in p.stdout
    d = _records(out_json)
    assert d["options"]["threads"] == 1 and d["environment"]["threads"] == 1
    assert [r["op"] for r in d["records"]] == ["copy", "relu", "relu"]
    assert all(r["ours"]["median_s"] > 0 for r in d["records"])
    assert "[1/3]" in p.stderr  # progress goes to stderr, the table to stdout
    assert "[1/3]" not in p.stdout


def test_bench_impl_all_and_named(capsys, tmp_path):
    out_json = tmp_path / "b.json"
    rc, out, err = _bench(capsys, "--op", "copy", "--impl", "all", "--peers", "none", "--json", str(out_json))
    assert rc == 0, err
    recs = _records(out_json)["records"]
    assert [r["impl"] for r in recs] == _native.impls("copy")
    assert all(r["status"] == "ok" and r["ours"]["median_s"] > 0 for r in recs)
    rc, out, err = _bench(capsys, "--op", "relu", "--impl", "naive", "--peers", "none", "--json", str(out_json))
    assert rc == 0, err
    impls = {(r["op"], r["label"]): r["impl"] for r in _records(out_json)["records"]}
    # the auto-added copy row is the bandwidth ceiling: always the default (fastest) copy
    assert impls == {("relu", "fwd"): "naive", ("relu", "bwd"): "naive", ("copy", ""): _native.impls("copy")[-1]}
    rc, out, err = _bench(capsys, "--op", "relu", "--impl", "vec", "--peers", "none", "--json", str(out_json))
    assert rc == 0, err  # copy has no 'vec': the ceiling is measured anyway
    assert _records(out_json)["copy_bandwidth"]["gbs"] > 0


def test_threads_restored_after_run(capsys):
    before = _native.get_num_threads()
    rc, _, err = _bench(capsys, "--op", "copy", "--threads", "1", "--peers", "none")
    assert rc == 0, err
    assert _native.get_num_threads() == before


# ----------------------------------------------------------------------------------------------
# a wrong result is FAILED, exits 1, and is never timed
# ----------------------------------------------------------------------------------------------


def test_wrong_implementation_is_failed_and_not_timed(capsys, monkeypatch, tmp_path):
    calls = {"n": 0}
    real = ops.relu_forward

    def wrong_relu(x, *, out=None, impl=None):
        calls["n"] += 1
        real(x, out=out, impl=impl)
        out.reshape(-1)[len(out.reshape(-1)) // 2 + 7] += 0.5  # one element wrong, mid-array
        return out

    monkeypatch.setattr(ops, "relu_forward", wrong_relu)
    out_json = tmp_path / "b.json"
    rc, out, err = _bench(capsys, "--op", "relu", "--json", str(out_json))
    assert rc == 1
    assert calls["n"] == 1  # the check call only: no warm-up, no timing
    assert "FAILED" in out and "FAILED" in err
    rows = {(r["op"], r["label"]): r for r in _records(out_json)["records"]}
    bad = rows[("relu", "fwd")]
    assert bad["status"] == "FAILED" and bad["ours"] is None and not bad["check"]["ok"]
    assert bad["check"]["worst_err_over_tol"] > 1 and bad["check"]["max_abs_err"] == pytest.approx(0.5, rel=1e-3)
    assert all("median_s" not in p for p in bad["peers"].values())  # nothing timed for a failed problem
    assert rows[("relu", "bwd")]["status"] == "ok"  # the other problems still run
    assert _records(out_json)["failed"] == 1


def test_unwritten_output_is_caught(capsys, monkeypatch):
    # outputs are poisoned with NaN before the check: a kernel that skips the tail is wrong
    real = ops.relu_backward

    def lazy(dy, x, *, out=None, impl=None):
        real(dy[:-1], x[:-1], out=out[:-1], impl=impl)
        return out

    monkeypatch.setattr(ops, "relu_backward", lazy)
    rc, out, err = _bench(capsys, "--op", "relu", "--peers", "none")
    assert rc == 1 and "FAILED" in out


def test_raising_implementation_is_failed(capsys, monkeypatch):
    def broken(x, *, out=None, impl=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(ops, "relu_forward", broken)
    rc, out, err = _bench(capsys, "--op", "relu", "--peers", "none")
    assert rc == 1 and "RuntimeError: boom" in out


# ----------------------------------------------------------------------------------------------
# usage errors exit 2; missing ops are shown, not hidden
# ----------------------------------------------------------------------------------------------


def test_unknown_op_exits_2_listing_choices(capsys):
    rc, out, err = _bench(capsys, "--op", "relu", "fnord")
    assert rc == 2
    assert "fnord" in err
    for op in ("copy", "gemm", "linear", "conv2d", "batch_norm", "relu", "softmax", "dropout"):
        assert op in err


@pytest.mark.parametrize("args, fragment", [
    (["--op", "relu", "--impl", "fastest-ever"], "fastest-ever"),
    (["--op", "relu", "--peers", "numpy,jax"], "jax"),
    (["--op", "relu", "--threads", "0"], "--threads"),
    (["--op", "relu", "--repeat-seconds", "-1"], "--repeat-seconds"),
    (["--frobnicate"], "frobnicate"),
])
def test_bad_usage_exits_2(capsys, args, fragment):
    rc, out, err = _bench(capsys, *args)
    assert rc == 2 and fragment in err


def test_missing_op_prints_unavailable(capsys, monkeypatch, tmp_path):
    monkeypatch.delattr(ops, "gemm", raising=False)
    out_json = tmp_path / "b.json"
    rc, out, err = _bench(capsys, "--op", "gemm", "--json", str(out_json))
    assert rc == 0
    assert "unavailable (op not built)" in out
    recs = _records(out_json)["records"]
    assert recs and all(r["status"] == "unavailable" and r["reason"] == "op not built" for r in recs)


def test_slow_blas_environment_warns(capsys, monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    rc, out, err = _bench(capsys, "--op", "copy", "--peers", "numpy")
    assert rc == 0
    assert "OPENBLAS_CORETYPE=Haswell" in err and "env -u OPENBLAS_CORETYPE" in err
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"  # warned about, never changed
    assert err.splitlines()[0].startswith("warning: OPENBLAS_CORETYPE=Haswell")  # first, and again at the end
    assert err.strip().splitlines()[-1].startswith("warning: OPENBLAS_CORETYPE=Haswell")


@pytest.mark.parametrize("blas_env", [{}, {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}])
def test_a_usage_error_is_one_line_with_or_without_the_blas_warning(capsys, monkeypatch, blas_env):
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in blas_env.items():
        monkeypatch.setenv(k, v)
    rc, out, err = _bench(capsys, "--op", "relu", "--impl", "no-such-impl")
    assert rc == 2 and out == "" and err.count("\n") == 1 and "--impl" in err, err


def test_info_still_works(capsys):
    assert main(["info"]) == 0
    assert "SIMD" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# the pieces: problem list, comparisons, timing
# ----------------------------------------------------------------------------------------------


def test_default_problem_set():
    names = [p.name for op in OPS for p in P.problems_for(op)]
    for s in ("gemm 512x512x512", "gemm 2048x2048x2048", "linear fwd+bwd N=128 in=784 out=512",
              "linear fwd+bwd N=1024 in=1024 out=1024", "conv2d fwd+bwd N=64 3->32 32x32 k3 p1",
              "conv2d fwd+bwd N=32 64->64 56x56 k3 p1", "conv2d fwd+bwd N=32 256->64 56x56 k1 p0",
              "batch_norm fwd (64, 64, 128, 128)", "batch_norm bwd (64, 64, 128, 128)",
              "gelu bwd tanh (65536, 1024)", "dropout fwd p=0.5 (65536, 1024)"):
        assert s in names
    conv = [p for p in P.problems_for("conv2d")]
    assert len(conv) == 5
    # FLOPs of N=64 3->32 32x32 3x3: fwd = 2*64*32*32*32*3*9, x3 for fwd+dx+dW, + bias twice
    assert conv[0].work == 3 * 2 * 64 * 32 * 32 * 32 * 3 * 9 + 2 * 64 * 32 * 32 * 32
    elems = [p for p in P.problems_for("silu")]
    assert [p.work for p in elems] == [2 * 4 * 2**26, 3 * 4 * 2**26]


def test_compare_tolerances():
    e = np.array([1.0, -2.0, np.nan, np.inf, 0.0])
    assert compare(e.astype(np.float32), e, EXACT) == (0.0, 0.0)
    w, m = compare(np.array([1.0, -2.0, np.nan, np.inf, 1e-3]), e, Tol(0, 1e-3))
    assert w == pytest.approx(1.0) and m == pytest.approx(1e-3)
    assert compare(np.array([1.0, -2.0, 0.0, np.inf, 0.0]), e, Tol(1, 1))[0] == math.inf  # NaN lost
    assert compare(np.array([1.0, -2.0, np.nan, -np.inf, 0.0]), e, Tol(1, 1))[0] == math.inf  # wrong inf
    assert compare(np.zeros(3), np.zeros(4), Tol(1, 1))[0] == math.inf  # shape
    big = np.array([1000.0, 1.0])
    assert compare(big + [0, 0.05], big, Tol(0, 1e-4, relative_to_max=True))[0] == pytest.approx(0.5)


def test_measure_round_robin():
    seen = []
    cands = {"a": lambda: seen.append("a"), "b": lambda: seen.append("b")}
    stats = measure(cands, budget_s=0.01, min_rounds=4)
    assert set(stats) == {"a", "b"}
    for s in stats.values():
        sm = s.summary()
        assert sm["samples"] >= 4 and sm["median_s"] > 0 and sm["min_s"] <= sm["median_s"] <= sm["max_s"]
    assert seen.count("a") > 4 and seen.count("b") > 4
    assert paired_ratio(stats["a"], stats["a"]) == 1.0


# ----------------------------------------------------------------------------------------------
# the native copy: vs NumPy, every impl and ISA level, and its bad inputs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("impl", _native.impls("copy"))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_copy_matches_numpy(isa, impl, dtype, rng):
    for n in (1, 7, 16, 17, 1000, 65537, (1 << 21) + 3):  # the last crosses the streaming threshold
        x = rng.standard_normal(n + 5).astype(dtype)
        x[:3] = [np.nan, np.inf, -0.0]
        for off in (0, 1, 3):  # destinations not 64-byte aligned
            src = x[off:off + n]
            buf = np.full(n + 8, 7.0, dtype)
            out = buf[off:off + n]
            assert _native.copy(src, out=out, impl=impl) is out
            expect = np.empty_like(src)
            np.copyto(expect, src)
            assert out.tobytes() == expect.tobytes()  # bitwise, -0.0 and NaN included
            assert (buf[:off] == 7).all() and (buf[off + n:] == 7).all()  # nothing written outside


@pytest.mark.parametrize("impl", _native.impls("copy"))
def test_copy_zero_size(isa, impl):
    for shape in [(0,), (3, 0)]:
        x = np.zeros(shape, np.float32)
        assert _native.copy(x, impl=impl).shape == shape
        out = np.empty(shape, np.float32)
        assert _native.copy(x, out=out, impl=impl) is out


def test_copy_allocates_and_keeps_shape(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    y = _native.copy(x)
    assert y.shape == x.shape and y.dtype == x.dtype and np.array_equal(x, y) and not np.shares_memory(x, y)


def _copy_bad_calls():
    x = np.ones((4, 5), np.float32)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    big = np.zeros(40, np.float32)
    return [
        (lambda: _native.copy(x.astype(np.int32)), TypeError, ["copy", "src", "int32"]),
        (lambda: _native.copy(x, out=np.empty((4, 5), np.float64)), TypeError, ["copy", "out", "float32", "float64"]),
        (lambda: _native.copy(x, out=np.empty((5, 4), np.float32)), ValueError, ["copy", "out", "(4, 5)", "(5, 4)"]),
        (lambda: _native.copy(x, out=np.empty(20, np.float32)), ValueError, ["copy", "out", "(4, 5)", "(20,)"]),
        (lambda: _native.copy(x[:, ::2]), ValueError, ["copy", "src", "C-contiguous"]),
        (lambda: _native.copy(x, out=np.empty((5, 4), np.float32).T), ValueError, ["copy", "out", "C-contiguous"]),
        (lambda: _native.copy(x, out=ro), ValueError, ["copy", "out", "writable", "read-only"]),
        (lambda: _native.copy(x, out=x), ValueError, ["copy", "out", "overlapping"]),
        (lambda: _native.copy(big[:20], out=big[10:30]), ValueError, ["copy", "out", "overlapping"]),
        (lambda: _native.copy(np.empty((0, 5), np.float32), out=np.empty((5, 0), np.float32)), ValueError,
         ["copy", "out", "(0, 5)", "(5, 0)"]),
        (lambda: _native.copy([1.0, 2.0]), TypeError, ["copy", "src", "numpy.ndarray", "list"]),
        (lambda: _native.copy(x, impl="warp"), ValueError, ["copy", "impl", "'naive'", "'warp'"]),
        (lambda: _native.copy(None), ValueError, ["copy", "src", "None"]),
    ]


@pytest.mark.parametrize("i", range(len(_copy_bad_calls())))
def test_copy_bad_calls(i):
    fn, exc, fragments = _copy_bad_calls()[i]
    assert_bad_call(fn, exc, *fragments)


def test_copy_bad_call_writes_nothing():
    x = np.ones(10, np.float32)
    out = np.full(10, 3.0, np.float32)
    with pytest.raises(ValueError):
        _native.copy(x, out=out, impl="warp")
    assert (out == 3).all()


# ----------------------------------------------------------------------------------------------
# every op of the contract, through stand-ins: until the op branches are merged, this is what runs
# the bench's calls (argument names, out= buffers, multi-output records) and its peer mappings
# (aten overloads, which input each backward reads) for gemm, linear, conv2d, batch_norm, the
# activations and dropout. The stand-ins follow the API contract of COMMON.md and are built from
# torch.nn.functional + autograd (oracle side, float64) -- an independent path from the aten
# overloads the torch peer calls, so a mis-mapped peer shows up as a mismatch.
# ----------------------------------------------------------------------------------------------


def _standins(torch):
    F = torch.nn.functional
    T = torch.from_numpy

    def ret(r, out):
        r = r.detach().numpy() if hasattr(r, "detach") else r
        if out is None:
            return r.copy()
        out[...] = r
        return out

    def grad_of(f, dy, *xs):
        ts = [T(x).clone().requires_grad_(True) for x in xs]
        return [g.numpy() for g in torch.autograd.grad(f(*ts), ts, T(dy))]

    acts = {
        "relu": lambda t: F.relu(t), "sigmoid": lambda t: torch.sigmoid(t), "tanh": lambda t: torch.tanh(t),
        "silu": lambda t: F.silu(t), "hardswish": lambda t: F.hardswish(t),
        "leaky_relu": lambda t, negative_slope=0.01: F.leaky_relu(t, negative_slope),
        "elu": lambda t, alpha=1.0: F.elu(t, alpha),
        "gelu": lambda t, approximate="none": F.gelu(t, approximate=approximate),
        "softplus": lambda t, beta=1.0, threshold=20.0: F.softplus(t, beta, threshold),
        "softmax": lambda t: torch.softmax(t, -1), "log_softmax": lambda t: torch.log_softmax(t, -1),
    }
    ref, ours = {}, {}
    for name, f in acts.items():
        ref[f"{name}_forward"] = lambda x, f=f, **kw: f(T(x), **kw).detach().numpy()
        if name == "softmax":
            ref[f"{name}_backward"] = lambda dy, y: y * (dy - (dy * y).sum(-1, keepdims=True))
        elif name == "log_softmax":
            ref[f"{name}_backward"] = lambda dy, y: dy - np.exp(y) * dy.sum(-1, keepdims=True)
        else:
            ref[f"{name}_backward"] = lambda dy, x, f=f, **kw: grad_of(lambda t: f(t, **kw), dy, x)[0]
    ref["gemm"] = lambda a, b, **kw: a @ b
    ref["linear_forward"] = lambda x, w, b=None: F.linear(T(x), T(w), None if b is None else T(b)).numpy()

    def linear_backward(dy, x, w, bias=True, compute_dx=True):
        dx, dw = grad_of(lambda tx, tw: F.linear(tx, tw), dy, x, w)
        return dx, dw, dy.sum(0)

    ref["linear_backward"] = linear_backward
    ref["conv2d_forward"] = lambda x, w, b=None, stride=1, padding=0, dilation=1, groups=1: F.conv2d(
        T(x), T(w), None if b is None else T(b), stride, padding, dilation, groups).numpy()

    def conv2d_backward(dy, x, w, stride=1, padding=0, dilation=1, groups=1, bias=True, compute_dx=True):
        dx, dw = grad_of(lambda tx, tw: F.conv2d(tx, tw, None, stride, padding, dilation, groups), dy, x, w)
        return dx, dw, dy.sum((0, 2, 3))

    ref["conv2d_backward"] = conv2d_backward

    def bn_forward(x, weight, bias, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
        axes = (0, 2, 3) if x.ndim == 4 else (0,)
        mean, var = x.mean(axes), x.var(axes)
        m = x.size // x.shape[1]
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean
        running_var[...] = (1 - momentum) * running_var + momentum * var * m / (m - 1)
        invstd = 1 / np.sqrt(var + eps)
        sh = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
        y = (x - mean.reshape(sh)) * invstd.reshape(sh) * weight.reshape(sh) + bias.reshape(sh)
        return y.astype(x.dtype), mean.astype(x.dtype), invstd.astype(x.dtype)

    def bn_backward(dy, x, weight, save_mean, save_invstd, training=True):
        axes = (0, 2, 3) if x.ndim == 4 else (0,)
        sh = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
        m = x.size // x.shape[1]
        xhat = (x - save_mean.reshape(sh)) * save_invstd.reshape(sh)
        db, dw = dy.sum(axes), (dy * xhat).sum(axes)
        dx = (weight * save_invstd).reshape(sh) * (dy - db.reshape(sh) / m - xhat * (dw / m).reshape(sh))
        return dx.astype(x.dtype), dw.astype(x.dtype), db.astype(x.dtype)

    ref["batch_norm_forward"], ref["batch_norm_backward"] = bn_forward, bn_backward

    def dropout_forward(x, p=0.5, seed=0, offset=0, training=True):
        i = np.arange(x.size, dtype=np.uint64).reshape(x.shape) + np.uint64(offset)
        keep = ((i * np.uint64(2654435761) + np.uint64(seed)) >> np.uint64(9)) % np.uint64(1000) >= p * 1000
        return np.where(keep, x / x.dtype.type(1 - p), x.dtype.type(0)).astype(x.dtype)

    ref["dropout_forward"] = dropout_forward

    # ours: the same functions in float32, writing into out= (and dx=/dweight=/dbias=)
    for name, f in ref.items():
        if name in ("linear_backward", "conv2d_backward", "batch_norm_backward"):
            def multi(*a, dx=None, dweight=None, dbias=None, impl=None, f=f, **kw):
                r = f(*a, **kw)
                return tuple(ret(v, o) for v, o in zip(r, (dx, dweight, dbias)))
            ours[name] = multi
        elif name == "batch_norm_forward":
            def bnf(*a, out=None, impl=None, f=f, **kw):
                y, mean, invstd = f(*a, **kw)
                return ret(y, out), mean, invstd
            ours[name] = bnf
        else:
            ours[name] = lambda *a, out=None, impl=None, f=f, **kw: ret(np.asarray(f(*a, **kw)), out)
    return ours, ref


def test_every_op_with_standins_checks_and_peers_agree(capsys, monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    from pybench import reference

    ours, ref = _standins(torch)
    for name, f in ours.items():
        monkeypatch.setattr(ops, name, f, raising=False)
    for name, f in ref.items():
        monkeypatch.setattr(reference, name, f, raising=False)
    # the stand-ins are slow and their speed means nothing: one timed round per problem is enough
    monkeypatch.setattr(runner, "measure", lambda cands, budget: timing.measure(cands, budget, min_rounds=1))
    monkeypatch.setattr(cases_memory, "CHECK_CHUNK", 20000)  # several reference chunks (rows, BN channels), as at 64M
    out_json = tmp_path / "b.json"
    rc, out, err = _bench(capsys, "--repeat-seconds", "0.001", "--json", str(out_json))
    assert rc == 0, out + err
    d = _records(out_json)
    assert {r["op"] for r in d["records"]} == set(OPS)
    torch_rows = {(p.op, p.label) for p in P.table("quick") if "torch" in p.peers}
    for r in d["records"]:
        assert r["status"] == "ok", r
        assert r["ours"]["median_s"] > 0
        if (r["op"], r["label"]) not in torch_rows:  # a loss's backward, an optimizer step: no PyTorch call alike
            assert r["peers"]["torch"]["status"] == "n/a", (r["op"], r["label"], r["peers"]["torch"])
            continue
        assert r["peers"]["torch"]["status"] == "ok", (r["op"], r["label"], r["peers"]["torch"])
        assert r["peers"]["torch"]["ratio"] > 0
        for name in ("numpy",):
            assert r["peers"][name]["status"] in ("ok", "n/a"), (r["op"], r["label"], r["peers"][name])
    kinds = {r["op"]: r["rate_unit"] for r in d["records"]}
    assert kinds["gemm"] == kinds["conv2d"] == kinds["linear"] == "GFLOP/s"
    assert kinds["batch_norm"] == kinds["dropout"] == kinds["gelu"] == "GB/s"
    assert "unavailable" not in out


def test_standin_with_a_wrong_gradient_fails(capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    from pybench import reference

    ours, ref = _standins(torch)
    real = ours["conv2d_backward"]

    def wrong(*a, **kw):
        dx, dw, db = real(*a, **kw)
        dw[0, 0, 0, 0] *= 1.01  # 1% off in one weight gradient
        return dx, dw, db

    for name, f in dict(ours, conv2d_backward=wrong).items():
        monkeypatch.setattr(ops, name, f, raising=False)
    for name, f in ref.items():
        monkeypatch.setattr(reference, name, f, raising=False)
    rc, out, err = _bench(capsys, "--op", "conv2d", "--peers", "none", "--repeat-seconds", "0.005")
    assert rc == 1 and "FAILED" in out and "dweight" in out


# ---- bench-train: training-step throughput against PyTorch ------------------------------------

def test_bench_train_checks_one_step_against_torch_then_times():
    pytest.importorskip("torch")
    from pybench.bench import train_step

    res = train_step.run(train_step.QUICK_CASES, budget_s=0.05)
    assert [r["status"] for r in res["records"]] == ["ok", "ok"]
    for r in res["records"]:
        assert "match PyTorch" in r["check"]
        assert r["ours"]["samples_per_s"] > 0 and r["torch"]["samples_per_s"] > 0 and r["ratio"] > 0
        assert r["breakdown"]["total"] > 0 and any(k.startswith("linear") for k in r["breakdown"])


def test_bench_train_catches_a_wrong_step():
    torch = pytest.importorskip("torch")
    from pybench.bench import train_step

    case = train_step.Case("mlp", 8, 28)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 784), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    ours = train_step.OursStep(case, x, y)
    theirs = train_step.TorchStep(ours.model, x, y, torch)
    ours.opt.lr = 0.02  # a step of the wrong size must not pass as PyTorch's
    ok, detail = train_step.check_step(ours, theirs)
    assert not ok and "differs from PyTorch" in detail


def test_rows_name_the_impl_the_registry_resolves(monkeypatch):
    """The default row's label is what _native.resolve_impl says runs (when the module has it);
    without it, or when it cannot resolve, the label the rows had before (the last registered)."""
    from pybench import _native

    prob = P.problems_for("relu", quick=True)[0]
    before = runner._impls_to_run(prob, None)[0][0][1]
    assert before == list(_native.impls("relu_forward"))[-1]
    seen = []

    def resolve(op, impl=None, *, device="cpu", dtype="float32"):
        seen.append((op, impl, device, dtype))
        return "picked"

    monkeypatch.setattr(_native, "resolve_impl", resolve, raising=False)
    assert runner._impls_to_run(prob, None) == ([(None, "picked")], None)
    assert seen == [("relu_forward", None, "cpu", "float32")]

    def cannot(op, impl=None, **kw):
        raise ValueError(f"{op}: no impl")

    monkeypatch.setattr(_native, "resolve_impl", cannot)
    assert runner._impls_to_run(prob, None) == ([(None, before)], None)
