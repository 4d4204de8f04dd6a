"""The training engine: end-to-end agreement with a plain-NumPy reference training, a whole-model
finite-difference check, the run record (history, statuses, early stopping, target, throughput,
breakdown, diagnostics, noise scale), determinism, and Config errors.

Runs use threads=1: on the shared 2-core machines a second OpenMP thread that gets descheduled
makes steps 10-100x slower, and results do not depend on the thread count anyway.
"""

import copy
import json
import math
import sys

import numpy as np
import pytest

from pybench import data, nn, train
from pybench.diagnostics import NoiseScale, estimates
from pybench.nn.loss import CrossEntropyLoss
from pybench.nn.optim import SGD
from pybench.train import Config, run, train_step
from ref_model import RefNet
from util import assert_bad_call, numerical_grad

FAST = dict(dataset="mnist1d", threads=1, batch_size=64, depth=1, width=64, optimizer="sgd", lr=0.05, momentum=0.9)


def _run(**kw):
    return run(Config(**dict(FAST, **kw)))


# ------------------------------------------------------------------------------------------------
# proof: pybench's training == the same training in plain NumPy (pybench.reference), float64
# ------------------------------------------------------------------------------------------------

def _follow_reference(model, x_pool, y_pool, *, steps=50, batch=16, lr=0.05, momentum=0.9, weight_decay=1e-3):
    refnet = RefNet(model)
    loss_fn = CrossEntropyLoss()
    opt = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    rng = np.random.default_rng(7)
    ours, theirs = [], []
    for _ in range(steps):
        idx = rng.choice(len(x_pool), batch, replace=False)
        xb, yb = np.ascontiguousarray(x_pool[idx]), y_pool[idx]
        ours.append(train_step(model, loss_fn, opt, xb, yb))
        theirs.append(refnet.step(xb, yb, lr=lr, momentum=momentum, weight_decay=weight_decay))
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)
    assert ours[-1] < ours[0]  # it trained
    # 1e-8 relative to the model's parameter scale: a bias feeding a BatchNorm has a zero true
    # gradient, its values are rounding noise (~1e-17) that no elementwise rtol can compare
    scale = max(np.abs(r).max() for r in refnet.params())
    for p, r in zip(model.parameters(), refnet.params()):
        np.testing.assert_allclose(p.data, r, rtol=1e-8, atol=1e-8 * scale, err_msg=p.name)
    for layer, d in zip(model.layers, refnet.layers):
        if d["kind"].startswith("BatchNorm"):
            np.testing.assert_allclose(layer.running_var, d["running_var"], rtol=1e-8)
        if d["kind"] == "Dropout":
            assert layer.offset == d["offset"]


def test_mlp_with_batchnorm_and_dropout_follows_the_numpy_reference_for_50_steps(rng):
    model = nn.mlp((1, 1, 40), 10, depth=2, width=32, norm="batch", dropout=0.2, seed=3, dtype=np.float64)
    x = rng.standard_normal((256, 1, 1, 40))
    y = (np.abs(x[:, 0, 0, :10]).argmax(axis=1)).astype(np.int64)  # a learnable labelling
    _follow_reference(model, x, y)


def test_cnn_with_batchnorm_maxpool_and_dropout_follows_the_numpy_reference_for_50_steps(rng):
    model = nn.cnn((1, 12, 12), 10, depth=2, width=4, norm="batch", dropout=0.2, seed=5, dtype=np.float64)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert {"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout", "Linear"} <= set(kinds)
    x = rng.standard_normal((128, 1, 12, 12))
    y = (np.abs(x[:, 0, :, :].reshape(128, -1)[:, :10]).argmax(axis=1)).astype(np.int64)
    _follow_reference(model, x, y, batch=8)


