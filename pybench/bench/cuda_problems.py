"""`pybench bench --device cuda`: the same problems as the CPU bench, with inputs on the GPU.

Each CPU case (cases_compute.py, cases_memory.py) is wrapped, not rewritten: the wrapper keeps its host inputs, its
oracle and its check, copies the inputs to the device once (device.CudaDevice.put), and defines
our call and the peers' on device arrays. Before timing, every candidate runs once into
NaN-poisoned device outputs, which are copied back and checked against pybench.reference on the
host exactly as on the CPU (a wrong kernel is FAILED and never timed).

Peers on the device:
- "cupy": CuPy where the CPU row has a NumPy (or CuPy) peer: cupy.matmul = cuBLAS for gemm and
  linear (matmuls, add, sum into preallocated outputs), cupy.copyto for copy, cupy.maximum / tanh
  for relu / tanh forward; elsewhere n/a;
- "torch": PyTorch CUDA where the CPU row has a PyTorch peer, the same aten calls on tensors
  sharing the CuPy arrays' memory (DLPack): cuBLAS matmuls, torch.conv2d and
  aten.convolution_backward (cuDNN), F.batch_norm forward (cuDNN) and
  aten.native_batch_norm_backward, the activations' aten kernels, aten.native_dropout. TF32 is
  switched off in PyTorch for the run (cuDNN enables it by default on Ampere and later).

Pooling, losses and optimizer steps (cases_train.py) state their call once for any array module:
the wrapper hands it the device's (CudaArrays); their torch peer runs on the device too.

Our TF32 impls (opt-in "tf32" of gemm and linear, with --impl tf32|all) are checked with the TF32
tolerance of tests/cuda (TOL_TF32 below) instead of the FP32 one.
"""

import contextlib

from . import cases_compute as CC, cases_memory as CM, cases_train as CT, cuda_timing, problem_core as PC, problems as P
from .check import Accumulator, Tol

PEERS = ("cupy", "torch")
TOL_TF32 = Tol(1e-2, 1e-2, relative_to_max=True)  # 10-bit mantissa inputs: ~1e-3 of max|C| typical, 10x margin


class _DeviceCase:
    """A CPU case's problem on the device: same inputs (copied), oracle and check."""

    def __init__(self, cpu, dev):
        self.cpu, self.dev = cpu, dev
        self.oracle = cpu.oracle + "; on host copies of the device outputs"
        self.proxy_note = getattr(cpu, "proxy_note", "")
        self._own = {}

    def proxy(self):
        p = self.cpu.proxy() if hasattr(self.cpu, "proxy") else None
        return None if p is None else type(self)(p, self.dev)

    def check(self, out):
        return self.cpu.check(out)

    def d(self, name):
        """The device copy of the CPU case's input `name`: the run-wide copy of a shared input (the
        64M x and dy), else this case's own (freed with the case, as the CPU case's arrays are)."""
        a = getattr(self.cpu, name)
        if self.dev.is_shared(a):
            return self.dev.put(a)
        if name not in self._own:
            self._own[name] = self.dev.to_device(a)
        return self._own[name]

    def cand(self, run, outs, buffers, **kw):
        """A Candidate whose outputs() are host copies of the device arrays `outs()` returns."""
        to_host = self.dev.to_host
        return PC.Candidate(run, lambda: {k: to_host(v) for k, v in outs().items()}, buffers, **kw)

    def tt(self, torch, a):
        return self.dev.torch_tensor(torch, a)


def _kw(impl):
    return {"impl": impl} if impl else {}


def _is_tf32(impl):
    return bool(impl) and "tf32" in impl


class CudaCopy(_DeviceCase):
    def ours(self, impl):
        from .. import _native  # noqa: PLC0415

        x = self.d("x")
        y = self.dev.empty_like(x)
        kw = _kw(impl)
        return self.cand(lambda: _native.copy(x, out=y, **kw), lambda: {"out": y}, [y])

    def peer(self, name, mod):
        x = self.d("x")
        y = self.dev.empty_like(x)
        if name == "cupy":
            return self.cand(lambda: self.dev.copy(x, y), lambda: {"out": y}, [y], note="cupy.copyto")
        if name == "torch":
            tx, ty = self.tt(mod, x), self.tt(mod, y)
            return self.cand(lambda: ty.copy_(tx), lambda: {"out": y}, [y], note="Tensor.copy_")
        return None


