"""The pitfalls experiment: its runs (variants), the comparisons built from stored records, and, on
tiny budgets, that the robust pitfalls show their effect in the expected direction."""

import json
import math

import pytest

from pybench import experiments, report, train
from pybench.experiments import _grid
from pybench.experiments import _pitfall_cases as cases
from pybench.experiments.base import RunSpec

EXP = experiments.get("pitfalls")


def _sides(comp):
    return [comp.bad, comp.fixed]


def _names(side):
    return [side] if isinstance(side, str) else list(side.candidates)


# ---- specs -------------------------------------------------------------------------------------

def test_registered_with_axes_and_description():
    assert "pitfalls" in experiments.names()
    assert EXP.axes["variant"] == cases.variant_names("full")
    assert "MNIST-1D" in EXP.description and "quick" in EXP.description.lower()


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_specs_valid_unique_and_every_comparison_runnable(mode):
    specs = EXP.specs(mode)
    assert all(isinstance(s, RunSpec) and s.mode == mode for s in specs)
    seeds = EXP.default_seeds(mode)
    assert len(specs) == seeds * len(cases.variant_names(mode))
    assert len({s.run_id() for s in specs}) == len(specs)  # one point per distinct config
    assert all(s.config["threads"] == 1 for s in specs)
    names = set(cases.variant_names(mode))
    for comp in cases.COMPARISONS:
        for side in _sides(comp):
            assert any(n in names for n in _names(side)), (comp.label, side)
            assert all(n in cases.VARIANTS for n in _names(side))
    for _, _, _, sides in cases.CURVES.values():
        assert all(any(n in names for n in _names(s)) for s in sides)


def test_variant_configs_pair_on_the_same_budget():
    cfg = {s.point["variant"]: s.config for s in EXP.specs("quick")}
    base = cfg[cases.BASE]
    assert base["lr"] == cases.BASE_LR and base["momentum"] == 0.9 and base["normalize"] == "standard"
    assert cfg["raw inputs 0-255"] == {**base, "normalize": "raw"}
    assert cfg["batch 1024"] == {**base, "batch_size": 1024}          # same epochs, not same steps
    assert cfg["momentum lr=1"] == {**base, "lr": 1.0}
    assert cfg["depth 8 init=zeros"] == {**cfg["depth 8 init=he_normal"], "init": "zeros"}
    assert cfg["depth 16 + BatchNorm"] == {**cfg["depth 16"], "norm": "batch"}
    assert cfg["mse relu-out lr=0.03"] == {**cfg["mse lr=0.03"], "last_activation": "relu"}
    assert cfg["mse lr=0.03"] == {**base, "loss": "mse"}
    assert cfg["adam lr=0.001"]["optimizer"] == "adam" and cfg["sgd lr=0.3"]["momentum"] == 0.0
    small = cfg["small no regularization"]
    assert small["n_train"] == 1000 and small["epochs"] == cases.BUDGETS["small"]["quick"]["epochs"]
    assert cfg["small early stopping"] == {**small, "patience": cases.PATIENCE["quick"], "early_stop_on": "val_acc",
                                           "min_delta": cases.EARLY_STOP["min_delta"]}
    assert cfg["small dropout=0.3"] == {**small, "dropout": 0.3}
    full = {s.point["variant"]: s.config for s in EXP.specs("full", seeds=1)}
    assert full[cases.BASE]["epochs"] == 20 and base["epochs"] == 4
    assert full["small early stopping"]["patience"] == cases.PATIENCE["full"]


def test_overrides_and_bad_input():
    specs = EXP.specs("quick", overrides={"epochs": 1, "variant": ["raw inputs 0-255", cases.BASE]}, seeds=2)
    assert [s.point["variant"] for s in specs] == ["raw inputs 0-255", cases.BASE] * 2
    assert all(s.config["epochs"] == 1 for s in specs)
    assert [s.config["seed"] for s in specs] == [0, 0, 1, 1]
    # a full-mode grid point can be asked for in quick mode (quick budget)
    (s,) = EXP.specs("quick", overrides={"variant": "adam lr=0.0003"})
    assert s.config["lr"] == 0.0003 and s.config["epochs"] == 4
    with pytest.raises(ValueError, match="unknown variant 'nope'.*'raw inputs 0-255'"):
        EXP.specs("quick", overrides={"variant": ["nope"]})
    with pytest.raises(ValueError, match="unknown key 'bogus'"):
        EXP.specs("quick", overrides={"bogus": 1})


