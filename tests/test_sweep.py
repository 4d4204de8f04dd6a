"""Spec expansion (pybench.experiments.base) and pybench.sweep: local and Dask executors, resume,
dedup of shared run ids, failures recorded (never lost, never duplicated), one point per Dask worker
at a time with its own thread count, a worker killed mid-point, the parent environment left alone.

Runs are tiny (MNIST-1D, 400 training signals, 1-2 epochs: ~20 ms each); the Dask tests start a
2-worker LocalCluster on loopback (~1-3 s each)."""

import os

import pytest

import sweep_helpers
from pybench import experiments, store, sweep, train
from pybench.experiments.base import Experiment, RunSpec

TINY = {"n_train": 400, "n_test": 100, "epochs": 1, "noise_scale": False, "depth": 1, "batch_size": 32}


def _width(widths=(16, 32), seeds=1, **kw):
    return experiments.get("width").specs("quick", dict(TINY, width=list(widths), **kw), seeds=seeds)


# ------------------------------------------------------------------------------------------------
# spec expansion
# ------------------------------------------------------------------------------------------------

def test_registry_knows_width_and_names_the_valid_choices():
    assert "width" in experiments.names()
    assert experiments.get("width").name == "width"
    with pytest.raises(ValueError, match="unknown experiment 'nope': expected one of .*width"):
        experiments.get("nope")


def test_quick_and_full_specs_of_width():
    w = experiments.get("width")
    quick, full = w.specs("quick"), w.specs("full")
    assert [s.point["width"] for s in quick] == [32, 128, 512]
    assert sorted({s.point["width"] for s in full}) == [2 ** k for k in range(4, 12)]
    assert len(full) == 8 * 5 and {s.seed for s in full} == {0, 1, 2, 3, 4}   # 5 seeds in full mode
    assert all(s.mode == "quick" for s in quick) and all(s.mode == "full" for s in full)
    assert quick[0].config["epochs"] < full[0].config["epochs"]
    assert all(s.config["threads"] == 1 for s in quick + full)


def test_seeds_offset_seed_and_data_seed_and_ids_differ():
    specs = _width(seeds=3)
    assert len(specs) == 6
    for s in specs:
        assert s.config["seed"] == s.seed and s.config["data_seed"] == s.seed
    assert len({s.run_id() for s in specs}) == 6


def test_run_id_is_the_training_records_id():
    s = _width(widths=[16])[0]
    assert train.run(s.config)["run_id"] == s.run_id() == train.Config(**s.config).run_id()


def test_overrides_axis_scalar_field_and_list_field():
    w = experiments.get("width")
    specs = w.specs("quick", {"width": 64, "lr": [0.05, 0.1], "momentum": 0.5})
    assert [s.point for s in specs] == [{"width": 64, "lr": 0.05}, {"width": 64, "lr": 0.1}]
    assert [s.config["lr"] for s in specs] == [0.05, 0.1]
    assert all(s.config["momentum"] == 0.5 and s.config["width"] == 64 for s in specs)
    betas = w.specs("quick", {"width": 64, "optimizer": "adam", "betas": [[0.9, 0.99], [0.8, 0.9]]})
    assert [s.config["betas"] for s in betas] == [[0.9, 0.99], [0.8, 0.9]]
    assert w.specs("quick", {"width": 64, "optimizer": "adam", "betas": [0.8, 0.9]})[0].config["betas"] == [0.8, 0.9]


def test_budget_override_replaces_the_experiments_budget():
    s = experiments.get("width").specs("quick", {"steps": 7})[0]
    assert s.config["steps"] == 7 and s.config["epochs"] is None


