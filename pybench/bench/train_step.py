"""Training-step throughput: a pybench.nn model against the same model in PyTorch CPU.

One step is what a training loop does per batch: forward, softmax cross-entropy, backward, an
SGD-with-momentum update. Both sides get the same weights (PyTorch's model is built from ours
layer by layer), the same batch and the same thread count. Before anything is timed, one step of
each is run from the same state and compared (loss and every updated parameter), so a wrong fast
path is reported, never timed. Then the two steps are timed alternately (pybench.bench.timing) and
reported as samples/s, achieved GFLOP/s (the model's training FLOPs per sample) and the ratio.

PyTorch runs as its users write it: `zero_grad()` (set_to_none, PyTorch's default), `loss.backward()`,
`opt.step()` (foreach implementation). The per-op breakdown of our step says which op dominates.
"""

import os
import time
from dataclasses import dataclass

import numpy as np

from .. import nn
from . import calibrate
from .timing import measure, paired_ratio

LR, MOMENTUM = 0.01, 0.9


@dataclass
class Case:
    name: str        # "mlp" or "cnn"
    batch: int
    resolution: int  # input side (28 = 1x28x28); the MLP flattens it

    @property
    def label(self):
        if self.name == "mlp":
            return f"MLP 784-512-512-10, batch {self.batch}"
        r = self.resolution
        return f"CNN 1x{r}x{r} (2 conv stages, BN, ReLU, pool; dense), batch {self.batch}"

    def in_shape(self):
        return (784,) if self.name == "mlp" else (1, self.resolution, self.resolution)

    def build(self, seed=0):
        if self.name == "mlp":
            return nn.mlp(784, 10, depth=2, width=512, seed=seed)
        return nn.cnn(self.in_shape(), 10, depth=2, width=16, norm="batch", head="flatten", seed=seed)


# The training-speed table: MLP at three batch sizes, the small CNN at three batch sizes and three
# resolutions.
DEFAULT_CASES = (
    [Case("mlp", b, 28) for b in (32, 128, 512)]
    + [Case("cnn", b, 28) for b in (32, 128, 512)]
    + [Case("cnn", 128, r) for r in (14, 56)]
)
QUICK_CASES = [Case("mlp", 32, 28), Case("cnn", 32, 14)]


# ---- pybench's side ---------------------------------------------------------------------------

class OursStep:
    def __init__(self, case, x, y, seed=0):
        self.model = case.build(seed)
        self.loss = nn.CrossEntropyLoss()
        self.opt = nn.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x, self.y = x, y
        self.last_loss = None

    def __call__(self):
        out = self.model.forward(self.x)
        self.last_loss = self.loss.forward(out, self.y)
        self.model.backward(self.loss.backward())
        self.opt.step()

    def params(self):
        return [p.data for p in self.model.parameters()]

    def breakdown(self, repeats=5):
        """{op: median seconds per step} over `repeats` profiled steps (a separate pass: the
        timestamps cost a little, so these are not the timed steps)."""
        rows = []
        for _ in range(repeats):
            t = {}

            def add(k, dt):
                t[k] = t.get(k, 0.0) + dt

            t0 = time.perf_counter()
            h = self.x
            for layer in self.model.layers:
                s = time.perf_counter()
                h = layer.forward(h)
                add(layer.op + " fwd", time.perf_counter() - s)
            s = time.perf_counter()
            self.loss.forward(h, self.y)
            d = self.loss.backward()
            add("loss", time.perf_counter() - s)
            for layer in reversed(self.model.layers):
                if d is None:
                    break
                s = time.perf_counter()
                d = layer.backward(d)
                add(layer.op + " bwd", time.perf_counter() - s)
            s = time.perf_counter()
            self.opt.step()
            add("optimizer", time.perf_counter() - s)
            total = time.perf_counter() - t0
            t["other (python)"] = total - sum(t.values())
            t["total"] = total
            rows.append(t)
        return {k: float(np.median([r[k] for r in rows])) for k in rows[0]}


# ---- PyTorch's side ---------------------------------------------------------------------------

