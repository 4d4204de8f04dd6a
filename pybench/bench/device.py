"""Which device `pybench bench` / `pybench info --calibrate` run on: "cpu", "cuda" or "cuda:N".

`parse(s)` validates the flag; `open_cuda(index)` returns a CudaDevice (CuPy arrays on GPU N, CUDA
events on CuPy's current stream) or raises DeviceUnavailable with the one-line reason the CLI
prints before exiting 2: no CUDA build, no usable device, CuPy missing, or N out of range.

FakeCudaDevice stands NumPy in for the GPU (host "copies", a host clock, PyTorch CPU) so the CUDA
benchmark's plumbing -- cases, peers, checks, timing loop, calibration, report -- runs in the tests
of a machine without a GPU. It measures nothing about a GPU.
"""

import contextlib
import re
import time

import numpy as np

F32 = np.float32


class DeviceUnavailable(Exception):
    """The requested device cannot be used here; str(e) is the reason, one line."""


def parse(s):
    """("cpu", None) | ("cuda", N) for "cpu", "cuda" (device 0) or "cuda:N"; ValueError otherwise."""
    if not isinstance(s, str):
        raise ValueError(f"expected 'cpu', 'cuda' or 'cuda:N', got {s!r}")
    if s == "cpu":
        return "cpu", None
    if s == "cuda":
        return "cuda", 0
    m = re.fullmatch(r"cuda:(\d+)", s)
    if m:
        return "cuda", int(m.group(1))
    raise ValueError(f"expected 'cpu', 'cuda' or 'cuda:N' (N = 0, 1, ...), got {s!r}")


def canonical(s):
    """'cpu' or 'cuda:N'."""
    kind, idx = parse(s)
    return kind if idx is None else f"{kind}:{idx}"


def cuda_unavailable_reason(index=0):
    """None when CUDA device `index` can run pybench's CUDA kernels with CuPy arrays, else why not."""
    from .. import _native, arrays  # noqa: PLC0415

    st = _native.cuda_status()
    if not st["built"]:
        return f"no CUDA device ({st['reason'] or 'CUDA backend not built'})"
    if st["device_count"] < 1:
        return f"no CUDA device ({st['reason'] or 'none found'})"
    if arrays.cupy() is None:
        return arrays.cupy_missing_reason()
    if index >= st["device_count"]:
        return f"no CUDA device {index} (this machine has {st['device_count']}: cuda:0..cuda:{st['device_count'] - 1})"
    return None


def open_cuda(index=0):
    """A CudaDevice for GPU `index`, or DeviceUnavailable("--device cuda[:N]: <reason>")."""
    flag = "cuda" if index == 0 else f"cuda:{index}"
    why = cuda_unavailable_reason(index)
    if why:
        raise DeviceUnavailable(f"--device {flag}: {why}")
    from .. import arrays  # noqa: PLC0415

    try:
        return CudaDevice(arrays.cupy(), index)
    except Exception as e:  # a driver/runtime error on the first real call
        raise DeviceUnavailable(f"--device {flag}: no CUDA device (CuPy: {type(e).__name__}: {e})") from None


class EventClock:
    """Times k back-to-back calls with two CUDA events on CuPy's current stream (GPU time)."""

    def __init__(self, cupy):
        self.cp = cupy
        self.start, self.end = cupy.cuda.Event(), cupy.cuda.Event()

    def sync(self):
        self.cp.cuda.get_current_stream().synchronize()

    def time(self, f, k):
        """Seconds per call of f over k calls: events recorded around them, then synchronized."""
        s = self.cp.cuda.get_current_stream()
        self.start.record(s)
        for _ in range(k):
            f()
        self.end.record(s)
        self.end.synchronize()
        return self.cp.cuda.get_elapsed_time(self.start, self.end) / 1e3 / k


class HostClock:
    """The fake device's clock: wall time of k calls (the calls are synchronous on the host)."""

    def sync(self):
        pass

    def time(self, f, k):
        t0 = time.perf_counter()
        for _ in range(k):
            f()
        return (time.perf_counter() - t0) / k


