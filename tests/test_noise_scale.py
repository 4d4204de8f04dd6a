"""The gradient noise scale (pybench.diagnostics): the estimator against analytic values (linear
least squares with Gaussian label noise, through the real NoiseScale on a pybench model), the
reduction (step 0 left out, EMA of each term, then the ratio), the at-target and matched-loss
reductions on synthetic histories, and the jackknife uncertainty (~3 s)."""

import math

import numpy as np
import pytest

from pybench import nn
from pybench.diagnostics import (EMA_DECAY, NoiseCurve, NoiseScale, common_loss_level, estimates, history_curve,
                                 leave_one_out, reduce_estimates)
from pybench.nn.loss import MSELoss


def _batch_gradients(rng, g, sigma_diag, b, k):
    """K minibatch-mean gradients at batch b: G plus Gaussian noise of covariance Sigma / b."""
    return g + rng.standard_normal((k, len(g))) * np.sqrt(sigma_diag / b)


def _per_batch(gs):
    mean = gs.mean(axis=0)
    return [float(v) for v in (gs ** 2).sum(axis=1)], [float(v) for v in gs @ mean]


# ------------------------------------------------------------------------------------------------
# the estimator
# ------------------------------------------------------------------------------------------------

def test_linear_least_squares_estimates_match_the_analytic_values():
    # y = w*.x + eps, x ~ N(0, I_d), eps ~ N(0, s^2), loss mean (w.x - y)^2 at w = w* + delta: the
    # per-example gradient 2 (delta.x - eps) x has |G|^2 = 4 |delta|^2 and
    # tr(Sigma) = 4 ((d + 1) |delta|^2 + s^2 d) (Gaussian fourth moments).
    d, s, n, b, k = 4, 0.5, 400_000, 16, 16
    rng = np.random.default_rng(0)
    w_star, delta = rng.standard_normal(d), np.full(d, 0.5)
    x = rng.standard_normal((n, d))
    y = (x @ w_star + s * rng.standard_normal(n))[:, None]
    model = nn.Sequential(nn.Linear(d, 1, bias=False, dtype=np.float64))
    model.parameters()[0].data[...] = w_star + delta
    g2_true = 4 * delta @ delta
    tr_true = 4 * ((d + 1) * delta @ delta + s ** 2 * d)

    ns = NoiseScale(model, MSELoss(), x, y, b, k, np.random.default_rng(1))
    raw = [ns(step) for step in range(1, 301)]
    assert np.mean([v["g2"] for v in raw]) == pytest.approx(g2_true, rel=0.1)
    assert np.mean([v["trace_sigma"] for v in raw]) == pytest.approx(tr_true, rel=0.1)
    assert all(v["sq_norms"] and len(v["dots"]) == k for v in raw)
    s = ns.summary(target_step=150)
    assert s["evaluations"] == 300 and s["ema_decay"] == EMA_DECAY and s["at_target"]["step"] == 150
    assert 0 < s["b_simple_se"] < math.inf
    assert abs(s["b_simple"] - tr_true / g2_true) < 3 * s["b_simple_se"]  # the EMA holds ~19 estimates' worth


def test_estimator_is_unbiased_on_synthetic_gradients_and_leave_one_out_is_the_same_estimator():
    rng = np.random.default_rng(3)
    g = rng.standard_normal(30)
    g *= 2 / np.linalg.norm(g)                 # |G|^2 = 4
    sigma = rng.uniform(0.5, 1.5, 30) * 3      # tr(Sigma) = sum
    b, k = 8, 6
    est = np.array([estimates(*_per_batch(_batch_gradients(rng, g, sigma, b, k)), b) for _ in range(4000)])
    assert est.mean(axis=0) == pytest.approx([4.0, sigma.sum()], rel=0.05)
    gs = _batch_gradients(rng, g, sigma, b, k)
    sq, dots = _per_batch(gs)
    for j, loo in enumerate(leave_one_out(sq, dots, b)):
        assert loo == pytest.approx(estimates(*_per_batch(np.delete(gs, j, axis=0)), b), rel=1e-9)
    assert leave_one_out(sq[:2], dots[:2], b) == []  # two gradients: nothing left to spread


# ------------------------------------------------------------------------------------------------
# the reduction on synthetic histories
# ------------------------------------------------------------------------------------------------

def _entries(rows):
    return [{"step": s, "train_loss": loss, "g2": g2, "trace_sigma": tr} for s, loss, g2, tr in rows]


def test_the_initialization_never_enters_an_average():
    rows = [(10, 2.0, 1.0, 50.0), (20, 1.5, 0.5, 60.0), (30, 1.0, 0.4, 80.0)]
    with0 = _entries([(0, None, 100.0, 500.0)] + rows)
    c0, c = NoiseCurve(with0, 8), NoiseCurve(_entries(rows), 8)
    assert c0.n == 3 and c0.steps == [10, 20, 30] and c0.b_simple == c.b_simple
    assert c0.at_step(0) is None and c0.at_step(5) is None and c0.at_step(10)["b_simple"] == 50.0
    summary = reduce_estimates(with0, 8, 4, target_step=0)
    assert summary["evaluations"] == 3 and summary["at_target"] is None
    # a history whose only estimate is the initialization has no value at all
    assert reduce_estimates(with0[:1], 8, 4)["b_simple"] is None