class CudaGemm(_DeviceCase):
    def ours(self, impl):
        gemm = PC.ops_fn("gemm")
        c = self.dev.empty((self.cpu.m, self.cpu.n))
        a, b, ta, tb, kw = self.d("a"), self.d("b"), self.cpu.ta, self.cpu.tb, _kw(impl)
        run = lambda: gemm(a, b, trans_a=ta, trans_b=tb, out=c, **kw)  # noqa: E731
        return self.cand(run, lambda: {"out": c}, [c], check=self._tf32_check if _is_tf32(impl) else None)

    def _ops(self):
        a, b = self.d("a"), self.d("b")
        return (a.T if self.cpu.ta else a), (b.T if self.cpu.tb else b)

    def peer(self, name, mod):
        c = self.dev.empty((self.cpu.m, self.cpu.n))
        a, b = self._ops()
        if name == "cupy":
            xp = self.dev.xp
            return self.cand(lambda: xp.matmul(a, b, out=c), lambda: {"out": c}, [c], note="cupy.matmul(out=) (cuBLAS)")
        if name == "torch":
            ta, tb, tc = self.tt(mod, self.d("a")), self.tt(mod, self.d("b")), self.tt(mod, c)
            ta, tb = (ta.t() if self.cpu.ta else ta), (tb.t() if self.cpu.tb else tb)
            mm = mod.ops.aten.mm.out
            return self.cand(lambda: mm(ta, tb, out=tc), lambda: {"out": c}, [c], note="aten.mm.out (cuBLAS)")
        return None

    def _tf32_check(self, out):
        self.cpu.check(out)  # computes (and caches) the float64 expectation
        rows = self.cpu.rows
        acc = Accumulator()
        acc.add("out", out["out"] if rows is None else out["out"][rows], self.cpu._expected, TOL_TF32)
        return acc.result()


def _tf32_check_dict(cpu):
    def check(out):
        cpu.check(out)  # computes (and caches) the float64 expectations
        acc = Accumulator()
        for k, e in cpu._expected.items():
            acc.add(k, out[k], e, TOL_TF32)
        return acc.result()

    return check


class CudaLinear(_DeviceCase):
    def _bufs(self):
        x, w = self.d("x"), self.d("w")
        e = self.dev.empty_like
        return self.dev.empty((x.shape[0], w.shape[0])), e(x), e(w), e(self.d("b"))

    def ours(self, impl):
        fwd, bwd = PC.ops_fn("linear_forward"), PC.ops_fn("linear_backward")
        y, dx, dw, db = self._bufs()
        x, w, b, dy = (self.d(k) for k in ("x", "w", "b", "dy"))
        cdx, kw = self.cpu.compute_dx, _kw(impl)

        def run():
            fwd(x, w, b, out=y, **kw)
            bwd(dy, x, w, bias=True, compute_dx=cdx, dx=dx if cdx else None, dweight=dw, dbias=db, **kw)

        return self.cand(run, lambda: self.cpu._outs(y, dx, dw, db), [y, dx, dw, db],
                         check=_tf32_check_dict(self.cpu) if _is_tf32(impl) else None)

    def peer(self, name, mod):
        y, dx, dw, db = self._bufs()
        x, w, b, dy = (self.d(k) for k in ("x", "w", "b", "dy"))
        outs = lambda: self.cpu._outs(y, dx, dw, db)  # noqa: E731
        cdx = self.cpu.compute_dx
        if name == "cupy":
            run = CC.linear_peer_step(self.dev.xp, x, w, b, dy, y, dx, dw, db, cdx)
            return self.cand(run, outs, [y, dx, dw, db], note="cupy matmul/add/sum(out=) (cuBLAS)")
        if name == "torch":
            A = mod.ops.aten
            tx, tw, tb, tdy = (self.tt(mod, a) for a in (x, w, b, dy))
            ty, tdx, tdw, tdb = (self.tt(mod, a) for a in (y, dx, dw, db))

            def run():
                A.addmm.out(tb, tx, tw.t(), out=ty)
                if cdx:
                    A.mm.out(tdy, tw, out=tdx)
                A.mm.out(tdy.t(), tx, out=tdw)
                A.sum.IntList_out(tdy, [0], out=tdb)

            return self.cand(run, outs, [y, dx, dw, db], note="aten addmm/mm/sum .out (cuBLAS)")
        return None


