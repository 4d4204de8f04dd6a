"""The training engine on a CUDA device against the same engine on the CPU (marker ``cuda``).

Skipped with the reason where no GPU or no CuPy is present -- which is everywhere this project
has been developed: none of these tests has run on a GPU yet. What they check, in float32:
- an MLP and a CNN, both with BatchNorm and dropout, start from bit-identical weights on both
  devices (host initialization, then ``Module.to``) and train 50 steps on the same batches (the
  dropout masks are the same Philox stream on both); every step's loss on CUDA is within
  LOSS_RTOL of the CPU's, relative (the devices sum in different orders, and the difference
  compounds over 50 updates: 1e-2 leaves room for that and still catches a wrong kernel, which
  moves a loss by far more);
- two CUDA runs are bitwise equal (losses and final weights);
- ``train.run`` on CUDA completes with diagnostics, the noise scale and the profile on, its
  record names the device, and it lands near the CPU run's validation accuracy;
- the other device branches (integer targets of MSE, clipping, L1/L2, AdamW) against the CPU;
- ``pybench run <experiment> --quick --device cuda`` writes completed records naming the device;
- a DLPack-only CUDA producer goes through an op zero-copy and comes back as CuPy.

``PB_CUDA_SELFCHECK=1`` runs the same tests with the CPU as the "device" (CPU against CPU, so
everything must then be bitwise equal): a check of this file's plumbing where there is no GPU.
"""

import json
import os

import numpy as np
import pytest

from pybench import arrays, cli, nn, train
from pybench.nn.loss import make_loss
from pybench.runconfig import Config

from cuda_util import cuda_skip_reason
from util import DLOnly

pytestmark = pytest.mark.cuda
SELFCHECK = os.environ.get("PB_CUDA_SELFCHECK") == "1"
DEVICE = "cpu" if SELFCHECK else "cuda"
STEPS = 50
LOSS_RTOL = 1e-2   # per-step loss, CUDA vs CPU, relative to max(1, |loss|)
ACC_ATOL = 0.05    # validation accuracy after a short train.run, CUDA vs CPU


@pytest.fixture(scope="module", autouse=True)
def _need_gpu():
    if not SELFCHECK:
        reason = cuda_skip_reason()
        if reason:
            pytest.skip(reason)


def host(a):
    return arrays.asnumpy(a)


MODELS = {
    "mlp": dict(dataset="mnist1d", model="mlp", depth=2, width=64, norm="batch", dropout=0.2),
    "cnn": dict(dataset="digits", model="cnn", depth=2, width=8, norm="batch", dropout=0.2, head="gap"),
}
COMMON = dict(n_train=512, n_test=128, batch_size=32, lr=0.05, momentum=0.9, seed=3, data_seed=1, dtype="float32")


def _steps(cfg, device):
    """STEPS training steps of cfg's model on device, on host-chosen batches; per-step losses,
    the model and its initial weights (as host copies)."""
    from pybench import data

    c = Config(**cfg).validate()
    ds = data.load(c.dataset, n_train=c.n_train, n_test=c.n_test, seed=c.data_seed, dtype=np.dtype(c.dtype))
    model = train.build_model(c, ds.in_shape, ds.num_classes).to(device)
    init = {k: host(v) for k, v in model.state_dict().items()}  # as moved to the device
    opt = train.build_optimizer(c, model.parameters(), c.lr)
    loss_fn = make_loss(c.loss)
    x, y = arrays.to_device(ds.x_train, device), arrays.to_device(ds.y_train, device)
    xp = arrays.array_module(x)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(STEPS):
        idx = xp.asarray(rng.choice(len(ds.x_train), size=c.batch_size, replace=False))
        losses.append(train.train_step(model, loss_fn, opt, xp.take(x, idx, axis=0), xp.take(y, idx)))
    return np.array(losses), model, init


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_start_and_close_losses(name):
    cfg = {**COMMON, **MODELS[name]}
    l_cpu, m_cpu, init_cpu = _steps(cfg, "cpu")
    l_dev, m_dev, init_dev = _steps(cfg, DEVICE)
    assert m_dev.device == ("cpu" if SELFCHECK else "cuda:0")
    assert all(type(p.data) is not np.ndarray for p in m_dev.parameters()) or SELFCHECK
    for k in init_cpu:  # bit-identical weights before the first step (host init, then moved)
        assert np.array_equal(init_cpu[k], init_dev[k]), k
    assert np.all(np.isfinite(l_cpu)) and np.all(np.isfinite(l_dev))
    assert l_cpu[-1] < l_cpu[0]  # it trains
    err = np.abs(l_dev - l_cpu) / np.maximum(1.0, np.abs(l_cpu))
    assert err.max() <= LOSS_RTOL, f"step {err.argmax()}: cuda {l_dev[err.argmax()]} vs cpu {l_cpu[err.argmax()]}"
    # running statistics moved with the model and were updated on the device
    bn = [m for m in m_dev.modules() if hasattr(m, "running_mean")]
    assert bn and all(arrays.device_of(m.running_mean) == m_dev.device for m in bn)
    sd_cpu, sd_dev = m_cpu.state_dict(), m_dev.state_dict()
    for k in sd_cpu:
        np.testing.assert_allclose(host(sd_dev[k]), sd_cpu[k], rtol=5e-2, atol=5e-3, err_msg=k)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_two_device_runs_bitwise_equal(name):
    cfg = {**COMMON, **MODELS[name]}
    l1, m1, _ = _steps(cfg, DEVICE)
    l2, m2, _ = _steps(cfg, DEVICE)
    assert np.array_equal(l1, l2)
    s1, s2 = m1.state_dict(), m2.state_dict()
    for k in s1:
        assert np.array_equal(host(s1[k]), host(s2[k])), k


