"""The regression gate: `pybench compare`, `pybench gate` (counting faked, except under -m slow),
the history and `pybench report --history`, the environment key, the gate problems' checks."""

import copy
import json
import shutil

import numpy as np
import pytest

from pybench import _native, cli
from pybench.bench import compare as C
from pybench.bench import gate, gate_problems, history

KEY = {"compiler": "GNU 12.2.0", "build_type": "Release", "flags": "-O3",
       "isa_path": "avx2", "valgrind": "valgrind-3.19.0", "python": "3.11.7", "numpy": "2.1"}


def figures(counts, key=KEY, failed=None):
    return {"schema": gate.SCHEMA, "metric": "instructions", "key": dict(key),
            "kernels": {k: {"family": k.split("/")[0], "instructions": v, "repeats": [v]} for k, v in counts.items()},
            "failed": dict(failed or {}), "created": "2026-11-24T02:00:00+00:00", "wall_seconds": 1.0}


BASE = {"gemm/128": 1_000_000, "relu_forward/64k": 200_000, "softmax_forward/256x100": 50_000}


def write(tmp_path, name, d):
    p = tmp_path / name
    p.write_text(json.dumps(d))
    return str(p)


def run_cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- compare ------------------------------------------------------------------------------------

def test_compare_unchanged_passes_and_lists_every_kernel(tmp_path, capsys):
    b = write(tmp_path, "b.json", figures(BASE))
    code, out, _ = run_cli(capsys, "compare", b, b)
    assert code == 0
    for k in BASE:
        assert k in out
    assert "pass: 3 ok" in out and "+0.00%" in out


def test_compare_regression_past_the_threshold_exits_1():
    cur = dict(BASE, **{"relu_forward/64k": 220_000})  # +10%
    rows, counts = C.compare(_as_loaded(figures(BASE)), _as_loaded(figures(cur)), 2.0)
    assert counts == {"ok": 2, "REGRESSION": 1} and C.exit_code(counts) == 1
    r = next(r for r in rows if r["kernel"] == "relu_forward/64k")
    assert r["change_pct"] == pytest.approx(10.0) and r["status"] == "REGRESSION"


def _as_loaded(fig):
    return {"metric": "instructions", "key": fig["key"], "failed": fig["failed"],
            "kernels": {k: float(v["instructions"]) for k, v in fig["kernels"].items()}}


@pytest.mark.parametrize("change, threshold, status, code", [
    (+0.015, None, "ok", 0),          # 1.5% < default 2%
    (+0.025, None, "REGRESSION", 1),  # 2.5% > 2%
    (+0.025, "5", "ok", 0),           # under a looser threshold
    (-0.10, None, "improved", 0),     # faster is never a failure
])
def test_compare_threshold_and_improvement(tmp_path, capsys, change, threshold, status, code):
    cur = dict(BASE, **{"gemm/128": int(BASE["gemm/128"] * (1 + change))})
    b, c = write(tmp_path, "b.json", figures(BASE)), write(tmp_path, "c.json", figures(cur))
    args = ["compare", b, c] + (["--threshold", threshold] if threshold else [])
    got, out, _ = run_cli(capsys, *args)
    assert got == code
    line = next(ln for ln in out.splitlines() if ln.startswith("gemm/128"))
    assert line.rstrip().endswith(status)


def test_compare_missing_kernel_fails_and_new_kernel_is_noted(tmp_path, capsys):
    cur = {k: v for k, v in BASE.items() if k != "gemm/128"}
    cur["adam_step/64k"] = 10
    b, c = write(tmp_path, "b.json", figures(BASE)), write(tmp_path, "c.json", figures(cur))
    code, out, _ = run_cli(capsys, "compare", b, c)
    assert code == 1
    assert any(ln.startswith("gemm/128") and "MISSING" in ln for ln in out.splitlines())
    assert any(ln.startswith("adam_step/64k") and ln.rstrip().endswith("new") for ln in out.splitlines())


def test_compare_failed_kernel_fails(tmp_path, capsys):
    cur = {k: v for k, v in BASE.items() if k != "gemm/128"}
    b = write(tmp_path, "b.json", figures(BASE))
    c = write(tmp_path, "c.json", figures(cur, failed={"gemm/128": "out: differs from pybench.reference"}))
    code, out, _ = run_cli(capsys, "compare", b, c)
    assert code == 1 and "FAILED (out: differs" in out


