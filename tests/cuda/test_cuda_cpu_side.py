"""The CUDA backend as seen from a machine without a GPU (runs everywhere, no marker).

What can be checked here: the extension imports and reports its CUDA build; a CUDA array reaches
the native adapter and, with no usable GPU, gives the op's clear RuntimeError; arrays on two
devices give a ValueError naming the argument; every op that has CPU implementations also lists
CUDA implementations in a CUDA build. (That every CPU op still works in the CUDA-enabled build is
the rest of the test suite, run against this build.) The fake CUDA arrays below carry a made-up
device pointer: on a machine WITH a GPU the tests that would launch a kernel on it are skipped.
"""

import numpy as np
import pytest

from pybench import _native, arrays, ops
from pybench.info import collect, format_info

STATUS = _native.cuda_status()
BUILT = STATUS["built"]
GPU = STATUS["device_count"] > 0
no_gpu_only = pytest.mark.skipif(GPU, reason="a usable GPU is present: a fake device pointer must not reach a kernel")


class FakeCudaArray:
    """The minimum of a CUDA array: __cuda_array_interface__ (v3) with a made-up pointer."""

    def __init__(self, shape, dtype="float32", ptr=0x7F0000000000, readonly=False, strides=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.__cuda_array_interface__ = {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (ptr, readonly),
            "strides": strides,
            "version": 3,
            "stream": 1,
        }


def fake(shape, dtype="float32", ptr=0x7F0000000000, **kw):
    return FakeCudaArray(shape, dtype, ptr, **kw)


def test_extension_imports_and_reports_cuda():
    info = collect()
    assert info["cuda"]["built"] == BUILT
    if BUILT:
        archs = info["build"]["cuda_archs"]
        assert archs and all(a.strip().isdigit() for a in archs.split(","))
        assert "built for sm" in format_info(info)
    if not GPU:
        assert info["cuda"]["reason"]  # says why there is no device
        assert "no usable GPU" in format_info(info) or "not built" in format_info(info)


@no_gpu_only
@pytest.mark.parametrize("call", [
    lambda: ops.relu_forward(fake((4, 3))),
    lambda: ops.relu_forward(fake((4, 3)), out=fake((4, 3), ptr=0x7F0000100000)),
    lambda: ops.softmax_forward(fake((4, 3)), out=fake((4, 3), ptr=0x7F0000100000)),
    lambda: ops.gemm(fake((4, 3)), fake((3, 5), ptr=0x7F0000100000)),
    lambda: ops.mse_forward(fake((4,)), fake((4,), ptr=0x7F0000100000)),
    lambda: ops.dropout_forward(fake((8,)), 0.5, seed=1),
    lambda: ops.conv2d_forward(fake((1, 2, 5, 5)), fake((3, 2, 3, 3), ptr=0x7F0000100000)),
    lambda: ops.max_pool2d_forward(fake((1, 2, 4, 4)), 2),
    lambda: ops.batch_norm_forward(fake((4, 3)), None, None, None, None),
    lambda: ops.adam_step(fake((4,)), fake((4,), ptr=0x7F0000100000), fake((4,), ptr=0x7F0000200000),
                          fake((4,), ptr=0x7F0000300000), step=1),
], ids=["relu", "relu_out", "softmax_out", "gemm", "mse", "dropout", "conv2d", "max_pool2d", "batch_norm", "adam"])
def test_cuda_call_without_gpu_raises_runtime_error(call):
    with pytest.raises(RuntimeError, match=r"^\w+: CUDA (backend not built|device not usable): ") as e:
        call()
    assert STATUS["reason"] in str(e.value)


@no_gpu_only
def test_runtime_error_names_the_op():
    with pytest.raises(RuntimeError, match=r"^sigmoid_backward: CUDA"):
        ops.sigmoid_backward(fake((5,)), fake((5,), ptr=0x7F0000100000))


@pytest.mark.parametrize("call, arg, expected, got", [
    (lambda: ops.relu_backward(np.ones(4, np.float32), fake((4,))), "x", "cpu (the device of dy)", "cuda:0"),
    (lambda: ops.relu_forward(np.ones(4, np.float32), out=fake((4,))), "out", "cpu (the device of x)", "cuda:0"),
    (lambda: ops.gemm(np.ones((2, 3), np.float32), fake((3, 2))), "b", "cpu (the device of a)", "cuda:0"),
    (lambda: ops.linear_forward(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), fake((4,))),
     "bias", "cpu (the device of x)", "cuda:0"),
    (lambda: ops.mse_forward(np.ones(3, np.float32), fake((3,))), "target", "cpu (the device of input)", "cuda:0"),
    (lambda: ops.cross_entropy_forward(np.ones((2, 3), np.float32), fake((2,), "int64")),
     "labels", "cpu (the device of logits)", "cuda:0"),
    (lambda: ops.sgd_step(np.ones(3, np.float32), fake((3,)), lr=0.1), "grad", "cpu (the device of param)", "cuda:0"),
    (lambda: ops.conv2d_forward(np.ones((1, 2, 5, 5), np.float32), fake((3, 2, 3, 3))),
     "weight", "cpu (the device of x)", "cuda:0"),
])
def test_mixed_devices_raise_value_error_naming_the_argument(call, arg, expected, got):
    with pytest.raises(ValueError) as e:
        call()
    msg = str(e.value)
    assert f": {arg}: expected an array on {expected}, got {got}" in msg, msg


