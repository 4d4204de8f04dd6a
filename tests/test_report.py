"""pybench.report and the analysis helpers of pybench.experiments.base: tables from stored records
alone, medians and spread over seeds, missed targets and failed/diverged/collapsed runs shown (never
dropped), the sweep manifest deciding which records make a table, byte-identical rebuilds."""

import csv
import hashlib
import io
import json
import os
import pathlib

import pytest

from pybench import experiments, report, store
from pybench.experiments import base
from pybench.experiments.base import Column, Experiment
from util import table_cells


def _rec(width, rep=0, status="completed", target_step=None, test_acc=0.6, sps=1000.0, run_id=None, mode="full",
         experiment="width", target_acc=0.6, **kw):
    rid = run_id or hashlib.sha256(f"{experiment}{width}{rep}{status}".encode()).hexdigest()[:12]
    r = {"schema": "pybench.run/1", "run_id": rid, "experiment": experiment, "mode": mode,
         "point": {"width": width}, "replicate": rep, "status": status, "stop_reason": f"{status} because",
         "config": {"target_accuracy": target_acc, "width": width, "seed": rep},
         "target": None if target_step is None else {"step": target_step, "epoch": target_step / 10,
                                                     "samples": target_step * 32, "wall_time": target_step / 100},
         "model": {"num_parameters": 10 * width}, "best_val_acc": test_acc + 0.01,
         "test": {"acc": test_acc}, "train": {"acc": test_acc + 0.1}, "gap": 0.1, "steps": 100,
         "throughput": {"samples_per_s": sps, "gflops": sps / 1000, "step_time": 0.01, "train_time": 1.0},
         "noise_scale": {"b_simple": 50.0}, "history": [{"step": 0, "epoch": 0.0, "val_acc": 0.1},
                                                        {"step": 100, "epoch": 10.0, "val_acc": test_acc}],
         "provenance": {"git": {"sha": "abcdef1234567890", "dirty": False}, "cpu": "Test CPU", "threads": 1,
                        "time": f"2026-01-01T00:00:0{rep}Z", "pybench": "0.1.0", "python": "3.11", "numpy": "2"},
         "executor": {"kind": "local", "host": "h"}, "elapsed": 1.5}
    r.update(kw)
    return r


# ------------------------------------------------------------------------------------------------
# analysis helpers
# ------------------------------------------------------------------------------------------------

def test_median_and_spread():
    assert base.median([3, 1, 2]) == 2 and base.median([1, 2, 3, 10]) == 2.5
    assert base.median([]) is None and base.median([None, None]) is None
    assert base.spread([1.0, 3.0, 2.0]) == 1.0 and base.spread([5.0]) is None


def test_to_target_treats_misses_as_censored():
    recs = [_rec(16, 0, target_step=10), _rec(16, 1, target_step=30), _rec(16, 2)]
    assert base.to_target(recs, "step") == (30, 10.0)  # median of 10, 30, inf
    assert base.to_target(recs[1:], "step")[0] is None  # half missed: median missed
    assert base.reached(recs) == "2/3"
    assert base.reached([_rec(16, target_acc=None)]) == "-"


def test_status_text_and_point_status():
    ok = [_rec(16, 0, target_step=5), _rec(16, 1, target_step=5)]
    assert base.status_text(ok) == "completed" and base.point_status(ok) == "ok"
    mixed = ok + [_rec(16, 2, status="collapsed")]
    assert base.status_text(mixed) == "2 completed, 1 collapsed" and base.point_status(mixed) == "collapsed"
    assert base.point_status([_rec(16, status="failed"), _rec(16, status="diverged")]) == "failed"
    assert base.point_status([_rec(16)]) == "missed target"


def _selected(acc, step=50):
    return {"metric": "val_acc", "step": step, "val_acc": acc + 0.01, "test": {"acc": acc, "loss": 1.0}}