def test_module_to_and_back():
    m = nn.cnn((1, 8, 8), 3, 2, 4, norm="batch", dropout=0.25, seed=1)
    want = {k: v.copy() for k, v in m.state_dict().items()}
    m.to(DEVICE)
    assert m.to(DEVICE) is m
    m.to("cpu")
    assert m.device == "cpu"
    got = m.state_dict()
    assert all(type(v) is np.ndarray and np.array_equal(v, want[k]) for k, v in got.items())


def test_train_run_record_on_device():
    cfg = dict(COMMON, **MODELS["mlp"], steps=60, eval_every=20, diagnostics=True, noise_scale=True,
               noise_batches=4, profile=True)
    rec_cpu = train.run(Config(**cfg))
    rec_dev = train.run(Config(**cfg, device=DEVICE))
    for r in (rec_cpu, rec_dev):
        assert r["status"] in train.OK_STATUSES, r.get("error")
    prov = rec_dev["provenance"]["device"]
    assert prov["device"] == ("cpu" if SELFCHECK else "cuda:0")
    if not SELFCHECK:
        assert prov["name"] and prov["compute_capability"] != "0.0"
        assert rec_dev["run_id"] != rec_cpu["run_id"]
    assert abs(rec_dev["test"]["acc"] - rec_cpu["test"]["acc"]) <= ACC_ATOL
    assert rec_dev["noise_scale"]["evaluations"] == rec_cpu["noise_scale"]["evaluations"] > 0
    assert rec_dev["breakdown"] and "linear" in rec_dev["breakdown"]
    d_dev, d_cpu = rec_dev["history"][-1]["diagnostics"], rec_cpu["history"][-1]["diagnostics"]
    assert d_dev["grad_norm"].keys() == d_cpu["grad_norm"].keys()
    for k, v in d_cpu["weight_norm"].items():
        assert d_dev["weight_norm"][k] == pytest.approx(v, rel=5e-2)
    json.dumps(rec_dev, allow_nan=False)  # strict JSON: nothing from the device leaked in


def test_other_branches_against_cpu():
    # integer targets of MSE (one-hot on the device), clipping, L1/L2 penalties, AdamW
    cfg = dict(COMMON, **MODELS["mlp"], loss="mse", optimizer="adamw", lr=1e-3, clip_grad_norm=0.5, l1=1e-4,
               l2=1e-4, steps=40, eval_every=20, diagnostics=False, profile=False)
    cfg.pop("momentum")
    rec_cpu, rec_dev = train.run(Config(**cfg)), train.run(Config(**cfg, device=DEVICE))
    for r in (rec_cpu, rec_dev):
        assert r["status"] in train.OK_STATUSES, r.get("error")
    for h_cpu, h_dev in zip(rec_cpu["history"], rec_dev["history"]):
        assert h_dev["val_loss"] == pytest.approx(h_cpu["val_loss"], rel=LOSS_RTOL)


def test_cli_run_experiment_quick_on_device(tmp_path, capsys):
    out = tmp_path / "results"
    rc = cli.main(["run", "width", "--quick", "--device", DEVICE, "--set", "width=[32]", "--set", "steps=30",
                   "--out", str(out), "-q"])
    assert rc == 0, capsys.readouterr().err
    runs = list((out / "width" / "quick" / "runs").glob("*.json"))
    assert runs
    for f in runs:
        rec = json.loads(f.read_text())
        assert rec["status"] in train.OK_STATUSES and rec["config"]["device"] == DEVICE
        assert rec["provenance"]["device"]["device"] == ("cpu" if SELFCHECK else "cuda:0")


def test_dlpack_only_cuda_producer():
    from pybench import ops

    x = arrays.to_device(np.random.default_rng(0).standard_normal((64, 33)).astype(np.float32), DEVICE)
    view = arrays.from_dlpack(DLOnly(x))
    assert type(view) is type(x)
    if not SELFCHECK:
        assert view.data.ptr == x.data.ptr  # zero-copy
    y = ops.gelu_forward(DLOnly(x))
    assert type(y) is type(x) and np.array_equal(host(y), host(ops.gelu_forward(x)))
