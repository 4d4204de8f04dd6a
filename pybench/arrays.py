"""The one Python-side adapter between array libraries and pybench's native ops.

NumPy arrays go to the CPU kernels. Objects exporting ``__cuda_array_interface__`` (CuPy arrays,
and also Numba device arrays and PyTorch CUDA tensors, which expose it) go to the CUDA kernels:
the native adapter (``csrc/bindings/convert.cpp``) reads the interface and calls back here for
the two things only a Python library can answer -- which stream to launch on (CuPy's current
stream) and how to allocate an output on the device (``cupy.empty``). Nothing is ever copied
between devices implicitly; use :func:`to_device` / :func:`asnumpy` explicitly.

Objects exporting only DLPack (``__dlpack__`` / ``__dlpack_device__``: JAX arrays, PyTorch CPU
tensors...) are viewed zero-copy by :func:`from_dlpack` -- NumPy for the CPU, CuPy for CUDA --
which the native adapter calls for them; so outputs allocated for them are NumPy / CuPy arrays.

The training engine allocates through :func:`empty` / :func:`empty_like` / :func:`zeros_like`
(on the device of a given array) and checks devices with :func:`parse_device` and
:func:`device_unavailable_reason`.

CuPy is optional (``pip install pybench[cuda]`` installs ``cupy-cuda13x``); without it every
function here works for NumPy and says plainly what is missing for CUDA.
"""

from __future__ import annotations

import collections
import threading

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
    """``a`` on ``device`` ("cpu", "cuda" or "cuda:<id>"), copied only when it is elsewhere
    (the same object when it is already there). A device that cannot be used here is a
    RuntimeError saying why (``device_unavailable_reason``)."""
    if device == "cpu":
        return asnumpy(a)
    _, dev = parse_device(device, "to_device: device")
    if is_cuda_array(a) and cuda_device_id(a) == dev:
        return a
    cp = cupy()
    why = cupy_missing_reason() if cp is None else device_unavailable_reason(device)
    if why:
        raise RuntimeError(f"to_device: device {device!r}: {why}")
    if isinstance(a, cp.ndarray):  # on another GPU: cp.asarray would leave it there; a peer copy
        with cp.cuda.Device(a.device.id):
            src = cp.ascontiguousarray(a)
        with cp.cuda.Device(dev):
            out = cp.empty(src.shape, src.dtype)
            out.data.copy_from_device(src.data, src.nbytes)
            return out
    with cp.cuda.Device(dev):
        return cp.asarray(a)


def array_module(a):
    """numpy for NumPy arrays, cupy for CuPy arrays (for code that must allocate alike)."""
    return cupy() if is_cuda_array(a) and cupy() is not None else np


def empty(like, shape, dtype=None):
    """A new C-contiguous array of ``shape`` on the device of ``like`` (NumPy or CuPy; dtype of
    ``like`` by default): how the engine allocates its buffers alike for both devices."""
    if isinstance(like, np.ndarray) or not is_cuda_array(like):
        return np.empty(shape, like.dtype if dtype is None else dtype)
    return cuda_empty(like, shape, dtype)


def empty_like(a):
    """``empty(a, a.shape)``: same shape, dtype and device."""
    return empty(a, a.shape)


def zeros_like(a):
    """Zeros of ``a``'s shape and dtype on ``a``'s device."""
    if isinstance(a, np.ndarray) or not is_cuda_array(a):
        return np.zeros_like(a)
    z = cuda_empty(a, a.shape)
    z.fill(0)
    return z


def copy(a):
    """A copy of ``a`` on its own device."""
    return np.array(a, copy=True) if isinstance(a, np.ndarray) or not is_cuda_array(a) else a.copy()


def copyto(dst, src):
    """``dst[...] = src`` in place (same_kind casting), moving ``src`` to ``dst``'s device first
    when it lives elsewhere (loading a host state_dict into a CUDA model and back)."""
    if isinstance(dst, np.ndarray):
        np.copyto(dst, asnumpy(src) if is_cuda_array(src) else src, casting="same_kind")
        return
    cp = cupy()
    if cp is None:
        raise RuntimeError(f"copyto: {cupy_missing_reason()}")
    with cp.cuda.Device(cuda_device_id(dst)):
        cp.copyto(dst, cp.asarray(src), casting="same_kind")


def is_array(a) -> bool:
    """A NumPy array or a CUDA array (what the engine's layers accept)."""
    return isinstance(a, np.ndarray) or is_cuda_array(a)