@pytest.mark.parametrize("overrides, exc, fragment", [
    ({"colour": "red"}, ValueError, "unknown key 'colour': expected an axis \\(width\\) or a Config field \\(dataset"),
    ({"lr": -1}, ValueError, "lr: expected a float >= 0"),
    ({"lr": "fast"}, TypeError, "lr: expected a number"),
    ({"width": [16, 0]}, ValueError, "width=0.*width: expected an int >= 1"),
    ({"width": []}, ValueError, "width: expected a non-empty list"),
    ({"dataset": "cifar"}, ValueError, "dataset: expected one of mnist1d"),
    ({"activation": "relux"}, ValueError, "activation: expected one of relu"),
    ({"init": "he"}, ValueError, "init: expected one of"),
    ({"steps": 10, "epochs": 2}, ValueError, "steps/epochs"),
])
def test_bad_overrides_raise_before_anything_runs(overrides, exc, fragment):
    with pytest.raises(exc, match=fragment):
        experiments.get("width").specs("quick", overrides)


def test_bad_mode_and_seeds():
    w = experiments.get("width")
    with pytest.raises(ValueError, match="mode"):
        w.specs("medium")
    with pytest.raises(ValueError, match="seeds"):
        w.specs("quick", seeds=0)


class _Pairs(Experiment):
    """A non-grid experiment whose two points share a config (like a pitfall's fixed run)."""
    name = "pairs"
    base = dict(TINY, dataset="mnist1d", width=16)
    axes = {"variant": ["a", "b", "c"]}
    seeds = {"quick": 1, "full": 1}

    def point_config(self, point, mode):
        return {"lr": {"a": 0.05, "b": 0.1, "c": 0.05}[point["variant"]]}


def test_points_sharing_a_config_share_a_run_id():
    specs = _Pairs().specs("quick")
    assert [s.point["variant"] for s in specs] == ["a", "b", "c"]
    assert specs[0].run_id() == specs[2].run_id() != specs[1].run_id()


# ------------------------------------------------------------------------------------------------
# local executor
# ------------------------------------------------------------------------------------------------

def test_local_sweep_stores_tagged_records_and_reports_progress(tmp_path):
    specs = _width(seeds=2)
    events = []
    summary = sweep.run_sweep(specs, tmp_path, progress=lambda e, **kw: events.append((e, kw)))
    assert summary["runs"] == 4 and summary["ran"] == 4 and summary["skipped"] == 0 and summary["failed"] == 0
    assert summary["statuses"] == {"completed": 4} and summary["groups"] == [("width", "quick")]
    recs = {r["run_id"]: r for r in store.load_records(tmp_path, "width", "quick")}
    assert set(recs) == {s.run_id() for s in specs}
    for s in specs:
        r = recs[s.run_id()]
        assert (r["experiment"], r["point"], r["replicate"], r["mode"]) == ("width", s.point, s.seed, "quick")
        assert r["executor"]["kind"] == "local" and r["executor"]["threads"] == 1 == r["provenance"]["threads"]
    names = [e for e, _ in events]
    assert names[0] == "sweep_start" and names[-1] == "sweep_end"
    assert names.count("run_start") == names.count("run_end") == 4
    m = store.load_manifest(tmp_path, "width", "quick")
    assert [x["run_id"] for x in m["specs"]] == [s.run_id() for s in specs]


def test_resume_skips_done_runs_and_reruns_failed_ones(tmp_path):
    specs = _width(widths=(16, 32, 64))
    sweep.run_sweep(specs[:2], tmp_path)
    path = store.record_path(tmp_path, store.load_records(tmp_path, "width")[0])
    with open(path, "rb") as f:
        before = f.read()
    # mark one stored run failed: it is not done, so it runs again
    failed = dict(store.load_records(tmp_path, "width")[1], status="failed")
    store.write_record(tmp_path, failed)
    summary = sweep.run_sweep(specs, tmp_path)
    assert summary["skipped"] == 1 and summary["ran"] == 2 and summary["statuses"] == {"completed": 3}
    with open(path, "rb") as f:
        assert f.read() == before  # the finished run was kept as it was
    assert len(store.load_records(tmp_path, "width")) == 3


