"""The depth experiment: spec expansion (axes, names, overrides), the analysis on synthetic records
(converged / missed / collapsed / diverged points shown as such, the gradient measures, where
training stops converging), and one tiny real sweep showing the vanishing first-layer gradient."""

import csv
import hashlib
import io
import os

import pytest

from pybench import experiments, report, store
from pybench.experiments import depth as depth_mod
from pybench.runconfig import Config

EXP = experiments.get("depth")


# ------------------------------------------------------------------------------------------------
# spec expansion
# ------------------------------------------------------------------------------------------------

def test_registered_with_documented_axes_and_defaults():
    assert "depth" in experiments.names() and EXP.name == "depth"
    assert EXP.axes == {"depth": [1, 2, 4, 8, 16, 32], "norm": ["none", "batch"], "init": ["he_normal", "normal(0.01)"]}
    for word in ("BatchNorm", "he_normal", "normal(0.01)", "50%", "gradient", "Quick mode", "Full mode"):
        assert word in EXP.description, word


def test_quick_specs_cover_depths_norms_and_inits_on_one_thread():
    specs = EXP.specs("quick")
    assert len(specs) == 3 * 2 * 2
    assert {s.point["depth"] for s in specs} == {2, 8, 32}
    assert {(s.point["norm"], s.point["init"]) for s in specs} == {
        ("none", "he_normal"), ("none", "normal(0.01)"), ("batch", "he_normal"), ("batch", "normal(0.01)")}
    for s in specs:
        c = s.config
        assert set(s.point) == {"depth", "norm", "init"} and s.experiment == "depth" and s.mode == "quick"
        assert c["depth"] == s.point["depth"] and c["init"] == s.point["init"]
        assert c["norm"] == (None if s.point["norm"] == "none" else "batch")
        assert c["threads"] == 1 and c["epochs"] == 8 and c["steps"] is None and c["model"] == "mlp"
        assert c["dataset"] == "mnist1d" and c["width"] == 128 and c["target_accuracy"] == 0.5 and c["diagnostics"]
        assert s.seed == 0 and s.run_id() == Config(**c).run_id()
        assert s.label().startswith("depth depth=")
    assert len({s.run_id() for s in specs}) == len(specs)


def test_full_specs_have_three_seeds_and_the_full_budget():
    specs = EXP.specs("full")
    assert len(specs) == 6 * 2 * 2 * 3
    assert {s.point["depth"] for s in specs} == {1, 2, 4, 8, 16, 32}
    assert {s.seed for s in specs} == {0, 1, 2}
    assert all(s.config["epochs"] == 40 and s.config["seed"] == s.seed and s.config["data_seed"] == s.seed
               for s in specs)
    assert len({s.run_id() for s in specs}) == len(specs)
    assert {s.run_id() for s in specs}.isdisjoint({s.run_id() for s in EXP.specs("quick")})


def test_overrides_replace_axes_fix_fields_and_reject_bad_input():
    specs = EXP.specs("quick", {"depth": [1, 3], "norm": "batch", "width": 32, "steps": 5})
    assert sorted({s.point["depth"] for s in specs}) == [1, 3] and len(specs) == 2 * 2
    assert all(s.config["norm"] == "batch" and s.config["width"] == 32 for s in specs)
    assert all(s.config["steps"] == 5 and s.config["epochs"] is None for s in specs)
    assert all(s.config["norm"] is None for s in EXP.specs("quick", {"norm": None}))
    with pytest.raises(ValueError, match="unknown key 'layers'.*depth, norm, init"):
        EXP.specs("quick", {"layers": 3})
    with pytest.raises(ValueError, match="norm"):
        EXP.specs("quick", {"norm": "layer"})
    with pytest.raises(ValueError, match="init"):
        EXP.specs("quick", {"init": "tiny"})
    with pytest.raises(ValueError, match="seeds"):
        EXP.specs("quick", seeds=0)


# ------------------------------------------------------------------------------------------------
# analysis on synthetic records
# ------------------------------------------------------------------------------------------------