# ---- devices -----------------------------------------------------------------------------------

def parse_device(device, who="device"):
    """("cpu", None) or ("cuda", N) for "cpu", "cuda" (N = 0) or "cuda:N"; anything else is a
    ValueError ("<who>: expected 'cpu', 'cuda' or 'cuda:<N>', got ...")."""
    if isinstance(device, str):
        if device == "cpu":
            return "cpu", None
        if device == "cuda":
            return "cuda", 0
        kind, sep, n = device.partition(":")
        if kind == "cuda" and sep and n.isascii() and n.isdigit() and (n == "0" or not n.startswith("0")):
            return "cuda", int(n)
    raise ValueError(f"{who}: expected 'cpu', 'cuda' or 'cuda:<N>', got {device!r}")


def device_unavailable_reason(device) -> str:
    """"" when ``device`` can be used here, else why not: the CUDA build status and driver /
    device reason from ``_native.cuda_status()``, an ordinal beyond the device count, or CuPy
    missing (the engine needs CuPy to allocate and move arrays)."""
    kind, n = parse_device(device)
    if kind == "cpu":
        return ""
    from . import _native  # noqa: PLC0415

    st = _native.cuda_status()
    if not st["built"]:
        return f"CUDA backend not built: {st['reason']}"
    if st["device_count"] == 0:
        return f"no usable CUDA device: {st['reason']}"
    if n >= st["device_count"]:
        return f"no device cuda:{n} ({st['device_count']} CUDA device(s) here)"
    return cupy_missing_reason()


def device_info(device) -> dict:
    """What a run record says about its device: {"device"} for the CPU; for CUDA also the
    device's name and compute capability (``_native.cuda_status()`` for device 0, CuPy for
    others)."""
    kind, n = parse_device(device)
    if kind == "cpu":
        return {"device": "cpu"}
    from . import _native  # noqa: PLC0415

    st = _native.cuda_status()
    info = {"device": f"cuda:{n}", "name": st["device_name"], "compute_capability": st["compute_capability"]}
    cp = cupy()
    if n != 0 and cp is not None:
        props = cp.cuda.runtime.getDeviceProperties(n)
        name = props["name"]
        info["name"] = name.decode() if isinstance(name, bytes) else str(name)
        info["compute_capability"] = f"{props['major']}.{props['minor']}"
    return info


def synchronize(device) -> None:
    """Wait for the device's queued work (nothing to do for the CPU): before reading a clock."""
    kind, n = parse_device(device)
    if kind == "cuda":
        cupy().cuda.Device(n).synchronize()


# ---- DLPack --------------------------------------------------------------------------------------

_kDLCPU, _kDLCUDA = 1, 2
_keep = threading.local()


def from_dlpack(obj, op="pybench", arg="x"):
    """A NumPy (DLPack device type 1, CPU) or CuPy (type 2, CUDA) array viewing ``obj``'s memory,
    zero-copy, for objects that export only ``__dlpack__`` / ``__dlpack_device__`` (JAX arrays,
    PyTorch CPU tensors...). The native adapter calls this for such arguments; the converted
    view is also kept in a small per-thread ring (the native side holds only a raw pointer
    while the op runs). A read-only export stays read-only (and is refused as out=). Other
    device types are a TypeError; a CUDA export without CUDA here is a RuntimeError saying why."""
    try:
        dev_type, dev_id = obj.__dlpack_device__()
    except Exception as e:
        raise TypeError(f"{op}: {arg}: expected a DLPack array (__dlpack_device__), got {type(obj).__name__} "
                        f"({type(e).__name__}: {e})") from None
    if dev_type == _kDLCPU:
        a = np.from_dlpack(obj)
    elif dev_type == _kDLCUDA:
        why = device_unavailable_reason(f"cuda:{int(dev_id)}")
        if why:
            raise RuntimeError(f"{op}: {arg}: a CUDA DLPack array needs a usable GPU and CuPy: {why}")
        cp = cupy()
        with cp.cuda.Device(int(dev_id)):
            a = cp.from_dlpack(obj)
    else:
        raise TypeError(f"{op}: {arg}: expected a DLPack array on the CPU (device type 1) or a CUDA device (2), "
                        f"got device type {dev_type}")
    ring = getattr(_keep, "ring", None)
    if ring is None:
        ring = _keep.ring = collections.deque(maxlen=32)
    ring.append(a)
    return a
