"""The resolution experiment: points per dataset, a model whose receptive field covers the input at
every resolution (one stem block per doubling), the noise scale at matched training loss,
budget-limited points flagged, the folklore verdict on synthetic records, and one tiny real sweep +
report (~5 s)."""

import math

import pytest

from pybench import experiments, nn, report, store, sweep, train
from pybench.experiments import resolution as res_mod
from pybench.experiments.resolution import RES, log_slope, matched_loss

SHAPE = {"mnist1d": lambda r: (1, 1, r), "shapes": lambda r: (1, r, r)}


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


def _models(mode, dataset):
    """{resolution: the model its seed-0 run trains}."""
    out = {}
    for s in experiments.get("resolution").specs(mode, {"dataset": dataset}):
        c = train.Config(**s.config)
        out.setdefault(c.resolution, train.build_model(c, SHAPE[dataset](c.resolution), 10))
    return out


@pytest.mark.parametrize("mode", ["quick", "full"])
@pytest.mark.parametrize("dataset", ["mnist1d", "shapes"])
def test_receptive_field_covers_the_input_at_every_resolution(dataset, mode):
    """The criterion is the whole input (so also the largest object, up to 0.72 of the image side in
    shapes): a unit of the last feature map sees at least r samples / px."""
    models = _models(mode, dataset)
    assert sorted(models) == RES[dataset][mode]
    for r, m in models.items():
        assert nn.receptive_field(m)[-1] >= r, (r, nn.receptive_field(m))


@pytest.mark.parametrize("dataset", ["mnist1d", "shapes"])
def test_one_stem_block_per_doubling_before_the_same_trunk(dataset):
    models = _models("full", dataset)
    res = sorted(models)
    assert [models[r].spec.get("stem_blocks", 0) for r in res] == [0, 1, 2, 3]
    trunk_map = {_map_before_head(models[r]) for r in res}
    assert len(trunk_map) == 1  # the trunk sees the same map size at every resolution
    block = 16 * 16 * (3 if dataset == "mnist1d" else 9) + 16 + 2 * 16  # conv weight, bias, BatchNorm affine
    params = [models[r].num_parameters() for r in res]
    assert [b - a for a, b in zip(params, params[1:])] == [block] * 3


def _map_before_head(model):
    shape = tuple(model.in_shape)
    for layer in model.layers:
        if isinstance(layer, nn.GlobalAvgPool):
            return shape
        shape = layer.output_shape(shape)
    raise AssertionError("no global-average-pool head")


def test_description_states_the_receptive_fields_and_parameter_counts():
    desc = experiments.get("resolution").description
    for dataset in ("mnist1d", "shapes"):
        models = _models("full", dataset)
        assert ", ".join(str(nn.receptive_field(models[r])[-1]) for r in sorted(models)) in desc
        counts = [models[r].num_parameters() for r in sorted(models)]
        assert f"{counts[0]:,} to {counts[-1]:,}" in desc


def test_log_slope():
    assert log_slope([8, 16, 32], [400, 100, 25]) == pytest.approx(-2)
    assert log_slope([20, 40], [7, 7]) == pytest.approx(0)
    assert log_slope([8, 8], [1, 2]) is None
    assert log_slope([8, 16, 32], [None, 5, -1]) is None


def _hist(b, losses=(2.0, 1.2, 0.8, 0.5), every=10):
    """Evaluations every ``every`` steps; |G|^2 = 1 and tr(Sigma) = b after the initialization (so
    the smoothed B_simple is b throughout), a far larger |G|^2 at step 0."""
    out = [{"step": 0, "epoch": 0.0, "train_loss": None, "val_acc": 0.1, "noise_scale": {"g2": 50.0, "trace_sigma": b}}]
    return out + [{"step": every * (i + 1), "epoch": i + 1.0, "train_loss": v, "val_acc": 0.5,
                   "noise_scale": {"g2": 1.0, "trace_sigma": b}} for i, v in enumerate(losses)]