class CudaConv(_DeviceCase):
    def _bufs(self):
        e = self.dev.empty_like
        return e(self.d("dy")), e(self.d("x")), e(self.d("w")), e(self.d("b"))

    def ours(self, impl):
        fwd, bwd = PC.ops_fn("conv2d_forward"), PC.ops_fn("conv2d_backward")
        y, dx, dw, db = self._bufs()
        x, w, b, dy = (self.d(k) for k in ("x", "w", "b", "dy"))
        p, s, cdx, kw = self.cpu.pad, self.cpu.stride, self.cpu.compute_dx, _kw(impl)

        def run():
            fwd(x, w, b, stride=s, padding=p, out=y, **kw)
            bwd(dy, x, w, stride=s, padding=p, bias=True, compute_dx=cdx, dx=dx if cdx else None, dweight=dw,
                dbias=db, **kw)

        return self.cand(run, lambda: self.cpu._outs(y, dx, dw, db), [y, dx, dw, db])

    def peer(self, name, mod):
        if name != "torch":
            return None
        A = mod.ops.aten
        x, w, b, dy = (self.tt(mod, self.d(k)) for k in ("x", "w", "b", "dy"))
        p, s, cdx = [self.cpu.pad] * 2, [self.cpu.stride] * 2, self.cpu.compute_dx
        res = {}

        def run():
            res["y"] = mod.conv2d(x, w, b, stride=s, padding=p)
            res["dx"], res["dweight"], res["dbias"] = A.convolution_backward(
                dy, x, w, [w.shape[0]], s, p, [1, 1], False, [0, 0], 1, [cdx, True, True])

        return self.cand(run, lambda: {k: v for k, v in res.items() if v is not None}, [], preallocated=False,
                         note="torch.conv2d + aten.convolution_backward (cuDNN; allocating)")


class CudaBatchNorm(_DeviceCase):
    def ours(self, impl):
        c, kw = self.cpu, _kw(impl)
        x, w, b = self.d("x"), self.d("w"), self.d("b")
        if c.backward:
            f = PC.ops_fn("batch_norm_backward")
            dy, sm, si = self.d("dy"), self.d("save_mean"), self.d("save_invstd")
            e = self.dev.empty_like
            dx, dw, db = e(x), e(w), e(b)
            run = lambda: f(dy, x, w, sm, si, training=True, dx=dx, dweight=dw, dbias=db, **kw)  # noqa: E731
            return self.cand(run, lambda: {"dx": dx, "dweight": dw, "dbias": db}, [dx, dw, db])
        f = PC.ops_fn("batch_norm_forward")
        y = self.dev.empty_like(x)
        rm, rv = self.dev.to_device(c.rm0), self.dev.to_device(c.rv0)
        last = {}

        def run():
            last["r"] = f(x, w, b, rm, rv, training=True, momentum=CM.BN_MOMENTUM, eps=CM.BN_EPS, out=y, **kw)

        def outs():
            r = last["r"]
            return {"y": y, "save_mean": r[1], "save_invstd": r[2], "running_mean": rm, "running_var": rv}

        return self.cand(run, outs, [y])

    def peer(self, name, mod):
        if name != "torch":
            return None
        c = self.cpu
        x, w, b = (self.tt(mod, self.d(k)) for k in ("x", "w", "b"))
        res = {}
        if c.backward:
            A = mod.ops.aten
            dy, sm, si = (self.tt(mod, self.d(k)) for k in ("dy", "save_mean", "save_invstd"))

            def run():
                res["dx"], res["dweight"], res["dbias"] = A.native_batch_norm_backward(
                    dy, x, w, None, None, sm, si, True, CM.BN_EPS, [True, True, True])

            return self.cand(run, lambda: dict(res), [], preallocated=False,
                             note="aten.native_batch_norm_backward (PyTorch's CUDA kernel; allocating)")
        rm, rv = self.tt(mod, self.dev.to_device(c.rm0)), self.tt(mod, self.dev.to_device(c.rv0))
        F = mod.nn.functional

        def run():
            res["y"] = F.batch_norm(x, rm, rv, w, b, training=True, momentum=CM.BN_MOMENTUM, eps=CM.BN_EPS)

        return self.cand(run, lambda: dict(res), [], preallocated=False,
                         note="F.batch_norm, training (cuDNN where PyTorch picks it; allocating)")


