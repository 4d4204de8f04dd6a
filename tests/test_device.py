"""The device side of the training engine and the DLPack path, as far as a machine without a GPU
can check them (CPU only, no marker): ``Config.device`` validation, run ids of cpu configs
unchanged, the clear failure of ``device="cuda"`` (library and CLI, before any work, nothing
written), ``Module.to("cpu")`` as a no-op, layers admitting CUDA arrays, the device-aware
allocation helpers on NumPy, and ops on DLPack-only producers (real, CPU) against NumPy.

The CUDA half runs in tests/cuda/test_cuda_train.py (marker ``cuda``) on a machine with a GPU.
"""

import glob
import json
import os

import numpy as np
import pytest

from pybench import _native, arrays, cli, nn, ops, train
from pybench.runconfig import Config

from util import DLOnly, assert_bad_call

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU_HERE = arrays.device_unavailable_reason("cuda") == ""
no_gpu_only = pytest.mark.skipif(GPU_HERE, reason="a usable GPU and CuPy are here: the failure path cannot happen")
TINY = dict(dataset="mnist1d", n_train=256, n_test=64, depth=1, width=16, steps=3, batch_size=32, eval_every=3,
            diagnostics=False, profile=False)


# ---- Config.device ----------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:0", "cuda:1", "cuda:12"])
def test_config_accepts_devices(device):
    assert Config(device=device).validate().device == device


@pytest.mark.parametrize("device, exc", [("gpu", ValueError), ("CUDA", ValueError), ("cuda:", ValueError),
                                         ("cuda:-1", ValueError), ("cuda:01", ValueError), ("cuda:x", ValueError),
                                         ("cuda:1:2", ValueError), ("", ValueError), (0, TypeError),
                                         (None, TypeError)])
def test_config_rejects_devices(device, exc):
    frags = ["Config: device"] + (["'cpu', 'cuda' or 'cuda:<N>'", repr(device)] if exc is ValueError else [])
    assert_bad_call(lambda: Config(device=device).validate(), exc, *frags)


def test_run_id_unchanged_for_cpu_configs():
    # the default config's id as main computed it before devices existed, and the stored records
    assert Config().validate().run_id() == "1e7d13e9c302"
    assert Config(device="cpu").validate().run_id() == "1e7d13e9c302"
    assert Config(device="cuda").validate().run_id() not in ("1e7d13e9c302", Config(device="cuda:1").run_id())
    files = sorted(glob.glob(os.path.join(ROOT, "results", "*", "*", "runs", "*.json")))[:40]
    assert files, f"no stored records under {ROOT}/results (they are committed with the repository)"
    for f in files:
        with open(f) as fh:
            rec = json.load(fh)
        assert Config.from_dict(rec["config"]).validate().run_id() == rec["run_id"], f


def test_parse_device():
    assert arrays.parse_device("cpu") == ("cpu", None)
    assert arrays.parse_device("cuda") == ("cuda", 0)
    assert arrays.parse_device("cuda:3") == ("cuda", 3)
    assert_bad_call(lambda: arrays.parse_device("tpu", "Thing.to: device"), ValueError, "Thing.to: device",
                    "'cpu', 'cuda' or 'cuda:<N>'", "'tpu'")
    assert arrays.device_unavailable_reason("cpu") == ""
    assert arrays.device_info("cpu") == {"device": "cpu"}


# ---- the clear failure on an unusable CUDA device ---------------------------------------------------

def _reason():
    st = _native.cuda_status()
    return st["reason"] if st["device_count"] == 0 else arrays.cupy_missing_reason()


@no_gpu_only
def test_train_run_on_cuda_fails_fast(monkeypatch):
    from pybench import data

    def no_work(*a, **kw):
        raise AssertionError("data.load called: the device check must come first")

    monkeypatch.setattr(data, "load", no_work)
    with pytest.raises(RuntimeError) as ei:
        train.run(Config(device="cuda", **TINY))
    msg = str(ei.value)
    assert msg.startswith("train: device 'cuda': ") and _reason() in msg, msg
    with pytest.raises(RuntimeError, match=r"train: device 'cuda:1': "):
        train.run({"device": "cuda:1"})


