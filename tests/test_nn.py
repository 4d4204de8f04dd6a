"""pybench.nn: layers against compositions of pybench.reference, whole-model finite differences,
buffer reuse, train/eval, initializer statistics, builders, FLOPs, state_dict, bad inputs.

Tolerances: float64 layers vs the float64 reference rtol 1e-10 / atol 1e-12 (only summation order
differs); float32 layers vs the reference evaluated in float64 on the same inputs rtol 1e-4 /
atol 1e-5 (float32 GEMM/conv sums and the kernels' float32 fast math, a few ulp). Whole-model
gradients vs central differences (float64, eps 1e-6): rtol 1e-5 / atol 1e-7.
"""

import math

import numpy as np
import pytest

from pybench import nn
from pybench import reference as R

from util import assert_bad_call, numerical_grad

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}
DTYPES = [np.float32, np.float64]


def close(actual, expected, dtype):
    np.testing.assert_allclose(actual, np.asarray(expected, np.float64), **TOL[dtype])


# ---------------------------------------------------------------------------------------------
# one layer vs the reference
# ---------------------------------------------------------------------------------------------

def reference(layer, x, dy):
    """(y, dx, {param name: grad}, {buffer name: value after}) of one training/eval step of `layer`
    from its current state, by pybench.reference in float64."""
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    P = {p.name: p.data.astype(np.float64) for p in layer.parameters()}
    if isinstance(layer, nn.Linear):
        y = R.linear_forward(x, P["weight"], P.get("bias"))
        dx, dw, db = R.linear_backward(dy, x, P["weight"], bias="bias" in P)
        return y, dx, {"weight": dw, "bias": db}, {}
    if isinstance(layer, nn.Conv2d):
        args = (layer.stride, layer.padding, layer.dilation, layer.groups)
        y = R.conv2d_forward(x, P["weight"], P.get("bias"), *args)
        dx, dw, db = R.conv2d_backward(dy, x, P["weight"], *args, bias="bias" in P)
        return y, dx, {"weight": dw, "bias": db}, {}
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        rm, rv = layer.running_mean.astype(np.float64), layer.running_var.astype(np.float64)
        y, m, s = R.batch_norm_forward(x, P.get("weight"), P.get("bias"), rm, rv, layer.training, layer.momentum,
                                       layer.eps)
        dx, dw, db = R.batch_norm_backward(dy, x, P.get("weight"), m, s, layer.training)
        return y, dx, {"weight": dw, "bias": db}, {"running_mean": rm, "running_var": rv}
    if isinstance(layer, nn.Dropout):
        if not layer.training:
            return x, dy, {}, {}
        y = R.dropout_forward(x, layer.p, layer.seed, layer.offset)
        return y, R.dropout_backward(dy, layer.p, layer.seed, layer.offset), {}, {}
    if isinstance(layer, nn.MaxPool2d):
        y, idx = R.max_pool2d_forward(x, layer.kernel_size, layer.stride, layer.padding)
        return y, R.max_pool2d_backward(dy, idx, x.shape), {}, {}
    if isinstance(layer, nn.AvgPool2d):
        a = (layer.kernel_size, layer.stride, layer.padding, layer.count_include_pad)
        return R.avg_pool2d_forward(x, *a), R.avg_pool2d_backward(dy, x.shape, *a), {}, {}
    if isinstance(layer, nn.GlobalAvgPool):
        return R.global_avg_pool2d_forward(x), R.global_avg_pool2d_backward(dy, x.shape), {}, {}
    if isinstance(layer, nn.Flatten):
        return x.reshape(len(x), -1), dy.reshape(x.shape), {}, {}
    if isinstance(layer, nn.Identity):
        return x, dy, {}, {}
    name = layer.op
    kw = {k: v for k, v in vars(layer).items() if k in ("negative_slope", "alpha", "approximate", "beta", "threshold")}
    y = getattr(R, name + "_forward")(x, **kw)
    dx = getattr(R, name + "_backward")(dy, y if name in ("softmax", "log_softmax") else x, **kw)
    return y, dx, {}, {}


