"""pybench.bench.pytest_json: reading pytest-benchmark's JSON, and the tests/bench suite's naming.

The end-to-end test runs one real benchmark of tests/bench in a subprocess (a few seconds)."""

import json
import os
import subprocess
import sys

import pytest

import pybench
from pybench.bench import pytest_json

HOME = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))  # the imported pybench's root
SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench")  # beside this file, installed or not


def _entry(name, median, extra=None, **stats):
    return {"name": name, "fullname": f"tests/bench/x.py::{name}", "extra_info": extra or {},
            "stats": dict({"median": median, "iqr": median / 10, "mean": median, "min": median / 2,
                           "stddev": 0.0, "rounds": 5}, **stats)}


def test_load_names_by_kernel_then_by_test_name(tmp_path):
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"machine_info": {}, "benchmarks": [
        _entry("test_gemm[512x512x512]", 0.01, {"kernel": "gemm[512x512x512]"}),
        _entry("test_activation[forward-relu]", 2e-4, {"kernel": "relu_forward[1048576]"}),
        _entry("test_other[3]", 0.5),
    ]}))
    d = pytest_json.load(p)
    assert set(d) == {"gemm[512x512x512]", "relu_forward[1048576]", "other[3]"}
    assert d["gemm[512x512x512]"]["median_s"] == 0.01 and d["gemm[512x512x512]"]["iqr_s"] == pytest.approx(0.001)
    assert d["other[3]"]["rounds"] == 5


@pytest.mark.parametrize("payload, fragment", [
    ("{not json", "cannot read"),
    (json.dumps({"records": []}), "'benchmarks' list"),
    (json.dumps({"benchmarks": [{"name": "test_x", "stats": {}}]}), "stats.median"),
    (json.dumps({"benchmarks": [_entry("test_x", 0.0)]}), "not a positive time"),
    (json.dumps({"benchmarks": [_entry("test_x", 1.0), _entry("x", 2.0)]}), "appears twice"),
])
def test_load_rejects_other_files(tmp_path, payload, fragment):
    p = tmp_path / "b.json"
    p.write_text(payload)
    with pytest.raises(pytest_json.PytestJsonError, match=fragment.replace("(", r"\(")):
        pytest_json.load(p)


def test_suite_writes_json_the_reader_reads(tmp_path):
    """`pytest tests/bench --benchmark-only --benchmark-json OUT` on one small benchmark."""
    out = tmp_path / "pb.json"
    env = dict(os.environ, PYTHONPATH=HOME)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SUITE, "--benchmark-only",
           "--benchmark-json", str(out), "--benchmark-max-time", "0.01", "--benchmark-min-rounds", "3",
           "--benchmark-warmup", "off", "-k", "gemm and 512x512x512"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    d = pytest_json.load(out)
    assert list(d) == ["gemm[512x512x512]"] and d["gemm[512x512x512]"]["median_s"] > 0


def test_default_run_does_not_collect_the_suite(tmp_path):
    env = dict(os.environ, PYTHONPATH=HOME)
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", SUITE],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "test_kernels_bench" not in r.stdout, r.stdout
    assert r.returncode == 5  # "no tests collected"
