"""The compute-bound cases of `pybench bench` (work counted in FLOPs, a multiply-add is 2; bias adds
and bias-gradient sums included): gemm, linear forward+backward, conv2d forward+backward. Each has
its case class (inputs, our call, the peers' calls, the check) and its problem constructor; the
large ones are checked on a sample of rows (gemm) or a batch-1 proxy (conv2d).
"""

import numpy as np

from .check import Accumulator
from .problem_core import TOL_GEMM, Candidate, Problem, _t, ops_fn, ref_fn


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
        return np.empty((self.m, self.n), self.a.dtype)

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
    """Square m x m x m when only m is given (the default rows)."""
    n = m if n is None else n
    k = m if k is None else k
    square = n == m and k == m and not (trans_a or trans_b)
    shape = f"{m}x{n}x{k}" + ("" if square and source is None else f" {_tr(trans_a, trans_b)}")
    params = {"m": m, "n": n, "k": k}
    if trans_a or trans_b or source is not None:
        params.update(trans_a=trans_a, trans_b=trans_b)
    _layer_params(params, name, count, source)
    peers = ("numpy", "torch", "cupy")
    return Problem("gemm", "", _named(shape, name), params, "compute", 2.0 * m * n * k, "2·M·N·K", ("gemm",),
                   lambda inp: GemmCase(inp, m, n, k, trans_a, trans_b), peers)


def _named(shape, name):
    return f"{name}: {shape}" if name else shape


def _layer_params(params, name, count, source):
    """A network's layer (`source`: the --network name) records its name, count and network; the
    key is "shape_list", as in every stored run."""
    if source is not None:
        params.update(layer=name, count=count, shape_list=source)


# ----------------------------------------------------------------------------------------------
# what linear and conv2d share: a forward + backward pair into preallocated outputs
# ----------------------------------------------------------------------------------------------


class FwdBwdCase:
    """linear and conv2d: one forward and one backward (bias included, dx optional) into preallocated
    y, dx, dweight, dbias, checked against the float64 reference of both calls. A subclass sets `op`
    and, in its __init__, x, w, b, dy, compute_dx, the reference functions _fwd and _bwd, and
    `geometry`: the keywords both calls take besides the arrays (conv2d's stride and padding)."""

    op = ""

    def _bufs(self):
        return np.empty_like(self.dy), np.empty_like(self.x), np.empty_like(self.w), np.empty_like(self.b)

    parts = ("fwd", "bwd")  # the gate counts the forward and the backward apart

    def _outs(self, y, dx, dw, db):
        d = {"y": y} if "fwd" in self.parts else {}
        if "bwd" in self.parts:
            d.update(dweight=dw, dbias=db)
            if self.compute_dx:
                d["dx"] = dx
        return d

    def ours(self, impl):
        fwd, bwd = ops_fn(f"{self.op}_forward"), ops_fn(f"{self.op}_backward")
        y, dx, dw, db = self._bufs()
        kw = {**self.geometry, **({"impl": impl} if impl else {})}
        cdx = self.compute_dx

        do_fwd, do_bwd = "fwd" in self.parts, "bwd" in self.parts

        def run():
            if do_fwd:
                fwd(self.x, self.w, self.b, out=y, **kw)
            if do_bwd:
                bwd(self.dy, self.x, self.w, bias=True, compute_dx=cdx, dx=dx if cdx else None, dweight=dw, dbias=db,
                    **kw)

        return Candidate(run, lambda: self._outs(y, dx, dw, db), list(self._outs(y, dx, dw, db).values()))

    def check(self, out):
        if self._expected is None:
            x, w, b, dy = (a.astype(np.float64) for a in (self.x, self.w, self.b, self.dy))
            y = self._fwd(x, w, b, **self.geometry) if "fwd" in self.parts else None
            dx = dw = db = None
            if "bwd" in self.parts:
                dx, dw, db = self._bwd(dy, x, w, bias=True, compute_dx=self.compute_dx, **self.geometry)
            self._expected = self._outs(y, dx, dw, db)
        acc = Accumulator()
        for k, e in self._expected.items():
            acc.add(k, out[k], e, TOL_GEMM)
        return acc.result()


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


class LinearCase(FwdBwdCase):
    op = "linear"

    def __init__(self, inputs, n, i, o, compute_dx=True, parts=FwdBwdCase.parts):
        self.compute_dx, self.parts = compute_dx, parts
        self.geometry = {}
        self.x = inputs.get("x", (n, i))
        self.w = inputs.get("w", (o, i), scale=1.0 / np.sqrt(i))
        self.b = inputs.get("b", (o,))
        self.dy = inputs.get("dy", (n, o))
        self._fwd = ref_fn("linear_forward", fallback=_np_linear_forward)
        self._bwd = ref_fn("linear_backward", fallback=_np_linear_backward)
        self.oracle = _oracle_name("linear_forward", "NumPy matmuls in float64 (reference.linear_* missing)")
        self._expected = None

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


