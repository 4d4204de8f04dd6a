"""The machine's ceilings for `pybench bench`'s "% of peak": `pybench info --calibrate`.

Three figures, measured with pybench's own kernels on all threads:
- FMA peak: the float32 FMA throughput of the CPU itself, from a register-only probe
  (`_native.fma_probe`, csrc/cpu/probe.cpp: independent FMA chains, no memory traffic) -- the hard
  ceiling above which no kernel can run; the GEMM peak is shown as a fraction of it;
- GEMM peak: the best GFLOP/s of our float32 gemm (default impl) over a few large square sizes --
  what a compute-bound kernel here can reach, not the CPU's datasheet FMA peak;
- copy bandwidth: the best GB/s of our copy of a float32 array far larger than the caches (read +
  write counted, 2·n·4 B).
"Best" is the fastest timed sample (`min_s`), not the median: a ceiling is what the machine
reached, and on a shared VM the fastest sample is the one least disturbed by other processes (the
medians are stored too).
Caches written before the FMA probe existed lack `fma_peak_gflops`; they still load (the FMA
figures then print as absent).

They are cached as JSON with the machine description (CPU model, logical CPUs, active SIMD level,
pybench version) in $PYBENCH_CALIBRATION if set, else $XDG_CACHE_HOME/pybench/calibration.json
(~/.cache/pybench/calibration.json). A cache whose description differs from the running machine
is stale: `get()` measures again (and rewrites it) instead of using it.
"""

import json
import os
import time

import numpy as np

from .. import store
from .timing import measure as _measure

ENV_VAR = "PYBENCH_CALIBRATION"
SCHEMA = 1
GEMM_SIZES = (1024, 1536, 2048)
COPY_ELEMS = 1 << 25  # 32M float32 = 128 MiB per array
QUICK_GEMM_SIZES = (256,)
QUICK_COPY_ELEMS = 1 << 20
# Many short runs, the fastest kept: ~9 ms each at ~115 GFLOP/s per core (AVX-512: 512 flops per
# round). On the loaded 2-core dev VM, 0.1 s runs were rarely undisturbed (5 runs of 20M rounds
# gave 63-87 GFLOP/s on one thread where 2M-round runs gave 116).
FMA_ITERS = 2_000_000
QUICK_FMA_ITERS = 200_000
FMA_RUNS = 20


def cache_path():
    p = os.environ.get(ENV_VAR)
    if p:
        return p
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pybench", "calibration.json")


def machine():
    """What the ceilings depend on; a cache with another description is stale."""
    from .. import __version__, _native, info  # noqa: PLC0415

    return {"cpu": info.cpu_model(), "cpu_count": os.cpu_count(), "isa_active": _native.isa_active(),
            "pybench": __version__}


def measure(threads=None, quick=False, budget_s=1.0, log=lambda m: None):
    """Measure both ceilings now (a few seconds). Returns the calibration dict (not saved)."""
    from .. import _native, ops  # noqa: PLC0415

    threads = threads or os.cpu_count() or 1
    prev = _native.get_num_threads()
    _native.set_num_threads(threads)
    rng = np.random.default_rng(0)
    try:
        fma = fma_probe(quick=quick)
        log(f"calibrate: FMA probe: {fma['gflops']:.1f} GFLOP/s ({fma['isa']}, {fma['threads']} threads)")
        gemm = []
        for n in (QUICK_GEMM_SIZES if quick else GEMM_SIZES):
            a = rng.standard_normal((n, n), dtype=np.float32)
            b = rng.standard_normal((n, n), dtype=np.float32)
            c = np.empty((n, n), np.float32)
            st = _measure({"gemm": lambda: ops.gemm(a, b, out=c)}, budget_s)["gemm"].summary()
            gemm.append({"n": n, "median_s": st["median_s"], "min_s": st["min_s"],
                         "gflops": 2.0 * n**3 / st["min_s"] / 1e9, "median_gflops": 2.0 * n**3 / st["median_s"] / 1e9})
            log(f"calibrate: gemm {n}x{n}x{n}: {gemm[-1]['gflops']:.1f} GFLOP/s")
        n = QUICK_COPY_ELEMS if quick else COPY_ELEMS
        x = rng.standard_normal(n, dtype=np.float32)
        y = np.empty_like(x)
        st = _measure({"copy": lambda: _native.copy(x, out=y)}, budget_s)["copy"].summary()
        copy = {"elements": n, "median_s": st["median_s"], "min_s": st["min_s"],
                "gbs": 2.0 * 4 * n / st["min_s"] / 1e9, "median_gbs": 2.0 * 4 * n / st["median_s"] / 1e9}
        log(f"calibrate: copy {n} float32: {copy['gbs']:.1f} GB/s")
    finally:
        _native.set_num_threads(prev)
    best = max(gemm, key=lambda g: g["gflops"])
    return {"schema": SCHEMA, "machine": machine(), "threads": threads, "quick": bool(quick),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": _loadavg(),
            "gemm_peak_gflops": best["gflops"], "gemm_peak_size": best["n"], "gemm": gemm,
            "copy_gbs": copy["gbs"], "copy": copy, "fma_peak_gflops": fma["gflops"], "fma": fma,
            "how": "ours: fastest sample of float32 gemm over square sizes (GFLOP/s); fastest copy sample "
                   "(GB/s, 2·n·4 B); fastest of the FMA probe's runs (register-only FMA chains, GFLOP/s); "
                   f"{threads} threads"}