def test_whole_model_parameter_gradient_matches_finite_differences(rng):
    model = nn.mlp(6, 3, depth=2, width=5, norm="batch", dropout=0.3, activation="tanh", seed=1, dtype=np.float64)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    loss_fn = CrossEntropyLoss()

    dropouts = [m for m in model.layers if isinstance(m, nn.Dropout)]

    def loss():  # the same dropout masks every call (train-mode BatchNorm uses batch statistics)
        for m in dropouts:
            m.offset = 0
        return loss_fn.forward(model.forward(x), y)

    loss()
    model.backward(loss_fn.backward())
    analytic = [p.grad.copy() for p in model.parameters()]
    for p, g in zip(model.parameters(), analytic):
        np.testing.assert_allclose(g, numerical_grad(loss, p.data), rtol=1e-5, atol=1e-8, err_msg=p.name)


# ------------------------------------------------------------------------------------------------
# the run record
# ------------------------------------------------------------------------------------------------

def _times_removed(record):
    """The record without what depends on the clock (wall times, throughput, provenance time)."""
    r = copy.deepcopy(record)
    for h in r["history"]:
        h.pop("wall_time")
    if r.get("target"):
        r["target"].pop("wall_time")
    for k in ("throughput", "breakdown", "breakdown_split", "elapsed", "provenance"):
        r.pop(k, None)
    return r


@pytest.fixture(scope="module")
def bn_dropout_runs():
    """Two identical configs with diagnostics, noise scale and profiling on, one with them off."""
    cfg = dict(norm="batch", dropout=0.2, steps=60, eval_every=20, target_accuracy=0.2)
    on = dict(diagnostics=True, noise_scale=True, noise_batches=4, profile=True)
    off = dict(diagnostics=False, noise_scale=False, profile=False)
    return _run(**cfg, **on), _run(**cfg, **on), _run(**cfg, **off)


def test_record_fields_history_and_strict_json(bn_dropout_runs):
    r = bn_dropout_runs[0]
    assert r["status"] in train.OK_STATUSES, r.get("error")
    assert r["schema"] == "pybench.run/1" and len(r["run_id"]) == 12
    assert r["config"] == Config(**dict(FAST, norm="batch", dropout=0.2, steps=60, eval_every=20, target_accuracy=0.2,
                                        noise_scale=True, noise_batches=4)).validate().to_dict()
    assert [h["step"] for h in r["history"]] == [0, 20, 40, 60]
    assert [h["samples"] for h in r["history"]] == [0, 1280, 2560, 3840]
    walls = [h["wall_time"] for h in r["history"]]
    assert walls[0] == 0 and walls == sorted(walls) and walls[-1] == pytest.approx(r["throughput"]["train_time"])
    assert r["history"][0]["train_loss"] is None
    assert math.isfinite(r["history"][0]["val_loss"])
    assert r["history"][-1]["val_loss"] < r["history"][0]["val_loss"]
    assert r["steps"] == 60 and r["best_val_acc"] == max(h["val_acc"] for h in r["history"])
    first = next(h for h in r["history"] if h["val_acc"] >= 0.2)
    assert r["target"] == {k: first[k] for k in ("step", "epoch", "samples", "wall_time")}
    assert r["test"]["step"] == 60 and r["test"]["acc"] > 0.2 and r["gap"] == pytest.approx(r["train"]["acc"] - r["test"]["acc"])
    assert r["model"]["num_parameters"] == 40 * 64 + 64 + 2 * 64 + 64 * 10 + 10
    assert r["model"]["train_flops"] > 2 * r["model"]["flops"] > 0
    t = r["throughput"]
    assert t["samples_per_s"] == pytest.approx(60 * 64 / t["train_time"])
    assert t["gflops"] == pytest.approx(r["model"]["train_flops"] * 60 * 64 / t["train_time"] / 1e9)
    assert {"linear", "batch_norm", "relu", "dropout", "loss", "optimizer", "data", "python"} <= set(r["breakdown"])
    assert r["profile_steps"] == 5 and all(v >= 0 for v in r["breakdown"].values())
    assert r["provenance"]["threads"] == 1 and "sha" in r["provenance"]["git"] and r["provenance"]["time"].endswith("Z")
    json.dumps(r, allow_nan=False)  # strict JSON