def test_compare_key_mismatch_is_not_compared_exit_0(tmp_path, capsys):
    other = dict(KEY, valgrind="valgrind-3.22.0")
    cur = dict(BASE, **{"gemm/128": 2_000_000})  # would be a regression under one key
    b, c = write(tmp_path, "b.json", figures(BASE)), write(tmp_path, "c.json", figures(cur, key=other))
    code, out, err = run_cli(capsys, "compare", b, c)
    assert code == 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "not compared" in err and "valgrind: baseline 'valgrind-3.19.0', current 'valgrind-3.22.0'" in err
    code, out, _ = run_cli(capsys, "compare", b, c, "--ignore-key")
    assert code == 1 and "REGRESSION" in out


@pytest.mark.parametrize("args, fragment", [
    (["compare", "MISSING.json", "{b}"], "MISSING.json: no such file"),
    (["compare", "{b}", "{bad}"], "not readable JSON"),
    (["compare", "{b}", "{other}"], "expected the JSON of `pybench gate` or of pytest-benchmark"),
    (["compare", "{b}", "{b}", "--threshold", "abc"], "--threshold: expected a percentage > 0, got 'abc'"),
    (["compare", "{b}", "{b}", "--threshold", "-1"], "--threshold: expected a percentage > 0, got '-1'"),
    (["compare", "{b}", "{b}", "--threshold", "nan"], "--threshold: expected a percentage > 0"),
    (["compare", "{b}", "{pb}"], "compare figures of the same kind"),
    (["compare", "{b}"], "the following arguments are required"),
])
def test_compare_bad_input_exits_2(tmp_path, capsys, args, fragment):
    paths = {"b": write(tmp_path, "b.json", figures(BASE)), "other": write(tmp_path, "o.json", {"x": 1}),
             "pb": write(tmp_path, "pb.json", PB_SMALL)}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    paths["bad"] = str(bad)
    code, out, err = run_cli(capsys, *[a.format(**paths) for a in args])
    assert code == 2
    assert fragment in err and out == ""


# --- pytest-benchmark JSON ----------------------------------------------------------------------

def _bench(name, median, iqr):
    return {"group": None, "name": name, "fullname": f"tests/bench/test_kernels.py::{name}",
            "params": None, "param": None, "extra_info": {},
            "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 5, "max_time": 1.0,
                        "min_time": 5e-06, "warmup": False},
            "stats": {"min": median * 0.9, "max": median * 1.3, "mean": median * 1.02, "stddev": median * 0.05,
                      "rounds": 20, "median": median, "iqr": iqr, "q1": median - iqr / 2, "q3": median + iqr / 2,
                      "iqr_outliers": 1, "stddev_outliers": 2, "outliers": "2;1", "ld15iqr": median * 0.9,
                      "hd15iqr": median * 1.2, "ops": 1 / median, "total": median * 20, "iterations": 1}}


# A small file in pytest-benchmark's --benchmark-json format (version 4.0.0 / 5.x layout).
PB_SMALL = {
    "machine_info": {"node": "vm", "processor": "x86_64", "machine": "x86_64", "python_implementation": "CPython",
                     "python_version": "3.11.7", "cpu": {"brand_raw": "Intel(R) Xeon(R) CPU", "count": 2}},
    "commit_info": {"id": "3371232", "dirty": False, "branch": "main"},
    "benchmarks": [_bench("test_gemm[256]", 2.5e-3, 1e-4), _bench("test_relu[65536]", 3.0e-5, 2e-6)],
    "datetime": "2026-11-24T02:00:00", "version": "5.1.0",
}


@pytest.fixture
def pb_fixture(tmp_path):
    return write(tmp_path, "pb.json", PB_SMALL)


def _pb(scale):
    d = copy.deepcopy(PB_SMALL)
    for b in d["benchmarks"]:
        if "relu" in b["name"]:
            b["stats"]["median"] *= scale
    return d


