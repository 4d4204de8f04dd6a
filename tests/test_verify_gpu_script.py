"""scripts/verify-gpu.sh rehearsed without a GPU: VERIFY_GPU_DRY_RUN=1 checks the prerequisites and
prints the commands it would run, and runs none of them."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "verify-gpu.sh")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _dry(tmp_path, **env):
    # a fake nvidia-smi first on PATH names the GPU; nothing else is faked
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3'\n")
    smi.chmod(0o755)
    e = dict(os.environ, VERIFY_GPU_DRY_RUN="1", PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", **env)
    return subprocess.run(["bash", SCRIPT], capture_output=True, text=True, env=e, timeout=120, cwd=tmp_path)


def test_dry_run_prints_every_step_and_runs_none(tmp_path):
    before = set(os.listdir(os.path.join(ROOT, "results")))
    p = _dry(tmp_path)
    assert p.returncode == 0, p.stderr
    err = p.stderr
    assert "GPU: NVIDIA H100 80GB HBM3; artifacts in results/gpu/NVIDIA-H100-80GB-HBM3" in err
    steps = [line.split(":")[1].strip() for line in err.splitlines() if line.startswith("verify-gpu: step ")]
    assert steps == ["step build", "step ptxas-summary", "step info", "step pytest-cuda", "step verify"]
    build = next(line for line in err.splitlines() if line.startswith("verify-gpu: step build:"))
    for flag in ("--no-build-isolation", "--no-deps", "--no-index", "cmake.define.PYBENCH_CUDA=ON", "pip install -v"):
        assert flag in build
    assert "-m pytest -q -m cuda" in err and "--junitxml=" in err
    assert "-m pybench verify --device cuda --budget-s '180'" in err
    assert ".ci/ptxas_summary.py" in err
    assert "dry run: nothing was run" in err and " after " not in err  # no step ran ("exit N after S s")
    assert not os.path.exists(os.path.join(ROOT, "results", "gpu", "NVIDIA-H100-80GB-HBM3"))
    assert set(os.listdir(os.path.join(ROOT, "results"))) == before


def test_dry_run_reports_missing_prerequisites(tmp_path):
    p = _dry(tmp_path, PYTHON="false")  # an interpreter that imports nothing
    assert p.returncode == 0
    line = next(line for line in p.stderr.splitlines() if "missing prerequisites" in line)
    for mod in ("numpy", "pybind11", "scikit_build_core", "cupy", "torch", "pytest", "hypothesis"):
        assert mod in line
    assert "mnist1d is not importable" in p.stderr


def test_budget_is_passed_on(tmp_path):
    p = _dry(tmp_path, VERIFY_BUDGET_S="200")
    assert "--budget-s '200'" in p.stderr


def test_script_is_executable_and_strict():
    assert os.access(SCRIPT, os.X_OK)
    text = open(SCRIPT).read()
    assert "set -euo pipefail" in text
