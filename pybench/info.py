"""What this pybench build is and what the machine under it can do (`pybench info`)."""

import os
import platform

import numpy as np

from . import __version__, _native


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect():
    """A dict describing the build, the CPU side and the CUDA side; also stored as provenance."""
    build = dict(_native.build_info())
    cuda = dict(_native.cuda_status())
    return {
        "pybench": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": _native.get_num_threads(),
        "isa_supported": _native.isa_supported(),
        "isa_active": _native.isa_active(),
        "build": build,
        "cuda": cuda,
    }


def format_info(d):
    b, c = d["build"], d["cuda"]
    if not c["built"]:
        gpu = "not built (" + c["reason"] + ")"
    elif c["device_count"] == 0:
        gpu = f"built for sm {b['cuda_archs']}; no usable GPU ({c['reason']})"
    else:
        gpu = f"built for sm {b['cuda_archs']}; {c['device_count']} x {c['device_name']} (cc {c['compute_capability']})"
    rows = [
        ("pybench", d["pybench"]),
        ("python / numpy", f"{d['python']} / {d['numpy']}"),
        ("build", f"{b['build_type']}, {b['compiler']}, OpenMP {b['openmp']}"),
        ("built from", (b["git_sha"][:12] + (" (with uncommitted changes)" if b["git_dirty"] else "")) if b.get("git_sha")
         else "unknown (not built in a git checkout)"),
        ("flags", b["flags"]),
        ("CPU", f"{d['cpu']} ({d['cpu_count']} logical CPUs)"),
        ("SIMD", f"active {d['isa_active']} (CPU supports {d['isa_supported']}; built {', '.join(b['isa_levels_built'])})"),
        ("threads", str(d["threads"])),
        ("CUDA", gpu),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)
