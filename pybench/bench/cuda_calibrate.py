"""A CUDA device's ceilings for `pybench bench --device cuda`'s "of ceil":
`pybench info --calibrate --device cuda[:N]`.

Two figures, timed with CUDA events (cuda_timing), the fastest sample of each (as calibrate.py):
- FP32 GEMM peak: the best GFLOP/s of cuBLAS (cupy.matmul) and of our default FP32 CUDA gemm
  (TF32 impls excluded) over large squares, both checked against each other first (a kernel that
  disagrees with cuBLAS is left out, and says so);
- copy bandwidth: the best GB/s (read + write, 2·n·4 B) of our CUDA copy (default impl) and
  cupy.copyto of a float32 array far larger than the L2 cache.

Cached beside the CPU calibration: calibrate.cache_path() with "-cuda" before the extension
(~/.cache/pybench/calibration-cuda.json), one entry per device keyed by its name, compute
capability and driver version, so several GPUs (and the CPU's file) coexist. An entry measured
by another pybench version is stale and measured again by get().
"""

import json
import os
import time

import numpy as np

from . import calibrate, cuda_timing

SCHEMA = 1
GEMM_SIZES = (4096, 8192)
COPY_ELEMS = 1 << 27          # 128M float32 = 512 MiB per array (L2 caches are tens of MiB)
QUICK_GEMM_SIZES = (256,)
QUICK_COPY_ELEMS = 1 << 20
GEMM_AGREE = 1e-3             # max |ours - cuBLAS| / max |cuBLAS| for ours to count (FP32 sums of K products)


def cache_path():
    root, ext = os.path.splitext(calibrate.cache_path())
    return f"{root}-cuda{ext or '.json'}"


def device_key(desc):
    """'NVIDIA H100 80GB HBM3 | cc 9.0 | driver 13000' from device.CudaDevice.describe()."""
    return f"{desc['name']} | cc {desc['compute_capability']} | driver {desc['driver']}"


def machine(dev):
    """What the entry depends on besides its key (a difference makes it stale)."""
    from .. import __version__  # noqa: PLC0415

    d = dev.describe()
    return {"device": d["name"], "compute_capability": d["compute_capability"], "driver": d["driver"],
            "pybench": __version__}


def _gemm_impl(dev):
    """Our FP32 CUDA gemm to calibrate with: the default (last) impl that is not TF32."""
    from .. import _native  # noqa: PLC0415

    fp32 = [i for i in _native.impls("gemm", device=dev.registry) if "tf32" not in i]
    return fp32[-1] if fp32 else None


