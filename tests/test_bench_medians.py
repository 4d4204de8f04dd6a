"""pybench.bench.medians: per-row medians over several bench JSON runs."""

import json

import pytest

from pybench.bench import medians


def _run(tmp_path, name, frac, ratio):
    recs = [
        {"op": "copy", "label": "", "shape": "(4,)", "status": "ok", "kind": "memory", "fraction_of_copy": 1.0, "peers": {}},
        {"op": "relu", "label": "fwd", "shape": "(4,)", "status": "ok", "kind": "memory", "fraction_of_copy": frac,
         "peers": {"torch": {"ratio": ratio}}},
        {"op": "gemm", "label": "", "shape": "8x8x8", "status": "FAILED", "kind": "compute", "peers": {}},
    ]
    p = tmp_path / name
    p.write_text(json.dumps({"records": recs}))
    return str(p)


def test_medians_per_row(tmp_path, capsys):
    paths = [_run(tmp_path, f"r{i}.json", f, r) for i, (f, r) in enumerate([(0.5, 1.0), (0.9, 3.0), (0.7, 2.0)])]
    rows = medians.row_values([json.load(open(p))["records"] for p in paths])
    assert list(rows) == [("relu", "fwd", "(4,)")]  # copy and FAILED rows are left out
    assert rows[("relu", "fwd", "(4,)")] == {"of copy %": [50.0, 90.0, 70.0], "vs torch": [1.0, 3.0, 2.0]}
    assert medians.main(paths) == 0
    out = capsys.readouterr().out
    assert "of copy % 50 90 70 -> median 70" in out and "vs torch 1.00 3.00 2.00 -> median 2.00" in out


def test_medians_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        medians.main([])
    assert e.value.code == 2 and "usage" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert medians.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json: not a --json run" in err
    assert medians.main([str(tmp_path / "missing.json")]) == 2
    assert "missing.json: not a --json run" in capsys.readouterr().err


def test_medians_bench_train_records(tmp_path):
    recs = [[{"case": "MLP b32", "status": "ok", "ratio": x}, {"case": "CNN", "status": "FAILED", "ratio": None}]
            for x in (1.9, 2.1, 2.0)]
    assert medians.row_values(recs) == {("MLP b32", "", ""): {"vs torch": [1.9, 2.1, 2.0]}}
