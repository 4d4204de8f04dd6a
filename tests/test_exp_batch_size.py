"""The batch-size experiment: the steps/examples trade-off fit (recovers known S_min / E_min from
synthetic pairs), the per-batch-size LR selection (misses, ties, edges) on synthetic runs, spec
expansion, the analysis of synthetic records, and one tiny real sweep + report (~5 s)."""

import math
import random
import re

import pytest

from pybench import experiments, report, store, sweep
from pybench.experiments import _fit
from pybench.experiments.batch_size import lr_ref, steps_prior

BS = [8, 16, 32, 64, 128, 256, 512, 1024]


# ------------------------------------------------------------------------------------------------
# the fit
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("s_min,e_min", [(60, 12000), (100, 100), (10, 1e6), (500, 10), (1, 1e3), (2000, 3e4)])
def test_fit_recovers_s_min_and_e_min_from_noise_free_pairs(s_min, e_min):
    steps, examples = zip(*_fit.tradeoff_pairs(s_min, e_min, BS))
    f = _fit.fit_tradeoff(steps, examples)
    assert f["s_min"] == pytest.approx(s_min, rel=1e-6)
    assert f["e_min"] == pytest.approx(e_min, rel=1e-6)
    assert f["b_crit"] == pytest.approx(e_min / s_min, rel=1e-6)
    assert f["rms_log"] < 1e-8 and f["n"] == len(BS) and f["b_range"] == [8, 1024]
    assert f["loo"][0] == pytest.approx(e_min / s_min, rel=1e-5) and f["loo"][1] == pytest.approx(e_min / s_min, rel=1e-5)
    # the fitted curve satisfies (S/S_min - 1)(E/E_min - 1) = 1 at every batch size
    for b in BS:
        s = _fit.predict_steps(f, b)
        assert (s / f["s_min"] - 1) * (s * b / f["e_min"] - 1) == pytest.approx(1.0, rel=1e-6)


def test_fit_is_order_invariant_and_uses_the_batch_size_implied_by_e_over_s():
    pairs = _fit.tradeoff_pairs(40, 8000, [16, 256, 32, 1024, 64])
    random.Random(1).shuffle(pairs)
    f = _fit.fit_tradeoff([p[0] for p in pairs], [p[1] for p in pairs])
    assert f["b_crit"] == pytest.approx(200, rel=1e-6) and f["b_range"] == [16, 1024]


def test_fit_on_noisy_pairs_lands_near_the_truth():
    rng = random.Random(0)
    errs = []
    for _ in range(20):
        steps = [s * math.exp(rng.gauss(0, 0.05)) for s, _ in _fit.tradeoff_pairs(60, 12000, BS)]
        f = _fit.fit_tradeoff(steps, [s * b for s, b in zip(steps, BS)])
        errs.append(abs(math.log(f["b_crit"] / 200)))
        assert 0 < f["rms_log"] < 0.1
        assert f["loo"][0] <= f["b_crit"] <= f["loo"][1]
    assert sorted(errs)[10] < 0.15  # median error in B_crit well under 15% with 5% noise on S


def test_fit_flags_one_regime_only_as_a_bound():
    flat = _fit.fit_tradeoff([100.0] * 4, [100.0 * b for b in (8, 64, 256, 1024)])
    assert flat["bound"] == "below" and flat["s_min"] == pytest.approx(100, rel=1e-3)
    perfect = _fit.fit_tradeoff([8000 / b for b in (8, 64, 256, 1024)], [8000.0] * 4)
    assert perfect["bound"] == "above" and perfect["e_min"] == pytest.approx(8000, rel=1e-3)
    inside = _fit.fit_tradeoff(*zip(*_fit.tradeoff_pairs(60, 12000, BS)))
    assert inside["bound"] is None


