"""The FMA-throughput probe (csrc/cpu/probe.cpp) and the FMA peak in the calibration cache,
`pybench info`, `pybench bench` and `pybench bench-train` headers. No timing assertions: only
that the figures exist, are positive and finite, and travel through the cache."""

import json
import math

import pytest

from pybench import _native
from pybench.bench import calibrate, train_step
from pybench.cli import main


@pytest.fixture(autouse=True)
def cal_path(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "calibration.json"
    monkeypatch.setenv("PYBENCH_CALIBRATION", str(path))
    return path


def _fake(**extra):
    cal = {"schema": calibrate.SCHEMA, "machine": calibrate.machine(), "threads": 2, "quick": False,
           "measured_at": "then", "gemm_peak_gflops": 180.0, "gemm_peak_size": 2048, "gemm": [],
           "copy_gbs": 40.0, "copy": {"elements": 1 << 25}}
    cal.update(extra)
    return cal


@pytest.mark.parametrize("threads", [1, 2])
def test_probe_positive_finite_on_every_isa(isa, threads):
    before = _native.get_num_threads()
    _native.set_num_threads(threads)
    try:
        r = _native.fma_probe(20000)
    finally:
        _native.set_num_threads(before)
    assert r["isa"] == isa and r["threads"] == threads
    assert r["lanes"] == {"avx512": 16, "avx2": 8, "base": 4}[isa]
    assert math.isfinite(r["gflops"]) and r["gflops"] > 0 and r["seconds"] > 0
    assert math.isfinite(r["sink"]) and r["sink"] > 0  # the chains' result is kept, finite, not denormal
    chains = {"avx512": 16, "avx2": 12, "base": 8}[isa]
    assert r["flops"] == threads * 20000 * chains * r["lanes"] * 2


def test_probe_rejects_bad_iters():
    for bad in (0, -5):
        with pytest.raises(ValueError, match=r"fma_probe: iters: expected an integer >= 1, got"):
            _native.fma_probe(bad)
    with pytest.raises(TypeError):
        _native.fma_probe("many")


def test_calibration_round_trips_with_the_fma_peak(cal_path):
    cal = calibrate.measure(quick=True, budget_s=0.01)
    assert cal["fma_peak_gflops"] > 0 and math.isfinite(cal["fma_peak_gflops"])
    assert cal["fma"]["gflops"] == cal["fma_peak_gflops"] == max(cal["fma"]["runs"])
    calibrate.save(cal)
    back, why = calibrate.load()
    assert why is None and back == json.loads(cal_path.read_text())
    assert calibrate.fma_peak(back) == cal["fma_peak_gflops"]
    s = calibrate.peak_summary(back)
    assert s.startswith("GEMM peak ") and "% of the FMA peak" in s


def test_old_cache_without_the_fma_peak_still_loads(capsys):
    calibrate.save(_fake())
    cal, why = calibrate.load()
    assert why is None and cal["gemm_peak_gflops"] == 180.0
    assert calibrate.fma_peak(cal) is None
    assert "FMA peak not measured" in calibrate.peak_summary(cal)
    assert main(["info"]) == 0
    assert "calibration     GEMM peak 180.0 GFLOP/s (FMA peak not measured" in capsys.readouterr().out
    calibrate.save(_fake(fma_peak_gflops=200.0))
    assert calibrate.peak_summary(calibrate.load()[0]) == "GEMM peak 180.0 GFLOP/s = 90% of the FMA peak 200.0 GFLOP/s"
    calibrate.save(_fake(fma_peak_gflops="garbage"))
    assert calibrate.load()[0] is not None and calibrate.fma_peak(calibrate.load()[0]) is None


def test_info_calibrate_prints_both_peaks(capsys, monkeypatch):
    real = calibrate.measure
    monkeypatch.setattr(calibrate, "measure", lambda **kw: real(quick=True, budget_s=0.01, **kw))
    assert main(["info", "--calibrate"]) == 0
    out = capsys.readouterr().out
    assert "FMA peak" in out and "register-only" in out and "% of the FMA peak" in out


def test_bench_header_names_the_fma_peak(capsys):
    calibrate.save(_fake(fma_peak_gflops=200.0))
    rc = main(["bench", "--quick", "--repeat-seconds", "0.01", "--op", "gemm", "--peers", "none"])
    out = " ".join(capsys.readouterr().out.split())  # header lines wrap at 100 columns
    assert rc == 0 and "= 90% of the FMA peak 200.0 GFLOP/s" in out
    calibrate.save(_fake())  # an old cache: the header still shows the GEMM peak, no FMA clause
    rc = main(["bench", "--quick", "--repeat-seconds", "0.01", "--op", "gemm", "--peers", "none"])
    out = " ".join(capsys.readouterr().out.split())
    assert rc == 0 and "peak (ceiling of the compute ops): 180.0 GFLOP/s" in out and "FMA peak" not in out


def test_bench_train_needs_column_and_header():
    res = {"environment": {"calibration": {"status": "cached", "fma_peak_gflops": 200.0, "gemm_peak_gflops": 180.0,
                                           "threads": 2, "measured_at": "then"}}}
    line = train_step.peak_line(res)
    assert "FMA peak 200.0 GFLOP/s" in line and "90% of it" in line and "2x needs" in line
    assert train_step._needs(150.0, 200.0) == "150 GF/s (75% FMA)"
    assert train_step._needs(150.0, None) == "150 GF/s"
    assert train_step._needs(None, 200.0) == "-"
    res["environment"]["calibration"] = {"status": "no calibration at x", "fma_peak_gflops": None}
    assert "not calibrated" in train_step.peak_line(res)