# ---- tuned choices and their extensions ---------------------------------------------------------

def test_every_tuned_grid_value_is_a_variant_and_extended_values_are_made_on_demand():
    assert set(cases.TUNED) == {"sgd", "momentum", "adagrad", "rmsprop", "adam", "mse", "mse relu-out", "batch1024",
                                "dropout", "weight decay"}
    for t in cases.TUNED.values():
        fam = {**cases.FAMILIES[t.family], **cases.BUDGETS[t.family]["full"]}
        for v in t.base(None):
            assert t.name(v) in cases.VARIANTS
            assert cases.variant_config(t.name(v), "full") == {**fam, **t.fields(v)}, t.name(v)
        assert set(t.base(None)) <= set(t.ladder), t.label  # the grids are steps of their ladders
    # values beyond the grids: named like the grid's, configs from the same maker
    adam = EXP.specs("full", {"variant": ["adam lr=0.03"]}, seeds=1)[0].config
    assert adam == {**EXP.specs("full", {"variant": ["adam lr=0.01"]}, seeds=1)[0].config, "lr": 0.03}
    assert cases.variant_config("small dropout=0.7", "quick") == {**cases.variant_config("small dropout=0.3", "quick"),
                                                                  "dropout": 0.7}
    assert cases.variant_config("small wd=0.1", "full")["weight_decay"] == 0.1
    assert cases.variant_config("mse relu-out lr=1", "full")["last_activation"] == "relu"
    # batch 1024's grid tops out at the linear-scaling lr 0.96: the next step up is a half decade, to 3
    big = cases.TUNED["batch1024"]
    assert big.name(cases.BASE_LR) == "batch 1024" and _grid.ladder_step(big.ladder, 0.96, "high") == 3.0
    assert cases.variant_config("batch 1024 lr=3", "full") == {**cases.variant_config("batch 1024 lr=0.96", "full"),
                                                              "lr": 3.0}
    # the momentum ladder meets the lr far too high: one name, one config, one run id
    assert cases.TUNED_VALUES["momentum lr=1"][1] == cases.LR_TOO_HIGH
    with pytest.raises(ValueError, match="unknown variant 'adam lr=0.05'.*tuned value beyond its grid"):
        EXP.specs("full", {"variant": ["adam lr=0.05"]})  # not a step of the 1-3-10 ladder
    with pytest.raises(ValueError, match="unknown variant 'small dropout=0.95'"):
        cases.variant_config("small dropout=0.95", "full")  # beyond the bound