def test_fit_needs_two_batch_sizes_and_skips_unusable_pairs():
    assert _fit.fit_tradeoff([], []) is None
    assert _fit.fit_tradeoff([100], [800]) is None
    assert _fit.fit_tradeoff([100, 50], [800, 400]) is None  # both at batch 8
    assert _fit.fit_tradeoff([100, None, math.inf, -1], [800, 1, 2, 3]) is None
    f = _fit.fit_tradeoff([None, 260, 0, 75], [5, 260 * 16, 7, 75 * 256])
    assert f["n"] == 2 and f["b_range"] == [16, 256] and f["loo"] is None
    assert _fit.predict_steps(f, 16) == pytest.approx(260, rel=1e-6)  # two points: an exact fit
    assert _fit.predict_steps(f, 256) == pytest.approx(75, rel=1e-6)


# ------------------------------------------------------------------------------------------------
# LR selection
# ------------------------------------------------------------------------------------------------

def _runs(*steps, acc=0.62):
    return [{"steps": s, "best_val_acc": acc} for s in steps]


def test_select_lr_takes_the_fewest_median_steps():
    sel = _fit.select_lr({0.01: _runs(300, 320, 310), 0.02: _runs(200, 260, 210), 0.04: _runs(250, 180, 400)})
    assert sel["lr"] == 0.02 and sel["edge"] is None and sel["ties"] == []
    assert sel["summary"][0.04]["steps"] == 250 and sel["summary"][0.02]["reached"] == 1.0


def test_select_lr_counts_a_miss_as_infinitely_many_steps():
    # 0.04 is fastest when it reaches, but misses 2 of 3 (median missed); 0.08 always misses
    sel = _fit.select_lr({0.02: _runs(200, 210, 220), 0.04: _runs(100, None, None), 0.08: _runs(None, None, None)})
    assert sel["lr"] == 0.02 and sel["edge"] == "low"
    assert math.isinf(sel["summary"][0.04]["steps"]) and sel["summary"][0.04]["reached"] == pytest.approx(1 / 3)
    # one miss of three still has a finite median, and can win
    sel = _fit.select_lr({0.02: _runs(200, 210, 220), 0.04: _runs(100, 120, None)})
    assert sel["lr"] == 0.04 and sel["summary"][0.04]["steps"] == 120 and sel["edge"] == "high"


def test_select_lr_breaks_ties_by_reached_then_accuracy_then_smaller_lr():
    sel = _fit.select_lr({0.01: _runs(100, 100, None), 0.02: _runs(100, 90, 110)})
    assert sel["lr"] == 0.02 and sel["ties"] == [0.01]  # same median, reached 3/3 beats 2/3
    sel = _fit.select_lr({0.01: _runs(100, acc=0.61), 0.02: _runs(100, acc=0.65), 0.04: _runs(100, acc=0.63)})
    assert sel["lr"] == 0.02 and sorted(sel["ties"]) == [0.01, 0.04]
    sel = _fit.select_lr({0.04: _runs(100), 0.01: _runs(100)})
    assert sel["lr"] == 0.01


def test_select_lr_when_no_lr_reaches_the_target():
    sel = _fit.select_lr({0.01: _runs(None, acc=0.55), 0.02: _runs(None, acc=0.58), 0.04: _runs(None, acc=None)})
    assert sel["lr"] is None and sel["fallback"] == 0.02 and sel["edge"] is None and sel["ties"] == []
    one = _fit.select_lr({0.1: _runs(50)})
    assert one["lr"] == 0.1 and one["edge"] is None  # a single LR is no grid: no edge
    with pytest.raises(ValueError, match="select_lr"):
        _fit.select_lr({})


# ------------------------------------------------------------------------------------------------
# specs
# ------------------------------------------------------------------------------------------------

def test_quick_and_full_specs():
    e = experiments.get("batch-size")
    quick, full = e.specs("quick"), e.specs("full")
    assert len(full) == 8 * 5 * 5 and len({s.run_id() for s in full}) == len(full)  # 5 seeds
    assert "5 seeds (200 runs)" in e.description
    assert sorted({s.point["batch_size"] for s in full}) == BS
    assert len(quick) == 8 and {s.seed for s in quick} == {0}
    for s in quick + full:
        b, f, c = s.point["batch_size"], s.point["lr_factor"], s.config
        assert c["batch_size"] == b and c["lr"] == pytest.approx(f * lr_ref(b), rel=1e-3)
        assert c["steps"] >= 3 * steps_prior(b) and c["epochs"] is None
        assert c["eval_every"] == max(1, round(steps_prior(b) / 25))
        assert c["stop_at_target"] and c["target_accuracy"] == 0.6 and c["noise_scale"] and c["threads"] == 1
    assert lr_ref(8) < lr_ref(64) < lr_ref(1024) < 0.4  # ~linear, then saturating
    assert all(q.config["steps"] < f.config["steps"] for q in quick for f in full
               if q.point["batch_size"] == f.point["batch_size"])