def fma_probe(quick=False, runs=None):
    """The float32 FMA peak on the current thread count: the fastest of a few probe runs.
    {"gflops", "runs": [GFLOP/s of each run], "iters", "threads", "isa", "lanes"}."""
    from .. import _native  # noqa: PLC0415

    iters = QUICK_FMA_ITERS if quick else FMA_ITERS
    res = [_native.fma_probe(iters) for _ in range(runs or (2 if quick else FMA_RUNS))]
    best = max(res, key=lambda r: r["gflops"])
    return {"gflops": best["gflops"], "runs": [r["gflops"] for r in res], "iters": iters,
            "threads": best["threads"], "isa": best["isa"], "lanes": best["lanes"]}


def fma_peak(cal):
    """The calibration's FMA peak in GFLOP/s, or None (absent: a cache from before the probe)."""
    try:
        v = float((cal or {})["fma_peak_gflops"])
    except (KeyError, TypeError, ValueError):
        return None
    return v if v > 0 else None


def peak_summary(cal):
    """'GEMM peak 201.3 GFLOP/s = 91% of the FMA peak 221.0 GFLOP/s' (or just the GEMM peak when
    the cache predates the FMA probe)."""
    g, f = float(cal["gemm_peak_gflops"]), fma_peak(cal)
    if f is None:
        return f"GEMM peak {g:.1f} GFLOP/s (FMA peak not measured: `pybench info --calibrate` adds it)"
    return f"GEMM peak {g:.1f} GFLOP/s = {100 * g / f:.0f}% of the FMA peak {f:.1f} GFLOP/s"


def _loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def write_json(obj, path):
    """Write `obj` as JSON (indent 2, a trailing newline) to `path` through store.atomic_write,
    creating the directory. Returns the absolute path."""
    return store.atomic_write(os.path.abspath(path), json.dumps(obj, indent=2) + "\n")


def save(cal, path=None):
    """Atomically write `cal` to the cache (creating its directory). Returns the path."""
    return write_json(cal, path or cache_path())


def load(path=None):
    """(calibration, None) if the cache exists and describes this machine, else (None, why not)."""
    path = path or cache_path()
    try:
        with open(path) as f:
            cal = json.load(f)
    except FileNotFoundError:
        return None, f"no calibration at {path}"
    except (OSError, ValueError) as e:
        return None, f"unreadable calibration {path} ({type(e).__name__}: {e})"
    if not isinstance(cal, dict) or cal.get("schema") != SCHEMA or not isinstance(cal.get("machine"), dict):
        return None, f"calibration {path} has another format"
    here = machine()
    diff = [k for k in here if cal["machine"].get(k) != here[k]]
    if diff:
        was = ", ".join(f"{k} was {cal['machine'].get(k)!r}" for k in diff)
        return None, f"calibration {path} is stale ({was})"
    try:
        float(cal["gemm_peak_gflops"]), float(cal["copy_gbs"])
    except (KeyError, TypeError, ValueError):
        return None, f"calibration {path} lacks its figures"
    return cal, None


def get(measure_if_missing=True, log=lambda m: None, path=None):
    """(calibration or None, status): status is "cached", "measured" (and saved) or the reason
    there is none (absent/stale and measure_if_missing False)."""
    cal, why = load(path)
    if cal is not None:
        return cal, "cached"
    if not measure_if_missing:
        return None, why
    log(f"{why}: measuring the GEMM peak and copy bandwidth (pybench info --calibrate does this alone)")
    cal = measure(log=log)
    save(cal, path)
    return cal, "measured"
