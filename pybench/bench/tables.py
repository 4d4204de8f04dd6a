"""Turns a benchmark result (runner.run) into a rich table and a JSON file."""

import json
import math
import os

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .. import store
from ..console import Lines
from .env import PEERS


def fmt_time(s):
    if s is None or not math.isfinite(s):
        return "-"
    for unit, f in (("s", 1.0), ("ms", 1e3), ("µs", 1e6)):
        if s * f >= 1.0 or unit == "µs":
            v = s * f
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{s:.3g} s"


def fmt_rate(rate, unit):
    if rate is None or not math.isfinite(rate):
        return "-"
    short = "GF/s" if unit == "GFLOP/s" else "GB/s"
    return f"{rate:.1f} {short}" if rate < 100 else f"{rate:.0f} {short}"


def fmt_ratio(r):
    if r is None or not math.isfinite(r):
        return Text("-")
    return Text(f"{r:.2f}x", style="green" if r >= 1.0 else "red")


def is_cuda(result):
    return str(result["options"].get("device", "cpu")).startswith("cuda")


def cuda_header_lines(result):
    """The header of a --device cuda run: the GPU, the peers on it, its calibration, the copy ceiling."""
    e, cu = result["environment"], result["environment"].get("cuda") or {}
    d = cu.get("device") or {}
    lines = [f"pybench bench --device {d.get('device', result['options']['device'])}: {d.get('name', '?')} "
             f"(cc {d.get('compute_capability', '?')}, driver {d.get('driver', '?')}, CUDA runtime "
             f"{d.get('runtime', '?')}), {e['repeat_seconds']:g} s per problem; timed with "
             f"{cu.get('timing', 'CUDA events')}"]
    if d.get("fake"):
        lines.append("note: FAKE device (NumPy standing in for the GPU, to test the plumbing): no figure below "
                     "says anything about a GPU")
    cupy = f"CuPy {e['cupy']} (cuBLAS)" if e.get("cupy") else f"CuPy n/a ({e.get('cupy_reason') or 'not requested'})"
    if d.get("fake"):
        cupy = "NumPy standing in for CuPy"
    if e.get("torch"):
        torch = (f"PyTorch {e['torch']} (CUDA {cu.get('torch_cuda')}, cuDNN {cu.get('cudnn')}, TF32 "
                 f"{cu.get('torch_tf32', 'off')})")
    else:
        torch = f"PyTorch n/a ({e.get('torch_reason') or 'not requested'})"
    lines.append(f"peers on the device: {cupy}, {torch}")
    sl = result.get("shape_list")  # the --network's name, batch and source
    if sl:
        batch = f"batch {sl['batch']}" if sl["batch"] else "sizes as listed"
        lines.append(f"network: {sl['name']}, {batch}; source: {sl['source']}")
    cal = result.get("calibration") or {}
    if cal.get("gemm_peak_gflops"):
        lines.append(f"peak (ceiling of the compute ops): {cal['gemm_peak_gflops']:.0f} GFLOP/s FP32, "
                     f"{cal.get('gemm_peak_by', '?')} {cal['gemm_peak_size']}^3, calibrated {cal['measured_at']} "
                     f"({cal['status']}: {cal['path']})" + (" [quick calibration]" if cal.get("quick") else ""))
    elif cal:
        lines.append(f"peak: not calibrated ({cal['status']}); run `pybench info --calibrate --device "
                     f"{result['options']['device']}` for % of peak")
    c = result["copy_bandwidth"]
    if c and any(r["kind"] == "memory" for r in result["records"]):
        where = "from the device's calibration" if c.get("calibrated") else "measured in this run"
        lines.append(f"copy bandwidth (ceiling of the memory-bound ops): {c['gbs']:.0f} GB/s, by {c['by']} on "
                     f"{c['shape']} float32, {where}; each memory-bound row is compared with our CUDA copy timed "
                     "alongside it")
    return lines


