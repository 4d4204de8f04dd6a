"""`pybench compare` on two `pybench bench` / `bench-train` --json runs: rows matched by identity,
each judged by its median change and both runs' quartiles; exit 1 only on a significant slowdown.

One real quick run of each command (a few seconds) is the template; the tests edit its medians and
quartiles to plant the changes, so the verdicts do not depend on this machine's noise."""

import copy
import json
import os
import subprocess
import sys

import pytest

import pybench
from pybench import cli
from pybench.bench import compare as C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_pybench(tmp, *args):
    # The child imports the pybench this process imported; its calibration cache is a scratch path.
    home = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))
    env = dict(os.environ, PYTHONPATH=home + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYBENCH_CALIBRATION=str(tmp / "calibration.json"))
    out = tmp / f"{args[0]}.json"
    p = subprocess.run([sys.executable, "-m", "pybench", *args, "--json", str(out)], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    with open(out) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    d = _run_pybench(tmp_path_factory.mktemp("bench"), "bench", "--quick", "--op", "relu", "gemm",
                     "--repeat-seconds", "0.05", "--peers", "none")
    return tight(d)


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    d = _run_pybench(tmp_path_factory.mktemp("train"), "bench-train", "--quick", "--model", "mlp",
                     "--repeat-seconds", "0.05", "--peers", "none")
    return tight(d)


def set_timing(rec, median, iqr_rel):
    rec["ours"].update(median_s=median, q1_s=median * (1 - iqr_rel / 2), q3_s=median * (1 + iqr_rel / 2))


def tight(run, iqr_rel=0.01):
    """The run with every row's quartiles at +-iqr_rel/2 around its median (this machine's spread varies)."""
    run = copy.deepcopy(run)
    for r in run["records"]:
        set_timing(r, r["ours"]["median_s"], iqr_rel)
    return run


def record(run, op, label=""):
    (r,) = [r for r in run["records"] if r["op"] == op and r["label"] == label]
    return r


def changed(run, op, label, factor, iqr_rel=0.01):
    """A copy of `run` whose (op, label) row's median is `factor` times the original, with that spread."""
    run = copy.deepcopy(run)
    r = record(run, op, label)
    set_timing(r, r["ours"]["median_s"] * factor, iqr_rel)
    return run


def write(tmp_path, name, d):
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return str(p)


def compare(capsys, tmp_path, base, cur, *extra):
    code = cli.main(["compare", write(tmp_path, "base.json", base), write(tmp_path, "cur.json", cur), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def line_of(out, name):
    (ln,) = [ln for ln in out.splitlines() if ln.strip().startswith(name)]
    return ln


def test_the_same_run_twice_passes_and_lists_every_row(bench_run, tmp_path, capsys):
    code, out, err = compare(capsys, tmp_path, bench_run, bench_run)
    assert code == 0 and err == ""
    assert "two `pybench bench` runs" in out and "set-up (same in both)" in out
    for name in ("copy (256, 1000) [stream]", "gemm 128x128x128", "relu fwd (256, 1000)", "relu bwd (256, 1000)"):
        assert "+0.0%" in line_of(out, name) and line_of(out, name).rstrip().endswith("same")
    assert out.strip().splitlines()[-1].startswith("pass: 4 same (threshold 5%")


def test_a_30_percent_slowdown_with_tight_spread_fails(bench_run, tmp_path, capsys):
    code, out, _ = compare(capsys, tmp_path, bench_run, changed(bench_run, "gemm", "", 1.3))
    assert code == 1
    assert "+30.0%" in line_of(out, "gemm 128x128x128") and line_of(out, "gemm").rstrip().endswith("slower")
    assert line_of(out, "relu fwd").rstrip().endswith("same")
    assert out.strip().splitlines()[-1].startswith("FAIL: 1 slower, 3 same")


def test_a_3_percent_change_passes(bench_run, tmp_path, capsys):
    code, out, _ = compare(capsys, tmp_path, bench_run, changed(bench_run, "relu", "fwd", 1.03))
    assert code == 0
    assert "+3.0%" in line_of(out, "relu fwd") and line_of(out, "relu fwd").rstrip().endswith("same")


def test_a_30_percent_change_inside_a_huge_spread_is_noise(bench_run, tmp_path, capsys):
    base = changed(bench_run, "gemm", "", 1.0, iqr_rel=0.8)
    code, out, _ = compare(capsys, tmp_path, base, changed(bench_run, "gemm", "", 1.3, iqr_rel=0.8))
    assert code == 0
    assert "+30.0%" in line_of(out, "gemm") and line_of(out, "gemm").rstrip().endswith("same (within noise)")
    assert "1 same (within noise)" in out.strip().splitlines()[-1]


def test_faster_never_fails_and_the_threshold_sets_the_size(bench_run, tmp_path, capsys):
    code, out, _ = compare(capsys, tmp_path, bench_run, changed(bench_run, "relu", "bwd", 0.7))
    assert code == 0 and line_of(out, "relu bwd").rstrip().endswith("faster")
    slow8 = changed(bench_run, "relu", "bwd", 1.08)
    assert compare(capsys, tmp_path, bench_run, slow8)[0] == 1  # default 5%
    code, out, _ = compare(capsys, tmp_path, bench_run, slow8, "--threshold", "10")
    assert code == 0 and line_of(out, "relu bwd").rstrip().endswith("same")


def test_rows_in_one_run_only_are_listed_not_errors(bench_run, tmp_path, capsys):
    cur = copy.deepcopy(bench_run)
    cur["records"] = [r for r in cur["records"] if r["op"] != "gemm"]
    code, out, _ = compare(capsys, tmp_path, bench_run, cur)
    assert code == 0 and line_of(out, "gemm").rstrip().endswith("only in baseline")
    code, out, _ = compare(capsys, tmp_path, cur, bench_run)
    assert code == 0 and line_of(out, "gemm").rstrip().endswith("only in current")
    assert "1 only in current" in out.strip().splitlines()[-1]


def test_a_row_that_failed_its_check_is_not_timed(bench_run, tmp_path, capsys):
    cur = copy.deepcopy(bench_run)
    r = record(cur, "relu", "bwd")
    r.update(status="FAILED", reason="dx: differs from pybench.reference", ours=None)
    j = tmp_path / "cmp.json"
    code, out, _ = compare(capsys, tmp_path, bench_run, cur, "--json", str(j))
    assert code == 0  # `pybench bench` itself exits 1 on it; compare judges timings
    assert line_of(out, "relu bwd").rstrip().endswith("FAILED in current")
    assert "1 not timed" in out.strip().splitlines()[-1]
    (row,) = [r for r in json.loads(j.read_text())["rows"] if r["key"]["pass"] == "bwd"]
    assert row["verdict"] == "not timed" and row["reasons"] == {"current": "dx: differs from pybench.reference"}


def test_other_set_up_is_compared_with_one_warning_line(bench_run, tmp_path, capsys):
    cur = copy.deepcopy(bench_run)
    cur["environment"]["threads"] = bench_run["environment"]["threads"] + 3
    cur["machine"]["cpu"] = "Some Other CPU"
    code, out, _ = compare(capsys, tmp_path, bench_run, cur)
    assert code == 0
    (warning,) = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    t = bench_run["environment"]["threads"]
    assert f"threads: baseline {t}, current {t + 3}" in warning and "current 'Some Other CPU'" in warning
    assert "set-up (same in both)" not in out


def test_two_bench_train_runs(train_run, tmp_path, capsys):
    code, out, _ = compare(capsys, tmp_path, train_run, train_run)
    assert code == 0 and "two `pybench bench-train` runs" in out
    assert line_of(out, "mlp batch 32").rstrip().endswith("same")
    slow = copy.deepcopy(train_run)
    set_timing(slow["records"][0], slow["records"][0]["ours"]["median_s"] * 1.3, 0.01)
    code, out, _ = compare(capsys, tmp_path, train_run, slow)
    assert code == 1 and "+30.0%" in line_of(out, "mlp batch 32") and "slower" in line_of(out, "mlp batch 32")


def test_bench_against_bench_train_is_a_one_line_usage_error(bench_run, train_run, tmp_path, capsys):
    code, out, err = compare(capsys, tmp_path, bench_run, train_run)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "holds a `pybench bench` run" in err and "holds a `pybench bench-train` run" in err


@pytest.mark.parametrize("cur, fragment", [
    ("MISSING.json", "MISSING.json: no such file"),
    ("{bad}", "not readable JSON"),
    ("{other}", "or the --json of `pybench bench` or `pybench bench-train`"),
    ("{convergence}", "holds accuracies, not timings"),
    ("{malformed}", "malformed `pybench bench` record 1 (KeyError"),
    ("{schema}", "a `pybench bench` run of schema 99"),
])
def test_bad_current_file_is_a_one_line_usage_error(bench_run, tmp_path, capsys, cur, fragment):
    malformed = copy.deepcopy(bench_run)
    del malformed["records"][1]["op"]
    paths = {"other": write(tmp_path, "o.json", {"records": 3}), "malformed": write(tmp_path, "m.json", malformed),
             "convergence": write(tmp_path, "cv.json", {"command": ["pybench", "bench-train", "--convergence"],
                                                        "runs": []}),
             "schema": write(tmp_path, "s.json", dict(bench_run, schema=99))}
    (tmp_path / "bad.json").write_text("{not json")
    paths["bad"] = str(tmp_path / "bad.json")
    code = cli.main(["compare", write(tmp_path, "base.json", bench_run), cur.format(**paths)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err and err.startswith("pybench compare: error:")


def test_bad_threshold_is_a_usage_error(bench_run, tmp_path, capsys):
    code, out, err = compare(capsys, tmp_path, bench_run, bench_run, "--threshold", "0")
    assert code == 2 and out == "" and "--threshold: expected a percentage > 0, got '0'" in err


def test_json_and_markdown_outputs(bench_run, tmp_path, capsys):
    j, md = tmp_path / "out" / "cmp.json", tmp_path / "cmp.md"
    code, out, _ = compare(capsys, tmp_path, bench_run, changed(bench_run, "gemm", "", 1.3), "--json", str(j),
                           "--md", str(md))
    assert code == 1
    d = json.loads(j.read_text())
    assert d["kind"] == "bench" and d["exit_code"] == 1 and d["threshold_pct"] == 5.0
    (g,) = [r for r in d["rows"] if r["key"]["op"] == "gemm"]
    assert g["verdict"] == "slower" and g["change_pct"] == pytest.approx(30.0)
    assert g["key"] == {"op": "gemm", "pass": "", "shape": "128x128x128", "impl": record(bench_run, "gemm")["impl"]}
    assert g["current"]["median_s"] == pytest.approx(1.3 * g["baseline"]["median_s"])
    text = md.read_text()
    assert "| row | baseline | IQR | current | IQR | change | verdict |" in text
    assert any(ln.startswith("| gemm 128x128x128") and ln.endswith("| +30.0% | slower |") for ln in text.splitlines())


def test_table_fits_100_columns_with_long_row_names(tmp_path, capsys, monkeypatch):
    src = os.path.join(ROOT, "results", "bench", "amd-zen4-2026-11-24-bench-resnet50.json")
    assert os.path.exists(src), "the committed resnet50 run is part of the repository"
    monkeypatch.chdir(tmp_path)
    with open(src) as f:
        run = json.load(f)
    write(tmp_path, "a.json", run)
    code = cli.main(["compare", "a.json", "a.json"])  # short paths: the header names them
    out, _ = capsys.readouterr()
    assert code == 0 and out.count(" same") >= len(run["records"])
    assert max(len(ln) for ln in out.splitlines()) <= 100
    assert "conv2d fwd+bwd no dx" in out  # the names wrap, not vanish


@pytest.mark.parametrize("change, b_iqr, c_iqr, verdict", [
    (+0.10, 0.02, 0.02, C.SLOWER),   # q1 1.089 > q3 1.01
    (+0.10, 0.10, 0.10, C.NOISE),    # q1 1.045 < q3 1.05: the ranges overlap
    (-0.10, 0.02, 0.02, C.FASTER),
    (-0.10, 0.20, 0.02, C.NOISE),    # the baseline's own spread covers it
    (+0.04, 0.00, 0.00, C.SAME),     # under the threshold, however tight
])
def test_judge_rule(change, b_iqr, c_iqr, verdict):
    def stats(m, iqr):
        return {"median_s": m, "q1_s": m * (1 - iqr / 2), "q3_s": m * (1 + iqr / 2)}
    pct, got = C.judge(stats(1.0, b_iqr), stats(1.0 + change, c_iqr), 5.0)
    assert got == verdict and pct == pytest.approx(100 * change)


def test_compare_does_not_import_the_gate():
    code = "import sys, pybench.bench.compare; print('pybench.bench.gate' in sys.modules)"
    home = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))  # the pybench under test
    p = subprocess.run([sys.executable, "-c", code], cwd=home, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stderr