def _diag(depth, norm, g_first, g_out, middle=None):
    """Diagnostics of an MLP's layer list (Flatten, then [Linear, (BatchNorm), ReLU] x depth, Linear)
    with Linear weight-gradient norms g_first (first hidden) ... g_out (output); BatchNorm's gamma
    gets a norm of 99 that must never be taken for a Linear layer's."""
    ops = ["flatten"]
    for _ in range(depth):
        ops += ["linear"] + (["batch_norm"] if norm == "batch" else []) + ["relu"]
    ops.append("linear")
    linear = [i for i, op in enumerate(ops) if op == "linear"]
    n = len(linear)
    grads = {}
    for j, i in enumerate(linear):
        if middle is not None and 0 < j < n - 1:
            g = middle
        elif g_first is None or g_out is None:
            g = None
        else:
            g = g_first if j < n - 1 else g_out
            if g_first > 0 and n > 1:  # geometric from first to output
                g = g_first * (g_out / g_first) ** (j / (n - 1))
        grads[f"{i}.weight"], grads[f"{i}.bias"] = g, 1.0
    for i, op in enumerate(ops):
        if op == "batch_norm":
            grads[f"{i}.weight"], grads[f"{i}.bias"] = 99.0, 99.0
    return {"layers": [{"name": f"{i}.{op}", "op": op} for i, op in enumerate(ops)], "grad_norm": grads}


def _rec(depth, norm="none", init="he_normal", rep=0, status="completed", target_step=None, g=(0.5, 1.0),
         g0=(0.5, 1.0), test_acc=0.6, history=None, **kw):
    rid = hashlib.sha256(f"{depth}{norm}{init}{rep}{status}".encode()).hexdigest()[:12]
    if history is None:
        history = [{"step": 0, "epoch": 0.0, "val_acc": 0.1, "diagnostics": _diag(depth, norm, *g0)},
                   {"step": 28, "epoch": 1.0, "val_acc": 0.3, "diagnostics": _diag(depth, norm, *g)},
                   {"step": 280, "epoch": 10.0, "val_acc": test_acc, "diagnostics": _diag(depth, norm, 0.1, 0.1)}]
    r = {"schema": "pybench.run/1", "run_id": rid, "experiment": "depth", "mode": "full",
         "point": {"depth": depth, "init": init, "norm": norm}, "replicate": rep, "status": status,
         "stop_reason": f"{status} because",
         "config": {"target_accuracy": 0.5, "depth": depth, "seed": rep, "diag_batch": 256},
         "target": None if target_step is None else {"step": target_step, "epoch": target_step / 28,
                                                     "samples": target_step * 128, "wall_time": target_step / 100},
         "model": {"num_parameters": 1000 * depth}, "best_val_acc": test_acc + 0.01, "test": {"acc": test_acc},
         "train": {"acc": test_acc + 0.1}, "gap": 0.1, "steps": 280,
         "throughput": {"samples_per_s": 1e5 / depth, "gflops": 5.0, "step_time": 0.01, "train_time": 1.0},
         "noise_scale": {"b_simple": 50.0}, "collapse": {"dead_fraction": 0.5 if status == "collapsed" else 0.0},
         "history": history, "provenance": {"git": {"sha": "abcdef1234567890", "dirty": False}, "cpu": "Test CPU",
                                            "threads": 1, "time": "2026-01-01T00:00:00Z"},
         "executor": {"kind": "local"}, "elapsed": 1.0}
    r.update(kw)
    return r


