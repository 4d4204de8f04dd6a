"""Where a result came from: the build and machine (``pybench.info.collect()``), the git commit of
the source tree, the time and the thread count. Stored in every run record."""

import datetime
import os
import subprocess

from . import _native, info


def checkout_state(path):
    """{"sha", "dirty", "from": "checkout"} of the pybench source checkout holding ``path``, or None
    when ``path`` is in none: no git, no repository, or a repository that does not track
    ``pybench/__init__.py`` at its root (site-packages inside a git-managed tool such as pyenv
    must not lend that tool's commit to our records)."""

    def git(*args, cwd=path):
        return subprocess.run(["git", "-C", cwd, *args], capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()

    try:
        top = git("rev-parse", "--show-toplevel")
        git("ls-files", "--error-unmatch", "pybench/__init__.py", cwd=top)
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"sha": sha, "dirty": dirty, "from": "checkout"}


def git_state(paths=None):
    """The commit of the code that runs: the live state of the first pybench checkout among
    ``paths`` (default: the one this package is imported from, a development tree); else the
    commit the native extension was built from (an installed copy: CMake records it), with
    "from": "build"; else sha and dirty None."""
    for p in paths or [os.path.dirname(os.path.abspath(__file__))]:
        st = checkout_state(p)
        if st:
            return st
    b = _native.build_info()
    if b.get("git_sha"):
        return {"sha": b["git_sha"], "dirty": bool(b["git_dirty"]), "from": "build"}
    return {"sha": None, "dirty": None, "from": None}


def utc_now():
    """ISO 8601 UTC time with seconds, e.g. "2026-11-23T10:04:05Z"."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def collect(threads):
    """The provenance block of a run record."""
    d = info.collect()
    d["git"] = git_state()
    d["time"] = utc_now()
    d["threads"] = threads
    return d
