"""Losses, optimizers, clipping, penalties and LR schedules (pybench.nn.loss/optim/schedule)
against pybench.reference, closed forms and, where installed, torch.optim over 100 steps."""

import math

import numpy as np
import pytest

from pybench import reference as ref
from pybench.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, MSELoss, make_loss
from pybench.nn.optim import SGD, AdaGrad, Adam, AdamW, Penalty, RMSprop, clip_grad_norm, make_optimizer
from pybench.nn.schedule import lr_schedule, scale_lr
from util import assert_bad_call, assert_close

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None


class P:
    """A minimal parameter (the optimizers only need .data, .grad and .decay)."""

    def __init__(self, data, decay=True, name="p"):
        self.name, self.data, self.decay = name, data, decay
        self.grad = np.zeros_like(data)


# ------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------

def _onehot(y, c, dtype):
    out = np.zeros((y.size, c), dtype)
    out[np.arange(y.size), y] = 1
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_matches_reference(rng, dtype):
    x = rng.standard_normal((7, 5)).astype(dtype) * 3
    y = rng.integers(0, 5, 7)
    loss = CrossEntropyLoss()
    assert loss(x, y) == pytest.approx(ref.cross_entropy_forward(x, y), rel=1e-6)
    assert_close(loss.backward(), ref.cross_entropy_backward(x, y))
    assert_close(loss.backward(2.5), ref.cross_entropy_backward(x, y, grad=2.5))


@pytest.mark.parametrize("name,kw", [("mse", {}), ("huber", {"delta": 0.7}), ("bce", {})])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_losses_match_reference_with_float_and_integer_targets(rng, name, kw, dtype):
    fwd = {"mse": ref.mse_forward, "huber": ref.huber_forward, "bce": ref.bce_with_logits_forward}[name]
    bwd = {"mse": ref.mse_backward, "huber": ref.huber_backward, "bce": ref.bce_with_logits_backward}[name]
    x = rng.standard_normal((6, 4)).astype(dtype) * 2
    t = rng.random((6, 4)).astype(dtype)
    loss = make_loss(name, **kw)
    assert loss(x, t) == pytest.approx(fwd(x, t, **kw), rel=1e-6)
    assert_close(loss.backward(), bwd(x, t, **kw))
    labels = rng.integers(0, 4, 6)
    onehot = _onehot(labels, 4, dtype)
    assert loss(x, labels) == pytest.approx(fwd(x, onehot, **kw), rel=1e-6)
    assert_close(loss.backward(), bwd(x, onehot, **kw))