# CuPy forward equivalents of the activations whose CPU row has a NumPy peer
CUPY_ACT_FWD = {
    "relu": ("cupy.maximum(x, 0, out=)", lambda xp, x, o: xp.maximum(x, xp.float32(0), out=o)),
    "tanh": ("cupy.tanh(out=)", lambda xp, x, o: xp.tanh(x, out=o)),
}


class CudaAct(_DeviceCase):
    def ours(self, impl):
        c = self.cpu
        out = self.dev.empty(c.shape)
        kw = dict(c.params, **_kw(impl))
        if c.backward:
            f, dy, z = PC.ops_fn(f"{c.act.op}_backward"), self.d("dy"), self.d(c.act.bwd_takes)
            run = lambda: f(dy, z, out=out, **kw)  # noqa: E731
        else:
            f, x = PC.ops_fn(f"{c.act.op}_forward"), self.d("x")
            run = lambda: f(x, out=out, **kw)  # noqa: E731
        return self.cand(run, lambda: {"out": out}, [out])

    def peer(self, name, mod):
        c = self.cpu
        out = self.dev.empty(c.shape)
        if name == "cupy":
            eq = CUPY_ACT_FWD.get(c.act.op)
            if c.backward or eq is None or c.act.numpy_fwd is None:
                return None
            note, f = eq
            xp, x = self.dev.xp, self.d("x")
            return self.cand(lambda: f(xp, x, out), lambda: {"out": out}, [out], note=note)
        if name == "torch":
            A, p = mod.ops.aten, c.params
            to, x = self.tt(mod, out), self.tt(mod, self.d("x"))
            dy = self.tt(mod, self.d("dy")) if c.backward else None
            y = self.tt(mod, self.d("y")) if c.y is not None else None
            run, note = c.act.torch_call(c.backward, A, p, to, x, dy, y)
            return self.cand(run, lambda: {"out": out}, [out], note=note)
        return None


class CudaDropout(_DeviceCase):
    def ours(self, impl):
        f = PC.ops_fn("dropout_forward")
        x = self.d("x")
        out = self.dev.empty_like(x)
        kw = _kw(impl)
        return self.cand(lambda: f(x, p=CM.DROPOUT_P, seed=0, offset=0, training=True, out=out, **kw),
                         lambda: {"out": out}, [out])

    def peer(self, name, mod):
        if name != "torch":
            return None
        x = self.tt(mod, self.d("x"))
        res = {}

        def run():
            res["out"], _ = mod.ops.aten.native_dropout(x, CM.DROPOUT_P, True)

        return self.cand(run, lambda: dict(res), [], preallocated=False, check=self.cpu._check_structure,
                         note="aten.native_dropout (other RNG; also writes a bool mask, +n·1 B; allocating)")


class CudaArrays(_DeviceCase):
    """Pooling, losses, optimizer steps: the case's own statement of its call, on device arrays."""

    def __init__(self, cpu, dev):
        super().__init__(cpu, dev)
        self.xp = dev  # to_device, empty, to_host

    def ours(self, impl):
        return self.cpu.ours(impl, xp=self.xp)

    def peer(self, name, mod):
        return self.cpu.peer(name, mod, xp=self.xp, tt=self.tt) if name == "torch" else None


WRAPPERS = {CM.CopyCase: CudaCopy, CC.GemmCase: CudaGemm, CC.LinearCase: CudaLinear, CC.ConvCase: CudaConv,
            CM.BatchNormCase: CudaBatchNorm, CM.ActCase: CudaAct, CM.DropoutCase: CudaDropout,
            **{c: CudaArrays for c in (CT.PoolCase, CT.LossCase, CT.OptimCase)}}


