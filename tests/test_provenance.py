"""pybench.provenance.git_state: the commit recorded with every run is pybench's, never that of a
repository that merely contains the installed package (pyenv keeps Pythons inside its own git
checkout), and an installed copy reports the commit its extension was built from."""

import os
import shutil
import subprocess
import types

import pytest

from pybench import _native, provenance

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
           GIT_COMMITTER_EMAIL="t@t", GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")


def _repo(path, files):
    """A git repository at path with `files` committed; returns its HEAD sha."""
    path.mkdir(parents=True, exist_ok=True)
    for name in files:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text("x = 1\n")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "c"]):
        subprocess.run(["git", *args], cwd=path, env=ENV, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, env=ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def _fake_build(monkeypatch, sha, dirty=False):
    info = dict(_native.build_info(), git_sha=sha, git_dirty=dirty)
    monkeypatch.setattr(provenance, "_native", types.SimpleNamespace(build_info=lambda: info))


def test_foreign_repository_is_not_ours(tmp_path, monkeypatch):
    """An installed package inside another tool's repository (the pyenv case): that repository's
    commit is not taken; the build's commit is."""
    _repo(tmp_path / "pyenv", ["bin/pyenv"])
    site = tmp_path / "pyenv" / "versions" / "lib" / "site-packages" / "pybench"
    site.mkdir(parents=True)
    assert provenance.checkout_state(str(site)) is None
    _fake_build(monkeypatch, "b" * 40, dirty=True)
    assert provenance.git_state([str(site)]) == {"sha": "b" * 40, "dirty": True, "from": "build"}
    _fake_build(monkeypatch, "")  # built outside a git checkout (an sdist): unknown
    assert provenance.git_state([str(site)]) == {"sha": None, "dirty": None, "from": None}


def test_pybench_checkout_live_state(tmp_path, monkeypatch):
    """A source checkout (it tracks pybench/__init__.py at its root) reports its live HEAD and
    whether tracked files changed, from any directory inside it, before the build's commit."""
    sha = _repo(tmp_path / "src", ["pybench/__init__.py", "pybench/bench/x.py"])
    _fake_build(monkeypatch, "b" * 40)
    deep = str(tmp_path / "src" / "pybench" / "bench")
    assert provenance.git_state([deep]) == {"sha": sha, "dirty": False, "from": "checkout"}
    (tmp_path / "src" / "pybench" / "__init__.py").write_text("x = 2\n")
    assert provenance.git_state([str(tmp_path / "elsewhere"), deep])["dirty"] is True  # first checkout found wins


def test_build_info_records_the_commit():
    b = _native.build_info()
    assert isinstance(b["git_sha"], str) and isinstance(b["git_dirty"], bool)
    assert b["git_sha"] == "" or len(b["git_sha"]) == 40
