"""The training-step cases: pooling (max, avg, global avg), the losses and the optimizer steps.

Each is stated as arrays in, one call of ours, outputs, and the pybench.reference function of the
same name (ArrayCase); the same statement runs on the host and, through an array module's
to_device/empty/to_host (cuda_problems.py), on the device. Work is counted in bytes (memory-bound).
"""

import numpy as np

from .check import EXACT, Accumulator
from .problem_core import TOL_ELEMENTWISE, TOL_SUM, Candidate, Problem, _t, ops_fn, ref_fn


class _Host:
    """The host as an array backend: inputs used as they are, outputs allocated with NumPy."""

    @staticmethod
    def to_device(a):
        return a

    @staticmethod
    def empty(shape, dtype):
        return np.empty(shape, dtype)

    @staticmethod
    def to_host(a):
        return a


HOST = _Host()


class ArrayCase:
    """One call of ours on the arrays `a` (inputs, and `state` updated in place, reset by the
    candidate's prepare), writing the preallocated outputs `out_specs()`; a loss also returns its
    value (`scalar`). The check compares outputs, state and value with `ref()` in float64."""

    fn = ""
    state = ()
    scalar = None
    tol = TOL_ELEMENTWISE

    def __init__(self, inputs, params):
        self.params = dict(params)
        self.a = self.make(inputs, **self.params)
        self.oracle = f"pybench.reference.{self.fn} (float64)"
        self._expected = None

    def kwargs(self):
        """The call's keywords besides the arrays (the hyperparameters)."""
        return {}

    def ours(self, impl, xp=HOST):
        f = ops_fn(self.fn)
        kw = dict(self.kwargs(), **({"impl": impl} if impl else {}))
        a = {k: xp.to_device(v) for k, v in self.a.items()}
        start = {k: a[k] for k in self.state}
        for k in self.state:  # the candidate's own state, so each candidate starts from the same values
            a[k] = xp.empty(self.a[k].shape, self.a[k].dtype)
        o = {k: xp.empty(shape, dt) for k, (shape, dt) in self.out_specs().items()}
        last = {}

        def prepare():
            for k in self.state:
                a[k][...] = start[k]

        def run():
            last["value"] = self.call(f, a, o, kw)

        def outputs():
            d = {k: xp.to_host(v) for k, v in {**o, **{k: a[k] for k in self.state}}.items()}
            if self.scalar:
                d[self.scalar] = np.float64(last["value"])
            return d

        prepare()
        floats = [v for v in o.values() if np.dtype(v.dtype).kind == "f"]
        return Candidate(run, outputs, floats, prepare=prepare)

    def peer(self, name, mod):
        return None

    def check(self, out):
        if self._expected is None:
            a64 = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in self.a.items()}
            self._expected = self.ref(ref_fn(self.fn), a64)
        acc = Accumulator()
        for k, e in self._expected.items():
            acc.add(k, np.asarray(out[k]), np.asarray(e), EXACT if np.asarray(e).dtype.kind == "i" else self.tol)
        return acc.result()

    def out_specs(self):
        return {}


def _dt(case):
    return next(v.dtype for v in case.a.values() if v.dtype.kind == "f")


# ----------------------------------------------------------------------------------------------
# pooling (NCHW)
# ----------------------------------------------------------------------------------------------


def _pool_oshape(kind, params):
    n, c, h, w = params["shape"]
    if kind == "global_avg":
        return (n, c)
    k, s, p = params["k"], params["s"], params["p"]
    return (n, c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)