def test_each_term_is_smoothed_and_then_divided():
    rows = [(1, 2.0, 1.0, 10.0), (2, 1.5, 4.0, 10.0), (3, 1.0, 2.0, 40.0)]
    c = NoiseCurve(_entries(rows), 8, decay=0.5)
    w = np.array([0.25, 0.5, 1.0]) / 1.75
    assert c.g2[-1] == pytest.approx(w @ [1, 4, 2]) and c.trace[-1] == pytest.approx(w @ [10, 10, 40])
    assert c.final()["b_simple"] == pytest.approx((w @ [10, 10, 40]) / (w @ [1, 4, 2]))
    assert c.final()["b_simple"] != pytest.approx(w @ [10, 2.5, 20])  # not the EMA of the ratios
    # bias-corrected: the first smoothed value is the first estimate, not pulled towards 0
    assert (c.g2[0], c.trace[0]) == (1.0, 10.0)
    # the smoothed |G|^2 below zero has no ratio
    assert NoiseCurve(_entries([(1, 1.0, -1.0, 10.0)]), 8).b_simple == [None]


def test_at_target_and_at_a_training_loss_level():
    # constant |G|^2 = 1, tr(Sigma) = 100 * step: the smoothed ratio is known at every step
    rows = [(s, loss, 1.0, 100.0 * s) for s, loss in ((1, 2.0), (2, 1.2), (3, 0.9), (4, 1.0), (5, 0.5))]
    c = NoiseCurve(_entries(rows), 8, decay=0.0)  # no memory: the smoothed values are the raw ones
    assert c.at_step(3)["b_simple"] == 300 and c.at_step(100)["b_simple"] == 500 and c.final()["step"] == 5
    # level 1.0 is first crossed between steps 2 (1.2) and 3 (0.9): linear in log loss
    a = math.log(1.2 / 1.0) / math.log(1.2 / 0.9)
    got = c.at_loss(1.0)
    assert got["b_simple"] == pytest.approx(200 + a * 100) and got["steps"] == [2, 3]
    assert c.at_loss(0.9)["b_simple"] == pytest.approx(300)     # reached exactly at an evaluation
    assert c.at_loss(0.1) is None                                # never reached
    assert c.at_loss(3.0) is None                                # below it at the first evaluation after init
    other = NoiseCurve(_entries([(1, 2.5, 1.0, 10.0), (2, 0.8, 1.0, 10.0)]), 8)
    assert common_loss_level([c, other]) == 0.8                  # the lowest level both reach
    assert common_loss_level([c, NoiseCurve(_entries([(1, None, 1.0, 1.0)]), 8)]) is None


def test_history_curve_reads_a_record_and_skips_evaluations_without_estimates():
    hist = [{"step": 0, "train_loss": None, "noise_scale": {"g2": 9.0, "trace_sigma": 9.0}},
            {"step": 5, "train_loss": 1.0, "noise_scale": {"g2": 2.0, "trace_sigma": 50.0}},
            {"step": 10, "train_loss": 0.8, "noise_scale": {"g2": None, "trace_sigma": None}},
            {"step": 15, "train_loss": 0.7, "noise_scale": None}]
    c = history_curve({"history": hist, "config": {"batch_size": 16}})
    assert c.steps == [5] and c.b == 16 and c.final()["b_simple"] == 25.0
    assert c.final()["b_simple_se"] is None  # no per-batch values in this record: no jackknife
    assert history_curve({"history": [], "config": {"batch_size": 16}}) is None


# ------------------------------------------------------------------------------------------------
# the jackknife
# ------------------------------------------------------------------------------------------------

def _curve(rng, k, n=8, b=64):
    g = np.full(20, math.sqrt(1 / 20))   # |G|^2 = 1
    sigma = np.full(20, 2.5)             # tr(Sigma) = 50
    entries = []
    for s in range(1, n + 1):
        sq, dots = _per_batch(_batch_gradients(rng, g, sigma, b, k))
        g2, tr = estimates(sq, dots, b)
        entries.append({"step": s, "train_loss": 1.0 / s, "g2": g2, "trace_sigma": tr, "sq_norms": sq, "dots": dots})
    return NoiseCurve(entries, b)


def test_the_jackknife_error_is_finite_matches_the_scatter_and_shrinks_with_more_batches():
    rng = np.random.default_rng(7)
    few = [_curve(rng, 4).final() for _ in range(400)]
    many = [_curve(rng, 16).final() for _ in range(400)]
    for runs in (few, many):
        assert all(r["b_simple_se"] is not None and 0 < r["b_simple_se"] < math.inf for r in runs)
        scatter = np.std([r["b_simple"] for r in runs])
        assert np.median([r["b_simple_se"] for r in runs]) == pytest.approx(scatter, rel=0.35)
    assert np.median([r["b_simple_se"] for r in many]) < 0.7 * np.median([r["b_simple_se"] for r in few])
    # an interpolated value carries one too
    c = _curve(rng, 8)
    assert 0 < c.at_loss(0.3)["b_simple_se"] < math.inf
