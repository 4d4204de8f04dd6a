"""`pybench gate`: a CI regression gate on instruction counts that does not flap.

The metric is the number of instructions (callgrind's ``Ir``) one call of each gate problem
executes, single-threaded, through the runtime-dispatched build (valgrind 3.19 hides AVX-512, so
the AVX2 kernels run). The count of a deterministic kernel on fixed inputs does not depend on the
load of the machine: docs/benchmarks.md ("Regression gate") has the measured spreads that chose
it over time ratios.

How one gate run goes (:func:`run_gate`):

1. The parent spawns ``valgrind --tool=callgrind --instr-atstart=no python -m pybench.bench.gate
   --worker ...`` with PYTHONHASHSEED=0 and one thread everywhere.
2. The worker (:mod:`.gate_problems`) builds every problem of the problem table's "gate" size
   class (inputs seeded by their key) and, uninstrumented (cheap), runs our default call once into
   NaN-poisoned outputs and checks them against :mod:`pybench.reference`.
   A problem that fails its check is reported as FAILED and never counted; that fails the gate.
3. It then turns instrumentation on and, per problem, zeroes callgrind's counters
   (``_native.callgrind_begin``), calls the op once and dumps the counters under the problem's
   name (``_native.callgrind_end``): one ``callgrind.out.N`` file per problem. Outputs are
   preallocated, so the count is the kernel plus its binding (pybench.ops is the native module).
4. The parent reads the dump files (their ``desc: Trigger: Client Request: NAME`` and ``totals:``
   lines), writes the figures as JSON, compares them with the baseline (:mod:`.compare`) and
   appends them to the history (:mod:`.history`).

The figures depend on the compiler, build flags, the ISA path taken, valgrind, Python and NumPy:
that is the baseline's *key* (:data:`KEY_FIELDS`); a baseline recorded under another key is not
compared (the gate says so in one line, exit 0) rather than raising a false alarm. The CPU model is
recorded beside the key but is not part of it: the kernels read nothing from the CPU but its ISA
level (csrc/core/isa.cpp), blocking sizes are compile-time constants, and valgrind runs the same
AVX2 path on every x86-64 CPU that has it, so a baseline counted on one CPU family compares on another.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from .. import provenance, store
from . import compare as C
from .compare import key_diff  # noqa: F401  (part of this module's interface)
from .gate_problems import select, worker
from .problem_core import Inputs

SCHEMA = "pybench-gate/1"
METRIC = "instructions"
DEFAULT_THRESHOLD = 2.0  # percent; measured noise is ~0 (docs/benchmarks.md, "Regression gate")
DEFAULT_BASELINE = os.path.join("results", "bench", "gate-baseline.json")
DEFAULT_HISTORY = os.path.join("results", "bench", "history.jsonl")


# ---------------------------------------------------------------------------------------------
# The parent: environment key, spawning valgrind, reading the dumps
# ---------------------------------------------------------------------------------------------

class GateError(Exception):
    """The gate could not run (valgrind missing, worker crashed): not a regression."""


def _cpu_class():
    vendor = family = model = name = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "vendor_id" and vendor is None:
                    vendor = v
                elif k == "cpu family" and family is None:
                    family = v
                elif k == "model" and model is None:
                    model = v
                elif k == "model name" and name is None:
                    name = v
    except OSError:
        pass
    return {"vendor": vendor or platform.processor() or platform.machine(), "family": family, "model": model,
            "name": name}


def valgrind_version(valgrind="valgrind"):
    exe = shutil.which(valgrind)
    if not exe:
        return None
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


KEY_FIELDS = C.GATE_KEY_FIELDS


def environment_key(isa_path, valgrind="valgrind"):
    """What the counts depend on. Two gate runs are compared only when these are all equal."""
    from .. import _native

    b = _native.build_info()
    return {
        "compiler": b.get("compiler"),
        "build_type": b.get("build_type"),
        "flags": b.get("flags"),
        "isa_path": isa_path,
        "valgrind": valgrind_version(valgrind),
        "python": platform.python_version(),
        "numpy": ".".join(np.__version__.split(".")[:2]),
    }


def cpu_label():
    """'AuthenticAMD family 25 model 17': recorded with the figures, not part of the key."""
    cpu = _cpu_class()
    return f"{cpu['vendor']} family {cpu['family']} model {cpu['model']}"


_TOTALS = re.compile(r"^(?:totals|summary):\s*(\d+)", re.M)
_DESC = re.compile(r"^desc: Trigger: Client Request: (.*)$", re.M)


def read_dumps(directory, prefix="callgrind.out"):
    """{dump name: Ir} from the callgrind dump files in `directory`."""
    counts = {}
    for path in glob.glob(os.path.join(directory, prefix + "*")):
        with open(path, errors="replace") as f:
            text = f.read()
        d, t = _DESC.search(text), _TOTALS.search(text)
        if d and t:
            counts[d.group(1).strip()] = int(t.group(1))
    return counts


def hooks_available():
    """True when pybench._native has live callgrind hooks (built with valgrind/callgrind.h)."""
    from .. import _native

    return bool(getattr(_native, "callgrind_available", lambda: False)())


def _native_dir():
    from .. import __file__ as pkg_init

    return os.path.dirname(os.path.dirname(os.path.abspath(pkg_init)))


def count(names=None, isa=None, repeat=3, valgrind="valgrind", log=None, timeout=1800):
    """Spawn the worker under callgrind; return the figures (a dict ready for JSON)."""
    exe = shutil.which(valgrind)
    if not exe:
        raise GateError(f"valgrind not found ({valgrind!r} is not on PATH): install it (apt-get install valgrind)")
    if not hooks_available():
        raise GateError("pybench._native was built without valgrind/callgrind.h (install valgrind's headers, "
                        "then rebuild): the gate cannot count")
    select(names)  # a bad --only fails here, before valgrind starts
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=_native_dir())
    with tempfile.TemporaryDirectory(prefix="pybench-gate-") as tmp:
        wout = os.path.join(tmp, "worker.json")
        cmd = [exe, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/callgrind.out",
               sys.executable, "-m", "pybench.bench.gate", "--worker", wout, "--repeat", str(repeat)]
        if isa:
            cmd += ["--isa", isa]
        for n in names or ():
            cmd += ["--only", n]
        t0 = time.perf_counter()
        if log:
            log(f"pybench gate: counting {len(select(names))} problems under callgrind (a few minutes)")
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not os.path.exists(wout):
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-15:])
            raise GateError(f"the worker under valgrind exited with {proc.returncode}:\n{tail}")
        with open(wout) as f:
            w = json.load(f)
        dumps = read_dumps(tmp)
    kernels, failed = {}, {}
    for name, rec in w["problems"].items():
        if not rec["ok"]:
            failed[name] = rec["error"]
            continue
        reps = [dumps.get(f"{name}#{i}") for i in range(repeat)]
        if any(r is None for r in reps):
            failed[name] = "no callgrind dump for this problem"
            continue
        kernels[name] = {"family": rec["family"], "instructions": min(reps), "repeats": reps}
    return {
        "schema": SCHEMA,
        "metric": METRIC,
        "unit": "instructions per call (callgrind Ir)",
        "key": environment_key(w["isa_active"], valgrind),
        "cpu": cpu_label(),
        "kernels": kernels,
        "failed": failed,
        "threads": w["threads"],
        "wall_seconds": round(wall, 1),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def git_state(cwd=None):
    """{'commit': sha or None, 'dirty': bool or None} of the checkout we run in (the current
    directory, else the one the imported pybench lives in; CI runs from the clone's root), else the
    commit the extension was built from (pybench.provenance.git_state)."""
    st = provenance.git_state([cwd] if cwd else [os.getcwd(), _native_dir()])
    return {"commit": st["sha"], "dirty": st["dirty"]}


def write_json(d, path):
    """`d` as JSON (indent 1, keys in their order, a trailing newline) through store.atomic_write."""
    return store.atomic_write(path, json.dumps(d, indent=1, sort_keys=False) + "\n")


REFRESH = "refresh it with `pybench gate --update-baseline` on this set-up (docs/benchmarks.md: Regression gate)"


def run_gate(baseline=DEFAULT_BASELINE, out=None, threshold=None, history=DEFAULT_HISTORY, update_baseline=False,
             names=None, isa=None, repeat=3, valgrind="valgrind", say=print, err=print):
    """`pybench gate`; returns its exit code: 0 pass (or not comparable: foreign key, no baseline),
    1 a regression, a kernel that failed its check or went missing, 2 usage error, 3 the gate could
    not run (valgrind missing, worker crashed)."""
    from . import history as H

    try:
        thr = C.check_threshold(threshold, METRIC)
        select(names)
    except (C.CompareError, ValueError) as e:
        err(f"pybench gate: error: {e}")
        return 2
    try:
        figures = count(names, isa=isa, repeat=repeat, valgrind=valgrind, log=err)
    except GateError as e:
        err(f"pybench gate: could not run: {e}")
        return 3
    figures["command"] = ["pybench", "gate"]
    git = git_state()
    figures["git"] = git
    if out:
        write_json(figures, out)
    k = figures["key"]
    say(f"pybench gate: {len(figures['kernels'])} kernels counted in {figures['wall_seconds']} s; "
        f"{k['compiler']}, {figures.get('cpu', '?')}, ISA {k['isa_path']}, {k['valgrind']}, Python {k['python']}, "
        f"NumPy {k['numpy']}; commit {(git['commit'] or '?')[:10]}{' (dirty)' if git['dirty'] else ''}")
    for name, reason in figures["failed"].items():
        err(f"FAILED {name}: {reason}")
    compared, code = None, 1 if figures["failed"] else 0
    if update_baseline:
        if figures["failed"]:
            err(f"pybench gate: baseline NOT written: {len(figures['failed'])} problem(s) failed their check")
        else:
            write_json(figures, baseline)
            say(f"wrote the baseline {baseline} ({len(figures['kernels'])} kernels): commit it")
            compared = "baseline"
    elif not os.path.exists(baseline):
        say(f"not compared: no baseline at {baseline}; create it with `pybench gate --update-baseline`")
        compared = "no baseline"
    else:
        try:
            base = C.load(baseline)
        except C.CompareError as e:
            err(f"pybench gate: error: {e}")
            return 2
        if names:  # --only: the other baseline kernels were not run, not missing
            chosen = {p.name for p in select(names)}
            base["kernels"] = {n: v for n, v in base["kernels"].items() if n in chosen}
        cur = {"metric": METRIC, "key": k, "failed": figures["failed"],
               "kernels": {n: float(v["instructions"]) for n, v in figures["kernels"].items()}}
        if key_diff(base["key"] or {}, k):
            say(key_mismatch_line(base["key"] or {}, k))
            compared = "foreign key"
        else:
            rows, counts = C.compare(base, cur, thr)
            say(C.format_table(rows, METRIC, thr))
            say(C.summary_line(counts, METRIC, thr))
            code = C.exit_code(counts)
            compared = {"baseline": baseline, "threshold": thr, "counts": counts,
                        "worst_pct": max((r["change_pct"] for r in rows if r["change_pct"] is not None), default=None)}
    if history:
        H.append(history, H.entry(figures, git, compared))
    return code


def key_mismatch_line(base_key, cur_key):
    return C.key_mismatch_line(key_diff(base_key, cur_key), REFRESH)


# ---------------------------------------------------------------------------------------------
# Alternative metric, measured for the choice: time ratio to an in-process reference
# ---------------------------------------------------------------------------------------------

def time_ratios(names=None, rounds=15, ref_elems=1 << 18, min_time=0.004):
    """{problem: median over `rounds` of t(problem) / t(reference copy)}, timed alternately in this
    process, one thread. The reference is a single-threaded copy of `ref_elems` float32 values."""
    from .. import _native

    _native.set_num_threads(1)
    inputs = Inputs()
    src = inputs.get("ref", (ref_elems,))
    dst = np.empty_like(src)

    def ref():
        _native.copy(src, out=dst, impl="naive")

    def per_call(fn, n):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n

    def reps(fn):
        n, t = 1, per_call(fn, 1)
        while t * n < min_time:
            n *= 2
        return n

    out = {}
    for p in select(names):
        p.build(inputs)

        def run(p=p):
            p.prepare()
            p.run()
        run()
        err = p.check()
        if err:
            out[p.name] = None
            continue
        nk, nr = reps(run), reps(ref)
        ratios = []
        for i in range(rounds):
            if i % 2:
                tr, tk = per_call(ref, nr), per_call(run, nk)
            else:
                tk, tr = per_call(run, nk), per_call(ref, nr)
            ratios.append(tk / tr)
        out[p.name] = float(np.median(ratios))
    return out


def _main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m pybench.bench.gate")
    ap.add_argument("--worker", metavar="OUT", help="internal: the process valgrind runs")
    ap.add_argument("--only", action="append", default=None)
    ap.add_argument("--isa", default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--time-ratios", metavar="OUT", help="measure the time-ratio metric into OUT (JSON)")
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.only, a.isa, a.repeat)
        return 0
    if a.time_ratios:
        write_json({"metric": "time ratio to a 1 MiB single-thread copy", "kernels": time_ratios(a.only)},
                   a.time_ratios)
        return 0
    ap.error("nothing to do: use `pybench gate`")


if __name__ == "__main__":
    sys.exit(_main())