def test_no_resume_reruns_every_requested_run(tmp_path):
    specs = _width(widths=(16,))
    sweep.run_sweep(specs, tmp_path)
    first = store.load_records(tmp_path, "width")[0]["provenance"]["time"]
    summary = sweep.run_sweep(specs, tmp_path, resume=False)
    assert summary["ran"] == 1 and summary["skipped"] == 0
    assert len(store.load_records(tmp_path, "width")) == 1
    assert store.load_records(tmp_path, "width")[0]["provenance"]["time"] >= first


def test_only_records_of_the_requested_specs_count(tmp_path):
    sweep.run_sweep(_width(widths=(16, 32)), tmp_path)
    summary = sweep.run_sweep(_width(widths=(16,)), tmp_path)
    assert summary["runs"] == 1 and summary["skipped"] == 1 and summary["statuses"] == {"completed": 1}


def test_a_shared_run_id_runs_once(tmp_path):
    summary = sweep.run_sweep(_Pairs().specs("quick"), tmp_path)
    assert summary["specs"] == 3 and summary["runs"] == 2 and summary["ran"] == 2
    assert len(store.load_records(tmp_path, "pairs")) == 2


def _raising_runner(config):
    raise RuntimeError("the machine caught fire")


def test_a_runner_that_raises_is_recorded_failed_and_counted(tmp_path):
    summary = sweep.run_sweep(_width(widths=(16,)), tmp_path, runner=_raising_runner)
    assert summary["failed"] == 1 and summary["statuses"] == {"failed": 1}
    (r,) = store.load_records(tmp_path, "width")
    assert r["status"] == "failed" and "caught fire" in r["stop_reason"] and r["point"] == {"width": 16}


def test_a_run_that_fails_inside_training_is_recorded_failed(tmp_path):
    specs = experiments.get("width").specs("quick", dict(TINY, width=16, n_train=20, batch_size=64))
    summary = sweep.run_sweep(specs, tmp_path)
    assert summary["failed"] == 1
    assert "batch_size" in store.load_records(tmp_path, "width")[0]["stop_reason"]