def layer_cases(dtype):
    """(layer, per-sample input shape, dy shape from output) for every layer class."""
    r = np.random.default_rng(5)
    cases = [
        (nn.Linear(7, 5, dtype=dtype, rng=r, bias_init="normal(0.5)"), (7,)),
        (nn.Linear(7, 5, bias=False, dtype=dtype, rng=r), (7,)),
        (nn.Conv2d(4, 6, 3, padding=1, dtype=dtype, rng=r, bias_init="uniform(-1,1)"), (4, 7, 8)),
        (nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), dilation=(1, 2), groups=2, bias=False, dtype=dtype,
                   rng=r), (4, 7, 9)),
        (nn.BatchNorm1d(5, dtype=dtype), (5,)),
        (nn.BatchNorm1d(5, affine=False, momentum=0.3, dtype=dtype), (5,)),
        (nn.BatchNorm2d(4, eps=1e-3, dtype=dtype), (4, 5, 6)),
        (nn.BatchNorm2d(4, dtype=dtype).eval(), (4, 5, 6)),
        (nn.Dropout(0.3, seed=7), (3, 5)),
        (nn.Dropout(0.3, seed=7).eval(), (3, 5)),
        (nn.MaxPool2d(2), (3, 7, 8)),
        (nn.MaxPool2d(3, stride=2, padding=1), (3, 7, 8)),
        (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (3, 7, 8)),
        (nn.AvgPool2d((1, 2)), (3, 1, 8)),
        (nn.GlobalAvgPool(), (3, 4, 5)),
        (nn.Flatten(), (3, 4, 5)),
        (nn.Identity(), (3, 4)),
    ]
    cases += [(nn.activation(n), (3, 6)) for n in nn.activation_names() if n != "identity"]
    cases += [(nn.LeakyReLU(0.2), (3, 6)), (nn.ELU(0.7), (3, 6)), (nn.Softplus(2.0, 3.0), (3, 6))]
    return cases


def _bn_state_after(layer):
    return {"running_mean": layer.running_mean, "running_var": layer.running_var} \
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) else {}


def check_step(layer, x, dy, dtype):
    y_ref, dx_ref, g_ref, buf_ref = reference(layer, x, dy)
    y = layer.forward(x).copy()
    dx = layer.backward(dy)
    close(y, y_ref, dtype)
    close(dx, dx_ref, dtype)
    for p in layer.parameters():
        close(p.grad, g_ref[p.name], dtype)
    for k, v in _bn_state_after(layer).items():
        close(v, buf_ref[k], dtype)
    return y


@pytest.mark.parametrize("dtype", DTYPES)
def test_each_layer_matches_reference(dtype):
    rng = np.random.default_rng(0)
    for layer, shape in layer_cases(dtype):
        x = rng.standard_normal((6,) + shape).astype(dtype) * 2
        dy = rng.standard_normal((6,) + layer.output_shape(shape)).astype(dtype)
        y = check_step(layer, x, dy, dtype)
        assert y.dtype == dtype and y.shape == (6,) + layer.output_shape(shape), layer


@pytest.mark.parametrize("dtype", DTYPES)
def test_buffer_reuse_across_batch_sizes(dtype):
    """Outputs live in per-shape buffers: alternating batch sizes must not mix up results."""
    rng = np.random.default_rng(1)
    for layer, shape in layer_cases(dtype):
        for n in (8, 5, 8, 5):
            x = rng.standard_normal((n,) + shape).astype(dtype)
            dy = rng.standard_normal((n,) + layer.output_shape(shape)).astype(dtype)
            check_step(layer, x, dy, dtype)