def test_diagnostics_and_noise_scale_in_the_record(bn_dropout_runs):
    r = bn_dropout_runs[0]
    d = r["history"][-1]["diagnostics"]
    names = [p.name for p in nn.mlp((1, 1, 40), 10, depth=1, width=64, norm="batch", dropout=0.2).parameters()]
    assert list(d["grad_norm"]) == names and all(v > 0 for v in d["grad_norm"].values())
    ops = [e["op"] for e in d["layers"]]
    assert ops == ["flatten", "linear", "batch_norm", "relu", "dropout", "linear"]
    bn = r["history"][0]["diagnostics"]["layers"][2]  # at init: beta 0, gamma 1
    assert bn["mean"] == pytest.approx(0, abs=0.05) and bn["std"] == pytest.approx(1, abs=0.05)  # batch-normalized
    assert 0 <= d["layers"][3]["dead_fraction"] <= 1 and d["dead_fraction"] == d["layers"][3]["dead_fraction"]
    per_eval = [h["noise_scale"] for h in r["history"]]
    assert all(v["trace_sigma"] > 0 and len(v["sq_norms"]) == len(v["dots"]) == 4 for v in per_eval)
    for v in per_eval:  # the per-batch values reproduce the estimates
        assert estimates(v["sq_norms"], v["dots"], 64) == pytest.approx((v["g2"], v["trace_sigma"]))
    ns = r["noise_scale"]
    assert (ns["b_small"], ns["b_big"], ns["k"], ns["evaluations"]) == (64, 256, 4, 3)  # steps 20, 40, 60
    w = np.array([0.9 ** 2, 0.9, 1.0]) / (0.9 ** 2 + 0.9 + 1.0)  # the EMA at step 60, step 0 left out
    g2, tr = (float(w @ [v[key] for v in per_eval[1:]]) for key in ("g2", "trace_sigma"))
    assert (ns["g2"], ns["trace_sigma"]) == pytest.approx((g2, tr)) and ns["b_simple"] == pytest.approx(tr / g2)
    assert ns["b_simple_se"] > 0
    t = r["target"]["step"]
    assert ns["at_target"] is None if t == 0 else ns["at_target"]["step"] == t


def test_measurement_passes_leave_the_training_trajectory_bitwise_unchanged(bn_dropout_runs):
    on, _, off = bn_dropout_runs
    for key in ("train_loss", "val_loss", "val_acc"):
        assert [h[key] for h in on["history"]] == [h[key] for h in off["history"]]
    assert on["test"] == off["test"] and on["train"] == off["train"]
    assert all(h["diagnostics"] is None for h in off["history"]) and off["breakdown"] is None


def test_two_runs_of_a_config_give_identical_records_but_for_the_clock(bn_dropout_runs):
    a, b, _ = bn_dropout_runs
    assert _times_removed(a) == _times_removed(b)
    assert a["history"][-1]["noise_scale"] == b["history"][-1]["noise_scale"]


