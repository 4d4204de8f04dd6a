"""What `pybench bench` measures: issue 3's target problems, per op, each with its oracle and peers.

A Problem describes one row (op, shape, work in FLOPs or bytes). Building it gives a Case: the
inputs, our call into preallocated outputs (`ours(impl)`), the same problem through NumPy and
PyTorch (`peer(name)`), and `check(outputs)` against `pybench.reference` on those actual inputs.

Work counted:
- compute-bound ops count FLOPs (a multiply-add is 2), bias adds and bias-gradient sums included;
- memory-bound ops count the fewest bytes a single pass must move (each input read once, each
  output written once; float32 = 4 B). A kernel that reads an input twice (BatchNorm's statistics,
  then the normalization) still gets credit only for the minimum, so "fraction of copy bandwidth"
  is a fraction of what a perfect fused kernel could reach; BatchNorm's rows also carry the bytes
  a two-pass kernel moves (params["two_pass_work"] in --json).
"""

import zlib
from dataclasses import dataclass, field

import numpy as np

from .check import EXACT, Accumulator, CheckResult, Tol

F32 = np.float32
ELEMS_FULL = 1 << 26          # 64M float32 elements for the memory-bound ops (256 MiB per array)
ROW_LEN = 1024                 # activations / softmax / dropout run on (ELEMS // ROW_LEN, ROW_LEN)
QUICK_ROWS, QUICK_COLS = 256, 1000  # --quick: 256 000 elements, rows not a multiple of 16
CHECK_CHUNK = 1 << 18          # elements per reference call: its float64 temporaries stay in L2

# Tolerances of the checks (ours float32 against the reference evaluated in float64 on the same
# float32 inputs, except dropout which is exact by construction).
TOL_GEMM = Tol(1e-4, 1e-4, relative_to_max=True)   # sums of K products: error scales with |result|
TOL_ELEMENTWISE = Tol(1e-5, 1e-5)                   # atol as the op tests (assert_close fp32); rtol ~ 80 ulp
TOL_BN = Tol(1e-4, 1e-4)                            # statistics over ~1M elements in float32
TOL_DROPOUT = Tol(1e-6, 0.0)


class Unavailable(Exception):
    """This build cannot run the problem (op or reference missing, impl not registered)."""


@dataclass
class Candidate:
    """One timed thing: `run()` computes into the arrays `outputs()` returns."""

    run: object
    outputs: object
    buffers: list = field(default_factory=list)  # preallocated outputs, poisoned with NaN before the check
    preallocated: bool = True                    # False: the call allocates its outputs (no out= API used)
    note: str = ""
    check: object = None                         # overrides the case's check (e.g. a peer with other RNG)


def ops_fn(name):
    """pybench.ops.<name>, looked up at call-building time (so tests can monkeypatch it)."""
    from .. import ops  # noqa: PLC0415

    fn = getattr(ops, name, None)
    if fn is None:
        raise Unavailable("op not built")
    return fn


def ref_fn(name, fallback=None):
    from .. import reference  # noqa: PLC0415

    fn = getattr(reference, name, None)
    if fn is None:
        if fallback is None:
            raise Unavailable(f"no oracle: pybench.reference.{name} missing")
        return fallback
    return fn


def native_impls(name):
    """Registered impls of a native op, or None when the registry does not know the name."""
    from .. import _native  # noqa: PLC0415

    try:
        return list(_native.impls(name))
    except Exception:
        return None


class Inputs:
    """Random float32 inputs, cached per (tag, shape) for one run, so the 64M-element arrays are
    generated once and shared by every activation problem."""

    def __init__(self):
        self._cache = {}

    def get(self, tag, shape, scale=1.0, offset=0.0):
        key = (tag, tuple(shape), scale, offset)
        a = self._cache.get(key)
        if a is None:
            rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
            a = rng.standard_normal(shape, dtype=F32)
            if scale != 1.0:
                a *= F32(scale)
            if offset != 0.0:
                a += F32(offset)
            self._cache[key] = a
        return a

    def clear(self):
        self._cache.clear()