def test_returned_buffers_are_reused_not_reallocated():
    lin = nn.Linear(4, 3)
    x = np.ones((2, 4), np.float32)
    y1 = lin(x)
    dx1 = lin.backward(np.ones((2, 3), np.float32))
    assert lin(2 * x) is y1 and lin.backward(np.ones((2, 3), np.float32)) is dx1
    np.testing.assert_allclose(y1[0], lin.weight.data.sum(1) * 2 + lin.bias.data, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# train / eval
# ---------------------------------------------------------------------------------------------

def test_batchnorm_train_updates_running_stats_eval_uses_them():
    rng = np.random.default_rng(2)
    bn = nn.BatchNorm2d(3, momentum=0.2, dtype=np.float64)
    x = rng.standard_normal((4, 3, 5, 5)) * 3 + 1
    bn.forward(x)
    m, v = x.mean((0, 2, 3)), x.var((0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean, 0.2 * m, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.8 + 0.2 * v, rtol=1e-12)
    bn.weight.data[:] = [1.0, 2.0, 3.0]
    bn.eval()
    before = bn.state_dict()
    x2 = rng.standard_normal((2, 3, 5, 5))
    y = bn.forward(x2)
    sh = (1, 3, 1, 1)
    rm, rv, w = (a.reshape(sh) for a in (bn.running_mean, bn.running_var, bn.weight.data))
    expect = (x2 - rm) / np.sqrt(rv + 1e-5) * w
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # eval leaves running stats alone
    dx = bn.backward(np.ones_like(x2))
    np.testing.assert_allclose(dx, np.broadcast_to((bn.weight.data / np.sqrt(bn.running_var + 1e-5)).reshape(sh),
                                                   x2.shape), rtol=1e-12)


def test_dropout_modes_offsets_and_mask_reuse():
    rng = np.random.default_rng(3)
    d = nn.Dropout(0.4, seed=11)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    d.eval()
    assert d.forward(x) is x and d.offset == 0
    dy = np.ones_like(x)
    assert d.backward(dy) is dy
    d.train()
    y0 = d.forward(x).copy()
    assert d.offset == x.size
    y1 = d.forward(x).copy()
    assert d.offset == 2 * x.size
    m0, m1 = R.dropout_mask(x.shape, 0.4, 11, 0), R.dropout_mask(x.shape, 0.4, 11, x.size)
    assert not np.array_equal(m0, m1)
    np.testing.assert_allclose(y0, np.where(m0, x / np.float32(0.6), 0), rtol=1e-6)
    np.testing.assert_allclose(y1, np.where(m1, x / np.float32(0.6), 0), rtol=1e-6)
    # backward uses the mask of the latest forward (offset x.size), not the advanced offset
    np.testing.assert_array_equal(d.backward(dy) != 0, m1.astype(bool))
    # replaying: restoring the offset gives the same mask again
    d.load_state_dict({"offset": np.array(0)})
    np.testing.assert_array_equal(d.forward(x), y0)
    # p = 0 is the identity but still advances the offset (state stays comparable across p)
    z = nn.Dropout(0.0)
    assert z.forward(x) is x and z.offset == x.size


def test_model_train_eval_is_recursive():
    m = nn.mlp(6, 3, depth=2, width=4, norm="batch", dropout=0.5)
    m.eval()
    assert all(not layer.training for layer in m.modules())
    assert m.train() is m and all(layer.training for layer in m.modules())


# ---------------------------------------------------------------------------------------------
# whole-model finite differences (float64)
# ---------------------------------------------------------------------------------------------

def fd_check(model, x, with_dx=True):
    """Parameter (and input) gradients of L = sum(model(x) * r) vs central differences; the
    state (BN running stats, dropout offsets) is restored before every evaluation, so each one
    uses the same dropout masks."""
    rng = np.random.default_rng(7)
    params = {p.name for p in model.parameters()}
    state = {k: v for k, v in model.state_dict().items() if k not in params}  # buffers only
    r = rng.standard_normal((len(x),) + model.output_shape())

    def loss():
        model.load_state_dict(state, strict=False)
        return float(np.sum(model.forward(x) * r))

    loss()
    model.compute_dx = with_dx
    dx = model.backward(r)
    for p in model.parameters():
        np.testing.assert_allclose(p.grad, numerical_grad(loss, p.data), rtol=1e-5, atol=1e-7, err_msg=p.name)
    if with_dx:
        np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=1e-5, atol=1e-7, err_msg="dx")


def test_fd_restores_buffers_only():
    m = nn.mlp(3, 2, depth=1, width=2, norm="batch", dropout=0.5)
    keys = {k for k in m.state_dict() if k not in {p.name for p in m.parameters()}}
    assert keys == {"2.running_mean", "2.running_var", "4.offset"}


def test_fd_mlp_batchnorm_dropout(one_thread):
    m = nn.mlp(6, 3, depth=2, width=5, norm="batch", dropout=0.3, activation="tanh", seed=1, dtype=np.float64)
    assert any(isinstance(layer, nn.Dropout) for layer in m.layers)
    x = np.random.default_rng(8).standard_normal((7, 6))
    fd_check(m, x)


def test_fd_cnn_batchnorm_pool_dropout(one_thread):
    m = nn.cnn((2, 6, 6), 3, depth=2, width=3, dropout=0.25, activation="gelu", seed=2, dtype=np.float64)
    assert {type(layer) for layer in m.layers} >= {nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.Dropout}
    x = np.random.default_rng(9).standard_normal((3, 2, 6, 6))
    fd_check(m, x)


def test_fd_cnn_1d_gap_and_compute_dx_false(one_thread):
    m = nn.cnn((1, 1, 12), 4, depth=2, width=2, head="gap", activation="elu", seed=3, dtype=np.float64)
    x = np.random.default_rng(10).standard_normal((4, 1, 1, 12))
    fd_check(m, x, with_dx=False)


# ---------------------------------------------------------------------------------------------
# compute_dx
# ---------------------------------------------------------------------------------------------

def test_compute_dx_false_returns_none_and_skips_dx():
    m = nn.mlp(6, 3, depth=2, width=4, norm="batch")
    assert m.compute_dx is False
    flags = [layer.compute_dx for layer in m.layers]
    assert flags == [False, False] + [True] * (len(m.layers) - 2)  # Flatten, first Linear
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    m.forward(x)
    assert m.backward(np.ones((5, 3), np.float32)) is None
    assert m.layers[1]._ent[1] is None  # the first Linear never allocated (nor computed) a dx
    g_first = m.layers[1].weight.grad.copy()
    assert np.abs(g_first).sum() > 0
    m.compute_dx = True
    assert all(layer.compute_dx for layer in m.layers)
    m.forward(x)
    dx = m.backward(np.ones((5, 3), np.float32))
    assert dx.shape == (5, 6)
    np.testing.assert_array_equal(m.layers[1].weight.grad, g_first)  # same weight grads either way


def test_backward_before_forward_raises():
    for layer in (nn.Linear(2, 2), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm1d(2), nn.Flatten(), nn.Dropout()):
        assert_bad_call(lambda: layer.backward(np.ones((1, 2), np.float32)), RuntimeError, "backward",
                        "before forward")


# ---------------------------------------------------------------------------------------------
# initializers
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["he_normal", "kaiming_normal", "he_uniform", "lecun_normal", "lecun_uniform",
                                  "xavier_normal", "glorot_normal", "xavier_uniform", "kaiming_uniform", "glorot_uniform"])