def test_compare_reads_pytest_benchmark_json(tmp_path, capsys, pb_fixture):
    PB_FIXTURE = pb_fixture
    code, out, _ = run_cli(capsys, "compare", PB_FIXTURE, PB_FIXTURE)
    assert code == 0 and "metric: seconds, threshold 25%" in out
    assert "gemm[256]" in out and "relu[65536]" in out and " us" in out
    slower = write(tmp_path, "slow.json", _pb(1.4))
    code, out, _ = run_cli(capsys, "compare", PB_FIXTURE, slower)
    assert code == 1 and "+40.00%" in out
    code, _, _ = run_cli(capsys, "compare", PB_FIXTURE, slower, "--threshold", "50")
    assert code == 0


def test_pytest_benchmark_loader_interface(pb_fixture):
    PB_FIXTURE = pb_fixture
    from pybench.bench import pytest_json
    got = pytest_json.load(PB_FIXTURE)
    assert got and all({"median_s", "iqr_s"} <= set(v) for v in got.values())
    loaded = C.load(PB_FIXTURE)
    assert loaded["metric"] == "seconds" and set(loaded["kernels"]) == set(got)


# --- gate (counting faked) ----------------------------------------------------------------------

@pytest.fixture
def fake_count(monkeypatch):
    """gate.count without valgrind: returns the figures set in state['counts'] under state['key']."""
    state = {"counts": dict(BASE), "key": dict(KEY), "failed": {}}

    def count(names=None, **kw):
        return figures(state["counts"], key=state["key"], failed=state["failed"])
    monkeypatch.setattr(gate, "count", count)
    monkeypatch.setattr(gate, "git_state", lambda cwd=None: {"commit": "abcdef1234567890", "dirty": False})
    return state


def _gate(capsys, tmp_path, *extra):
    args = ["gate", "--baseline", str(tmp_path / "base.json"), "--out", str(tmp_path / "cur.json"),
            "--history", str(tmp_path / "h.jsonl"), *extra]
    return run_cli(capsys, *args)