def _t(torch, a):
    return torch.from_numpy(a)



# ----------------------------------------------------------------------------------------------
# Problem: one row of the table
# ----------------------------------------------------------------------------------------------


@dataclass
class Problem:
    op: str                 # the --op name
    label: str              # "fwd", "bwd", "fwd+bwd", ...
    shape: str              # human-readable sizes
    params: dict            # the sizes, for JSON
    kind: str               # "compute" (FLOPs) or "memory" (bytes)
    work: float             # FLOPs or minimum bytes moved per call
    work_formula: str       # how `work` was counted
    fns: tuple              # pybench.ops functions our side needs ("copy" means _native.copy)
    build: object           # (Inputs) -> Case
    peers: tuple = ()       # peers that have this problem ("numpy", "torch")
    auto_added: bool = False  # the copy row added as the bandwidth ceiling: always its default impl

    @property
    def name(self):
        return " ".join(s for s in (self.op, self.label, self.shape) if s)

    def missing(self):
        """None if our side can run, else the reason it cannot."""
        from .. import _native, ops  # noqa: PLC0415

        for f in self.fns:
            if f == "copy":
                if not hasattr(_native, "copy"):
                    return "op not built"
            elif not hasattr(ops, f):
                return "op not built"
        return None

    def impl_choices(self):
        """Impl names every needed function registers (in registry order), or None if unknown."""
        lists = [native_impls(f) for f in self.fns]
        if any(lst is None for lst in lists):
            return None
        first = lists[0]
        return [i for i in first if all(i in lst for lst in lists[1:])]


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
# gemm: C = op(A) @ op(B)
# ----------------------------------------------------------------------------------------------

# A float64 reference above this many FLOPs is too slow to run in full before every timing: the
# check then recomputes an evenly spaced sample of C's rows (first and last included) from the
# actual output of the timed call, and says so in the record.
FULL_CHECK_FLOPS = 4e9
SAMPLE_CHECK_FLOPS = 1e9


class GemmCase:
    def __init__(self, inputs, m, n, k, trans_a=False, trans_b=False):
        self.m, self.n, self.k, self.ta, self.tb = m, n, k, trans_a, trans_b
        self.a = inputs.get("a", (k, m) if trans_a else (m, k))
        self.b = inputs.get("b", (n, k) if trans_b else (k, n))
        self._ref = ref_fn("gemm", fallback=None) if _has_ref("gemm") else None
        self.rows = None  # None: every row checked; else the sampled row indices
        if 2.0 * m * n * k > FULL_CHECK_FLOPS:
            r = max(2, min(m, int(SAMPLE_CHECK_FLOPS / (2.0 * n * k))))
            self.rows = np.unique(np.linspace(0, m - 1, r).round().astype(np.int64))
        how = "float64" if self.rows is None else f"float64, {self.rows.size} of {m} rows of C, evenly spaced"
        self.oracle = (f"pybench.reference.gemm ({how})" if self._ref is not None
                       else f"NumPy op(a) @ op(b) ({how}; reference.gemm missing)")
        self._expected = None

    def _out(self):
        return np.empty((self.m, self.n), F32)

    def ours(self, impl):
        gemm = ops_fn("gemm")
        c = self._out()
        kw = {"impl": impl} if impl else {}
        ta, tb = self.ta, self.tb
        if ta or tb:
            run = lambda: gemm(self.a, self.b, trans_a=ta, trans_b=tb, out=c, **kw)  # noqa: E731
        else:
            run = lambda: gemm(self.a, self.b, out=c, **kw)  # noqa: E731
        return Candidate(run, lambda: {"out": c}, [c])

    def peer(self, name, mod):
        c = self._out()
        a = self.a.T if self.ta else self.a
        b = self.b.T if self.tb else self.b
        if name == "numpy":
            return Candidate(lambda: np.matmul(a, b, out=c), lambda: {"out": c}, [c], note="np.matmul(out=)")
        if name == "torch":
            ta, tb, tc = _t(mod, self.a), _t(mod, self.b), _t(mod, c)
            ta, tb = (ta.t() if self.ta else ta), (tb.t() if self.tb else tb)
            mm = mod.ops.aten.mm.out
            return Candidate(lambda: mm(ta, tb, out=tc), lambda: {"out": c}, [c], note="aten.mm.out")
        if name == "cupy":  # the GPU hook: operands copied to the device once, result copied back to check
            da, db = mod.asarray(a), mod.asarray(b)
            dc = mod.empty((self.m, self.n), dtype=mod.float32)
            sync = mod.cuda.get_current_stream().synchronize

            def run():
                mod.matmul(da, db, out=dc)
                sync()

            return Candidate(run, lambda: {"out": mod.asnumpy(dc)}, [], note="cupy.matmul (cuBLAS), synchronized")
        return None

    def check(self, out):
        if self._expected is None:
            a = (self.a.T if self.ta else self.a)
            b = (self.b.T if self.tb else self.b)
            if self.rows is not None:
                a = a[self.rows]
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            self._expected = self._ref(a64, b64) if self._ref is not None else a64 @ b64
        actual = out["out"] if self.rows is None else out["out"][self.rows]
        acc = Accumulator()
        acc.add("out", actual, self._expected, TOL_GEMM)
        return acc.result()