def test_tuned_values_run_are_the_grid_and_contiguous_extensions():
    momentum = cases.TUNED["momentum"]
    run = {"momentum lr=0.003", "momentum lr=0.01", "momentum lr=0.03", "momentum lr=0.1", "momentum lr=1"}
    assert list(momentum.values_run(run, "full")) == [0.003, 0.01, 0.03, 0.1]   # lr=1 is not next to 0.1
    assert list(momentum.values_run(run | {"momentum lr=0.3"}, "full")) == [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
    assert list(momentum.values_run(run, "quick")) == [0.003, 0.01, 0.03, 0.1]  # 0.003: one step below quick's grid


def _full(changes, seeds=1, variants=None):
    recs = []
    for rep in range(seeds):
        for v in variants or cases.variant_names("full"):
            recs.append(dict(_rec(v, rep, **changes.get(v, {})), mode="full"))
    return recs


def _lr_ramp(opt, accs):
    """best val accuracies for the full lr grid of ``opt``, in grid order."""
    return {cases.lr_name(opt, lr): dict(val=a, test_acc=a) for lr, a in zip(cases.LR_GRIDS["full"][opt], accs)}


def test_extend_asks_for_the_next_value_of_every_tuned_choice_on_an_edge():
    changes = {**_lr_ramp("adam", (0.50, 0.55, 0.58, 0.60)), **_lr_ramp("sgd", (0.50, 0.62, 0.60, 0.55)),
               "small dropout=0.2": dict(val=0.40), "small dropout=0.3": dict(val=0.45),
               "small dropout=0.5": dict(val=0.5),
               "small wd=0.001": dict(val=0.50), "small wd=0.01": dict(val=0.45), "small wd=0.03": dict(val=0.40)}
    ext = {x.what: x for x in EXP.extend(_full(changes), "full", seeds=3)}
    assert (ext["adam lr"].edge, ext["adam lr"].value) == (0.01, 0.03)
    assert ext["adam lr"].text == "extending the adam lr grid beyond 0.01 to 0.03 (best at the edge)"
    assert (ext["dropout"].edge, ext["dropout"].value) == (0.5, 0.7)
    assert (ext["weight decay"].edge, ext["weight decay"].value) == (0.001, 0.0003)
    assert "sgd lr" not in ext  # its best (0.1) is interior
    specs = ext["adam lr"].specs
    assert [(s.point["variant"], s.seed) for s in specs] == [("adam lr=0.03", r) for r in range(3)]
    assert specs[0].config["optimizer"] == "adam" and specs[0].config["lr"] == 0.03 and specs[0].config["epochs"] == 20
    assert ext["dropout"].specs[0].config["dropout"] == 0.7 and ext["dropout"].specs[0].config["n_train"] == cases.SMALL_TRAIN + cases.SMALL_VAL


def test_a_side_on_an_edge_draws_no_claim_until_extended_to_an_interior_or_diverged_next():
    adam = _lr_ramp("adam", (0.50, 0.55, 0.58, 0.60))
    sgd = {cases.lr_name("sgd", 0.1): dict(val=0.62, test_acc=0.50)}
    res = EXP.analyze(_full({**adam, **sgd}))
    row = _row(res, "SGD vs Adam")
    assert row["shown"] == "edge: not shown" and row["fixed_tuning"] == "edge (not extended)"
    assert row["fixed"] == "adam lr=0.01 (best of 4; edge (not extended))" and row["effect"] == pytest.approx(0.1)
    assert any("no claim drawn" in n and "SGD vs Adam (fixed: edge (not extended))" in n for n in res["notes"])
    assert any("adam lr 0.0003, 0.001, 0.003, 0.01* (edge (not extended))" in n for n in res["notes"])
    # three extensions later the best is still on the top edge: the round limit, still no claim
    more = [dict(_rec(cases.lr_name("adam", lr), val=a, test_acc=a), mode="full")
            for lr, a in ((0.03, 0.61), (0.1, 0.62), (0.3, 0.63))]
    row = _row(EXP.analyze(_full({**adam, **sgd}) + more), "SGD vs Adam")
    assert row["fixed_tuning"] == "edge (round limit)" and row["shown"] == "edge: not shown"
    assert row["fixed"] == "adam lr=0.3 (best of 7; edge (round limit))"
    # one extension, and the next value beyond the best diverged: a claim stands (the tie rule's, 3 seeds)
    more = [dict(_rec(cases.lr_name("adam", 0.03), rep, val=0.40, test_acc=0.1, status="diverged"), mode="full")
            for rep in range(3)]
    row = _row(EXP.analyze(_full({**adam, **sgd}, seeds=3) + more), "SGD vs Adam")
    assert row["fixed_tuning"] == "edge (next diverged)" and row["shown"] == "yes"
    assert row["fixed"] == "adam lr=0.01 (best of 5)"


def test_a_side_at_chance_at_every_value_tried_has_no_edge_to_sit_on():
    # ReLU output: every lr of the grid ends at chance, the "best" on the low edge by noise: the
    # comparison stands, and the side says why
    flat = {cases.mse_name(lr, True): dict(val=a, test_acc=0.1) for lr, a in zip((0.01, 0.03, 0.1, 0.3),
                                                                                  (0.125, 0.12, 0.10, 0.11))}
    linear = {cases.mse_name(lr): dict(val=a, test_acc=a) for lr, a in zip((0.01, 0.03, 0.1, 0.3), (0.4, 0.45, 0.3, 0.2))}
    recs = _full({**flat, **linear}, seeds=3)
    row = _row(EXP.analyze(recs), "ReLU output")
    assert row["bad_tuning"] == "at chance at every value tried" and row["shown"] == "yes"
    assert row["bad"] == "ReLU output: mse relu-out lr=0.01 (best of 4; at chance at every value tried)"
    # one value that learned something: back to the edge rule
    recs += [dict(_rec(cases.mse_name(3e-3, True), rep, val=0.30, test_acc=0.3), mode="full") for rep in range(3)]
    row = _row(EXP.analyze(recs), "ReLU output")
    assert row["bad_tuning"] == "edge (not extended)" and row["shown"] == "edge: not shown"


def test_a_pitfalls_sweep_extends_a_tuned_lr_until_interior(tmp_path):
    """Fake runs (no training), the adam grid alone: best at the top (0.01) of 3e-4 ... 1e-2, then
    interior once 0.03 is run."""
    import sweep_helpers
    from pybench import store, sweep

    overrides = {"variant": [cases.lr_name("adam", lr) for lr in cases.LR_GRIDS["full"]["adam"]]}
    summary = sweep.run_sweep(EXP.specs("full", overrides, seeds=1), tmp_path, runner=sweep_helpers.fake_pitfalls_run,
                              extend=lambda e, m, recs: EXP.extend(recs, m, overrides, 1))
    (text,) = [t for *_, t in summary["extensions"]]
    assert text == "extending the adam lr grid beyond 0.01 to 0.03 (best at the edge)"
    m = store.load_manifest(tmp_path, "pitfalls", "full")
    assert [(s["point"]["variant"], s.get("extension", 0)) for s in m["specs"]][-1] == ("adam lr=0.03", 1)
    res = EXP.analyze(sweep.sweep_records_of(tmp_path, "pitfalls", "full")[0])
    row = _row(res, "SGD vs Adam")
    assert row["fixed"] == "adam lr=0.01 (best of 5)" and row["fixed_tuning"] == "interior"
    assert any("adam lr 0.0003, 0.001, 0.003, 0.01*, +0.03 (interior)" in n for n in res["notes"])


# ---- analysis on synthetic records --------------------------------------------------------------

def _rec(variant, rep=0, *, test_acc=0.5, val=None, status="completed", gap=0.1, test_loss=1.0, dead=0.01, steps=448,
         selected=None, config=None):
    r = {"run_id": f"{abs(hash((variant, rep))):012x}"[:12], "point": {"variant": variant}, "replicate": rep,
         "status": status, "stop_reason": "budget done", "best_val_acc": test_acc if val is None else val,
         "test": {"acc": test_acc, "loss": test_loss}, "gap": gap, "steps": steps,
         "collapse": {"dead_fraction": dead}, "data": {"num_classes": 10},
         "config": {"patience": 5 if variant == "small early stopping" else None, **(config or {})},
         "history": [{"step": 0, "epoch": 0.0, "val_loss": 2.3, "val_acc": 0.1},
                     {"step": steps, "epoch": 4.0, "val_loss": test_loss, "val_acc": test_acc}]}
    if selected is not None:  # the test accuracy at the best-validation checkpoint (newer records)
        r["selected"] = {"metric": "val_acc", "step": steps // 2, "val_acc": r["best_val_acc"],
                         "test": {"acc": selected, "loss": test_loss}}
    return r


def _records(seeds=1, **changes):
    recs = []
    for rep in range(seeds):
        for v in cases.variant_names("quick"):
            kw = dict(changes.get(v, {}))
            for k in ("test_acc", "selected", "gap"):
                if callable(kw.get(k)):
                    kw[k] = kw[k](rep)
            recs.append(_rec(v, rep, **kw))
    return recs


def _row(res, label):
    (row,) = [r for r in res["rows"] if r["_label"] == label]
    return row


def test_analyze_one_line_per_comparison_with_status_and_effect():
    recs = _records(**{"raw inputs 0-255": dict(test_acc=0.102, status="collapsed", dead=0.996),
                       cases.BASE: dict(test_acc=0.53, dead=0.004),
                       "momentum lr=0.01": dict(test_acc=0.60, val=0.40),     # best test, worse val: not picked
                       "momentum lr=0.1": dict(test_acc=0.45, val=0.55),
                       "momentum lr=1": dict(test_acc=0.09),                  # completed at chance
                       "sgd lr=0.3": dict(val=0.52),                          # interior: a claim may rest on it
                       "small no regularization": dict(gap=0.6, test_loss=3.0, steps=900),
                       "small dropout=0.3": dict(gap=0.5, test_loss=2.0),
                       "small early stopping": dict(gap=0.3, test_loss=1.8, test_acc=0.3, steps=105)})
    # momentum lr=0.1 tops the quick grid: the extension beyond it makes it interior, and joins the
    # lr far too high (momentum lr=1, run anyway) to the grid as the next step
    recs.append(_rec("momentum lr=0.3", test_acc=0.40, val=0.50))
    res = EXP.analyze(recs)
    assert len(res["rows"]) == len(cases.COMPARISONS)
    raw = _row(res, "raw inputs")
    assert raw["bad_status"] == "collapsed" and raw["_display"]["bad_value"] == "10.2% (collapsed)"
    assert raw["effect"] == pytest.approx(0.428) and raw["shown"] == "1 seed"   # one seed: no spread to judge
    assert raw["metric"] == "test acc (final step)"   # these records predate the best-val checkpoint
    assert raw["fixed"] == f"standardized ({cases.BASE})"
    assert raw["details"] == "dead ReLUs 99.6% → 0.4%"
    high = _row(res, "lr too high")
    assert high["fixed"] == "tuned: momentum lr=0.1 (best of 5)"         # by validation, not test accuracy
    assert high["fixed_tuning"] == "interior" and high["bad_tuning"] == ""
    assert high["_display"]["bad_value"] == "9.0% (at chance)" and high["effect"] == pytest.approx(0.36)
    drop = _row(res, "no reg vs dropout")
    assert drop["metric"] == "train-test gap" and drop["effect"] == pytest.approx(0.1)  # lower gap = positive
    es = _row(res, "early stopping")
    assert es["effect"] == pytest.approx(1.2) and es["fixed"] == "small early stopping (patience 5 on val loss, min_delta 0)"
    assert "Early stopping restores the weights of the lowest validation loss: its test metrics are those weights'." \
        in res["notes"]  # what these records (no early_stop_on: made before it existed) did
    assert "steps 900 → 105" in es["details"]
    assert "early stopping: the test loss improves but test accuracy falls (50.0% → 30.0%)." in res["notes"]
    same = _row(res, "SGD vs momentum")  # 0.5 vs 0.45, one seed
    assert same["shown"] == "1 seed" and same["effect"] == pytest.approx(-0.05)
    assert any("raw inputs 0-255 seed 0: collapsed" in n for n in res["notes"])
    # the CSV carries every row, the Markdown table renders the display text
    md = report.markdown_table(res["columns"], res["rows"])
    assert "10.2% (collapsed)" in md and "+42.8 pp" in md and len(md.strip().splitlines()) == 2 + len(cases.COMPARISONS)
    csv = report.csv_text(res["columns"], res["rows"])
    assert csv.splitlines()[0].startswith("pitfall,bad,fixed,metric,bad_value,bad_value_spread")
    for spec in res["plots"]:
        assert report.render_plot(spec)[:4] == b"\x89PNG"
    plots = {p.file: p for p in res["plots"]}
    bad = next(s for s in plots["bad_vs_fixed.png"].series if s.label == "bad")
    assert bad.marks[bad.x.index(raw["_label"])] == "collapsed"  # marked on the chart, not only in the table
    assert all(plots[f].logy for f, (_, _, metric, _) in cases.CURVES.items() if metric != "val_acc")


def test_analyze_medians_paired_spread_and_missing_runs():
    recs = _records(seeds=3, **{"raw inputs 0-255": dict(test_acc=lambda rep: [0.10, 0.30, 0.12][rep]),
                                cases.BASE: dict(test_acc=lambda rep: [0.50, 0.52, 0.54][rep])})
    recs = [r for r in recs if r["point"]["variant"] != "depth 16 + BatchNorm"]
    res = EXP.analyze(recs)
    raw = _row(res, "raw inputs")
    assert raw["bad_value"] == pytest.approx(0.12) and raw["bad_value_spread"] == pytest.approx(0.10)
    # paired by seed: 0.40, 0.22, 0.42 -> median 0.40, half range 0.10
    assert raw["effect"] == pytest.approx(0.40) and raw["effect_spread"] == pytest.approx(0.10)
    assert raw["seeds"] == 3 and raw["_display"]["effect"] == "+40.0 pp ±10.0"
    assert raw["shown"] == "yes" and raw["effect_lo"] > 0.02   # every seed's effect far above 0
    # median effect above the threshold but one seed reversed: the interval includes 0, a tie
    mixed = EXP.analyze(_records(seeds=3, **{"depth 16": dict(test_acc=lambda rep: [0.40, 0.38, 0.45][rep]),
                                             "depth 16 + BatchNorm": dict(test_acc=lambda rep: [0.43, 0.42, 0.41][rep])}))
    deep = _row(mixed, "deep, no BN")
    assert deep["effect"] == pytest.approx(0.03) and deep["shown"] == "tie"
    assert deep["effect_lo"] < 0 < deep["effect_hi"] and deep["effect_ci"] == "-4.0 pp to +4.0 pp"
    assert any(n.startswith("tie (the 95% interval of the effect includes 0): ")
               and "deep, no BN (+3.0 pp, 95% interval -4.0 pp to +4.0 pp)" in n for n in mixed["notes"])
    (tied,) = [p for p in EXP.headline(None, mixed).split(". ") if p.startswith("Tie (not shown): ")]
    assert "deep, no BN +3.0 pp" in tied
    deep = _row(res, "deep, no BN")
    assert deep["fixed"] == "(not run)" and deep["shown"] == "n/a" and deep["_display"]["fixed_value"] == "not run"
    assert any("not run" in n and "too deep" in n for n in res["notes"])


def test_test_accuracy_lines_read_the_best_val_checkpoint_and_never_mix_it_with_the_final_step():
    # plain SGD: better final-step test accuracy, worse at the best-validation checkpoint than momentum
    sel = {v: dict(test_acc=0.60, selected=0.50, val=0.5) for v in cases.variant_names("quick") if v.startswith("sgd")}
    sel.update({v: dict(test_acc=0.55, selected=0.58, val=0.5) for v in cases.variant_names("quick")
                if v.startswith("momentum")})
    for v in ("sgd lr=0.3", "momentum lr=0.03"):   # interior optima: a side on an edge would draw no claim
        sel[v]["val"] = 0.6
    other = {v: dict(selected=0.5) for v in cases.variant_names("quick") if v not in sel}
    res = EXP.analyze(_records(seeds=3, **{**other, **sel}))
    line = _row(res, "SGD vs momentum")
    assert line["metric"] == "test acc @ best val"
    assert line["bad_value"] == pytest.approx(0.50) and line["fixed_value"] == pytest.approx(0.58)
    assert line["effect"] == pytest.approx(0.08) and line["shown"] == "yes"
    assert "test accuracy at each run's best-validation checkpoint" in EXP.headline(None, res)
    # one side's runs predate the checkpoint: both sides at the final step, labelled, never mixed
    old = [dict(r) for r in _records(seeds=3, **{**other, **sel})]
    for r in old:
        if r["point"]["variant"].startswith("sgd"):
            del r["selected"]
    res = EXP.analyze(old)
    line = _row(res, "SGD vs momentum")
    assert line["metric"] == "test acc (final step)"
    assert line["bad_value"] == pytest.approx(0.60) and line["fixed_value"] == pytest.approx(0.55)
    assert line["effect"] == pytest.approx(-0.05) and line["shown"] == "reversed"
    assert _row(res, "lr too high")["metric"] == "test acc @ best val"   # lines whose runs all have it keep it
    # the gap and loss lines are of the final weights whatever the records hold
    assert _row(res, "no reg vs dropout")["metric"] == "train-test gap"


def test_shown_needs_the_interval_to_exclude_zero_and_the_threshold():
    def rows(gap_bad, gap_fixed):
        recs = _records(seeds=5, **{"small no regularization": dict(gap=lambda rep: gap_bad[rep]),
                                    "small dropout=0.3": dict(gap=lambda rep: gap_fixed[rep])})
        # dropout 0.3 between two worse values: interior, so the tie rule judges the line
        recs += [_rec(cases.dropout_name(p), rep, val=0.3) for p in (0.2, 0.5) for rep in range(5)]
        return _row(EXP.analyze(recs), "no reg vs dropout")
    clear = rows([0.60, 0.62, 0.61, 0.63, 0.60], [0.50, 0.51, 0.52, 0.50, 0.49])
    assert clear["shown"] == "yes" and clear["effect_lo"] > 0.02
    small = rows([0.60, 0.62, 0.61, 0.63, 0.60], [0.59, 0.61, 0.60, 0.62, 0.59])   # +1 pp in every seed
    assert small["shown"] == "small" and small["effect_lo"] > 0
    overlap = rows([0.60, 0.52, 0.61, 0.55, 0.66], [0.58, 0.57, 0.50, 0.60, 0.52])
    assert overlap["shown"] == "tie" and overlap["effect_lo"] < 0 < overlap["effect_hi"]
    worse = rows([0.50, 0.51, 0.52, 0.50, 0.49], [0.60, 0.62, 0.61, 0.63, 0.60])
    assert worse["shown"] == "reversed" and worse["effect_hi"] < 0


def test_batch_1024_at_its_own_tuned_lr_and_the_effective_lr_stated():
    mom = {"momentum": 0.9}
    grid = cases.LR_GRIDS["full"]["batch1024"]
    assert grid[0] == cases.BASE_LR and grid[-1] == pytest.approx(cases.BASE_LR * cases.BIG_BATCH / 32)
    full = {s.point["variant"]: s.config for s in EXP.specs("full", seeds=1)}
    assert [full[cases.big_batch_name(lr)]["lr"] for lr in grid] == grid
    assert all(full[cases.big_batch_name(lr)]["batch_size"] == cases.BIG_BATCH for lr in grid)
    changes = {v: dict(config={"lr": cases.VARIANTS[v].fields.get("lr", cases.BASE_LR),
                               "momentum": cases.VARIANTS[v].fields.get("momentum", 0.9)})
               for v in cases.variant_names("quick")}
    changes["batch 1024"] = dict(test_acc=0.30, config={"lr": 0.03, **mom})
    changes["batch 1024 lr=0.1"] = dict(test_acc=0.40, val=0.41, config={"lr": 0.1, **mom})
    changes["batch 1024 lr=0.3"] = dict(test_acc=0.45, val=0.46, config={"lr": 0.3, **mom})
    res = EXP.analyze(_records(**changes))
    line = _row(res, "batch too large")
    # its best is the quick grid's top: grid extension applies, and the line draws no claim until it is run
    assert line["bad"] == "batch 1024 lr=0.3 (best of 3; eff. lr 3; edge (not extended))"
    assert line["bad_value"] == pytest.approx(0.45) and line["shown"] == "edge: not shown"
    assert line["fixed"].startswith("batch 32, tuned: momentum lr=")
    assert not any("ran at the batch-32 LR only" in n for n in res["notes"])
    grids = next(n for n in res["notes"] if n.startswith("tuning grids as run"))
    assert "batch 1024 lr 0.03 (0.3), 0.1 (1), 0.3 (3)* (edge (not extended))" in grids
    assert "sgd lr 0.1*, 0.3, 1 (edge (not extended))" in grids   # no momentum: no effective lr
    assert _row(res, "dead ReLU: ELU")["fixed"] == "elu lr=0.3 (eff. lr 3)"
    # records with the batch-32 LR only (older sweeps): the line says so
    only = [r for r in _records(**changes) if not r["point"]["variant"].startswith("batch 1024 lr=")]
    res = EXP.analyze(only)
    assert _row(res, "batch too large")["bad"] == "batch 1024 (eff. lr 0.3; edge (not extended))"
    assert any(n.startswith("batch too large: batch 1024 ran at the batch-32 LR only") for n in res["notes"])
    assert "batch too large" in EXP.headline(None, res) and "(untuned LR: overstated)" in EXP.headline(None, res)


def test_analyze_failed_and_extra_axis():
    recs = _records(**{"depth 8 init=zeros": dict(status="failed", test_acc=None)})
    res = EXP.analyze(recs)
    zeros = _row(res, "zeros vs He")
    assert zeros["bad_status"] == "failed" and zeros["_display"]["bad_value"] == "- (failed)"
    assert zeros["shown"] == "n/a"
    assert "no table" in EXP.headline(None, EXP.analyze([dict(r, point={**r["point"], "lr": 0.1}) for r in recs]))
    # --set lr=[...] adds an axis: one set of lines per value, labelled by it
    recs = []
    for lr in (0.01, 0.03):
        for r in _records():
            recs.append(dict(r, point={**r["point"], "lr": lr}, run_id=r["run_id"][:10] + str(lr)[-2:]))
    res = EXP.analyze(recs)
    assert len(res["rows"]) == 2 * len(cases.COMPARISONS)
    assert {r["lr"] for r in res["rows"]} == {0.01, 0.03}
    assert "lr" in [c.key for c in res["columns"]]
    assert all(report.render_plot(p)[:4] == b"\x89PNG" for p in res["plots"] if any(s.x for s in p.series))


# ---- the robust pitfalls on tiny budgets (real runs) -------------------------------------------

def _run(variant, **extra):
    (spec,) = EXP.specs("quick", overrides={"variant": variant, **extra})
    return train.run(spec.config)


def _failed_to_learn(rec):
    acc = rec["test"]["acc"]
    return rec["status"] in ("collapsed", "diverged") or acc is None or acc < 0.15


def test_small_family_has_a_large_validation_set_and_the_same_small_training_set():
    rec = _run("small no regularization", steps=1, eval_every=1)
    assert rec["data"]["n_train"] == 480 == cases.SMALL_TRAIN and rec["data"]["n_val"] >= 500
    assert rec["data"]["n_test"] == 1000  # the generator's own test signals, apart from the pool


def test_early_stopping_on_val_accuracy_restores_the_most_accurate_weights():
    rec = _run("small early stopping")    # quick: 60 epochs, patience 5 (about 1 s)
    hist = rec["history"]
    best = max(hist, key=lambda h: h["val_acc"])   # the first evaluation at the highest accuracy
    assert rec["stop_reason"].startswith("early stopping: val_acc did not improve by more than 0.005 in 5 evaluations")
    assert rec["steps"] < rec["budget"]["steps"] and rec["test"]["step"] == best["step"] < rec["steps"]
    assert rec["selected"]["step"] == best["step"] and rec["selected"]["test"] == {
        k: rec["test"][k] for k in ("loss", "acc")}  # the restored weights are the selection checkpoint's
    lowest_loss = min(hist, key=lambda h: h["val_loss"])["step"]
    assert lowest_loss < best["step"]  # why it watches accuracy: the loss bottoms out earlier
    res = EXP.analyze([dict(rec, point={"variant": "small early stopping"}, replicate=0)])
    assert "Early stopping restores the weights of the highest validation accuracy: its test metrics are those " \
        "weights'." in res["notes"]
    assert _row(res, "early stopping")["fixed"] == "small early stopping (patience 5 on val accuracy, min_delta 0.005)"


def test_robust_pitfalls_show_their_effect_on_tiny_budgets():
    """Quick-mode configs (4 epochs of MNIST-1D): standardized base learns; raw 0-255 inputs
    collapse or lose much accuracy; lr far too high and zero init stay at chance (or collapse)."""
    base = _run(cases.BASE)
    assert base["status"] in train.OK_STATUSES and base["test"]["acc"] > 0.35
    raw = _run("raw inputs 0-255")
    assert raw["status"] == "collapsed" or raw["test"]["acc"] < base["test"]["acc"] - 0.15
    high = _run("momentum lr=1")
    assert _failed_to_learn(high)
    zeros = _run("depth 8 init=zeros", epochs=2)
    assert _failed_to_learn(zeros)
    assert zeros["collapse"]["dead_fraction"] == 1.0     # zero weights: no unit is ever positive
    he = _run("depth 8 init=he_normal", epochs=2)
    assert he["test"]["acc"] > zeros["test"]["acc"] + 0.15
    big = _run("batch 1024")
    assert big["test"]["acc"] < base["test"]["acc"] - 0.1   # 12 steps vs 448 in the same 4 epochs


@pytest.mark.slow
def test_quick_sweep_end_to_end(tmp_path):
    """The whole quick sweep, its tuned grids extended as `pybench run` does, through sweep + report
    (a minute or two): every line measured (one seed: not judged by the tie rule), the robust ones
    with a large effect in the expected direction and no tuned side left on an edge."""
    from pybench import sweep

    summary = sweep.run_sweep(EXP.specs("quick"), tmp_path, extend=lambda e, m, recs: EXP.extend(recs, m))
    assert summary["failed"] == 0
    report.build(tmp_path, "pitfalls", "quick")
    rows = list(csv_rows(tmp_path / "pitfalls" / "quick" / "summary.csv"))
    assert len(rows) == len(cases.COMPARISONS)
    assert all(r["shown"] in ("1 seed", "edge: not shown") for r in rows)
    shown = {(r["pitfall"], r["fixed"]): r["shown"] for r in rows}
    effect = {(r["pitfall"], r["fixed"]): float(r["effect"]) for r in rows}
    robust = [k for k in effect if k[0] in ("inputs not normalized", "learning rate far too high",
                                            "zero initialization (deep MLP)", "batch too large at a fixed epoch budget")]
    assert len(robust) == 5 and all(effect[k] > 0.1 and shown[k] == "1 seed" for k in robust), (effect, shown)


def csv_rows(path):
    import csv
    with open(path, newline="") as f:
        yield from csv.DictReader(f)


def test_records_are_json_safe_for_the_table():
    res = EXP.analyze(_records())
    for r in res["rows"]:
        json.dumps({k: v for k, v in r.items()})
        assert r["effect"] is None or math.isfinite(r["effect"])
