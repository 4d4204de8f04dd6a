"""The resolution experiment: points per dataset, the same parameter count at every resolution,
the noise scale at matched progress, the folklore verdict on synthetic records, and one tiny real
sweep + report (~5 s)."""

import math

import pytest

from pybench import experiments, report, store, sweep, train
from pybench.experiments import resolution as res_mod
from pybench.experiments.resolution import RES, log_slope, noise_to_target


def test_quick_and_full_points():
    e = experiments.get("resolution")
    for mode in ("quick", "full"):
        specs = e.specs(mode)
        pts = [(s.point["dataset"], s.point["resolution"]) for s in specs if s.seed == 0]
        assert pts == [("mnist1d", r) for r in RES["mnist1d"][mode]] + [("shapes", r) for r in RES["shapes"][mode]]
        for s in specs:
            c = s.config
            assert c["dataset"] == s.point["dataset"] and c["resolution"] == s.point["resolution"]
            assert c["model"] == "cnn" and c["head"] == "gap" and c["batch_size"] == 64 and c["threads"] == 1
            assert c["noise_scale"] and c["target_accuracy"] == res_mod.PER_DATASET[c["dataset"]]["target_accuracy"]
    assert RES["mnist1d"]["full"] == [20, 40, 80, 160] and RES["shapes"]["full"] == [8, 16, 32, 64]
    assert len(e.specs("full")) == 8 * 3 and len(e.specs("quick")) == 6


def test_resolution_override_applies_to_every_dataset_and_dataset_override_keeps_one():
    e = experiments.get("resolution")
    assert [s.point for s in e.specs("quick", {"resolution": [16, 32]})] == [
        {"dataset": d, "resolution": r} for d in ("mnist1d", "shapes") for r in (16, 32)]
    assert {s.point["dataset"] for s in e.specs("full", {"dataset": "shapes"})} == {"shapes"}
    with pytest.raises(ValueError, match="dataset: expected one of mnist1d, shapes"):
        e.specs("quick", {"dataset": "digits"})
    with pytest.raises(ValueError, match="unknown key"):
        e.specs("quick", {"pixels": 3})


@pytest.mark.parametrize("dataset,shape", [("mnist1d", lambda r: (1, 1, r)), ("shapes", lambda r: (1, r, r))])
def test_parameter_count_is_the_same_at_every_resolution(dataset, shape):
    e = experiments.get("resolution")
    counts = set()
    for s in e.specs("full", {"dataset": dataset}):
        c = train.Config(**s.config)
        counts.add(train.build_model(c, shape(c.resolution), 10).num_parameters())
    assert len(counts) == 1


def test_log_slope():
    assert log_slope([8, 16, 32], [400, 100, 25]) == pytest.approx(-2)
    assert log_slope([20, 40], [7, 7]) == pytest.approx(0)
    assert log_slope([8, 8], [1, 2]) is None
    assert log_slope([8, 16, 32], [None, 5, -1]) is None


def _hist(points):
    return [{"step": s, "noise_scale": {"g2": g, "trace_sigma": t, "b_simple": t / g if g else None}}
            for s, g, t in points]


def test_noise_to_target_averages_up_to_the_first_evaluation_at_target():
    rec = {"target": {"step": 20}, "history": _hist([(0, 4.0, 40.0), (10, 2.0, 40.0), (20, 1.0, 40.0), (30, 0.1, 40.0)])}
    assert noise_to_target(rec) == pytest.approx(120 / 7)
    assert noise_to_target(dict(rec, target=None)) is None
    rec["history"][1]["noise_scale"] = {"g2": None, "trace_sigma": None, "b_simple": None}
    assert noise_to_target(rec) == pytest.approx(80 / 5)
    assert noise_to_target({"target": {"step": 0}, "history": []}) is None


def _record(dataset, r, b, steps=100, rep=0, target=0.5):
    return {
        "run_id": f"{dataset}-{r}-{rep}", "point": {"dataset": dataset, "resolution": r}, "replicate": rep,
        "status": "completed", "stop_reason": "budget", "config": {"batch_size": 64, "target_accuracy": target},
        "target": {"step": steps, "epoch": steps / 50, "samples": 64 * steps, "wall_time": steps * 0.01} if steps else None,
        "best_val_acc": 0.8, "test": {"acc": 0.78}, "train": {"acc": 0.85}, "gap": 0.07,
        "noise_scale": {"b_simple": 2 * b}, "model": {"num_parameters": 5000},
        "throughput": {"samples_per_s": 1e5 / r, "gflops": 2.0, "step_time": 1e-3, "train_time": 1.0},
        "steps": 300, "history": _hist([(0, 1.0, b), (steps or 300, 1.0, b)]) + [
            {"step": 0, "epoch": 0, "val_acc": 0.1}],
    }


