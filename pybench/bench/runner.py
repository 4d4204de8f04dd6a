"""Runs a list of problems: check every candidate on the actual inputs, then time them side by side.

Library code: no printing. Progress goes to the `log` callable the caller passes (the CLI prints
it on stderr); the result is a dict of plain data (see `run`).
"""

import contextlib
import os
import time
from dataclasses import InitVar, dataclass

import numpy as np

from . import calibrate, env, networks as N, problems as P
from .problem_core import Inputs, Unavailable, resolve_impl, try_check
from .timing import measure, paired_ratio

SCHEMA = 1


class UsageError(ValueError):
    """A bad request (unknown op, peer or impl): the CLI exits 2 with this message."""


class DeviceUnavailable(UsageError):
    """--device names a device this machine cannot use: the CLI prints the reason and exits 2."""


@dataclass
class Options:
    ops: tuple = ()            # --op names (groups allowed); empty = all
    impl: str = None           # None: each op's default; "all": every registered impl; else that one
    threads: int = None        # None: the current pybench thread count
    quick: bool = False
    peers: tuple = env.CPU_PEERS
    repeat_seconds: float = None  # per problem; None: 1.0 (0.1 with quick)
    network: str = None        # --network: a built-in network's name or a file (None: the default problems)
    mb: int = None             # --mb: batch of the network's conv2d/linear entries
    calibration: bool = None   # "% of peak": True measure if absent/stale, False cached only, None: not quick
    device: str = "cpu"        # "cpu", "cuda" or "cuda:N" (cuda: cuda_problems.CudaBackend)

    shapes: InitVar[str] = None  # the old name of `network`, still accepted

    def __post_init__(self, shapes):
        if shapes is not None:
            if self.network not in (None, shapes):
                raise UsageError(f"network={self.network!r} and shapes={shapes!r}: shapes is the old name of "
                                 "network; give one")
            self.network = shapes

    def budget(self):
        if self.repeat_seconds is not None:
            return float(self.repeat_seconds)
        return 0.1 if self.quick else 1.0


def load_network(opts):
    """The Network of --network (None without it); UsageError for a bad name, file or --mb."""
    if opts.mb is not None and (not isinstance(opts.mb, int) or isinstance(opts.mb, bool) or opts.mb < 1):
        raise UsageError(f"--mb: expected a positive integer, got {opts.mb!r}")
    if opts.network is None:
        if opts.mb is not None:
            raise UsageError("--mb: needs --network (the default problems fix their sizes)")
        return None
    try:
        net = N.load(opts.network)
        net.with_batch(opts.mb)
    except N.NetworkError as e:
        raise UsageError(str(e)) from None
    return net


def select_problems(opts, network=None):
    """Problems in table order; a copy row (auto_added) leads when a memory-bound op has no ceiling.
    With a network: its entries (of the --op kinds), no copy row."""
    try:
        ops = P.expand_ops(opts.ops or P.OPS)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if network is not None:
        probs = P.problems_from_network(network, opts.mb, ops if opts.ops else None)
        if not probs:
            kinds = sorted({k for k, _ in network.entries})
            raise UsageError(f"--op: network {network.name} has no {', '.join(ops)} entries "
                             f"(it has: {', '.join(kinds)})")
        return probs
    probs = [p for op in ops for p in P.problems_for(op, opts.quick)]
    if "copy" not in ops and any(op in P.MEMORY_OPS for op in ops):
        ceiling = P.problems_for("copy", opts.quick)
        for c in ceiling:
            c.auto_added = True
        probs = ceiling + probs
    return probs


def _rate(kind, work, seconds):
    return work / seconds / 1e9 if seconds > 0 else float("nan")


class CpuBackend:
    """The CPU side of the runner's device hooks (cuda_problems.CudaBackend is the GPU's)."""

    device = registry = "cpu"
    peer_choices = env.PEERS

    def impl_choices(self, prob):
        return prob.impl_choices()

    def peers_of(self, prob):
        return prob.peers

    def new_inputs(self):
        return Inputs()

    def build(self, prob, inputs):
        return prob.build(inputs)

    def measure(self, timed, budget_s):
        return measure(timed, budget_s)

    def ceiling_copy(self, probs, opts, inputs):
        from .. import _native  # noqa: PLC0415

        return _ceiling_copy(probs, opts, _native, inputs)

    def activate(self):
        return contextlib.nullcontext()


