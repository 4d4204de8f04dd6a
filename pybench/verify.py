"""`pybench verify`: check a machine in one command -- correctness, training, speed, a batch sweep.

Sections, in the order they run (the budget drops the sweep first, then shortens the speed rows,
and never the checks; the report says what was dropped or shortened):
- correctness: every problem of the table's "check" class (odd shapes included) x every impl that
  runs here x float32/float64 against pybench.reference; central differences in float64 on each
  layer's and loss's backward; dropout masks bitwise equal across thread counts. On a GPU also each
  op against the CPU's result and two runs of it bitwise equal, and the dropout mask equal to the CPU's.
- training: an MLP and a CNN from the same initial weights, on the device and on the CPU (on the
  CPU: all threads against one thread): the loss at every evaluation agrees within TRAIN_RTOL.
- speed: GEMM, a 3x3 conv fwd+bwd, copy and BatchNorm through the bench's runner, side by side with
  the platform's (NumPy/PyTorch on the CPU, CuPy/PyTorch on a GPU), each with a % of peak.
- sweep: a few batch sizes (LR scaled linearly), samples/s and steps / time to a target accuracy.
`run()` returns the report dict; `write()` writes verify.md and verify.json.
"""

import contextlib
import dataclasses
import json
import os
import subprocess
import time
import zlib

import numpy as np

SCHEMA = "pybench.verify/1"
DEFAULT_BUDGET_S = {"cpu": 170.0, "cuda": 240.0}
TRAIN_STEPS = 300
# Loss trajectories may differ by summation order only: float32 rounding grows over 300 steps.
TRAIN_RTOL, TRAIN_ATOL = 2e-2, 1e-3
FD_TOL = 1e-5                # central differences in float64, h = 1e-6: ~1e-10 of rounding and truncation
FD_DIRECTIONS = 3
CHECK_OPS = None            # None: every op of the problem table (the tests' reduced run names a few)
SWEEP_BATCHES = (16, 32, 64, 128)
SWEEP_TARGET = 0.45         # validation accuracy the sweep times the way to
SWEEP_EPOCHS = 15
DEVICE_RTOL = {"float32": 1e-4, "float64": 1e-10}  # device against the CPU, relative to max |CPU|


class DeviceMissing(Exception):
    """--device names a device this machine cannot use; str(e) is the one-line reason."""


class Budget:
    def __init__(self, total):
        self.total, self.t0 = float(total), time.perf_counter()

    def used(self):
        return time.perf_counter() - self.t0

    def left(self):
        return self.total - self.used()


# ---------------------------------------------------------------------------------------------
# the device
# ---------------------------------------------------------------------------------------------


def open_device(device):
    """None for "cpu", else the bench's device object for "cuda[:N]"; DeviceMissing when the GPU, the
    CUDA build or CuPy is missing (checked before any work)."""
    from . import train
    from .bench import device as D

    kind, idx = D.parse(device)
    if kind == "cpu":
        return None
    try:
        dev = D.open_cuda(idx)
    except D.DeviceUnavailable as e:
        raise DeviceMissing(str(e)) from None
    try:
        train.check_device(device)
    except RuntimeError as e:
        raise DeviceMissing(f"--device {device}: {e}") from None
    return dev


def _backend(dev):
    from .bench import cuda_problems, runner

    return runner.CPU if dev is None else cuda_problems.CudaBackend(dev)


@contextlib.contextmanager
def _threads(n):
    from . import _native

    before = _native.get_num_threads()
    _native.set_num_threads(n)
    try:
        yield
    finally:
        _native.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# correctness
# ---------------------------------------------------------------------------------------------


def _impls(backend, prob, dtype):
    from . import _native

    lists = []
    for f in prob.fns:
        try:
            lists.append(list(_native.impls(f, device=backend.registry, dtype=dtype)))
        except Exception:
            return None
    return [i for i in lists[0] if all(i in lst for lst in lists[1:])]


def _inputs(backend, dtype):
    """The backend's run-wide inputs (a device's share their host arrays), drawn in `dtype`."""
    inp = backend.new_inputs()
    inp.dtype = np.dtype(dtype)
    return inp


def _floats(out):
    return {k: np.asarray(v) for k, v in out.items() if v is not None and np.asarray(v).dtype.kind == "f"}