def _synthetic():
    """He/no norm converges at 2 and 8, diverges at 32 (no finite gradient after step 0); small init
    without norm converges at 2, collapses at 8 and 32 with a vanishing first-layer gradient (exact
    zeros at 32); small init with BatchNorm converges everywhere; 8/none/normal has 3 seeds, one of
    them collapsing."""
    diverged_hist = [{"step": 0, "epoch": 0.0, "val_acc": 0.1, "diagnostics": _diag(32, "none", 0.2, 1.0)},
                     {"step": 5, "epoch": 5 / 28, "val_acc": 0.1, "val_loss": None,
                      "diagnostics": _diag(32, "none", None, None)}]
    return [
        _rec(2, target_step=100), _rec(8, target_step=150),
        _rec(32, status="diverged", history=diverged_hist, test_acc=0.1, target=None),
        _rec(2, init="normal(0.01)", target_step=200, g=(0.004, 0.005), g0=(1e-4, 1e-4)),
        _rec(8, init="normal(0.01)", rep=0, status="collapsed", g=(1e-10, 1e-3), g0=(1e-12, 1e-9), test_acc=0.1),
        _rec(8, init="normal(0.01)", rep=1, status="collapsed", g=(2e-10, 1e-3), g0=(1e-12, 1e-9), test_acc=0.1),
        _rec(8, init="normal(0.01)", rep=2, target_step=250, g=(1e-3, 1e-3), g0=(1e-12, 1e-9), test_acc=0.55),
        _rec(32, init="normal(0.01)", status="collapsed", test_acc=0.1, history=[
            {"step": 0, "epoch": 0.0, "val_acc": 0.1, "diagnostics": _diag(32, "none", 0.0, 0.0, middle=0.0)},
            {"step": 28, "epoch": 1.0, "val_acc": 0.1, "diagnostics": _diag(32, "none", 0.0, 1e-4, middle=0.0)}]),
        _rec(2, norm="batch", init="normal(0.01)", target_step=120, g=(1.0, 0.5)),
        _rec(8, norm="batch", init="normal(0.01)", target_step=160, g=(0.8, 0.5)),
        _rec(32, norm="batch", init="normal(0.01)", target_step=400, g=(0.3, 0.5), g0=(300.0, 1.0)),
    ]


def test_linear_weight_grads_take_only_linear_weights_in_order():
    d = _diag(3, "batch", 0.1, 1.0)
    layers = depth_mod.linear_weight_grads({"diagnostics": d})
    assert [n for n, _ in layers] == [1, 2, 3, 4]
    assert layers[0][1] == pytest.approx(0.1) and layers[-1][1] == pytest.approx(1.0)
    assert all(g != 99.0 for _, g in layers)
    # without a layer list every "*.weight" counts (a record from an older engine)
    assert [n for n, _ in depth_mod.linear_weight_grads({"diagnostics": {"grad_norm": {"1.weight": 1.0, "3.weight": 2.0,
                                                                                       "3.bias": 5.0}}})] == [1, 2]
    assert depth_mod.linear_weight_grads(None) == [] and depth_mod.linear_weight_grads({"diagnostics": None}) == []


def test_grad_summary_of_one_run():
    g = depth_mod.grad_summary(_rec(8, init="normal(0.01)", g=(1e-10, 1e-3), g0=(1e-12, 1e-9)))
    assert g["ratio_first"] == pytest.approx(1e-7) and g["ratio_init"] == pytest.approx(1e-3)
    assert g["g1_first"] == pytest.approx(1e-10) and g["gout_first"] == pytest.approx(1e-3) and g["first_step"] == 28
    # a run that diverged before any finite gradient after step 0
    div = depth_mod.grad_summary(_synthetic()[2])
    assert div["ratio_init"] == pytest.approx(0.2) and div["ratio_first"] is None and div["g1_first"] is None
    assert div["first_step"] == 5


def test_a_budget_limited_depth_that_reached_the_target_is_not_where_training_stops():
    # depth 8's loss was still falling at the end (budget-limited) but it reached the target: the
    # boundary is depth 32, and the headline and notes say depth 8 was budget-limited
    recs = [_rec(2, target_step=100), _rec(8, status="budget-limited", target_step=150),
            _rec(32, status="collapsed", test_acc=0.1)]
    res = EXP.analyze(recs)
    line, notes = EXP.headline(recs, res), "\n".join(res["notes"])
    assert ("reaches the target up to depth 8 (1/1 seeds) (budget-limited at depth 8: training loss still falling "
            "at the end); collapsed from depth 32") in line
    assert "reaches the target up to depth 8; stops at depth 32: depth 32 collapsed" in notes
    assert "budget-limited (training loss still falling at the end) at depth 8" in notes
    # budget-limited without reaching the target: where it stops, as a missed target
    recs[1] = _rec(8, status="budget-limited")
    assert "reaches the target up to depth 2 (1/1 seeds); missed target from depth 8" in EXP.headline(recs)