@pytest.mark.parametrize("kw, fragment", [
    ({"executor": "ray"}, "--executor"),
    ({"executor": "local", "workers": 2}, "need --executor dask"),
    ({"executor": "dask", "workers": 0}, "--workers"),
    ({"executor": "dask", "workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "give one"),
])
def test_bad_executor_arguments_write_nothing(tmp_path, kw, fragment):
    with pytest.raises(sweep.SweepUsageError, match=fragment):
        sweep.run_sweep(_width(widths=(16,)), tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------
# tuned grids extended beyond an edge optimum (fake runs: no training)
# ------------------------------------------------------------------------------------------------

def _batch_specs():
    return experiments.get("batch-size").specs("quick", {"batch_size": [64], "lr_factor": [0.5, 1, 2]})


def _batch_extend(experiment, mode, records):
    return experiments.get(experiment).extend(records, mode, {"batch_size": [64], "lr_factor": [0.5, 1, 2]})


def test_an_edge_optimum_is_extended_until_interior_and_the_manifest_lists_every_round(tmp_path):
    events = []
    summary = sweep.run_sweep(_batch_specs(), tmp_path, runner=sweep_helpers.fake_batch_run, extend=_batch_extend,
                              progress=lambda e, **kw: events.append((e, kw)))
    # round 0: best lr_factor 2, the top of 0.5, 1, 2 -> 4 (the grid's ratio); 2 is then interior
    assert summary["ran"] == 4 and summary["runs"] == 4 and summary["specs"] == 4
    assert summary["extensions"] == [("batch-size", "quick", 1,
                                      "extending the lr_factor grid at batch 64 beyond 2 to 4 (best at the edge)")]
    assert [kw["texts"] for e, kw in events if e == "extend"] == [[summary["extensions"][0][3]]]
    assert [(kw["round"], kw["pending"]) for e, kw in events if e == "sweep_start"] == [(0, 3), (1, 1)]
    m = store.load_manifest(tmp_path, "batch-size", "quick")
    assert [(s["point"]["lr_factor"], s.get("extension", 0)) for s in m["specs"]] == [(0.5, 0), (1, 0), (2, 0), (4, 1)]
    (row,) = experiments.get("batch-size").analyze(sweep.sweep_records_of(tmp_path, "batch-size", "quick")[0])["rows"]
    assert row["lr_grid"] == "interior" and row["lr_factors"] == "0.5, 1, 2*, +4"
    # run again: every round's runs are stored, nothing runs, the manifest comes out the same
    again = sweep.run_sweep(_batch_specs(), tmp_path, runner=sweep_helpers.fake_batch_run, extend=_batch_extend)
    assert again["ran"] == 0 and again["skipped"] == 4 and store.load_manifest(tmp_path, "batch-size", "quick") == m


def test_extension_rounds_stop_at_the_limit(tmp_path):
    def runner(config):  # the optimum far above the grid: every round moves the best up
        return sweep_helpers.fake_batch_run(dict(config, lr=config["lr"] / 100))

    summary = sweep.run_sweep(_batch_specs(), tmp_path, runner=runner, extend=_batch_extend, max_rounds=2)
    assert [r for _, _, r, _ in summary["extensions"]] == [1, 2] and summary["runs"] == 5
    # the experiment's own limit (3 values beyond its grid) holds even when the sweep allows more
    summary = sweep.run_sweep(_batch_specs(), tmp_path, runner=runner, extend=_batch_extend, max_rounds=10)
    assert summary["runs"] == 6 and summary["ran"] == 1
    (row,) = experiments.get("batch-size").analyze(sweep.sweep_records_of(tmp_path, "batch-size", "quick")[0])["rows"]
    assert row["lr_grid"] == "edge (round limit)" and row["lr_factors"] == "0.5, 1, 2, +4, +8, +16*"


# ------------------------------------------------------------------------------------------------
# Dask executor (2-worker LocalCluster on loopback)
# ------------------------------------------------------------------------------------------------

pytest.importorskip("distributed")


@pytest.fixture
def trace_dir(tmp_path, monkeypatch):
    d = tmp_path / "trace"
    d.mkdir()
    monkeypatch.setenv("PYBENCH_TEST_DIR", str(d))
    return d


def _overlaps(intervals):
    intervals = sorted(intervals)
    return any(b[0] < a[1] for a, b in zip(intervals, intervals[1:]))


def test_dask_runs_one_point_per_worker_with_its_own_thread_count(tmp_path, trace_dir):
    env_before = dict(os.environ)
    specs = (_width(widths=(16, 32, 64)) + _width(widths=(16, 32, 64), threads=2))
    summary = sweep.run_sweep(specs, tmp_path, executor="dask", workers=2, runner=sweep_helpers.slow_run)
    assert dict(os.environ) == env_before  # Dask's OMP_NUM_THREADS=1 & co did not leak into this process
    assert summary["ran"] == 6 and summary["statuses"] == {"completed": 6}
    recs = store.load_records(tmp_path, "width")
    assert len(recs) == 6
    by_worker = {}
    for r in recs:
        ex = r["executor"]
        assert ex["kind"] == "dask" and ex["worker"].startswith("tcp://127.0.0.1:") and ex["pid"] != os.getpid()
        assert ex["env"]["OMP_NUM_THREADS"] == "1"  # what Dask set in the worker ...
        assert ex["threads"] == r["config"]["threads"] == r["provenance"]["threads"]  # ... and what the run used
        by_worker.setdefault(ex["worker"], []).append((ex["started"], ex["finished"]))
    assert sorted(r["executor"]["threads"] for r in recs) == [1, 1, 1, 2, 2, 2]
    assert 1 <= len(by_worker) <= 2
    for spans in by_worker.values():
        assert not _overlaps(spans), "two points ran at once on one worker"


def test_dask_worker_killed_mid_point_is_retried_once_and_recorded_once(tmp_path, trace_dir):
    specs = _width(widths=(16, 32, 64))
    summary = sweep.run_sweep(specs, tmp_path, executor="dask", workers=2, runner=sweep_helpers.kill_first_attempt)
    assert summary["statuses"] == {"completed": 3} and summary["failed"] == 0
    attempts = sorted(os.listdir(trace_dir))
    assert sum(a.startswith("attempt-w16-") for a in attempts) == 2  # killed once, retried once
    recs = store.load_records(tmp_path, "width")
    assert sorted(r["point"]["width"] for r in recs) == [16, 32, 64]  # each point exactly once
    assert sorted(os.listdir(store.runs_dir(tmp_path, "width", "quick"))) == sorted(s.run_id() + ".json" for s in specs)


def test_dask_worker_dying_again_on_the_retry_is_recorded_failed(tmp_path, trace_dir):
    specs = _width(widths=(16, 32, 64, 128))
    summary = sweep.run_sweep(specs, tmp_path, executor="dask", workers=2, runner=sweep_helpers.kill_every_attempt)
    assert summary["failed"] == 1 and summary["statuses"] == {"completed": 3, "failed": 1}
    assert sum(a.startswith("attempt-w16-") for a in os.listdir(trace_dir)) == 2  # first try + one retry
    recs = {r["point"]["width"]: r for r in store.load_records(tmp_path, "width")}
    assert recs[16]["status"] == "failed" and "worker died" in recs[16]["stop_reason"]
    # the other points were never queued behind the dying one: all completed, each recorded once
    # (one may have run twice: Dask recomputes a finished result lost with a dying worker before
    # the client fetched it)
    assert all(recs[w]["status"] in train.OK_STATUSES for w in (32, 64, 128))
    # resume: the failed point is not done, so it runs again (here it dies again: still one record)
    summary = sweep.run_sweep(specs, tmp_path, executor="dask", workers=2, runner=sweep_helpers.kill_every_attempt)
    assert summary["skipped"] == 3 and summary["ran"] == 1 and len(store.load_records(tmp_path, "width")) == 4


def test_dask_extends_tuned_grids_in_the_same_sweep(tmp_path):
    events = []
    summary = sweep.run_sweep(_batch_specs(), tmp_path, executor="dask", workers=2, runner=sweep_helpers.fake_batch_run,
                              extend=_batch_extend, progress=lambda e, **kw: events.append(e))
    assert events.count("cluster") == 1 and events.count("extend") == 1  # one cluster serves every round
    assert summary["ran"] == 4 and summary["statuses"] == {"completed": 4}
    recs = store.load_records(tmp_path, "batch-size", "quick")
    assert sorted(r["point"]["lr_factor"] for r in recs) == [0.5, 1, 2, 4]
    assert all(r["executor"]["kind"] == "dask" for r in recs)


def test_dask_scheduler_address_needs_workers_with_a_slot(tmp_path):
    from distributed import LocalCluster

    env_before = dict(os.environ)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with pytest.raises(sweep.SweepUsageError, match="resource 'slot'.*--resources slot=1"):
            sweep.run_sweep(_width(widths=(16,)), tmp_path / "out", executor="dask", scheduler=cluster.scheduler_address,
                            connect_timeout=5)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                      resources={"slot": 1}) as cluster:
        summary = sweep.run_sweep(_width(widths=(16,)), tmp_path / "ok", executor="dask",
                                  scheduler=cluster.scheduler_address, connect_timeout=5)
    assert summary["statuses"] == {"completed": 1}
    assert not (tmp_path / "out").exists()
    os.environ.clear()
    os.environ.update(env_before)


def test_dask_unreachable_scheduler_is_a_usage_error_and_writes_nothing(tmp_path):
    with pytest.raises(sweep.SweepUsageError, match="cannot connect.*tcp://HOST:8786"):
        sweep.run_sweep(_width(widths=(16,)), tmp_path / "out", executor="dask", scheduler="tcp://127.0.0.1:9",
                        connect_timeout=0.5)
    assert not (tmp_path / "out").exists()


def test_runspec_label():
    s = RunSpec("width", {"width": 64, "lr": 0.1}, 2, {})
    assert s.label() == "width width=64 lr=0.1 seed 2"