CPU = CpuBackend()


def backend_for(device):
    """The backend of a --device string: CPU, or a CudaBackend (DeviceUnavailable if none here)."""
    from . import device as D  # noqa: PLC0415

    try:
        kind, _ = D.parse(device)
    except ValueError as e:
        raise UsageError(f"--device: {e}") from None
    if kind == "cpu":
        return CPU
    from . import cuda_problems  # noqa: PLC0415

    try:
        return cuda_problems.open_backend(device)
    except D.DeviceUnavailable as e:
        raise DeviceUnavailable(str(e)) from None


def _impls_to_run(prob, impl, backend=CPU):
    """([(impl argument, label)], reason if none can run)."""
    choices = backend.impl_choices(prob)
    if impl is None:  # the row that runs: every function of the problem resolves alike
        names = [resolve_impl(f, None, backend.registry) for f in prob.fns]
        if None in names:
            return [(None, choices[-1] if choices else "default")], None
        return [(None, "+".join(dict.fromkeys(names)))], None
    if impl == "all":
        if not choices:
            return [(None, "default")], None
        return [(i, i) for i in choices], None
    if choices is not None and impl not in choices:
        return [], f"no impl '{impl}' (has: {', '.join(choices) or 'none'})"
    return [(impl, impl)], None


_try_check = try_check


def _base_record(prob, device="cpu"):
    return {
        "device": device,
        "op": prob.op, "label": prob.label, "shape": prob.shape, "params": prob.params, "dtype": "float32",
        "kind": prob.kind, "work": prob.work, "work_unit": "FLOP" if prob.kind == "compute" else "B",
        "work_formula": prob.work_formula, "rate_unit": "GFLOP/s" if prob.kind == "compute" else "GB/s",
        "status": None, "reason": "", "impl": None, "oracle": "", "check": None, "ours": None,
        "fraction_of_copy": None, "fraction_of_peak": None, "check_on": "", "peers": {},
    }