class PoolCase(ArrayCase):
    """max_pool2d / avg_pool2d / global_avg_pool2d, forward or backward. params: shape, k, s, p."""

    def __init__(self, inputs, kind, backward, params):
        self.kind, self.backward = kind, backward
        self.fn = f"{kind}_pool2d_{'backward' if backward else 'forward'}"
        super().__init__(inputs, params)

    def _oshape(self):
        return _pool_oshape(self.kind, self.params)

    def _geom(self):
        return () if self.kind == "global_avg" else (self.params["k"], self.params["s"], self.params["p"])

    def make(self, inputs, shape, **_):
        x = inputs.get("x", shape)
        if not self.backward:
            return {"x": x}
        d = {"dy": inputs.get("dy", self._oshape())}
        if self.kind == "max":  # the forward's argmax, from the reference
            d["indices"] = ref_fn("max_pool2d_forward")(x, *self._geom())[1]
        return d

    def out_specs(self):
        dt = _dt(self)
        if self.backward:
            return {"dx": (tuple(self.params["shape"]), dt)}
        specs = {"y": (self._oshape(), dt)}
        if self.kind == "max":
            specs["indices"] = (self._oshape(), np.int64)
        return specs

    def call(self, f, a, o, kw):
        shape, g = tuple(self.params["shape"]), self._geom()
        if not self.backward:
            extra = {"indices": o["indices"]} if self.kind == "max" else {}
            return f(a["x"], *g, out=o["y"], **extra, **kw)
        if self.kind == "max":
            return f(a["dy"], a["indices"], shape, out=o["dx"], **kw)
        return f(a["dy"], shape, *g, out=o["dx"], **kw)

    def ref(self, r, a):
        shape, g = tuple(self.params["shape"]), self._geom()
        if not self.backward:
            res = r(a["x"], *g)
            return {"y": res[0], "indices": res[1]} if self.kind == "max" else {"y": res}
        if self.kind == "max":
            return {"dx": r(a["dy"], a["indices"], shape)}
        return {"dx": r(a["dy"], shape, *g)}

    def peer(self, name, torch, xp=HOST, tt=_t):
        if name != "torch":
            return None
        A = torch.ops.aten
        o = {k: xp.empty(shape, dt) for k, (shape, dt) in self.out_specs().items()}
        t = {k: tt(torch, v) for k, v in o.items()}
        a = {k: tt(torch, xp.to_device(v)) for k, v in self.a.items()}
        k, s, p = ([self.params.get(n, 1)] * 2 for n in ("k", "s", "p"))
        if self.backward and self.kind != "global_avg":  # read for its shape only
            x = tt(torch, xp.empty(tuple(self.params["shape"]), _dt(self)))
        if self.kind == "max" and not self.backward:
            run = lambda: A.max_pool2d_with_indices.out(a["x"], k, s, p, [1, 1], False, out=t["y"],  # noqa: E731
                                                        indices=t["indices"])
        elif self.kind == "max":
            run = lambda: A.max_pool2d_with_indices_backward.grad_input(  # noqa: E731
                a["dy"], x, k, s, p, [1, 1], False, a["indices"], grad_input=t["dx"])
        elif self.kind == "avg" and not self.backward:
            run = lambda: A.avg_pool2d.out(a["x"], k, s, p, False, True, None, out=t["y"])  # noqa: E731
        elif self.kind == "avg":
            run = lambda: A.avg_pool2d_backward.grad_input(a["dy"], x, k, s, p, False, True, None,  # noqa: E731
                                                           grad_input=t["dx"])
        elif not self.backward:
            run = lambda: torch.mean(a["x"], (2, 3), out=t["y"])  # noqa: E731
        else:
            hw = self.params["shape"][2] * self.params["shape"][3]
            run = lambda: torch.div(a["dy"][:, :, None, None].expand_as(t["dx"]), hw, out=t["dx"])  # noqa: E731
        return Candidate(run, lambda: {k: xp.to_host(v) for k, v in o.items()},
                         [v for v in o.values() if np.dtype(v.dtype).kind == "f"],
                         note="aten pooling .out / .grad_input")


def pool_problem(kind, backward, shape, k=None, s=None, p=0):
    n, c, h, w = shape
    params = {"shape": list(shape)} if kind == "global_avg" else {"shape": list(shape), "k": k, "s": s, "p": p}
    nx, ny = n * c * h * w, int(np.prod(_pool_oshape(kind, params)))
    extra = ny * 8 if kind == "max" else 0  # the int64 indices
    io = "read dy + write dx" if backward else "read x + write y"
    ind = (" + read indices" if backward else " + write indices") + " (8 B each)" if extra else ""
    work, formula = 4 * (nx + ny) + extra, io + ind
    geom = "" if kind == "global_avg" else f" k{k} s{s} p{p}"
    fn = f"{kind}_pool2d_{'backward' if backward else 'forward'}"
    return Problem(f"{kind}_pool2d", "bwd" if backward else "fwd", f"({n}, {c}, {h}, {w}){geom}", params, "memory",
                   work, formula + " (float32: 4 B per element)", (fn,),
                   lambda inp: PoolCase(inp, kind, backward, params), ("torch",))


# ----------------------------------------------------------------------------------------------
# losses (mean reduction): forward returns the value, backward writes the input's gradient
# ----------------------------------------------------------------------------------------------

LOSS_ARGS = {"huber": {"delta": 1.0}}


