"""`pybench verify`: usage errors, the missing device, a reduced CPU run and its report, a planted
wrong kernel, and the whole --device cuda path on the emulated GPU (FakeCupy for the training,
FakeCudaDevice for the op checks and the speed rows)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pybench import cli, ops, verify
from pybench.bench import device as D
from test_device_emulated import gpu  # noqa: F401  (the emulated CUDA device's fixture)

PYBENCH_HOME = os.path.dirname(os.path.dirname(os.path.abspath(verify.__file__)))

FEW_OPS = ("gemm", "relu", "dropout", "batch_norm")
SECTIONS = ("## Correctness", "## Training", "## Speed", "## Batch-size sweep")


@pytest.fixture
def reduced(monkeypatch, tmp_path):
    """A run in well under a minute: a few ops; with --budget-s 1 the checks still run in full, the
    training is shortened and the sweep dropped; with a large budget the sweep is two short runs."""
    monkeypatch.setattr(verify, "CHECK_OPS", FEW_OPS)
    monkeypatch.setattr(verify, "TRAIN_STEPS", 20)
    monkeypatch.setattr(verify, "SWEEP_BATCHES", (32, 64))
    monkeypatch.setattr(verify, "SWEEP_EPOCHS", 1)
    monkeypatch.setenv("PYBENCH_CALIBRATION", str(tmp_path / "cal.json"))
    return tmp_path / "out"


@pytest.mark.parametrize("args, what", [
    (["--device", "gpu"], "--device"), (["--budget-s", "-1"], "--budget-s"), (["--budget-s", "x"], "--budget-s"),
    (["--nope"], "unrecognized")])
def test_usage_errors_exit_2_with_one_line(capsys, tmp_path, args, what):
    assert cli.main(["verify", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and what in err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(D.cuda_unavailable_reason(0) is None, reason="a usable GPU is present")
def test_cuda_without_a_gpu_exits_2_in_seconds_and_writes_nothing(tmp_path):
    out = tmp_path / "o"
    # cwd outside the source tree (`python -m` puts the cwd first on sys.path), and on PYTHONPATH the
    # pybench these tests imported (the installed package, or an in-tree build)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PYBENCH_HOME, env.get("PYTHONPATH")) if p)
    p = subprocess.run([sys.executable, "-m", "pybench", "verify", "--device", "cuda", "--out", str(out)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("pybench verify: --device cuda: ")
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert not out.exists()


def _report(out):
    md = (out / "verify.md").read_text()
    js = json.loads((out / "verify.json").read_text())
    return md, js


def test_reduced_cpu_run_writes_every_section_and_passes(capsys, reduced):
    assert cli.main(["verify", "--budget-s", "1", "--out", str(reduced)]) == 0
    md, js = _report(reduced)
    assert md.startswith("# pybench verify --device cpu: PASS")
    for s in SECTIONS:
        assert s in md
    assert set(js["sections"]) == {"correctness", "training", "speed", "sweep"}
    ops_rows = js["sections"]["correctness"]["ops"]
    assert {r["op"] for r in ops_rows} == set(FEW_OPS) and {r["dtype"] for r in ops_rows} == {"float32", "float64"}
    assert all(r["status"] == "ok" for r in ops_rows if r["op"] == "gemm")
    assert {r["impl"] for r in ops_rows if r["op"] == "gemm"} >= {"naive", "packed"}
    assert all(r["status"] == "ok" for r in js["sections"]["correctness"]["gradients"])
    assert len(js["sections"]["training"]["rows"]) == 2
    assert {r["op"] for r in js["sections"]["speed"]["rows"]} == {"gemm", "conv2d", "copy", "batch_norm"}
    assert js["sections"]["sweep"]["dropped"].startswith("sweep dropped")  # 1 s cannot hold it
    assert "sweep dropped" in md and js["ok"] is True and js["failures"] == []
    steps = js["sections"]["training"]["rows"][0]["steps"]  # what is left of 1 s, at least 10 (timing-dependent)
    assert 10 <= steps <= verify.TRAIN_STEPS
    assert steps == verify.TRAIN_STEPS or any(n.startswith(f"training shortened to {steps} steps") for n in js["notes"])
    assert js["machine"]["commit"] is None or len(js["machine"]["commit"]) == 40
    assert "wrote" in capsys.readouterr().err


def test_a_wrong_kernel_exits_1_and_is_named(capsys, reduced, monkeypatch):
    real = ops.gemm

    def off_by_one(a, b, *, out=None, **kw):
        r = real(a, b, out=out, **kw)
        r += 1
        return r

    monkeypatch.setattr(ops, "gemm", off_by_one)
    assert cli.main(["verify", "--budget-s", "1", "--out", str(reduced)]) == 1
    md, js = _report(reduced)
    assert md.startswith("# pybench verify --device cpu: FAIL") and "## What is wrong" in md
    assert js["ok"] is False and any(f.startswith("op gemm ") for f in js["failures"])
    assert "FAILED: op gemm" in capsys.readouterr().err


def test_gradient_check_catches_a_wrong_backward(monkeypatch):
    from pybench.nn import activations as A

    real = A.Tanh.backward
    monkeypatch.setattr(A.Tanh, "backward", lambda self, dy: real(self, dy) * 1.01)
    rows = {r["op"]: r for r in verify.check_gradients(lambda m: None)}
    assert rows["tanh"]["status"] == "FAILED" and rows["relu"]["status"] == "ok"


def _rec(*points):
    return {"history": [{"step": s, "train_loss": t, "val_loss": v} for s, t, v in points]}


def test_training_comparison_tolerance():
    a = _rec((0, None, 2.3), (5, 1.0, 1.1))
    assert verify.loss_difference(a, a) == 0.0
    assert verify.loss_difference(a, _rec((0, None, 2.3), (5, 1.0 + 1e-4, 1.1))) == 0.0  # within atol
    assert verify.loss_difference(a, _rec((0, None, 2.3), (5, 1.01, 1.1))) <= verify.TRAIN_RTOL
    assert verify.loss_difference(a, _rec((0, None, 2.3), (5, 1.2, 1.1))) > verify.TRAIN_RTOL
    assert verify.loss_difference(a, _rec((0, None, 2.3))) == float("inf")  # an evaluation missing
    assert verify.loss_difference(a, _rec((0, None, 2.3), (5, None, 1.1))) == float("inf")


def test_emulated_cuda_path_end_to_end(capsys, reduced, monkeypatch, gpu):  # noqa: F811
    monkeypatch.setattr(D, "open_cuda", lambda index=0: D.FakeCudaDevice(index))
    assert cli.main(["verify", "--device", "cuda", "--budget-s", "600", "--out", str(reduced)]) == 0
    md, js = _report(reduced)
    assert md.startswith("# pybench verify --device cuda:0: PASS") and "emulated" in md
    assert js["machine"]["device"]["fake"] is True
    rows = [r for r in js["sections"]["correctness"]["ops"] if r["status"] == "ok"]
    assert rows and all(r["vs_cpu_ok"] and r["rerun_bitwise"] for r in rows)
    assert [r["check"] for r in js["sections"]["correctness"]["dropout"]] == [
        "dropout mask, 1 thread vs %d" % max(2, os.cpu_count() or 1), "dropout mask, device vs CPU"]
    assert [r["compare"] for r in js["sections"]["training"]["rows"]] == ["cuda:0 vs cpu"] * 2
    # the emulated device runs the CPU kernels in the same order: the trajectories are identical
    assert all(r["worst_rel"] == 0.0 for r in js["sections"]["training"]["rows"])
    assert {"cupy", "torch"} <= set(js["sections"]["speed"]["rows"][0]["peers"])
    assert [r["batch_size"] for r in js["sections"]["sweep"]["rows"]] == [32, 64]  # the budget holds the sweep
    assert all(r["samples_per_s"] > 0 for r in js["sections"]["sweep"]["rows"])
    assert all(r["steps"] == 20 for r in js["sections"]["training"]["rows"])
    for s in SECTIONS:
        assert s in md


def test_json_is_strict_and_markdown_has_no_nan(reduced):
    rep = {"x": float("inf"), "y": [np.float32(1.5), {"z": float("nan")}]}
    assert verify._clean(rep) == {"x": None, "y": [1.5, {"z": None}]}


@pytest.mark.parametrize("cc, sms, khz, fp32, tf32", [((9, 0), 132, 1_980_000, 66_908, 535_265),
                                                      ((8, 0), 108, 1_410_000, 19_492, 155_935),
                                                      ((8, 9), 128, 2_520_000, 82_575, None)])
def test_gpu_peaks_from_the_device_properties(cc, sms, khz, fp32, tf32):
    dev = D.FakeCudaDevice()
    dev.props = {"multiProcessorCount": sms, "clockRate": khz, "major": cc[0], "minor": cc[1]}
    p = verify._gpu_peaks(dev)
    assert round(p["fp32_gflops"]) == fp32
    assert (None if p["tf32_gflops"] is None else round(p["tf32_gflops"])) == tf32
    assert ("unknown for cc" in p["how"]) == (tf32 is None)