def test_analysis_shows_every_point_with_its_status_and_gradients():
    recs = _synthetic()
    res = EXP.analyze(recs)
    rows = res["rows"]
    assert len(rows) == 9  # nothing dropped: 3 variants x 3 depths
    key = {(r["norm"], r["init"], r["depth"]): r for r in rows}
    # row order: no norm before BatchNorm, He before small init, then depth
    assert [(r["norm"], r["init"], r["depth"]) for r in rows][:3] == [("none", "he_normal", d) for d in (2, 8, 32)]
    assert key[("none", "he_normal", 2)]["status"] == "converged"
    assert key[("none", "he_normal", 32)]["status"] == "diverged"
    assert key[("none", "he_normal", 32)]["ratio_first"] is None
    small8 = key[("none", "normal(0.01)", 8)]
    assert small8["status"] == "collapsed" and small8["runs"] == "1 completed, 2 collapsed" and small8["seeds"] == 3
    assert small8["ratio_first"] == pytest.approx(2e-7) and small8["reached"] == "1/3"
    assert small8["g1_first"] == pytest.approx(2e-10) and small8["g1_first_spread"] == pytest.approx((1e-3 - 1e-10) / 2)
    small32 = key[("none", "normal(0.01)", 32)]
    assert small32["status"] == "collapsed" and small32["g1_first"] == 0 and small32["ratio_first"] == 0
    assert small32["ratio_init"] is None  # 0/0
    assert key[("batch", "normal(0.01)", 32)]["ratio_init"] == pytest.approx(300.0)
    assert all(r["status"] == "converged" for (n, _, _), r in key.items() if n == "batch")

    notes = "\n".join(res["notes"])
    assert "depth=32 init=he_normal norm=none seed 0: diverged" in notes
    assert "depth=8 init=normal(0.01) norm=none seed 0: collapsed" in notes
    assert "no norm, init he_normal: reaches the target up to depth 8; stops at depth 32: depth 32 diverged" in notes
    # the headline states the boundary with the seeds at the target, not a bare status
    line = EXP.headline(recs, res)
    assert line.startswith("Target 50% val accuracy. no norm, init he_normal: reaches the target up to depth 8 (1/1 seeds")
    assert ("no norm, init normal(0.01): reaches the target up to depth 2 (1/1 seeds); collapsed from depth 8 "
            "(1/3 at the target; runs: 1 completed, 2 collapsed) (|g1|/|gout| after epoch 1: 2·10⁻⁷ at 8, 0 at 32)") in line
    assert "BatchNorm, init normal(0.01): reaches the target up to depth 32" in line
    assert ("no norm, init normal(0.01): reaches the target up to depth 2; stops at depth 8: depth 8 collapsed, "
            "depth 32 collapsed") in notes
    assert "0/0 at depth 32" in notes and "underflowed" in notes
    assert "BatchNorm, init normal(0.01): reaches the target at every depth tried (2, 8, 32)" in notes
    assert "fixed batch of 256 training samples" in notes

    md = report.markdown_table(res["columns"], rows)
    lines = md.splitlines()
    assert len(lines) == 2 + len(rows)
    for word in ("\\|g1\\|/\\|gout\\| ep1", "\\|g1\\| ep1", "dead ReLUs", "status", "diverged", "collapsed", "converged", "missed"):
        assert word in md, word
    table = list(csv.DictReader(io.StringIO(report.csv_text(res["columns"], rows))))
    assert len(table) == 9
    assert {"ratio_init", "ratio_first", "g1_first", "gout_first", "depth", "norm", "init"} <= set(table[0])
    assert table[2]["status"] == "diverged" and table[2]["ratio_first"] == ""