def _part_label(parts, compute_dx):
    return "+".join(parts) + ("" if compute_dx or "bwd" not in parts else " no dx")


def linear_problem(n, i, o, compute_dx=True, name="", count=1, source=None, parts=FwdBwdCase.parts):
    fwd, bwd = 2.0 * n * i * o + n * o, (4.0 if compute_dx else 2.0) * n * i * o + n * o
    flops = (fwd if "fwd" in parts else 0.0) + (bwd if "bwd" in parts else 0.0)
    bwd_terms = "bwd dW 2·N·in·out + db N·out" + (" + dx 2·N·in·out" if compute_dx else " (no dx)")
    terms = (["fwd 2·N·in·out + bias N·out"] if "fwd" in parts else []) + ([bwd_terms] if "bwd" in parts else [])
    params = {"batch": n, "in": i, "out": o}
    if not compute_dx:
        params["compute_dx"] = False
    _layer_params(params, name, count, source)
    fns = tuple(f"linear_{'forward' if p == 'fwd' else 'backward'}" for p in parts)
    return Problem("linear", _part_label(parts, compute_dx), _named(f"N={n} in={i} out={o}", name),
                   params, "compute", flops, "; ".join(terms), fns,
                   lambda inp: LinearCase(inp, n, i, o, compute_dx, parts), ("numpy", "torch"))


# ----------------------------------------------------------------------------------------------
# conv2d forward + backward (square kernel)
# ----------------------------------------------------------------------------------------------

# Check on a batch of 1 (a "proxy" problem: same layer, its own random inputs, same calls) when
# the float64 reference of the real batch would cost more than this many FLOPs (fwd + bwd).
PROXY_CHECK_FLOPS = 1.5e9


def _conv_out(h, k, stride, pad):
    return (h + 2 * pad - k) // stride + 1


class ConvCase(FwdBwdCase):
    op = "conv2d"

    def __init__(self, inputs, n, c, o, h, k, pad, stride=1, w=None, compute_dx=True, proxy_ok=True,
                 parts=FwdBwdCase.parts):
        w_ = h if w is None else w
        self.n, self.c, self.o, self.h, self.wd, self.k, self.parts = n, c, o, h, w_, k, parts
        self.pad, self.stride, self.compute_dx = pad, stride, compute_dx
        self.geometry = {"stride": stride, "padding": pad}
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
                        self.compute_dx, proxy_ok=False, parts=self.parts)

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


def conv_problem(n, c, o, h, k, pad, stride=1, w=None, compute_dx=True, name="", count=1, source=None,
                 parts=FwdBwdCase.parts):
    w_ = h if w is None else w
    ho, wo = _conv_out(h, k, stride, pad), _conv_out(w_, k, stride, pad)
    one, bias = 2.0 * n * o * ho * wo * c * k * k, 2.0 * n * o * ho * wo
    flops = (one + bias / 2 if "fwd" in parts else 0.0) + (
        (2 if compute_dx else 1) * one + bias / 2 if "bwd" in parts else 0.0)
    if source is None and stride == 1 and w is None and compute_dx:  # the default rows, named as before
        shape = f"N={n} {c}->{o} {h}x{h} k{k} p{pad}"
    else:
        shape = f"N={n} {c}->{o} {h}x{w_} k{k} s{stride} p{pad}"
    params = {"batch": n, "in_channels": c, "out_channels": o, "height": h, "width": w_, "kernel": k,
              "padding": pad, "stride": stride}
    if not compute_dx:
        params["compute_dx"] = False
    _layer_params(params, name, count, source)
    what = {("fwd",): "fwd", ("bwd",): "dx, dW" if compute_dx else "dW"}.get(tuple(parts), "fwd, dx, dW" if compute_dx
                                                                                 else "fwd, dW")
    bias_terms = {("fwd",): "bias", ("bwd",): "db"}.get(tuple(parts), "bias and db")
    formula = (f"{what} 2·N·O·Ho·Wo·C·kh·kw each + {bias_terms} N·O·Ho·Wo each"
               + ("" if compute_dx or "bwd" not in parts else " (no dx)"))
    fns = tuple(f"conv2d_{'forward' if p == 'fwd' else 'backward'}" for p in parts)
    return Problem("conv2d", _part_label(parts, compute_dx), _named(shape, name), params, "compute",
                   flops, formula, fns,
                   lambda inp: ConvCase(inp, n, c, o, h, k, pad, stride, w, compute_dx, parts=parts), ("torch",))