def test_overrides():
    e = experiments.get("batch-size")
    specs = e.specs("quick", {"batch_size": [32], "lr_factor": [1], "width": 64})
    assert [(s.point, s.config["width"]) for s in specs] == [({"batch_size": 32, "lr_factor": 1}, 64)]
    assert e.specs("quick", {"steps": 7})[0].config["steps"] == 7
    s = e.specs("quick", {"epochs": 2})[0].config
    assert s["epochs"] == 2 and s["steps"] is None
    with pytest.raises(ValueError, match="lr_factor"):
        e.specs("quick", {"lr": 0.1})
    with pytest.raises(ValueError, match="unknown key 'nope'"):
        e.specs("quick", {"nope": 1})
    with pytest.raises(ValueError, match="lr_factor: expected a number > 0"):
        e.specs("quick", {"lr_factor": [0]})


# ------------------------------------------------------------------------------------------------
# analysis of synthetic records
# ------------------------------------------------------------------------------------------------

def _record(b, factor, steps, rep=0, status="completed", sps=None, b_simple=150.0, acc=0.62):
    lr = round(factor * lr_ref(b), 6)
    reached = steps is not None
    # the noise scale: |G|^2 = 1 and tr(Sigma) = b_simple after step 0; step 0 far off (never averaged)
    hist = [{"step": s, "epoch": s / 100, "samples": s * b, "wall_time": s * 1e-3, "train_loss": 2.0 / (1 + s),
             "val_loss": 1.0, "val_acc": 0.5,
             "noise_scale": {"g2": 1.0 if s else 100.0, "trace_sigma": b_simple}} for s in (0, 10, 20)]
    return {
        "run_id": f"b{b}-f{factor}-r{rep}", "experiment": "batch-size", "point": {"batch_size": b, "lr_factor": factor},
        "replicate": rep, "status": status, "stop_reason": "x",
        "config": {"batch_size": b, "lr": lr, "target_accuracy": 0.6},
        "target": {"step": steps, "epoch": steps / 100, "samples": steps * b, "wall_time": steps * b / (sps or 1e4)}
        if reached else None,
        "best_val_acc": acc, "test": {"acc": acc - 0.01}, "train": {"acc": acc + 0.05}, "gap": 0.06,
        "noise_scale": {"b_simple": b_simple}, "model": {"num_parameters": 1000},
        "throughput": {"samples_per_s": sps or 1e4, "gflops": 1.0, "step_time": 1e-3, "train_time": 1.0},
        "steps": steps or 500, "history": hist,
    }


def _synthetic(s_min=50.0, e_min=10000.0, batches=(16, 64, 256, 1024), seeds=1):
    recs = []
    for b in batches:
        best = s_min + e_min / b
        for rep in range(seeds):
            recs.append(_record(b, 1, round(best), rep, sps=2000 * b ** 0.5))       # the best LR
            recs.append(_record(b, 0.5, round(1.5 * best), rep, sps=2000 * b ** 0.5))
            recs.append(_record(b, 2, None, rep, status="collapsed", acc=0.1))        # too high: missed
    return recs


