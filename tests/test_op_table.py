"""The op tables (csrc/core/op_table.h): every op's implementations come from one table, and what
`impls` / `impl_info` report is that table: names plainest first, one default per device, a reason
per implementation, the same error for an unknown name."""

import numpy as np
import pytest

from pybench import _native, ops

ACT = ["naive", "vec", "stream", "simd", "lean"]
TWO = ["naive", "vec"]
POOL = ["naive", "fast"]
CONV = ["naive", "im2col", "winograd", "direct", "fast"]
# The lists as they were when each op registered its names by position: order and names are public.
EXPECTED = {
    **{f"{a}_{d}": ACT for a in ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu", "softplus")
       for d in ("forward", "backward")},
    "softmax_forward": ["naive", "stream", "vec", "simd", "lean", "online"],
    "log_softmax_forward": ["naive", "stream", "vec", "simd", "lean", "online"],
    "softmax_backward": ["naive", "stream", "vec", "simd", "lean"],
    "log_softmax_backward": ["naive", "stream", "vec", "simd", "lean"],
    **{f"{l}_{d}": TWO for l in ("cross_entropy", "mse", "huber", "bce_with_logits") for d in ("forward", "backward")},
    **{op: TWO for op in ("sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "adamw_step")},
    "dropout_forward": ["naive", "vec", "stream"],
    "dropout_backward": ["naive", "vec", "stream"],
    "dropout_mask": TWO,
    "copy": ["naive", "parallel", "stream"],
    "gemm": ["naive", "blocked", "packed"],
    "linear_forward": ["naive", "gemm", "smallm"],
    "linear_backward": ["naive", "gemm", "smallm"],
    "conv2d_forward": CONV,
    "conv2d_backward": CONV,
    **{f"{p}_{d}": POOL for p in ("max_pool2d", "avg_pool2d", "global_avg_pool2d") for d in ("forward", "backward")},
    "batch_norm_forward": ["naive", "fused", "pipe"],
    "batch_norm_backward": ["naive", "fused", "pipe", "l3"],
}
CUDA_EXPECTED = {
    **{f"{a}_{d}": ["naive", "vec4"] for a in ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu",
                                                "softplus") for d in ("forward", "backward")},
    **{f"{s}_{d}": ["naive", "warp"] for s in ("softmax", "log_softmax") for d in ("forward", "backward")},
    "dropout_forward": ["naive", "vec4"],
    "dropout_backward": ["naive", "vec4"],
    "copy": ["naive", "memcpy"],
    "gemm": ["naive", "tf32", "tiled"],
    "linear_forward": ["naive", "tf32", "tiled"],
    "linear_backward": ["naive", "tf32", "tiled"],
    "conv2d_forward": ["naive", "igemm"],
    "conv2d_backward": ["naive", "igemm"],
    "global_avg_pool2d_forward": ["naive", "warp"],
}
CUDA_BUILT = _native.cuda_status()["built"]


def test_every_op_lists_what_it_did():
    assert sorted(ops.registered_ops()) == sorted(EXPECTED)
    for op, names in EXPECTED.items():
        assert ops.impls(op) == names, op


def test_impl_info_is_the_table():
    for op in ops.registered_ops():
        info = _native.impl_info(op)
        assert [i["name"] for i in info] == ops.impls(op)
        assert all(i["why"] for i in info), op
        defaults = [i["name"] for i in info if i["default"]]
        # one default, today the last (callers such as the benchmarks read impls(op)[-1])
        assert defaults == [ops.impls(op)[-1]], op


@pytest.mark.skipif(not CUDA_BUILT, reason="this build has no CUDA backend")
def test_cuda_lists():
    for op in ops.registered_ops():
        if op == "dropout_mask":
            with pytest.raises(ValueError, match="cuda:dropout_mask"):
                ops.impls(op, device="cuda")
            continue
        names = ops.impls(op, device="cuda")
        assert names == CUDA_EXPECTED.get(op, ["naive"]), op
        info = _native.impl_info(op, device="cuda")
        assert [i["name"] for i in info if i["default"]] == [names[-1]], op
        assert all(i["why"] for i in info), op


@pytest.mark.skipif(CUDA_BUILT, reason="this build has the CUDA backend")
def test_no_cuda_lists_without_cuda():
    with pytest.raises(ValueError, match="cuda:gemm"):
        _native.impl_info("gemm", device="cuda")


def test_unknown_impl_message():
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="relu_forward: impl: expected one of 'naive', 'vec', 'stream', 'simd', "
                                         "'lean', got 'vec4'"):
        ops.relu_forward(x, impl="vec4")  # a CUDA-only name is unknown on the CPU
    with pytest.raises(ValueError, match="copy: impl: expected one of 'naive', 'parallel', 'stream', got 'memcpy'"):
        _native.copy(x, impl="memcpy")
    with pytest.raises(ValueError, match="impl_info: device: expected 'cpu' or 'cuda', got 'gpu'"):
        _native.impl_info("copy", device="gpu")
    with pytest.raises(ValueError, match="impls: op: expected a registered op name, got 'nope'"):
        _native.impl_info("nope")


def test_shared_tables_run_their_own_entries():
    # adam and adamw, softmax and log_softmax, forward and backward dropout share a table; the
    # entry picked by name is the one run: naive and the default agree to rounding.
    x = np.linspace(-3, 3, 37).astype(np.float32)
    for name in ("softmax", "log_softmax"):
        f = getattr(ops, name + "_forward")
        np.testing.assert_allclose(f(x, impl="naive"), f(x), rtol=1e-5, atol=1e-6)
    a = _native.dropout_forward(x, 0.5, 3, 0, True, impl="naive")
    for impl in ops.impls("dropout_forward"):
        np.testing.assert_array_equal(_native.dropout_forward(x, 0.5, 3, 0, True, impl=impl), a)


def test_copy_docstring_from_the_table():
    doc = _native.copy.__doc__
    for i in _native.impl_info("copy"):
        assert i["name"] in doc and i["why"] in doc
