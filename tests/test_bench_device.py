"""`pybench bench --device` and `pybench info --calibrate --device cuda`, from the CPU side.

No GPU here: the exit-2 paths are checked for real; everything else of the CUDA path (device cases
wrapping the CPU cases, peers, checks on host copies, the CUDA timing loop, the device calibration
and its cache, the report of cuda records) runs with device.FakeCudaDevice -- NumPy standing in for
the GPU, so ops take their CPU kernels -- or on synthetic records. What this cannot show: that the
CUDA kernels, CuPy/cuBLAS, PyTorch CUDA or the CUDA events behave on a GPU (tests/cuda/test_cuda_bench.py,
marker cuda). Nothing here asserts a speed.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

import pybench
from pybench import _native, arrays
from pybench.bench import calibrate, cuda_calibrate, cuda_problems, cuda_timing, device as D, problems as P
from pybench.bench import runner, tables
from pybench.bench.cases_compute import gemm_problem
from pybench.bench.check import Tol
from pybench.bench.problem_core import Inputs, Problem, try_check
from pybench.bench.timing import Stats
from pybench.cli import main

FAST = ["--quick", "--repeat-seconds", "0.01"]
NO_GPU = D.cuda_unavailable_reason(0) is not None
no_gpu_only = pytest.mark.skipif(not NO_GPU, reason="a usable GPU is present: the no-device path is not taken")


@pytest.fixture(autouse=True)
def cal_path(tmp_path, monkeypatch):
    """Every test has its own calibration caches (never the user's)."""
    path = tmp_path / "cache" / "calibration.json"
    monkeypatch.setenv("PYBENCH_CALIBRATION", str(path))
    return path


@pytest.fixture
def fake_gpu(monkeypatch):
    """--device cuda[:N] opens the fake device (NumPy standing in for a GPU)."""
    monkeypatch.setattr(D, "open_cuda", lambda index=0: D.FakeCudaDevice(index))
    return D.FakeCudaDevice()


# ----------------------------------------------------------------------------------------------
# --device parsing
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s, want", [("cpu", ("cpu", None)), ("cuda", ("cuda", 0)), ("cuda:0", ("cuda", 0)),
                                     ("cuda:3", ("cuda", 3)), ("cuda:12", ("cuda", 12))])
def test_parse_device(s, want):
    assert D.parse(s) == want
    assert D.canonical(s) == ("cpu" if want[1] is None else f"cuda:{want[1]}")