def test_fast_convergence_mlp_on_mnist1d():
    r = _run(depth=2, width=128, optimizer="adam", lr=3e-3, epochs=6, diagnostics=False)
    assert r["status"] in train.OK_STATUSES, r.get("error")
    assert r["test"]["acc"] > 0.40
    assert r["steps"] == 6 * (3600 // 64)


# ------------------------------------------------------------------------------------------------
# statuses and stopping
# ------------------------------------------------------------------------------------------------

def test_huge_learning_rate_diverges_with_history_kept():
    r = _run(lr=1e6, epochs=3, diagnostics=True)
    assert r["status"] == "diverged"
    assert "non-finite training loss" in r["stop_reason"]
    assert r["steps"] < 3 * (3600 // 64) and len(r["history"]) == 2
    assert r["history"][0]["val_loss"] is not None and r["history"][-1]["train_loss"] is None
    assert r["best"]["step"] == 0 and r["test"]["step"] == 0 and r["test"]["acc"] is not None
    json.dumps(r, allow_nan=False)


def test_collapse_without_nan_is_its_own_status():
    # measured: std-0.01 init, 6 hidden ReLU layers: one class predicted at loss ~ ln 10, no explosion
    r = _run(init="normal(0.01)", lr=0.1, momentum=0.0, epochs=2, diagnostics=False, batch_size=128, depth=6,
             width=256)
    assert r["status"] == "collapsed", (r["collapse"], r["history"][-1])
    assert r["collapse"]["val_classes_predicted"] == 1
    assert abs(r["collapse"]["val_loss"] - math.log(10)) < 0.1 * math.log(10)
    assert all(math.isfinite(h["val_loss"]) for h in r["history"])


def test_an_exploding_finite_loss_is_a_divergence():
    """Raw 0-255 inputs at lr 0.01: the loss climbs from ~3e2 to ~4e4, finite all along (the network
    ends up predicting one class at loss ln 10): diverged, stopped there, not collapsed or completed."""
    r = _run(normalize="raw", lr=0.01, momentum=0.0, epochs=2, diagnostics=False, batch_size=128, depth=2,
             width=256)
    assert r["status"] == "diverged" and f"above {train.DIVERGE_FACTOR:g}x the first step's" in r["stop_reason"]
    assert all(h["train_loss"] is None or math.isfinite(h["train_loss"]) for h in r["history"])
    assert r["steps"] < r["config"]["epochs"] * (3600 // 128)


def test_budget_limited_when_the_loss_still_falls_at_the_end():
    short = _run(steps=60, eval_every=10, diagnostics=False, lr=0.02, momentum=0.0)
    assert short["status"] == "budget-limited", short["convergence"]
    cv = short["convergence"]
    assert cv["late_drop_fraction"] > train.PLATEAU_TOL and cv["cut_step"] == 48
    assert train.late_drop([{"step": s, "train_loss": v} for s, v in [(10, 2.0), (50, 1.0), (80, 0.52), (100, 0.5)]],
                           100)["still_falling"] is False  # 0.02 of a 1.5 drop in the last 20%
    assert train.late_drop([{"step": s, "train_loss": v} for s, v in [(10, 2.0), (50, 1.5), (80, 1.2), (100, 1.0)]],
                           100)["late_drop_fraction"] == pytest.approx(0.2)
    assert train.late_drop([{"step": 10, "train_loss": 2.0}, {"step": 100, "train_loss": 1.0}], 100) is None


def test_the_selected_checkpoint_is_the_best_validation_accuracy():
    r = _run(steps=300, eval_every=20, diagnostics=False, lr=0.3)
    accs = [(h["val_acc"], -h["step"]) for h in r["history"]]
    best_acc, neg_step = max(accs)
    sel = r["selected"]
    assert sel["metric"] == "val_acc" and sel["val_acc"] == best_acc and sel["step"] == -neg_step
    if sel["step"] == r["test"]["step"]:
        assert sel["test"] == {"loss": r["test"]["loss"], "acc": r["test"]["acc"]}
    # the snapshot really is that checkpoint: a run stopped there gives the same test metrics
    stopped = _run(steps=sel["step"], eval_every=20, diagnostics=False, lr=0.3) if sel["step"] else None
    if stopped is not None:
        assert stopped["test"]["acc"] == sel["test"]["acc"] and stopped["test"]["loss"] == sel["test"]["loss"]


def test_early_stopping_on_validation_accuracy_with_min_delta():
    r = _run(steps=600, eval_every=10, patience=3, early_stop_on="val_acc", min_delta=0.01, lr=0.3,
             diagnostics=False)
    assert r["stop_reason"].startswith("early stopping: val_acc did not improve by more than 0.01 in 3")
    assert r["test"]["step"] == r["selected"]["step"]  # restored: the best-accuracy weights
    assert r["test"]["acc"] == r["selected"]["test"]["acc"]


def test_early_stopping_restores_the_best_weights_for_test():
    r = _run(steps=400, eval_every=10, patience=2, lr=0.3, diagnostics=False)
    assert r["status"] == "completed" and r["stop_reason"].startswith("early stopping: val_loss")
    assert r["steps"] < 400
    vals = [h["val_loss"] for h in r["history"]]
    assert r["best"]["step"] == r["history"][int(np.argmin(vals))]["step"] != r["steps"]
    assert r["best"]["val_loss"] == min(vals) and r["test"]["step"] == r["best"]["step"]


def test_stop_at_target_and_failed_status():
    r = _run(steps=500, eval_every=5, target_accuracy=0.25, stop_at_target=True, diagnostics=False)
    assert r["target"] is not None and r["steps"] == r["target"]["step"] < 500
    assert r["stop_reason"].startswith("reached target")
    f = _run(n_train=50)  # a batch larger than the training set, found after loading: a failed record
    assert f["status"] == "failed" and "batch_size" in f["stop_reason"] and "Traceback" in f["error"]


# ------------------------------------------------------------------------------------------------
# the gradient noise scale against its exact value
# ------------------------------------------------------------------------------------------------

def test_noise_scale_estimates_the_exact_value_for_softmax_regression():
    ds = data.load("mnist1d", dtype=np.float64)
    x, y = ds.x_train.reshape(len(ds.x_train), -1), ds.y_train
    model = nn.mlp(40, 10, depth=0, width=1, init="normal(0.1)", seed=2, dtype=np.float64)
    w, b = (p.data for p in model.parameters())
    logits = x @ w.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1  # per-example dL/dlogits
    per_example = np.concatenate([(p[:, :, None] * x[:, None, :]).reshape(len(y), -1), p], axis=1)
    g = per_example.mean(0)
    exact_trace, exact_g2 = float(((per_example - g) ** 2).sum(1).mean()), float(g @ g)
    ns = NoiseScale(model, CrossEntropyLoss(), ds.x_train, y, 16, 8, np.random.default_rng(0))
    raw = [ns(step) for step in range(1, 41)]
    g2, trace = (float(np.mean([v[key] for v in raw])) for key in ("g2", "trace_sigma"))
    assert trace == pytest.approx(exact_trace, rel=0.1)
    assert g2 == pytest.approx(exact_g2, rel=0.25)
    assert trace / g2 == pytest.approx(exact_trace / exact_g2, rel=0.3)


# ------------------------------------------------------------------------------------------------
# Config errors
# ------------------------------------------------------------------------------------------------

def test_config_errors_name_the_field():
    assert_bad_call(lambda: Config.from_dict({"lr": 0.1, "lr_rate": 1, "depht": 2}), ValueError,
                    "Config.from_dict", "unknown keys", "'depht'", "'lr_rate'")
    assert_bad_call(lambda: Config(lr="fast").validate(), TypeError, "Config: lr", "number", "str")
    assert_bad_call(lambda: Config(depth=-1).validate(), ValueError, "Config: depth", ">= 0", "-1")
    assert_bad_call(lambda: Config(batch_size=2.0).validate(), TypeError, "Config: batch_size", "int", "float")
    assert_bad_call(lambda: Config(model="rnn").validate(), ValueError, "Config: model", "'rnn'")
    assert_bad_call(lambda: Config(steps=10, epochs=2).validate(), ValueError, "steps/epochs")
    assert_bad_call(lambda: Config(device="gpu").validate(), ValueError, "Config: device", "'cpu', 'cuda' or 'cuda:<N>'", "'gpu'")
    assert_bad_call(lambda: Config(schedule="step").validate(), ValueError, "step_size")
    assert_bad_call(lambda: Config(stop_at_target=True).validate(), ValueError, "target_accuracy")
    assert_bad_call(lambda: Config(nesterov=True, optimizer="adam").validate(), ValueError, "nesterov")
    assert_bad_call(lambda: Config(lr=math.nan).validate(), ValueError, "Config: lr", "finite")
    assert_bad_call(lambda: Config(betas=[0.9]).validate(), TypeError, "Config: betas", "pair")
    assert_bad_call(lambda: run(Config(device="gpu")), ValueError, "device")
    assert_bad_call(lambda: run("mlp"), TypeError, "train.run", "config")


def test_run_id_is_a_hash_of_the_canonical_config():
    a = Config(lr=1).validate()
    assert a.run_id() == Config(lr=1.0).validate().run_id()
    assert a.run_id() != Config(lr=1.0, seed=1).validate().run_id()
    assert Config.from_dict(json.loads(a.canonical_json())).validate() == a


# ------------------------------------------------------------------------------------------------
# diagnostics on a constructed network, schedule/clipping/penalty wiring, the command line
# ------------------------------------------------------------------------------------------------

def test_diagnostics_dead_units_and_activation_statistics(rng):
    from pybench.diagnostics import Diagnostics

    model = nn.mlp(5, 3, depth=1, width=4, seed=0, dtype=np.float64)
    x, y = rng.standard_normal((32, 5)), rng.integers(0, 3, 32)
    first = model.layers[1]
    first.bias.data[:2] = -1e3  # units 0 and 1 can never be positive
    d = Diagnostics(model, CrossEntropyLoss(), x, y)()
    assert d["dead_fraction"] == 0.5 and d["layers"][2]["dead_fraction"] == 0.5
    h = np.maximum(x @ first.weight.data.T + first.bias.data, 0)
    assert d["layers"][2]["mean"] == pytest.approx(h.mean()) and d["layers"][2]["std"] == pytest.approx(h.std())
    assert d["grad_norm"]["1.weight"] == pytest.approx(np.linalg.norm(first.weight.grad))  # the diagnostic batch's


def test_schedule_scaling_clipping_and_penalties_reach_the_optimizer():
    r = _run(steps=40, eval_every=10, schedule="cosine", warmup_steps=10, lr=0.05, lr_scaling="linear",
             base_batch_size=32, diagnostics=False, profile=False)
    base = 0.05 * 64 / 32
    assert r["budget"]["base_lr"] == pytest.approx(base)
    # the lr of the last step before each evaluation: step 9 ends the warm-up at base_lr
    assert [h["lr"] for h in r["history"][1:]] == pytest.approx(
        [base, base * 0.5 * (1 + math.cos(math.pi * 9 / 30)), base * 0.5 * (1 + math.cos(math.pi * 19 / 30)),
         base * 0.5 * (1 + math.cos(math.pi * 29 / 30))])
    plain = _run(steps=20, eval_every=20, diagnostics=False, profile=False)
    for kw in (dict(clip_grad_norm=0.01), dict(l2=0.5), dict(l1=0.05), dict(weight_decay=0.5)):
        other = _run(steps=20, eval_every=20, diagnostics=False, profile=False, **kw)
        assert other["status"] in train.OK_STATUSES and other["history"][-1]["val_loss"] != plain["history"][-1]["val_loss"]


def test_command_line_prints_a_summary_and_writes_the_record(tmp_path, capsys, monkeypatch):
    """`python -m pybench.train ...` (the module run as the program) is `pybench train ...`."""
    import runpy
    import warnings

    out = tmp_path / "r.json"
    monkeypatch.setattr(sys, "argv", ["train.py", "--config-json", json.dumps(dict(FAST, steps=10)), "--out", str(out)])
    with warnings.catch_warnings(), pytest.raises(SystemExit) as e:
        warnings.simplefilter("ignore", RuntimeWarning)  # runpy: pybench.train is imported already here
        runpy.run_module("pybench.train", run_name="__main__")
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "completed" in text and "test acc" in text and "samples/s" in text
    assert json.loads(out.read_text())["steps"] == 10


def test_pybench_train_set_overrides_json_and_bad_configs_exit_2(tmp_path, capsys):
    from pybench.cli import main, parse_set

    assert parse_set(["lr=0.5", "norm=batch", "betas=[0.8,0.9]", "last_activation=null"]) == {
        "lr": 0.5, "norm": "batch", "betas": [0.8, 0.9], "last_activation": None}
    out = tmp_path / "r.json"
    argv = ["train", "--config-json", json.dumps(dict(FAST, steps=10)), "--set", "steps=6", "--out", str(out)]
    assert main(argv) == 0
    assert json.loads(out.read_text())["steps"] == 6  # --set wins over --config-json
    capsys.readouterr()
    assert main(["train", "--set", "no_such_field=1"]) == 2
    assert "unknown keys ['no_such_field']" in capsys.readouterr().err
    assert main(["train", "--set", "lr=-1"]) == 2
    assert "lr" in capsys.readouterr().err
    assert main(["train", "--set", "lr"]) == 2
