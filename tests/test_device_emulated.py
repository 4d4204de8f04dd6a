"""The engine's device path executed here, on an emulated GPU (CPU only, no marker).

Without a GPU the CUDA branches of pybench.nn / train / diagnostics / optim would never run. This
file runs them: ``FakeCupy`` stands in for CuPy, its arrays (``DevArray``) wrap NumPy arrays but
are *not* ndarrays, export ``__cuda_array_interface__``, refuse implicit conversion to NumPy and
refuse to be mixed with NumPy arrays (as CuPy does), and the native ops are wrapped so they
compute on the wrapped NumPy data (the real CPU kernels). Every device-vs-host decision in the
engine therefore takes its CUDA side, and:
- a run on "cuda" gives bit for bit the CPU run's record (same kernels, same order): the device
  path changes nothing but where arrays live;
- the steady-state training step pulls nothing back to the host except the loss (counted:
  conversions of device arrays to Python scalars or NumPy), and clipping / integer targets of
  element-wise losses cost exactly their one documented sync;
- Module.to / state_dict / load_state_dict move and snapshot on the device.
What it cannot check is CuPy's own semantics and the CUDA kernels: tests/cuda does, on a GPU.
"""

import math
import types

import numpy as np
import pytest

from pybench import _native, arrays, nn, ops, train
from pybench.nn import optim as nn_optim
from pybench.nn.loss import make_loss
from pybench.runconfig import Config

SYNCS = {"n": 0}  # device -> host transfers (scalars and arrays) since the last reset


def _unwrap(x):
    if isinstance(x, DevArray):
        return x._a
    if isinstance(x, (tuple, list)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return DevArray(x)
    if isinstance(x, np.generic):  # CuPy reductions return 0-d device arrays, not scalars
        return DevArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    return x


def _no_host_arrays(where, args):
    """CuPy refuses NumPy arrays mixed into device calls: so does the emulation."""
    def walk(v):
        if isinstance(v, np.ndarray) and v.ndim > 0:
            raise TypeError(f"{where}: a NumPy array passed to the (emulated) device")
        if isinstance(v, (tuple, list)):
            for e in v:
                walk(e)
        if isinstance(v, dict):
            for e in v.values():
                walk(e)
    walk(args)


class DevArray:
    """A 'CUDA array' holding a NumPy array; arithmetic and methods stay on the 'device'."""

    __array_priority__ = 1000

    def __init__(self, a):
        self._a = a

    @property
    def __cuda_array_interface__(self):
        a = self._a
        return {"shape": a.shape, "typestr": a.dtype.str, "data": (a.ctypes.data, not a.flags.writeable),
                "strides": None if a.flags.c_contiguous else a.strides, "version": 3, "stream": 1}

    device = types.SimpleNamespace(id=0)
    shape = property(lambda s: s._a.shape)
    dtype = property(lambda s: s._a.dtype)
    ndim = property(lambda s: s._a.ndim)
    size = property(lambda s: s._a.size)
    nbytes = property(lambda s: s._a.nbytes)
    flags = property(lambda s: s._a.flags)

    def __len__(self):
        return len(self._a)

    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ / __array_struct__ / buffer: no NumPy view
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kw):
            _no_host_arrays(f"DevArray.{name}", (args, kw))
            return _wrap(attr(*_unwrap(args), **_unwrap(kw)))
        return method

    def __getitem__(self, k):
        _no_host_arrays("DevArray.__getitem__", k)
        return _wrap(self._a[_unwrap(k)])

    def __setitem__(self, k, v):
        _no_host_arrays("DevArray.__setitem__", (k, v))
        self._a[_unwrap(k)] = _unwrap(v)

    def __array__(self, *a, **kw):
        raise TypeError("implicit conversion of a device array to NumPy (use asnumpy)")

    def _scalar(self, f):
        SYNCS["n"] += 1
        return f(self._a)

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __bool__(self):
        return self._scalar(bool)

    def __repr__(self):
        return f"DevArray({self._a!r})"