def test_cuda_array_validation_happens_before_the_device():
    # Shape / dtype / contiguity errors are the CPU's, for CUDA arrays too (no GPU needed).
    with pytest.raises(TypeError, match="relu_forward: x: expected float32 or float64, got int32"):
        ops.relu_forward(fake((4,), "int32"), out=fake((4,), "int32", ptr=0x7F0000100000))
    with pytest.raises(ValueError, match="relu_forward: x: expected a C-contiguous array"):
        ops.relu_forward(fake((4, 2), strides=(4, 16)), out=fake((4, 2), ptr=0x7F0000100000))
    with pytest.raises(ValueError, match="relu_forward: out: expected a writable array, got a read-only array"):
        ops.relu_forward(fake((4,)), out=fake((4,), ptr=0x7F0000100000, readonly=True))
    with pytest.raises(ValueError, match="relu_forward: out: expected memory not shared with any input"):
        ops.relu_forward(fake((4,)), out=fake((4,), ptr=0x7F0000000004))
    with pytest.raises(TypeError, match="expected a numpy.ndarray or a CUDA array"):
        ops.relu_forward([1.0, 2.0])


@pytest.mark.skipif(not BUILT, reason="this build has no CUDA backend")
def test_every_op_has_cuda_impls():
    # dropout_mask takes a shape, not an array, and returns a NumPy mask: CPU only (the CUDA
    # dropout regenerates the same mask inside its kernel).
    for op in ops.registered_ops():
        if op.startswith("_") or op == "dropout_mask":
            continue
        cuda = ops.impls(op, device="cuda")
        assert cuda and cuda[0] == "naive", (op, cuda)


@pytest.mark.skipif(not BUILT, reason="this build has no CUDA backend")
def test_tf32_is_opt_in():
    for op in ("gemm", "linear_forward", "linear_backward"):
        lst = ops.impls(op, device="cuda")
        assert "tf32" in lst and lst[-1] != "tf32", lst


@pytest.mark.skipif(BUILT, reason="this build has the CUDA backend")
def test_cuda_impls_absent_without_cuda():
    with pytest.raises(ValueError, match="cuda:relu_forward"):
        ops.impls("relu_forward", device="cuda")


def test_impls_device_argument():
    assert ops.impls("relu_forward") == ops.impls("relu_forward", device="cpu")
    with pytest.raises(ValueError, match="impls: device: expected 'cpu' or 'cuda', got 'tpu'"):
        ops.impls("relu_forward", device="tpu")
    assert not any(op.startswith("cuda:") for op in ops.registered_ops())


def test_arrays_adapter_without_cupy_is_numpy_only():
    a = np.arange(3.0)
    assert not arrays.is_cuda_array(a) and arrays.device_of(a) == "cpu"
    assert arrays.asnumpy(a) is a or np.array_equal(arrays.asnumpy(a), a)
    assert arrays.array_module(a) is np
    f = fake((3,))
    assert arrays.is_cuda_array(f) and arrays.device_of(f) == "cuda:0"
    assert arrays.cuda_stream(f) == 1  # the interface's own stream entry (legacy default stream)
    if arrays.cupy() is None:
        assert arrays.cupy_missing_reason().startswith("cupy not installed")
        with pytest.raises(RuntimeError, match="cupy not installed"):
            arrays.to_device(a, "cuda")
    with pytest.raises(ValueError, match="to_device: device"):
        arrays.to_device(a, "gpu")


def test_cuda_op_tests_plumbing_selfcheck(tmp_path):
    """tests/cuda/test_cuda_ops.py with NumPy as the device (CPU against CPU): the GPU tests'
    own argument lists, shapes and comparisons work, so a GPU run tests the kernels, not typos."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import pybench

    here = Path(__file__).resolve().parent
    env = dict(os.environ, PB_CUDA_SELFCHECK="1", PYTHONPATH=str(Path(pybench.__file__).resolve().parent.parent))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(here / "test_cuda_ops.py")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], r.stdout[-500:]
