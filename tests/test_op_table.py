"""The op tables (csrc/core/op_table.h): every op's implementations come from one table, and what
`impls` / `impl_info` / `resolve_impl` report is that table: names plainest first, only the rows
that run on the active ISA for the dtype, a reason per implementation, a default that runs
everywhere, and a ValueError that says why for a row that does not run here."""

import numpy as np
import pytest

from pybench import _native, ops

DEV = _native.build_info()["dev_kernels"]  # -DPYBENCH_DEV_KERNELS=ON adds the rows of dev/kernels
TWO = ["naive", "vec"]
POOL = ["naive", "fast"]
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu", "hardswish", "softplus")


def expected(op, isa, dtype):
    """impls(op, dtype=dtype) at `isa`: rows that need AVX-512 and float32 only there."""
    wide = isa == "avx512" and dtype == "float32"
    only = lambda *names: list(names) if wide else []  # noqa: E731
    dev = lambda *names: list(names) if DEV else []  # noqa: E731
    if op.endswith(("_forward", "_backward")) and op.rsplit("_", 1)[0] in ACTIVATIONS:
        return ["naive", "vec", "stream"] + only("simd", "lean")
    table = {
        "softmax_forward": ["naive"] + dev("stream") + ["vec"] + only("simd") + (only("lean") if DEV else [])
        + only("online"),
        "softmax_backward": ["naive"] + dev("stream") + ["vec"] + only("simd"),
        "dropout_forward": ["naive", "vec"] + only("stream"),
        "dropout_mask": TWO,
        "copy": ["naive", "parallel", "stream"],
        "gemm": ["naive", "blocked", "packed"],
        "linear_forward": ["naive", "gemm", "smallm"],
        "linear_backward": ["naive", "gemm", "smallm"],
        "conv2d_forward": ["naive", "im2col", "winograd"] + only("direct") + ["fast"],
        "batch_norm_forward": ["naive", "fused", "pipe"],
        "batch_norm_backward": ["naive", "fused"] + dev("pipe") + ["l3"],
    }
    alias = {"log_softmax_forward": "softmax_forward", "log_softmax_backward": "softmax_backward",
             "dropout_backward": "dropout_forward", "conv2d_backward": "conv2d_forward"}
    op = alias.get(op, op)
    if op in table:
        return table[op]
    if op.endswith("_step") or op.split("_")[0] in ("cross", "mse", "huber", "bce"):
        return TWO
    if "pool2d" in op:
        return POOL
    raise KeyError(op)


OPS = [f"{a}_{d}" for a in ACTIVATIONS + ("softmax", "log_softmax") for d in ("forward", "backward")] + \
    [f"{l}_{d}" for l in ("cross_entropy", "mse", "huber", "bce_with_logits", "dropout", "linear", "conv2d",
                          "max_pool2d", "avg_pool2d", "global_avg_pool2d", "batch_norm") for d in ("forward", "backward")] + \
    ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "adamw_step", "dropout_mask", "copy", "gemm"]