def _max_rel(a, b):
    """max |a - b| / max(1, max |b|) over the float outputs both have."""
    worst = 0.0
    for k, x in _floats(a).items():
        y = _floats(b).get(k)
        if y is None or x.shape != y.shape:
            return float("inf")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            return float("inf")
        scale = max(1.0, float(np.max(np.abs(y))) if y.size else 1.0)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale if x.size else 0.0)
    return worst


def _bitwise(a, b, skip=()):
    fa, fb = ({k: v for k, v in _floats(d).items() if not k.startswith(skip)} for d in (a, b))
    return fa.keys() == fb.keys() and all(fa[k].tobytes() == fb[k].tobytes() for k in fa)


def check_ops(backend, log, dtypes=("float32", "float64"), ops=None):
    """One row per (problem, dtype, impl): against the reference; on a GPU also against the CPU's
    default and a rerun bitwise equal."""
    from .bench import problems as P
    from .bench.problem_core import Unavailable, try_check

    rows = []
    on_gpu = backend.device != "cpu"
    for prob in P.table("check", ops or P.OPS):
        missing = prob.missing()
        for dtype in dtypes:
            base = {"op": prob.op, "problem": prob.name, "dtype": dtype}
            if missing:
                rows.append(dict(base, impl="-", status="n/a", detail=missing))
                continue
            impls = _impls(backend, prob, dtype)
            if not impls:
                rows.append(dict(base, impl="-", status="n/a", detail=f"no impl for {dtype} on {backend.device}"))
                continue
            try:
                case = backend.build(prob, _inputs(backend, dtype))
                cpu_ref = None
                if on_gpu:
                    cpu_case = prob.build(_inputs(_backend(None), dtype))
                    cc = cpu_case.ours(None)
                    try_check(cc, cpu_case.check)
                    cpu_ref = cc.outputs()
            except Unavailable as e:
                rows.append(dict(base, impl="-", status="n/a", detail=str(e)))
                continue
            for impl in impls:
                row = dict(base, impl=impl)
                try:
                    cand = case.ours(impl)
                except Unavailable as e:
                    rows.append(dict(row, status="n/a", detail=str(e)))
                    continue
                res = try_check(cand, case.check)
                row.update(status="ok" if res.ok else "FAILED", worst=res.worst, detail=res.describe())
                if not res.ok and "raised ValueError" in res.detail and "impl: expected" in res.detail:
                    # an impl that refuses this shape by name (winograd, direct) is not wrong
                    row.update(status="n/a", detail="refuses this shape: " + res.detail)
                if res.ok and on_gpu:
                    first = cand.outputs()
                    rel = _max_rel(first, cpu_ref)
                    exact = prob.op == "dropout"
                    agree = _bitwise(first, cpu_ref) if exact else rel <= DEVICE_RTOL[dtype]
                    try_check(cand, case.check)
                    # running statistics are updated in place by each run: the rerun compares the rest
                    again = _bitwise(first, cand.outputs(), skip=("running",))
                    row.update(vs_cpu=rel, vs_cpu_ok=agree, rerun_bitwise=again)
                    if not agree:
                        row.update(status="FAILED", detail=f"device vs CPU: max rel diff {rel:.3g}"
                                   + (" (bitwise expected)" if exact else f" > {DEVICE_RTOL[dtype]:g}"))
                    elif not again:
                        row.update(status="FAILED", detail="two runs on the device differ")
                if row["status"] == "FAILED":
                    log(f"  FAILED {prob.name} [{impl}, {dtype}]: {row['detail']}")
                rows.append(row)
    return rows


def _fd_modules(dtype=np.float64):
    """(name, module factory, input shape, loss target or None) of every layer and loss with a backward."""
    from . import nn
    from .nn import activations as A
    from .nn.loss import make_loss

    rng = np.random.default_rng(0)
    mods = [("linear", lambda: nn.Linear(5, 3, dtype=dtype, rng=rng), (4, 5)),
            ("conv2d 3x3 pad 1", lambda: nn.Conv2d(2, 3, 3, padding=1, dtype=dtype, rng=rng), (2, 2, 5, 5)),
            ("conv2d 3x3 stride 2", lambda: nn.Conv2d(2, 3, 3, stride=2, dtype=dtype, rng=rng), (2, 2, 7, 7)),
            ("batch_norm", lambda: nn.BatchNorm2d(3, dtype=dtype), (4, 3, 3, 3)),
            ("max_pool2d", lambda: nn.MaxPool2d(2), (2, 2, 6, 6)),
            ("avg_pool2d", lambda: nn.AvgPool2d(3, 2, 1), (2, 2, 7, 7)),
            ("global_avg_pool2d", lambda: nn.GlobalAvgPool(), (2, 3, 4, 4))]
    mods += [(a, lambda a=a: A.activation(a), (3, 7)) for a in A.activation_names() if a != "identity"]
    out = [(n, f, s, None) for n, f, s in mods]
    for name in ("cross_entropy", "mse", "huber", "bce"):
        out.append((name, lambda name=name: make_loss(name), (4, 5), name))
    return out