def test_matched_loss_is_the_lowest_level_every_run_reaches():
    recs = [{"status": "completed", "config": {"batch_size": 64}, "point": {"resolution": r}, "replicate": 0,
             "history": _hist(b, losses)}
            for r, b, losses in ((8, 100.0, (2.0, 1.0, 0.6)), (16, 50.0, (2.0, 0.9, 0.4)))]
    recs[1]["history"][2]["noise_scale"]["trace_sigma"] = 150.0  # B_simple at step 20 (loss 0.9): EMA of 50, 150
    level, vals, setter = matched_loss(recs)
    assert level == 0.6 and setter is recs[0]
    assert vals[0]["b_simple"] == pytest.approx(100.0) and vals[0]["steps"] == [20, 30]
    # run 2 crosses 0.6 between step 20 (loss 0.9) and 30 (0.4): linear in log loss between the smoothed values
    w = [1 / 1.9, 0.9 / 1.9]  # EMA weights at step 20 (decay 0.9): step 20, step 10
    b20 = (w[0] * 150 + w[1] * 50) / 1.0
    b30 = (150 * 0.9 + 50 * (1 + 0.81)) / (1 + 0.9 + 0.81)
    a = math.log(0.9 / 0.6) / math.log(0.9 / 0.4)
    assert vals[1]["b_simple"] == pytest.approx((1 - a) * b20 + a * b30)
    recs.append(dict(recs[0], status="diverged", history=_hist(1.0, (3.0, 2.5))))  # left out of the level
    assert matched_loss(recs)[0] == 0.6 and matched_loss(recs)[1][2] is None
    assert matched_loss([])[0] is None