def test_analyze_picks_the_best_lr_fits_and_marks_the_fastest():
    e = experiments.get("batch-size")
    res = e.analyze(_synthetic(seeds=3))
    rows = res["rows"]
    assert [r["batch_size"] for r in rows] == [16, 64, 256, 1024]
    for r in rows:
        assert r["lr"] == pytest.approx(lr_ref(r["batch_size"]), rel=1e-4)
        assert r["steps_to_target"] == round(50 + 10000 / r["batch_size"]) and r["seeds"] == 3
        assert r["fit_steps"] == pytest.approx(r["steps_to_target"], rel=0.02)
        assert "missed" in r["lrs"] and "*" in r["lrs"] and r["lr_edge"] == ""
        assert r["throughput_runs"] == 6  # every completed run of the batch size, collapsed ones excluded
    # time to target = samples / (2000 sqrt(B)) -> smallest at the smallest E/sqrt(B): batch 256 here
    times = {r["batch_size"]: r["time_to_target"] for r in rows}
    assert [r["batch_size"] for r in rows if r["fastest"]] == [min(times, key=times.get)]
    notes = "\n".join(res["notes"])
    got = {k: float(re.search(pat, notes).group(1)) for k, pat in
           (("S_min", r"S_min = ([0-9.e+]+) steps"), ("E_min", r"E_min = ([0-9.e+]+) examples"),
            ("B_crit", r"B_crit = E_min/S_min = ([0-9.e+]+)"))}
    assert got["S_min"] == pytest.approx(50, rel=0.02) and got["E_min"] == pytest.approx(1e4, rel=0.02)
    assert got["B_crit"] == pytest.approx(200, rel=0.02)  # steps were rounded to integers
    assert "B_crit / B_simple = 1.3" in notes and "at its first evaluation at the target" in notes
    assert "median over seeds, then over the 4 batch sizes): 150 (per batch size 150 - 150; 95% seed-bootstrap" in notes
    assert "No within-run (jackknife) error" in notes  # these records hold no per-batch norms
    assert all(r["noise_scale"] == pytest.approx(150) for r in rows)
    assert "collapsed" in notes  # the failed runs are listed, never dropped
    assert {p.file for p in res["plots"]} >= {"throughput_vs_batch_size.png", "steps_vs_batch_size.png",
                                               "time_vs_batch_size.png", "curves.png", "noise_vs_loss.png"}
    noise_plot = next(p for p in res["plots"] if p.file == "noise_vs_loss.png")
    assert [s.label for s in noise_plot.series] == ["B=16", "B=64", "B=256", "B=1024"]
    assert all(s.y == [150.0, 150.0] for s in noise_plot.series)  # steps 10 and 20, smoothed
    steps_plot = next(p for p in res["plots"] if p.file == "steps_vs_batch_size.png")
    assert steps_plot.logx and steps_plot.logy and any(s.label.startswith("fit") for s in steps_plot.series)


def _timed(times_by_batch, reached=None):
    """Best-LR records whose per-seed time to target is given (ms); ``reached``: {batch: [bool per seed]}."""
    recs = []
    for b, times in times_by_batch.items():
        for rep, t in enumerate(times):
            ok = (reached or {}).get(b, [True] * len(times))[rep]
            r = _record(b, 1, 100 if ok else None, rep)
            if ok:
                r["target"]["wall_time"] = t / 1e3
            recs.append(r)
            # collapsed LRs on both sides keep the best LR interior (an edge would keep it out of the ranking)
            recs += [_record(b, f, None, rep, status="collapsed", acc=0.1) for f in (0.5, 2)]
    return recs