def header_lines(result):
    if is_cuda(result):
        return cuda_header_lines(result)
    e, m = result["environment"], result["machine"]
    lines = [
        f"pybench bench: {m['cpu']}, {e['threads']} threads, SIMD {e['isa_active']}, "
        f"{e['repeat_seconds']:g} s per problem",
        f"peers: NumPy {e['numpy']} (BLAS: {e['numpy_blas']}), "
        + (f"PyTorch {e['torch']} ({e['torch_threads']} threads, CPU capability {e['torch_cpu_capability']})"
           if e["torch"] else f"PyTorch n/a ({e['torch_reason']})"),
    ]
    load, cpus = e.get("loadavg_start"), m.get("cpu_count") or 1
    if load is not None and load > 0.5 * cpus:
        lines.append(f"note: load average {load:.1f} on {cpus} CPUs at the start: other processes share the "
                     "cores, threaded timings are noisy (compare ratios, not absolute times)")
        if e.get("omp_env", {}).get("OMP_WAIT_POLICY", "").lower() != "passive":
            lines.append("note: OpenMP threads spin at barriers while other processes need the cores; "
                         "on a busy machine run with OMP_WAIT_POLICY=passive (set before Python starts)")
    if e["slow_blas_env"]:
        lines.append("NumPy slowed by " + ", ".join(f"{k}={v}" for k, v in e["slow_blas_env"].items())
                     + " (see the warning on stderr)")
    if e.get("cupy") is None and "cupy" in result["options"]["peers"]:
        lines.append(f"CuPy/cuBLAS: skipped ({e.get('cupy_reason') or 'not importable'})")
    sl = result.get("shape_list")
    if sl:
        batch = f"batch {sl['batch']}" if sl["batch"] else "sizes as listed"
        if sl["batch"] and sl.get("real_batch") and sl["batch"] != sl["real_batch"]:
            batch += f" (the network trains at {sl['real_batch']}; --mb N sets another)"
        lines.append(f"network: {sl['name']}, {batch}; source: {sl['source']}")
    cal = result.get("calibration") or {}
    if cal.get("gemm_peak_gflops"):
        load = cal.get("loadavg")
        fma = cal.get("fma_peak_gflops")
        lines.append(f"peak (ceiling of the compute ops): {cal['gemm_peak_gflops']:.1f} GFLOP/s, our gemm "
                     f"{cal['gemm_peak_size']}^3 on {cal['threads']} threads"
                     + (f" = {100 * cal['gemm_peak_gflops'] / fma:.0f}% of the FMA peak {fma:.1f} GFLOP/s" if fma else "")
                     + f", calibrated {cal['measured_at']}"
                     + (f" at load {load:.1f}" if load is not None else "")
                     + f" ({cal['status']}: {cal['path']})" + (" [quick calibration]" if cal.get("quick") else ""))
    elif cal:
        lines.append(f"peak: not calibrated ({cal['status']}); run `pybench info --calibrate` for % of peak")
    c = result["copy_bandwidth"]
    if c and any(r["kind"] == "memory" for r in result["records"]):
        where = "from the calibration" if c.get("calibrated") else "measured in this run"
        lines.append(f"copy bandwidth (ceiling of the memory-bound ops): {c['gbs']:.1f} GB/s, by {c['by']} "
                     f"on {c['shape']} float32, {where}; each memory-bound row is compared with a copy timed "
                     f"alongside it (the bandwidth mode of this VM changes from minute to minute)")
    return lines


def totals_lines(result):
    """One pass of a network's layers: count-weighted sums of the medians."""
    t = result.get("totals")
    if not t:
        return []
    lines = [f"total over the {t['rows']} timed rows, each x its count (one pass of the listed layers): "
             f"ours {fmt_time(t['ours_s'])}"]
    for name, p in t["peers"].items():
        lines.append(f"  vs {name} on the {p['rows']} rows it ran: ours {fmt_time(p['ours_s'])}, {name} "
                     f"{fmt_time(p['peer_s'])}, ratio {p['ratio']:.2f}x (> 1: ours faster)")
    return lines


def _peer_columns(result):
    """Requested peers that timed at least one row (the others are named in the caption)."""
    asked = [p for p in PEERS if p in result["options"]["peers"]]
    shown = [p for p in asked if any("median_s" in r["peers"].get(p, {}) for r in result["records"])]
    hidden = {}
    for p in asked:
        if p not in shown:
            reasons = {r["peers"].get(p, {}).get("reason", "") for r in result["records"]} - {""}
            hidden[p] = "; ".join(sorted(reasons)) or "nothing timed"
    if not shown and asked:  # keep the table's shape when nothing ran at all (e.g. every row FAILED)
        return asked, {}
    return shown, hidden