def _record(dataset, r, b, steps=100, rep=0, target=0.5):
    return {
        "run_id": f"{dataset}-{r}-{rep}", "point": {"dataset": dataset, "resolution": r}, "replicate": rep,
        "status": "completed", "stop_reason": "budget", "config": {"batch_size": 64, "target_accuracy": target},
        "target": {"step": steps, "epoch": steps / 50, "samples": 64 * steps, "wall_time": steps * 0.01} if steps else None,
        "best_val_acc": 0.8, "test": {"acc": 0.78}, "train": {"acc": 0.85}, "gap": 0.07,
        "noise_scale": {"b_simple": 2 * b}, "model": {"num_parameters": 5000},
        "throughput": {"samples_per_s": 1e5 / r, "gflops": 2.0, "step_time": 1e-3, "train_time": 1.0},
        "steps": 300, "history": _hist(b, every=(steps or 300) // 4),
    }


def test_analyze_folklore_holds_on_records_built_to_follow_it():
    recs = [_record("shapes", r, 1600 / r ** 2 * 64) for r in (8, 16, 32)]
    recs += [_record("mnist1d", r, 3200 / r) for r in (20, 40, 80)]
    out = experiments.get("resolution").analyze(recs)
    rows = {(r["dataset"], r["resolution"]): r for r in out["rows"]}
    assert rows[("shapes", 16)]["noise_ratio"] == pytest.approx(0.25)
    assert rows[("mnist1d", 80)]["noise_ratio"] == pytest.approx(0.5)
    assert rows[("shapes", 8)]["noise_ratio"] is None
    assert rows[("shapes", 16)]["noise_matched"] == pytest.approx(1600 / 256 * 64)
    assert rows[("shapes", 16)]["noise_scale"] == pytest.approx(1600 / 256 * 64)  # at the target, step 100
    assert rows[("shapes", 16)]["noise_level"] == 0.5
    notes = "\n".join(out["notes"])
    assert "shapes (2-D): B_simple at training loss 0.5 ~ r^-2.00 (95% seed-bootstrap interval -2.00 to -2.00;" in notes
    assert "mnist1d (1-D): B_simple at training loss 0.5 ~ r^-1.00" in notes
    assert "B at matched loss (shapes): each run's smoothed B_simple where its training loss first falls to 0.5" in notes
    assert notes.count("falls roughly as the folklore") == 2
    assert "5,000 parameters at every resolution" in notes
    assert {p.file for p in out["plots"]} >= {"accuracy_vs_resolution.png", "throughput_vs_resolution.png",
                                             "noise_scale_vs_resolution.png", "steps_vs_resolution.png",
                                             "noise_vs_loss.png"}
    curves = next(p for p in out["plots"] if p.file == "noise_vs_loss.png")
    assert len([s for s in curves.series if s.label.startswith("dataset=")]) == 6  # one line per point


def test_analyze_folklore_fails_when_the_noise_scale_does_not_fall_and_misses_are_shown():
    recs = [_record("shapes", 8, 100, steps=None), _record("shapes", 16, 100), _record("shapes", 32, 95)]
    out = experiments.get("resolution").analyze(recs)
    notes = "\n".join(out["notes"])
    assert "does not act like a larger batch" in notes and "target missed at r = 8" in notes
    row8 = next(r for r in out["rows"] if r["resolution"] == 8)
    assert row8["status"] == "missed target" and row8["_display"]["steps_to_target"] == "missed"
    # no target: the value at the last evaluation, marked; at matched loss the run counts like any other
    assert row8["noise_scale"] == 100 and row8["_display"]["noise_scale"] == "100 (end)"
    assert row8["noise_matched"] == 100
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
    assert "B at matched loss" in md and "noise_scale_vs_resolution.png" in md and "noise_vs_loss.png" in md
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
    recs[0]["best_val_acc"] = 0.8
    assert "Caveat" not in "\n".join(experiments.get("resolution").analyze(recs)["notes"])


def test_budget_limited_points_are_flagged_not_read_as_results_about_resolution():
    recs = [_record("mnist1d", r, 3200 / r) for r in (20, 40, 80)]
    recs[0].update(status="budget-limited", best_val_acc=0.6, target=None,
                   convergence={"late_drop_fraction": 0.2, "still_falling": True})
    for r in recs[1:]:
        r["convergence"] = {"late_drop_fraction": 0.01, "still_falling": False}
    out = experiments.get("resolution").analyze(recs)
    rows = {r["resolution"]: r for r in out["rows"]}
    assert rows[20]["status"] == "budget-limited" and rows[20]["budget_limited"] == 1  # not just "missed target"
    assert rows[20]["late_drop"] == 0.2 and rows[40]["status"] == "ok" and rows[40]["budget_limited"] == 0
    assert rows[20]["noise_matched"] is not None  # its B at a loss it did reach still counts
    notes = "\n".join(out["notes"])
    assert ("Budget-limited (the training loss still fell at the end: its last 20% of the steps brought more than "
            "5% of the run's drop): mnist1d r = 20") in notes
    assert "mnist1d r = 20 (1/1 runs, 20% of the drop)." in notes and "r = 40 (" not in notes
    assert "target missed at r = 20 (budget-limited)" in notes
    assert "Caveat" not in notes  # 60% vs 80% best val, but the 60% is the budget's


def test_records_without_a_plateau_test_get_it_from_their_history():
    falling, flat = _record("shapes", 8, 100), _record("shapes", 16, 50)
    for rec, losses in ((falling, (2.0, 1.5, 1.0, 0.5)), (flat, (2.0, 0.6, 0.5, 0.5))):
        rec["budget"] = {"steps": 300}   # run to its end (steps 300); evaluations every 75 steps
        rec["history"] = _hist(100, losses, every=75)
    rows = {r["resolution"]: r for r in experiments.get("resolution").analyze([falling, flat])["rows"]}
    assert rows[8]["late_drop"] == pytest.approx(0.5 / 1.5) and rows[8]["status"] == "budget-limited"
    assert rows[16]["late_drop"] == 0 and rows[16]["status"] == "ok"


def test_receptive_field_per_point_from_the_stored_model_spec():
    recs = []
    for r, stem in ((8, 0), (16, 1), (32, 0)):  # 32 px without its stem block: the old fixed-depth model
        rec = _record("shapes", r, 100)
        m = nn.cnn((1, r, r), 10, depth=3, width=4, head="gap", stem_blocks=stem)
        rec["config"]["model"] = "cnn"
        rec["model"] = {"num_parameters": m.num_parameters(), "spec": m.spec}
        recs.append(rec)
    out = experiments.get("resolution").analyze(recs)
    assert [row["receptive_field"] for row in out["rows"]] == [22, 46, 22]
    notes = "\n".join(out["notes"])
    assert "shapes: receptive field of the last feature map 22, 46, 22 px at r = 8, 16, 32: smaller than the input " \
           "at r = 32" in notes
    assert "parameters at r = 8, 16, 32" in notes