def _binop(name):
    def op(self, other):
        _no_host_arrays(f"DevArray.{name}", other)
        return _wrap(getattr(self._a, name)(_unwrap(other)))
    return op


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__gt__", "__lt__", "__ge__", "__le__", "__eq__", "__ne__", "__or__", "__and__", "__iadd__",
              "__imul__"):
    setattr(DevArray, _name, _binop(_name))
DevArray.__hash__ = None


class _Device:
    def __init__(self, n=0):
        self.id = n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass


class FakeCupy:
    """The slice of CuPy's API pybench uses, on DevArrays."""

    ndarray = DevArray

    def __init__(self):
        self.cuda = types.SimpleNamespace(
            Device=_Device, get_current_stream=lambda: types.SimpleNamespace(ptr=0),
            runtime=types.SimpleNamespace(getDeviceProperties=lambda n: {"name": b"Emulated", "major": 8, "minor": 0}))

    def asarray(self, a, dtype=None):
        if isinstance(a, DevArray):
            return a if dtype is None else DevArray(a._a.astype(dtype))
        return DevArray(np.array(a, dtype=dtype, copy=True))  # host -> device: a copy

    def asnumpy(self, a):
        SYNCS["n"] += 1
        return np.array(a._a, copy=True) if isinstance(a, DevArray) else np.asarray(a)

    def empty(self, shape, dtype=np.float32):
        return DevArray(np.empty(shape, dtype))

    def from_dlpack(self, obj):
        raise AssertionError("not used here")

    def __getattr__(self, name):  # take, bincount, dot, concatenate, copyto, ufuncs...: NumPy on the device data
        f = getattr(np, name)

        def fn(*args, **kw):
            _no_host_arrays(f"cupy.{name}", (args, kw))
            return _wrap(f(*_unwrap(args), **_unwrap(kw)))
        return fn


def _device_op(f, name):
    def op(*args, **kw):
        devs = [a for a in list(args) + list(kw.values()) if isinstance(a, DevArray)]
        if devs:
            _no_host_arrays(name, (args, kw))
        r = f(*_unwrap(args), **_unwrap(kw))
        if not devs:
            return r
        mine = {id(d._a): d for d in devs}

        def back(v):
            if isinstance(v, np.ndarray):
                d = mine.get(id(v))
                return d if d is not None else DevArray(v)
            if isinstance(v, tuple):
                return tuple(back(e) for e in v)
            return v
        return back(r)
    return op


@pytest.fixture
def gpu(monkeypatch):
    """An emulated CUDA device 0 with CuPy: arrays.cupy() is FakeCupy, _native.cuda_status()
    reports one device, and every native op computes on the DevArrays' NumPy data."""
    fake = FakeCupy()
    monkeypatch.setattr(arrays, "_cupy", fake)
    monkeypatch.setattr(_native, "cuda_status", lambda: {"built": True, "device_count": 1, "device_name": "Emulated",
                                                         "compute_capability": "8.0", "reason": ""})
    for mod in (ops, _native):
        for name in dir(mod):
            if name.endswith(("_forward", "_backward", "_step")) and callable(getattr(mod, name)):
                monkeypatch.setattr(mod, name, _device_op(getattr(mod, name), name))
    monkeypatch.setattr(nn_optim.Adam, "_step_fn", staticmethod(ops.adam_step))
    monkeypatch.setattr(nn_optim.AdamW, "_step_fn", staticmethod(ops.adamw_step))
    return fake


CFG = dict(dataset="mnist1d", n_train=512, n_test=128, depth=2, width=32, norm="batch", dropout=0.2, batch_size=32,
           lr=0.05, momentum=0.9, steps=24, eval_every=8, seed=3, diag_batch=64, noise_scale=True, noise_batches=3)


def _same_record(a, b):
    for key in ("status", "steps", "best", "test", "train", "gap", "noise_scale", "best_val_acc"):
        assert a[key] == b[key], key
    for ha, hb in zip(a["history"], b["history"], strict=True):
        for k in ("step", "train_loss", "val_loss", "val_acc", "diagnostics"):
            assert ha[k] == hb[k], (ha["step"], k)