def test_init_std_matches_formula(spec):
    fan_in, fan_out = 400, 300
    w = nn.Linear(fan_in, fan_out, init=spec, rng=0).weight.data
    std = {"he": math.sqrt(2 / fan_in), "kaiming": math.sqrt(2 / fan_in), "lecun": math.sqrt(1 / fan_in),
           "xavier": math.sqrt(2 / (fan_in + fan_out)), "glorot": math.sqrt(2 / (fan_in + fan_out))}[spec.split("_")[0]]
    assert abs(w.std() / std - 1) < 0.02, (spec, w.std(), std)
    assert abs(w.mean()) < 0.01 * std * 10
    if spec.endswith("uniform"):
        bound = math.sqrt(3) * std
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    else:
        assert np.abs(w).max() > 3.5 * std  # Gaussian tails, not a uniform


def test_conv_fans_follow_pytorch():
    c = nn.Conv2d(8, 16, 3, groups=2, init="xavier_normal", rng=0, dtype=np.float64)
    fan_in, fan_out = 4 * 9, 16 * 9
    assert abs(c.weight.data.std() / math.sqrt(2 / (fan_in + fan_out)) - 1) < 0.05
    big = nn.Conv2d(64, 64, 3, init="he_normal", rng=0)
    assert abs(big.weight.data.std() / math.sqrt(2 / (64 * 9)) - 1) < 0.02


def test_init_constants_and_parameterized():
    assert np.all(nn.Linear(3, 4, init="zeros").weight.data == 0)
    assert np.all(nn.Linear(3, 4, init="ones", bias_init="ones").bias.data == 1)
    assert np.all(nn.Linear(3, 4).bias.data == 0)  # biases start at zero
    w = nn.Linear(500, 400, init="normal(0.01)", rng=1).weight.data
    assert abs(w.std() / 0.01 - 1) < 0.02 and abs(w.mean()) < 1e-3
    u = nn.Linear(500, 400, init="uniform(-0.3, 0.1)", rng=1, dtype=np.float64).weight.data
    assert u.min() >= -0.3 and u.max() < 0.1 and u.min() < -0.299 and u.max() > 0.099
    assert abs(u.mean() + 0.1) < 0.002
    calls = []

    def custom(shape, fan_in, fan_out, rng, dtype):
        calls.append((shape, fan_in, fan_out, dtype))
        return np.full(shape, 0.5)

    c = nn.Conv2d(2, 3, (3, 1), init=custom)
    assert calls == [((3, 2, 3, 1), 6, 9, np.dtype(np.float32))] and np.all(c.weight.data == 0.5)
    assert c.weight.data.dtype == np.float32
    assert nn.init.make(custom) is custom


def test_init_same_seed_same_weights_across_dtypes():
    a = nn.mlp(10, 3, depth=1, width=8, seed=4)
    b = nn.mlp(10, 3, depth=1, width=8, seed=4, dtype=np.float64)
    c = nn.mlp(10, 3, depth=1, width=8, seed=5)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data.astype(np.float32))
    assert not np.array_equal(a.parameters()[0].data, c.parameters()[0].data)


@pytest.mark.parametrize("spec, exc, frag", [
    ("bogus", ValueError, "'bogus'"), ("normal(x)", ValueError, "'normal(x)'"), ("normal(-1)", ValueError, "STD >= 0"),
    ("uniform(1,0)", ValueError, "A <= B"), ("uniform(1)", ValueError, "uniform(1)"), (3, TypeError, "int"),
])
def test_init_spec_errors(spec, exc, frag):
    assert_bad_call(lambda: nn.init.make(spec), exc, "init.make", "spec", "expected", frag)


def test_init_callable_wrong_shape():
    assert_bad_call(lambda: nn.Linear(3, 2, init=lambda s, fi, fo, r, d: np.zeros(3)), ValueError,
                    "Linear", "init", "(2, 3)", "(3,)")