def run_problem(prob, opts, mods, inputs, log, ceiling=None, backend=CPU):
    """Records (one per impl) of one problem. `ceiling` ((bytes, callable) or None): a copy timed
    in the same rounds as a memory-bound op, so its "% of copy" compares the two under one
    bandwidth mode (the VM's memory bandwidth switches between modes from minute to minute)."""
    base = _base_record(prob, backend.device)
    missing = prob.missing()
    if missing:
        log(f"{prob.name}: unavailable ({missing})")
        return [dict(base, status="unavailable", reason=missing)]
    impls, why = _impls_to_run(prob, None if prob.auto_added else opts.impl, backend)
    if why:
        log(f"{prob.name}: unavailable ({why})")
        return [dict(base, status="unavailable", reason=why)]
    t0 = time.perf_counter()
    try:
        case = backend.build(prob, inputs)
    except Unavailable as e:
        log(f"{prob.name}: unavailable ({e})")
        return [dict(base, status="unavailable", reason=str(e))]
    base["oracle"] = case.oracle
    proxy = case.proxy() if hasattr(case, "proxy") else None  # check on a cheaper twin, time the real one
    if proxy is not None:
        base["check_on"] = case.proxy_note
    log(f"{prob.name}: inputs ready ({time.perf_counter() - t0:.1f} s); checking against {case.oracle}")

    records, timed = [], {}
    for arg, label in impls:
        rec = dict(base, impl=label, peers={})
        try:
            cand = case.ours(arg)
            ccand = proxy.ours(arg) if proxy is not None else cand
        except Unavailable as e:
            records.append(dict(rec, status="unavailable", reason=str(e)))
            continue
        t0 = time.perf_counter()
        res = _try_check(ccand, (proxy or case).check)
        del ccand
        rec["check"] = res.to_dict()
        log(f"  ours[{label}]: {'ok' if res.ok else 'FAILED'} ({res.describe()}; {time.perf_counter() - t0:.1f} s)")
        if res.ok:
            rec["status"] = "ok"
            timed[f"ours:{label}"] = cand.run
        else:
            rec["status"] = "FAILED"
            rec["reason"] = res.describe()
        records.append(rec)

    peer_info = {}
    prob_peers = backend.peers_of(prob)
    for name in opts.peers:
        if name not in prob_peers:
            peer_info[name] = {"status": "n/a", "reason": f"no {name} equivalent benchmarked"}
            continue
        mod, why = mods.get(name, (None, ""))
        if name in ("torch", "cupy") and mod is None:
            peer_info[name] = {"status": "n/a", "reason": why or f"{name} not importable"}
            continue
        cand = case.peer(name, mod)
        ccand = proxy.peer(name, mod) if (proxy is not None and cand is not None) else cand
        if cand is None:
            peer_info[name] = {"status": "n/a", "reason": f"no {name} equivalent benchmarked"}
            continue
        info = {"note": cand.note, "preallocated": cand.preallocated}
        if not timed:
            peer_info[name] = dict(info, status="not timed", reason="ours has nothing to compare with")
            continue
        res = _try_check(ccand, (proxy or case).check)
        del ccand
        info["check"] = res.to_dict()
        if res.ok:
            info["status"] = "ok"
            timed[name] = cand.run
        else:
            info.update(status="mismatch", reason=res.describe())
            log(f"  warning: peer {name} disagrees with the oracle ({res.describe()}); not timed")
        peer_info[name] = info

    copy_along = timed and ceiling is not None and prob.kind == "memory" and prob.op != "copy"
    if copy_along:
        timed[CEILING] = ceiling[1]
    if timed:
        log(f"  timing {', '.join(timed)} for {opts.budget():g} s ...")
        stats = backend.measure(timed, opts.budget())
        if copy_along:  # per-round pairs: (our bytes / our time) / (copy bytes / copy time)
            along = stats.pop(CEILING)
            for rec in records:
                key = f"ours:{rec['impl']}"
                if key in stats:
                    rec["copy_alongside"] = {
                        "gbs": ceiling[0] / along.summary()["median_s"] / 1e9,
                        "fraction": paired_ratio(along, stats[key]) * prob.work / ceiling[0]}
        for name, info in peer_info.items():
            if name in stats:
                s = stats[name].summary()
                info.update(s, rate=_rate(prob.kind, prob.work, s["median_s"]))
        for rec in records:
            key = f"ours:{rec['impl']}"
            if key not in stats:
                continue
            s = stats[key].summary()
            rec["ours"] = dict(s, rate=_rate(prob.kind, prob.work, s["median_s"]))
            for name, info in peer_info.items():
                pr = dict(info)
                if name in stats:
                    pr["ratio"] = info["median_s"] / s["median_s"]
                    pr["paired_ratio"] = paired_ratio(stats[name], stats[key])
                rec["peers"][name] = pr
    for rec in records:
        for name, info in peer_info.items():
            rec["peers"].setdefault(name, dict(info))
    del case, proxy
    return records


