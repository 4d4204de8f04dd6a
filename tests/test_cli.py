"""`pybench run`, `pybench list`, `pybench report` end to end in a temp directory, on tiny budgets:
tables on stdout, progress on stderr (none with --quiet), exit codes 0/1/2, bad input -> one line
and nothing written, quick and full kept apart, --seeds, a TOML sweep, Dask workers, resume after
SIGKILL, and byte-identical rebuilds by `pybench report`."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import pybench
from pybench import cli, experiments, report, store, train
from util import table_cells

# The directory holding the pybench this process imported (the source tree in a dev build,
# site-packages after `pip install .`): child processes must import the same one.
HOME = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))
TINY = ["--set", "n_train=400", "--set", "n_test=100", "--set", "epochs=1", "--set", "noise_scale=false",
        "--set", "depth=1", "--set", "batch_size=32"]


def _run(capsys, *args):
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def only_width(monkeypatch):
    """`pybench run` with no names runs every registered experiment: keep that to width here, so
    this test stays small when more experiments are registered."""
    monkeypatch.setattr(experiments, "_registry", {"width": experiments.get("width")})


def test_run_without_names_runs_every_registered_experiment_in_quick_mode(capsys, tmp_path, only_width):
    out = tmp_path / "results"
    rc, stdout, stderr = _run(capsys, "run", "--out", str(out), *TINY)
    assert rc == 0, stderr
    assert store.list_stored(out) == [("width", "quick")]
    assert stdout.startswith("## Width: MLP hidden units on MNIST-1D (quick mode)\n")
    assert "| width |" in stdout and "\n|    32 |" in stdout and "\n|   512 |" in stdout
    assert "width (quick)" in stderr and "3 runs (3 run now, 0 kept from before)" in stderr  # progress on stderr
    assert "━" not in stdout and "runs" not in stdout.split("\n")[0]
    d = out / "width" / "quick"
    assert sorted(os.listdir(d)) == ["accuracy_vs_width.png", "curves.png", "loss_curves.png", "runs",
                                     "steps_vs_width.png", "summary.csv", "summary.md", "sweep.json",
                                     "throughput_vs_width.png"]
    assert len(os.listdir(d / "runs")) == 3
    assert "(width/quick/summary.md)" in (out / "README.md").read_text()


def test_quiet_keeps_stderr_empty_and_stdout_has_only_the_table(capsys, tmp_path):
    rc, stdout, stderr = _run(capsys, "run", "width", "--quiet", "--out", str(tmp_path), *TINY, "--set", "width=[16]")
    assert rc == 0 and stderr == ""
    lines = stdout.splitlines()
    assert lines[0].startswith("## Width") and lines[2].startswith("| width |")
    assert table_cells(stdout)["width"] == ["16"] and lines[-1].startswith("|    16 |")  # headers may wrap, one row


def test_failed_run_exits_1_and_is_shown(capsys, tmp_path):
    rc, stdout, stderr = _run(capsys, "run", "width", "-q", "--out", str(tmp_path), *TINY,
                              "--set", "width=[16]", "--set", "n_train=20", "--set", "batch_size=64")
    assert rc == 1
    assert "| failed" in stdout
    (rec,) = store.load_records(tmp_path, "width")
    assert rec["status"] == "failed" and "batch_size" in rec["stop_reason"]


@pytest.mark.parametrize("args, fragment", [
    (["run", "nosuch"], "unknown experiment 'nosuch': expected one of " + ", ".join(experiments.names())),
    (["run", "width", "--set", "colour=red"], "unknown key 'colour': expected an axis (width) or a Config field (dataset,"),
    (["run", "width", "--set", "lr=fast"], "lr: expected a number, got str"),
    (["run", "width", "--set", "lr=-1"], "lr: expected a float >= 0"),
    (["run", "width", "--set", "width=[16,0]"], "width: expected an int >= 1, got 0"),
    (["run", "width", "--set", "lr"], "--set: expected KEY=VALUE"),
    (["run", "width", "--set", "dataset=cifar"], "dataset: expected one of mnist1d, digits"),
    (["run", "--config", "{missing}"], "cannot read"),
    (["run", "--config", "{broken}"], "not valid TOML"),
    (["run", "--config", "{badkey}"], "colour: unknown key; expected one of name, title"),
    (["run", "--config", "{badvalue}"], "lr=-0.5"),
    (["run", "width", "--out", "{afile}/sub"], "cannot be created"),
    (["run", "width", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--timeout", "0.5"], "cannot connect"),
    (["run", "width", "--executor", "local", "--workers", "2"], "need --executor dask"),
    (["run", "width", "--seeds", "0"], "--seeds"),
    (["run", "width", "--seeds", "abc"], "argument --seeds: expected a positive integer, got 'abc'"),
    (["run", "width", "--timeout", "soon"], "argument --timeout: expected a positive number of seconds, got 'soon'"),
    (["run", "width", "--set", "epochs=1.5"], "epochs: expected an int, got float"),
    (["run", "width", "--set", "width=[16,\"a\"]"], "width: expected an int, got str"),
    (["run", "width", "--set", "optimizer=lbfgs"], "optimizer: expected one of sgd, adagrad, rmsprop, adam, adamw"),
    (["run", "--config", "{adir}"], "cannot read"),
    (["run", "--config", "{badtype}"], "lr: expected a number, got str"),
    (["run", "--config", "{badaxis}"], "axes.colour: unknown Config field; expected one of dataset,"),
    pytest.param(["run", "width", "--out", "/proc/pybench-test/sub"], "cannot be created (/proc is not writable",
                 marks=pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc"),
                 id="out-under-proc"),  # os.access says yes to root here: the check must try
    pytest.param(["run", "width", "--out", "/proc"], "--out /proc: directory is not writable",
                 marks=pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc"),
                 id="out-is-proc"),
    (["run", "width", "--executor", "ray"], "invalid choice: 'ray'"),
    (["run", "width", "--quick", "--full"], "not allowed with argument"),
    (["report", "{tmp}/nothing-here"], "no experiment records found"),
    (["run", "width", "--set", "width=[64,64]"], "width: expected distinct values, got 64 twice in [64, 64]"),
    (["run", "width", "--set", "width=[64,64.0]"], "width: expected distinct values"),
    (["run", "width", "--set", "lr=[0.1,0.2,0.1]"], "lr: expected distinct values, got 0.1 twice"),
    (["run", "--config", "{dupaxis}"], "dup.toml: axes.lr: expected distinct values"),
    (["run", "--config", "{binary}"], "binary.toml: not UTF-8 text (byte 0xff at offset 0)"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, args, fragment):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "broken.toml").write_text('name = "x"\n[axes]\nlr = [0.1\n')
    (tmp_path / "badkey.toml").write_text('name = "mine"\ncolour = "red"\n')
    (tmp_path / "badvalue.toml").write_text('name = "mine"\n[axes]\nlr = [0.1, -0.5]\n')
    (tmp_path / "badtype.toml").write_text('name = "mine"\n[axes]\nlr = ["fast"]\n')
    (tmp_path / "badaxis.toml").write_text('name = "mine"\n[axes]\ncolour = [1, 2]\n')
    (tmp_path / "dup.toml").write_text('name = "mine"\n[axes]\nlr = [0.1, 0.1]\n')
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00name")
    (tmp_path / "adir").mkdir()
    paths = {"dupaxis": tmp_path / "dup.toml", "binary": tmp_path / "binary.toml","missing": tmp_path / "missing.toml", "broken": tmp_path / "broken.toml", "badkey": tmp_path / "badkey.toml",
             "badvalue": tmp_path / "badvalue.toml", "badtype": tmp_path / "badtype.toml",
             "badaxis": tmp_path / "badaxis.toml", "adir": tmp_path / "adir", "afile": tmp_path / "afile",
             "tmp": tmp_path}
    args = [a.format(**paths) for a in args]
    out = tmp_path / "out"
    if "--out" not in args and args[0] == "run":
        args += ["--out", str(out)]
    before = sorted(os.listdir(tmp_path))
    rc, stdout, stderr = _run(capsys, *args)
    assert rc == 2
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert fragment in stderr
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def test_seeds_give_medians_and_spread(capsys, tmp_path):
    rc, stdout, _ = _run(capsys, "run", "width", "-q", "--out", str(tmp_path), *TINY, "--set", "width=[16,32]",
                         "--seeds", "3")
    assert rc == 0
    rows = (tmp_path / "width" / "quick" / "summary.csv").read_text().splitlines()
    head = rows[0].split(",")
    assert len(rows) == 3
    for row in rows[1:]:
        cells = dict(zip(head, row.split(",")))
        assert cells["seeds"] == "3" and cells["test_acc_spread"] != ""
    assert "±" in stdout
    assert len(os.listdir(tmp_path / "width" / "quick" / "runs")) == 6


def test_quick_and_full_results_never_mix(capsys, tmp_path):
    quick = ["run", "width", "-q", "--out", str(tmp_path), *TINY, "--set", "width=[16]"]
    assert _run(capsys, *quick)[0] == 0
    qdir = tmp_path / "width" / "quick"
    snap = {p: p.read_bytes() for p in qdir.rglob("*") if p.is_file()}
    assert _run(capsys, *quick[:3], "--full", *quick[3:], "--seeds", "1")[0] == 0
    assert {p: p.read_bytes() for p in qdir.rglob("*") if p.is_file()} == snap
    assert len(store.load_records(tmp_path, "width", "full")) == 1
    assert all(r["mode"] == "full" for r in store.load_records(tmp_path, "width", "full"))
    assert store.list_stored(tmp_path) == [("width", "quick"), ("width", "full")]


def test_report_rebuilds_byte_identical_tables_from_the_records(capsys, tmp_path):
    rc, stdout_run, _ = _run(capsys, "run", "width", "-q", "--out", str(tmp_path), *TINY, "--set", "width=[16,32]")
    assert rc == 0
    d = tmp_path / "width" / "quick"
    built = {p: p.read_bytes() for p in [d / "summary.csv", d / "summary.md", tmp_path / "README.md",
                                         d / "accuracy_vs_width.png"]}
    for p in built:
        p.unlink()
    rc, stdout, stderr = _run(capsys, "report", str(tmp_path))
    assert rc == 0 and "wrote" in stderr
    assert {p: p.read_bytes() for p in built} == built
    assert stdout == stdout_run


def test_run_extends_an_edge_optimum_and_report_rebuilds_the_same_table(capsys, tmp_path, monkeypatch):
    """Fake runs (no training): the fewest steps at lr_factor 2.5, so the grid 0.5, 1, 2 has its best
    at the top edge; `pybench run` adds 4, where 2 becomes interior, and says so on stderr."""
    import sweep_helpers

    monkeypatch.setattr(train, "run", sweep_helpers.fake_batch_run)
    args = ["run", "batch-size", "--out", str(tmp_path), "--set", "batch_size=[64]", "--set", "lr_factor=[0.5,1,2]"]
    rc, stdout_run, stderr = _run(capsys, *args)
    assert rc == 0, stderr
    assert "batch-size (quick): extending the lr_factor grid at batch 64 beyond 2 to 4 (best at the edge)" in stderr
    assert "4 runs (4 run now, 0 kept from before)" in stderr
    m = store.load_manifest(tmp_path, "batch-size", "quick")
    assert [(s["point"]["lr_factor"], s.get("extension", 0)) for s in m["specs"]] == [(0.5, 0), (1, 0), (2, 0), (4, 1)]
    d = tmp_path / "batch-size" / "quick"
    (row,) = list(csv_rows(d / "summary.csv"))
    assert row["lr_grid"] == "interior" and row["lr_factors"] == "0.5, 1, 2*, +4"
    assert "0.5, 1, 2*, +4 (interior)" in (d / "summary.md").read_text()
    built = {p: p.read_bytes() for p in (d / "summary.csv", d / "summary.md")}
    for p in built:
        p.unlink()
    rc, stdout, _ = _run(capsys, "report", str(tmp_path))
    assert rc == 0 and stdout == stdout_run and {p: p.read_bytes() for p in built} == built
    # the same command again: every round's runs are kept, none runs
    rc, _, stderr = _run(capsys, *args)
    assert rc == 0 and "4 runs (0 run now, 4 kept from before)" in stderr


def csv_rows(path):
    import csv

    with open(path, newline="") as f:
        yield from csv.DictReader(f)


def test_list_shows_axes_and_defaults(capsys):
    rc, stdout, stderr = _run(capsys, "list")
    assert rc == 0 and stderr == ""
    assert "width: Width: MLP hidden units on MNIST-1D" in stdout
    assert "width = 16, 32, 64, 128, 256, 512, 1024, 2048" in stdout and "width = 32, 128, 512" in stdout
    assert max(map(len, stdout.splitlines())) <= 100  # wrapped: every axis value and default still there
    flat = " ".join(stdout.split())
    assert all(f"{k}={json.dumps(v)}" in flat for e in experiments.all_experiments() for k, v in e.base_config("full").items())
    rc, stdout, _ = _run(capsys, "list", "--json")
    (w,) = [e for e in json.loads(stdout) if e["name"] == "width"]
    assert w["runs"] == {"quick": 3, "full": 40} and w["base"]["threads"] == 1   # 8 widths x 5 seeds


# every experiment on a budget of seconds (one or two points, a few steps)
SMALL = ["--set", "n_train=300", "--set", "n_test=60", "--set", "noise_scale=false"]
TINY_SWEEPS = {
    "width": ["--set", "width=[8,16]", "--set", "steps=4", "--seeds", "2"],
    "depth": ["--set", "depth=[2]", "--set", "width=8", "--set", "steps=3", "--set", "diag_batch=32"],
    "batch-size": ["--set", "batch_size=[32,64]", "--set", "width=8", "--set", "steps=4"],
    "resolution": ["--set", "resolution=[8,16]", "--set", "width=4", "--set", "steps=4"],
    "pitfalls": ["--set", "steps=3", "--set", "n_train=1200"],  # its batch-1024 variant needs 1024 samples
}


@pytest.mark.parametrize("name", list(TINY_SWEEPS))
def test_stdout_tables_fit_100_columns_and_wide_prints_every_column(capsys, tmp_path, name):
    rc, stdout, stderr = _run(capsys, "run", name, "--out", str(tmp_path), *SMALL, *TINY_SWEEPS[name])
    assert rc == 0, stderr
    assert max(map(len, stdout.splitlines())) <= 100 and "--wide" in stderr
    cols = report.analysis(tmp_path, name, "quick")[4]["columns"]
    title = {c.key: c.title or c.key for c in cols}
    shown = [title[c.key] for c in cols if c.md and c.term]
    hidden = [title[c.key] for c in cols if c.md and not c.term]
    assert list(table_cells(stdout)) == shown and hidden  # the main columns only, headers unwrapped here
    rc, wide, _ = _run(capsys, "report", str(tmp_path), "-q", "--wide")
    assert rc == 0 and list(table_cells(wide)) == [title[c.key] for c in cols if c.md]
    d = tmp_path / name / "quick"
    assert list(table_cells((d / "summary.md").read_text())) == [title[c.key] for c in cols if c.md]
    head = (d / "summary.csv").read_text().splitlines()[0].split(",")
    assert [k for k in head if not k.endswith("_spread")] == [c.key for c in cols]  # the CSV keeps every column


def test_a_toml_sweep_runs_and_reports_from_its_manifest(capsys, tmp_path):
    cfg = tmp_path / "mine.toml"
    cfg.write_text('name = "lr-sweep"\ntitle = "LR sweep"\nepochs = 2\ntarget_accuracy = 0.2\n'
                   '[base]\nn_train = 400\nn_test = 100\nwidth = 16\ndepth = 1\nbatch_size = 32\n'
                   '[axes]\nlr = [0.01, 0.05, 0.1]\n[quick]\nepochs = 1\n[quick.axes]\nlr = [0.05, 0.1]\n')
    out = tmp_path / "out"
    rc, stdout, _ = _run(capsys, "run", "--config", str(cfg), "-q", "--out", str(out))
    assert rc == 0
    assert stdout.startswith("## LR sweep (quick mode)") and "| lr |" in stdout.replace("  ", " ").replace("  ", " ")
    recs = store.load_records(out, "lr-sweep", "quick")
    assert sorted(r["point"]["lr"] for r in recs) == [0.05, 0.1]
    assert all(r["config"]["epochs"] == 1 and r["config"]["target_accuracy"] == 0.2 for r in recs)
    cfg.unlink()  # the report needs only the records and the manifest
    md = (out / "lr-sweep" / "quick" / "summary.md").read_bytes()
    (out / "lr-sweep" / "quick" / "summary.md").unlink()
    assert _run(capsys, "report", str(out), "-q")[0] == 0
    assert (out / "lr-sweep" / "quick" / "summary.md").read_bytes() == md


def test_a_toml_sweep_over_three_axes_fits_100_columns(capsys, tmp_path):
    cfg = tmp_path / "wide.toml"
    cfg.write_text('name = "adam-sweep"\ntitle = "Adam: learning rate, betas and activation on MNIST-1D, one '
                   'layer of 8 units"\n[base]\nn_train = 300\nn_test = 60\nwidth = 8\ndepth = 1\nbatch_size = 32\n'
                   'steps = 3\noptimizer = "adam"\nnoise_scale = false\ntarget_accuracy = 0.5\n[axes]\n'
                   'lr = [0.001, 0.01]\nbetas = [[0.9, 0.999], [0.8, 0.99]]\nactivation = ["relu", "leaky_relu"]\n')
    out = tmp_path / "out"
    rc, stdout, stderr = _run(capsys, "run", "--config", str(cfg), "-q", "--out", str(out), "--seeds", "2")
    assert rc == 0, stderr
    assert max(map(len, stdout.splitlines())) <= 100
    cells = table_cells(stdout)
    assert list(cells)[:3] == ["lr", "betas", "activation"] and len(cells["betas"]) == 8
    assert all("±" in v for v in cells["samples/s"])  # medians and spreads over the two seeds
    rc, wide, _ = _run(capsys, "report", str(out), "-q", "--wide")
    assert set(table_cells(wide)) - set(cells) >= {"GFLOP/s", "best val acc", "seeds"}


def test_dask_workers_from_the_command_line(capsys, tmp_path):
    pytest.importorskip("distributed")
    env = dict(os.environ)
    rc, stdout, stderr = _run(capsys, "run", "width", "--workers", "2", "--out", str(tmp_path), *TINY,
                              "--set", "width=[16,32]")
    assert rc == 0, stderr
    assert dict(os.environ) == env
    line = next(ln for ln in stderr.splitlines() if ln.startswith("dask: scheduler tcp://127.0.0.1:"))
    try:
        import bokeh  # noqa: F401  (where bokeh imports, the scheduler serves a dashboard)
        assert "; dashboard http://127.0.0.1:" in line, line
    except ImportError:
        assert line.endswith("; no dashboard: bokeh is not installed where the scheduler runs "
                             "(pip install 'pybench[dask]')"), line
    recs = store.load_records(tmp_path, "width")
    assert len(recs) == 2 and all(r["executor"]["kind"] == "dask" for r in recs)
    assert "| 16 |" in stdout.replace("  ", " ").replace("  ", " ")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = HOME + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def test_resume_after_sigkill_keeps_finished_runs_duplicates_none_and_completes(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pybench", "run", "width", "--quiet", "--out", str(out),
           "--set", "n_train=400", "--set", "n_test=100", "--set", "noise_scale=false", "--set", "batch_size=32",
           "--set", "epochs=12", "--set", "width=[16,32,64]", "--seeds", "4"]
    runs = out / "width" / "quick" / "runs"
    # cwd outside the source tree: `python -m` puts the cwd first on sys.path
    proc = subprocess.Popen(cmd, env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if runs.is_dir() and sum(f.endswith(".json") for f in os.listdir(runs)) >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be killed: make the runs longer"
        time.sleep(0.1)  # most likely in the middle of a run now
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    kept = {}
    for f in os.listdir(runs):
        if f.endswith(".json"):
            data = (runs / f).read_bytes()
            rec = json.loads(data)  # every file whole: never half-written
            assert rec["run_id"] + ".json" == f and rec["status"] in train.OK_STATUSES
            kept[f] = data
    assert 3 <= len(kept) < 12
    done = subprocess.run(cmd, env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    files = sorted(f for f in os.listdir(runs))
    assert all(f.endswith(".json") for f in files), files  # the killed writer's temp file is gone
    spec_ids = {s.run_id() for s in experiments.get("width").specs(
        "quick", {"n_train": 400, "n_test": 100, "noise_scale": False, "batch_size": 32, "epochs": 12,
                  "width": [16, 32, 64]}, seeds=4)}
    assert {f[:-5] for f in files} == spec_ids and len(files) == 12
    for f, data in kept.items():
        assert (runs / f).read_bytes() == data  # kept as they were, not rerun
    rows = (out / "width" / "quick" / "summary.csv").read_text().splitlines()[1:]
    assert len(rows) == 3 and all(",4," in r and ("completed" in r or "budget-limited" in r) for r in rows)
    assert not any(w in r for r in rows for w in ("failed", "diverged", "collapsed"))


def test_closed_stdout_stops_quietly(tmp_path):
    """`pybench info | head -1`: the reader leaves early; the command stops with 141 (128 + SIGPIPE)
    and no traceback instead of a BrokenPipeError dump."""
    proc = subprocess.Popen([sys.executable, "-m", "pybench", "info"], env=_env(), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the interpreter has started: its first write fails
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


# --- output paths are checked before any work --------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["bench", "--quick", "--op", "relu", "--peers", "none", "--json", "{path}"],
    ["bench-train", "--quick", "--peers", "none", "--json", "{path}"],
    ["bench-train", "--convergence", "--json", "{path}"],
    ["train", "--set", "steps=1", "--out", "{path}"],
    ["gate", "--only", "relu_forward", "--out", "{path}"],
])
@pytest.mark.parametrize("where, why", [("dir", "is a directory"), ("under_file", "not a directory"),
                                        ("proc", "cannot be created (/proc is not writable")])
def test_a_bad_output_path_is_one_line_and_exit_2_before_any_work(capsys, tmp_path, argv, where, why):
    (tmp_path / "f").write_text("")
    path = {"dir": str(tmp_path), "under_file": str(tmp_path / "f" / "x.json"), "proc": "/proc/pybench-x.json"}[where]
    rc, out, err = _run(capsys, *[a.replace("{path}", path) for a in argv])
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert path in err and why in err and ("--json" in err or "--out" in err), err
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_a_full_disk_is_one_line_exit_1_and_keeps_every_finished_run(capsys, tmp_path, monkeypatch):
    import errno

    real_fsync, calls = os.fsync, []

    def fsync(fd):  # two per file (the file, its directory): the disk fills at the third file, the 2nd run
        calls.append(fd)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", fsync)
    rc, out, err = _run(capsys, "run", "width", "-q", "--out", str(tmp_path), *TINY, "--set", "width=[16,32,64]")
    assert rc == 1 and err.count("\n") == 1, err
    assert "No space left on device" in err and str(tmp_path / "width" / "quick") in err, err
    runs = tmp_path / "width" / "quick" / "runs"
    assert len(os.listdir(runs)) == 1  # the manifest, then one run, then the full disk
    assert not [n for n in os.listdir(runs) if n.endswith(".tmp")]
    monkeypatch.setattr(store.os, "fsync", real_fsync)
    rc, out, err = _run(capsys, "run", "width", "--out", str(tmp_path), *TINY, "--set", "width=[16,32,64]")
    assert rc == 0 and "3 runs (2 run now, 1 kept from before)" in err


def test_help_texts_and_result_files_name_no_internal_work_items(capsys):
    """Things are named by what they are: no work-item number in a help text or a result file's name."""
    import re

    work_item = re.compile(r"\bissue ?\d|\bissue's\b", re.I)
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, sp in [("pybench", parser), *sub.choices.items()]:
        assert not work_item.search(sp.format_help()), name
    results = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")
    for dirpath, _, files in os.walk(results):
        for f in files:
            assert not work_item.search(f), os.path.join(dirpath, f)


