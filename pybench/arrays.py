"""The one Python-side adapter between array libraries and pybench's native ops.

NumPy arrays go to the CPU kernels. Objects exporting ``__cuda_array_interface__`` (CuPy arrays,
and also Numba device arrays and PyTorch CUDA tensors, which expose it) go to the CUDA kernels:
the native adapter (``csrc/bindings/convert.cpp``) reads the interface and calls back here for
the two things only a Python library can answer -- which stream to launch on (CuPy's current
stream) and how to allocate an output on the device (``cupy.empty``). Nothing is ever copied
between devices implicitly; use :func:`to_device` / :func:`asnumpy` explicitly.

CuPy is optional (``pip install pybench[cuda]`` installs ``cupy-cuda13x``); without it every
function here works for NumPy and says plainly what is missing for CUDA.
"""

from __future__ import annotations

import numpy as np

_cupy = None
_cupy_error = None


def cupy():
    """The cupy module, or None where it is not installed (the common case)."""
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy as cp  # noqa: PLC0415

            _cupy = cp
        except Exception as e:  # ImportError, or a CuPy that fails to load its CUDA libraries
            _cupy_error = f"{type(e).__name__}: {e}"
    return _cupy


def cupy_missing_reason():
    """Why cupy() is None ("" when CuPy is available)."""
    return "" if cupy() is not None else f"cupy not installed ({_cupy_error})"


def is_cuda_array(a) -> bool:
    """True for an array living on a CUDA device (exports ``__cuda_array_interface__``)."""
    return not isinstance(a, np.ndarray) and hasattr(a, "__cuda_array_interface__")


def device_of(a) -> str:
    """"cpu" or "cuda:<id>"."""
    return f"cuda:{cuda_device_id(a)}" if is_cuda_array(a) else "cpu"


def cuda_device_id(a) -> int:
    """The CUDA device ordinal of a CUDA array, from its library's own attribute (0 if unknown)."""
    dev = getattr(a, "device", None)
    for attr in ("id", "index"):  # CuPy: device.id; PyTorch: device.index
        v = getattr(dev, attr, None)
        if isinstance(v, int):
            return v
    return 0


def cuda_stream(a, cai=None) -> int:
    """The stream pointer the native kernels launch on for this array.

    CuPy: CuPy's current stream (``cupy.cuda.get_current_stream().ptr``; 0 is the legacy default
    stream), so pybench work is ordered with the caller's CuPy work. Other producers: the
    interface's own ``stream`` entry (version 3; 1 = legacy default, 2 = per-thread default,
    both valid stream handles), else 0.
    """
    cp = cupy()
    if cp is not None and isinstance(a, cp.ndarray):
        return int(cp.cuda.get_current_stream().ptr)
    if cai is None:
        cai = a.__cuda_array_interface__
    s = cai.get("stream")
    return int(s) if s is not None else 0


def cuda_empty(like, shape, dtype=None):
    """A new C-contiguous CuPy array of ``shape`` on the device of ``like`` (dtype of ``like`` by default)."""
    cp = cupy()
    if cp is None:
        from . import _native  # noqa: PLC0415

        st = _native.cuda_status()
        why = st["reason"] if st["device_count"] == 0 else cupy_missing_reason()
        raise RuntimeError(f"CUDA output allocation: needs CuPy and a usable GPU ({why}); pass out= arrays")
    with cp.cuda.Device(cuda_device_id(like)):
        return cp.empty(tuple(shape), dtype=like.dtype if dtype is None else dtype)


def asnumpy(a):
    """A NumPy array with the contents of ``a`` (a copy from the device for a CUDA array)."""
    if is_cuda_array(a):
        cp = cupy()
        if cp is None:
            raise RuntimeError(f"asnumpy: {cupy_missing_reason()}")
        return cp.asnumpy(a)
    return np.asarray(a)


def to_device(a, device: str):
    """``a`` on ``device`` ("cpu", "cuda" or "cuda:<id>"), copied only when it is elsewhere."""
    if device == "cpu":
        return asnumpy(a)
    if not device.startswith("cuda"):
        raise ValueError(f"to_device: device: expected 'cpu', 'cuda' or 'cuda:<id>', got {device!r}")
    cp = cupy()
    if cp is None:
        raise RuntimeError(f"to_device: {cupy_missing_reason()}")
    dev = int(device.split(":", 1)[1]) if ":" in device else 0
    with cp.cuda.Device(dev):
        return cp.asarray(a)


def array_module(a):
    """numpy for NumPy arrays, cupy for CuPy arrays (for code that must allocate alike)."""
    return cupy() if is_cuda_array(a) and cupy() is not None else np