class LossCase(ArrayCase):
    def __init__(self, inputs, loss, backward, params):
        self.loss, self.backward = loss, backward
        self.fn = f"{loss}_{'backward' if backward else 'forward'}"
        self.scalar = None if backward else "loss"
        self.tol = TOL_ELEMENTWISE if backward else TOL_SUM
        super().__init__(inputs, params)

    def make(self, inputs, shape, **_):
        x = inputs.get("x", shape, scale=2.0)
        if self.loss == "cross_entropy":
            return {"x": x, "t": inputs.labels("labels", shape[0], shape[1])}
        if self.loss == "bce_with_logits":  # soft targets in [0, 1)
            t = inputs.get("t", shape, positive=True)
            return {"x": x, "t": t / (1 + t)}
        return {"x": x, "t": inputs.get("t", shape)}

    def kwargs(self):
        return dict(LOSS_ARGS.get(self.loss, {}))

    def out_specs(self):
        return {"dx": (tuple(self.params["shape"]), _dt(self))} if self.backward else {}

    def call(self, f, a, o, kw):
        if self.backward:
            return f(a["x"], a["t"], out=o["dx"], **kw)
        return f(a["x"], a["t"], **kw)

    def ref(self, r, a):
        v = r(a["x"], a["t"], **self.kwargs())
        return {"dx": v} if self.backward else {"loss": np.float64(v)}

    def peer(self, name, torch, xp=HOST, tt=_t):
        if name != "torch" or self.backward:
            return None
        F = torch.nn.functional
        x, t = (tt(torch, xp.to_device(self.a[k])) for k in ("x", "t"))
        fn = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss,
              "bce_with_logits": F.binary_cross_entropy_with_logits,
              "huber": lambda x, t: F.huber_loss(x, t, delta=LOSS_ARGS["huber"]["delta"])}[self.loss]
        res = {}

        def run():
            res["loss"] = fn(x, t)

        return Candidate(run, lambda: {"loss": np.float64(res["loss"].item())}, [], preallocated=False,
                         note=f"torch.nn.functional ({self.loss}, mean; a 0-d tensor)")


def loss_problem(loss, backward, shape):
    n = int(np.prod(shape))
    second = "labels (8 B per row)" if loss == "cross_entropy" else "target"
    if backward:
        work = 4 * 2 * n + (8 * shape[0] if loss == "cross_entropy" else 4 * n)
        formula = f"read input, {second} + write dx"
    else:
        work = 4 * n + (8 * shape[0] if loss == "cross_entropy" else 4 * n)
        formula = f"read input, {second}"
    fn = f"{loss}_{'backward' if backward else 'forward'}"
    params = {"shape": list(shape), **LOSS_ARGS.get(loss, {})}
    return Problem(loss, "bwd" if backward else "fwd", str(tuple(shape)), params, "memory", work,
                   formula + " (float32: 4 B per element)", (fn,),
                   lambda inp: LossCase(inp, loss, backward, {"shape": list(shape)}),
                   () if backward else ("torch",))  # torch has no loss backward alike (autograd only)


# ----------------------------------------------------------------------------------------------
# optimizer steps: param and state updated in place
# ----------------------------------------------------------------------------------------------

# name -> (state arrays, the hyperparameters of the problem); a step past 1 so momentum and bias
# corrections take their general path
OPTIMS = {
    "sgd": (("momentum_buf",), dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4, step=2)),
    "adam": (("exp_avg", "exp_avg_sq"), dict(step=3, lr=1e-3, weight_decay=1e-2)),
    "adamw": (("exp_avg", "exp_avg_sq"), dict(step=3, lr=1e-3, weight_decay=1e-2)),
    "rmsprop": (("square_avg", "momentum_buf"), dict(lr=0.01, alpha=0.99, momentum=0.9, weight_decay=1e-4)),
    "adagrad": (("state_sum",), dict(step=3, lr=0.01, lr_decay=1e-3, weight_decay=1e-4)),
}
_POSITIVE = {"exp_avg_sq", "square_avg", "state_sum"}  # second moments: non-negative


class OptimCase(ArrayCase):
    def __init__(self, inputs, opt, params):
        self.opt = opt
        self.fn = f"{opt}_step"
        self.state = ("param",) + OPTIMS[opt][0]
        super().__init__(inputs, params)

    def make(self, inputs, n, **_):
        a = {"param": inputs.get("param", (n,)), "grad": inputs.get("grad", (n,))}
        for s in OPTIMS[self.opt][0]:
            a[s] = inputs.get(s, (n,), scale=0.1, positive=s in _POSITIVE)
        return a

    def kwargs(self):
        return dict(OPTIMS[self.opt][1])

    def call(self, f, a, o, kw):
        return f(a["param"], a["grad"], *(a[s] for s in OPTIMS[self.opt][0]), **kw)

    def ref(self, r, a):
        st = {k: a[k].copy() for k in self.state}
        r(st["param"], a["grad"], *(st[s] for s in OPTIMS[self.opt][0]), **self.kwargs())
        return st


def optim_problem(opt, n):
    arrays = 2 + len(OPTIMS[opt][0])
    return Problem(opt, "step", f"({n},)", {"n": n, **OPTIMS[opt][1]}, "memory", 4 * n * (2 * arrays - 1),
                   f"read grad + read and write param and {len(OPTIMS[opt][0])} state array(s) (4 B per element)",
                   (f"{opt}_step",), lambda inp: OptimCase(inp, opt, {"n": n}), ())