def build_table(result, wide=False):
    """The rows as a rich Table and the notes under it (a printable Group). Without ``wide`` it leaves out the IQR,
    each peer's own time and rate (its ratio stays) and the impl (unless --impl chose it), so it
    fits 100 columns; --json has everything."""
    peers, hidden = _peer_columns(result)
    t = Table(show_lines=False, header_style="bold")
    names = ["op", "problem", "impl", "median", "IQR", "rate", "of ceil"]
    for p in peers:
        names += [p, f"vs {p}"]
    names.append("check")
    keep = [wide or n not in ("IQR", "impl", *peers) or (n == "impl" and result["options"].get("impl"))
            for n in names]
    for n, k in zip(names, keep):
        if k:
            t.add_column(n, justify="left" if n in ("op", "problem", "impl", "check") else "right",
                         no_wrap=n not in ("problem", "check"))
    rows, daggers, proxies = [], False, False  # each row with every cell; the kept ones go in the table
    for r in result["records"]:
        label = f"{r['label']} {r['shape']}".strip() if r["label"] else r["shape"]
        op = r["op"] + (" *" if r.get("auto_added") else "")
        if r["status"] == "unavailable":
            row = [op, label, "-", "-", "-", "-", "-"] + ["-", "-"] * len(peers)
            row.append(Text(f"unavailable ({r['reason']})", style="yellow"))
            rows.append(row)
            continue
        o = r["ours"] or {}
        frac = r["fraction_of_copy"] if r["kind"] == "memory" else r.get("fraction_of_peak")
        if r.get("params", {}).get("count", 1) > 1:
            label += f" x{r['params']['count']}"
        if r.get("check_on"):
            label += " ‡"
            proxies = True
        row = [op, label, r["impl"] or "-", fmt_time(o.get("median_s")),
               f"{100 * o['iqr_rel']:.1f}%" if o else "-", fmt_rate(o.get("rate"), r["rate_unit"]),
               f"{100 * frac:.0f}%" if frac is not None else "-"]
        for name in peers:
            p = r["peers"].get(name, {})
            if "median_s" in p:
                mark = "" if p.get("preallocated", True) else " †"
                daggers |= bool(mark)
                ratio = fmt_ratio(p.get("ratio"))
                if not wide:  # the peer's own column, which carries the mark, is left out
                    ratio.append(mark)
                row += [f"{fmt_time(p['median_s'])} {fmt_rate(p['rate'], r['rate_unit'])}{mark}", ratio]
            else:
                row += [p.get("status", "-"), "-"]
        if r["status"] == "ok":
            row.append(Text("ok", style="green"))
        else:
            row.append(Text(f"FAILED: {r['reason']}", style="bold red"))
        rows.append(row)
    for row in rows:
        t.add_row(*(cell for cell, k in zip(row, keep) if k))
    cuda = is_cuda(result)
    if cuda:
        notes = ["median: per call, GPU time between CUDA events around back-to-back calls; IQR: interquartile "
                 "range / median; rate: GFLOP/s (compute) or GB/s of the minimum bytes moved (memory; see "
                 "work_formula in --json); of ceil: % of the device's calibrated FP32 GEMM peak (compute) or of its "
                 "copy bandwidth (memory: our CUDA copy timed in the same rounds as the op, median of the per-round "
                 "ratios); vs peer: peer median / our median (> 1: ours faster)"]
    else:
        notes = ["median: per call; IQR: interquartile range / median; rate: GFLOP/s (compute) or GB/s of the "
                 "minimum bytes moved (memory; see work_formula in --json); of ceil: % of the calibrated GEMM peak "
                 "(compute) or of the copy bandwidth (memory: our streaming copy timed in the same rounds as the op, "
                 "median of the per-round ratios); vs peer: peer median / our median (> 1: ours faster)"]
    left_out = [n for n, k in zip(names, keep) if not k]
    if left_out:
        notes.append("left out here (--wide shows them, --json has every figure): "
                     + ", ".join(f"{n}'s time and rate" if n in peers else n for n in left_out))
    if any(r.get("params", {}).get("count", 1) > 1 for r in result["records"]):
        notes.append("xN: the layer occurs N times in the network (timed once)")
    if hidden:
        notes.append("no column: " + ", ".join(f"{p} ({why})" for p, why in hidden.items()))
    over = [r for r in result["records"] if (r.get("fraction_of_peak") or 0) > 1.05]
    if not cuda and any(r["op"] == "conv2d" for r in over):
        notes.append("of ceil > 100% on conv2d: the rate credits the direct convolution's FLOPs; Winograd "
                     "F(2x2,3x3) (3x3 stride 1) does fewer multiplications than that count")
    if any(cuda or r["op"] != "conv2d" for r in over):
        notes.append("of ceil > 100%: the calibration ran under other conditions (e.g. a busier machine); "
                     "rerun `pybench info --calibrate" + (f" --device {result['options']['device']}`" if cuda else "`")
                     + " on a quiet machine")
    if proxies:
        notes.append("‡: checked on a proxy (the same layer at batch 1; the float64 reference at the real batch "
                     "is slow), then timed at the real batch")
    if daggers:
        notes.append("†: the peer allocates its outputs (no out= path used; see the note in --json)")
    if any(r.get("auto_added") for r in result["records"]):
        notes.append("*: added to measure the copy bandwidth the memory-bound ops are compared with")
    # under the table at the console's width (a caption would wrap at the table's, narrower)
    return Group(t, Lines(notes))


def _clean(o):
    """JSON-safe: NaN/inf -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):
        try:
            o = o.item()
        except (TypeError, ValueError):
            return str(o)
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if o is None or isinstance(o, (str, int, float, bool)):
        return o
    return str(o)


def write_json(result, path):
    """Write the full result as strict JSON (indent 2, non-finite floats as null, a trailing newline)
    through store.atomic_write. Returns the absolute path."""
    return store.atomic_write(os.path.abspath(path), json.dumps(_clean(result), indent=2, allow_nan=False) + "\n")