# ---------------------------------------------------------------------------------------------
# builders, counts, FLOPs
# ---------------------------------------------------------------------------------------------

def kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_mlp_structure_and_counts():
    m = nn.mlp(784, 10, depth=2, width=512)
    assert kinds(m) == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert m.num_parameters() == (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10) == 669706
    m2 = nn.mlp((1, 1, 40), 10, depth=3, width=32, norm="batch", dropout=0.1, activation="gelu",
                last_activation="softmax")
    assert kinds(m2) == ["Flatten"] + ["Linear", "BatchNorm1d", "GELU", "Dropout"] * 3 + ["Linear", "Softmax"]
    assert m2.num_parameters() == (40 * 32 + 32 + 64) + 2 * (32 * 32 + 32 + 64) + (32 * 10 + 10)
    assert m2.in_shape == (1, 1, 40) and m2.output_shape() == (10,)
    seeds = [layer.seed for layer in m2.layers if isinstance(layer, nn.Dropout)]
    assert len(set(seeds)) == 3  # independent mask streams per layer
    lin = nn.mlp(5, 2, depth=0, width=7)
    assert kinds(lin) == ["Flatten", "Linear"] and lin.num_parameters() == 12
    assert nn.mlp(4, 2, 1, 3, activation=None).layers[2].op == "identity"


def test_cnn_structure_and_counts():
    c = nn.cnn((1, 28, 28), 10, depth=2, width=16)
    assert kinds(c) == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 2 + ["Flatten", "Linear"]
    conv1, conv2 = 16 * 1 * 9 + 16, 32 * 16 * 9 + 32
    assert c.num_parameters() == conv1 + 32 + conv2 + 64 + (32 * 7 * 7 * 10 + 10) == 20586
    assert c.layers[4].in_channels == 16 and c.layers[4].out_channels == 32
    # 1-D: H = 1, kernels (1, 3), pools (1, 2)
    c1 = nn.cnn((1, 1, 40), 10, depth=2, width=16)
    assert c1.layers[0].kernel_size == (1, 3) and c1.layers[0].padding == (0, 1)
    assert c1.layers[3].kernel_size == (1, 2) and c1.output_shape() == (10,)
    assert c1.num_parameters() == (16 * 3 + 16) + 32 + (32 * 16 * 3 + 32) + 64 + (32 * 10 * 10 + 10) == 4938
    # GAP head
    g = nn.cnn((1, 28, 28), 10, depth=2, width=16, head="gap", dropout=0.5)
    assert kinds(g)[-3:] == ["GlobalAvgPool", "Dropout", "Linear"]
    assert g.num_parameters() == conv1 + 32 + conv2 + 64 + (32 * 10 + 10) == 5226
    # pools stop once the map is 1 pixel; channels stop doubling with them
    s = nn.cnn((3, 4, 4), 5, depth=4, width=2, norm=None, head="flatten")
    assert kinds(s) == ["Conv2d", "ReLU", "MaxPool2d"] * 2 + ["Conv2d", "ReLU"] * 2 + ["Flatten", "Linear"]
    assert [l.out_channels for l in s.layers if isinstance(l, nn.Conv2d)] == [2, 4, 8, 8]
    assert s.layers[-1].in_features == 8 and s.output_shape() == (5,)


def test_cnn_stem_blocks_keep_the_width_and_hand_the_trunk_the_same_map():
    trunk = nn.cnn((1, 8, 8), 10, depth=3, width=16, head="gap")
    stem = nn.cnn((1, 32, 32), 10, depth=3, width=16, head="gap", stem_blocks=2)
    assert [l.out_channels for l in stem.layers if isinstance(l, nn.Conv2d)] == [16, 16, 16, 32, 64]
    assert kinds(stem) == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 5 + ["GlobalAvgPool", "Linear"]
    # each stem block: a 16 -> 16 3x3 conv with bias and BatchNorm's weight and bias; the first block's input is
    # then 16 channels instead of 1
    assert stem.num_parameters() - trunk.num_parameters() == 2 * (16 * 16 * 9 + 16 + 32)
    assert _map_before_head(stem) == _map_before_head(trunk) == (64, 1, 1)
    assert stem.spec["stem_blocks"] == 2 and "stem_blocks" not in trunk.spec  # old specs stay as they were
    with pytest.raises(ValueError, match="stem_blocks"):
        nn.cnn((1, 8, 8), 10, depth=3, width=16, stem_blocks=-1)


def _map_before_head(model):
    shape = tuple(model.in_shape)
    for layer in model.layers:
        if isinstance(layer, (nn.Flatten, nn.GlobalAvgPool)):
            return shape
        shape = layer.output_shape(shape)
    return shape