def device_case(cpu_case, dev):
    cls = WRAPPERS.get(type(cpu_case))
    if cls is None:
        raise PC.Unavailable(f"no CUDA version of {type(cpu_case).__name__}")
    return cls(cpu_case, dev)


# ----------------------------------------------------------------------------------------------
# the backend the runner uses for --device cuda
# ----------------------------------------------------------------------------------------------


class _DeviceInputs(PC.Inputs):
    """Host inputs as on the CPU; clear() also drops their device copies."""

    def __init__(self, dev):
        super().__init__()
        self.dev = dev

    def get(self, tag, shape, scale=1.0, offset=0.0, positive=False):
        a = super().get(tag, shape, scale, offset, positive)
        self.dev.share(a)
        return a

    def clear(self):
        super().clear()
        self.dev.clear()


class CudaBackend:
    """What runner.run needs to know about the device: impls, cases, peers, clock, ceilings."""

    peer_choices = PEERS

    def __init__(self, dev):
        self.dev = dev
        self.device = dev.name
        self.registry = dev.registry  # the impl registry's device name
        self._torch = None

    def impl_choices(self, prob):
        from .. import _native  # noqa: PLC0415

        lists = []
        for f in prob.fns:
            try:
                lists.append(list(_native.impls(f, device=self.dev.registry)))
            except Exception:
                return None
        return [i for i in lists[0] if all(i in lst for lst in lists[1:])]

    def peers_of(self, prob):
        """cupy where the CPU row has NumPy (or CuPy), torch where it has PyTorch."""
        out = []
        if "numpy" in prob.peers or "cupy" in prob.peers:
            out.append("cupy")
        if "torch" in prob.peers:
            out.append("torch")
        return tuple(out)

    def new_inputs(self):
        return _DeviceInputs(self.dev)

    def build(self, prob, inputs):
        return device_case(prob.build(inputs), self.dev)

    def measure(self, timed, budget_s):
        return cuda_timing.measure(timed, budget_s, self.dev.clock())

    def peer_modules(self, peers, log):
        """{name: (module or None, reason)}; for torch, whether it runs on this device."""
        from . import env  # noqa: PLC0415

        mods = {}
        if "cupy" in peers:
            mods["cupy"] = (self.dev.xp, "")
        if "torch" in peers:
            torch, why = env.import_torch()
            if torch is not None:
                why = self.dev.torch_reason(torch)
                if why:
                    torch = None
            if torch is None:
                log(f"note: {why}; the torch column will read n/a")
            mods["torch"] = (torch, why or "")
            self._torch = torch
        return mods

    @contextlib.contextmanager
    def activate(self):
        """The run's device (CuPy's and PyTorch's), FP32 in PyTorch; restored afterwards."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.dev.activate())
            if self._torch is not None:
                stack.enter_context(self.dev.torch_context(self._torch))
                stack.callback(self.dev.torch_setup(self._torch))
            yield

    def ceiling_copy(self, probs, opts, inputs):
        """(bytes, callable): our CUDA copy (default impl) of the copy problem's input, on the device,
        timed in the same rounds as each memory-bound op."""
        from .. import _native  # noqa: PLC0415

        if not any(p.kind == "memory" and p.op != "copy" for p in probs):
            return None
        cp = P.problems_for("copy", opts.quick)[0]
        src = self.dev.put(inputs.get("x", cp.params["shape"]))
        dst = self.dev.empty_like(src)
        return cp.work, lambda: _native.copy(src, out=dst)

    def calibration(self, measure_if_missing, log):
        from . import cuda_calibrate  # noqa: PLC0415

        return cuda_calibrate.get(self.dev, measure_if_missing=measure_if_missing, log=log)

    def environment(self):
        d = {"device": self.dev.describe(), "timing": "CUDA events on CuPy's current stream" if not self.dev.fake
             else "host clock (fake device)"}
        if self._torch is not None:
            d.update(self.dev.torch_describe(self._torch), torch_tf32="off for the run")
        return d


def open_backend(device):
    """CudaBackend for "cuda" / "cuda:N", or device.DeviceUnavailable."""
    from . import device as D  # noqa: PLC0415

    _, idx = D.parse(device)
    return CudaBackend(D.open_cuda(idx))