class CudaDevice:
    """GPU `index` through CuPy: copies to and from it, allocation, its stream, events, description."""

    kind = "cuda"
    fake = False
    registry = "cuda"  # the device whose impls `impls(op, device=...)` lists

    def __init__(self, cupy, index=0):
        self.xp = cupy
        self.index = index
        self.name = f"cuda:{index}"
        self._cache, self._shared = {}, {}
        with self.activate():
            self.props = cupy.cuda.runtime.getDeviceProperties(index)
            self.driver = int(cupy.cuda.runtime.driverGetVersion())
            self.runtime = int(cupy.cuda.runtime.runtimeGetVersion())

    # -- context, stream, clock
    def activate(self):
        """Context in which arrays are allocated on, and kernels launched to, this device."""
        return self.xp.cuda.Device(self.index)

    def clock(self):
        return EventClock(self.xp)

    def sync(self):
        self.xp.cuda.get_current_stream().synchronize()

    def stream_ptr(self):
        return int(self.xp.cuda.get_current_stream().ptr)

    # -- arrays
    def to_device(self, a):
        """A new device copy of host array `a`."""
        return self.xp.array(a, copy=True)

    def share(self, a):
        """Mark host array `a` (a run-wide input: problems.Inputs) as shared: put() copies it once."""
        self._shared[id(a)] = a

    def is_shared(self, a):
        return self._shared.get(id(a)) is a

    def put(self, a):
        """The device copy of host array `a`, made once per clear() (the 64M inputs are shared)."""
        hit = self._cache.get(id(a))
        if hit is None or hit[0] is not a:
            hit = (a, self.to_device(a))
            self._cache[id(a)] = hit
        return hit[1]

    def clear(self):
        self._cache.clear()
        self._shared.clear()

    def to_host(self, a):
        if a is None or isinstance(a, (float, int)):
            return a
        if hasattr(a, "detach"):  # a torch tensor
            return a.detach().cpu().numpy()
        return self.xp.asnumpy(a)

    def empty(self, shape, dtype=F32):
        return self.xp.empty(tuple(shape), dtype=dtype)

    def empty_like(self, a):
        return self.xp.empty_like(a)

    def copy(self, src, dst):
        """CuPy's copy of src into dst (the cupy peer of the copy row and the calibration)."""
        self.xp.copyto(dst, src)

    # -- PyTorch on the same device
    def torch_reason(self, torch):
        """None if `torch` can run on this device, else why not."""
        if torch is None:
            return "torch not importable"
        try:
            ok = torch.cuda.is_available()
            n = torch.cuda.device_count() if ok else 0
        except Exception as e:
            return f"torch {torch.__version__}: CUDA query failed ({type(e).__name__}: {e})"
        if not ok:
            return f"torch {torch.__version__} has no usable CUDA (torch.cuda.is_available() is False)"
        if self.index >= n:
            return f"torch sees {n} CUDA device(s), not cuda:{self.index}"
        return None

    def torch_tensor(self, torch, a):
        """A torch tensor sharing a's device memory (DLPack, no copy)."""
        return torch.from_dlpack(a)

    def torch_context(self, torch):
        """Context for torch calls: this device, and CuPy's current stream when it is not the legacy
        default stream (which is PyTorch's default stream too), so events time torch's kernels."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.cuda.device(self.index))
        ptr = self.stream_ptr()
        if ptr != 0:
            stack.enter_context(torch.cuda.stream(torch.cuda.ExternalStream(ptr, device=f"cuda:{self.index}")))
        return stack

    def torch_setup(self, torch):
        """Full FP32 for PyTorch's peers (cuDNN convs default to TF32 on Ampere and later, which
        would fail the FP32 check and compare unlike with like). Returns an undo callable."""
        prev = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False

        def undo():
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = prev

        return undo

    def torch_describe(self, torch):
        d = {"torch": torch.__version__, "torch_cuda": getattr(torch.version, "cuda", None)}
        try:
            d["cudnn"] = torch.backends.cudnn.version()
        except Exception:
            d["cudnn"] = None
        return d

    # -- description
    def describe(self):
        p = self.props
        name = p.get("name", b"")
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        return {"device": self.name, "name": name, "compute_capability": f"{p.get('major')}.{p.get('minor')}",
                "driver": self.driver, "runtime": self.runtime, "cupy": self.xp.__version__,
                "total_memory": int(p.get("totalGlobalMem", 0)), "multiprocessors": p.get("multiProcessorCount"),
                "stream": "CuPy's current stream (ptr %d)" % self.stream_ptr(), "fake": False}


class FakeCudaDevice(CudaDevice):
    """NumPy standing in for the GPU, for tests of the plumbing on a machine without one: "device"
    arrays are host copies, the clock is the host's, ops run on the CPU kernels (their CPU impls),
    the torch peer is PyTorch CPU. Its figures say nothing about any GPU."""

    fake = True
    registry = "cpu"

    def __init__(self, index=0):
        self.xp = np
        self.index = index
        self.name = f"cuda:{index}"
        self._cache, self._shared = {}, {}
        self.props = {"name": "FakeCudaDevice (NumPy)", "major": 0, "minor": 0}
        self.driver = self.runtime = 0

    def activate(self):
        return contextlib.nullcontext()

    def clock(self):
        return HostClock()

    def sync(self):
        pass

    def stream_ptr(self):
        return 0

    def to_device(self, a):
        return np.array(a, copy=True)

    def to_host(self, a):
        if a is None or isinstance(a, (float, int)):
            return a
        if hasattr(a, "detach"):
            return a.detach().cpu().numpy()
        return np.array(a, copy=True)

    def torch_reason(self, torch):
        return None if torch is not None else "torch not importable"

    def torch_tensor(self, torch, a):
        return torch.from_numpy(a)

    def torch_context(self, torch):
        return contextlib.nullcontext()

    def torch_setup(self, torch):
        return lambda: None

    def describe(self):
        return dict(super().describe(), cupy=None, stream="host (fake device)", fake=True)