def test_receptive_field_recurrence():
    assert nn.receptive_field(nn.cnn((1, 28, 28), 10, depth=2, width=4)) == (10, 10)  # 3, +1 pool, +2*2, +1*2
    assert nn.receptive_field(nn.cnn((1, 1, 40), 10, depth=3, width=4)) == (1, 22)    # 1-D: H stays 1
    assert nn.receptive_field(nn.cnn((1, 64, 64), 10, depth=3, width=4, stem_blocks=3)) == (190, 190)
    strided = nn.Sequential([nn.Conv2d(1, 1, (5, 3), stride=2), nn.ReLU(), nn.Conv2d(1, 1, 3, dilation=2)],
                            in_shape=(1, 40, 40))
    assert nn.receptive_field(strided) == (5 + 2 * 2 * 2, 3 + 2 * 2 * 2)
    assert nn.receptive_field(nn.mlp(40, 10, 2, 8)) == (1, 1)


@pytest.mark.parametrize("in_shape,stem", [((1, 1, 96), 0), ((1, 1, 200), 2), ((1, 48, 48), 1)])
def test_receptive_field_is_the_support_of_one_unit(in_shape, stem):
    """With all-ones weights, zero biases and a zero input but for one sample, a unit of the last
    feature map is positive exactly when that sample lies in its receptive field: count them."""
    m = nn.cnn(in_shape, 3, depth=2, width=2, norm=None, head="gap", stem_blocks=stem, dtype=np.float64)
    for layer in m.layers:
        if isinstance(layer, nn.Conv2d):
            layer.weight.data[...] = 1.0
    m.eval()
    feats = m.layers[:[isinstance(l, nn.GlobalAvgPool) for l in m.layers].index(True)]
    _, h, w = _map_before_head(m)
    unit = (h // 2, w // 2)  # a central unit: its window lies inside the input
    n = in_shape[1] * in_shape[2]
    x = np.eye(n).reshape((n,) + in_shape)  # example k: one 1 at the k-th input sample
    for layer in feats:
        x = layer.forward(x)
    rows, cols = np.nonzero((x[:, 0][(slice(None),) + unit] > 0).reshape(in_shape[1:]))
    assert 0 < rows.min() or in_shape[1] == 1  # not clipped by the border
    assert 0 < cols.min() and cols.max() < in_shape[2] - 1
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == nn.receptive_field(m)


def test_models_run_and_repr():
    c = nn.cnn((1, 12, 10), 4, depth=2, width=3, dropout=0.2)
    x = np.random.default_rng(0).standard_normal((3, 1, 12, 10)).astype(np.float32)
    assert c(x).shape == (3, 4) and c.backward(np.ones((3, 4), np.float32)) is None
    text = repr(c)
    assert text.startswith("cnn(in_shape=[1, 12, 10], classes=4, depth=2, width=3")
    assert f"{c.num_parameters():,} parameters" in text and "(0) Conv2d(1, 3, kernel_size=(3, 3)" in text
    assert "Linear(" in repr(nn.mlp(3, 2, 1, 4)) and repr(nn.Linear(3, 2, bias=False)) == "Linear(3, 2, bias=False)"
    names = [p.name for p in c.parameters()]
    assert names[:2] == ["0.weight", "0.bias"] and len(set(names)) == len(names)
    assert [p.decay for p in c.parameters()][:4] == [True, False, False, False]  # conv w, conv b, bn w, bn b
    import json
    json.dumps(c.spec)


def test_flops_linear_and_conv_by_hand():
    lin = nn.Linear(784, 512)
    assert lin.flops((784,)) == 2 * 784 * 512 + 512
    assert lin.flops((784,), backward=True) == 3 * (2 * 784 * 512) + 2 * 512
    lin.compute_dx = False
    assert lin.flops((784,), backward=True) == 2 * (2 * 784 * 512) + 2 * 512
    conv = nn.Conv2d(3, 8, 3, padding=1)
    outputs = 8 * 10 * 10
    assert conv.flops((3, 10, 10)) == 2 * 3 * 9 * outputs + outputs == 44000
    s = nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False)  # 9x9 -> 4x4, 2 input channels per group
    assert s.flops((4, 9, 9)) == 2 * 2 * 9 * 6 * 16
    m = nn.mlp(784, 10, depth=2, width=512)
    macs = 784 * 512 + 512 * 512 + 512 * 10
    elementwise = 2 * 512  # two ReLUs at one nominal FLOP per element
    assert m.flops() == 2 * macs + (512 + 512 + 10) + elementwise
    # training step: dW for all, dx for all but the first Linear, biases twice, ReLU dx once more
    assert m.flops(backward=True) == 2 * macs * 2 + 2 * (macs - 784 * 512) + 2 * (512 + 512 + 10) + 2 * elementwise