@pytest.mark.parametrize("s", ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cpu:0", " cuda", "", None, 0])
def test_parse_device_rejects(s):
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda' or 'cuda:N'"):
        D.parse(s)


@pytest.mark.parametrize("cmd", [["bench", "--quick"], ["info"]])
@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:-1"])
def test_bad_device_flag_exits_2(capsys, cmd, bad):
    assert main([*cmd, "--device", bad]) == 2
    err = capsys.readouterr().err
    assert "argument --device: expected 'cpu', 'cuda' or 'cuda:N'" in err and repr(bad) in err
    assert len(err.strip().splitlines()) == 1


def test_runner_rejects_a_bad_device_string():
    with pytest.raises(runner.UsageError, match="--device: expected"):
        runner.run(runner.Options(ops=("relu",), quick=True, device="tpu"))


# ----------------------------------------------------------------------------------------------
# no GPU: exit 2 with one line, no traceback
# ----------------------------------------------------------------------------------------------


@no_gpu_only
@pytest.mark.parametrize("args, prefix", [
    (["bench", "--device", "cuda", "--quick"], "pybench bench: --device cuda: "),
    (["bench", "--device", "cuda:1", "--op", "gemm"], "pybench bench: --device cuda:1: "),
    (["info", "--calibrate", "--device", "cuda"], "pybench info: --device cuda: "),
    (["info", "--device", "cuda"], "pybench info: --device cuda: "),
])
def test_no_gpu_exits_2_with_one_line(capsys, args, prefix):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(prefix)
    assert "no CUDA device (" in err or "cupy not installed" in err
    assert "Traceback" not in err


@no_gpu_only
def test_no_gpu_subprocess_has_no_traceback(tmp_path):
    home = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))
    env = dict(os.environ, PYTHONPATH=home + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYBENCH_CALIBRATION=str(tmp_path / "c.json"))
    for args in (["bench", "--device", "cuda", "--quick"], ["info", "--calibrate", "--device", "cuda"]):
        p = subprocess.run([sys.executable, "-m", "pybench", *args], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 2, p.stderr
        assert p.stdout == "" and len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr
        assert f"{args[0]}: --device cuda: " in p.stderr
    assert not os.listdir(tmp_path)  # nothing written, no calibration measured


def _status(**kw):
    return dict({"built": True, "device_count": 1, "device_name": "Fake", "compute_capability": "9.0", "reason": ""},
                **kw)


def test_reasons_in_order(monkeypatch):
    monkeypatch.setattr(_native, "cuda_status", lambda: _status(built=False, device_count=0, reason="not built here"))
    assert D.cuda_unavailable_reason() == "no CUDA device (not built here)"
    monkeypatch.setattr(_native, "cuda_status", lambda: _status(device_count=0, reason="no driver"))
    assert D.cuda_unavailable_reason() == "no CUDA device (no driver)"
    monkeypatch.setattr(_native, "cuda_status", lambda: _status())
    monkeypatch.setattr(arrays, "cupy", lambda: None)
    monkeypatch.setattr(arrays, "cupy_missing_reason", lambda: "cupy not installed (ModuleNotFoundError: cupy)")
    assert D.cuda_unavailable_reason() == "cupy not installed (ModuleNotFoundError: cupy)"
    monkeypatch.setattr(arrays, "cupy", lambda: object())
    assert D.cuda_unavailable_reason(0) is None
    assert D.cuda_unavailable_reason(2) == "no CUDA device 2 (this machine has 1: cuda:0..cuda:0)"


def test_cupy_missing_exits_2(capsys, monkeypatch):
    monkeypatch.setattr(_native, "cuda_status", lambda: _status())
    monkeypatch.setattr(arrays, "cupy", lambda: None)
    monkeypatch.setattr(arrays, "cupy_missing_reason", lambda: "cupy not installed (ModuleNotFoundError: cupy)")
    for args in (["bench", "--device", "cuda", *FAST], ["info", "--calibrate", "--device", "cuda:0"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ": --device cuda" in err and "cupy not installed" in err


# ----------------------------------------------------------------------------------------------
# the CUDA path end to end on the fake device
# ----------------------------------------------------------------------------------------------

OPS = ["copy", "gemm", "linear", "conv2d", "batch_norm", "relu", "tanh", "softmax", "dropout"]
TRAIN_OPS = ["max_pool2d", "avg_pool2d", "global_avg_pool2d", "cross_entropy", "huber", "adam", "sgd"]


def test_every_table_problem_runs_and_checks_on_the_fake_device(fake_gpu):
    be = cuda_problems.CudaBackend(fake_gpu)
    for prob in P.table("check"):
        case = be.build(prob, be.new_inputs())
        assert isinstance(case, cuda_problems._DeviceCase), prob.name
        res = try_check(case.ours(None), case.check)
        assert res.ok, (prob.name, res.describe())


def test_fake_device_bench_end_to_end(capsys, fake_gpu, tmp_path):
    out_json = tmp_path / "cuda.json"
    rc = main(["bench", "--device", "cuda", *FAST, "--op", *OPS, *TRAIN_OPS, "--peers", "cupy", "--json",
               str(out_json)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    out = " ".join(out.split())  # long header lines wrap at the console's width
    assert "pybench bench --device cuda:0: FakeCudaDevice" in out and "FAKE device" in out
    assert "vs cupy" in out and "vs torch" not in out and "GPU time between CUDA events" in out
    assert "pybench info --calibrate --device cuda:0" in out  # not calibrated: says how
    d = json.loads(out_json.read_text())
    assert d["options"]["device"] == "cuda:0" and d["environment"]["cuda"]["device"]["fake"] is True
    assert d["environment"]["cuda"]["device"]["name"] == "FakeCudaDevice (NumPy)"
    recs = d["records"]
    assert {r["op"] for r in recs} == set(OPS + TRAIN_OPS) and d["failed"] == 0
    for r in recs:
        assert r["device"] == "cuda:0" and r["status"] == "ok" and r["check"]["ok"], r
        assert r["ours"]["median_s"] > 0 and "on host copies of the device outputs" in r["oracle"]
        want_cupy = r["op"] in ("copy", "gemm", "linear") or (r["op"] in ("relu", "tanh") and r["label"] == "fwd")
        assert (r["peers"]["cupy"]["status"] == "ok") == want_cupy, (r["op"], r["label"], r["peers"]["cupy"])
        if r["kind"] == "memory" and r["op"] != "copy":
            assert r["copy_alongside"]["gbs"] > 0 and r["fraction_of_copy"] > 0


def test_fake_device_bench_torch_peer(capsys, fake_gpu, tmp_path):
    pytest.importorskip("torch", reason="the PyTorch peer needs torch (pip install '.[peers]')")
    out_json = tmp_path / "cuda.json"
    rc = main(["bench", "--device", "cuda", *FAST, "--op", *OPS, "--peers", "torch", "--json", str(out_json)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "vs torch" in " ".join(out.split())
    recs = json.loads(out_json.read_text())["records"]
    for r in recs:
        assert r["peers"]["torch"]["status"] == "ok", (r["op"], r["label"], r["peers"]["torch"])
    notes = {(r["op"], r["label"]): r["peers"]["torch"]["note"] for r in recs}
    assert "cuDNN" in notes[("conv2d", "fwd+bwd")] and "F.batch_norm" in notes[("batch_norm", "fwd")]
    assert notes[("gemm", "")] == "aten.mm.out (cuBLAS)"


def test_fake_device_checks_fail_a_wrong_kernel(capsys, fake_gpu, monkeypatch):
    from pybench import ops

    real = ops.gemm

    def off_by_one(a, b, *, out=None, **kw):
        real(a, b, out=out, **kw)
        out[0, 0] += 1.0
        return out

    monkeypatch.setattr(ops, "gemm", off_by_one)
    rc = main(["bench", "--device", "cuda", *FAST, "--op", "gemm", "--peers", "cupy"])
    out, err = capsys.readouterr()
    assert rc == 1 and "FAILED" in out and "not timed" in err
    assert "timing ours" not in err


def test_device_peers_validated(fake_gpu):
    be = cuda_problems.CudaBackend(fake_gpu)
    with pytest.raises(runner.UsageError, match=r"unknown peer\(s\) numpy; choose from cupy, torch .*cuda:0"):
        runner.run(runner.Options(ops=("relu",), quick=True, peers=("numpy",), device="cuda"), backend=be)
    with pytest.raises(runner.UsageError, match="no selected op has impl 'tiled' on cuda:0"):
        runner.run(runner.Options(ops=("relu",), quick=True, peers=(), impl="tiled", device="cuda"), backend=be)


def test_fake_device_impl_all_and_network(fake_gpu):
    be = cuda_problems.CudaBackend(fake_gpu)
    res = runner.run(runner.Options(ops=("gemm",), quick=True, impl="all", peers=("cupy",), repeat_seconds=0.01,
                                    device="cuda"), backend=be)
    assert [r["impl"] for r in res["records"]] == _native.impls("gemm")  # the fake lists the CPU's impls
    assert all(r["status"] == "ok" for r in res["records"])
    res = runner.run(runner.Options(network="pybench-mlp", ops=("linear",), quick=True, peers=("cupy",),
                                    repeat_seconds=0.01, device="cuda"), backend=be)
    assert res["records"] and all(r["status"] == "ok" and r["device"] == "cuda:0" for r in res["records"])
    assert res["totals"]["peers"]["cupy"]["rows"] == len(res["records"])


def test_tf32_impls_get_the_tf32_tolerance(fake_gpu):
    case = cuda_problems.device_case(gemm_problem(64).build(Inputs()), fake_gpu)
    exact = (case.cpu.a.astype(np.float64) @ case.cpu.b.astype(np.float64))
    rng = np.random.default_rng(1)
    tf32_like = (exact * (1 + 1e-3 * rng.standard_normal(exact.shape))).astype(np.float32)
    assert not case.check({"out": tf32_like}).ok  # the FP32 tolerance fails TF32-sized errors
    assert case._tf32_check({"out": tf32_like}).ok
    assert not case._tf32_check({"out": (exact * 1.1).astype(np.float32)}).ok  # still catches a wrong result
    assert case.ours("tf32").check is not None and case.ours(None).check is None
    assert cuda_problems.TOL_TF32 == Tol(1e-2, 1e-2, relative_to_max=True)


# ----------------------------------------------------------------------------------------------
# CUDA-event timing loop (fake clocks)
# ----------------------------------------------------------------------------------------------


class _FakeCupy:
    """Just enough of cupy.cuda for EventClock: events record the stream, 10 ms apart."""

    def __init__(self):
        self.recorded = []
        outer = self

        class Event:
            def record(self, stream=None):
                outer.recorded.append(stream)

            def synchronize(self):
                outer.recorded.append("sync")

        class Stream:
            ptr = 1234

            def synchronize(self):
                outer.recorded.append("stream sync")

        stream = Stream()

        class cuda:  # noqa: N801
            pass

        cuda.Event = Event
        cuda.get_current_stream = staticmethod(lambda: stream)
        cuda.get_elapsed_time = staticmethod(lambda a, b: 10.0)
        self.cuda, self.stream = cuda, stream


def test_event_clock_records_on_the_current_stream():
    cp = _FakeCupy()
    clock = D.EventClock(cp)
    calls = []
    assert clock.time(lambda: calls.append(1), 5) == pytest.approx(10e-3 / 5)
    assert len(calls) == 5 and cp.recorded == [cp.stream, cp.stream, "sync"]  # not the null stream: the current one


def test_cuda_measure_alternates_and_picks_k():
    class Clock:
        def __init__(self):
            self.order, self.syncs = [], 0

        def sync(self):
            self.syncs += 1

        def time(self, f, k):
            self.order.append((f(), k))
            return {"a": 1e-5, "b": 4e-3}[self.order[-1][0]]

    clock = Clock()
    st = cuda_timing.measure({"a": lambda: "a", "b": lambda: "b"}, 0.0, clock, min_rounds=3)
    assert clock.syncs == 2  # each candidate synchronized after its first call
    assert st["a"].calls_per_sample == 200 and st["b"].calls_per_sample == 1
    assert len(st["a"].times) == len(st["b"].times) == 3
    timed = [name for name, _ in clock.order[2:]]
    assert timed == ["a", "b", "b", "a", "a", "b"]  # order rotates every round
    assert st["a"].summary()["median_s"] == 1e-5
    assert cuda_timing.calls_per_sample(1e-12) == cuda_timing.MAX_CALLS_PER_SAMPLE


# ----------------------------------------------------------------------------------------------
# device calibration: measured on the fake device, cached beside the CPU's, keyed per device
# ----------------------------------------------------------------------------------------------


def _fake_cuda_cal(dev, peak=20000.0, copy=2000.0, **machine_changes):
    desc = dev.describe()
    return {"schema": cuda_calibrate.SCHEMA, "key": cuda_calibrate.device_key(desc), "device": desc,
            "machine": dict(cuda_calibrate.machine(dev), **machine_changes), "quick": False, "measured_at": "then",
            "gemm_peak_gflops": peak, "gemm_peak_size": 8192, "gemm_peak_by": "cuBLAS (cupy.matmul)", "gemm": [],
            "copy_gbs": copy, "copy": {"elements": 1 << 27, "by": "pybench copy"}, "notes": []}


class _OtherGpu(D.FakeCudaDevice):
    def __init__(self):
        super().__init__()
        self.props = {"name": "Other GPU", "major": 8, "minor": 0}
        self.driver = 13000


def test_cuda_calibration_cache_round_trip(cal_path, fake_gpu, monkeypatch):
    path = cuda_calibrate.cache_path()
    assert path == str(cal_path.parent / "calibration-cuda.json")  # beside the CPU's
    cal, why = cuda_calibrate.load(fake_gpu)
    assert cal is None and "no CUDA calibration for FakeCudaDevice (NumPy) | cc 0.0 | driver 0" in why
    measured = cuda_calibrate.measure(fake_gpu, quick=True, budget_s=0.01)
    assert measured["gemm_peak_gflops"] > 0 and measured["copy_gbs"] > 0 and not measured["notes"]
    ours = f"pybench gemm [{_native.impls('gemm')[-1]}]"
    assert {g["by"] for g in measured["gemm"]} == {"cuBLAS (cupy.matmul)", ours}
    assert {c["by"] for c in measured["copies"]} == {"pybench copy", "cupy.copyto"}
    cuda_calibrate.save(measured)
    other = _OtherGpu()
    cuda_calibrate.save(_fake_cuda_cal(other, peak=1.0))
    calibrate.save({"schema": calibrate.SCHEMA, "machine": calibrate.machine(), "gemm_peak_gflops": 5.0,
                    "copy_gbs": 1.0, "copy": {"elements": 1}})  # the CPU's cache is another file
    got, why = cuda_calibrate.load(fake_gpu)
    assert why is None and got == json.loads(json.dumps(measured))
    assert cuda_calibrate.load(other)[0]["gemm_peak_gflops"] == 1.0
    assert calibrate.load()[0]["gemm_peak_gflops"] == 5.0
    keys = set(json.loads(open(path).read())["devices"])
    assert keys == {"FakeCudaDevice (NumPy) | cc 0.0 | driver 0", "Other GPU | cc 8.0 | driver 13000"}
    # stale: another pybench version; get() measures again (and replaces only that entry)
    cuda_calibrate.save(_fake_cuda_cal(fake_gpu, pybench="0.0.0"))
    assert "stale (pybench was '0.0.0')" in cuda_calibrate.load(fake_gpu)[1]
    assert cuda_calibrate.get(fake_gpu, measure_if_missing=False)[0] is None
    monkeypatch.setattr(cuda_calibrate, "measure", lambda dev, **kw: _fake_cuda_cal(dev, peak=7.0))
    cal, status = cuda_calibrate.get(fake_gpu)
    assert status == "measured" and cal["gemm_peak_gflops"] == 7.0
    assert cuda_calibrate.get(fake_gpu) == (cuda_calibrate.load(fake_gpu)[0], "cached")
    assert cuda_calibrate.load(other)[0]["gemm_peak_gflops"] == 1.0
    with open(path, "w") as f:
        f.write("{not json")
    assert "unreadable CUDA calibration" in cuda_calibrate.load(fake_gpu)[1]


def test_calibration_leaves_out_a_gemm_that_disagrees(fake_gpu, monkeypatch):
    from pybench import ops

    real = ops.gemm
    def zeros(a, b, *, out=None, impl=None):
        real(a, b, out=out)
        out.fill(0.0)
        return out

    monkeypatch.setattr(ops, "gemm", zeros)
    cal = cuda_calibrate.measure(fake_gpu, quick=True, budget_s=0.01)
    assert {g["by"] for g in cal["gemm"]} == {"cuBLAS (cupy.matmul)"}
    assert "disagrees with cuBLAS" in cal["notes"][0]


def test_info_calibrate_device_cuda(capsys, fake_gpu, monkeypatch):
    monkeypatch.setattr(cuda_calibrate, "GEMM_SIZES", (64,))
    monkeypatch.setattr(cuda_calibrate, "COPY_ELEMS", 1 << 16)
    assert main(["info", "--device", "cuda"]) == 0
    out = capsys.readouterr().out
    assert "device          cuda:0: FakeCudaDevice" in out and "calibration     none (no CUDA calibration" in out
    assert "pybench info --calibrate --device cuda:0" in out
    assert main(["info", "--calibrate", "--device", "cuda"]) == 0
    out = capsys.readouterr().out
    assert "GEMM peak" in out and "GFLOP/s FP32" in out and "GB/s" in out
    assert f"written to {cuda_calibrate.cache_path()}" in out
    assert main(["info", "--device", "cuda:0"]) == 0
    assert "cached in" in capsys.readouterr().out
    assert main(["info", "--device", "cuda", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["cuda_calibration"]["status"] == "cached" and d["cuda_calibration"]["gemm_peak_gflops"] > 0
    assert d["cuda_device"]["device"] == "cuda:0"


def test_bench_uses_the_device_calibration(capsys, fake_gpu, tmp_path):
    cuda_calibrate.save(_fake_cuda_cal(fake_gpu, peak=1e-3, copy=1e-3))
    out_json = tmp_path / "r.json"
    rc = main(["bench", "--device", "cuda", *FAST, "--op", "gemm", "--peers", "none", "--json", str(out_json)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    out = " ".join(out.split())
    assert "peak (ceiling of the compute ops): 0 GFLOP/s FP32, cuBLAS (cupy.matmul) 8192^3" in out
    d = json.loads(out_json.read_text())
    assert d["calibration"]["status"] == "cached" and d["calibration"]["gemm_peak_by"] == "cuBLAS (cupy.matmul)"
    r = d["records"][0]
    assert r["fraction_of_peak"] == pytest.approx(r["ours"]["rate"] / 1e-3)


# ----------------------------------------------------------------------------------------------
# report and JSON of cuda records, from synthetic records and a synthetic calibration
# ----------------------------------------------------------------------------------------------


def _stats(median):
    s = Stats(times=[median * 0.9, median, median * 1.1], calls_per_sample=10).summary()
    return s


def _record(op, label, kind, work, median, peers=None, **extra):
    rec = runner._base_record(Problem(op, label, "(4096, 4096)" if kind == "memory" else "4096x4096x4096",
                                      {}, kind, work, "synthetic", (), None), device="cuda:0")
    s = _stats(median)
    rec.update(status="ok", impl="tiled" if kind == "compute" else "vec4", ours=dict(s, rate=work / median / 1e9),
               check={"ok": True}, peers=peers or {}, auto_added=False, **extra)
    return rec


def _synthetic_result():
    gemm = _record("gemm", "", "compute", 2.0 * 4096**3, 0.02,
                   peers={"cupy": dict(_stats(0.01), status="ok", rate=2.0 * 4096**3 / 0.01 / 1e9, ratio=0.5,
                                       note="cupy.matmul(out=) (cuBLAS)", preallocated=True),
                          "torch": {"status": "n/a", "reason": "torch 2.13.0+cpu has no usable CUDA"}})
    relu = _record("relu", "fwd", "memory", 2 * 4 * 4096**2, 2 * 4 * 4096**2 / 1500e9,  # 1500 GB/s
                   copy_alongside={"gbs": 2000.0, "fraction": 0.75})
    tanh = _record("tanh", "fwd", "memory", 2 * 4 * 4096**2, 2 * 4 * 4096**2 / 500e9)  # 500 GB/s, no copy beside
    cal = {"gemm_peak_gflops": 50000.0, "gemm_peak_size": 8192, "gemm_peak_by": "cuBLAS (cupy.matmul)",
           "copy_gbs": 2500.0, "copy": {"elements": 1 << 27}, "measured_at": "2026-11-24T00:00:00Z", "quick": False}
    records = [gemm, relu, tanh]
    ceiling = runner.apply_ceilings(records, cal)
    env = {"repeat_seconds": 1.0, "cupy": "14.2.0", "cupy_reason": "", "torch": None,
           "torch_reason": "torch 2.13.0+cpu has no usable CUDA",
           "cuda": {"device": {"device": "cuda:0", "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0",
                               "driver": 13000, "runtime": 13020, "cupy": "14.2.0", "fake": False},
                    "timing": "CUDA events on CuPy's current stream"}}
    return {"schema": 1, "options": {"device": "cuda:0", "peers": ["cupy", "torch"], "ops": [], "impl": None},
            "calibration": dict(cal, status="cached", path="/x/calibration-cuda.json"), "environment": env,
            "machine": {"cpu": "x", "cpu_count": 2}, "copy_bandwidth": ceiling, "records": records, "failed": 0}


def _render(result):
    """(the text, the text with whitespace runs collapsed: wrapped lines joined)."""
    c = Console(width=250, record=True)
    for line in tables.header_lines(result):
        c.print(line, markup=False, highlight=False)
    c.print(tables.build_table(result, wide=True))  # every column: the peers' own cells are checked too
    text = c.export_text()
    return text, " ".join(text.split())


def test_cuda_records_of_ceil_from_the_device_calibration():
    res = _synthetic_result()
    gemm, relu, tanh = res["records"]
    # 2·4096³ FLOP in 20 ms = 6872 GFLOP/s of a 50000 GFLOP/s peak; cuBLAS twice as fast
    assert gemm["fraction_of_peak"] == pytest.approx(2.0 * 4096**3 / 0.02 / 1e9 / 50000.0)
    assert gemm["peers"]["cupy"]["fraction_of_peak"] == pytest.approx(2 * gemm["fraction_of_peak"])
    assert relu["fraction_of_copy"] == 0.75  # the copy timed alongside wins over the calibration
    assert tanh["fraction_of_copy"] == pytest.approx(500.0 / 2500.0)  # no copy row: the device's calibrated copy
    assert res["copy_bandwidth"] == {"gbs": 2500.0, "by": "pybench copy (calibration)", "shape": "(134217728,)",
                                     "calibrated": True}


def test_cuda_report_renders_units_and_ceilings():
    text, flat = _render(_synthetic_result())
    assert "pybench bench --device cuda:0: NVIDIA H100 80GB HBM3 (cc 9.0, driver 13000, CUDA runtime 13020)" in text
    assert "timed with CUDA events on CuPy's current stream" in text
    assert "peers on the device: CuPy 14.2.0 (cuBLAS), PyTorch n/a (torch 2.13.0+cpu has no usable CUDA)" in text
    assert "peak (ceiling of the compute ops): 50000 GFLOP/s FP32, cuBLAS (cupy.matmul) 8192^3" in text
    assert "copy bandwidth (ceiling of the memory-bound ops): 2500 GB/s, by pybench copy (calibration)" in text
    assert "from the device's calibration" in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.startswith("│")}
    assert "6872 GF/s" in rows["gemm"] and "14%" in rows["gemm"] and "13744 GF/s" in rows["gemm"]
    assert "0.50x" in rows["gemm"]
    assert "1500 GB/s" in rows["relu"] and "75%" in rows["relu"]
    assert "500 GB/s" in rows["tanh"] and "20%" in rows["tanh"]
    assert "of the device's calibrated FP32 GEMM peak" in flat and "our CUDA copy timed in the same rounds" in flat
    assert "no column: torch (" in flat  # torch timed nothing: named in the caption, not a column
    assert "bandwidth mode of this VM" not in text and "SIMD" not in text


def test_cuda_report_over_100_percent_and_json(tmp_path):
    res = _synthetic_result()
    res["records"][0]["fraction_of_peak"] = 1.3
    text, flat = _render(res)
    assert "rerun `pybench info --calibrate --device cuda:0` on a quiet machine" in flat
    assert "Winograd" not in text
    tables.write_json(res, tmp_path / "r.json")
    d = json.loads((tmp_path / "r.json").read_text())
    assert [r["device"] for r in d["records"]] == ["cuda:0"] * 3
    assert d["records"][0]["rate_unit"] == "GFLOP/s" and d["records"][1]["rate_unit"] == "GB/s"
    assert d["records"][0]["work_unit"] == "FLOP" and d["records"][1]["work_unit"] == "B"


def test_cpu_records_say_cpu(capsys, tmp_path):
    out_json = tmp_path / "r.json"
    assert main(["bench", *FAST, "--op", "relu", "--peers", "none", "--json", str(out_json)]) == 0
    d = json.loads(out_json.read_text())
    assert d["options"]["device"] == "cpu" and {r["device"] for r in d["records"]} == {"cpu"}
    assert "cuda" not in d["environment"]


# ----------------------------------------------------------------------------------------------
# device.CudaDevice itself (not the fake's overrides), with NumPy dressed as CuPy
# ----------------------------------------------------------------------------------------------


class _NumpyAsCupy:
    """NumPy under CuPy's names, with just enough of cupy.cuda (device context, runtime queries,
    current stream, events timed by the host clock) for CudaDevice and EventClock to run unchanged."""

    __version__ = "shim"

    def __init__(self):
        import time

        class Device:
            def __init__(self, i=0):
                self.i = i

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        class Stream:
            ptr = 0

            def synchronize(self):
                pass

        class Event:
            t = None

            def record(self, stream=None):
                assert isinstance(stream, Stream)  # on the current stream, explicitly
                self.t = time.perf_counter()

            def synchronize(self):
                pass

        class runtime:  # noqa: N801
            getDeviceProperties = staticmethod(lambda i: {"name": b"Shim GPU", "major": 9, "minor": 0,
                                                          "totalGlobalMem": 8 << 30, "multiProcessorCount": 132})
            driverGetVersion = staticmethod(lambda: 13000)
            runtimeGetVersion = staticmethod(lambda: 13020)

        stream = Stream()

        class cuda:  # noqa: N801
            pass

        cuda.Device, cuda.Event, cuda.runtime = Device, Event, runtime
        cuda.get_current_stream = staticmethod(lambda: stream)
        cuda.get_elapsed_time = staticmethod(lambda a, b: (b.t - a.t) * 1e3)
        self.cuda = cuda

    def asnumpy(self, a):
        return np.array(a, copy=True)

    def __getattr__(self, name):
        return getattr(np, name)


def test_cuda_device_class_runs_the_bench_with_a_shim(capsys, tmp_path, monkeypatch):
    dev = D.CudaDevice(_NumpyAsCupy(), 0)
    dev.registry = "cpu"  # its "device" arrays are NumPy arrays: the CPU kernels and their impls
    dev.torch_reason = lambda torch: "no torch with the shim"  # (CudaDevice.torch_reason: test below)
    d = dev.describe()
    assert d["name"] == "Shim GPU" and d["compute_capability"] == "9.0" and d["driver"] == 13000
    assert d["total_memory"] == 8 << 30 and d["fake"] is False
    monkeypatch.setattr(D, "open_cuda", lambda index=0: dev)
    out_json = tmp_path / "r.json"
    rc = main(["bench", "--device", "cuda", *FAST, "--op", "copy", "gemm", "linear", "relu", "tanh",
               "--json", str(out_json)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    out = " ".join(out.split())
    assert "Shim GPU (cc 9.0, driver 13000, CUDA runtime 13020)" in out and "CUDA events" in out
    # the shim's reason where torch imports, the import error where it does not: the same in both places
    note = next(ln for ln in err.splitlines() if ln.endswith("; the torch column will read n/a"))
    reason = note[len("note: "):-len("; the torch column will read n/a")]
    assert reason == "no torch with the shim" or reason.startswith("torch not importable"), note
    res = json.loads(out_json.read_text())
    assert res["environment"]["cupy"] == "shim"
    for r in res["records"]:
        assert r["status"] == "ok" and r["peers"]["torch"]["status"] == "n/a"
        assert r["peers"]["torch"]["reason"] == reason
    assert {r["op"] for r in res["records"] if r["peers"]["cupy"].get("status") == "ok"} == {"copy", "gemm", "linear",
                                                                                          "relu", "tanh"}
    cal = cuda_calibrate.measure(dev, quick=True, budget_s=0.01)
    assert cal["key"] == "Shim GPU | cc 9.0 | driver 13000" and cal["gemm_peak_gflops"] > 0


def test_torch_helpers_of_cuda_device():
    import types

    torch = pytest.importorskip("torch")
    stub = types.SimpleNamespace(index=0)
    if not torch.cuda.is_available():
        assert "torch.cuda.is_available() is False" in D.CudaDevice.torch_reason(stub, torch)
    assert D.CudaDevice.torch_reason(stub, None) == "torch not importable"
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    undo = D.CudaDevice.torch_setup(stub, torch)
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (False, False)
    undo()
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
    desc = D.CudaDevice.torch_describe(stub, torch)
    assert desc["torch"] == torch.__version__ and "cudnn" in desc


def test_device_copies_shared_only_for_run_wide_inputs(fake_gpu):
    be = cuda_problems.CudaBackend(fake_gpu)
    inputs = be.new_inputs()
    fwd, bwd = [p for p in P.problems_for("tanh", quick=True)]
    c1, c2 = be.build(fwd, inputs), be.build(bwd, inputs)
    assert c1.d("x") is c2.d("x") is fake_gpu.put(inputs.get("x", P.QUICK))  # one device x
    y = c2.d("y")  # the backward's private forward output: the case's own copy, not kept run-wide
    assert c2.d("y") is y and not fake_gpu.is_shared(c2.cpu.y) and id(c2.cpu.y) not in fake_gpu._cache
    np.testing.assert_array_equal(y, c2.cpu.y)
    inputs.clear()
    assert not fake_gpu._cache and not fake_gpu._shared