def run(opts, log=lambda msg: None, backend=None):
    """Run the benchmark. Returns {"schema", "options", "machine", "environment", "copy_bandwidth",
    "records": [...], "failed": n}. Raises UsageError for a bad request, DeviceUnavailable (a
    UsageError) when opts.device cannot be used here. `backend`: CPU by default, or the one of
    opts.device (tests pass device.FakeCudaDevice's)."""
    from .. import _native, info  # noqa: PLC0415

    if backend is None:
        backend = backend_for(opts.device)
    on_cpu = backend is CPU
    unknown = [p for p in opts.peers if p not in backend.peer_choices]
    if unknown:
        raise UsageError(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(backend.peer_choices)}"
                         + ("" if on_cpu else f" (the peers of --device {backend.device} run on the device)"))
    if opts.threads is not None and opts.threads < 1:
        raise UsageError(f"--threads: expected a positive integer, got {opts.threads}")
    network = load_network(opts)
    probs = select_problems(opts, network)
    if opts.impl not in (None, "all"):
        known = set()
        for p in probs:
            if not p.auto_added and not p.missing():
                known.update(backend.impl_choices(p) or ())
        if known and opts.impl not in known:
            raise UsageError(f"--impl: no selected op has impl '{opts.impl}'"
                             + ("" if on_cpu else f" on {backend.device}") + f"; registered: "
                             f"{', '.join(sorted(known))} (or 'all')")

    cupy, cupy_reason = (None, "not requested")
    if on_cpu:
        torch, torch_reason = (None, "not requested")
        if "torch" in opts.peers:
            torch, torch_reason = env.import_torch()
            if torch is None:
                log(f"note: {torch_reason}; the torch column will read n/a")
        mods = {"torch": (torch, torch_reason)}
        if "cupy" in opts.peers:
            cupy, cupy_reason = env.import_cupy()
            mods["cupy"] = (cupy, cupy_reason)
            if cupy is None:
                log(f"note: CuPy/cuBLAS peer skipped: {cupy_reason}")
    else:
        mods = backend.peer_modules(opts.peers, log)
        torch, torch_reason = mods.get("torch", (None, "not requested"))
        cupy, cupy_reason = mods.get("cupy", (None, "not requested"))
    measure_cal = (not opts.quick) if opts.calibration is None else opts.calibration
    if on_cpu:
        cal, cal_status = calibrate.get(measure_if_missing=measure_cal, log=log)
    else:
        cal, cal_status = backend.calibration(measure_cal, log)
    threads = opts.threads or _native.get_num_threads()
    settings = env.ThreadSettings(threads, torch)
    inputs = backend.new_inputs()
    records = []
    try:
        blas = env.blas_info()
        environment = {
            "threads": threads,
            "isa_active": _native.isa_active(),
            "numpy": np.__version__,
            "numpy_blas": env.numpy_blas_kernel(blas),
            "threadpools": blas,
            "slow_blas_env": env.slow_blas_env(),
            "omp_env": env.omp_env(),
            "torch": getattr(torch, "__version__", None),
            "torch_reason": torch_reason if torch is None else "",
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "torch_cpu_capability": _torch_capability(torch),
            "cupy": getattr(cupy, "__version__", None),
            "cupy_reason": cupy_reason if cupy is None else "",
            "repeat_seconds": opts.budget(),
            "loadavg_start": _loadavg(),
        }
        with backend.activate():
            if not on_cpu:
                environment["cuda"] = backend.environment()
                environment["cupy"] = environment["cuda"]["device"].get("cupy")
            ceiling = backend.ceiling_copy(probs, opts, inputs)
            for i, prob in enumerate(probs):
                log(f"[{i + 1}/{len(probs)}] {prob.name}")
                recs = run_problem(prob, opts, mods, inputs, log, ceiling, backend)
                for r in recs:
                    r["auto_added"] = prob.auto_added
                records.extend(recs)
                if network is not None:
                    inputs.clear()  # real-network layers share nothing worth keeping
        environment["loadavg_end"] = _loadavg()
    finally:
        inputs.clear()
        settings.restore()

    ceiling = apply_ceilings(records, cal)
    # The network goes under the keys "shapes" (options) and "shape_list", as in every stored run.
    return {
        "schema": SCHEMA,
        "options": {"ops": list(opts.ops), "impl": opts.impl, "threads": threads, "quick": opts.quick,
                    "peers": list(opts.peers), "repeat_seconds": opts.budget(), "shapes": opts.network, "mb": opts.mb,
                    "device": backend.device},
        "shape_list": None if network is None else {
            "name": network.name, "source": network.source, "description": network.description,
            "file": network.path, "batch": opts.mb or network.batch, "list_batch": network.batch,
            "real_batch": network.real_batch},
        "calibration": {"status": cal_status, "path": _cal_path(backend),
                        **({k: cal[k] for k in ("gemm_peak_gflops", "gemm_peak_size", "gemm_peak_by", "fma_peak_gflops",
                                                  "copy_gbs", "threads", "measured_at", "machine", "quick", "loadavg", "device")
                            if k in cal} if cal else {})},
        "totals": _totals(records) if network is not None else None,
        "machine": info.collect(),
        "environment": environment,
        "copy_bandwidth": ceiling,
        "records": records,
        "failed": sum(r["status"] == "FAILED" for r in records),
    }