def test_loss_buffers_are_reused_while_the_shape_stays(rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    for loss in (CrossEntropyLoss(), MSELoss()):
        loss(x, y)
        g1 = loss.backward()
        loss(x * 2, y)
        g2 = loss.backward()
        assert g2 is g1
        loss(x[:5], y[:5])
        assert loss.backward().shape == (5, 3)


def test_loss_errors(rng):
    x = rng.standard_normal((4, 3))
    assert_bad_call(lambda: make_loss("hinge"), ValueError, "make_loss", "name", "'hinge'")
    assert_bad_call(lambda: CrossEntropyLoss()(x, np.zeros(4)), TypeError, "CrossEntropyLoss", "target", "integer")
    assert_bad_call(lambda: CrossEntropyLoss()(x, np.zeros(3, np.int64)), ValueError, "CrossEntropyLoss", "(4, 3)")
    assert_bad_call(lambda: CrossEntropyLoss()(x.astype(np.int32), np.zeros(4, np.int64)), TypeError, "output")
    assert_bad_call(lambda: MSELoss()(x, np.full(4, 3)), ValueError, "MSELoss", "target", "[0, 3)")
    assert_bad_call(lambda: MSELoss()(x, np.zeros((4, 2))), ValueError, "MSELoss", "(4, 3)", "(4, 2)")
    assert_bad_call(lambda: HuberLoss(delta=0), ValueError, "HuberLoss", "delta")
    assert_bad_call(lambda: BCEWithLogitsLoss().backward(), ValueError, "backward", "forward")


# ------------------------------------------------------------------------------------------------
# optimizers
# ------------------------------------------------------------------------------------------------

def _problem(rng, dtype=np.float64):
    """Two parameters, a weight (decay) and a bias (no decay), and a fixed quadratic target."""
    w = rng.standard_normal((5, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    targets = [rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    noise = rng.standard_normal((100, 5, 4)).astype(dtype) * 0.1
    return [w, b], targets, noise


def _grads(values, targets, noise, t):
    """Gradient of 0.5 |v - target|^2 plus a step-dependent perturbation (a noisy trajectory)."""
    return [values[0] - targets[0] + noise[t, :, :3], values[1] - targets[1] + noise[t, :, 3]]


def _run_ours(name, kw, values, targets, noise, steps=100, lr_fn=None):
    params = [P(values[0].copy(), decay=True), P(values[1].copy(), decay=False)]
    opt = make_optimizer(name, params, **kw)
    for t in range(steps):
        for p, g in zip(params, _grads([p.data for p in params], targets, noise, t)):
            p.grad[...] = g
        if lr_fn:
            opt.lr = lr_fn(t)
        opt.step()
    return [p.data for p in params]


TORCH_CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.5, dampening=0.3)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05)),
    ("rmsprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.02)),
    ("rmsprop", dict(lr=0.01)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05)),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("name,kw", TORCH_CASES)
def test_optimizers_follow_torch_for_100_steps(rng, name, kw):
    values, targets, noise = _problem(rng)
    ours = _run_ours(name, kw, values, targets, noise)
    tp = [torch.tensor(v.copy(), requires_grad=True) for v in values]
    cls = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
           "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    wd = kw.get("weight_decay", 0.01 if name == "adamw" else 0.0)
    groups = [{"params": [tp[0]], "weight_decay": wd}, {"params": [tp[1]], "weight_decay": 0.0}]
    topt = cls(groups, foreach=False, **{k: v for k, v in kw.items() if k != "weight_decay"})
    for t in range(100):
        for p, g in zip(tp, _grads([p.detach().numpy() for p in tp], targets, noise, t)):
            p.grad = torch.from_numpy(np.ascontiguousarray(g))
        topt.step()
    for a, b in zip(ours, tp):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw,step_fn", [
    ("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.01), ref.sgd_step),
    ("adam", dict(lr=0.01, weight_decay=0.05), ref.adam_step),
    ("adamw", dict(lr=0.01, weight_decay=0.1), ref.adamw_step),
])
def test_optimizers_follow_the_reference_and_skip_decay_on_no_decay_params(rng, name, kw, step_fn):
    values, targets, noise = _problem(rng, np.float32)
    lr_fn = lr_schedule("cosine", kw["lr"], 30, warmup_steps=5)
    ours = _run_ours(name, kw, values, targets, noise, steps=30, lr_fn=lr_fn)
    vals = [v.copy() for v in values]
    states = [[np.zeros_like(v) for _ in range(2)] for v in vals]
    for t in range(30):
        for i, (v, g) in enumerate(zip(vals, _grads(vals, targets, noise, t))):
            extra = dict(kw, lr=lr_fn(t), weight_decay=kw["weight_decay"] if i == 0 else 0.0)
            if name == "sgd":
                step_fn(v, g, states[i][0], step=t + 1, **extra)
            else:
                step_fn(v, g, *states[i], step=t + 1, **extra)
    for a, b in zip(ours, vals):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sgd_closed_form_and_state_dict(rng):
    p = P(np.array([1.0, -2.0]))
    opt = SGD([p], lr=0.1, momentum=0.5)
    p.grad[...] = [1.0, 1.0]
    opt.step()  # buf = g; p = p - 0.1 g
    np.testing.assert_allclose(p.data, [0.9, -2.1])
    snap = opt.state_dict()
    opt.step()  # buf = 0.5 buf + g = 1.5
    np.testing.assert_allclose(p.data, [0.75, -2.25])
    opt.load_state_dict(snap)
    assert opt.t == 1 and np.all(opt.state[0]["momentum_buffer"] == 1.0)


def test_optimizer_errors():
    p = [P(np.zeros(3))]
    assert_bad_call(lambda: make_optimizer("lbfgs", p), ValueError, "make_optimizer", "name", "'lbfgs'")
    assert_bad_call(lambda: SGD(p, lr=-1), ValueError, "SGD", "lr", "-1")
    assert_bad_call(lambda: SGD(p, lr=0.1, nesterov=True), ValueError, "SGD", "nesterov", "momentum")
    assert_bad_call(lambda: Adam(p, betas=0.9), ValueError, "Adam", "betas")
    assert_bad_call(lambda: AdaGrad(p, eps=-1), ValueError, "AdaGrad", "eps")
    assert_bad_call(lambda: RMSprop([np.zeros(3)]), TypeError, "RMSprop", "params[0]", "ndarray")
    assert isinstance(make_optimizer("adamw", p), AdamW) and make_optimizer("adamw", p).weight_decay == 0.01