def test_analysis_plots_gradient_norm_per_layer_and_render(tmp_path):
    res = EXP.analyze(_synthetic())
    plots = {p.file: p for p in res["plots"]}
    for f in ("accuracy_vs_depth.png", "throughput_vs_depth.png", "steps_to_target_vs_depth.png",
              "grad_ratio_vs_depth.png", "curves.png", "grad_norm_vs_layer_no-norm-init-normal-0.01.png",
              "grad_norm_vs_layer_no-norm-init-he-normal.png", "grad_norm_vs_layer_batchnorm-init-normal-0.01.png"):
        assert f in plots, f
    layer = plots["grad_norm_vs_layer_no-norm-init-normal-0.01.png"]
    by_label = {s.label.split(" (")[0]: s for s in layer.series}
    assert set(by_label) == {"depth 2", "depth 8", "depth 32"} and layer.logy
    assert by_label["depth 8"].x == list(range(1, 10))  # 8 hidden + output, median over the 3 seeds
    assert by_label["depth 8"].y[0] == pytest.approx(2e-10)
    assert "32 layers at exactly 0" in next(s.label for s in layer.series if s.label.startswith("depth 32"))
    he = plots["grad_norm_vs_layer_no-norm-init-he-normal.png"]
    assert "non-finite" in next(s.label for s in he.series if s.label.startswith("depth 32"))
    # a depth that missed the target is a triangle on the top edge, not a gap; bad statuses are marked
    steps = {s.label: s for s in plots["steps_to_target_vs_depth.png"].series}
    assert steps["no norm, init he_normal"].x == [2, 8] and steps["no norm, init he_normal"].missed == [32]
    assert steps["no norm, init normal(0.01)"].missed == [8, 32]
    acc = {s.label: s for s in plots["accuracy_vs_depth.png"].series}
    assert acc["best val norm=none init=normal(0.01)"].marks == ["converged", "collapsed", "collapsed"]
    assert acc["best val norm=none init=he_normal"].marks == ["converged", "converged", "diverged"]
    assert "loss_curves.png" in plots and plots["loss_curves.png"].logy
    ratio_labels = " ".join(s.label for s in plots["grad_ratio_vs_depth.png"].series)
    assert "0 at depth 32" in ratio_labels and "undefined at depth 32" in ratio_labels
    # the whole report builds from the stored records alone
    for r in _synthetic():
        store.write_record(tmp_path, r)
    written = report.build(tmp_path, "depth", "full")
    assert {"summary.csv", "summary.md", "grad_ratio_vs_depth.png"} <= {os.path.basename(p) for p in written}
    with open(os.path.join(store.exp_dir(tmp_path, "depth", "full"), "summary.md"), "rb") as f:
        first = f.read()
    assert b"diverged" in first and b"collapsed" in first and b"stops at depth" in first


def test_analysis_of_no_records_and_of_an_extra_axis():
    assert EXP.analyze([])["rows"] == []
    recs = [_rec(2, target_step=10, point={"depth": 2, "init": "he_normal", "norm": "none", "width": w})
            for w in (32, 64)]
    res = EXP.analyze(recs)
    assert [r["width"] for r in res["rows"]] == [32, 64]
    assert any("width=32" in n for n in res["notes"])


# ------------------------------------------------------------------------------------------------
# one tiny real sweep
# ------------------------------------------------------------------------------------------------

def test_tiny_real_sweep_shows_the_vanishing_first_layer_gradient(tmp_path):
    from pybench.sweep import run_sweep

    specs = EXP.specs("quick", {"depth": 12, "width": 32, "steps": 2, "eval_every": 1, "batch_size": 32,
                                "n_train": 400, "n_test": 100, "noise_scale": False, "diag_batch": 64,
                                "profile": False})
    assert len(specs) == 4
    summary = run_sweep(specs, tmp_path)
    assert summary["failed"] == 0 and summary["ran"] == 4
    recs = store.load_records(tmp_path, "depth", "quick")
    res = EXP.analyze(recs)
    key = {(r["norm"], r["init"]): r for r in res["rows"]}
    assert len(key) == 4 and all(r["first_step"] == 1 and r["depth"] == 12 for r in res["rows"])
    small = key[("none", "normal(0.01)")]
    for other in (("batch", "normal(0.01)"), ("none", "he_normal"), ("batch", "he_normal")):
        assert key[other]["g1_first"] > 0
        assert small["g1_first"] < 1e-6 * key[other]["g1_first"], (other, small["g1_first"], key[other]["g1_first"])
        assert key[other]["ratio_first"] > 1e-2
        # at init the whole backward signal is small (the output layer's input has vanished too), so
        # the ratio there says little; the first layer's own norm already shows it
        assert small["g1_init"] < 1e-6 * key[other]["g1_init"]
    assert small["ratio_first"] < 1e-6
    assert "stops at depth" in " ".join(res["notes"]) or "reaches the target at no depth" in " ".join(res["notes"])


def test_convergence_note_when_the_shallowest_depth_already_fails():
    recs = [_rec(2, status="collapsed", test_acc=0.1), _rec(8, target_step=50), _rec(32, test_acc=0.3)]
    notes = "\n".join(EXP.analyze(recs)["notes"])
    assert ("no norm, init he_normal: fails from the shallowest depth 2: depth 2 collapsed, depth 32 missed target "
            "(but reaches it again at depth 8)") in notes