def measure(dev, quick=False, budget_s=1.0, log=lambda m: None):
    """Measure both ceilings of device `dev` now. Returns the calibration dict (not saved)."""
    from .. import _native, ops  # noqa: PLC0415

    xp = dev.xp
    impl = _gemm_impl(dev)
    rng = np.random.default_rng(0)
    gemm, notes = [], []
    with dev.activate():
        clock = dev.clock()
        for n in (QUICK_GEMM_SIZES if quick else GEMM_SIZES):
            a = dev.to_device(rng.standard_normal((n, n), dtype=np.float32))
            b = dev.to_device(rng.standard_normal((n, n), dtype=np.float32))
            c_ref, c = dev.empty((n, n)), dev.empty((n, n))
            cands = {"cublas": lambda: xp.matmul(a, b, out=c_ref)}
            if impl is not None:
                cands["ours"] = lambda: ops.gemm(a, b, out=c, impl=impl)
                cands["cublas"]()
                cands["ours"]()
                dev_err = float(xp.max(xp.abs(c - c_ref))) / max(float(xp.max(xp.abs(c_ref))), 1e-30)  # on the device
                if not dev_err <= GEMM_AGREE:
                    notes.append(f"our gemm [{impl}] {n}^3 disagrees with cuBLAS (max err {dev_err:.2g} of max|C|); "
                                 "left out")
                    del cands["ours"]
            st = cuda_timing.measure(cands, budget_s, clock)
            for who, s in st.items():
                s = s.summary()
                gemm.append({"n": n, "by": "cuBLAS (cupy.matmul)" if who == "cublas" else f"pybench gemm [{impl}]",
                             "median_s": s["median_s"], "min_s": s["min_s"], "gflops": 2.0 * n**3 / s["min_s"] / 1e9,
                             "median_gflops": 2.0 * n**3 / s["median_s"] / 1e9})
                log(f"calibrate {dev.name}: gemm {n}^3 {gemm[-1]['by']}: {gemm[-1]['gflops']:.0f} GFLOP/s")
            del a, b, c, c_ref
        n = QUICK_COPY_ELEMS if quick else COPY_ELEMS
        x = dev.to_device(rng.standard_normal(n, dtype=np.float32))
        y1, y2 = dev.empty_like(x), dev.empty_like(x)
        st = cuda_timing.measure({"ours": lambda: _native.copy(x, out=y1), "cupy": lambda: dev.copy(x, y2)},
                                 budget_s, clock)
        copies = []
        for who, s in st.items():
            s = s.summary()
            copies.append({"elements": n, "by": "pybench copy" if who == "ours" else "cupy.copyto",
                           "median_s": s["median_s"], "min_s": s["min_s"], "gbs": 2.0 * 4 * n / s["min_s"] / 1e9,
                           "median_gbs": 2.0 * 4 * n / s["median_s"] / 1e9})
            log(f"calibrate {dev.name}: copy {n} float32 {copies[-1]['by']}: {copies[-1]['gbs']:.0f} GB/s")
        del x, y1, y2
    best = max(gemm, key=lambda g: g["gflops"])
    best_copy = max(copies, key=lambda c: c["gbs"])
    desc = dev.describe()
    return {"schema": SCHEMA, "key": device_key(desc), "device": desc, "machine": machine(dev), "quick": bool(quick),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "gemm_peak_gflops": best["gflops"], "gemm_peak_size": best["n"], "gemm_peak_by": best["by"], "gemm": gemm,
            "copy_gbs": best_copy["gbs"], "copy": best_copy, "copies": copies, "notes": notes,
            "how": "fastest CUDA-event sample of FP32 cuBLAS and our gemm over square sizes (GFLOP/s); fastest "
                   "sample of our copy and cupy.copyto (GB/s, 2·n·4 B)"}


def _read(path):
    """The cache file's {"schema", "devices": {key: entry}} (empty when absent); ValueError if unreadable."""
    try:
        with open(path) as f:
            d = json.load(f)
    except FileNotFoundError:
        return {"schema": SCHEMA, "devices": {}}
    if not isinstance(d, dict) or d.get("schema") != SCHEMA or not isinstance(d.get("devices"), dict):
        raise ValueError("another format")
    return d


def save(cal, path=None):
    """Add (or replace) `cal`'s device entry in the cache, atomically. Returns the path."""
    path = os.path.abspath(path or cache_path())
    try:
        d = _read(path)
    except (OSError, ValueError):
        d = {"schema": SCHEMA, "devices": {}}  # an unreadable cache is replaced
    d["devices"][cal["key"]] = cal
    return calibrate.write_json(d, path)


def load(dev, path=None):
    """(entry, None) if the cache has a current entry for `dev`, else (None, why not)."""
    path = path or cache_path()
    try:
        d = _read(path)
    except (OSError, ValueError) as e:
        return None, f"unreadable CUDA calibration {path} ({type(e).__name__}: {e})"
    key = device_key(dev.describe())
    cal = d["devices"].get(key)
    if cal is None:
        have = "; ".join(d["devices"]) or "none"
        return None, f"no CUDA calibration for {key} in {path} (has: {have})"
    here = machine(dev)
    diff = [k for k in here if (cal.get("machine") or {}).get(k) != here[k]]
    if diff:
        was = ", ".join(f"{k} was {(cal.get('machine') or {}).get(k)!r}" for k in diff)
        return None, f"CUDA calibration of {key} in {path} is stale ({was})"
    try:
        float(cal["gemm_peak_gflops"]), float(cal["copy_gbs"]), int(cal["copy"]["elements"])
    except (KeyError, TypeError, ValueError):
        return None, f"CUDA calibration of {key} in {path} lacks its figures"
    return cal, None


def get(dev, measure_if_missing=True, log=lambda m: None, path=None):
    """(entry or None, status) as calibrate.get, for device `dev`."""
    cal, why = load(dev, path)
    if cal is not None:
        return cal, "cached"
    if not measure_if_missing:
        return None, why
    log(f"{why}: measuring the device's GEMM peak and copy bandwidth (pybench info --calibrate --device "
        f"{dev.name} does this alone)")
    cal = measure(dev, log=log)
    save(cal, path)
    return cal, "measured"
