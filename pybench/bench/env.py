"""The peers' side of a benchmark run: which NumPy BLAS and which PyTorch, on how many threads."""

import os

PEERS = ("numpy", "torch", "cupy")
CPU_PEERS = ("numpy", "torch")

# OpenBLAS reads these when NumPy is imported; set, they force older kernels (e.g. Haswell on a
# Zen 5 with AVX-512) and roughly halve NumPy's sgemm here. pybench never changes them.
SLOW_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def slow_blas_env():
    """{name: value} of the OpenBLAS overrides set in this process's environment."""
    return {k: os.environ[k] for k in SLOW_BLAS_ENV if k in os.environ}


def slow_blas_warning(argv_hint="pybench bench ..."):
    env = slow_blas_env()
    if not env:
        return None
    sets = ", ".join(f"{k}={v}" for k, v in env.items())
    unset = " ".join(f"-u {k}" for k in env)
    return (f"warning: {sets} is set; OpenBLAS then uses slower kernels and NumPy's numbers "
            f"understate it. Rerun as `env {unset} {argv_hint}` for a fair NumPy peer.")


# OpenMP's environment, read when the runtime loads (before pybench's first line runs): recorded,
# never changed. With other processes on the cores, threads spinning at barriers (the default
# wait policy) can cost a scheduler time slice (~8 ms here) per parallel region.
OMP_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "OMP_PROC_BIND", "OMP_PLACES")


def omp_env():
    return {k: os.environ[k] for k in OMP_ENV if k in os.environ}


def import_torch():
    """(torch module or None, reason when None)."""
    try:
        import torch  # noqa: PLC0415
    except Exception as e:  # ImportError, or a broken install raising anything else
        return None, f"torch not importable ({type(e).__name__}: {e})"
    return torch, ""


def import_cupy():
    """(cupy module or None, reason when None): CuPy/cuBLAS is a peer only where a GPU is present."""
    has_dev = any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/dxg"))
    try:
        import cupy  # noqa: PLC0415
    except Exception as e:
        return None, ("no GPU" if not has_dev else f"cupy not importable ({type(e).__name__}: {e})")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return None, f"no GPU (CUDA runtime: {type(e).__name__}: {e})"
    if n < 1:
        return None, "no GPU"
    return cupy, ""


def default_peers():
    """NumPy and PyTorch CPU, plus CuPy when a GPU is usable."""
    return CPU_PEERS + (("cupy",) if import_cupy()[0] is not None else ())


def blas_info():
    """threadpoolctl's view of the BLAS/OpenMP libraries loaded in this process."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads", "threading_layer",
            "filepath")
    return [{k: d.get(k) for k in keys if k in d} for d in threadpool_info()]


def numpy_blas_kernel(info=None):
    """'openblas 0.3.x SkylakeX' for the BLAS NumPy uses (the first BLAS threadpoolctl lists)."""
    for d in info if info is not None else blas_info():
        if d.get("user_api") == "blas":
            parts = [d.get("internal_api"), d.get("version"), d.get("architecture")]
            return " ".join(str(p) for p in parts if p)
    return "unknown"


class ThreadSettings:
    """Sets pybench, PyTorch and the BLAS libraries to `n` threads; restore() undoes it."""

    def __init__(self, n, torch=None):
        from .. import _native  # noqa: PLC0415

        self._native = _native
        self._torch = torch
        self._prev_native = _native.get_num_threads()
        self._prev_torch = torch.get_num_threads() if torch is not None else None
        self._limiter = None
        try:  # first: threadpoolctl records (and on restore rewrites) every pool, OpenMP's too
            from threadpoolctl import threadpool_limits  # noqa: PLC0415

            self._limiter = threadpool_limits(limits=n, user_api="blas")
        except ImportError:
            pass
        _native.set_num_threads(n)
        if torch is not None:
            torch.set_num_threads(n)

    def restore(self):
        if self._limiter is not None:
            self._limiter.restore_original_limits()
        self._native.set_num_threads(self._prev_native)
        if self._torch is not None:
            self._torch.set_num_threads(self._prev_torch)
