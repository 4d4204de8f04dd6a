"""`pybench bench --device cuda` and `pybench info --calibrate --device cuda` on a real GPU (marker cuda).

Skipped with the reason where no GPU or no CuPy is present -- everywhere this project has been
developed so far: none of these tests has run yet. The CPU-side checks of the same code (with a
NumPy stand-in for the device) are tests/test_bench_device.py. Nothing here asserts a speed.
"""

import json
import os
import subprocess
import sys

import pytest

import pybench

from cuda_util import cuda_skip_reason

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module", autouse=True)
def _gpu():
    reason = cuda_skip_reason()
    if reason:
        pytest.skip(reason)


def _pybench(tmp_path, *args, timeout=900):
    home = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))
    env = dict(os.environ, PYTHONPATH=home + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYBENCH_CALIBRATION=str(tmp_path / "calibration.json"))
    return subprocess.run([sys.executable, "-m", "pybench", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_bench_device_cuda_quick_every_row_ok(tmp_path):
    out = tmp_path / "cuda.json"
    p = _pybench(tmp_path, "bench", "--device", "cuda", "--quick", "--json", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "pybench bench --device cuda:0:" in p.stdout and "FAKE" not in p.stdout
    d = json.loads(out.read_text())
    assert d["options"]["device"] == "cuda:0" and d["failed"] == 0
    assert d["environment"]["cuda"]["device"]["fake"] is False
    recs = d["records"]
    assert recs and all(r["device"] == "cuda:0" for r in recs)
    bad = [(r["op"], r["label"], r["shape"], r["status"], r["reason"]) for r in recs if r["status"] != "ok"]
    assert not bad
    assert all(r["ours"]["median_s"] > 0 for r in recs)
    gemm = [r for r in recs if r["op"] == "gemm"]
    assert gemm and all(r["peers"]["cupy"]["status"] == "ok" for r in gemm)  # cuBLAS agrees with the oracle
    mism = [(r["op"], r["label"], n, p_["reason"]) for r in recs for n, p_ in r["peers"].items()
            if p_.get("status") == "mismatch"]
    assert not mism


def test_bench_device_cuda_every_impl_of_gemm_linear_conv(tmp_path):
    out = tmp_path / "all.json"
    p = _pybench(tmp_path, "bench", "--device", "cuda", "--quick", "--impl", "all", "--op", "gemm", "linear",
                 "conv2d", "copy", "--peers", "cupy", "--json", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    recs = json.loads(out.read_text())["records"]
    assert {r["impl"] for r in recs if r["op"] == "gemm"} == {"naive", "tf32", "tiled"}
    assert all(r["status"] == "ok" for r in recs), [(r["op"], r["impl"], r["reason"]) for r in recs]


def test_info_calibrate_device_cuda(tmp_path):
    p = _pybench(tmp_path, "info", "--calibrate", "--device", "cuda", "--json")
    assert p.returncode == 0, p.stderr
    cal = json.loads(p.stdout)["cuda_calibration"]
    assert cal["gemm_peak_gflops"] > 0 and cal["copy_gbs"] > 0 and cal["status"] == "measured"
    assert not cal["notes"], cal["notes"]  # our gemm agreed with cuBLAS
    assert os.path.exists(tmp_path / "calibration-cuda.json")
    p = _pybench(tmp_path, "bench", "--device", "cuda", "--quick", "--op", "gemm", "relu", "--json",
                 str(tmp_path / "b.json"))
    assert p.returncode == 0, p.stderr
    d = json.loads((tmp_path / "b.json").read_text())
    assert d["calibration"]["status"] == "cached"
    assert all(r["fraction_of_peak"] > 0 for r in d["records"] if r["op"] == "gemm")
