"""pybench.store: the record layout, atomic writes (no half-written file, ever), temp files of
killed writers ignored and cleaned, done-ness for resume, quick/full separation, --out checks."""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

from pybench import store


def _rec(run_id="0123456789ab", experiment="width", mode="quick", status="completed", **kw):
    return dict({"schema": "pybench.run/1", "run_id": run_id, "experiment": experiment, "mode": mode,
                 "status": status, "point": {"width": 8}, "replicate": 0}, **kw)


def test_write_record_lands_at_the_documented_path_and_reads_back(tmp_path):
    path = store.write_record(tmp_path, _rec(extra={"x": [1, 2.5]}))
    assert path == os.path.join(tmp_path, "width", "quick", "runs", "0123456789ab.json")
    with open(path) as f:
        assert json.load(f)["extra"] == {"x": [1, 2.5]}
    assert store.load_records(tmp_path, "width") == [json.loads(pathlib.Path(path).read_text())]
    assert os.listdir(os.path.dirname(path)) == ["0123456789ab.json"]  # no temp file left


def test_records_are_strict_json_non_finite_floats_become_null(tmp_path):
    path = store.write_record(tmp_path, _rec(loss=math.nan, curve=[1.0, math.inf, -math.inf]))
    text = pathlib.Path(path).read_text()
    assert "NaN" not in text and "Infinity" not in text
    r = json.loads(text)
    assert r["loss"] is None and r["curve"] == [1.0, None, None]