@pytest.mark.parametrize("extra", [
    {},                                                                       # MLP, BatchNorm, dropout, SGD
    {"model": "cnn", "width": 4, "dataset": "digits", "head": "gap"},          # CNN: conv, pools, BatchNorm2d
    {"loss": "mse", "optimizer": "adamw", "lr": 1e-3, "clip_grad_norm": 0.5, "l1": 1e-4, "l2": 1e-4,
     "momentum": 0.0, "patience": 1},                                         # one-hot on device, clip, penalty, restore
])
def test_emulated_cuda_run_equals_cpu_run_bitwise(gpu, extra):
    cfg = {**CFG, **extra}
    rec_cpu = train.run(Config(**cfg))
    rec_dev = train.run(Config(**cfg, device="cuda"))
    assert rec_cpu["status"] in (*train.OK_STATUSES, "collapsed"), rec_cpu.get("error")
    assert rec_dev["status"] == rec_cpu["status"], rec_dev.get("error")
    assert rec_dev["provenance"]["device"] == {"device": "cuda:0", "name": "Emulated", "compute_capability": "8.0"}
    assert rec_dev["breakdown"] and rec_dev["run_id"] != rec_cpu["run_id"]
    _same_record(rec_cpu, rec_dev)


def _model_on_device(loss="cross_entropy"):
    m = nn.mlp((40,), 10, 2, 16, norm="batch", dropout=0.1, seed=0).to("cuda")
    assert all(isinstance(p.data, DevArray) and isinstance(p.grad, DevArray) for p in m.parameters())
    assert all(isinstance(b.running_mean, DevArray) for b in m.modules() if hasattr(b, "running_mean"))
    assert m.device == "cuda:0"
    return m, make_loss(loss)


@pytest.mark.parametrize("loss, clip, syncs", [("cross_entropy", None, 0), ("cross_entropy", 1.0, 1), ("mse", None, 1)])
def test_emulated_steady_step_stays_on_the_device(gpu, loss, clip, syncs):
    m, loss_fn = _model_on_device(loss)
    opt = nn.SGD(m.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = gpu.asarray(rng.standard_normal((32, 40)).astype(np.float32))
    y = gpu.asarray(rng.integers(0, 10, 32))
    for _ in range(3):
        train.train_step(m, loss_fn, opt, x, y, clip=clip)
    SYNCS["n"] = 0
    loss_value = train.train_step(m, loss_fn, opt, x, y, clip=clip)
    assert isinstance(loss_value, float) and math.isfinite(loss_value)
    assert SYNCS["n"] == syncs  # the loss itself comes back through the native op (its one sync)


def test_emulated_module_to_state_dict_and_back(gpu):
    host = nn.mlp((40,), 10, 2, 16, norm="batch", dropout=0.1, seed=0)
    want = host.state_dict()
    m = nn.mlp((40,), 10, 2, 16, norm="batch", dropout=0.1, seed=0).to("cuda")
    sd = m.state_dict()
    assert all(isinstance(v, DevArray) for k, v in sd.items() if not k.endswith("offset"))
    for k, v in sd.items():  # bit-identical weights after the move
        assert np.array_equal(arrays.asnumpy(v), want[k]), k
    m.load_state_dict(want)  # host values into a device model
    m.to("cpu")
    assert all(type(p.data) is np.ndarray for p in m.parameters())
    for k, v in m.state_dict().items():
        assert np.array_equal(v, want[k]), k


def test_emulated_cli_checks_pass_on_a_usable_device(gpu, monkeypatch, capsys):
    from pybench import cli

    seen = []
    monkeypatch.setattr(train, "run", lambda config: seen.append(config) or {"status": "completed"})
    monkeypatch.setattr(train, "summary", lambda record: "ran")
    assert cli.main(["train", "--device", "cuda", "--set", "steps=1"]) == 0
    assert len(seen) == 1 and seen[0].device == "cuda"
    assert "ran" in capsys.readouterr().out
