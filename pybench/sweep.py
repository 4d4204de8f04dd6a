"""Run an experiment's RunSpecs through an executor and store one record per run.

    from pybench import experiments, sweep
    specs = experiments.get("width").specs("quick")
    sweep.run_sweep(specs, "results")                          # one at a time, in this process
    sweep.run_sweep(specs, "results", executor="dask", workers=2)               # LocalCluster
    sweep.run_sweep(specs, "results", executor="dask", scheduler="tcp://host:8786")

- Resume: ids whose stored record is a measured outcome (completed, diverged, collapsed) are
  skipped; a failed run, or one never finished, runs again. ``resume=False`` reruns every spec
  and replaces its record. Specs sharing a config (hence a run id) run once.
- Each (experiment, mode) gets a manifest (``sweep.json``: the requested run ids with their points
  and replicates), written before anything runs: the table of that sweep is built from exactly
  those records (pybench.report).
- Tuned grids (``extend``): after a group's runs its experiment may ask for values beyond the
  edge of a grid (Experiment.extend); they join the group, the manifest is rewritten with every
  spec, and they run, up to ``max_rounds`` rounds (pybench.experiments._grid).
- Records are written by this process alone, each as soon as it arrives, atomically
  (pybench.store): a killed sweep loses at most the runs in flight.
- Every record gains ``experiment``, ``point``, ``replicate``, ``mode`` and ``executor`` (kind,
  host, pid, Dask worker, the thread count the run used and the thread-related environment).
- Dask: one point per worker at a time (each task needs the worker resource ``slot``, which
  ``--workers N`` gives its LocalCluster workers, 1 thread each; workers of a remote cluster must be
  started with ``--resources slot=1``), and no more points submitted than there are slots, so a
  dying worker only ever takes down the point it was running. Each run sets its own thread count (Config.threads, 1
  unless told otherwise; Dask's process workers would otherwise force OMP_NUM_THREADS=1). A worker
  that dies mid-point: the scheduler reruns the point on another worker once (LocalCluster:
  ``allowed_failures=1``; a remote scheduler applies its own ``distributed.scheduler.allowed-failures``),
  then it is recorded as failed. Dask's nannies set OMP_NUM_THREADS=1 & co in the process that
  starts them: this module restores the environment when the sweep ends.

Usage problems (bad executor arguments, an unreachable scheduler, a cluster without a ``slot``
resource) raise SweepUsageError, a ValueError, before anything is written. Library code: nothing
here prints; ``progress(event, **info)`` is called with "sweep_start", "extend", "run_start",
"run_end", "sweep_end" (see run_sweep).
"""

import dataclasses
import json
import os
import socket
import time
import traceback

from . import store
from .experiments._grid import MAX_ROUNDS

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "OMP_WAIT_POLICY")
SLOT = "slot"
MANIFEST_SCHEMA = "pybench.sweep/1"


class SweepUsageError(ValueError):
    """Bad executor arguments or an unusable cluster: nothing has been written."""


def execute(config, runner=None):
    """Run one config (``runner`` or pybench.train.run) and tag the record with where and how it
    ran. This is the task sent to Dask workers; it never raises for a failed run."""
    env = {k: os.environ.get(k) for k in THREAD_ENV}
    worker = None
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        pass
    if runner is None:
        from .train import run as runner
    started = time.time()
    record = runner(config)
    record["executor"] = {"host": socket.gethostname(), "pid": os.getpid(), "worker": worker,
                          "started": started, "finished": time.time(),
                          "threads": (record.get("provenance") or {}).get("threads"),
                          "threads_requested": config.get("threads") if isinstance(config, dict) else None,
                          "env": env}
    return record


def failed_record(spec, reason, error=None):
    """The record of a run that produced none (its worker died, the task raised)."""
    return {"schema": "pybench.run/1", "run_id": spec.run_id(), "config": dict(spec.config), "status": "failed",
            "stop_reason": reason, "error": error, "history": [], "target": None,
            "seeds": {"seed": spec.config.get("seed"), "data_seed": spec.config.get("data_seed")}}