def test_standard_row_medians_and_spreads_over_seeds():
    recs = [_rec(16, i, target_step=10 * (i + 1), test_acc=0.5 + 0.1 * i, sps=1000.0 * (i + 1),
                 selected=_selected(0.55 + 0.1 * i, 40 + i)) for i in range(3)]
    row = base.standard_row(recs)
    assert row["seeds"] == 3 and row["params"] == 160
    # the test accuracy at the best-validation checkpoint, the final step's beside it
    assert row["test_acc"] == pytest.approx(0.65) and row["test_acc_spread"] == pytest.approx(0.1)
    assert row["test_acc_final"] == pytest.approx(0.6) and row["selected_step"] == 41
    assert row["samples_per_s"] == 2000.0 and row["samples_per_s_spread"] == 1000.0
    assert row["steps_to_target"] == 20 and row["reached"] == "3/3" and row["status"] == "ok"
    assert "_display" not in row


def test_runs_without_the_selected_checkpoint_are_never_mixed_with_runs_that_have_it():
    old = [_rec(16, i, target_step=10, test_acc=0.5 + 0.1 * i) for i in range(3)]
    row = base.standard_row(old)
    assert row["test_acc"] is None and row["_display"]["test_acc"] == "not recorded"
    assert row["test_acc_final"] == pytest.approx(0.6)
    # one run with the checkpoint among runs without: still "not recorded", not a median of one
    mixed = old[:2] + [dict(old[2], selected=_selected(0.9))]
    assert base.standard_row(mixed)["test_acc"] is None
    assert base.test_acc_values(mixed) == ("final-step test acc", [0.5, 0.6, 0.7])
    assert base.test_acc_values(mixed[2:]) == ("test acc @ best val", [0.9])
    # a failed run (no test accuracy at all) does not make the others' checkpoint unusable
    failed = _rec(16, 3, status="failed", test=None, selected=None)
    del failed["selected"]
    assert base.selection_recorded([dict(r, selected=_selected(0.6)) for r in old] + [failed])
    notes = base.standard_notes(old)
    assert any("3 of 3 runs predate the best-val checkpoint" in n for n in notes)
    cols = {c.key: c for c in base.standard_columns()}
    assert cols["test_acc"].title == "test acc @ best val" and cols["test_acc_final"].term  # printed beside it


def test_failed_runs_have_rows_and_notes():
    failed = _rec(64, status="failed", throughput=None, test=None, model=None, best_val_acc=None, gap=None,
                  noise_scale=None, history=[])
    res = experiments.get("width").analyze([_rec(16, target_step=5), failed])
    rows = {r["width"]: r for r in res["rows"]}
    assert rows[64]["status"] == "failed" and rows[64]["test_acc"] is None
    assert rows[64]["_display"]["steps_to_target"] == "missed"
    assert any("width=64 seed 0: failed (failed because)" in n for n in res["notes"])


# ------------------------------------------------------------------------------------------------
# formatting
# ------------------------------------------------------------------------------------------------

def test_csv_has_every_column_and_empty_cells_for_missing_values():
    cols = [Column("width"), Column("acc", fmt="pct", spread=True), Column("steps", md=False)]
    text = report.csv_text(cols, [{"width": 16, "acc": 0.5, "acc_spread": None, "steps": None, "_display": {"x": 1}},
                                  {"width": 32, "acc": 0.123456789, "acc_spread": 0.01, "steps": 7}])
    assert text == "width,acc,acc_spread,steps\n16,0.5,,\n32,0.123457,0.01,7\n"


def test_markdown_table_is_aligned_and_formats_cells():
    cols = [Column("width", fmt="int"), Column("acc", "test acc", fmt="pct", spread=True),
            Column("t", "time", fmt="time"), Column("hidden", md=False), Column("status")]
    md = report.markdown_table(cols, [
        {"width": 16, "acc": 0.5, "acc_spread": 0.012, "t": 0.0123, "status": "ok"},
        {"width": 2048, "acc": None, "t": None, "status": "a|b", "_display": {"t": "missed"}}])
    lines = md.splitlines()
    assert lines[0] == "| width |   test acc |    time | status |"   # numbers right-aligned
    assert lines[1] == "|------:|-----------:|--------:|--------|"
    assert lines[2] == "|    16 | 50.0% ±1.2 | 12.3 ms | ok     |"
    assert lines[3] == "|  2048 |          - |  missed | a\\|b   |"
    assert len({len(line) for line in lines}) == 1