def test_analyze_folklore_holds_on_records_built_to_follow_it():
    recs = [_record("shapes", r, 1600 / r ** 2 * 64) for r in (8, 16, 32)]
    recs += [_record("mnist1d", r, 3200 / r) for r in (20, 40, 80)]
    out = experiments.get("resolution").analyze(recs)
    rows = {(r["dataset"], r["resolution"]): r for r in out["rows"]}
    assert rows[("shapes", 16)]["noise_ratio"] == pytest.approx(0.25)
    assert rows[("mnist1d", 80)]["noise_ratio"] == pytest.approx(0.5)
    assert rows[("shapes", 8)]["noise_ratio"] is None
    assert rows[("shapes", 16)]["noise_target"] == pytest.approx(1600 / 256 * 64)
    notes = "\n".join(out["notes"])
    assert "shapes (2-D): B_simple up to the target ~ r^-2.00" in notes
    assert "mnist1d (1-D): B_simple up to the target ~ r^-1.00" in notes
    assert notes.count("falls roughly as the folklore") == 2
    assert "5,000 parameters at every resolution" in notes
    assert {p.file for p in out["plots"]} >= {"accuracy_vs_resolution.png", "throughput_vs_resolution.png",
                                             "noise_scale_vs_resolution.png", "steps_vs_resolution.png"}


def test_analyze_folklore_fails_when_the_noise_scale_does_not_fall_and_misses_are_shown():
    recs = [_record("shapes", 8, 100, steps=None), _record("shapes", 16, 100), _record("shapes", 32, 95)]
    out = experiments.get("resolution").analyze(recs)
    notes = "\n".join(out["notes"])
    assert "does not act like a larger batch" in notes and "target missed at r = 8" in notes
    row8 = next(r for r in out["rows"] if r["resolution"] == 8)
    assert row8["status"] == "missed target" and row8["_display"]["steps_to_target"] == "missed"
    assert row8["noise_target"] is None and row8["noise_scale"] == 200  # the run average is still shown
    assert experiments.get("resolution").analyze([])["rows"] == []


def test_tiny_sweep_and_report(tmp_path):
    e = experiments.get("resolution")
    specs = e.specs("quick", {"resolution": [8, 16], "n_train": 300, "n_test": 50, "steps": 6, "eval_every": 3,
                              "width": 4, "noise_batches": 2, "target_accuracy": 0.0})
    assert len(specs) == 4
    summary = sweep.run_sweep(specs, tmp_path)
    assert summary["failed"] == 0 and summary["ran"] == 4
    records = store.load_records(tmp_path, "resolution", "quick")
    assert {(r["point"]["dataset"], r["data"]["in_shape"][-1]) for r in records} == {
        ("mnist1d", 8), ("mnist1d", 16), ("shapes", 8), ("shapes", 16)}
    assert all(r["target"] and r["target"]["step"] == 0 for r in records)  # reached at step 0: time 0
    report.build(tmp_path, "resolution", "quick")
    md = (tmp_path / "resolution" / "quick" / "summary.md").read_text()
    assert "B to target" in md and "noise_scale_vs_resolution.png" in md
    assert not any(math.isnan(v) for r in records for v in [r["noise_scale"]["b_simple"] or 0.0])


def test_positive_only_drops_what_a_log_axis_cannot_show():
    from pybench.experiments._fit import positive_only
    from pybench.experiments.base import PlotSpec, Series

    p = PlotSpec("t.png", "t", "x", "y", [Series("a", [1, 2, 3], [0.0, 2.0, None], [0.1, 0.2, 0.3]),
                                          Series("b", [1], [0.0])], logy=True)
    positive_only(p)
    assert [(s.label, s.x, s.y, s.err) for s in p.series] == [("a", [2], [2.0], [0.2])]
    lin = PlotSpec("t.png", "t", "x", "y", [Series("b", [1], [0.0])])
    assert positive_only(lin).series[0].y == [0.0]


def test_analyze_warns_when_resolutions_differ_in_reachable_accuracy():
    recs = [_record("mnist1d", r, 3200 / r) for r in (20, 40, 80)]
    recs[0]["best_val_acc"] = 0.65
    notes = "\n".join(experiments.get("resolution").analyze(recs)["notes"])
    assert "Caveat: the resolutions differ in what they can reach (best val 65% - 80%)" in notes
    assert "between the two highest resolutions (40 -> 80) B to target changes x0.50 (folklore x0.5)" in notes
    recs[0]["best_val_acc"] = 0.8
    assert "Caveat" not in "\n".join(experiments.get("resolution").analyze(recs)["notes"])