def _has_ref(name):
    from .. import reference  # noqa: PLC0415

    return hasattr(reference, name)


def _oracle_name(name, fallback_desc):
    from .. import reference  # noqa: PLC0415

    return f"pybench.reference.{name} (float64)" if hasattr(reference, name) else fallback_desc


def _tr(ta, tb):
    return ("T" if ta else "N") + ("T" if tb else "N")


def gemm_problem(m, n=None, k=None, trans_a=False, trans_b=False, name="", count=1, source=None):
    """Square m x m x m when only m is given (issue 3's rows)."""
    n = m if n is None else n
    k = m if k is None else k
    square = n == m and k == m and not (trans_a or trans_b)
    shape = f"{m}x{n}x{k}" + ("" if square and source is None else f" {_tr(trans_a, trans_b)}")
    params = {"m": m, "n": n, "k": k}
    if trans_a or trans_b or source is not None:
        params.update(trans_a=trans_a, trans_b=trans_b)
    _shape_params(params, name, count, source)
    peers = ("numpy", "torch", "cupy")
    return Problem("gemm", "", _named(shape, name), params, "compute", 2.0 * m * n * k, "2·M·N·K", ("gemm",),
                   lambda inp: GemmCase(inp, m, n, k, trans_a, trans_b), peers)


def _named(shape, name):
    return f"{name}: {shape}" if name else shape


def _shape_params(params, name, count, source):
    if source is not None:
        params.update(layer=name, count=count, shape_list=source)


# ----------------------------------------------------------------------------------------------
# linear forward + backward
# ----------------------------------------------------------------------------------------------


def _np_linear_forward(x, w, b):
    return x @ w.T + b


def _np_linear_backward(dy, x, w, bias=True, compute_dx=True):
    return (dy @ w if compute_dx else None), dy.T @ x, (dy.sum(axis=0) if bias else None)


def linear_peer_step(xp, x, w, b, dy, y, dx, dw, db, compute_dx):
    """A peer's linear forward+backward with array module `xp` (NumPy, or CuPy on the device) into
    preallocated outputs: y = x w^T + b, dx = dy w, dw = dy^T x, db = sum(dy)."""

    def run():
        xp.matmul(x, w.T, out=y)
        xp.add(y, b, out=y)
        if compute_dx:
            xp.matmul(dy, w, out=dx)
        xp.matmul(dy.T, x, out=dw)
        xp.sum(dy, axis=0, out=db)

    return run