CUDA_EXPECTED = {
    **{f"{a}_{d}": ["naive", "vec4"] for a in ACTIVATIONS for d in ("forward", "backward")},
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


def test_every_op_lists_what_runs_here(isa):
    assert sorted(ops.registered_ops()) == sorted(OPS)
    for op in ops.registered_ops():
        for dt in ("float32", "float64"):
            assert ops.impls(op, dtype=dt) == expected(op, isa, dt), (op, dt)
            assert ops.impls(op, dtype=np.dtype(dt)) == ops.impls(op, dtype=getattr(np, dt)) == ops.impls(op, dtype=dt)
        # dtype None: what runs for either (every float64 row also runs for float32)
        assert ops.impls(op) == expected(op, isa, "float32"), op


def test_impl_info_is_the_table(isa):
    for op in ops.registered_ops():
        for dt in (None, "float32", "float64"):
            info = _native.impl_info(op, dtype=dt)
            assert [i["name"] for i in info if i["runs_here"]] == ops.impls(op, dtype=dt), (op, dt)
            assert all(i["why"] for i in info), op
            assert all(i["runs_here"] or i["needs"] for i in info), op  # a row that does not run says what it needs
        defaults = [i for i in _native.impl_info(op) if i["default"]]
        assert defaults and defaults[0]["needs"] == "", op  # the first default runs everywhere
        for dt in ("float32", "float64"):
            # impl=None runs the last listed row (callers such as the benchmarks read impls(op)[-1])
            assert _native.resolve_impl(op, dtype=dt) == ops.impls(op, dtype=dt)[-1], (op, dt)
            for name in ops.impls(op, dtype=dt):
                assert _native.resolve_impl(op, name, dtype=dt) == name


def test_impls_never_list_a_row_that_runs_other_code():
    # the rows that ran another row's code under their name before: listed only where they are themselves
    for isa in ("base", "avx2", "avx512"):
        if ["base", "avx2", "avx512"].index(isa) > ["base", "avx2", "avx512"].index(_native.isa_supported()):
            continue
        before = _native.isa_active()
        try:
            _native.set_isa(isa)
            for op, rows in [("gelu_forward", ("simd", "lean")), ("relu_backward", ("simd", "lean")),
                             ("softmax_forward", ("simd", "online")), ("softmax_backward", ("simd",)),
                             ("dropout_forward", ("stream",)), ("conv2d_forward", ("direct",))]:
                for dt in ("float32", "float64"):
                    listed = set(ops.impls(op, dtype=dt)) & set(rows)
                    assert listed == (set(rows) if isa == "avx512" and dt == "float32" else set()), (op, isa, dt)
        finally:
            _native.set_isa(before)


def _callers(dt):
    """op -> f(impl) on a shape every row handles (conv: one input channel, 3x3, no dx)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 37)).astype(dt)
    img = rng.standard_normal((2, 1, 9, 11)).astype(dt)
    w = rng.standard_normal((4, 1, 3, 3)).astype(dt)
    dy_img = rng.standard_normal((2, 4, 9, 11)).astype(dt)
    calls = {
        **{f"{a}_forward": (lambda impl, a=a: getattr(ops, a + "_forward")(x, impl=impl)) for a in ACTIVATIONS},
        **{f"{a}_backward": (lambda impl, a=a: getattr(ops, a + "_backward")(x, x, impl=impl)) for a in ACTIVATIONS},
        "softmax_forward": lambda impl: ops.softmax_forward(x, impl=impl),
        "log_softmax_forward": lambda impl: ops.log_softmax_forward(x, impl=impl),
        "softmax_backward": lambda impl: ops.softmax_backward(x, ops.softmax_forward(x), impl=impl),
        "log_softmax_backward": lambda impl: ops.log_softmax_backward(x, ops.log_softmax_forward(x), impl=impl),
        "dropout_forward": lambda impl: ops.dropout_forward(x, 0.3, 7, impl=impl),
        "dropout_backward": lambda impl: ops.dropout_backward(x, 0.3, 7, impl=impl),
        "conv2d_forward": lambda impl: ops.conv2d_forward(img, w, padding=1, impl=impl),
        "conv2d_backward": lambda impl: ops.conv2d_backward(dy_img, img, w, padding=1, compute_dx=False,
                                                            impl=impl)[1],
        "copy": lambda impl: _native.copy(x, impl=impl),
        "gemm": lambda impl: ops.gemm(x, x.T.copy(), impl=impl),
    }
    return calls


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_every_listed_impl_runs_and_none_is_the_resolved_one(isa, dt):
    for op, f in _callers(dt).items():
        names = ops.impls(op, dtype=dt)
        for name in names:
            assert f(name) is not None, (op, name)
        # impl=None runs exactly the row resolve_impl names: the same bits
        np.testing.assert_array_equal(f(None), f(_native.resolve_impl(op, dtype=dt)), err_msg=op)


def test_a_row_that_does_not_run_here_is_a_value_error():
    before = _native.isa_active()
    x32 = np.ones((2, 8), np.float32)
    try:
        _native.set_isa("base")  # every x86-64 runs it
        dev = "'stream', " if DEV else ""
        msg = (rf"softmax_forward: impl: expected one that runs here \('naive', {dev}'vec'\), got 'online', which "
               r"needs AVX-512 and float32 \(this CPU runs base, the data is float32\)")
        with pytest.raises(ValueError, match=msg):
            ops.softmax_forward(x32, impl="online")
        with pytest.raises(ValueError, match=msg):
            _native.resolve_impl("softmax_forward", "online")
        with pytest.raises(ValueError, match=r"gelu_forward: impl: .*got 'lean', which needs AVX-512 and float32 "
                                             r"\(this CPU runs base, the data is float64\)"):
            ops.gelu_forward(x32.astype(np.float64), impl="lean")
        with pytest.raises(ValueError, match="dropout_backward: impl: .*got 'stream', which needs AVX-512"):
            ops.dropout_backward(x32, 0.5, 1, impl="stream")
    finally:
        _native.set_isa(before)
    with pytest.raises(ValueError, match=r"softmax_forward: impl: .*got 'simd', which needs AVX-512 and float32 "
                                         r"\(this CPU runs \w+, the data is float64\)"):
        ops.softmax_forward(x32.astype(np.float64), impl="simd")


def test_conv_rows_refuse_shapes_they_do_not_handle():
    x = np.ones((1, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward: impl: expected 'winograd' on 3x3 kernels, stride 1, "
                                         r"dilation 1, groups 1, padding <= 2, got 'winograd' on a 5x5 kernel"):
        ops.conv2d_forward(x, np.ones((3, 2, 5, 5), np.float32), impl="winograd")
    with pytest.raises(ValueError, match=r"conv2d_backward: impl: expected 'winograd' .*got 'winograd' on a 3x3 "
                                         r"kernel, 2 input channel\(s\), stride \(2, 2\)"):
        w = np.ones((3, 2, 3, 3), np.float32)
        ops.conv2d_backward(np.ones((1, 3, 3, 3), np.float32), x, w, stride=2, impl="winograd")
    if "direct" in ops.impls("conv2d_forward", dtype="float32"):
        with pytest.raises(ValueError, match=r"conv2d_forward: impl: expected 'direct' on one input channel.*got "
                                             r"'direct' on a 3x3 kernel, 2 input channel"):
            ops.conv2d_forward(x, np.ones((3, 2, 3, 3), np.float32), impl="direct")
        x1 = np.ones((1, 1, 8, 8), np.float32)
        with pytest.raises(ValueError, match=r"conv2d_backward: impl: expected 'direct' .*dx=None.*with dx"):
            ops.conv2d_backward(np.ones((1, 3, 6, 6), np.float32), x1, np.ones((3, 1, 3, 3), np.float32),
                                impl="direct")


def test_resolve_impl_arguments():
    with pytest.raises(ValueError, match="resolve_impl: dtype: expected 'float32' or 'float64', got int64"):
        _native.resolve_impl("copy", dtype="int64")
    with pytest.raises(ValueError, match="impls: dtype: expected 'float32', 'float64' or None, got int32"):
        _native.impls("copy", dtype=np.int32)
    with pytest.raises(ValueError, match="resolve_impl: device: expected 'cpu' or 'cuda', got 'gpu'"):
        _native.resolve_impl("copy", device="gpu")
    with pytest.raises(ValueError, match="impls: op: expected a registered op name, got 'nope'"):
        _native.resolve_impl("nope")
    with pytest.raises(ValueError, match="copy: impl: expected one of 'naive', 'parallel', 'stream', got 'memcpy'"):
        _native.resolve_impl("copy", "memcpy", dtype="float64")
    with pytest.raises(TypeError):
        _native.resolve_impl("copy", None, "cpu")  # device and dtype are keyword-only


@pytest.mark.skipif(not CUDA_BUILT, reason="this build has no CUDA backend")
def test_cuda_lists():
    for op in ops.registered_ops():
        if op == "dropout_mask":
            with pytest.raises(ValueError, match="cuda:dropout_mask"):
                ops.impls(op, device="cuda")
            continue
        names = ops.impls(op, device="cuda")
        assert names == CUDA_EXPECTED.get(op, ["naive"]), op
        assert ops.impls(op, device="cuda", dtype="float64") == [n for n in names if n != "tf32"], op
        info = _native.impl_info(op, device="cuda")
        assert [i["name"] for i in info if i["default"]] == [names[-1]], op
        assert all(i["why"] for i in info), op
        assert _native.resolve_impl(op, device="cuda", dtype="float64") == names[-1]
    with pytest.raises(ValueError, match=r"cuda:gemm: impl: .*got 'tf32', which needs float32 \(the data is float64\)"):
        _native.resolve_impl("gemm", "tf32", device="cuda", dtype="float64")


@pytest.mark.skipif(CUDA_BUILT, reason="this build has the CUDA backend")
def test_no_cuda_lists_without_cuda():
    with pytest.raises(ValueError, match="cuda:gemm"):
        _native.impl_info("gemm", device="cuda")
    with pytest.raises(ValueError, match="cuda:gemm"):
        _native.resolve_impl("gemm", device="cuda")


def test_unknown_impl_message():
    x = np.ones(3, np.float32)
    before = _native.isa_active()
    try:
        _native.set_isa("base")
        with pytest.raises(ValueError, match="relu_forward: impl: expected one of 'naive', 'vec', 'stream', "
                                             "got 'vec4'"):
            ops.relu_forward(x, impl="vec4")  # a CUDA-only name is unknown on the CPU
    finally:
        _native.set_isa(before)
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
    for impl in ops.impls("dropout_forward", dtype="float32"):
        np.testing.assert_array_equal(_native.dropout_forward(x, 0.5, 3, 0, True, impl=impl), a)


def test_copy_docstring_from_the_table():
    doc = _native.copy.__doc__
    for i in _native.impl_info("copy"):
        assert i["name"] in doc and i["why"] in doc
