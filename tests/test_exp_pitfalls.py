"""The pitfalls experiment: its runs (variants), the comparisons built from stored records, and, on
tiny budgets, that the robust pitfalls show their effect in the expected direction."""

import json
import math

import pytest

from pybench import experiments, report, train
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
    assert small["n_train"] == 600 and small["epochs"] == cases.BUDGETS["small"]["quick"]["epochs"]
    assert cfg["small early stopping"] == {**small, "patience": cases.PATIENCE["quick"]}
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
                       "small no regularization": dict(gap=0.6, test_loss=3.0, steps=900),
                       "small dropout=0.3": dict(gap=0.5, test_loss=2.0),
                       "small early stopping": dict(gap=0.3, test_loss=1.8, test_acc=0.3, steps=105)})
    res = EXP.analyze(recs)
    assert len(res["rows"]) == len(cases.COMPARISONS)
    raw = _row(res, "raw inputs")
    assert raw["bad_status"] == "collapsed" and raw["_display"]["bad_value"] == "10.2% (collapsed)"
    assert raw["effect"] == pytest.approx(0.428) and raw["shown"] == "1 seed"   # one seed: no spread to judge
    assert raw["metric"] == "test acc (final step)"   # these records predate the best-val checkpoint
    assert raw["fixed"] == f"standardized ({cases.BASE})"
    assert raw["details"] == "dead ReLUs 99.6% → 0.4%"
    high = _row(res, "lr too high")
    assert high["fixed"] == "tuned: momentum lr=0.1 (best of 3)"         # by validation, not test accuracy
    assert high["_display"]["bad_value"] == "9.0% (at chance)" and high["effect"] == pytest.approx(0.36)
    drop = _row(res, "no reg vs dropout")
    assert drop["metric"] == "train-test gap" and drop["effect"] == pytest.approx(0.1)  # lower gap = positive
    es = _row(res, "early stopping")
    assert es["effect"] == pytest.approx(1.2) and es["fixed"] == "small early stopping (patience 5)"
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
    sel = {v: dict(test_acc=0.60, selected=0.50) for v in cases.variant_names("quick") if v.startswith("sgd")}
    sel.update({v: dict(test_acc=0.55, selected=0.58) for v in cases.variant_names("quick") if v.startswith("momentum")})
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
    assert line["bad"] == "batch 1024 lr=0.3 (best of 3; eff. lr 3)" and line["bad_value"] == pytest.approx(0.45)
    assert line["fixed"].startswith("batch 32, tuned: momentum lr=")
    assert not any("ran at the batch-32 LR only" in n for n in res["notes"])
    grids = next(n for n in res["notes"] if n.startswith("tuning grids as run"))
    assert "batch 1024: lr 0.03 (0.3), 0.1 (1), 0.3 (3)" in grids and "sgd: lr 0.1, 0.3, 1" in grids
    assert _row(res, "dead ReLU: ELU")["fixed"] == "elu lr=0.3 (eff. lr 3)"
    # records with the batch-32 LR only (older sweeps): the line says so
    only = [r for r in _records(**changes) if not r["point"]["variant"].startswith("batch 1024 lr=")]
    res = EXP.analyze(only)
    assert _row(res, "batch too large")["bad"] == "batch 1024 (eff. lr 0.3)"
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
    """The whole quick sweep through sweep + report (~40 s): every line measured (one seed: not
    judged by the tie rule), the robust ones with a large effect in the expected direction."""
    from pybench import sweep

    summary = sweep.run_sweep(EXP.specs("quick"), tmp_path)
    assert summary["failed"] == 0
    report.build(tmp_path, "pitfalls", "quick")
    rows = list(csv_rows(tmp_path / "pitfalls" / "quick" / "summary.csv"))
    assert len(rows) == len(cases.COMPARISONS)
    assert all(r["shown"] == "1 seed" for r in rows)
    effect = {(r["pitfall"], r["fixed"]): float(r["effect"]) for r in rows}
    robust = [k for k in effect if k[0] in ("inputs not normalized", "learning rate far too high",
                                            "zero initialization (deep MLP)", "batch too large at a fixed epoch budget")]
    assert len(robust) == 5 and all(effect[k] > 0.1 for k in robust), effect


def csv_rows(path):
    import csv
    with open(path, newline="") as f:
        yield from csv.DictReader(f)


def test_records_are_json_safe_for_the_table():
    res = EXP.analyze(_records())
    for r in res["rows"]:
        json.dumps({k: v for k, v in r.items()})
        assert r["effect"] is None or math.isfinite(r["effect"])
