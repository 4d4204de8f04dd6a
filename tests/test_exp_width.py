"""The width experiment's claims under the tie rule, from fake records: a width is named (highest test
accuracy, highest GFLOP/s, shortest time to target) only when the seeds separate it."""

from pybench import experiments


def _wrec(width, rep, acc, time, gflops):
    return {"run_id": f"w{width}r{rep}", "point": {"width": width}, "replicate": rep, "status": "completed",
            "stop_reason": "x", "config": {"target_accuracy": 0.6, "width": width},
            "target": None if time is None else {"step": 100, "epoch": 1.0, "samples": 1000, "wall_time": time},
            "model": {"num_parameters": width}, "best_val_acc": acc + 0.01, "test": {"acc": acc - 0.02},
            "selected": {"metric": "val_acc", "step": 80, "val_acc": acc + 0.01, "test": {"acc": acc, "loss": 1.0}},
            "train": {"acc": acc + 0.1}, "gap": 0.1, "steps": 100,
            "throughput": {"samples_per_s": 1e4 / width, "gflops": gflops, "step_time": 0.01, "train_time": 1.0},
            "history": [{"step": 0, "epoch": 0.0, "val_acc": 0.1}, {"step": 100, "epoch": 1.0, "val_acc": acc}]}


def _width_records(acc, time, gflops):
    return [_wrec(w, rep, acc[w][rep], time[w][rep], gflops[w][rep]) for w in acc for rep in range(len(acc[w]))]


def test_width_names_a_width_only_when_the_seeds_separate_it():
    e = experiments.get("width")
    acc = {64: [0.60, 0.61, 0.62], 256: [0.650, 0.655, 0.66], 2048: [0.667, 0.678, 0.654]}
    time = {64: [0.060, 0.052, None], 256: [0.125, 0.123, 0.18], 2048: [8.0, 8.6, 9.9]}
    gflops = {64: [37.8, 36.9, 38.1], 256: [74.8, 79.7, 79.4], 2048: [82.3, 81.0, 84.5]}
    recs = _width_records(acc, time, gflops)
    res = e.analyze(recs)
    claims = {r["width"]: r.get("claims") for r in res["rows"]}
    assert claims[256] == "highest test acc (tie); fastest to target of those always at target"
    assert claims[2048] == "highest test acc (tie); highest GFLOP/s"
    assert claims[64] == "fastest to target: not shown (target 2 of 3)"
    notes = "\n".join(res["notes"])
    assert "highest test acc @ best val (median over seeds): tie (widths 2048, 256)" in notes
    assert "highest GFLOP/s: width 2048; width 2048 leads width 256 by" in notes
    assert "shortest training time to target: not shown: width 64 reached the target in 2 of 3 seeds" in notes
    line = e.headline(recs, res)
    assert line.startswith("Test acc @ best val 61.0% ±1.0 at width 64 → 66.7% ±1.2 at 2048")
    assert "highest: tie (widths 2048, 256)" in line and "(highest: width 2048)" in line
    # the same runs without the best-val checkpoint: the final step's accuracy, labelled so
    old = [{k: v for k, v in r.items() if k != "selected"} for r in recs]
    res = e.analyze(old)
    assert e.headline(old, res).startswith("Final-step test acc 59.0% ±1.0 at width 64")
    assert all(r["test_acc"] is None and r["_display"]["test_acc"] == "not recorded" for r in res["rows"])


def test_width_says_tie_for_the_published_spreads():
    e = experiments.get("width")
    acc = {1024: [0.661, 0.661, 0.672], 2048: [0.667, 0.678, 0.654]}
    time = {1024: [2.27, 1.66, 2.32], 2048: [7.9, 8.6, 9.9]}
    gflops = {1024: [74.0, 82.7, 79.4], 2048: [82.3, 81.0, 84.5]}
    recs = _width_records(acc, time, gflops)
    res = e.analyze(recs)
    assert {r["width"]: r["claims"] for r in res["rows"]} == {
        1024: "highest test acc (tie); highest GFLOP/s (tie); fastest to target",
        2048: "highest test acc (tie); highest GFLOP/s (tie)"}
