"""Result records on disk: one JSON file per run, written atomically, read back for resume and reports.

Layout (``OUT`` is ``results/`` by default)::

    OUT/README.md                               index of every experiment and mode (pybench.report)
    OUT/<experiment>/<mode>/runs/<run_id>.json  one record per run (mode: "quick" or "full")
    OUT/<experiment>/<mode>/sweep.json          the last sweep's manifest: which runs make its table
    OUT/<experiment>/<mode>/summary.csv         every row of the experiment's table
    OUT/<experiment>/<mode>/summary.md          the readable table, notes and plots
    OUT/<experiment>/<mode>/*.png               plots

Quick and full results live in sibling directories, so a quick run never overwrites or blends into
the published full-mode tables. Every file here is written to a temporary name in the same
directory (``.NAME.PID.tmp``), flushed, fsynced and renamed into place: a reader sees the old file
or the new one, never half of one. A temporary file left by a killed writer is ignored, and removed
by the next load once its writer is gone.
"""

import json
import math
import os
import re

MODES = ("quick", "full")
RUNS = "runs"
MANIFEST = "sweep.json"
_TMP = re.compile(r"^\..+\.(\d+)\.tmp$")
_ID = re.compile(r"^[0-9a-f]{12}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
DONE_STATUSES = ("completed", "budget-limited", "diverged", "collapsed")  # measured outcomes; "failed" is rerun


def check_name(name):
    """An experiment name usable as a directory name; ValueError otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"experiment name: expected lowercase letters, digits, '-', '_' or '.' "
                         f"(starting with a letter or digit), got {name!r}")
    return name


def check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    return mode


def exp_dir(out, experiment, mode):
    return os.path.join(os.fspath(out), check_name(experiment), check_mode(mode))


def runs_dir(out, experiment, mode):
    return os.path.join(exp_dir(out, experiment, mode), RUNS)


def clean_json(obj):
    """A strict-JSON copy: non-finite floats become None, tuples lists, numpy scalars Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return clean_json(obj.item())
    return str(obj)


def dumps(obj):
    """The one serialization of records and manifests: sorted keys, strict JSON, trailing newline."""
    return json.dumps(clean_json(obj), indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def atomic_write(path, data):
    """Write ``data`` (str, as UTF-8, or bytes) to ``path`` through a temporary file in the same
    directory (``.NAME.PID.tmp``): write, flush, fsync, ``os.replace``; the directory is fsynced too.
    Creates parent directories; returns ``path``. A failed write (a full disk) raises OSError naming
    ``path``, and leaves the old file whole and no temporary file.

    Every output file goes through here: run records and manifests, summaries, plots and the
    results index (pybench.report), and the bench side's JSON, Markdown and plots (`pybench bench
    --json`, the calibration cache, the gate's figures and baseline, `pybench compare --json / --md`,
    the gate history plot). Each caller serializes; this only writes. (The gate's history log is
    appended to, line by line, not replaced.)"""
    path = os.fspath(path)
    d, base = os.path.split(path)
    os.makedirs(d or ".", exist_ok=True)
    tmp = os.path.join(d, f".{base}.{os.getpid()}.tmp")
    raw = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        # A failed write (disk full) names no file, a failed open or rename the temporary one: name
        # the file being written instead.
        if isinstance(e, OSError) and e.errno and e.filename in (None, tmp):
            raise OSError(e.errno, e.strerror, path) from e
        raise
    try:
        fd = os.open(d or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some filesystems refuse fsync on a directory; the rename is still atomic
        pass
    return path


def record_path(out, record):
    return os.path.join(runs_dir(out, record["experiment"], record["mode"]), f"{record['run_id']}.json")


def write_record(out, record):
    """Store one run record (it must carry ``experiment``, ``mode`` and ``run_id``) atomically at
    ``OUT/<experiment>/<mode>/runs/<run_id>.json``, replacing an earlier record of the same id.
    Returns the path."""
    for k in ("experiment", "mode", "run_id"):
        if k not in record:
            raise ValueError(f"write_record: record has no {k!r}")
    if not _ID.match(str(record["run_id"])):
        raise ValueError(f"write_record: run_id: expected 12 hex digits, got {record['run_id']!r}")
    return atomic_write(record_path(out, record), dumps(record))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours
        return True
    return True


def clean_temp(directory):
    """Remove temporary files of writers that are gone (a killed run); returns how many."""
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        m = _TMP.match(name)
        if m and (int(m.group(1)) == os.getpid() or not _pid_alive(int(m.group(1)))):
            try:
                os.unlink(os.path.join(directory, name))
                removed += 1
            except OSError:
                pass
    return removed


def _read_runs(out, experiment, mode):
    d = runs_dir(out, experiment, mode)
    if not os.path.isdir(d):
        return []
    clean_temp(d)
    records = []
    for name in sorted(os.listdir(d)):
        stem, ext = os.path.splitext(name)
        if ext != ".json" or not _ID.match(stem):
            continue  # temp files, stray files
        try:
            with open(os.path.join(d, name), encoding="utf-8") as f:
                rec = json.load(f)
        except (OSError, ValueError):
            continue  # unreadable: not stored (a rerun replaces it)
        if isinstance(rec, dict) and rec.get("run_id") == stem:
            records.append(rec)
    return records


def load_records(out, experiment, mode=None):
    """Every stored record of ``experiment`` (of one mode, or of both when ``mode`` is None),
    ordered by mode then run id. Temporary and unreadable files are skipped."""
    modes = MODES if mode is None else (check_mode(mode),)
    return [r for m in modes for r in _read_runs(out, experiment, m)]


def stored_ids(out, experiment, mode=None, done_only=False):
    """Run ids stored for ``experiment``; with ``done_only`` only those whose status is a measured
    outcome (completed, diverged, collapsed): a failed run is not done."""
    return {r["run_id"] for r in load_records(out, experiment, mode)
            if not done_only or r.get("status") in DONE_STATUSES}


def write_manifest(out, experiment, mode, manifest):
    return atomic_write(os.path.join(exp_dir(out, experiment, mode), MANIFEST), dumps(manifest))


def load_manifest(out, experiment, mode):
    try:
        with open(os.path.join(exp_dir(out, experiment, mode), MANIFEST), encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def list_stored(out):
    """[(experiment, mode), ...] with a runs directory or a manifest under ``out``, sorted."""
    out = os.fspath(out)
    found = []
    try:
        names = sorted(os.listdir(out))
    except OSError:
        return []
    for name in names:
        if not _NAME.match(name):
            continue
        for mode in MODES:
            d = os.path.join(out, name, mode)
            if os.path.isdir(os.path.join(d, RUNS)) or os.path.isfile(os.path.join(d, MANIFEST)):
                found.append((name, mode))
    return found


def check_writable(out):
    """ValueError naming the problem when ``out`` cannot hold results: it exists and is not a
    writable directory, or its nearest existing parent is not a writable directory. Writability is
    probed by creating and removing an empty temporary file there (``os.access`` says yes to root on
    anything, e.g. a read-only mount or /proc); nothing is left behind."""
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise ValueError(f"--out {out}: exists and is not a directory")
        why = _unwritable(out)
        if why:
            raise ValueError(f"--out {out}: directory is not writable ({why})")
        return out
    why = _uncreatable(out)
    if why:
        raise ValueError(f"--out {out}: cannot be created ({why})")
    return out


def check_writable_file(path):
    """The absolute path when a file can be written at ``path`` (its directory created as needed);
    ValueError saying why not: it is a directory, or its nearest existing parent is not a writable
    directory. Checked before any work, so a long run never ends in a traceback at its last step."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory (expected a file name)")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"{path}: exists and is not writable")
    why = _uncreatable(path)
    if why:
        raise ValueError(f"{path}: cannot be created ({why})")
    return path


def _uncreatable(path):
    """None when ``path`` (absent) can be created, its missing directories included; else why not,
    judged at its nearest existing parent."""
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is not a directory"
    why = _unwritable(parent)
    return f"{parent} is not writable: {why}" if why else None


def _unwritable(directory):
    """None when a file can be created in ``directory`` (tried, then removed), else the reason."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return "permission denied"
    import tempfile

    try:
        fd, path = tempfile.mkstemp(prefix=".pybench-probe-", suffix=".tmp", dir=directory)
    except OSError as e:
        return e.strerror or type(e).__name__
    os.close(fd)
    os.unlink(path)
    return None
