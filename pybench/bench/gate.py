"""`pybench gate`: a CI regression gate on instruction counts that does not flap.

The metric is the number of instructions (callgrind's ``Ir``) one call of each gate problem
executes, single-threaded, through the runtime-dispatched build (valgrind 3.19 hides AVX-512, so
the AVX2 kernels run). The count of a deterministic kernel on fixed inputs does not depend on the
load of the machine: the README's "Regression gate" section has the measured spreads that chose
it over time ratios.

How one gate run goes (:func:`run_gate`):

1. The parent spawns ``valgrind --tool=callgrind --instr-atstart=no python -m pybench.bench.gate
   --worker ...`` with PYTHONHASHSEED=0 and one thread everywhere.
2. The worker builds every problem from a fixed seed and, uninstrumented (cheap), runs it once and
   checks its output against :mod:`pybench.reference`. A problem that fails its check is reported
   as FAILED and never counted; that fails the gate.
3. It then turns instrumentation on and, per problem, zeroes callgrind's counters
   (``_native.callgrind_begin``), calls the op once and dumps the counters under the problem's
   name (``_native.callgrind_end``): one ``callgrind.out.N`` file per problem. Outputs are
   preallocated, so the count is the kernel plus the thin Python wrapper and binding.
4. The parent reads the dump files (their ``desc: Trigger: Client Request: NAME`` and ``totals:``
   lines), writes the figures as JSON, compares them with the baseline (:mod:`.compare`) and
   appends them to the history (:mod:`.history`).

The figures depend on the compiler, build flags, CPU class, ISA path, valgrind, Python and NumPy:
all of it is the baseline's *key*; a baseline recorded under another key is not compared (the gate
says so in one line, exit 0) rather than raising a false alarm.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

SCHEMA = "pybench-gate/1"
METRIC = "instructions"
DEFAULT_THRESHOLD = 2.0  # percent; measured noise is ~0 (README "Regression gate")
DEFAULT_BASELINE = os.path.join("results", "bench", "gate-baseline.json")
DEFAULT_HISTORY = os.path.join("results", "bench", "history.jsonl")
SEED = 20260124


# ---------------------------------------------------------------------------------------------
# The problems
# ---------------------------------------------------------------------------------------------

class Problem:
    """One gate problem: ``prepare()`` resets in-place state (outside the counted region),
    ``run()`` is the counted call (outputs preallocated), ``check()`` returns None when the outputs
    of the last run match pybench.reference, else a one-line reason; ``outputs()`` lists the arrays
    the run writes (compared bitwise between the checked and the counted run)."""

    def __init__(self, name, family, build):
        self.name, self.family, self._build = name, family, build
        self.built = None

    def build(self, rng):
        self.built = self._build(rng)
        return self

    def prepare(self):
        self.built["prepare"]()

    def run(self):
        self.built["run"]()

    def check(self):
        return self.built["check"]()

    def outputs(self):
        return [np.array(a, copy=True) for a in self.built["outputs"]()]


def _close(name, got, want, rtol, atol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"{name}: shape {got.shape}, reference {want.shape}"
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        err = np.max(np.abs(got - want) / (atol + rtol * np.abs(want)))
        return f"{name}: differs from pybench.reference ({err:.3g}x the tolerance rtol={rtol}, atol={atol})"
    return None


def _first(*reasons):
    for r in reasons:
        if r:
            return r
    return None


def _f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _nothing():
    pass


# Tolerances: float32 results against the float64 reference of the same (float32) inputs. Long
# sums (GEMM, conv, reductions) get a looser bound than element-wise maps; a wrong kernel is off
# by O(1), far past either.
_EW = dict(rtol=1e-5, atol=1e-6)
_SUM = dict(rtol=2e-4, atol=2e-4)


def _gemm(m, n, k):
    def build(rng):
        from .. import ops, reference as ref

        a, b = _f32(rng, m, k), _f32(rng, k, n)
        out = np.empty((m, n), np.float32)
        return dict(prepare=_nothing, run=lambda: ops.gemm(a, b, out=out), outputs=lambda: [out],
                    check=lambda: _close("out", out, ref.gemm(a.astype(np.float64), b.astype(np.float64)), **_SUM))
    return build


def _linear(n, fin, fout, backward):
    def build(rng):
        from .. import ops, reference as ref

        x, w, bias = _f32(rng, n, fin), _f32(rng, fout, fin, scale=fin ** -0.5), _f32(rng, fout)
        x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), bias.astype(np.float64)
        if not backward:
            y = np.empty((n, fout), np.float32)
            return dict(prepare=_nothing, run=lambda: ops.linear_forward(x, w, bias, out=y), outputs=lambda: [y],
                        check=lambda: _close("y", y, ref.linear_forward(x64, w64, b64), **_SUM))
        dy = _f32(rng, n, fout)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(bias)

        def check():
            rdx, rdw, rdb = ref.linear_backward(dy.astype(np.float64), x64, w64)
            return _first(_close("dx", dx, rdx, **_SUM), _close("dweight", dw, rdw, **_SUM),
                          _close("dbias", db, rdb, **_SUM))
        return dict(prepare=_nothing, run=lambda: ops.linear_backward(dy, x, w, dx=dx, dweight=dw, dbias=db),
                    outputs=lambda: [dx, dw, db], check=check)
    return build


def _conv(n, c, hw, o, k, stride, padding, backward, impl=None):
    def build(rng):
        from .. import ops, reference as ref

        x = _f32(rng, n, c, hw, hw)
        w = _f32(rng, o, c, k, k, scale=(c * k * k) ** -0.5)
        bias = _f32(rng, o)
        x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), bias.astype(np.float64)
        oh = (hw + 2 * padding - k) // stride + 1
        if not backward:
            y = np.empty((n, o, oh, oh), np.float32)
            return dict(prepare=_nothing, outputs=lambda: [y],
                        run=lambda: ops.conv2d_forward(x, w, bias, stride, padding, out=y, impl=impl),
                        check=lambda: _close("y", y, ref.conv2d_forward(x64, w64, b64, stride, padding), **_SUM))
        dy = _f32(rng, n, o, oh, oh)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(bias)

        def check():
            rdx, rdw, rdb = ref.conv2d_backward(dy.astype(np.float64), x64, w64, stride, padding)
            return _first(_close("dx", dx, rdx, **_SUM), _close("dweight", dw, rdw, **_SUM),
                          _close("dbias", db, rdb, **_SUM))
        return dict(prepare=_nothing, outputs=lambda: [dx, dw, db], check=check,
                    run=lambda: ops.conv2d_backward(dy, x, w, stride, padding, dx=dx, dweight=dw, dbias=db,
                                                    impl=impl))
    return build


def _max_pool(n, c, hw, k, s, backward):
    def build(rng):
        from .. import ops, reference as ref

        x = _f32(rng, n, c, hw, hw)
        oh = (hw - k) // s + 1
        y, idx = np.empty((n, c, oh, oh), np.float32), np.empty((n, c, oh, oh), np.int64)
        if not backward:
            def check():
                ry, ridx = ref.max_pool2d_forward(x.astype(np.float64), k, s)
                bad = None if np.array_equal(idx, ridx) else "indices: differ from pybench.reference"
                return _first(_close("y", y, ry, rtol=0, atol=0), bad)
            return dict(prepare=_nothing, outputs=lambda: [y, idx], check=check,
                        run=lambda: ops.max_pool2d_forward(x, k, s, out=y, indices=idx))
        ops.max_pool2d_forward(x, k, s, out=y, indices=idx)
        dy = _f32(rng, n, c, oh, oh)
        dx = np.empty_like(x)
        return dict(prepare=_nothing, outputs=lambda: [dx],
                    run=lambda: ops.max_pool2d_backward(dy, idx, x.shape, out=dx),
                    check=lambda: _close("dx", dx, ref.max_pool2d_backward(dy.astype(np.float64), idx, x.shape),
                                         **_EW))
    return build


def _avg_pool(n, c, hw, k, s, p, backward):
    def build(rng):
        from .. import ops, reference as ref

        x = _f32(rng, n, c, hw, hw)
        oh = (hw + 2 * p - k) // s + 1
        if not backward:
            y = np.empty((n, c, oh, oh), np.float32)
            return dict(prepare=_nothing, outputs=lambda: [y], run=lambda: ops.avg_pool2d_forward(x, k, s, p, out=y),
                        check=lambda: _close("y", y, ref.avg_pool2d_forward(x.astype(np.float64), k, s, p), **_EW))
        dy = _f32(rng, n, c, oh, oh)
        dx = np.empty_like(x)
        return dict(prepare=_nothing, outputs=lambda: [dx],
                    run=lambda: ops.avg_pool2d_backward(dy, x.shape, k, s, p, out=dx),
                    check=lambda: _close("dx", dx, ref.avg_pool2d_backward(dy.astype(np.float64), x.shape, k, s, p),
                                         **_EW))
    return build


def _batch_norm(shape, backward):
    def build(rng):
        from .. import ops, reference as ref

        c = shape[1]
        x = _f32(rng, *shape)
        w, b = _f32(rng, c), _f32(rng, c)
        rm0, rv0 = _f32(rng, c, scale=0.1), (1 + 0.1 * rng.random(c)).astype(np.float32)
        rm, rv = rm0.copy(), rv0.copy()
        x64 = x.astype(np.float64)
        if not backward:
            y, sm, si = np.empty_like(x), None, None
            state = {}

            def run():
                state["r"] = ops.batch_norm_forward(x, w, b, rm, rv, True, 0.1, 1e-5, out=y)

            def prepare():
                rm[...], rv[...] = rm0, rv0

            def check():
                rrm, rrv = rm0.astype(np.float64), rv0.astype(np.float64)
                ry, rmean, rinv = ref.batch_norm_forward(x64, w.astype(np.float64), b.astype(np.float64), rrm, rrv,
                                                         True, 0.1, 1e-5)
                _, gm, gi = state["r"]
                return _first(_close("y", y, ry, **_SUM), _close("save_mean", gm, rmean, **_SUM),
                              _close("save_invstd", gi, rinv, **_SUM), _close("running_mean", rm, rrm, **_SUM),
                              _close("running_var", rv, rrv, **_SUM))
            del sm, si
            return dict(prepare=prepare, run=run, check=check, outputs=lambda: [y, rm, rv])
        _, mean, invstd = ops.batch_norm_forward(x, w, b, None, None, True)
        dy = _f32(rng, *shape)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)

        def check():
            rdx, rdw, rdb = ref.batch_norm_backward(dy.astype(np.float64), x64, w.astype(np.float64),
                                                    mean.astype(np.float64), invstd.astype(np.float64), True)
            return _first(_close("dx", dx, rdx, **_SUM), _close("dweight", dw, rdw, **_SUM),
                          _close("dbias", db, rdb, **_SUM))
        return dict(prepare=_nothing, outputs=lambda: [dx, dw, db], check=check,
                    run=lambda: ops.batch_norm_backward(dy, x, w, mean, invstd, True, dx=dx, dweight=dw, dbias=db))
    return build


def _activation(name, n, backward, **params):
    def build(rng):
        from .. import ops, reference as ref

        x = _f32(rng, n, scale=3.0)
        x64 = x.astype(np.float64)
        out = np.empty_like(x)
        if not backward:
            fn, rfn = getattr(ops, f"{name}_forward"), getattr(ref, f"{name}_forward")
            return dict(prepare=_nothing, outputs=lambda: [out], run=lambda: fn(x, out=out, **params),
                        check=lambda: _close("out", out, rfn(x64, **params), **_EW))
        dy = _f32(rng, n)
        fn, rfn = getattr(ops, f"{name}_backward"), getattr(ref, f"{name}_backward")
        return dict(prepare=_nothing, outputs=lambda: [out], run=lambda: fn(dy, x, out=out, **params),
                    check=lambda: _close("dx", out, rfn(dy.astype(np.float64), x64, **params), **_EW))
    return build


def _softmax(name, rows, cols, backward):
    def build(rng):
        from .. import ops, reference as ref

        x = _f32(rng, rows, cols, scale=3.0)
        out = np.empty_like(x)
        if not backward:
            fn, rfn = getattr(ops, f"{name}_forward"), getattr(ref, f"{name}_forward")
            return dict(prepare=_nothing, outputs=lambda: [out], run=lambda: fn(x, out=out),
                        check=lambda: _close("out", out, rfn(x.astype(np.float64)), **_EW))
        y = getattr(ops, f"{name}_forward")(x)
        dy = _f32(rng, rows, cols)
        fn, rfn = getattr(ops, f"{name}_backward"), getattr(ref, f"{name}_backward")
        return dict(prepare=_nothing, outputs=lambda: [out], run=lambda: fn(dy, y, out=out),
                    check=lambda: _close("dx", out, rfn(dy.astype(np.float64), y.astype(np.float64)), **_EW))
    return build


def _dropout(n, p):
    def build(rng):
        from .. import ops, reference as ref

        x = _f32(rng, n)
        out = np.empty_like(x)
        return dict(prepare=_nothing, outputs=lambda: [out],
                    run=lambda: ops.dropout_forward(x, p, 1234, 0, True, out=out),
                    check=lambda: _close("out", out, ref.dropout_forward(x, p, 1234, 0, True), rtol=0, atol=0))
    return build


def _cross_entropy(n, c, backward):
    def build(rng):
        from .. import ops, reference as ref

        logits = _f32(rng, n, c, scale=2.0)
        labels = rng.integers(0, c, n).astype(np.int64)
        l64 = logits.astype(np.float64)
        if not backward:
            state = {}

            def run():
                state["loss"] = ops.cross_entropy_forward(logits, labels)
            return dict(prepare=_nothing, run=run, outputs=lambda: [np.float64(state["loss"])],
                        check=lambda: _close("loss", state["loss"], ref.cross_entropy_forward(l64, labels), **_SUM))
        out = np.empty_like(logits)
        return dict(prepare=_nothing, outputs=lambda: [out],
                    run=lambda: ops.cross_entropy_backward(logits, labels, out=out),
                    check=lambda: _close("dlogits", out, ref.cross_entropy_backward(l64, labels), **_EW))
    return build


def _optim(name, n):
    def build(rng):
        from .. import ops, reference as ref

        p0, g = _f32(rng, n), _f32(rng, n)
        if name == "sgd":
            b0 = _f32(rng, n)
            p, b = p0.copy(), b0.copy()
            kw = dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4, step=2)

            def prepare():
                p[...], b[...] = p0, b0

            def check():
                rp, rb = p0.astype(np.float64), b0.astype(np.float64)
                ref.sgd_step(rp, g.astype(np.float64), rb, **kw)
                return _first(_close("param", p, rp, **_EW), _close("momentum_buf", b, rb, **_EW))
            return dict(prepare=prepare, run=lambda: ops.sgd_step(p, g, b, **kw), check=check, outputs=lambda: [p, b])
        m0, v0 = _f32(rng, n, scale=0.1), (0.01 * rng.random(n)).astype(np.float32)
        p, m, v = p0.copy(), m0.copy(), v0.copy()
        kw = dict(step=3, lr=1e-3, weight_decay=1e-2)

        def prepare():
            p[...], m[...], v[...] = p0, m0, v0

        def check():
            rp, rm, rv = p0.astype(np.float64), m0.astype(np.float64), v0.astype(np.float64)
            ref.adam_step(rp, g.astype(np.float64), rm, rv, **kw)
            return _first(_close("param", p, rp, **_EW), _close("exp_avg", m, rm, **_EW),
                          _close("exp_avg_sq", v, rv, **_EW))
        return dict(prepare=prepare, run=lambda: ops.adam_step(p, g, m, v, **kw), check=check, outputs=lambda: [p, m, v])
    return build


def problems():
    """The gate's problems: one or two small ones per op family, float32, a few million
    instructions each (the whole gate is about a minute under callgrind here)."""
    P = Problem
    return [
        P("gemm/256x256x256", "gemm", _gemm(256, 256, 256)),
        P("gemm/200x160x300", "gemm", _gemm(200, 160, 300)),
        P("linear_forward/128x512->256", "linear", _linear(128, 512, 256, False)),
        P("linear_backward/128x512->256", "linear", _linear(128, 512, 256, True)),
        P("conv2d_forward/3x3 32->32 4x16x16 (winograd)", "conv2d", _conv(4, 32, 16, 32, 3, 1, 1, False)),
        P("conv2d_backward/3x3 32->32 4x16x16 (winograd)", "conv2d", _conv(4, 32, 16, 32, 3, 1, 1, True)),
        P("conv2d_forward/1x1 64->128 4x16x16", "conv2d", _conv(4, 64, 16, 128, 1, 1, 0, False)),
        P("conv2d_backward/1x1 64->128 4x16x16", "conv2d", _conv(4, 64, 16, 128, 1, 1, 0, True)),
        P("conv2d_forward/3x3 s2 16->32 4x17x17 (im2col)", "conv2d", _conv(4, 16, 17, 32, 3, 2, 1, False)),
        P("conv2d_backward/3x3 s2 16->32 4x17x17 (im2col)", "conv2d", _conv(4, 16, 17, 32, 3, 2, 1, True)),
        P("max_pool2d_forward/2x2 s2 8x32x32x32", "pool", _max_pool(8, 32, 32, 2, 2, False)),
        P("max_pool2d_backward/2x2 s2 8x32x32x32", "pool", _max_pool(8, 32, 32, 2, 2, True)),
        P("avg_pool2d_forward/3x3 s2 p1 8x32x32x32", "pool", _avg_pool(8, 32, 32, 3, 2, 1, False)),
        P("avg_pool2d_backward/3x3 s2 p1 8x32x32x32", "pool", _avg_pool(8, 32, 32, 3, 2, 1, True)),
        P("batch_norm_forward/train 16x64x16x16", "batch_norm", _batch_norm((16, 64, 16, 16), False)),
        P("batch_norm_backward/train 16x64x16x16", "batch_norm", _batch_norm((16, 64, 16, 16), True)),
        P("relu_forward/262144", "activation", _activation("relu", 262144, False)),
        P("relu_backward/262144", "activation", _activation("relu", 262144, True)),
        P("gelu_forward/262144", "activation", _activation("gelu", 262144, False)),
        P("gelu_backward/262144 tanh", "activation", _activation("gelu", 262144, True, approximate="tanh")),
        P("sigmoid_forward/262144", "activation", _activation("sigmoid", 262144, False)),
        P("silu_backward/262144", "activation", _activation("silu", 262144, True)),
        P("softmax_forward/1024x100", "softmax", _softmax("softmax", 1024, 100, False)),
        P("softmax_backward/1024x100", "softmax", _softmax("softmax", 1024, 100, True)),
        P("log_softmax_forward/1024x100", "softmax", _softmax("log_softmax", 1024, 100, False)),
        P("dropout_forward/262144 p=0.3", "dropout", _dropout(262144, 0.3)),
        P("cross_entropy_forward/1024x100", "loss", _cross_entropy(1024, 100, False)),
        P("cross_entropy_backward/1024x100", "loss", _cross_entropy(1024, 100, True)),
        P("sgd_step/262144 nesterov", "optim", _optim("sgd", 262144)),
        P("adam_step/262144", "optim", _optim("adam", 262144)),
    ]


def select(names=None):
    """The problems whose name starts with one of `names` (all when None); ValueError on no match."""
    all_ = problems()
    if not names:
        return all_
    chosen = [p for p in all_ if any(p.name == n or p.name.startswith(n) for n in names)]
    if not chosen:
        raise ValueError(f"--only: expected a problem name or prefix (e.g. {all_[0].name.split('/')[0]}), "
                         f"got {', '.join(names)}")
    return chosen


# ---------------------------------------------------------------------------------------------
# The worker (runs under valgrind)
# ---------------------------------------------------------------------------------------------

def worker(out_path, names=None, isa=None, repeat=1):
    """Check every problem, then count it `repeat` times under callgrind (dumps named
    '<problem>#<i>'); write {problem: {ok, error}} plus the ISA path to `out_path`."""
    from .. import _native

    _native.set_num_threads(1)
    if isa:
        _native.set_isa(isa)
    chosen = select(names)
    rng = np.random.default_rng(SEED)
    result = {"isa_active": _native.isa_active(), "threads": _native.get_num_threads(),
              "on_valgrind": _native.running_on_valgrind(), "callgrind_hooks": _native.callgrind_available(),
              "problems": {}}
    checked = {}
    for p in chosen:  # phase 1, uninstrumented: build, run, check against the reference
        rec = result["problems"][p.name] = {"family": p.family, "ok": False, "error": None}
        try:
            p.build(rng)
            p.prepare()
            p.run()
            rec["error"] = p.check()
        except Exception as e:  # a kernel that raises is a failed problem, not a crashed gate
            rec["error"] = f"{type(e).__name__}: {e}"
        rec["ok"] = rec["error"] is None
        if rec["ok"]:
            checked[p.name] = p.outputs()
    for p in chosen:  # phase 2: count the checked ones
        if p.name not in checked:
            continue
        for i in range(repeat):
            p.prepare()
            _native.callgrind_begin()
            p.run()
            _native.callgrind_end(f"{p.name}#{i}")
            same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(checked[p.name], p.outputs()))
            if not same:
                rec = result["problems"][p.name]
                rec["ok"], rec["error"] = False, "counted run gave other bits than the checked run"
    with open(out_path, "w") as f:
        json.dump(result, f)


# ---------------------------------------------------------------------------------------------
# The parent: environment key, spawning valgrind, reading the dumps
# ---------------------------------------------------------------------------------------------

class GateError(Exception):
    """The gate could not run (valgrind missing, worker crashed): not a regression."""


def _cpu_class():
    vendor = family = model = name = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "vendor_id" and vendor is None:
                    vendor = v
                elif k == "cpu family" and family is None:
                    family = v
                elif k == "model" and model is None:
                    model = v
                elif k == "model name" and name is None:
                    name = v
    except OSError:
        pass
    return {"vendor": vendor or platform.processor() or platform.machine(), "family": family, "model": model,
            "name": name}


def valgrind_version(valgrind="valgrind"):
    exe = shutil.which(valgrind)
    if not exe:
        return None
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment_key(isa_path, valgrind="valgrind"):
    """What the counts depend on. Two gate runs are compared only when these are all equal."""
    from .. import _native

    b = _native.build_info()
    cpu = _cpu_class()
    return {
        "compiler": b.get("compiler"),
        "build_type": b.get("build_type"),
        "flags": b.get("flags"),
        "cpu": f"{cpu['vendor']} family {cpu['family']} model {cpu['model']}",
        "isa_path": isa_path,
        "valgrind": valgrind_version(valgrind),
        "python": platform.python_version(),
        "numpy": ".".join(np.__version__.split(".")[:2]),
    }


def key_diff(a, b):
    """['field: baseline X, current Y', ...] for the fields where two keys differ."""
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f"{k}: baseline {a.get(k)!r}, current {b.get(k)!r}")
    return out


_TOTALS = re.compile(r"^(?:totals|summary):\s*(\d+)", re.M)
_DESC = re.compile(r"^desc: Trigger: Client Request: (.*)$", re.M)


def read_dumps(directory, prefix="callgrind.out"):
    """{dump name: Ir} from the callgrind dump files in `directory`."""
    counts = {}
    for path in glob.glob(os.path.join(directory, prefix + "*")):
        with open(path, errors="replace") as f:
            text = f.read()
        d, t = _DESC.search(text), _TOTALS.search(text)
        if d and t:
            counts[d.group(1).strip()] = int(t.group(1))
    return counts


def hooks_available():
    """True when pybench._native has live callgrind hooks (built with valgrind/callgrind.h)."""
    from .. import _native

    return bool(getattr(_native, "callgrind_available", lambda: False)())


def _native_dir():
    from .. import __file__ as pkg_init

    return os.path.dirname(os.path.dirname(os.path.abspath(pkg_init)))


def count(names=None, isa=None, repeat=3, valgrind="valgrind", log=None, timeout=1800):
    """Spawn the worker under callgrind; return the figures (a dict ready for JSON)."""
    from .. import _native

    exe = shutil.which(valgrind)
    if not exe:
        raise GateError(f"valgrind not found ({valgrind!r} is not on PATH): install it (apt-get install valgrind)")
    if not hooks_available():
        raise GateError("pybench._native was built without valgrind/callgrind.h (install valgrind's headers, "
                        "then rebuild): the gate cannot count")
    select(names)  # a bad --only fails here, before valgrind starts
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=_native_dir())
    with tempfile.TemporaryDirectory(prefix="pybench-gate-") as tmp:
        wout = os.path.join(tmp, "worker.json")
        cmd = [exe, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/callgrind.out",
               sys.executable, "-m", "pybench.bench.gate", "--worker", wout, "--repeat", str(repeat)]
        if isa:
            cmd += ["--isa", isa]
        for n in names or ():
            cmd += ["--only", n]
        t0 = time.perf_counter()
        if log:
            log(f"pybench gate: counting {len(select(names))} problems under callgrind (a minute or two)")
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not os.path.exists(wout):
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-15:])
            raise GateError(f"the worker under valgrind exited with {proc.returncode}:\n{tail}")
        with open(wout) as f:
            w = json.load(f)
        dumps = read_dumps(tmp)
    kernels, failed = {}, {}
    for name, rec in w["problems"].items():
        if not rec["ok"]:
            failed[name] = rec["error"]
            continue
        reps = [dumps.get(f"{name}#{i}") for i in range(repeat)]
        if any(r is None for r in reps):
            failed[name] = "no callgrind dump for this problem"
            continue
        kernels[name] = {"family": rec["family"], "instructions": min(reps), "repeats": reps}
    return {
        "schema": SCHEMA,
        "metric": METRIC,
        "unit": "instructions per call (callgrind Ir)",
        "key": environment_key(w["isa_active"], valgrind),
        "kernels": kernels,
        "failed": failed,
        "threads": w["threads"],
        "wall_seconds": round(wall, 1),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def git_state(cwd=None):
    """{'commit': sha or None, 'dirty': bool or None} of the checkout we run in (the current
    directory, else the one the imported pybench lives in; CI runs from the clone's root)."""
    for d in ([cwd] if cwd else [os.getcwd(), _native_dir()]):
        st = _git_state(d)
        if st["commit"]:
            return st
    return {"commit": None, "dirty": None}


def _git_state(cwd):
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=30)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True,
                            text=True, timeout=30)
        return {"commit": sha.stdout.strip(), "dirty": bool(st.stdout.strip()) if st.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def write_json(d, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(d, f, indent=1, sort_keys=False)
        f.write("\n")


REFRESH = "refresh it with `pybench gate --update-baseline` on this set-up (README: Regression gate)"


def run_gate(baseline=DEFAULT_BASELINE, out=None, threshold=None, history=DEFAULT_HISTORY, update_baseline=False,
             names=None, isa=None, repeat=3, valgrind="valgrind", say=print, err=print):
    """`pybench gate`; returns its exit code: 0 pass (or not comparable: foreign key, no baseline),
    1 a regression, a kernel that failed its check or went missing, 2 usage error, 3 the gate could
    not run (valgrind missing, worker crashed)."""
    from . import compare as C, history as H

    try:
        thr = C.check_threshold(threshold, METRIC)
        select(names)
    except (C.CompareError, ValueError) as e:
        err(f"pybench gate: error: {e}")
        return 2
    try:
        figures = count(names, isa=isa, repeat=repeat, valgrind=valgrind, log=err)
    except GateError as e:
        err(f"pybench gate: could not run: {e}")
        return 3
    figures["command"] = ["pybench", "gate"]
    git = git_state()
    figures["git"] = git
    if out:
        write_json(figures, out)
    k = figures["key"]
    say(f"pybench gate: {len(figures['kernels'])} kernels counted in {figures['wall_seconds']} s; "
        f"{k['compiler']}, {k['cpu']}, ISA {k['isa_path']}, {k['valgrind']}, Python {k['python']}, "
        f"NumPy {k['numpy']}; commit {(git['commit'] or '?')[:10]}{' (dirty)' if git['dirty'] else ''}")
    for name, reason in figures["failed"].items():
        err(f"FAILED {name}: {reason}")
    compared, code = None, 1 if figures["failed"] else 0
    if update_baseline:
        if figures["failed"]:
            err(f"pybench gate: baseline NOT written: {len(figures['failed'])} problem(s) failed their check")
        else:
            write_json(figures, baseline)
            say(f"wrote the baseline {baseline} ({len(figures['kernels'])} kernels): commit it")
            compared = "baseline"
    elif not os.path.exists(baseline):
        say(f"not compared: no baseline at {baseline}; create it with `pybench gate --update-baseline`")
        compared = "no baseline"
    else:
        try:
            base = C.load(baseline)
        except C.CompareError as e:
            err(f"pybench gate: error: {e}")
            return 2
        if names:  # --only: the other baseline kernels were not run, not missing
            chosen = {p.name for p in select(names)}
            base["kernels"] = {n: v for n, v in base["kernels"].items() if n in chosen}
        cur = {"metric": METRIC, "key": k, "failed": figures["failed"],
               "kernels": {n: float(v["instructions"]) for n, v in figures["kernels"].items()}}
        if base["key"] != k:
            say(key_mismatch_line(base["key"] or {}, k))
            compared = "foreign key"
        else:
            rows, counts = C.compare(base, cur, thr)
            say(C.format_table(rows, METRIC, thr))
            say(C.summary_line(counts, METRIC, thr))
            code = C.exit_code(counts)
            compared = {"baseline": baseline, "threshold": thr, "counts": counts,
                        "worst_pct": max((r["change_pct"] for r in rows if r["change_pct"] is not None), default=None)}
    if history:
        H.append(history, H.entry(figures, git, compared))
    return code


def key_mismatch_line(base_key, cur_key):
    from .compare import key_mismatch_line as line

    return line(key_diff(base_key, cur_key), REFRESH)


# ---------------------------------------------------------------------------------------------
# Alternative metric, measured for the choice: time ratio to an in-process reference
# ---------------------------------------------------------------------------------------------

def time_ratios(names=None, rounds=15, ref_elems=1 << 18, min_time=0.004):
    """{problem: median over `rounds` of t(problem) / t(reference copy)}, timed alternately in this
    process, one thread. The reference is a single-threaded copy of `ref_elems` float32 values."""
    from .. import _native

    _native.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    src = rng.standard_normal(ref_elems).astype(np.float32)
    dst = np.empty_like(src)

    def ref():
        _native.copy(src, out=dst, impl="naive")

    def per_call(fn, n):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n

    def reps(fn):
        n, t = 1, per_call(fn, 1)
        while t * n < min_time:
            n *= 2
        return n

    out = {}
    for p in select(names):
        p.build(rng)

        def run(p=p):
            p.prepare()
            p.run()
        run()
        err = p.check()
        if err:
            out[p.name] = None
            continue
        nk, nr = reps(run), reps(ref)
        ratios = []
        for i in range(rounds):
            if i % 2:
                tr, tk = per_call(ref, nr), per_call(run, nk)
            else:
                tk, tr = per_call(run, nk), per_call(ref, nr)
            ratios.append(tk / tr)
        out[p.name] = float(np.median(ratios))
    return out


def _main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m pybench.bench.gate")
    ap.add_argument("--worker", metavar="OUT", help="internal: the process valgrind runs")
    ap.add_argument("--only", action="append", default=None)
    ap.add_argument("--isa", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--time-ratios", metavar="OUT", help="measure the time-ratio metric into OUT (JSON)")
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.only, a.isa, a.repeat)
        return 0
    if a.time_ratios:
        write_json({"metric": "time ratio to a 1 MiB single-thread copy", "kernels": time_ratios(a.only)},
                   a.time_ratios)
        return 0
    ap.error("nothing to do: use `pybench gate`")


if __name__ == "__main__":
    sys.exit(_main())