def _tag(record, spec, kind, attempt_info=None):
    record["experiment"], record["point"], record["replicate"] = spec.experiment, dict(spec.point), spec.seed
    record["axes"] = list(spec.point)  # the axis order (the point's keys are sorted on disk)
    record["mode"] = spec.mode
    ex = record.setdefault("executor", {})
    ex["kind"] = kind
    if attempt_info:
        ex.update(attempt_info)
    if record.get("run_id") != spec.run_id():  # the file name is the spec's id; say so if they differ
        record["run_id_reported"], record["run_id"] = record.get("run_id"), spec.run_id()
    return record


def _groups(specs):
    out = {}
    for s in specs:
        out.setdefault((s.experiment, s.mode), []).append(s)
    return out


def manifest(specs, extra=None):
    """The manifest of one (experiment, mode) group of specs."""
    s0 = specs[0]
    m = {"schema": MANIFEST_SCHEMA, "experiment": s0.experiment, "mode": s0.mode,
         "specs": [{"run_id": s.run_id(), "point": s.point, "axes": list(s.point), "replicate": s.seed,
                    **({"extension": s.extension} if s.extension else {})} for s in specs]}
    m.update(extra or {})
    return m


def run_sweep(specs, out, *, executor="local", scheduler=None, workers=None, resume=True, progress=None,
              runner=None, meta=None, connect_timeout=10.0, extend=None, max_rounds=MAX_ROUNDS):
    """Run ``specs`` (RunSpecs, any experiments and modes) into ``out``; returns the summary
    ``{"specs", "runs", "skipped", "ran", "failed", "statuses": {status: n}, "failed_ids": [...],
    "groups": [(experiment, mode), ...], "extensions": [(experiment, mode, round, text), ...]}``
    where runs counts distinct run ids and statuses are those of the requested runs after the sweep.

    ``extend(experiment, mode, records)``: after a group's runs, the Extensions it asks for given the
    group's records (as pybench.report sees them); their specs join the group (tagged with the round)
    and run, and it is asked again, until it asks nothing new or after ``max_rounds`` rounds. The
    manifest lists every spec of every round. ``meta``: {experiment: dict} of extra manifest fields
    (e.g. a custom experiment's definition, the overrides). ``runner``: the function config ->
    record (default pybench.train.run; tests).
    ``progress(event, **info)``: "cluster" (dask: address, dashboard URL or None, no_dashboard:
    why not), "sweep_start" (experiment, mode, total, skipped, pending, round: 0 for the specs
    given, then the extension round), "extend" (experiment, mode, round, texts: one line per
    extended grid), "run_start" (spec; local: the run begins; dask: the point was submitted),
    "run_end" (spec, record), "sweep_end" (summary)."""
    specs = list(specs)
    if executor not in ("local", "dask"):
        raise SweepUsageError(f"--executor: expected local or dask, got {executor!r}")
    if executor == "local" and (scheduler or workers):
        raise SweepUsageError("--scheduler/--workers: need --executor dask")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SweepUsageError(f"--workers: expected an int >= 1, got {workers!r}")
    if scheduler and workers:
        raise SweepUsageError("--scheduler and --workers: give one (a cluster to connect to, or a local one to start)")
    emit = progress or (lambda event, **kw: None)
    env_before = dict(os.environ)
    dask = None
    try:
        if executor == "dask" and specs:
            dask = _DaskExecutor(scheduler, workers, connect_timeout)  # raises before anything is written
            emit("cluster", address=dask.address, dashboard=dask.dashboard, no_dashboard=dask.no_dashboard)
        summary = {"specs": len(specs), "runs": 0, "skipped": 0, "ran": 0, "failed": 0, "statuses": {},
                   "failed_ids": [], "groups": [], "extensions": []}
        for (experiment, mode), group in _groups(specs).items():
            summary["groups"].append((experiment, mode))
            # each round runs only the ids it adds: with --no-resume an id reruns once, not once a round
            unique, rnd = {}, 0
            while True:
                store.write_manifest(out, experiment, mode, manifest(group, (meta or {}).get(experiment)))
                new = {}
                for s in group:
                    if s.run_id() not in unique:
                        new.setdefault(s.run_id(), s)
                unique.update(new)
                done = store.stored_ids(out, experiment, mode, done_only=True) if resume else set()
                pending = [s for rid, s in new.items() if rid not in done]
                summary["skipped"] += len(new) - len(pending)
                emit("sweep_start", experiment=experiment, mode=mode, total=len(new),
                     skipped=len(new) - len(pending), pending=len(pending), round=rnd)
                _run_pending(pending, out, emit, runner, summary, dask)
                if extend is None or rnd >= max_rounds:
                    break
                records, _ = sweep_records_of(out, experiment, mode)
                added, texts = [], []
                for e in extend(experiment, mode, records) or []:
                    fresh = _new_specs(group + added, e.specs)
                    if fresh:
                        added += [dataclasses.replace(s, extension=rnd + 1) for s in fresh]
                        texts.append(e.text)
                if not added:
                    break
                rnd += 1
                summary["specs"] += len(added)
                summary["extensions"] += [(experiment, mode, rnd, t) for t in texts]
                emit("extend", experiment=experiment, mode=mode, round=rnd, texts=texts)
                group = group + added
            summary["runs"] += len(unique)
            final = {r["run_id"]: r.get("status") for r in store.load_records(out, experiment, mode)}
            for rid in unique:
                st = final.get(rid, "missing")
                summary["statuses"][st] = summary["statuses"].get(st, 0) + 1
                if st in ("failed", "missing"):
                    summary["failed_ids"].append(rid)
        summary["failed"] = len(summary["failed_ids"])
        emit("sweep_end", summary=summary)
        return summary
    finally:
        if dask is not None:
            dask.close()
        # Dask's nannies poison this process's environment (OMP_NUM_THREADS=1, ...): undo it
        for k in set(os.environ) - set(env_before):
            del os.environ[k]
        for k, v in env_before.items():
            if os.environ.get(k) != v:
                os.environ[k] = v