class LinearCase:
    def __init__(self, inputs, n, i, o, compute_dx=True):
        self.compute_dx = compute_dx
        self.x = inputs.get("x", (n, i))
        self.w = inputs.get("w", (o, i), scale=1.0 / np.sqrt(i))
        self.b = inputs.get("b", (o,))
        self.dy = inputs.get("dy", (n, o))
        self._fwd = ref_fn("linear_forward", fallback=_np_linear_forward)
        self._bwd = ref_fn("linear_backward", fallback=_np_linear_backward)
        self.oracle = _oracle_name("linear_forward", "NumPy matmuls in float64 (reference.linear_* missing)")
        self._expected = None

    def _bufs(self):
        return (np.empty((self.x.shape[0], self.w.shape[0]), F32), np.empty_like(self.x), np.empty_like(self.w),
                np.empty_like(self.b))

    def _outs(self, y, dx, dw, db):
        d = {"y": y, "dweight": dw, "dbias": db}
        if self.compute_dx:
            d["dx"] = dx
        return d

    def ours(self, impl):
        fwd, bwd = ops_fn("linear_forward"), ops_fn("linear_backward")
        y, dx, dw, db = self._bufs()
        kw = {"impl": impl} if impl else {}
        cdx = self.compute_dx

        def run():
            fwd(self.x, self.w, self.b, out=y, **kw)
            bwd(self.dy, self.x, self.w, bias=True, compute_dx=cdx, dx=dx if cdx else None, dweight=dw, dbias=db,
                **kw)

        return Candidate(run, lambda: self._outs(y, dx, dw, db), [y, dx, dw, db])

    def peer(self, name, torch):
        y, dx, dw, db = self._bufs()
        outs = lambda: self._outs(y, dx, dw, db)  # noqa: E731
        cdx = self.compute_dx
        if name == "numpy":
            run = linear_peer_step(np, self.x, self.w, self.b, self.dy, y, dx, dw, db, cdx)
            return Candidate(run, outs, [y, dx, dw, db], note="np.matmul/sum(out=)")
        if name == "torch":
            A = torch.ops.aten
            x, w, b, dy = (_t(torch, a) for a in (self.x, self.w, self.b, self.dy))
            ty, tdx, tdw, tdb = (_t(torch, a) for a in (y, dx, dw, db))

            def run():  # what F.linear and its autograd backward call, into preallocated outputs
                A.addmm.out(b, x, w.t(), out=ty)
                if cdx:
                    A.mm.out(dy, w, out=tdx)
                A.mm.out(dy.t(), x, out=tdw)
                A.sum.IntList_out(dy, [0], out=tdb)

            return Candidate(run, outs, [y, dx, dw, db], note="aten addmm/mm/sum .out (F.linear + autograd kernels)")
        return None

    def check(self, out):
        if self._expected is None:
            x, w, b, dy = (a.astype(np.float64) for a in (self.x, self.w, self.b, self.dy))
            y = self._fwd(x, w, b)
            dx, dw, db = self._bwd(dy, x, w, bias=True, compute_dx=self.compute_dx)
            self._expected = self._outs(y, dx, dw, db)
        acc = Accumulator()
        for k, e in self._expected.items():
            acc.add(k, out[k], e, TOL_GEMM)
        return acc.result()


def linear_problem(n, i, o, compute_dx=True, name="", count=1, source=None):
    flops = (6.0 if compute_dx else 4.0) * n * i * o + 2.0 * n * o
    formula = ("fwd 2·N·in·out + bias N·out; bwd dW 2·N·in·out + db N·out"
               + (" + dx 2·N·in·out" if compute_dx else " (no dx)"))
    params = {"batch": n, "in": i, "out": o}
    if not compute_dx:
        params["compute_dx"] = False
    _shape_params(params, name, count, source)
    return Problem("linear", "fwd+bwd" if compute_dx else "fwd+bwd no dx", _named(f"N={n} in={i} out={o}", name),
                   params, "compute", flops, formula, ("linear_forward", "linear_backward"),
                   lambda inp: LinearCase(inp, n, i, o, compute_dx), ("numpy", "torch"))