def test_the_repository_names_no_file_outside_it_and_no_work_item():
    """Sources, tests, docs and build files refer to nothing outside the repository (notes or design
    files kept elsewhere, a shared folder beside the checkout) and to no work item by number. (The
    patterns are written so that this file does not match itself.)"""
    import re

    bad = re.compile("|".join([r"FIELD[-_]NOTES", r"DESIGN\.md", r"\.\./" + "shared", r"\bshared/",
                               r"\b[Ii]ssue ?\d"]))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [os.path.join(root, f) for f in ("README.md", "CMakeLists.txt", "pyproject.toml", ".gitignore")]
    for top in ("pybench", "csrc", "tests", "docs", ".ci"):
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [x for x in dirs if x != "__pycache__"]
            paths += [os.path.join(d, f) for f in files if f == "run" or f.endswith(
                (".py", ".md", ".toml", ".txt", ".cmake", ".h", ".cpp", ".cuh", ".cu"))]
    found = []
    for p in paths:
        if not os.path.isfile(p):
            continue
        with open(p, encoding="utf-8", errors="replace") as f:
            found += [f"{os.path.relpath(p, root)}:{i}" for i, line in enumerate(f, 1) if bad.search(line)]
    assert not found, found


def test_report_writes_the_headline_into_the_readme_beside_dir_only_between_its_markers(capsys, tmp_path):
    from test_report import _rec, _store_sweep

    out = tmp_path / "results"
    _store_sweep(out, [_rec(w, i, target_step=10) for w in (16, 32) for i in range(2)])
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n{report.HEADLINE_BEGIN}\nstale\n{report.HEADLINE_END}\n")
    rc, _, err = _run(capsys, "report", str(out))
    assert rc == 0 and report.readme_block(readme) == report.headline_table(out, "results/")
    assert "stale" not in readme.read_text()
    other = tmp_path / "elsewhere.md"
    other.write_text("no markers here\n")
    rc, _, err = _run(capsys, "report", str(out), "--readme", str(other))
    assert rc == 2 and "--readme" in err and "headline:begin" in err
    assert other.read_text() == "no markers here\n"
    readme.write_text("# no markers: left alone\n")
    assert _run(capsys, "report", str(out))[0] == 0 and readme.read_text() == "# no markers: left alone\n"
