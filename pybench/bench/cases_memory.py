"""The memory-bound cases of `pybench bench` (work counted in the fewest bytes one pass must move):
copy (the bandwidth ceiling), the activations and softmax, dropout, batch_norm. Each has its case
class (inputs, our call, the peers' calls, the check) and its problem constructor; the checks run
chunk by chunk (rows, or BatchNorm's channels) so the float64 reference stays in cache.
"""

from dataclasses import dataclass

import numpy as np

from .check import EXACT, Accumulator, CheckResult, Tol
from .problem_core import F32, TOL_BN, TOL_DROPOUT, TOL_ELEMENTWISE, Candidate, Problem, _t, ops_fn, ref_fn

CHECK_CHUNK = 1 << 18          # elements per reference call: its float64 temporaries stay in L2


# ----------------------------------------------------------------------------------------------
# copy: the bandwidth ceiling
# ----------------------------------------------------------------------------------------------


class CopyCase:
    oracle = "src itself (exact)"

    def __init__(self, inputs, shape):
        self.x = inputs.get("x", shape)  # the activations' x: one 64M-element input, not two

    def ours(self, impl):
        from .. import _native  # noqa: PLC0415

        y = np.empty_like(self.x)
        kw = {"impl": impl} if impl else {}
        return Candidate(lambda: _native.copy(self.x, out=y, **kw), lambda: {"out": y}, [y])

    def peer(self, name, torch):
        y = np.empty_like(self.x)
        if name == "numpy":
            return Candidate(lambda: np.copyto(y, self.x), lambda: {"out": y}, [y], note="np.copyto")
        if name == "torch":
            tx, ty = _t(torch, self.x), _t(torch, y)
            return Candidate(lambda: ty.copy_(tx), lambda: {"out": y}, [y], note="Tensor.copy_")
        return None

    def check(self, out):
        acc = Accumulator()
        acc.add("out", out["out"], self.x, EXACT)
        return acc.result()


def copy_problem(rows, cols):
    n = rows * cols
    return Problem("copy", "", f"({rows}, {cols})", {"shape": [rows, cols]}, "memory", 2 * 4 * n,
                   "read src + write out = 2·n·4 B", ("copy",), lambda inp: CopyCase(inp, (rows, cols)),
                   ("numpy", "torch"))


# ----------------------------------------------------------------------------------------------
# activations and softmax: element-wise / row-wise, checked chunk by chunk of rows
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    op: str                     # --op name and pybench.ops prefix
    variant: str = ""           # shown in the label (gelu's "tanh")
    params: tuple = ()          # (name, value) pairs for ours and the reference
    bwd_takes: str = "x"        # ours' backward takes (dy, x) or (dy, y) (softmax: the forward output)
    torch_fwd: object = None    # (aten, x, params, out) -> None
    torch_bwd: object = None    # (aten, dy, x, y, params, out) -> None
    torch_bwd_takes: str = "x"  # what torch's backward reads besides dy
    numpy_fwd: object = None    # (x, out) -> None

    def torch_call(self, backward, A, params, out, x, dy=None, y=None):
        """(run, note): torch's forward or backward into `out` (host tensors, or on the device)."""
        if backward:
            f = self.torch_bwd
            return (lambda: f(A, dy, x, y, params, out)), "aten *_backward(.grad_input)"
        f = self.torch_fwd
        return (lambda: f(A, x, params, out)), "aten *.out"


def _p(params):
    return dict(params)