# ----------------------------------------------------------------------------------------------
# conv2d forward + backward (square kernel)
# ----------------------------------------------------------------------------------------------

# Check on a batch of 1 (a "proxy" problem: same layer, its own random inputs, same calls) when
# the float64 reference of the real batch would cost more than this many FLOPs (fwd + bwd).
PROXY_CHECK_FLOPS = 1.5e9


def _conv_out(h, k, stride, pad):
    return (h + 2 * pad - k) // stride + 1


class ConvCase:
    def __init__(self, inputs, n, c, o, h, k, pad, stride=1, w=None, compute_dx=True, proxy_ok=True):
        w_ = h if w is None else w
        self.n, self.c, self.o, self.h, self.wd, self.k = n, c, o, h, w_, k
        self.pad, self.stride, self.compute_dx = pad, stride, compute_dx
        ho, wo = _conv_out(h, k, stride, pad), _conv_out(w_, k, stride, pad)
        self.x = inputs.get("x", (n, c, h, w_))
        self.w = inputs.get("w", (o, c, k, k), scale=1.0 / np.sqrt(c * k * k))
        self.b = inputs.get("b", (o,))
        self.dy = inputs.get("dy", (n, o, ho, wo))
        self._fwd = ref_fn("conv2d_forward")
        self._bwd = ref_fn("conv2d_backward")
        self.oracle = "pybench.reference.conv2d_* (float64)"
        self._expected = None
        self._inputs = inputs
        ref_flops = 6.0 * n * o * ho * wo * c * k * k
        self.proxy_note = ""
        if proxy_ok and n > 1 and ref_flops > PROXY_CHECK_FLOPS:
            self.proxy_note = (f"checked on a proxy: the same layer at batch 1 (the float64 reference at batch {n} "
                               "is slow)")
            self.oracle += ", on the batch-1 proxy"

    def proxy(self):
        """The case the check runs on instead of this one, or None (check this one)."""
        if not self.proxy_note:
            return None
        return ConvCase(self._inputs, 1, self.c, self.o, self.h, self.k, self.pad, self.stride, self.wd,
                        self.compute_dx, proxy_ok=False)

    def _bufs(self):
        return np.empty_like(self.dy), np.empty_like(self.x), np.empty_like(self.w), np.empty_like(self.b)

    def _outs(self, y, dx, dw, db):
        d = {"y": y, "dweight": dw, "dbias": db}
        if self.compute_dx:
            d["dx"] = dx
        return d

    def ours(self, impl):
        fwd, bwd = ops_fn("conv2d_forward"), ops_fn("conv2d_backward")
        y, dx, dw, db = self._bufs()
        kw = {"impl": impl} if impl else {}
        p, s, cdx = self.pad, self.stride, self.compute_dx

        def run():
            fwd(self.x, self.w, self.b, stride=s, padding=p, out=y, **kw)
            bwd(self.dy, self.x, self.w, stride=s, padding=p, bias=True, compute_dx=cdx, dx=dx if cdx else None,
                dweight=dw, dbias=db, **kw)

        return Candidate(run, lambda: self._outs(y, dx, dw, db), [y, dx, dw, db])

    def peer(self, name, torch):
        if name != "torch":
            return None
        A = torch.ops.aten
        x, w, b, dy = (_t(torch, a) for a in (self.x, self.w, self.b, self.dy))
        p, s = [self.pad, self.pad], [self.stride, self.stride]
        cdx = self.compute_dx
        res = {}

        def run():
            res["y"] = torch.conv2d(x, w, b, stride=s, padding=p)
            res["dx"], res["dweight"], res["dbias"] = A.convolution_backward(
                dy, x, w, [w.shape[0]], s, p, [1, 1], False, [0, 0], 1, [cdx, True, True])

        return Candidate(run, lambda: {k: v.numpy() for k, v in res.items() if v is not None}, [],
                         preallocated=False,
                         note="torch.conv2d + aten.convolution_backward (allocating; their .out overloads "
                              "allocate and copy, measured slower)")

    def check(self, out):
        if self._expected is None:
            x, w, b, dy = (a.astype(np.float64) for a in (self.x, self.w, self.b, self.dy))
            y = self._fwd(x, w, b, stride=self.stride, padding=self.pad)
            dx, dw, db = self._bwd(dy, x, w, stride=self.stride, padding=self.pad, bias=True,
                                   compute_dx=self.compute_dx)
            self._expected = self._outs(y, dx, dw, db)
        acc = Accumulator()
        for k, e in self._expected.items():
            acc.add(k, out[k], e, TOL_GEMM)
        return acc.result()