def test_gate_without_baseline_says_so_then_update_then_pass(tmp_path, capsys, fake_count):
    code, out, _ = _gate(capsys, tmp_path)
    assert code == 0 and "not compared: no baseline" in out and "--update-baseline" in out
    code, out, _ = _gate(capsys, tmp_path, "--update-baseline")
    assert code == 0 and "wrote the baseline" in out
    assert json.loads((tmp_path / "base.json").read_text())["key"] == KEY
    code, out, _ = _gate(capsys, tmp_path)
    assert code == 0 and "pass: 3 ok" in out
    assert json.loads((tmp_path / "cur.json").read_text())["git"]["commit"] == "abcdef1234567890"
    lines = [json.loads(ln) for ln in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert [ln["compared"] if isinstance(ln["compared"], str) else "compared" for ln in lines] == \
        ["no baseline", "baseline", "compared"]
    assert lines[-1]["commit"] == "abcdef1234567890" and lines[-1]["dirty"] is False
    assert lines[-1]["kernels"] == BASE and lines[-1]["key"] == KEY


def test_gate_catches_a_10_percent_regression(tmp_path, capsys, fake_count):
    _gate(capsys, tmp_path, "--update-baseline")
    fake_count["counts"]["softmax_forward/256x100"] = 55_000
    code, out, _ = _gate(capsys, tmp_path)
    assert code == 1 and "REGRESSION" in out and "+10.00%" in out
    last = json.loads((tmp_path / "h.jsonl").read_text().splitlines()[-1])
    assert last["compared"]["counts"] == {"ok": 2, "REGRESSION": 1}
    assert last["compared"]["worst_pct"] == pytest.approx(10.0)


def test_gate_only_compares_the_selected_problems(tmp_path, capsys, fake_count):
    real = [p.name for p in gate_problems.problems()]
    fake_count["counts"] = {n: 1000 + i for i, n in enumerate(real)}
    _gate(capsys, tmp_path, "--update-baseline")
    fake_count["counts"] = {n: v for n, v in fake_count["counts"].items() if n.startswith("relu_forward")}
    code, out, _ = _gate(capsys, tmp_path, "--only", "relu_forward")
    assert code == 0 and "pass: 1 ok" in out and "MISSING" not in out
    code, out, _ = _gate(capsys, tmp_path)  # the full gate with kernels gone: those are MISSING
    assert code == 1 and "MISSING" in out


def test_gate_foreign_key_is_one_line_and_exit_0(tmp_path, capsys, fake_count):
    _gate(capsys, tmp_path, "--update-baseline")
    fake_count["key"]["compiler"] = "Clang 17.0.0"
    fake_count["counts"]["gemm/128"] *= 3
    code, out, _ = _gate(capsys, tmp_path)
    assert code == 0
    (line,) = [ln for ln in out.splitlines() if "not compared" in ln]
    assert "compiler: baseline 'GNU 12.2.0', current 'Clang 17.0.0'" in line and "--update-baseline" in line
    assert "REGRESSION" not in out


def test_gate_failed_problem_fails_and_baseline_is_not_written(tmp_path, capsys, fake_count):
    fake_count["failed"] = {"gemm/128": "out: differs from pybench.reference"}
    del fake_count["counts"]["gemm/128"]
    code, _, err = _gate(capsys, tmp_path, "--update-baseline")
    assert code == 1 and "baseline NOT written" in err and "FAILED gemm/128" in err
    assert not (tmp_path / "base.json").exists()


@pytest.mark.parametrize("extra, fragment", [
    (["--threshold", "0"], "--threshold: expected a percentage > 0, got '0'"),
    (["--threshold", "x"], "--threshold: expected a percentage > 0"),
    (["--only", "no_such_op"], "--only: expected a problem name or prefix"),
    (["--repeat", "0"], "expected a positive integer"),
    (["--isa", "sse9"], "invalid choice"),
])
def test_gate_bad_input_exits_2(tmp_path, capsys, fake_count, extra, fragment):
    code, out, err = _gate(capsys, tmp_path, *extra)
    assert code == 2 and fragment in err
    assert not (tmp_path / "h.jsonl").exists()


def test_gate_bad_baseline_file_exits_2(tmp_path, capsys, fake_count):
    (tmp_path / "base.json").write_text("[]")
    code, _, err = _gate(capsys, tmp_path)
    assert code == 2 and "base.json: expected the JSON of `pybench gate`" in err


def test_gate_that_cannot_run_exits_3_with_the_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gate.shutil, "which", lambda name: None)  # no valgrind on PATH
    code, _, err = _gate(capsys, tmp_path, "--only", "relu_forward")
    assert code == 3 and "could not run: valgrind not found" in err and "apt-get install valgrind" in err
    assert not (tmp_path / "h.jsonl").exists()
    monkeypatch.undo()
    monkeypatch.setattr(gate, "hooks_available", lambda: False)
    if shutil.which("valgrind"):
        code, _, err = _gate(capsys, tmp_path, "--only", "relu_forward")
        assert code == 3 and "built without valgrind/callgrind.h" in err


def test_gate_reports_missing_valgrind(monkeypatch):
    with pytest.raises(gate.GateError, match="valgrind not found"):
        gate.count(["relu_forward"], valgrind="no-such-valgrind-binary")


# --- environment key ----------------------------------------------------------------------------

def test_environment_key_names_what_the_counts_depend_on():
    k = gate.environment_key("avx2")
    assert set(k) == set(gate.KEY_FIELDS) == {"compiler", "build_type", "flags", "isa_path", "valgrind", "python",
                                             "numpy"}
    assert k["isa_path"] == "avx2" and k["compiler"] == _native.build_info()["compiler"]
    assert k["numpy"] == ".".join(np.__version__.split(".")[:2])
    assert gate.key_diff(k, dict(k, python="3.12.0")) == [f"python: baseline {k['python']!r}, current '3.12.0'"]
    assert gate.key_diff(k, k) == []


def test_a_baseline_from_another_cpu_model_is_compared(tmp_path, capsys, fake_count):
    """The CPU model is recorded, not keyed (the kernels read only the ISA level from the CPU): a
    baseline counted on another CPU family, even one whose key still names its CPU, is compared."""
    old = dict(KEY, cpu="AuthenticAMD family 25 model 17")  # how baselines were keyed before
    (tmp_path / "base.json").write_text(json.dumps(figures(BASE, key=old)))
    fake_count["counts"] = dict(BASE, **{"gemm/128": 1_100_000})
    code, out, _ = _gate(capsys, tmp_path)
    assert code == 1 and "not compared" not in out and "REGRESSION" in out
    fake_count["counts"] = dict(BASE)
    code, out, _ = _gate(capsys, tmp_path)
    assert code == 0 and "pass: 3 ok" in out