def _run_pending(pending, out, emit, runner, summary, dask):
    if dask is not None:
        dask.run(pending, out, emit, runner, summary)
        return
    for s in pending:
        emit("run_start", spec=s)
        try:
            rec = execute(s.config, runner)
        except Exception as e:  # a runner that raises: recorded, never lost
            rec = failed_record(s, f"{type(e).__name__}: {e}", traceback.format_exc())
        _store(out, _tag(rec, s, "local"), s, emit, summary)


def _new_specs(group, specs):
    """The specs not in ``group`` yet (same point and replicate: the same spec)."""
    have = {(json.dumps(s.point, sort_keys=True), s.seed) for s in group}
    return [s for s in specs if (json.dumps(s.point, sort_keys=True), s.seed) not in have]


def sweep_records_of(out, experiment, mode):
    """(records, missing ids) of the sweep whose manifest was written last: what the table and the
    extensions are built from (pybench.report.sweep_records)."""
    from .report import sweep_records

    records, _, missing = sweep_records(out, experiment, mode)
    return records, missing


def _store(out, record, spec, emit, summary):
    store.write_record(out, record)
    summary["ran"] += 1
    emit("run_end", spec=spec, record=record)


def _has_bokeh():
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


class _DaskExecutor:
    def __init__(self, scheduler, workers, timeout):
        try:
            from distributed import Client, LocalCluster
        except ImportError as e:
            raise SweepUsageError(f"--executor dask: needs dask[distributed] (pip install 'pybench[dask]'): {e}") from None
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=timeout)
            except (OSError, TimeoutError, ValueError, TypeError) as e:
                raise SweepUsageError(f"--scheduler {scheduler}: cannot connect ({type(e).__name__}: {e}); "
                                      "expected the address of a running dask scheduler, e.g. tcp://HOST:8786") from None
            try:
                self.client.wait_for_workers(1, timeout=timeout)
            except (OSError, TimeoutError) as e:
                self.close()
                raise SweepUsageError(f"--scheduler {scheduler}: no worker connected within {timeout:g} s ({e})") from None
            info = (self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client)
                    else self.client.scheduler_info())["workers"]
            if not any((w.get("resources") or {}).get(SLOT, 0) >= 1 for w in info.values()):
                self.close()
                raise SweepUsageError(f"--scheduler {scheduler}: no worker offers the resource '{SLOT}'; start workers "
                                      f"with `dask worker {scheduler} --nworkers N --nthreads 1 --resources {SLOT}=1`")
        else:
            import logging

            n = workers or 2
            try:
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                            resources={SLOT: 1}, dashboard_address=":0", silence_logs=logging.ERROR,
                                            scheduler_kwargs={"allowed_failures": 1})
                self.client = Client(self.cluster)
            except Exception as e:
                self.close()
                raise SweepUsageError(f"--workers {n}: could not start a local Dask cluster "
                                      f"({type(e).__name__}: {e})") from None
        self.address = self.client.scheduler.address
        self.dashboard, self.no_dashboard = self._dashboard()

    def _dashboard(self):
        """(the dashboard's URL, None), or (None, why there is none). The scheduler serves its pages
        only where bokeh is installed (without it the link answers "install bokeh"), so ask there."""
        try:
            services = self.client.scheduler_info().get("services") or {}
            has_bokeh = self.client.run_on_scheduler(_has_bokeh)
        except Exception as e:  # an odd scheduler: the sweep does not need its dashboard
            return None, f"could not ask the scheduler ({type(e).__name__}: {e})"
        if not has_bokeh:
            return None, "bokeh is not installed where the scheduler runs (pip install 'pybench[dask]')"
        if "dashboard" not in services:
            return None, "the scheduler serves no dashboard"
        return self.client.dashboard_link, None

    def slots(self):
        """How many points the cluster runs at once: the sum of its workers' ``slot`` resources."""
        info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client) else self.client.scheduler_info()
        return max(1, sum(int((w.get("resources") or {}).get(SLOT, 0)) for w in info.get("workers", {}).values()))

    def run(self, pending, out, emit, runner, summary):
        """Keep at most one point per free slot submitted: the scheduler hands a resource-restricted
        task to any worker offering the resource, busy or not, and a task queued on a worker that
        dies counts as a failure of that task too. So only points actually running can be hit by
        a worker's death."""
        from distributed import as_completed

        todo = list(pending)
        futures, done = {}, as_completed()

        def submit():
            s = todo.pop(0)
            f = self.client.submit(execute, s.config, runner, key=f"pybench-{s.experiment}-{s.run_id()}-{time.time_ns()}",
                                   resources={SLOT: 1}, pure=False, retries=0)
            futures[f] = s
            done.add(f)
            emit("run_start", spec=s)

        while todo and len(futures) < self.slots():
            submit()
        for f in done:
            s = futures.pop(f)
            if f.status == "finished":
                try:
                    rec = f.result()
                except Exception as e:  # lost between finishing and fetching
                    rec = failed_record(s, f"result lost: {type(e).__name__}: {e}", traceback.format_exc())
            else:
                exc = f.exception() if f.status == "error" else None
                if exc is not None and type(exc).__name__ == "KilledWorker":
                    reason = f"worker died while running this point, also on the retry ({exc})"
                elif exc is not None:
                    reason = f"{type(exc).__name__}: {exc}"
                else:
                    reason = f"task {f.status}"
                rec = failed_record(s, reason, "".join(traceback.format_exception(exc)) if exc is not None else None)
            f.release()
            _store(out, _tag(rec, s, "dask", {"scheduler": self.address}), s, emit, summary)
            while todo and (not futures or len(futures) < self.slots()):
                submit()

    def close(self):
        for obj in (getattr(self, "client", None), self.cluster):
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass
        self.cluster = None
        self.client = None


def _takes_n_workers(client):
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False