def conv_problem(n, c, o, h, k, pad, stride=1, w=None, compute_dx=True, name="", count=1, source=None):
    w_ = h if w is None else w
    ho, wo = _conv_out(h, k, stride, pad), _conv_out(w_, k, stride, pad)
    fwd = 2.0 * n * o * ho * wo * c * k * k
    flops = (3 if compute_dx else 2) * fwd + 2.0 * n * o * ho * wo
    if source is None and stride == 1 and w is None and compute_dx:  # issue 3's rows, named as before
        shape = f"N={n} {c}->{o} {h}x{h} k{k} p{pad}"
    else:
        shape = f"N={n} {c}->{o} {h}x{w_} k{k} s{stride} p{pad}"
    params = {"batch": n, "in_channels": c, "out_channels": o, "height": h, "width": w_, "kernel": k,
              "padding": pad, "stride": stride}
    if not compute_dx:
        params["compute_dx"] = False
    _shape_params(params, name, count, source)
    formula = ("fwd, dx, dW 2·N·O·Ho·Wo·C·kh·kw each + bias and db N·O·Ho·Wo each" if compute_dx else
               "fwd, dW 2·N·O·Ho·Wo·C·kh·kw each + bias and db N·O·Ho·Wo each (no dx)")
    return Problem("conv2d", "fwd+bwd" if compute_dx else "fwd+bwd no dx", _named(shape, name), params, "compute",
                   flops, formula, ("conv2d_forward", "conv2d_backward"),
                   lambda inp: ConvCase(inp, n, c, o, h, k, pad, stride, w, compute_dx), ("torch",))


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
            self.y = np.empty(shape, F32)
            for s in _row_chunks(*shape):
                self.y[s] = self._ref_fwd(self.x[s].astype(np.float64), **self.params)

    def _second(self, takes):
        return self.y if takes == "y" else self.x

    def ours(self, impl):
        out = np.empty(self.shape, F32)
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
        out = np.empty(self.shape, F32)
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
            if self.backward:
                dy = _t(torch, self.dy)
                y = _t(torch, self.y) if self.y is not None else None
                f = self.act.torch_bwd
                run = lambda: f(A, dy, x, y, p, to)  # noqa: E731
                note = "aten *_backward(.grad_input)"
            else:
                f = self.act.torch_fwd
                run = lambda: f(A, x, p, to)  # noqa: E731
                note = "aten *.out"
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
        out = np.empty(self.shape, F32)
        kw = {"impl": impl} if impl else {}
        return Candidate(lambda: f(self.x, p=DROPOUT_P, seed=0, offset=0, training=True, out=out, **kw),
                         lambda: {"out": out}, [out])

    def peer(self, name, torch):
        if name != "torch":
            return None
        out = np.empty(self.shape, F32)
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
        scale = F32(1.0 / (1.0 - DROPOUT_P))
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
        self.rm0 = np.zeros(c, F32)
        self.rv0 = np.ones(c, F32)
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
            self.save_mean = mean.astype(F32)
            self.save_invstd = (1.0 / np.sqrt(var + BN_EPS)).astype(F32)

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

        return Candidate(run, outs, [y])

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


