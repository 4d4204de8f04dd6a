"""Where a result came from: the build and machine (``pybench.info.collect()``), the git commit of
the source tree, the time and the thread count. Stored in every run record."""

import datetime
import os
import subprocess

from . import info


def git_state(path=None):
    """{"sha": str|None, "dirty": bool|None} of the git checkout holding ``path`` (default: this
    package); both None when git or the checkout is unavailable (an installed wheel)."""
    path = path or os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        return subprocess.run(["git", "-C", path, *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


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