def test_fastest_batch_is_named_only_when_the_seeds_separate_it():
    e = experiments.get("batch-size")
    recs = _timed({32: [138, 132, 139, 135, 137], 128: [110, 105, 123, 108, 112], 512: [231, 222, 245, 228, 240]})
    clear = e.analyze(recs)
    assert {r["batch_size"]: r["fastest"] for r in clear["rows"]} == {32: "", 128: "fastest", 512: ""}
    assert "shortest time to target on this machine: batch 128 (110 ±9 ms)" in e.headline(recs, clear)
    # the published spread: 128 at 110 ± 9 ms, 64 at 125 ± 20 ms: a tie, both named
    recs = _timed({64: [140, 100, 125], 128: [123, 110, 105], 256: [139, 168, 144]})
    tie = e.analyze(recs)
    assert {r["batch_size"]: r["fastest"] for r in tie["rows"]} == {64: "fastest (tie)", 128: "fastest (tie)", 256: ""}
    note = next(n for n in tie["notes"] if n.startswith("shortest time to target"))
    assert "tie (batches 128, 64)" in note and "95% seed-bootstrap interval -" in note
    assert "tie (batch 128: 110 ±9 ms, batch 64: 125 ±20 ms)" in e.headline(recs, tie)
    plot = next(p for p in tie["plots"] if p.file == "time_vs_batch_size.png")
    assert any(s.label == "tied fastest: batch 64, 128" for s in plot.series)
    # the fastest median missed the target in one seed: not named; the best of those that always reached it is
    recs = _timed({64: [90, 95, 0], 128: [110, 105, 112], 256: [150, 160, 155]}, reached={64: [True, True, False]})
    missed = e.analyze(recs)
    tags = {r["batch_size"]: r["fastest"] for r in missed["rows"]}
    assert tags[64] == "fastest: not shown (target 2 of 3)" and tags[128] == "fastest of those always at target"
    assert "not shown: batch 64 reached the target in 2 of 3 seeds; of those that reached it in every seed: batch 128" \
        in e.headline(recs, missed)


def test_analyze_shows_a_batch_size_where_every_lr_missed_and_leaves_it_out_of_the_fit():
    recs = _synthetic()
    recs = [r for r in recs if r["point"]["batch_size"] != 1024]
    recs += [_record(1024, f, None, acc=a) for f, a in ((0.5, 0.55), (1, 0.58), (2, 0.3))]
    res = experiments.get("batch-size").analyze(recs)
    row = next(r for r in res["rows"] if r["batch_size"] == 1024)
    assert row["status"] == "missed target (every LR)" and row["steps_to_target"] is None
    assert row["lr"] == pytest.approx(lr_ref(1024), rel=1e-4)  # the fallback: highest best val acc
    assert row["_display"]["steps_to_target"] == "missed" and not row["fastest"]
    notes = "\n".join(res["notes"])
    assert "batch 1024: no LR reached the target" in notes and "on the best-LR medians of 3 batch sizes" in notes
    plots = {p.file: p for p in res["plots"]}
    for f in ("steps_vs_batch_size.png", "time_vs_batch_size.png"):  # shown on the top edge, not dropped
        measured = plots[f].series[0]
        assert 1024 not in measured.x and measured.missed == [1024], f


def test_analyze_flags_a_best_lr_at_the_grid_edge_and_handles_nothing_to_fit():
    recs = [_record(64, 0.5, 400), _record(64, 1, 300)]
    res = experiments.get("batch-size").analyze(recs)
    assert res["rows"][0]["lr_edge"] == "high" and res["rows"][0]["lr_grid"] == "edge (not extended)"
    notes = "\n".join(res["notes"])
    assert "edge of the grid at batch 64 (largest; edge (not extended))" in notes
    assert "needs the steps to target at 2 or more" in notes
    assert experiments.get("batch-size").analyze([])["rows"] == []


def _tagged(b, factor, steps, extension=0, **kw):
    return dict(_record(b, factor, steps, **kw), extension=extension, mode="full")


def test_extend_asks_for_the_next_lr_factor_beyond_an_edge_best():
    e = experiments.get("batch-size")
    grid = [0.5, 0.7, 1, 1.4, 2]
    # batch 64: best at the top (2); batch 256: interior (1); batch 16: best at the bottom (0.5)
    recs = ([_tagged(64, f, s) for f, s in zip(grid, (500, 400, 300, 250, 200))]
            + [_tagged(256, f, s) for f, s in zip(grid, (130, 110, 100, 110, 130))]
            + [_tagged(16, f, s) for f, s in zip(grid, (700, 800, 900, 1000, 1100))])
    ext = {x.where: x for x in e.extend(recs, "full", seeds=2)}
    assert set(ext) == {"batch 64", "batch 16"}
    up, down = ext["batch 64"], ext["batch 16"]
    assert (up.what, up.edge, up.value) == ("lr_factor", 2, 2.8) and (down.edge, down.value) == (0.5, 0.35)
    assert up.text == "extending the lr_factor grid at batch 64 beyond 2 to 2.8 (best at the edge)"
    assert [(s.point, s.seed) for s in up.specs] == [({"batch_size": 64, "lr_factor": 2.8}, 0),
                                                      ({"batch_size": 64, "lr_factor": 2.8}, 1)]
    assert up.specs[0].config["lr"] == pytest.approx(2.8 * lr_ref(64), rel=1e-3)
    assert up.specs[0].config["steps"] == e.specs("full", {"batch_size": [64]})[0].config["steps"]