def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def to_torch(model, torch):
    """A torch.nn.Sequential computing what `model` (a pybench.nn Sequential) computes, with copies
    of its parameters and running statistics."""
    tnn = torch.nn
    out = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Linear":
            t = tnn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        elif kind == "Conv2d":
            t = tnn.Conv2d(layer.in_channels, layer.out_channels, _pair(layer.kernel_size), _pair(layer.stride),
                           _pair(layer.padding), _pair(layer.dilation), layer.groups, bias=layer.bias is not None)
        elif kind in ("BatchNorm1d", "BatchNorm2d"):
            t = getattr(tnn, kind)(layer.num_features, eps=layer.eps, momentum=layer.momentum)
            t.running_mean.copy_(torch.from_numpy(layer.running_mean))
            t.running_var.copy_(torch.from_numpy(layer.running_var))
        elif kind == "MaxPool2d":
            t = tnn.MaxPool2d(_pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding))
        elif kind == "Flatten":
            t = tnn.Flatten()
        elif kind == "ReLU":
            t = tnn.ReLU()
        else:
            raise ValueError(f"to_torch: layer {kind} has no PyTorch translation here")
        if hasattr(t, "weight") and getattr(layer, "weight", None) is not None:
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(layer.weight.data))
                if t.bias is not None:
                    t.bias.copy_(torch.from_numpy(layer.bias.data))
        out.append(t)
    return tnn.Sequential(*out)


class TorchStep:
    def __init__(self, model, x, y, torch):
        self.torch = torch
        self.model = to_torch(model, torch).train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)
        self.last_loss = None

    def __call__(self):
        self.opt.zero_grad()
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        self.last_loss = loss

    def params(self):
        return [p.detach().numpy() for p in self.model.parameters()]


# ---- check, then time --------------------------------------------------------------------------

def check_step(ours, theirs, rtol=1e-3, atol=1e-5):
    """(ok, detail): one step each from the same state; loss and updated parameters must agree."""
    ours()
    theirs()
    lo, lt = float(ours.last_loss), float(theirs.last_loss.item())
    if not np.isfinite(lo) or abs(lo - lt) > rtol * abs(lt) + atol:
        return False, f"loss {lo:.7g} vs PyTorch {lt:.7g}"
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours.params(), theirs.params())):
        if a.shape != b.shape:
            return False, f"parameter {i}: shape {a.shape} vs PyTorch {b.shape}"
        err = float(np.max(np.abs(a - b) / (atol + rtol * np.abs(b))))
        worst = max(worst, err)
        if err > 1:
            return False, f"parameter {i} after one step differs from PyTorch (worst |diff|/tol {err:.2f})"
    return True, f"loss and {len(ours.params())} parameters after one step match PyTorch (worst |diff|/tol {worst:.2f})"


def run_case(case, torch, budget_s=2.0, seed=0, log=lambda m: None):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.batch, *case.in_shape()), dtype=np.float32)
    y = rng.integers(0, 10, size=case.batch, dtype=np.int64)
    ours = OursStep(case, x, y, seed)
    flops = ours.model.flops(case.in_shape(), backward=True) * case.batch
    rec = {"case": case.label, "model": case.name, "batch": case.batch, "resolution": case.resolution,
           "num_parameters": ours.model.num_parameters(), "train_flops_per_step": flops,
           "status": "ok", "check": None, "ours": None, "torch": None, "ratio": None}
    candidates = {"ours": ours}
    if torch is not None:
        theirs = TorchStep(ours.model, x, y, torch)
        ok, detail = check_step(ours, theirs)
        rec["check"] = detail
        log(f"{case.label}: {'ok' if ok else 'FAILED'} ({detail})")
        if not ok:
            rec["status"] = "FAILED"
            return rec
        candidates["torch"] = theirs
    stats = measure(candidates, budget_s)
    for name, st in stats.items():
        s = st.summary()
        rec[name] = dict(s, samples_per_s=case.batch / s["median_s"], gflops=flops / s["median_s"] / 1e9)
    if "torch" in stats:
        rec["ratio"] = paired_ratio(stats["torch"], stats["ours"])
    rec["breakdown"] = ours.breakdown()
    return rec