def _loss_target(name, shape, rng):
    if name == "cross_entropy":
        return rng.integers(0, shape[1], shape[0]).astype(np.int64)
    if name == "bce":
        return rng.random(shape)
    return rng.standard_normal(shape)


def check_gradients(log):
    """Central differences of every backward in float64: <dy, f(x+hv) - f(x-hv)>/2h against the
    analytic <dx, v> + sum <dp, vp> over random directions v of the input and the parameters."""
    rows = []
    h = 1e-6
    for name, make, shape, loss in _fd_modules():
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        row = {"op": name, "directions": FD_DIRECTIONS}
        try:
            m = make()
            x = rng.standard_normal(shape)
            if loss:
                t = _loss_target(loss, shape, rng)
                f = lambda z: np.array(float(m.forward(z, t)))  # noqa: E731
                f(x)
                dx, params = np.array(m.backward(), copy=True), []
                dy = np.array(1.0)
            else:
                m.train()
                params = m.parameters()
                f = lambda z: np.array(m.forward(z), copy=True)  # noqa: E731
                y = f(x)
                dy = rng.standard_normal(y.shape)
                dx = np.array(m.backward(dy), copy=True)
            grads = [np.array(p.grad, copy=True) for p in params]
            worst = 0.0
            for _ in range(FD_DIRECTIONS):
                vx = rng.standard_normal(shape)
                vp = [rng.standard_normal(p.data.shape) for p in params]
                analytic = float(np.sum(dx * vx)) + sum(float(np.sum(g * v)) for g, v in zip(grads, vp))
                vals = []
                for s in (1.0, -1.0):
                    for p, v in zip(params, vp):
                        p.data += s * h * v
                    vals.append(float(np.sum(dy * f(x + s * h * vx))))
                    for p, v in zip(params, vp):
                        p.data -= s * h * v
                fd = (vals[0] - vals[1]) / (2 * h)
                worst = max(worst, abs(fd - analytic) / max(1e-6, abs(fd) + abs(analytic)))
            row.update(worst_rel=worst, status="ok" if worst <= FD_TOL else "FAILED",
                       detail=f"worst relative difference {worst:.2g} (tolerance {FD_TOL:g})")
        except Exception as e:
            row.update(status="FAILED", detail=f"raised {type(e).__name__}: {e}")
        if row["status"] != "ok":
            log(f"  FAILED gradient of {name}: {row['detail']}")
        rows.append(row)
    return rows


def check_dropout(dev, log):
    """The dropout mask of (seed, offset) bitwise equal on 1 thread and on all; on a GPU equal to the CPU's."""
    from . import _native

    x = np.random.default_rng(1).standard_normal((1031, 1021)).astype(np.float32)  # large enough to split
    n = max(2, os.cpu_count() or 1)
    outs = {}
    for t in (1, n):
        with _threads(t):
            outs[f"{t} thread(s)"] = np.asarray(_native.dropout_forward(x, 0.3, 1234, 77, True))
    vals = list(outs.values())
    rows = [{"check": f"dropout mask, 1 thread vs {n}", "status": "ok" if vals[0].tobytes() == vals[1].tobytes()
             else "FAILED"}]
    if dev is not None:
        with dev.activate():
            y = dev.to_host(_native.dropout_forward(dev.to_device(x), 0.3, 1234, 77, True))
        rows.append({"check": "dropout mask, device vs CPU",
                     "status": "ok" if np.asarray(y).tobytes() == vals[0].tobytes() else "FAILED"})
    for r in rows:
        if r["status"] != "ok":
            log(f"  FAILED {r['check']}")
    return rows


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def dataset():
    """('mnist1d', None) when the mnist1d package is importable, else ('shapes', why)."""
    try:
        import mnist1d  # noqa: F401
        return "mnist1d", None
    except Exception as e:
        return "shapes", f"mnist1d not importable ({type(e).__name__}); the training sections use 'shapes' " \
                         "(pybench's own generator, NumPy only)"