def test_analyze_keeps_an_edge_batch_size_out_of_the_fit_and_the_fastest():
    e = experiments.get("batch-size")
    grid = [0.5, 1, 2]
    recs = []
    for b in (16, 64, 256):
        best = round(50 + 10000 / b)
        recs += [_tagged(b, f, s) for f, s in zip(grid, (2 * best, best, 2 * best))]
    # batch 1024: the best moved up three extensions and is still on the edge (round limit)
    recs += [_tagged(1024, f, s, extension=int(f > 2)) for f, s in zip(grid + [4, 8, 16], (90, 80, 70, 60, 50, 40))]
    res = e.analyze(recs)
    rows = {r["batch_size"]: r for r in res["rows"]}
    assert rows[1024]["lr_grid"] == "edge (round limit)" and rows[1024]["lr_factors"] == "0.5, 1, 2, +4, +8, +16*"
    assert {rows[b]["lr_grid"] for b in (16, 64, 256)} == {"interior"}
    notes = "\n".join(res["notes"])
    assert "on the best-LR medians of 3 batch sizes" in notes
    assert "batch 1024: 0.5, 1, 2, +4, +8, +16* (edge (round limit))" in notes
    assert "edge of the grid at batch 1024 (largest; edge (round limit))" in notes and not rows[1024]["fastest"]
    # without the extension tags the same factors are the experiment's own grid: not extended yet
    plain = e.analyze([dict(r, extension=0) for r in recs])
    assert {r["batch_size"]: r["lr_grid"] for r in plain["rows"]}[1024] == "edge (not extended)"
    # a collapsed LR above the best bounds it: kept in the fit, as a claim may rest on it
    recs = [r for r in recs if r["point"]["batch_size"] != 1024]
    recs += [_tagged(1024, f, s) for f, s in ((0.5, 90), (1, 80))] + [_tagged(1024, 2, None, status="collapsed")]
    res = e.analyze(recs)
    assert {r["batch_size"]: r["lr_grid"] for r in res["rows"]}[1024] == "edge (next diverged)"
    assert "on the best-LR medians of 4 batch sizes" in "\n".join(res["notes"])


# ------------------------------------------------------------------------------------------------
# one tiny real sweep
# ------------------------------------------------------------------------------------------------

def test_tiny_sweep_and_report(tmp_path):
    e = experiments.get("batch-size")
    specs = e.specs("quick", {"batch_size": [32, 128], "lr_factor": [1, 2], "n_train": 600, "n_test": 100,
                              "width": 32, "steps": 40, "target_accuracy": 0.2, "noise_batches": 3})
    summary = sweep.run_sweep(specs, tmp_path)
    assert summary["failed"] == 0 and summary["ran"] == 4
    records = store.load_records(tmp_path, "batch-size", "quick")
    assert len(records) == 4 and all(r["noise_scale"]["evaluations"] == len(r["history"]) - 1 for r in records)
    written = report.build(tmp_path, "batch-size", "quick")
    names = {p.rsplit("/", 1)[-1] for p in written}
    assert {"summary.csv", "summary.md", "throughput_vs_batch_size.png", "curves.png"} <= names
    md = (tmp_path / "batch-size" / "quick" / "summary.md").read_text()
    assert "steps per LR" in md and "| batch |" in md
    assert "B_simple at target" in md and "the jackknife over the estimate's batches gives a median standard error" in md
    csv = (tmp_path / "batch-size" / "quick" / "summary.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith("batch_size,lr,lrs,lr_edge")