# ----------------------------------------------------------------------------------------------
# the problem sets
# ----------------------------------------------------------------------------------------------

OPS = ("copy", "gemm", "linear", "conv2d", "batch_norm", *ACT_OPS, "dropout")
GROUPS = {"activations": ACT_OPS}
MEMORY_OPS = ("copy", "batch_norm", *ACT_OPS, "dropout")

GEMM_SIZES = (512, 1024, 2048)
LINEAR_SIZES = ((128, 784, 512), (128, 512, 512), (1024, 1024, 1024))
CONV_SHAPES = (  # (N, C, O, H=W, k, pad)
    (64, 3, 32, 32, 3, 1), (64, 32, 64, 16, 3, 1), (64, 64, 128, 8, 3, 1), (32, 64, 64, 56, 3, 1),
    (32, 256, 64, 56, 1, 0))
BN_SHAPE = (64, 64, 128, 128)  # 64M elements

QUICK_GEMM = (128,)
QUICK_LINEAR = ((32, 64, 48),)
QUICK_CONV = ((2, 3, 8, 16, 3, 1), (2, 16, 8, 8, 1, 0))
QUICK_BN = (4, 8, 32, 32)


def problems_for(op, quick=False):
    """The problems of one --op name, in table order."""
    rows, cols = (QUICK_ROWS, QUICK_COLS) if quick else (ELEMS_FULL // ROW_LEN, ROW_LEN)
    if op == "copy":
        return [copy_problem(rows, cols)]
    if op == "gemm":
        return [gemm_problem(n) for n in (QUICK_GEMM if quick else GEMM_SIZES)]
    if op == "linear":
        return [linear_problem(*s) for s in (QUICK_LINEAR if quick else LINEAR_SIZES)]
    if op == "conv2d":
        return [conv_problem(*s) for s in (QUICK_CONV if quick else CONV_SHAPES)]
    if op == "batch_norm":
        shape = QUICK_BN if quick else BN_SHAPE
        return [batch_norm_problem(shape, False), batch_norm_problem(shape, True)]
    if op == "dropout":
        return [dropout_problem(rows, cols)]
    acts = [a for a in ACTS if a.op == op]
    if acts:
        return [act_problem(a, bwd, rows, cols) for a in acts for bwd in (False, True)]
    raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")


def expand_ops(names):
    """--op names (with groups like 'activations') -> op names in canonical order, unique."""
    wanted = set()
    for n in names:
        wanted.update(GROUPS.get(n, (n,)))
    unknown = sorted(wanted - set(OPS))
    if unknown:
        raise ValueError(f"unknown op(s) {', '.join(unknown)}; choose from {', '.join(OPS + tuple(GROUPS))}")
    return [o for o in OPS if o in wanted]


# ----------------------------------------------------------------------------------------------
# shape lists from real networks (--shapes)
# ----------------------------------------------------------------------------------------------

SHAPE_OPS = ("conv2d", "linear", "gemm")  # the entry kinds a shape list may hold


def problems_from_shapes(shape_list, mb=None, ops=None):
    """Problems of a shapes.ShapeList in file order (conv2d, then linear, then gemm entries), the
    batch set to `mb` if given; `ops` (expanded --op names) keeps only those kinds."""
    probs = []
    for kind, e in shape_list.with_batch(mb):
        if ops and kind not in ops:
            continue
        common = {"name": e["name"], "count": e["count"], "source": shape_list.name}
        if kind == "conv2d":
            probs.append(conv_problem(e["batch"], e["c"], e["k"], e["h"], e["kernel"], e["padding"], e["stride"],
                                      e["w"], e["compute_dx"], **common))
        elif kind == "linear":
            probs.append(linear_problem(e["batch"], e["in"], e["out"], e["compute_dx"], **common))
        else:
            probs.append(gemm_problem(e["m"], e["n"], e["k"], e["trans_a"], e["trans_b"], **common))
    return probs