# ---------------------------------------------------------------------------------------------
# state_dict
# ---------------------------------------------------------------------------------------------

def test_state_dict_round_trip():
    rng = np.random.default_rng(4)
    a = nn.cnn((1, 8, 8), 3, depth=1, width=4, dropout=0.5, seed=1)
    x = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
    a.forward(x)  # moves BN running stats and the dropout offset
    for p in a.parameters():
        p.data += 0.1
    sd = a.state_dict()
    assert {"1.running_mean", "1.running_var"} <= set(sd) and int(sd["5.offset"]) == x.size
    b = nn.cnn((1, 8, 8), 3, depth=1, width=4, dropout=0.5, seed=1)  # same dropout seeds (not state)
    refs = [p.data for p in b.parameters()]
    b.load_state_dict(sd)
    assert all(p.data is r for p, r in zip(b.parameters(), refs))  # loaded in place
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    np.testing.assert_array_equal(a.forward(x), b.forward(x))  # same masks, same stats
    a.eval(), b.eval()
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    sd["0.weight"][...] = 99  # state_dict returns copies
    assert not np.any(a.layers[0].weight.data == 99)
    bad = dict(sd)
    del bad["0.bias"]
    assert_bad_call(lambda: b.load_state_dict(bad), ValueError, "load_state_dict", "missing", "0.bias")
    bad = dict(sd, **{"0.weight": np.zeros((1, 1))})
    assert_bad_call(lambda: b.load_state_dict(bad), ValueError, "load_state_dict", "0.weight", "(4, 1, 3, 3)")


# ---------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, exc, frags", [
    (lambda: nn.mlp(4, 2, depth=-1, width=3), ValueError, ["mlp: depth", "expected an int >= 0", "got -1"]),
    (lambda: nn.mlp(4, 2, depth=1, width=0), ValueError, ["mlp: width", ">= 1", "got 0"]),
    (lambda: nn.mlp(4, 2, depth=1.5, width=3), TypeError, ["mlp: depth", "got 1.5"]),
    (lambda: nn.mlp(4, 2, 1, 3, activation="relu6"), ValueError, ["mlp: activation", "'relu'", "got 'relu6'"]),
    (lambda: nn.mlp(4, 2, 1, 3, last_activation="soft"), ValueError, ["mlp: last_activation", "got 'soft'"]),
    (lambda: nn.mlp(4, 2, 1, 3, init="he"), ValueError, ["mlp: init", "'he_normal'", "got 'he'"]),
    (lambda: nn.mlp(4, 2, 1, 3, norm="layer"), ValueError, ["mlp: norm", "'batch'", "got 'layer'"]),
    (lambda: nn.mlp(4, 2, 1, 3, dropout=1.0), ValueError, ["mlp: dropout", "[0, 1)", "got 1.0"]),
    (lambda: nn.mlp(4, 2, 1, 3, dtype=np.int32), TypeError, ["mlp: dtype", "float32 or float64"]),
    (lambda: nn.cnn((28, 28), 10, 2, 16), ValueError, ["cnn: in_shape", "(C, H, W)", "(28, 28)"]),
    (lambda: nn.cnn((1, 28, 28), 10, 2, 16, kernel_size=4), ValueError, ["cnn: kernel_size", "odd", "got 4"]),
    (lambda: nn.cnn((1, 28, 28), 10, 2, 16, head="avg"), ValueError, ["cnn: head", "'gap'", "got 'avg'"]),
    (lambda: nn.cnn((1, 28, 28), 10, -2, 16), ValueError, ["cnn: depth", "got -2"]),
    (lambda: nn.activation("swish"), ValueError, ["activation: name", "'silu'", "got 'swish'"]),
    (lambda: nn.Linear(0, 3), ValueError, ["Linear: in_features", "got 0"]),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError, ["Conv2d: groups", "got 4"]),
    (lambda: nn.Dropout(1.5), ValueError, ["Dropout: p", "[0, 1]", "1.5"]),
    (lambda: nn.BatchNorm1d(3, momentum=2), ValueError, ["BatchNorm1d: momentum", "got 2"]),
    (lambda: nn.GELU("fast"), ValueError, ["GELU: approximate", "'tanh'", "'fast'"]),
])
def test_bad_arguments(call, exc, frags):
    assert_bad_call(call, exc, *frags)