def test_terminal_table_is_the_markdown_table_when_it_fits_and_wraps_words_whole_when_not():
    cols = [Column("case", "pitfall described at length"), Column("n", "steps to target", fmt="int"),
            Column("acc", "test acc", fmt="pct", spread=True), Column("hidden", md=False), Column("why", "status")]
    rows = [{"case": "learning rate far too high for this model", "n": 1234, "acc": 0.5, "acc_spread": 0.012,
             "why": "missed target (every LR)"},
            {"case": "gain +6.7 pp a|b", "n": None, "acc": 0.25, "why": "ok"}]
    assert report.terminal_table(cols, rows) == report.markdown_table(cols, rows)
    assert report.terminal_table(cols, rows, 200) == report.markdown_table(cols, rows)
    wrapped = report.terminal_table(cols, rows, 50)
    assert max(map(len, wrapped.splitlines())) <= 50 < len(report.markdown_table(cols, rows).splitlines()[0])
    by_col = table_cells(wrapped)
    assert by_col == {"pitfall described at length": ["learning rate far too high for this model", "gain +6.7 pp a|b"],
                      "steps to target": ["1234", "-"], "test acc": ["50.0% ±1.2", "25.0%"],
                      "status": ["missed target (every LR)", "ok"]}
    assert "| 50.0% ±1.2 |" in wrapped  # numbers never wrap
    # narrower than the longest word: nothing is cut; a number keeps its unit ("+6.7 pp", not "+6.7" / "pp")
    narrow = report.terminal_table(cols, rows, 10)
    assert table_cells(narrow) == by_col and "| +6.7 pp   |" in narrow


def test_console_width_is_the_terminals_on_a_tty_else_100(monkeypatch):
    import io as _io

    from pybench import console

    class Tty(_io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("COLUMNS", "72")
    assert console.width(Tty()) == 72
    assert console.width(_io.StringIO()) == console.PLAIN_WIDTH == 100
    assert console.width(Tty(), wide=True) is None and console.width(_io.StringIO(), wide=True) is None
    assert console.wrap("x " * 80, 30, "  ")[1].startswith("  x") and max(map(len, console.wrap("x " * 80, 30))) <= 30
    assert console.wrap("a /a/path/longer/than/the/width b", 10) == ["a", "  /a/path/longer/than/the/width", "  b"]
    assert console.wrap_items("k = ", ["sgd lr=0.1", "adam lr=0.01"], 16) == ["k = sgd lr=0.1,", "    adam lr=0.01"]


# ------------------------------------------------------------------------------------------------
# build: files, manifest, determinism
# ------------------------------------------------------------------------------------------------

def _store_sweep(out, records, manifest=True, mode="full"):
    for r in records:
        store.write_record(out, r)
    if manifest:
        store.write_manifest(out, records[0]["experiment"], mode,
                             {"experiment": records[0]["experiment"], "mode": mode, "command": "pybench run width --full",
                              "specs": [{"run_id": r["run_id"], "point": r["point"], "replicate": r["replicate"]}
                                        for r in records]})


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(pathlib.Path(d).iterdir()) if p.is_file()}