def _cal_path(backend):
    if backend is CPU:
        return calibrate.cache_path()
    from . import cuda_calibrate  # noqa: PLC0415

    return cuda_calibrate.cache_path()


def apply_ceilings(records, cal):
    """Fill each timed record's "of ceil" in place: compute rows' fraction_of_peak from the
    calibration's GEMM peak, memory rows' fraction_of_copy from the copy timed alongside them (else
    the run's fastest copy, else the calibration's copy). The same for CPU and CUDA records, each
    with its own device's calibration. Returns the copy ceiling used ({"gbs", "by", "shape"}) or None."""
    ceiling = _copy_ceiling(records)
    if ceiling is None and cal is not None:
        ceiling = {"gbs": cal["copy_gbs"], "by": "pybench copy (calibration)", "shape": f"({cal['copy']['elements']},)",
                   "calibrated": True}
    peak = cal["gemm_peak_gflops"] if cal is not None else None
    for r in records:
        if r["kind"] == "compute" and r["ours"] and peak:
            r["fraction_of_peak"] = r["ours"]["rate"] / peak
            for p in r["peers"].values():
                if "rate" in p:
                    p["fraction_of_peak"] = p["rate"] / peak
    if ceiling:
        for r in records:
            if r["kind"] == "memory" and r["ours"]:
                along = r.get("copy_alongside")
                r["fraction_of_copy"] = along["fraction"] if along else r["ours"]["rate"] / ceiling["gbs"]
                for p in r["peers"].values():
                    if "rate" in p:
                        p["fraction_of_copy"] = p["rate"] / ceiling["gbs"]
    return ceiling


def _totals(records):
    """Count-weighted sum of the medians over a network's rows (one pass of its layers):
    ours over every timed row, and per peer ours/peer over the rows both timed."""
    rows = [r for r in records if r["ours"] and r["status"] == "ok"]
    if not rows:
        return None
    w = lambda r: r["params"].get("count", 1)  # noqa: E731
    out = {"rows": len(rows), "ours_s": sum(w(r) * r["ours"]["median_s"] for r in rows), "peers": {}}
    peers = {n for r in rows for n in r["peers"]}
    for name in sorted(peers):
        both = [r for r in rows if "median_s" in r["peers"].get(name, {})]
        if not both:
            continue
        ours = sum(w(r) * r["ours"]["median_s"] for r in both)
        theirs = sum(w(r) * r["peers"][name]["median_s"] for r in both)
        out["peers"][name] = {"rows": len(both), "ours_s": ours, "peer_s": theirs, "ratio": theirs / ours}
    return out


def _loadavg():
    """1-minute load average: other processes on the cores make threaded kernels wait at barriers."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _torch_capability(torch):
    try:
        return torch.backends.cpu.get_cpu_capability() if torch is not None else None
    except Exception:
        return None


CEILING = "ceiling:copy"


def _ceiling_copy(probs, opts, native, inputs):
    """(bytes moved, callable): our streaming copy at the copy problem's size, timed alongside each
    memory-bound op (None when no memory-bound op, other than copy, is selected). Its source is the
    shared input the copy row and the activations read; only the destination is new."""
    if not any(p.kind == "memory" and p.op != "copy" for p in probs):
        return None
    cp = P.problems_for("copy", opts.quick)[0]
    src = inputs.get("x", cp.params["shape"])
    dst = np.empty_like(src)
    return cp.work, lambda: native.copy(src, out=dst)


def _copy_ceiling(records):
    """The fastest copy measured in this run (ours or a peer's): {"gbs", "by", "shape"} or None."""
    best = None
    for r in records:
        if r["op"] != "copy" or not r["ours"]:
            continue
        cands = [(r["ours"]["rate"], f"pybench copy [{r['impl']}]")]
        cands += [(p["rate"], name) for name, p in r["peers"].items() if "rate" in p]
        for gbs, by in cands:
            if best is None or gbs > best["gbs"]:
                best = {"gbs": gbs, "by": by, "shape": r["shape"]}
    return best