def _config(model, device, steps, threads=None, **kw):
    from .train import Config

    name, _ = dataset()
    base = dict(dataset=name, n_train=2000, n_test=500, model=model, depth=2, width=64 if model == "mlp" else 8,
                batch_size=64, lr=0.05, momentum=0.9, steps=steps, eval_every=max(1, (steps or 6) // 6), seed=0,
                diagnostics=False, profile=False, device=device, threads=threads)
    if name == "shapes":
        base["resolution"] = 16
    base.update(kw)
    return Config(**base)


def _losses(rec):
    return [(h["step"], h["train_loss"], h["val_loss"]) for h in rec.get("history", [])]


def loss_difference(a, b):
    """The worst relative difference (beyond TRAIN_ATOL) of two records' train and val losses at
    their evaluations; inf when the evaluations or a loss's presence differ."""
    la, lb = _losses(a), _losses(b)
    if len(la) != len(lb):
        return float("inf")
    worst = 0.0
    for (sa, ta, va), (sb, tb, vb) in zip(la, lb):
        for u, v in ((ta, tb), (va, vb)):
            if u is None and v is None and sa == sb:
                continue
            if u is None or v is None or sa != sb:
                return float("inf")
            worst = max(worst, max(0.0, abs(u - v) - TRAIN_ATOL) / max(abs(v), 1e-12))
    return worst


def check_training(device, steps, log):
    from . import train

    n = max(2, os.cpu_count() or 1)
    rows = []
    for model in ("mlp", "cnn"):
        if device == "cpu":
            a_cfg, b_cfg, what = _config(model, "cpu", steps, threads=n), _config(model, "cpu", steps, threads=1), \
                f"{n} threads vs 1"
        else:
            a_cfg, b_cfg, what = _config(model, device, steps), _config(model, "cpu", steps), f"{device} vs cpu"
        log(f"  training {model}: {steps} steps, {what}")
        a, b = train.run(a_cfg), train.run(b_cfg)
        row = {"model": model, "compare": what, "steps": steps, "status": "ok", "dataset": a_cfg.dataset,
               "final_loss": a.get("history", [{}])[-1].get("train_loss") if a.get("history") else None,
               "test_acc": (a.get("test") or {}).get("acc"),
               "samples_per_s": (a.get("throughput") or {}).get("samples_per_s"), "worst_rel": 0.0}
        if a["status"] not in train.OK_STATUSES or b["status"] not in train.OK_STATUSES:
            row.update(status="FAILED", detail=f"status {a['status']} / {b['status']}: {a['stop_reason']}")
        else:
            worst = loss_difference(a, b)
            row.update(worst_rel=worst, evaluations=len(_losses(a)),
                       detail=f"worst relative loss difference {worst:.2g}")
            if worst > TRAIN_RTOL:
                row["status"] = "FAILED"
        if row["status"] != "ok":
            log(f"  FAILED training {model}: {row.get('detail')}")
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------------


def speed_problems(on_gpu):
    from .bench import cases_compute as CC, cases_memory as CM

    if on_gpu:
        return [CC.gemm_problem(4096), CC.conv_problem(32, 64, 64, 56, 3, 1),
                CM.copy_problem(1 << 16, 1024), CM.batch_norm_problem((64, 64, 128, 64), False)]
    return [CC.gemm_problem(1024), CC.conv_problem(8, 32, 32, 16, 3, 1),
            CM.copy_problem(8192, 1024), CM.batch_norm_problem((32, 64, 64, 64), False)]


def _gpu_peaks(dev):
    """{'fp32': GFLOP/s, 'tensor': GFLOP/s or None, 'how': ...} from the device's SMs and clock."""
    p = dev.props
    sms, clock = p.get("multiProcessorCount"), p.get("clockRate")  # clockRate in kHz
    cc = f"{p.get('major')}.{p.get('minor')}"
    lanes = {"7.0": 64, "7.5": 64, "8.0": 64}.get(cc, 128)
    tc = {"8.0": 1024, "9.0": 2048}.get(cc)  # dense TF32 FLOPs per SM per clock (A100, H100)
    if not sms or not clock:
        return None
    ghz = clock / 1e6
    return {"fp32_gflops": 2 * lanes * sms * ghz, "tf32_gflops": tc * sms * ghz if tc else None,
            "how": f"{sms} SMs x {ghz:.2f} GHz x {2 * lanes} FP32 FLOPs/clock"
                   + (f"; TF32 tensor cores {tc} FLOPs/clock/SM" if tc else "; TF32 tensor-core rate unknown for cc " + cc)}


def measure_speed(dev, per_problem_s, log):
    from .bench import env, runner
    from .bench.runner import Options

    backend = _backend(dev)
    on_gpu = dev is not None
    peers = ("cupy", "torch") if on_gpu else ("numpy", "torch")
    opts = Options(peers=peers, repeat_seconds=per_problem_s, device=backend.device, calibration=False)
    probs = speed_problems(on_gpu and not dev.fake)  # the emulated device: the CPU's sizes
    if on_gpu:
        mods = backend.peer_modules(peers, log)
    else:
        torch, why = env.import_torch()
        mods = {"torch": (torch, why)}
    inputs = backend.new_inputs()
    peaks = {}
    rows = []
    with backend.activate():
        copy_p = probs[2]
        src = inputs.get("x", copy_p.params["shape"])
        if on_gpu:
            src = dev.put(src)
            dst = dev.empty_like(src)
        else:
            dst = np.empty_like(src)
        from . import _native
        ceiling = (copy_p.work, lambda: _native.copy(src, out=dst))
        for prob in probs:
            log(f"  {prob.name}")
            rows.extend(runner.run_problem(prob, opts, mods, inputs, log, ceiling, backend))
        if on_gpu and not dev.fake and "tf32" in (backend.impl_choices(probs[0]) or ()):
            # the tensor-core path: our opt-in TF32 GEMM (its own tolerance), against the TF32 peak
            log(f"  {probs[0].name} [tf32]")
            tf = dataclasses.replace(opts, impl="tf32")
            rows.extend(dict(r, tensor_cores=True) for r in runner.run_problem(probs[0], tf, mods, inputs, log, None, backend))
        if on_gpu:
            peaks = _gpu_peaks(dev) or {}
            if dev.fake:
                peaks = {"fp32_gflops": None, "tf32_gflops": None, "how": "emulated device: no peak"}
        else:
            from .bench import calibrate

            fma = calibrate.fma_probe(quick=True)
            peaks = {"fp32_gflops": fma["gflops"], "tf32_gflops": None,
                     "how": f"register-only FMA probe, {fma['isa']}, {fma['threads']} threads"}
    inputs.clear()
    copy_gbs = next((r["ours"]["rate"] for r in rows if r["op"] == "copy" and r.get("ours")), None)
    out = []
    for r in rows:
        row = {"problem": r["op"] + " " + " ".join(x for x in (r.get("label"), r.get("shape")) if x),
               "op": r["op"], "kind": r.get("kind"), "impl": r.get("impl"), "status": r["status"],
               "ours": (r.get("ours") or {}).get("rate"), "unit": "GFLOP/s" if r.get("kind") == "compute" else "GB/s",
               "peers": {k: {"rate": v.get("rate"), "status": v.get("status"), "reason": v.get("reason")}
                         for k, v in r.get("peers", {}).items()}}
        if row["ours"] is not None:
            if r.get("tensor_cores"):
                if peaks.get("tf32_gflops"):
                    row["pct_of_peak"], row["peak"] = 100 * row["ours"] / peaks["tf32_gflops"], "TF32"
            elif r.get("kind") == "compute" and peaks.get("fp32_gflops"):
                row["pct_of_peak"] = 100 * row["ours"] / peaks["fp32_gflops"]
                row["peak"] = "FP32"
            elif r.get("kind") == "memory" and copy_gbs:
                frac = (r.get("copy_alongside") or {}).get("fraction")
                row["pct_of_peak"] = 100 * (frac if frac is not None else row["ours"] / copy_gbs)
                row["peak"] = "copy"
        out.append(row)
    return {"rows": out, "peaks": peaks, "copy_gbs": copy_gbs, "per_problem_s": per_problem_s}


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------


def batch_sweep(device, epochs, log):
    from . import train

    rows = []
    for bs in SWEEP_BATCHES:
        cfg = _config("mlp", device, None, batch_size=bs, lr=0.05, lr_scaling="linear", base_batch_size=64,
                      epochs=epochs, eval_every=max(1, 2000 // bs // 4),
                      target_accuracy=SWEEP_TARGET, momentum=0.9)
        log(f"  batch {bs}: {epochs} epochs, target val acc {SWEEP_TARGET}")
        rec = train.run(cfg)
        tgt = rec.get("target") or {}
        rows.append({"batch_size": bs, "lr": cfg.lr * bs / 64, "status": rec["status"],
                     "samples_per_s": (rec.get("throughput") or {}).get("samples_per_s"),
                     "steps": rec.get("steps"), "steps_to_target": tgt.get("step"),
                     "time_to_target_s": tgt.get("wall_time"), "test_acc": (rec.get("test") or {}).get("acc")})
    return rows


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------


def _git(*args):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=5).stdout.strip() or None
    except Exception:
        return None


def machine(dev):
    from . import __version__, _native, info

    d = {"cpu": info.cpu_model(), "cpu_count": os.cpu_count(), "threads": _native.get_num_threads(),
         "isa_active": _native.isa_active(), "pybench": __version__, "numpy": np.__version__,
         "commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
         "build": {k: v for k, v in info.collect().items() if k in ("build", "compiler", "build_type", "cuda")}}
    try:
        d["loadavg"] = os.getloadavg()[0]
    except OSError:
        d["loadavg"] = None
    if dev is not None:
        d["device"] = dev.describe()
    return d


def run(device="cpu", budget_s=None, log=lambda m: None, dev=None, ops=None):
    """Every section within `budget_s` (default DEFAULT_BUDGET_S); `dev` the opened device (None: CPU);
    `ops` limits the op checks (the tests' reduced run; None: every op). Returns the report;
    report["ok"] says whether everything held."""
    from .bench import device as D

    kind, _ = D.parse(device)
    budget = Budget(budget_s or DEFAULT_BUDGET_S[kind])
    rep = {"schema": SCHEMA, "device": D.canonical(device), "budget_s": budget.total, "machine": machine(dev),
           "notes": [], "sections": {}}
    name, why = dataset()
    if why:
        rep["notes"].append(why)
    backend = _backend(dev)

    log("correctness: every op x impl x dtype against pybench.reference")
    ops = CHECK_OPS if ops is None else ops
    dtypes = ("float32", "float64") if dev is None else ("float32",)
    if dev is not None:
        rep["notes"].append("op checks on the device in float32 (the CUDA cases are float32); float64 is the CPU's")
    ops_rows = check_ops(backend, log, dtypes=dtypes, ops=ops)
    if ops is not None:
        rep["notes"].append(f"op checks limited to {', '.join(ops)}")
    log("correctness: finite differences of every backward (float64)")
    grad_rows = check_gradients(log)
    drop_rows = check_dropout(dev, log)
    rep["sections"]["correctness"] = {"ops": ops_rows, "gradients": grad_rows, "dropout": drop_rows}

    # the rest shares what is left: training first, then speed, then (if it fits) the sweep
    steps = TRAIN_STEPS
    if budget.left() < 0.5 * budget.total:
        steps = max(10, int(TRAIN_STEPS * budget.left() / budget.total))
        rep["notes"].append(f"training shortened to {steps} steps (of {TRAIN_STEPS}) to fit --budget-s {budget.total:g}")
    log(f"training: MLP and CNN, {steps} steps each, same initial weights ({budget.used():.0f} s used)")
    t0 = time.perf_counter()
    rep["sections"]["training"] = {"rows": _guard("training", lambda: check_training(device, steps, log), log),
                                   "rtol": TRAIN_RTOL,
                                   "atol": TRAIN_ATOL, "dataset": name,
                                   "host_transfers": "the steady step's only device-to-host transfer is the loss: "
                                                     "checked on the emulated device by tests/test_device_emulated.py, "
                                                     "not counted by this run"}
    train_s = time.perf_counter() - t0

    per = 1.0
    if budget.left() < 0.5 * budget.total * 0.5:
        per = max(0.05, min(per, budget.left() / 40))
        rep["notes"].append(f"speed rows timed {per:.2f} s each (not the usual) to fit the budget")
    log(f"speed: GEMM, conv 3x3, copy, BatchNorm side by side ({budget.used():.0f} s used)")
    rep["sections"]["speed"] = _guard("speed", lambda: measure_speed(dev, per, log), log)

    sweep_cost = 2.0 * train_s  # four MLP runs of 15 epochs (~27k samples each) against the training's four runs
    if budget.left() > sweep_cost:
        log(f"sweep: batch sizes {', '.join(map(str, SWEEP_BATCHES))} ({budget.used():.0f} s used)")
        rep["sections"]["sweep"] = {"rows": _guard("sweep", lambda: batch_sweep(device, SWEEP_EPOCHS, log), log),
                                    "target": SWEEP_TARGET, "dataset": name, "epochs": SWEEP_EPOCHS}
    else:
        why = (f"sweep dropped: {budget.left():.0f} s of the {budget.total:g} s budget left, it needs about "
               f"{sweep_cost:.0f} s (the checks come first)")
        rep["notes"].append(why)
        rep["sections"]["sweep"] = {"rows": [], "dropped": why}
        log(why)
    rep["failures"] = failures(rep)
    rep["ok"] = not rep["failures"]
    rep["wall_s"] = budget.used()
    rep["machine"]["loadavg_end"] = machine(None)["loadavg"]
    return rep


def _guard(section, f, log):
    """f(), or the section as one FAILED row saying what raised (the report is written regardless)."""
    try:
        return f()
    except Exception as e:
        log(f"  FAILED {section}: raised {type(e).__name__}: {e}")
        row = {"status": "FAILED", "detail": f"raised {type(e).__name__}: {e}", "model": "-", "compare": "-",
               "problem": section, "op": "-", "kind": None, "impl": "-", "ours": None, "unit": "", "peers": {},
               "batch_size": "-", "lr": 0.0, "samples_per_s": None, "steps_to_target": None,
               "time_to_target_s": None, "test_acc": None, "steps": None}
        if section == "speed":
            return {"rows": [row], "peaks": {}, "copy_gbs": None, "per_problem_s": 0.0}
        return [row]


def failures(rep):
    s = rep["sections"]
    out = [f"op {r['problem']} [{r['impl']}, {r['dtype']}]: {r['detail']}" for r in s["correctness"]["ops"]
           if r["status"] == "FAILED"]
    out += [f"gradient of {r['op']}: {r['detail']}" for r in s["correctness"]["gradients"] if r["status"] == "FAILED"]
    out += [r["check"] for r in s["correctness"]["dropout"] if r["status"] == "FAILED"]
    out += [f"training {r['model']} ({r['compare']}): {r.get('detail')}" for r in s["training"]["rows"]
            if r["status"] == "FAILED"]
    out += [f"speed row {r['problem']}: {r.get('detail') or 'ours FAILED its check'}" for r in s["speed"]["rows"]
            if r["status"] == "FAILED"]
    out += [f"sweep batch {r['batch_size']}: {r['detail']}" for r in s["sweep"]["rows"] if r["status"] == "FAILED"]
    return out


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------


def _f(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def _build_line(b):
    b = b.get("build", b)
    cuda = f"CUDA built for sm_{b.get('cuda_archs')}" if b.get("cuda_built") else "no CUDA"
    return (f"{b.get('build_type')}, {b.get('compiler')}, SIMD levels {'/'.join(b.get('isa_levels_built') or [])}, "
            f"{cuda}{', dev kernels' if b.get('dev_kernels') else ''}")


def markdown(rep):
    m, s = rep["machine"], rep["sections"]
    dev = m.get("device")
    lines = [f"# pybench verify --device {rep['device']}: {'PASS' if rep['ok'] else 'FAIL'}", "",
             f"- machine: {m['cpu']}, {m['cpu_count']} logical CPUs, {m['threads']} threads, SIMD {m['isa_active']}, "
             f"load average {_f(m.get('loadavg'))} at the start"]
    if dev:
        lines.append(f"- device: {dev['device']} {dev['name']} (cc {dev['compute_capability']}"
                     + (", emulated: its figures say nothing about a GPU)" if dev.get("fake") else ")"))
    lines += [f"- build: pybench {m['pybench']}, commit {m['commit'] or 'unknown'}{' (modified)' if m['dirty'] else ''}, "
              f"{_build_line(m['build'])}",
              f"- wall time {rep['wall_s']:.0f} s of a {rep['budget_s']:g} s budget", ""]
    for n in rep["notes"]:
        lines.append(f"- note: {n}")
    if rep["failures"]:
        lines += ["", "## What is wrong", ""] + [f"- {f}" for f in rep["failures"]]
    ops = s["correctness"]["ops"]
    by_op = {}
    for r in ops:
        d = by_op.setdefault(r["op"], {"ok": 0, "FAILED": 0, "n/a": 0, "impls": set()})
        d[r["status"]] += 1
        if r["impl"] != "-":
            d["impls"].add(r["impl"])
    lines += ["", "## Correctness", "",
              "Every problem of the table's check class x every impl that runs here x float32/float64 against "
              "pybench.reference" + ("; on the device also against the CPU result and a rerun bitwise equal" if dev else "")
              + ".", ""]
    lines += _table(["op", "impls", "checks ok", "FAILED", "n/a"],
                    [[op, ", ".join(sorted(d["impls"])) or "-", d["ok"], d["FAILED"], d["n/a"]] for op, d in by_op.items()])
    lines += ["", f"Finite differences (float64, {FD_DIRECTIONS} random directions of input and parameters):", ""]
    lines += _table(["backward of", "worst relative difference", "status"],
                    [[r["op"], _f(r.get("worst_rel"), "{:.1e}"), r["status"]] for r in s["correctness"]["gradients"]])
    lines += [""] + _table(["dropout", "status"], [[r["check"], r["status"]] for r in s["correctness"]["dropout"]])
    t = s["training"]
    lines += ["", "## Training", "",
              f"MLP and CNN from the same initial weights on {t['dataset']}; the loss at every evaluation must agree "
              f"within {t['rtol']:g} relative (after {t['atol']:g} absolute).", ""]
    lines += _table(["model", "compared", "steps", "worst rel. diff", "final train loss", "test acc", "samples/s", "status"],
                    [[r["model"], r["compare"], r["steps"], _f(r.get("worst_rel"), "{:.1e}"), _f(r.get("final_loss"), "{:.4f}"),
                      _f(r.get("test_acc"), "{:.3f}"), _f(r.get("samples_per_s"), "{:,.0f}"), r["status"]] for r in t["rows"]])
    lines += ["", f"Host transfers: {t['host_transfers']}."]
    sp = s["speed"]
    pk = sp["peaks"]
    lines += ["", "## Speed", "",
              f"Side by side in this run, {sp['per_problem_s']:g} s per problem; peak: "
              f"FP32 {_f(pk.get('fp32_gflops'), '{:,.0f}')} GFLOP/s"
              + (f", TF32 tensor cores {pk['tf32_gflops']:,.0f} GFLOP/s" if pk.get("tf32_gflops") else "")
              + f" ({pk.get('how')}); copy {_f(sp['copy_gbs'])} GB/s.", ""]
    peer_names = sorted({k for r in sp["rows"] for k in r["peers"]})
    rows, why = [], {}
    for r in sp["rows"]:
        peers = []
        for k in peer_names:
            p = r["peers"].get(k) or {}
            peers.append(_f(p.get("rate")) if p.get("rate") is not None else "n/a")
            if p.get("rate") is None and "no " not in str(p.get("reason"))[:3]:
                why.setdefault(k, p.get("reason") or p.get("status"))
        pct = f"{r['pct_of_peak']:.0f}% of {r['peak']}" if r.get("pct_of_peak") is not None else "-"
        rows.append([r["problem"], r["impl"], f"{_f(r['ours'])} {r['unit']}", *peers, pct, r["status"]])
    lines += _table(["problem", "impl", "ours", *peer_names, "% of peak", "status"], rows)
    lines += [""] + [f"- {k}: {v}" for k, v in why.items() if v]
    lines += ["- % of peak: compute rows of the FP32 peak above, memory rows of the copy timed in the same rounds."]
    sw = s["sweep"]
    lines += ["", "## Batch-size sweep", ""]
    if sw.get("dropped"):
        lines.append(sw["dropped"] + ".")
    else:
        lines += [f"MLP on {sw['dataset']}, {sw['epochs']} epochs, LR scaled linearly from 0.05 at batch 64, one seed; "
                  f"target val accuracy {sw['target']} (steps and training time until it was first reached).", ""]
        lines += _table(["batch", "lr", "samples/s", "steps to target", "time to target (s)", "test acc", "status"],
                        [[r["batch_size"], f"{r['lr']:.3g}", _f(r["samples_per_s"], "{:,.0f}"),
                          r["steps_to_target"] if r["steps_to_target"] is not None else "not reached",
                          _f(r["time_to_target_s"], "{:.2f}"), _f(r["test_acc"], "{:.3f}"), r["status"]]
                         for r in sw["rows"]])
    return "\n".join(lines) + "\n"


def write(rep, out):
    from . import store

    os.makedirs(out, exist_ok=True)
    md, js = os.path.join(out, "verify.md"), os.path.join(out, "verify.json")
    store.atomic_write(os.path.abspath(md), markdown(rep))
    store.atomic_write(os.path.abspath(js), json.dumps(_clean(rep), indent=2, allow_nan=False) + "\n")
    return md, js


def _clean(v):
    """Strict JSON: non-finite floats as None, NumPy scalars as Python's."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)