ACTS = [
    # aten.relu.out computes into a new tensor and copies (6x slower at 64M); clamp_min.out writes
    # in place and propagates NaN alike.
    Act("relu", torch_fwd=lambda A, x, p, o: A.clamp_min.out(x, 0.0, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.threshold_backward.grad_input(dy, x, 0, grad_input=o),
        numpy_fwd=lambda x, o: np.maximum(x, F32(0), out=o)),
    Act("leaky_relu", params=(("negative_slope", 0.01),),
        torch_fwd=lambda A, x, p, o: A.leaky_relu.out(x, p["negative_slope"], out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.leaky_relu_backward.grad_input(dy, x, p["negative_slope"], False,
                                                                            grad_input=o)),
    Act("elu", params=(("alpha", 1.0),),
        torch_fwd=lambda A, x, p, o: A.elu.out(x, p["alpha"], 1, 1, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.elu_backward.grad_input(dy, p["alpha"], 1, 1, False, x, grad_input=o)),
    Act("gelu", "erf", params=(("approximate", "none"),),
        torch_fwd=lambda A, x, p, o: A.gelu.out(x, approximate="none", out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.gelu_backward.grad_input(dy, x, approximate="none", grad_input=o)),
    Act("gelu", "tanh", params=(("approximate", "tanh"),),
        torch_fwd=lambda A, x, p, o: A.gelu.out(x, approximate="tanh", out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.gelu_backward.grad_input(dy, x, approximate="tanh", grad_input=o)),
    Act("sigmoid", torch_fwd=lambda A, x, p, o: A.sigmoid.out(x, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.sigmoid_backward.grad_input(dy, y, grad_input=o), torch_bwd_takes="y"),
    Act("tanh", torch_fwd=lambda A, x, p, o: A.tanh.out(x, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.tanh_backward.grad_input(dy, y, grad_input=o), torch_bwd_takes="y",
        numpy_fwd=lambda x, o: np.tanh(x, out=o)),
    Act("silu", torch_fwd=lambda A, x, p, o: A.silu.out(x, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.silu_backward.grad_input(dy, x, grad_input=o)),
    Act("hardswish", torch_fwd=lambda A, x, p, o: A.hardswish.out(x, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.hardswish_backward.out(dy, x, out=o)),
    Act("softplus", params=(("beta", 1.0), ("threshold", 20.0)),
        torch_fwd=lambda A, x, p, o: A.softplus.out(x, p["beta"], p["threshold"], out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A.softplus_backward.grad_input(dy, x, p["beta"], p["threshold"],
                                                                          grad_input=o)),
    Act("softmax", bwd_takes="y", torch_bwd_takes="y",
        torch_fwd=lambda A, x, p, o: A._softmax.out(x, -1, False, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A._softmax_backward_data.out(dy, y, -1, x.dtype, grad_input=o)),
    Act("log_softmax", bwd_takes="y", torch_bwd_takes="y",
        torch_fwd=lambda A, x, p, o: A._log_softmax.out(x, -1, False, out=o),
        torch_bwd=lambda A, dy, x, y, p, o: A._log_softmax_backward_data.out(dy, y, -1, x.dtype, out=o)),
]
ACT_OPS = tuple(dict.fromkeys(a.op for a in ACTS))


def _row_chunks(rows, cols):
    step = max(1, CHECK_CHUNK // cols)
    for r in range(0, rows, step):
        yield slice(r, min(rows, r + step))


class ActCase:
    def __init__(self, inputs, act, backward, shape):
        self.act, self.backward, self.shape = act, backward, shape
        self.params = _p(act.params)
        self.x = inputs.get("x", shape)
        self.dy = inputs.get("dy", shape) if backward else None
        self._ref_fwd = ref_fn(f"{act.op}_forward")
        self._ref = ref_fn(f"{act.op}_{'backward' if backward else 'forward'}")
        self.oracle = f"pybench.reference.{act.op}_{'backward' if backward else 'forward'} (float64, by rows)"
        # y = forward output, needed when ours' or torch's backward reads it: from the reference
        # (float64, rounded to float32), so both sides get the same valid y.
        self.y = None
        if backward and (act.bwd_takes == "y" or act.torch_bwd_takes == "y"):
            self.y = np.empty(shape, self.x.dtype)
            for s in _row_chunks(*shape):
                self.y[s] = self._ref_fwd(self.x[s].astype(np.float64), **self.params)

    def _second(self, takes):
        return self.y if takes == "y" else self.x

    def ours(self, impl):
        out = np.empty(self.shape, self.x.dtype)
        kw = dict(self.params)
        if impl:
            kw["impl"] = impl
        if self.backward:
            f, dy, z = ops_fn(f"{self.act.op}_backward"), self.dy, self._second(self.act.bwd_takes)
            run = lambda: f(dy, z, out=out, **kw)  # noqa: E731
        else:
            f, x = ops_fn(f"{self.act.op}_forward"), self.x
            run = lambda: f(x, out=out, **kw)  # noqa: E731
        return Candidate(run, lambda: {"out": out}, [out])

    def peer(self, name, torch):
        out = np.empty(self.shape, self.x.dtype)
        p = self.params
        if name == "numpy":
            if self.backward or self.act.numpy_fwd is None:
                return None
            f, x = self.act.numpy_fwd, self.x
            return Candidate(lambda: f(x, out), lambda: {"out": out}, [out], note="ufunc(out=)")
        if name == "torch":
            A = torch.ops.aten
            to = _t(torch, out)
            x = _t(torch, self.x)
            dy = _t(torch, self.dy) if self.backward else None
            y = _t(torch, self.y) if self.y is not None else None
            run, note = self.act.torch_call(self.backward, A, p, to, x, dy, y)
            return Candidate(run, lambda: {"out": out}, [out], note=note)
        return None

    def check(self, out):
        acc = Accumulator()
        actual = out["out"]
        for s in _row_chunks(*self.shape):
            if self.backward:
                z = self._second(self.act.bwd_takes)
                e = self._ref(self.dy[s].astype(np.float64), z[s].astype(np.float64), **self.params)
            else:
                e = self._ref(self.x[s].astype(np.float64), **self.params)
            acc.add("out", actual[s], e, TOL_ELEMENTWISE)
        return acc.result()


def act_problem(act, backward, rows, cols):
    n = rows * cols
    label = ("bwd" if backward else "fwd") + (f" {act.variant}" if act.variant else "")
    if backward:
        work, formula = 3 * 4 * n, f"read dy, {act.bwd_takes} + write dx = 3·n·4 B"
    else:
        work, formula = 2 * 4 * n, "read x + write y = 2·n·4 B"
    fn = f"{act.op}_{'backward' if backward else 'forward'}"
    peers = ("torch",) if (backward or act.numpy_fwd is None) else ("numpy", "torch")
    return Problem(act.op, label, f"({rows}, {cols})", {"shape": [rows, cols], **_p(act.params)}, "memory", work,
                   formula, (fn,), lambda inp: ActCase(inp, act, backward, (rows, cols)), peers)


# ----------------------------------------------------------------------------------------------
# dropout forward
# ----------------------------------------------------------------------------------------------

DROPOUT_P = 0.5


class DropoutCase:
    def __init__(self, inputs, shape):
        self.shape = shape
        self.x = inputs.get("x", shape)
        self._ref = ref_fn("dropout_forward")
        self.oracle = "pybench.reference.dropout_forward (float32, exact mask, by rows at their element offset)"

    def ours(self, impl):
        f = ops_fn("dropout_forward")
        out = np.empty(self.shape, self.x.dtype)
        kw = {"impl": impl} if impl else {}
        return Candidate(lambda: f(self.x, p=DROPOUT_P, seed=0, offset=0, training=True, out=out, **kw),
                         lambda: {"out": out}, [out])

    def peer(self, name, torch):
        if name != "torch":
            return None
        out = np.empty(self.shape, self.x.dtype)
        mask = torch.empty(self.shape, dtype=torch.bool)
        x, to = _t(torch, self.x), _t(torch, out)
        nd = torch.ops.aten.native_dropout.out
        return Candidate(lambda: nd(x, DROPOUT_P, True, out0=to, out1=mask), lambda: {"out": out}, [out],
                         note="aten.native_dropout.out (other RNG; also writes a bool mask, +n·1 B)",
                         check=self._check_structure)

    def _check_structure(self, out):
        """For a peer with its own RNG: every element is 0 or x/(1-p), and about 1-p are kept."""
        y, x = out["out"], self.x
        kept = y != 0
        scale = x.dtype.type(1.0 / (1.0 - DROPOUT_P))
        ok_vals = bool(np.all(np.where(kept, y == x * scale, True)))
        frac = float(kept.mean())
        ok = ok_vals and abs(frac - (1 - DROPOUT_P)) < 0.02
        return CheckResult(ok=ok, worst=0.0 if ok else float("inf"), where="out",
                           detail="" if ok else f"kept fraction {frac:.4f}, values ok: {ok_vals}")

    def check(self, out):
        # By rows, each chunk at its element offset: the mask is a function of (seed, offset +
        # element index), so chunk [i0, i1) with offset i0 is exactly those elements of the whole.
        acc = Accumulator()
        rows, cols = self.shape
        for s in _row_chunks(rows, cols):
            e = self._ref(self.x[s], p=DROPOUT_P, seed=0, offset=s.start * cols, training=True)
            acc.add("out", out["out"][s], e, TOL_DROPOUT)
        return acc.result()


def dropout_problem(rows, cols):
    n = rows * cols
    return Problem("dropout", f"fwd p={DROPOUT_P}", f"({rows}, {cols})", {"shape": [rows, cols], "p": DROPOUT_P},
                   "memory", 2 * 4 * n, "read x + write y = 2·n·4 B (mask generated, not stored)",
                   ("dropout_forward",), lambda inp: DropoutCase(inp, (rows, cols)), ("torch",))


# ----------------------------------------------------------------------------------------------
# batch_norm forward / backward (training mode), checked channel chunk by channel chunk
# ----------------------------------------------------------------------------------------------

BN_MOMENTUM, BN_EPS = 0.1, 1e-5


class BatchNormCase:
    def __init__(self, inputs, shape, backward):
        self.shape, self.backward = shape, backward
        n, c, h, w = shape
        self.m = n * h * w
        self.x = inputs.get("x", shape)
        self.w = inputs.get("bn_w", (c,), scale=0.1, offset=1.0)
        self.b = inputs.get("bn_b", (c,), scale=0.1)
        self.rm0 = np.zeros(c, self.x.dtype)
        self.rv0 = np.ones(c, self.x.dtype)
        name = "batch_norm_backward" if backward else "batch_norm_forward"
        self._ref = ref_fn(name)
        self.oracle = f"pybench.reference.{name} (float64, by channels)"
        # per-channel sums over m = N·H·W elements: tolerance on the scale of sqrt(m)
        self.tol = {"y": TOL_BN, "dx": TOL_BN, "save_mean": Tol(1e-4, 1e-5), "save_invstd": Tol(1e-4, 1e-5),
                    "running_mean": Tol(1e-4, 1e-5), "running_var": Tol(1e-4, 1e-5),
                    "dweight": Tol(1e-4, 1e-4 * np.sqrt(self.m)), "dbias": Tol(1e-4, 1e-4 * np.sqrt(self.m))}
        if backward:
            self.dy = inputs.get("dy", shape)
            mean = np.empty(c, np.float64)
            var = np.empty(c, np.float64)
            for cs in self._chunks():
                xc = self.x[:, cs].astype(np.float64)
                mean[cs] = xc.mean(axis=(0, 2, 3))
                var[cs] = xc.var(axis=(0, 2, 3))
            self.save_mean = mean.astype(self.x.dtype)
            self.save_invstd = (1.0 / np.sqrt(var + BN_EPS)).astype(self.x.dtype)

    def _chunks(self):
        c = self.shape[1]
        step = max(1, CHECK_CHUNK // self.m)
        for c0 in range(0, c, step):
            yield slice(c0, min(c, c0 + step))

    def ours(self, impl):
        kw = {"impl": impl} if impl else {}
        if self.backward:
            f = ops_fn("batch_norm_backward")
            dx, dw, db = np.empty_like(self.x), np.empty_like(self.w), np.empty_like(self.b)
            run = lambda: f(self.dy, self.x, self.w, self.save_mean, self.save_invstd, training=True,  # noqa: E731
                            dx=dx, dweight=dw, dbias=db, **kw)
            return Candidate(run, lambda: {"dx": dx, "dweight": dw, "dbias": db}, [dx, dw, db])
        f = ops_fn("batch_norm_forward")
        y = np.empty_like(self.x)
        rm, rv = self.rm0.copy(), self.rv0.copy()
        last = {}

        def run():
            last["r"] = f(self.x, self.w, self.b, rm, rv, training=True, momentum=BN_MOMENTUM, eps=BN_EPS, out=y, **kw)

        def outs():
            r = last["r"]
            return {"y": y, "save_mean": r[1], "save_invstd": r[2], "running_mean": rm, "running_var": rv}

        def prepare():  # the running statistics move with every call
            rm[...], rv[...] = self.rm0, self.rv0

        return Candidate(run, outs, [y], prepare=prepare)

    def peer(self, name, torch):
        if name != "torch":
            return None
        A = torch.ops.aten
        x, w, b = (_t(torch, a) for a in (self.x, self.w, self.b))
        c = self.shape[1]
        if self.backward:
            dx, dw, db = np.empty_like(self.x), np.empty_like(self.w), np.empty_like(self.b)
            dy, sm, si = (_t(torch, a) for a in (self.dy, self.save_mean, self.save_invstd))
            o = [_t(torch, a) for a in (dx, dw, db)]
            run = lambda: A.native_batch_norm_backward.out(dy, x, w, None, None, sm, si, True, BN_EPS,  # noqa: E731
                                                           [True, True, True], out0=o[0], out1=o[1], out2=o[2])
            return Candidate(run, lambda: {"dx": dx, "dweight": dw, "dbias": db}, [dx, dw, db],
                             note="aten.native_batch_norm_backward.out")
        y = np.empty_like(self.x)
        sm, si = np.empty(c, F32), np.empty(c, F32)
        rm, rv = _t(torch, self.rm0.copy()), _t(torch, self.rv0.copy())
        ty, tsm, tsi = _t(torch, y), _t(torch, sm), _t(torch, si)
        run = lambda: A.native_batch_norm.out(x, w, b, rm, rv, True, BN_MOMENTUM, BN_EPS, out=ty,  # noqa: E731
                                              save_mean=tsm, save_invstd=tsi)
        return Candidate(run, lambda: {"y": y, "save_mean": sm, "save_invstd": si}, [y],
                         note="aten.native_batch_norm.out")

    def check(self, out):
        acc = Accumulator()
        for cs in self._chunks():
            f64 = lambda a: np.ascontiguousarray(a[:, cs], dtype=np.float64)  # noqa: E731
            if self.backward:
                dx, dw, db = self._ref(f64(self.dy), f64(self.x), self.w[cs].astype(np.float64),
                                       self.save_mean[cs].astype(np.float64), self.save_invstd[cs].astype(np.float64),
                                       training=True)
                exp = {"dx": dx, "dweight": dw, "dbias": db}
            else:
                rm, rv = self.rm0[cs].astype(np.float64), self.rv0[cs].astype(np.float64)
                y, mean, invstd = self._ref(f64(self.x), self.w[cs].astype(np.float64), self.b[cs].astype(np.float64),
                                            rm, rv, training=True, momentum=BN_MOMENTUM, eps=BN_EPS)
                exp = {"y": y, "save_mean": mean, "save_invstd": invstd, "running_mean": rm, "running_var": rv}
            for k, e in exp.items():
                if k in out:
                    a = out[k][:, cs] if np.ndim(out[k]) == 4 else np.asarray(out[k])[cs]
                    acc.add(k, a, e, self.tol[k])
        return acc.result()


def batch_norm_problem(shape, backward):
    """`work` counts the minimum bytes (each array once). A kernel for tensors larger than the
    caches must read x twice (the statistics / the backward sums, then the element-wise pass), so
    params["two_pass_work"] gives the bytes such a kernel moves as a second figure: forward
    3·n·4 B (x twice, y once), backward 5·n·4 B (dy and x twice, dx once); the fraction of copy
    on that basis is fraction_of_copy * two_pass_work / work (at most 2/3 and 3/5 of the
    min-bytes figure's 100%, if reads and writes run at copy speed)."""
    n = int(np.prod(shape))
    if backward:
        work, two_pass = 3 * 4 * n, 5 * 4 * n
        formula = ("read dy, x + write dx = 3·n·4 B (per-channel outputs and the reductions' 2nd read not counted; "
                   "with the 2nd read of dy and x: 5·n·4 B = params.two_pass_work)")
    else:
        work, two_pass = 2 * 4 * n, 3 * 4 * n
        formula = ("read x + write y = 2·n·4 B (the statistics' pass over x not counted; "
                   "with it: 3·n·4 B = params.two_pass_work)")
    return Problem("batch_norm", "bwd" if backward else "fwd", "(%d, %d, %d, %d)" % shape,
                   {"shape": list(shape), "training": True, "two_pass_work": two_pass}, "memory", work, formula,
                   ("batch_norm_backward",) if backward else ("batch_norm_forward",),
                   lambda inp: BatchNormCase(inp, shape, backward), ("torch",))
