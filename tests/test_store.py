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