def test_bad_forward_inputs():
    lin = nn.Linear(4, 3)
    assert_bad_call(lambda: lin.forward(np.ones((2, 4))), TypeError, "Linear(4, 3).forward", "x", "float32",
                    "float64")
    assert_bad_call(lambda: lin.forward(np.ones((2, 5), np.float32)), ValueError, "Linear(4, 3)", "(N, 4)", "(2, 5)")
    assert_bad_call(lambda: lin.forward([[1.0] * 4]), TypeError, "Linear(4, 3)", "numpy.ndarray", "list")
    conv = nn.Conv2d(3, 2, 3, dtype=np.float64)
    assert_bad_call(lambda: conv.forward(np.ones((1, 2, 5, 5))), ValueError, "Conv2d(3, 2", "(N, 3, H, W)",
                    "(1, 2, 5, 5)")
    assert_bad_call(lambda: conv.forward(np.ones((1, 3, 5, 5), np.float32)), TypeError, "Conv2d", "float64",
                    "float32")
    assert_bad_call(lambda: conv.forward(np.ones((1, 3, 2, 2))), ValueError, "Conv2d", "(3, 2, 2)")
    bn = nn.BatchNorm2d(3)
    assert_bad_call(lambda: bn.forward(np.ones((2, 3), np.float32)), ValueError, "BatchNorm2d(3)", "(N, C, H, W)")
    assert_bad_call(lambda: nn.ReLU().forward(np.ones(3, np.int32)), TypeError, "ReLU()", "float32 or float64",
                    "int32")
    assert_bad_call(lambda: nn.MaxPool2d(2).forward(np.ones((2, 3), np.float32)), ValueError, "MaxPool2d",
                    "(N, C, H, W)", "(2, 3)")
    assert_bad_call(lambda: nn.Flatten().forward(np.ones((4, 3), np.float32).T), ValueError, "Flatten",
                    "C-contiguous")
    m = nn.mlp(4, 2, 1, 3, dtype=np.float64)
    assert_bad_call(lambda: m.forward(np.ones((2, 4), np.float32)), TypeError, "Linear(4, 3", "float64", "float32")
    assert_bad_call(lambda: m.output_shape((5,)), ValueError, "Linear(4, 3", "in_shape", "(4,)", "(5,)")


def test_model_alternating_batch_sizes_gives_same_results():
    m = nn.cnn((2, 6, 6), 3, depth=2, width=3, seed=4, dtype=np.float64)
    m.compute_dx = True
    rng = np.random.default_rng(11)
    xa, xb = rng.standard_normal((8, 2, 6, 6)), rng.standard_normal((5, 2, 6, 6))
    ra, rb = rng.standard_normal((8, 3)), rng.standard_normal((5, 3))

    def step(x, r):
        y = m.forward(x).copy()
        dx = m.backward(r).copy()
        return y, dx, [p.grad.copy() for p in m.parameters()]

    first = step(xa, ra)
    other = step(xb, rb)
    again = step(xa, ra)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    for g1, g2, g3 in zip(first[2], again[2], other[2]):
        np.testing.assert_array_equal(g1, g2)
        assert not np.array_equal(g1, g3)


def test_activation_factory():
    assert isinstance(nn.activation(None), nn.Identity) and isinstance(nn.activation("identity"), nn.Identity)
    assert nn.activation("gelu_tanh").approximate == "tanh" and nn.activation("gelu").approximate == "none"
    assert nn.activation("leaky_relu", negative_slope=0.2).negative_slope == 0.2
    expected = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                "silu": nn.SiLU, "hardswish": nn.Hardswish, "softplus": nn.Softplus}
    for name, cls in expected.items():
        layer = nn.activation(name)
        assert type(layer) is cls and layer.op == name
    assert nn.activation("relu") is not nn.activation("relu")  # fresh layers (own buffers)
    assert_bad_call(lambda: nn.activation("relu", alpha=1), TypeError, "activation", "'relu'")
    assert_bad_call(lambda: nn.activation(3), TypeError, "activation: name", "int")


def test_layer_compute_dx_false_returns_none():
    x = np.ones((2, 3, 4, 4), np.float32)
    for layer in (nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d(2), nn.GlobalAvgPool(), nn.Flatten(), nn.Identity(),
                  nn.Dropout(0.5), nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1)):
        y = layer.forward(x)
        layer.compute_dx = False
        assert layer.backward(np.ones_like(y)) is None, layer


def test_release_buffers_and_bounded_cache():
    m = nn.mlp(4, 2, depth=1, width=3, dropout=0.5)
    for n in range(1, 10):  # more distinct batch sizes than the cache keeps
        m.forward(np.ones((n, 4), np.float32))
    assert all(len(layer._cache) <= 6 for layer in m.layers)
    y = m.forward(np.ones((3, 4), np.float32)).copy()
    m.release_buffers()
    assert all(not layer._cache for layer in m.layers)
    assert_bad_call(lambda: m.backward(np.ones((3, 2), np.float32)), RuntimeError, "before forward")
    m.eval()
    np.testing.assert_array_equal(m.forward(np.ones((3, 4), np.float32)).shape, y.shape)