# ------------------------------------------------------------------------------------------------
# clipping and penalties
# ------------------------------------------------------------------------------------------------

def test_clip_grad_norm_closed_form_and_torch(rng):
    ps = [P(np.zeros(2)), P(np.zeros(1))]
    ps[0].grad[...] = [3.0, 0.0]
    ps[1].grad[...] = [4.0]
    assert clip_grad_norm(ps, 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(ps[0].grad, [3.0, 0.0])  # below max_norm: untouched
    assert clip_grad_norm(ps, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([ps[0].grad, ps[1].grad]), np.array([3, 0, 4]) / (5 + 1e-6))
    if torch is not None:
        gs = [rng.standard_normal((4, 3)), rng.standard_normal(4)]
        ps = [P(np.zeros_like(g)) for g in gs]
        for p, g in zip(ps, gs):
            p.grad[...] = g
        tp = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gs]
        for t, g in zip(tp, gs):
            t.grad = torch.from_numpy(g.copy())
        total = torch.nn.utils.clip_grad_norm_(tp, 0.5)
        assert clip_grad_norm(ps, 0.5) == pytest.approx(float(total), rel=1e-12)
        for p, t in zip(ps, tp):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    assert_bad_call(lambda: clip_grad_norm(ps, 0), ValueError, "clip_grad_norm", "max_norm")


def test_penalty_value_and_gradient_only_on_decay_params():
    w, b = P(np.array([[1.0, -2.0], [0.5, 0.0]]), decay=True), P(np.array([3.0, -3.0]), decay=False)
    pen = Penalty([w, b], l1=0.1, l2=0.2)
    assert pen.value() == pytest.approx(0.1 * 3.5 + 0.5 * 0.2 * (1 + 4 + 0.25))
    w.grad[...] = 1.0
    b.grad[...] = 1.0
    pen.add_grad()
    np.testing.assert_allclose(w.grad, 1.0 + 0.1 * np.sign(w.data) + 0.2 * w.data)
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    assert not Penalty([w, b]).active
    assert_bad_call(lambda: Penalty([w], l1=-0.1), ValueError, "Penalty", "l1")


# ------------------------------------------------------------------------------------------------
# schedules
# ------------------------------------------------------------------------------------------------

def test_schedules_closed_forms():
    c = lr_schedule("constant", 0.1, 100, warmup_steps=4)
    assert [c(s) for s in range(6)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    s = lr_schedule("step", 1.0, 100, step_size=10, gamma=0.5)
    assert [s(0), s(9), s(10), s(25)] == pytest.approx([1.0, 1.0, 0.5, 0.25])
    cos = lr_schedule("cosine", 1.0, 110, warmup_steps=10, min_lr=0.1)
    assert cos(9) == pytest.approx(1.0) and cos(10) == pytest.approx(1.0)
    assert cos(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cos(110) == pytest.approx(0.1) and cos(500) == pytest.approx(0.1)
    assert cos(35) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    sw = lr_schedule("step", 1.0, 100, warmup_steps=5, step_size=10)
    assert sw(4) == pytest.approx(1.0) and sw(14) == pytest.approx(1.0) and sw(15) == pytest.approx(0.1)


def test_scale_lr_rules_and_errors():
    assert scale_lr(0.1, 512, 128, "none") == 0.1
    assert scale_lr(0.1, 512, 128, "linear") == pytest.approx(0.4)
    assert scale_lr(0.1, 512, 128, "sqrt") == pytest.approx(0.2)
    assert scale_lr(0.1, 32, 128, "sqrt") == pytest.approx(0.05)
    assert_bad_call(lambda: scale_lr(0.1, 0, 128, "linear"), ValueError, "scale_lr", "batch_size")
    assert_bad_call(lambda: scale_lr(0.1, 8, 128, "cubic"), ValueError, "scale_lr", "rule", "'cubic'")
    assert_bad_call(lambda: lr_schedule("step", 0.1, 10), ValueError, "lr_schedule", "step_size")
    assert_bad_call(lambda: lr_schedule("linear", 0.1, 10), ValueError, "lr_schedule", "name")
    assert_bad_call(lambda: lr_schedule("constant", 0.1, 10, warmup_steps=11), ValueError, "warmup_steps")
    assert_bad_call(lambda: lr_schedule("cosine", 0.1, 10, min_lr=0.2), ValueError, "min_lr")
