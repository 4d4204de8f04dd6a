"""What `pybench gate` counts: its 30 problems and the worker that counts them under valgrind.

A gate problem is one small float32 call per op family (gemm, linear, conv2d, pooling,
batch_norm, activations, softmax, dropout, loss, optimizers) built from a fixed seed, with
preallocated outputs and a check against :mod:`pybench.reference` (:func:`problems`; ``--only``
names or prefixes pick some of them: :func:`select`). :func:`worker` is what valgrind runs
(``python -m pybench.bench.gate --worker``): it checks every problem uninstrumented, then counts
each checked one between ``_native.callgrind_begin`` and ``callgrind_end``. How the counts are
taken, keyed, compared and recorded is :mod:`.gate`.
"""

import json

import numpy as np

from .. import store

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
    store.atomic_write(out_path, json.dumps(result))