def test_read_dumps_parses_callgrind_files(tmp_path):
    (tmp_path / "callgrind.out.1").write_text(
        "version: 1\ncreator: callgrind-3.19.0\ndesc: Trigger: Client Request: gemm/128x128x128#0\n"
        "events: Ir\nsummary: 123456\nfn=(1) x\n5 10\ntotals: 123456\n")
    (tmp_path / "callgrind.out.2").write_text("desc: Trigger: Program termination\nsummary: 99\ntotals: 99\n")
    (tmp_path / "callgrind.out.3").write_text("desc: Trigger: Client Request: relu_forward/65536#0\ntotals: 42\n")
    assert gate.read_dumps(str(tmp_path)) == {"gemm/128x128x128#0": 123456, "relu_forward/65536#0": 42}


# --- history and report --history ---------------------------------------------------------------

def test_report_history_table_and_plot(tmp_path, capsys):
    h = tmp_path / "h.jsonl"
    for i, sha in enumerate(["1111111aaaa", "2222222bbbb", "3333333cccc"]):
        counts = dict(BASE, **{"gemm/128": BASE["gemm/128"] + 50_000 * i})
        history.append(str(h), history.entry(figures(counts), {"commit": sha, "dirty": i == 2}))
    code, out, err = run_cli(capsys, "report", "--history", str(h))
    assert code == 0
    assert "3 gate runs" in out and "1111111, 2222222, 3333333+" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("gemm/128"))
    assert "+10.00%" in line and "1,000,000" in line and "1,100,000" in line
    png = tmp_path / "history.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in err


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    ("", "empty"),
    ("{not json\n", ":1: not a gate history line"),
    ('{"commit": "x"}\n', ":1: not a gate history line"),
])
def test_report_history_bad_file_exits_2(tmp_path, capsys, content, fragment):
    h = tmp_path / "h.jsonl"
    if content is not None:
        h.write_text(content)
    code, out, err = run_cli(capsys, "report", "--history", str(h))
    assert code == 2 and fragment in err and out == ""


# --- the problems themselves --------------------------------------------------------------------

def test_gate_problems_pass_their_checks_and_a_wrong_output_fails():
    names = [p.name for p in gate_problems.problems()]
    assert len(names) == len(set(names))
    families = {p.family for p in gate_problems.problems()}
    assert families >= {"gemm", "linear", "conv2d", "pool", "batch_norm", "activation", "softmax", "dropout",
                        "loss", "optim"}
    before = _native.get_num_threads()
    _native.set_num_threads(1)
    try:
        for p in gate_problems.select(["relu_forward", "conv2d_forward/3x3 16", "adam_step", "batch_norm_forward",
                                       "cross_entropy_forward"]):
            p.build()
            assert p.check() is None, p.name
            out = p.outputs()
            key = next(iter(out))
            out[key].reshape(-1)[0] += 1.0  # a wrong kernel's output
            assert p.check(out) is not None, p.name
    finally:
        _native.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("valgrind") or not gate.hooks_available(),
                    reason="needs valgrind and a module built with valgrind/callgrind.h")
def test_counting_under_valgrind_repeats_exactly():
    """Two gate runs give the same figure (min of 3 calls) to the instruction; single calls within 0.5%."""
    runs = [gate.count(["relu_forward", "softmax_forward"], repeat=3) for _ in range(2)]
    for fig in runs:
        assert sorted(k.split("/")[0] for k in fig["kernels"]) == ["relu_forward", "softmax_forward"]
        assert not fig["failed"]
        assert fig["key"]["isa_path"] in ("base", "avx2")  # valgrind hides AVX-512
        for v in fig["kernels"].values():
            assert v["instructions"] > 100_000
            assert max(v["repeats"]) - min(v["repeats"]) <= 0.005 * min(v["repeats"])
    assert {k: v["instructions"] for k, v in runs[0]["kernels"].items()} == \
        {k: v["instructions"] for k, v in runs[1]["kernels"].items()}