@pytest.mark.parametrize("bad, fragment", [
    ({"run_id": None}, "run_id"), ({"run_id": "../../etc"}, "run_id"),
    ({"experiment": "Bad Name"}, "experiment name"), ({"mode": "medium"}, "mode"),
])
def test_write_record_refuses_bad_identity(tmp_path, bad, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        store.write_record(tmp_path, _rec(**bad))
    assert not any(os.scandir(tmp_path))


def test_write_record_without_identity_keys_raises(tmp_path):
    r = _rec()
    del r["mode"]
    with pytest.raises(ValueError, match="mode"):
        store.write_record(tmp_path, r)


def test_a_failed_replace_leaves_the_old_file_whole_and_no_temp(tmp_path, monkeypatch):
    path = store.write_record(tmp_path, _rec(version=1))
    before = pathlib.Path(path).read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.write_record(tmp_path, _rec(version=2))
    assert pathlib.Path(path).read_bytes() == before
    assert os.listdir(os.path.dirname(path)) == ["0123456789ab.json"]


def test_a_writer_killed_mid_write_leaves_only_a_temp_file_which_load_ignores_and_cleans(tmp_path):
    # a child process writes half a temp file and is SIGKILLed before the rename
    d = tmp_path / "width" / "quick" / "runs"
    d.mkdir(parents=True)
    code = ("import os, signal, sys\n"
            "p = os.path.join(sys.argv[1], f'.aaaaaaaaaaaa.json.{os.getpid()}.tmp')\n"
            "f = open(p, 'w'); f.write('{\"run_id\": \"aaaaaaaaaaaa\", \"sta'); f.flush()\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(d)])
    assert proc.returncode == -9
    assert len(os.listdir(d)) == 1 and os.listdir(d)[0].endswith(".tmp")
    assert store.load_records(tmp_path, "width") == []
    assert store.stored_ids(tmp_path, "width") == set()
    assert os.listdir(d) == []  # its writer is gone: cleaned


def test_a_live_writers_temp_file_is_ignored_but_kept(tmp_path):
    d = tmp_path / "width" / "quick" / "runs"
    d.mkdir(parents=True)
    tmp = d / f".bbbbbbbbbbbb.json.{os.getppid()}.tmp"  # the parent process is alive
    tmp.write_text("{")
    store.write_record(tmp_path, _rec())
    assert store.stored_ids(tmp_path, "width") == {"0123456789ab"}
    assert tmp.exists()


def test_unreadable_or_foreign_files_are_not_stored_records(tmp_path):
    store.write_record(tmp_path, _rec())
    d = tmp_path / "width" / "quick" / "runs"
    (d / "cccccccccccc.json").write_text('{"run_id": "cccc')            # truncated by hand
    (d / "dddddddddddd.json").write_text('{"run_id": "eeeeeeeeeeee"}')  # id does not match the name
    (d / "notes.txt").write_text("hello")
    assert store.stored_ids(tmp_path, "width") == {"0123456789ab"}


def test_done_only_counts_measured_outcomes_not_failures(tmp_path):
    for i, st in enumerate(["completed", "diverged", "collapsed", "failed"]):
        store.write_record(tmp_path, _rec(run_id=f"{i:012x}", status=st))
    assert store.stored_ids(tmp_path, "width") == {f"{i:012x}" for i in range(4)}
    assert store.stored_ids(tmp_path, "width", done_only=True) == {f"{i:012x}" for i in range(3)}


def test_quick_and_full_never_share_a_directory(tmp_path):
    store.write_record(tmp_path, _rec(mode="quick", tag="q"))
    store.write_record(tmp_path, _rec(mode="full", tag="f"))  # same run id, other mode
    assert [r["tag"] for r in store.load_records(tmp_path, "width", "quick")] == ["q"]
    assert [r["tag"] for r in store.load_records(tmp_path, "width", "full")] == ["f"]
    assert [r["tag"] for r in store.load_records(tmp_path, "width")] == ["q", "f"]
    assert store.list_stored(tmp_path) == [("width", "quick"), ("width", "full")]


def test_load_records_is_ordered_by_run_id(tmp_path):
    for rid in ("ffffffffffff", "000000000000", "888888888888"):
        store.write_record(tmp_path, _rec(run_id=rid))
    assert [r["run_id"] for r in store.load_records(tmp_path, "width")] == ["000000000000", "888888888888", "ffffffffffff"]


def test_manifest_roundtrip_and_missing_manifest(tmp_path):
    assert store.load_manifest(tmp_path, "width", "quick") is None
    store.write_manifest(tmp_path, "width", "quick", {"specs": [{"run_id": "0123456789ab"}]})
    assert store.load_manifest(tmp_path, "width", "quick") == {"specs": [{"run_id": "0123456789ab"}]}
    assert store.list_stored(tmp_path) == [("width", "quick")]


def test_list_stored_ignores_other_directories(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "bench.txt").write_text("x")
    store.write_record(tmp_path, _rec())
    assert store.list_stored(tmp_path) == [("width", "quick")]
    assert store.list_stored(tmp_path / "nowhere") == []


def test_check_writable(tmp_path):
    assert store.check_writable(tmp_path / "new" / "deeper") == str(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()  # creates nothing
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        store.check_writable(f)
    with pytest.raises(ValueError, match="not a directory"):
        store.check_writable(f / "sub")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(ValueError, match="not writable"):
            store.check_writable(ro / "x")


def test_clean_json_handles_numpy_scalars_and_tuples():
    np = pytest.importorskip("numpy")
    assert store.clean_json({"a": np.float32(1.5), "b": (1, np.int64(2)), "c": np.float64("nan")}) == \
        {"a": 1.5, "b": [1, 2], "c": None}


def test_a_failed_write_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    import errno

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", src)  # as os.replace names its source

    monkeypatch.setattr(store.os, "replace", full)
    target = tmp_path / "sub" / "f.json"
    with pytest.raises(OSError) as e:
        store.atomic_write(target, "{}\n")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert os.listdir(tmp_path / "sub") == []


# ---- one writer: every file pybench writes goes through store.atomic_write ------------------------

def test_every_writer_goes_through_atomic_write_with_its_own_bytes(tmp_path, monkeypatch):
    """Each writer's bytes (indent, key order, trailing newline) as they were before the writers
    became one, and each lands through store.atomic_write."""
    from pybench.bench import calibrate, compare, gate, history, tables as bench_tables

    real, seen = store.atomic_write, []

    def spy(path, data):
        seen.append(os.path.basename(os.fspath(path)))
        return real(path, data)

    monkeypatch.setattr(store, "atomic_write", spy)
    d = {"b": 1, "a": [1.5, math.nan]}
    bench_tables.write_json(d, tmp_path / "bench.json")
    calibrate.write_json({"b": 1, "a": 2}, tmp_path / "cal.json")
    gate.write_json({"b": 1, "a": 2}, tmp_path / "gate.json")
    compare.write_markdown(tmp_path / "cmp.md", "x.json", "y.json", ("k", "v"), [("a|b", 1)], "1 row")
    store.write_record(tmp_path, _rec())
    store.write_manifest(tmp_path, "width", "quick", {"b": 1})
    rows = [{"time": "t", "commit": c * 10, "dirty": False, "metric": "m", "kernels": {"gemm": v}}
            for c, v in (("a", 100), ("b", 110))]
    history.plot(rows, str(tmp_path / "history.png"))
    assert seen == ["bench.json", "cal.json", "gate.json", "cmp.md", "0123456789ab.json", "sweep.json",
                    "history.png"]
    text = lambda name: (tmp_path / name).read_text()  # noqa: E731
    assert text("bench.json") == '{\n  "b": 1,\n  "a": [\n    1.5,\n    null\n  ]\n}\n'
    assert text("cal.json") == '{\n  "b": 1,\n  "a": 2\n}\n'
    assert text("gate.json") == '{\n "b": 1,\n "a": 2\n}\n'
    assert text("cmp.md") == "`pybench compare x.json y.json`\n\n| k | v |\n|---|---|\n| a\\|b | 1 |\n\n1 row\n"
    assert text("width/quick/sweep.json") == '{\n "b": 1\n}\n'
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [n for _, _, fs in os.walk(tmp_path) for n in fs if n.endswith(".tmp")]


def test_no_other_module_writes_files_its_own_way():
    """Read from the source: os.replace / os.rename / tempfile.mkstemp, open() (or gzip.open,
    os.fdopen) with a literal write mode, Path.write_text / write_bytes and NumPy's savers appear in
    store.py only, so a new writer cannot bypass atomic_write. Appending (mode "a", the gate's
    history log) is not replacing a file and is allowed."""
    import ast

    root = pathlib.Path(__file__).resolve().parent.parent / "pybench"
    by_module = {"os": {"replace", "rename", "renames", "fdopen"}, "shutil": {"move", "copy", "copyfile"},
                 "tempfile": {"mkstemp", "NamedTemporaryFile"}, "np": {"save", "savez", "savez_compressed", "savetxt"}}
    allowed = {("data/idx.py", "write_idx")}  # writes IDX test fixtures (gzip streams), never results
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == "store.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else None
            attr = f.attr if isinstance(f, ast.Attribute) else None
            modes = [a.value for a in node.args[1:2] + [k.value for k in node.keywords if k.arg == "mode"]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            opens = "open" in ast.unparse(f) and any(m[:1] in ("w", "x") for m in modes)
            if opens or attr in by_module.get(owner, ()) or attr in ("write_text", "write_bytes", "tofile"):
                where = next((fn.name for fn in funcs if fn.lineno <= node.lineno <= fn.end_lineno), "")
                if (rel, where) not in allowed:
                    found.append(f"{rel}:{node.lineno} ({where})")
    assert not found, "files written outside store.atomic_write: " + ", ".join(found)