@no_gpu_only
def test_cli_train_on_cuda_exits_2_with_one_line(tmp_path, capsys):
    out = tmp_path / "rec.json"
    assert cli.main(["train", "--set", "device=cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("pybench train: error: train: device 'cuda': ") and _reason() in err, err
    assert not out.exists()
    assert cli.main(["train", "--device", "cuda:0"]) == 2
    assert "train: device 'cuda:0': " in capsys.readouterr().err


@no_gpu_only
def test_cli_run_on_cuda_exits_2_before_the_sweep(tmp_path, capsys):
    out = tmp_path / "results"
    assert cli.main(["run", "width", "--quick", "--device", "cuda", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pybench run: error: train: device 'cuda': "), err
    assert not out.exists()  # nothing written, not even the directory
    assert cli.main(["run", "width", "--set", "device=cuda", "--out", str(out), "-q"]) == 2
    assert "train: device 'cuda': " in capsys.readouterr().err
    assert not out.exists()


def test_cli_run_device_conflict_and_typo(tmp_path, capsys):
    out = tmp_path / "results"
    assert cli.main(["run", "width", "--device", "cuda", "--set", "device=cpu", "--out", str(out), "-q"]) == 2
    assert "--device cuda: conflicts with --set device=cpu" in capsys.readouterr().err
    assert cli.main(["run", "width", "--device", "gpu", "--out", str(out), "-q"]) == 2
    assert "Config: device: expected 'cpu', 'cuda' or 'cuda:<N>', got 'gpu'" in capsys.readouterr().err
    assert not out.exists()


def test_experiments_pass_the_device_to_every_run():
    from pybench import experiments

    for exp in experiments.all_experiments():
        specs = exp.specs("quick", {"device": "cuda:1"})
        assert specs and all(s.config["device"] == "cuda:1" for s in specs), exp.name
        assert all(s.config["device"] == "cpu" for s in exp.specs("quick")), exp.name


def test_cpu_record_states_its_device():
    rec = train.run(Config(**TINY))
    assert rec["status"] in train.OK_STATUSES, rec.get("error")
    assert rec["provenance"]["device"] == {"device": "cpu"}
    assert rec["config"]["device"] == "cpu"


# ---- models on a device -----------------------------------------------------------------------

def _cnn():
    return nn.cnn((1, 8, 8), 3, 2, 4, norm="batch", dropout=0.25, seed=1)


def test_module_to_cpu_is_a_noop_keeping_identity():
    m = _cnn()
    m.forward(np.zeros((2, 1, 8, 8), np.float32))
    before = [(p.data, p.grad) for p in m.parameters()]
    bufs = [(layer, layer.running_mean, layer.running_var) for layer in m.modules() if hasattr(layer, "running_mean")]
    caches = [dict(layer._cache) for layer in m.modules()]
    assert bufs and m.device == "cpu"
    assert m.to("cpu") is m
    assert all(p.data is d and p.grad is g for p, (d, g) in zip(m.parameters(), before))
    assert all(layer.running_mean is rm and layer.running_var is rv for layer, rm, rv in bufs)
    assert [dict(layer._cache) for layer in m.modules()] == caches  # buffers kept too
    assert_bad_call(lambda: m.to("gpu"), ValueError, "Sequential.to: device", "'gpu'")


@no_gpu_only
def test_module_to_cuda_fails_clearly_and_leaves_the_model_alone():
    m = _cnn()
    data = [p.data for p in m.parameters()]
    with pytest.raises(RuntimeError, match="device 'cuda'"):
        m.to("cuda")
    assert all(p.data is d for p, d in zip(m.parameters(), data)) and m.device == "cpu"


class FakeCuda:
    """A CUDA array as the layers see it (``__cuda_array_interface__``), with a made-up pointer."""

    def __init__(self, shape, dtype=np.float32):
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)
        self.size = int(np.prod(shape))
        self.__cuda_array_interface__ = {"shape": self.shape, "typestr": self.dtype.str,
                                         "data": (0x7F0000000000, False), "strides": None, "version": 3}


@no_gpu_only
@pytest.mark.parametrize("layer, shape", [(lambda: nn.Linear(3, 2), (4, 3)), (lambda: nn.ReLU(), (4, 3)),
                                          (lambda: nn.Conv2d(1, 2, 3), (2, 1, 5, 5)), (lambda: nn.MaxPool2d(2), (2, 1, 4, 4)),
                                          (lambda: nn.BatchNorm1d(3), (4, 3)), (lambda: nn.Dropout(0.5), (4, 3))])
def test_layers_take_cuda_arrays(layer, shape):
    # not the TypeError of a non-array: the CUDA array goes on to allocation / the op, which says
    # plainly that no usable GPU (or CuPy) is here
    with pytest.raises(RuntimeError, match="CUDA|cupy|GPU"):
        layer().forward(FakeCuda(shape))


def test_allocation_helpers_on_numpy():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    e = arrays.empty(a, (4, 5))
    assert type(e) is np.ndarray and e.shape == (4, 5) and e.dtype == np.float64
    assert arrays.empty(a, (2,), np.int64).dtype == np.int64
    assert arrays.empty_like(a).shape == a.shape and arrays.empty_like(a).dtype == a.dtype
    z = arrays.zeros_like(a)
    assert type(z) is np.ndarray and not z.any() and z.dtype == a.dtype
    c = arrays.copy(a)
    assert c is not a and np.array_equal(c, a) and not np.shares_memory(c, a)
    arrays.copyto(z, a)
    assert np.array_equal(z, a)
    assert arrays.to_device(a, "cpu") is a
    assert arrays.is_array(a) and arrays.is_array(FakeCuda((2,))) and not arrays.is_array([1.0])


def test_state_dict_roundtrip_stays_on_the_host():
    m = _cnn()
    sd = m.state_dict()
    assert all(type(v) is np.ndarray for v in sd.values())
    sd2 = {k: v + 1 if v.dtype.kind == "f" else v for k, v in sd.items()}
    m.load_state_dict(sd2)
    assert all(np.array_equal(v, sd2[k]) for k, v in m.state_dict().items())


# ---- DLPack -----------------------------------------------------------------------------------

class CudaDLOnly:
    """A DLPack producer claiming a CUDA device (type 2); exporting it must never be reached here."""

    def __dlpack__(self, **kw):
        raise AssertionError("exported without a usable GPU")

    def __dlpack_device__(self):
        return (2, 0)


def _rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dlpack_cpu_producer_through_ops(dtype):
    x, w, b = _rand(6, 5, dtype=dtype), _rand(4, 5, dtype=dtype, seed=1), _rand(4, dtype=dtype, seed=2)
    img, k = _rand(2, 3, 6, 6, dtype=dtype, seed=3), _rand(4, 3, 3, 3, dtype=dtype, seed=4)
    labels = np.array([0, 3, 1, 2, 3, 0], np.int64)
    cases = [
        (lambda f: ops.relu_forward(f(x)), None),
        (lambda f: ops.gelu_forward(f(x), approximate="tanh"), None),
        (lambda f: ops.linear_forward(f(x), f(w), f(b)), None),
        (lambda f: ops.conv2d_forward(f(img), f(k), None, 1, 1), None),
        (lambda f: ops.max_pool2d_forward(f(img), 2), None),
        (lambda f: ops.batch_norm_forward(f(img), None, None, None, None, True), None),
        (lambda f: ops.softmax_forward(f(x)), None),
        (lambda f: ops.cross_entropy_forward(f(_rand(6, 4, dtype=dtype)), f(labels)), None),
    ]
    for call, _ in cases:
        want, got = call(lambda a: a), call(DLOnly)
        want = want if isinstance(want, tuple) else (want,)
        got = got if isinstance(got, tuple) else (got,)
        for g, wv in zip(got, want):
            if isinstance(wv, float):
                assert g == wv
            else:
                assert type(g) is np.ndarray and g.dtype == wv.dtype and np.array_equal(g, wv)


def test_dlpack_view_is_zero_copy_and_out_writes_through():
    x = _rand(4, 7)
    v = arrays.from_dlpack(DLOnly(x))
    assert type(v) is np.ndarray and np.shares_memory(v, x)
    out = np.full((4, 7), np.nan, np.float32)
    r = ops.relu_forward(DLOnly(x), out=DLOnly(out))
    assert isinstance(r, DLOnly)  # the caller's out object comes back as given
    assert np.array_equal(out, np.maximum(x, 0))
    dx = np.empty_like(x)
    ops.relu_backward(DLOnly(x), DLOnly(x), out=DLOnly(dx))
    assert np.array_equal(dx, ops.relu_backward(x, x))


def test_dlpack_read_only_out_is_refused():
    x = _rand(3, 4)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    assert not arrays.from_dlpack(DLOnly(ro)).flags.writeable
    assert_bad_call(lambda: ops.relu_forward(x, out=DLOnly(ro)), ValueError, "relu_forward", "out", "writable",
                    "read-only")


def test_dlpack_torch_cpu_tensor():
    torch = pytest.importorskip("torch")
    x = _rand(5, 6)
    t = torch.from_numpy(x.copy())
    assert not isinstance(t, np.ndarray) and not hasattr(t, "__cuda_array_interface__")
    y = ops.tanh_forward(t)
    assert type(y) is np.ndarray and np.array_equal(y, ops.tanh_forward(x))
    out = torch.empty(5, 6)
    ops.tanh_forward(t, out=out)
    assert np.array_equal(out.numpy(), ops.tanh_forward(x))


@no_gpu_only
def test_dlpack_cuda_producer_without_gpu_is_a_clear_error():
    x = _rand(2, 3)
    assert_bad_call(lambda: ops.relu_forward(CudaDLOnly()), RuntimeError, "relu_forward: x: a CUDA DLPack array",
                    "usable GPU")
    assert_bad_call(lambda: ops.relu_forward(x, out=CudaDLOnly()), RuntimeError, "relu_forward: out",
                    "usable GPU")
    assert_bad_call(lambda: ops.linear_forward(x, CudaDLOnly()), RuntimeError, "linear_forward: weight", "usable GPU")


def test_dlpack_other_devices_and_non_arrays():
    class Metal(CudaDLOnly):
        def __dlpack_device__(self):
            return (8, 0)

    class Broken:
        def __dlpack__(self, **kw):
            raise AssertionError

        def __dlpack_device__(self):
            raise RuntimeError("no device")

    assert_bad_call(lambda: ops.relu_forward(Metal()), TypeError, "relu_forward: x", "device type 1", "device type 8")
    assert_bad_call(lambda: ops.relu_forward(Broken()), TypeError, "relu_forward: x", "DLPack", "Broken")
    assert_bad_call(lambda: ops.relu_forward([1.0, 2.0]), TypeError, "relu_forward: x",
                    "a numpy.ndarray or a CUDA array", "DLPack", "list")


def test_cuda_train_tests_plumbing_selfcheck(tmp_path):
    """tests/cuda/test_cuda_train.py with the CPU as the device (CPU against CPU, bitwise): the
    GPU tests' own configs, loops and comparisons work, so a GPU run tests the device path."""
    import subprocess
    import sys

    import pybench

    env = dict(os.environ, PB_CUDA_SELFCHECK="1", PYTHONPATH=os.path.dirname(os.path.dirname(pybench.__file__)))
    test = os.path.join(ROOT, "tests", "cuda", "test_cuda_train.py")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], r.stdout[-500:]