def test_build_writes_csv_md_plots_and_index_byte_identically(tmp_path):
    recs = [_rec(w, i, target_step=10 * w // 16 if w > 16 else None, test_acc=0.5 + w / 10000)
            for w in (16, 32, 64) for i in range(3)]
    recs.append(_rec(128, 0, status="diverged", target_step=None))
    _store_sweep(tmp_path, recs)
    written = report.build(tmp_path, "width")
    d = store.exp_dir(tmp_path, "width", "full")
    names = {os.path.relpath(p, tmp_path) for p in written}
    assert {"width/full/summary.csv", "width/full/summary.md", "width/full/accuracy_vs_width.png",
            "width/full/throughput_vs_width.png", "width/full/curves.png", "README.md"} <= names
    for f in ("accuracy_vs_width.png", "throughput_vs_width.png"):
        assert pathlib.Path(os.path.join(d, f)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = _files(d)
    index = (tmp_path / "README.md").read_bytes()
    for f in ("summary.csv", "summary.md", "accuracy_vs_width.png", "README.md"):
        p = tmp_path / "README.md" if f == "README.md" else os.path.join(d, f)
        os.remove(p)
    report.build_all(tmp_path)
    assert _files(d) == first  # byte-identical, PNGs included
    assert (tmp_path / "README.md").read_bytes() == index
    rows = list(csv.DictReader(io.StringIO(first["summary.csv"].decode())))
    assert [r["width"] for r in rows] == ["16", "32", "64", "128"]
    assert rows[0]["seeds"] == "3" and rows[0]["steps_to_target"] == "" and rows[0]["status"] == "missed target"
    assert rows[3]["status"] == "diverged"
    md = first["summary.md"].decode()
    assert "# Width: MLP hidden units on MNIST-1D (full mode)" in md and "Command: `pybench run width --full`" in md
    assert "![width: accuracy](accuracy_vs_width.png)" in md and "width=128 seed 0: diverged" in md
    assert "3 seeds per point" in md or "1/3 seeds per point" in md
    assert "code: git abcdef123456" in md and "Test CPU" in md
    idx = index.decode()
    assert "[Width: MLP hidden units on MNIST-1D](width/full/summary.md)" in idx and "| width | full | 10 |" in idx


def test_manifest_selects_the_records_of_the_last_sweep(tmp_path):
    old = _rec(16, 0, run_id="aaaaaaaaaaaa", test_acc=0.1)
    _store_sweep(tmp_path, [old], manifest=False)
    new = [_rec(16, 0, run_id="bbbbbbbbbbbb", test_acc=0.7), _rec(32, 0, run_id="cccccccccccc", test_acc=0.8)]
    _store_sweep(tmp_path, new)
    records, m, missing = report.sweep_records(tmp_path, "width", "full")
    assert [r["run_id"] for r in records] == ["bbbbbbbbbbbb", "cccccccccccc"] and missing == []
    # a manifest entry without a record: noted as not run yet, not invented
    m["specs"].append({"run_id": "dddddddddddd", "point": {"width": 64}, "replicate": 0})
    store.write_manifest(tmp_path, "width", "full", m)
    report.build(tmp_path, "width", "full")
    md = pathlib.Path(store.exp_dir(tmp_path, "width", "full"), "summary.md").read_text()
    assert "1 of 3 runs of this sweep are not stored yet" in md
    assert "| 64 |" not in md


def test_a_run_id_shared_by_two_points_counts_for_both(tmp_path):
    r = _rec(16, 0, run_id="aaaaaaaaaaaa", experiment="pairs", point={"variant": "a"})
    store.write_record(tmp_path, r)
    store.write_manifest(tmp_path, "pairs", "full", {"specs": [
        {"run_id": "aaaaaaaaaaaa", "point": {"variant": "a"}, "replicate": 0},
        {"run_id": "aaaaaaaaaaaa", "point": {"variant": "c"}, "replicate": 0}]})
    records, _, _ = report.sweep_records(tmp_path, "pairs", "full")
    assert [x["point"] for x in records] == [{"variant": "a"}, {"variant": "c"}]
    res = report.analysis(tmp_path, "pairs", "full")[-1]  # unknown experiment: the generic table
    assert [row["variant"] for row in res["rows"]] == ["a", "c"]


def test_records_without_manifest_are_all_used(tmp_path):
    _store_sweep(tmp_path, [_rec(16), _rec(32)], manifest=False)
    assert len(report.sweep_records(tmp_path, "width", "full")[0]) == 2


def test_custom_experiment_rebuilt_from_its_manifest_definition(tmp_path):
    from pybench.experiments.custom import CustomExperiment

    exp = CustomExperiment({"name": "my-sweep", "title": "My sweep", "base": {"width": 16}, "axes": {"lr": [0.1, 0.2]}})
    rec = _rec(16, experiment="my-sweep", point={"lr": 0.1})
    store.write_record(tmp_path, rec)
    store.write_manifest(tmp_path, "my-sweep", "full", {"definition": exp.definition, "specs": [
        {"run_id": rec["run_id"], "point": {"lr": 0.1}, "replicate": 0}]})
    report.build(tmp_path, "my-sweep")
    md = pathlib.Path(store.exp_dir(tmp_path, "my-sweep", "full"), "summary.md").read_text()
    assert md.startswith("# My sweep (full mode)")
    assert "user-defined sweep over lr" in md


def test_generic_analysis_of_an_unknown_experiment_plots_its_numeric_axis(tmp_path):
    recs = [_rec(w, experiment="other", point={"batch": w}) for w in (8, 64, 512)]
    _store_sweep(tmp_path, recs)
    res = report.analysis(tmp_path, "other", "full")[-1]
    assert [p.file for p in res["plots"]] == ["accuracy_vs_batch.png", "throughput_vs_batch.png"]
    assert res["plots"][0].logx


def test_plot_with_categorical_x_renders():
    spec = base.PlotSpec("x.png", "t", "variant", "acc", [base.Series("s", ["bad", "fixed"], [0.1, 0.9], err=[None, 0.1])],
                         hlines=[(0.5, "target")])
    assert report.render_plot(spec)[:4] == b"\x89PNG"


def test_analyze_of_no_records_is_an_empty_table():
    res = Experiment().analyze([])
    assert res["rows"] == [] and res["plots"] == []
    assert experiments.get("width").analyze([])["rows"] == []


def test_index_of_an_empty_directory(tmp_path):
    assert "No experiments stored yet." in report.index_text(tmp_path)


def test_summary_json_of_records_is_stable():
    # the serialization used for records and manifests: sorted keys, trailing newline
    assert store.dumps({"b": 1, "a": [1.5, float("nan")]}) == '{\n "a": [\n  1.5,\n  null\n ],\n "b": 1\n}\n'
    assert json.loads(store.dumps({"x": 1})) == {"x": 1}


def test_rows_follow_the_sweep_order_and_axis_order_survives_json(tmp_path):
    # the sweep ran width outer, lr inner; on disk the point's keys are sorted (lr, width)
    recs, specs = [], []
    for w in (512, 16):
        for lr in (0.1, 0.01):
            r = _rec(w, point={"width": w, "lr": lr}, run_id=hashlib.sha256(f"{w}{lr}".encode()).hexdigest()[:12])
            recs.append(r)
            specs.append({"run_id": r["run_id"], "point": {"width": w, "lr": lr}, "axes": ["width", "lr"], "replicate": 0})
    for r in recs:
        store.write_record(tmp_path, r)
    store.write_manifest(tmp_path, "width", "full", {"specs": specs})
    res = report.analysis(tmp_path, "width", "full")[-1]
    assert [(r["width"], r["lr"]) for r in res["rows"]] == [(512, 0.1), (512, 0.01), (16, 0.1), (16, 0.01)]
    assert [c.key for c in res["columns"][:2]] == ["width", "lr"]
    # without a manifest: sorted by value, axis by axis, in the records' axis order
    generic = Experiment().analyze([dict(r, axes=["width", "lr"]) for r in recs])
    assert [(r["width"], r["lr"]) for r in generic["rows"]] == [(16, 0.01), (16, 0.1), (512, 0.01), (512, 0.1)]
    assert [c.key for c in generic["columns"][:2]] == ["width", "lr"]


# ------------------------------------------------------------------------------------------------
# plots: every point shown, bad statuses and missed targets marked
# ------------------------------------------------------------------------------------------------

def _legend(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_series_carries_statuses_and_keeps_points_without_a_value():
    rows = [{"width": 16, "steps_to_target": None, "status": "missed target"},
            {"width": 32, "steps_to_target": 40, "status": "ok"},
            {"width": 64, "steps_to_target": 30, "status": "collapsed"}]
    (s,) = base.series(rows, "width", "steps_to_target", "steps", missing="target not reached")
    assert s.x == [32, 64] and s.marks == ["ok", "collapsed"] and s.missed == [16]
    assert s.missed_label == "target not reached"
    (s,) = base.series(rows, "width", "steps_to_target", "steps")  # without ``missing``: left out
    assert s.missed == []


def test_render_marks_bad_statuses_and_draws_missed_points_on_the_top_edge():
    spec = base.PlotSpec("a.png", "t", "width", "steps", [
        base.Series("a", [32, 64, 128], [40, 30, 20], marks=["ok", "collapsed", "diverged"], missed=[16, 2048],
                    missed_label="target not reached"),
        base.Series("b", [32, 64], [50, 45], marks=["missed target", "failed"], missed=[16])], logx=True, logy=True)
    fig = report.figure(spec)
    labels = _legend(fig)
    for word in ("collapsed", "diverged", "missed target", "failed", "target not reached (top edge)"):
        assert word in labels, word
    assert labels.count("target not reached (top edge)") == 1
    ax = fig.axes[0]
    edge = [ln for ln in ax.get_lines() if ln.get_marker() == "^" and len(ln.get_xdata())]
    assert sorted(x for ln in edge for x in ln.get_xdata()) == [16, 16, 2048]
    assert all(not ln.get_clip_on() and list(ln.get_ydata()) == [1.0] * len(ln.get_xdata()) for ln in edge)
    lo, hi = ax.get_xlim()
    assert lo < 16 and hi > 2048  # the x range widened to show them
    assert [t for t in ax.get_xticks()] == [16, 32, 64, 128, 2048]
    assert report.render_plot(spec)[:4] == b"\x89PNG"
    # nothing but missed points (no value to scale a log axis by) still renders
    only = base.PlotSpec("b.png", "t", "x", "y", [base.Series("s", [], [], missed=[8, 16])], logx=True, logy=True)
    assert report.render_plot(only)[:4] == b"\x89PNG"


def test_log_axes_tick_every_swept_value_and_label_plainly():
    spec = base.PlotSpec("r.png", "t", "resolution", "time (s)",
                         [base.Series("a", [8, 16, 32, 64], [0.1, 0.2, 0.3, 0.4]),
                          base.Series("b", [20, 40, 80, 160], [0.15, 0.25, 0.35, 0.38])], logx=True, logy=True)
    fig = report.figure(spec)
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [8, 16, 20, 32, 40, 64, 80, 160]
    fig.canvas.draw()
    ylabels = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels()]
    assert "0.2" in ylabels and "0.4" in ylabels and not any("10^" in t or "times" in t for t in ylabels)


def test_a_long_legend_goes_beside_the_axes():
    many = [base.Series(f"s{i}", [1, 2], [i, i + 1]) for i in range(report.LEGEND_INSIDE_MAX + 1)]
    fig = report.figure(base.PlotSpec("m.png", "t", "x", "y", many))
    assert fig.get_size_inches()[0] > 9
    few = report.figure(base.PlotSpec("f.png", "t", "x", "y", many[:2]))
    assert few.get_size_inches()[0] < 7


def test_width_plots_steps_and_time_to_target_with_missed_widths_and_loss_curves(tmp_path):
    hist = [{"step": 0, "epoch": 0.0, "val_acc": 0.1, "train_loss": 2.3},
            {"step": 100, "epoch": 10.0, "val_acc": 0.6, "train_loss": 1.1}]
    recs = [_rec(16, status="collapsed", test_acc=0.1, history=hist), _rec(32, target_step=300, history=hist),
            _rec(64, target_step=200, history=hist)]
    res = experiments.get("width").analyze(recs)
    plots = {p.file: p for p in res["plots"]}
    steps = plots["steps_vs_width.png"]
    assert steps.logx and steps.logy and steps.y2label
    left = [s for s in steps.series if s.axis == "left"]
    assert left[0].x == [32, 64] and left[0].missed == [16]
    acc = plots["accuracy_vs_width.png"]
    assert acc.series[0].marks == ["collapsed", "ok", "ok"]
    loss = plots["loss_curves.png"]
    assert loss.logy and [s.label for s in loss.series] == ["width=16 (collapsed)", "width=32", "width=64"]
    _store_sweep(tmp_path, recs)
    written = {os.path.basename(p) for p in report.build(tmp_path, "width", "full")}
    assert {"steps_vs_width.png", "loss_curves.png", "accuracy_vs_width.png"} <= written


def test_throughput_of_one_model_is_one_line_with_a_gflops_axis():
    same = [{"b": b, "samples_per_s": sps, "gflops": sps * 4e-4, "status": "ok"} for b, sps in ((8, 5e4), (64, 1.5e5))]
    p = base.throughput_plot(same, "b", [], "t.png", "batch size", logx=True)
    assert len(p.series) == 1 and p.y2scale == pytest.approx(4e-4) and "0.4 MFLOP per sample" in p.series[0].label
    fig = report.figure(p)
    assert [a.get_ylabel() for a in fig.axes[0].child_axes] == ["GFLOP/s"]
    varied = [dict(same[0]), dict(same[1], gflops=same[1]["gflops"] * 3)]  # e.g. a wider model
    p = base.throughput_plot(varied, "b", [], "t.png", "width", logx=True)
    assert [s.axis for s in p.series] == ["left", "right"] and p.y2scale is None


# --- every Markdown table pybench writes parses ----------------------------------------------------

RESULTS = pathlib.Path(__file__).resolve().parent.parent / "results"


def markdown_tables(text):
    """[[row cells, ...], ...]: each Markdown table in `text` as lists of cells, split on unescaped '|'."""
    import re

    tables, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cur.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif cur:
            tables.append(cur)
            cur = []
    return tables


def assert_tables_parse(path):
    tables = markdown_tables(path.read_text())
    assert tables, path
    for t in tables:
        head, sep = t[0], t[1]
        assert all(set(c) <= set("-:") and c for c in sep), (path, sep)
        assert {len(r) for r in t} == {len(head)}, (path, head, [len(r) for r in t])


def test_markdown_cells_escape_the_pipe():
    cols = [Column("ratio", "|g1|/|gout|", ".2g"), Column("width", "width", "int")]
    (t,) = markdown_tables(report.markdown_table(cols, [{"ratio": 0.5, "width": 16, "_display": {"width": "a|b"}}]))
    assert t[0] == ["\\|g1\\|/\\|gout\\|", "width"] and t[2] == ["0.5", "a\\|b"]


def test_every_published_summary_parses(tmp_path):
    """The committed pages, and the same pages rebuilt by `pybench report` from the committed records
    (every experiment): each table has as many cells in every row as in its header."""
    published = sorted(RESULTS.glob("*/*/summary.md"))
    assert {p.parent.parent.name for p in published} >= set(experiments.names())
    for p in published + [RESULTS / "README.md"]:
        assert_tables_parse(p)
    out = tmp_path / "results"
    for p in published:
        runs = p.parent / "runs"
        dest = out / p.parent.relative_to(RESULTS)
        dest.mkdir(parents=True)
        (dest / "runs").symlink_to(runs)
        if (p.parent / "sweep.json").exists():
            (dest / "sweep.json").write_bytes((p.parent / "sweep.json").read_bytes())
    report.build_all(out)
    for p in sorted(out.glob("*/*/summary.md")) + [out / "README.md"]:
        assert_tables_parse(p)
        assert p.read_text() == (RESULTS / p.relative_to(out)).read_text()  # the published pages are current


def test_a_sweep_that_predates_the_current_definition_is_marked_stale(tmp_path):
    """The page says when `pybench run` would now make runs the stored sweep lacks (the experiment's
    definition changed since), rather than presenting today's description as what the runs did."""
    specs = experiments.get("width").specs("quick", {"n_train": 400, "width": [16, 32]}, seeds=1)
    for s in specs:
        store.write_record(tmp_path, dict(_rec(s.point["width"], mode="quick", run_id=s.run_id()), config=s.config))
    m = {"schema": "pybench.sweep/1", "experiment": "width", "mode": "quick", "overrides": {"n_train": 400},
         "seeds": 1, "command": "pybench run width --quick --set n_train=400",
         "specs": [{"run_id": s.run_id(), "point": s.point, "axes": list(s.point), "replicate": s.seed} for s in specs]}
    store.write_manifest(tmp_path, "width", "quick", m)  # today's definition sweeps more widths than these two
    report.build(tmp_path, "width", "quick")
    md = (tmp_path / "width" / "quick" / "summary.md").read_text()
    assert "> **Stale:** these runs predate the experiment's current definition" in md
    assert "stale: predates the current definition" in (tmp_path / "README.md").read_text()
    assert report.STALE_HEADLINE in report.headline_table(tmp_path)   # the headline does not pass it off as current
    m["overrides"] = {"n_train": 400, "width": [16, 32]}  # the sweep as it was asked: current
    store.write_manifest(tmp_path, "width", "quick", m)
    report.build(tmp_path, "width", "quick")
    assert "Stale" not in (tmp_path / "width" / "quick" / "summary.md").read_text()
    assert report.STALE_HEADLINE not in report.headline_table(tmp_path)


# ------------------------------------------------------------------------------------------------
# the headline table: generated from the records, into results/README.md and the project README
# ------------------------------------------------------------------------------------------------

def _failed(point, rep):
    return {"run_id": f"f{rep}{abs(hash(json.dumps(point, sort_keys=True))) % 10 ** 8:08d}", "point": point,
            "replicate": rep, "status": "failed", "stop_reason": "ValueError: boom", "history": [], "target": None,
            "config": {"target_accuracy": 0.6, "lr": 0.1, "batch_size": point.get("batch_size", 32)}}


@pytest.mark.parametrize("name", experiments.names())
def test_every_headline_is_one_line_even_without_a_usable_run(name):
    e = experiments.get(name)
    assert e.question
    point = {k: v[0] for k, v in e.mode_axes("quick").items()}
    for recs in ([], [_failed(point, 0), _failed(point, 1)]):
        line = e.headline(recs)
        assert isinstance(line, str) and line and "\n" not in line


def test_headline_table_in_the_index_and_between_the_readme_markers(tmp_path):
    out = tmp_path / "results"
    recs = [_rec(w, i, target_step=10 * w // 16, test_acc=0.5 + w / 1000 + i / 100) for w in (16, 32) for i in range(3)]
    _store_sweep(out, recs)
    report.build_all(out)
    index = (out / "README.md").read_text()
    table = report.headline_table(out)
    assert "## Headline results" in index and table in index
    (row,) = [line for line in table.splitlines() if line.startswith("| width |")]
    assert experiments.get("width").question in row and "[summary](width/full/summary.md)" in row and "| 3 |" in row
    assert "highest: tie (widths 32, 16)" in row   # 53.2% ±1.0 vs 51.6% ±1.0 over 3 seeds: ranges overlap
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.HEADLINE_BEGIN}\nold hand-typed table\n{report.HEADLINE_END}\nrest\n")
    assert report.update_readme(readme, out) == str(readme)
    text = readme.read_text()
    assert text.startswith(f"intro\n{report.HEADLINE_BEGIN}\n| experiment |") and text.endswith(
        f"{report.HEADLINE_END}\nrest\n")
    assert "old hand-typed" not in text and "[summary](results/width/full/summary.md)" in text
    assert report.readme_block(readme) == report.headline_table(out, "results/")
    assert report.update_readme(readme, out) is None   # already current: nothing written
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="headline:begin"):
        report.update_readme(readme, out)


def test_readme_headline_is_what_pybench_report_generates_from_the_committed_records():
    readme = RESULTS.parent / "README.md"
    assert report.readme_block(readme) == report.headline_table(RESULTS, "results/")


def test_terminal_cells_wrap_after_a_hyphen_between_letters_never_inside_a_number():
    assert report._wrap_cell("52.8% (budget-limited)", 9) == ["52.8%", "(budget-", "limited)"]
    assert report._wrap_cell("lr 1e-4 here", 5) == ["lr", "1e-4", "here"]
    assert report._words("train-test gap 3e-05") == ["train-", "test", "gap", "3e-05"]