def run(cases=None, *, quick=False, threads=None, peers=("torch",), budget_s=None, log=lambda m: None):
    """{"environment", "records"}: every case checked against PyTorch, then timed side by side."""
    from .. import get_num_threads, info, set_num_threads
    from .env import import_torch, omp_env

    if threads is not None:
        set_num_threads(threads)
    threads = get_num_threads()
    torch, why = import_torch() if "torch" in peers else (None, "not requested")
    if torch is not None:
        torch.set_num_threads(threads)
    cases = list(cases or (QUICK_CASES if quick else DEFAULT_CASES))
    budget_s = budget_s if budget_s is not None else (0.3 if quick else 2.0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    records = [run_case(c, torch, budget_s, log=log) for c in cases]
    cal, cal_status = calibrate.get(measure_if_missing=False)  # cached only: bench-train never calibrates
    env = {"threads": threads, "torch": getattr(torch, "__version__", None), "torch_reason": why,
           "budget_s": budget_s, "loadavg_start": load, "omp_env": omp_env(), "machine": info.collect(),
           "calibration": {"status": cal_status, "fma_peak_gflops": calibrate.fma_peak(cal),
                           "gemm_peak_gflops": cal.get("gemm_peak_gflops") if cal else None,
                           "threads": cal.get("threads") if cal else None,
                           "measured_at": cal.get("measured_at") if cal else None}}
    for r in records:  # what a 2x ratio needs: twice PyTorch's rate, over the whole step
        p = r.get("torch") or {}
        r["needs_for_2x_gflops"] = 2 * r["train_flops_per_step"] / p["median_s"] / 1e9 if p.get("median_s") else None
    return {"environment": env, "records": records}


def peak_line(result):
    """The header line on the compute ceiling, or None when there is no calibration."""
    c = result["environment"].get("calibration") or {}
    if c.get("fma_peak_gflops"):
        g = c.get("gemm_peak_gflops")
        return (f"FMA peak {c['fma_peak_gflops']:.1f} GFLOP/s (register-only probe, {c['threads']} threads"
                + (f"; our GEMM peak {g:.1f} = {100 * g / c['fma_peak_gflops']:.0f}% of it" if g else "")
                + f"; calibrated {c['measured_at']}); \"2x needs\": the GFLOP/s over a whole step that twice "
                "PyTorch's rate requires, and that as % of the FMA peak")
    return f"FMA peak: not calibrated ({c.get('status') or 'no cache'}; `pybench info --calibrate` measures it)"


def top_ops(breakdown, n=2):
    """'linear bwd 41%, linear fwd 27%': the ops that dominate one of our steps."""
    total = breakdown.get("total") or 1.0
    items = sorted(((k, v) for k, v in breakdown.items() if k != "total"), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in items[:n])


def _needs(gflops, fma):
    """'181 GF/s (82% FMA)': the rate a 2x ratio needs, as a share of the FMA peak when known."""
    if not gflops:
        return "-"
    return f"{gflops:.0f} GF/s" + (f" ({100 * gflops / fma:.0f}% FMA)" if fma else "")


# columns of build_table without --wide: our throughput and the comparison (fits 100 columns)
NARROW = ("model", "samples/s", "GFLOP/s", "vs torch", "2x needs", "check")


def build_table(result, wide=False):
    from rich.table import Table
    from rich.text import Text

    from .tables import fmt_ratio, fmt_time

    t = Table(header_style="bold")
    fma = (result["environment"].get("calibration") or {}).get("fma_peak_gflops")
    names = ("model", "params", "ours", "samples/s", "GFLOP/s", "torch", "samples/s ", "vs torch",
             "2x needs", "dominant ops (ours)", "check")
    keep = [wide or n in NARROW for n in names]
    for col, k in zip(names, keep):
        if k:
            t.add_column(col, justify="left" if col in ("model", "dominant ops (ours)", "check") else "right")
    for r in result["records"]:
        o, p = r.get("ours") or {}, r.get("torch") or {}
        row = (r["case"], f"{r['num_parameters']:,}", fmt_time(o.get("median_s")),
               f"{o['samples_per_s']:,.0f}" if o else "-", f"{o['gflops']:.1f}" if o else "-",
               fmt_time(p.get("median_s")), f"{p['samples_per_s']:,.0f}" if p else "-",
               fmt_ratio(r["ratio"]), _needs(r.get("needs_for_2x_gflops"), fma), top_ops(r["breakdown"]) if r.get("breakdown") else "-",
               Text("ok" if r["status"] == "ok" else r["status"], style="green" if r["status"] == "ok" else "red"))
        t.add_row(*(cell for cell, k in zip(row, keep) if k))
    return t
