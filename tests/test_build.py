"""Checks on the build itself.

Every csrc/cpu source is compiled once per ISA level. If an AVX2/AVX-512 object exported a
symbol shared with the other builds (an inline function or template instantiation emitted
out of line), the linker could pick that copy for baseline code: a SIGILL on older CPUs and
under valgrind. So an ISA object may only export symbols of its own namespace.
"""

import glob
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _isa_objects():
    found = {}
    for level in ("avx2", "avx512"):
        pattern = os.path.join(ROOT, "build", "**", f"pb_cpu_{level}.dir", "**", "*.o")
        found[level] = sorted(glob.glob(pattern, recursive=True))
    return found


def _owned(symbol, level):
    """True if the demangled symbol's own name (return type aside) is in pb::cpu::<level>."""
    if symbol == "DW.ref.__gxx_personality_v0":  # a data pointer for unwind tables, not code
        return True
    name = symbol.split("(", 1)[0]
    ns = f"pb::cpu::{level}::"
    return name.startswith(ns) or f" {ns}" in name


def test_isa_objects_export_only_their_namespace():
    objs = _isa_objects()
    if not any(objs.values()):
        pytest.skip("no build tree under ./build (the extension was built elsewhere); nothing to inspect")
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    bad = []
    for level, files in objs.items():
        for obj in files:
            out = subprocess.run(["nm", "-C", "--defined-only", obj], capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                parts = line.split(" ", 2)
                if len(parts) == 3 and parts[1] in "TWVuDRB" and not _owned(parts[2], level):
                    bad.append(f"{os.path.basename(obj)} ({level}): {parts[1]} {parts[2]}")
    assert not bad, "ISA objects export shared symbols:\n" + "\n".join(bad[:20])


def _source_tree_without_extension(tmp_path):
    """A checkout's shape without a built extension: pybench/__init__.py and tests/conftest.py."""
    (tmp_path / "pybench").mkdir()
    shutil.copy(os.path.join(ROOT, "pybench", "__init__.py"), tmp_path / "pybench")
    (tmp_path / "tests").mkdir()
    shutil.copy(os.path.join(ROOT, "tests", "conftest.py"), tmp_path / "tests")
    return tmp_path


def test_python_dash_m_pytest_in_a_checkout_tests_the_installed_package(tmp_path):
    """`python -m pytest` puts the checkout first on sys.path; the conftest steps around its pybench/."""
    tree = _source_tree_without_extension(tmp_path)
    (tree / "tests" / "test_which.py").write_text(
        "import os, pybench\n\ndef test_which():\n"
        f"    assert os.path.dirname(pybench.__file__) != {str(tree / 'pybench')!r}\n"
        "    assert pybench._native.isa_active()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_which.py"],
                       cwd=tree, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and "1 passed" in p.stdout, p.stdout + p.stderr


def test_a_shadowing_source_tree_is_named_with_the_fix(tmp_path):
    tree = _source_tree_without_extension(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-c", "import pybench"], cwd=tree, capture_output=True, text=True, env=env,
                       timeout=300)
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 1 and last.startswith("ImportError: "), p.stderr
    if _installed_distribution():
        assert f"the source tree at {tree / 'pybench'} shadows the installed package" in last
        assert "not `python -m pytest`" in last
    else:  # a development set-up without pip's metadata: the generic cause
        assert "native extension is missing" in last


def _installed_distribution():
    from importlib import metadata

    try:
        metadata.distribution("pybench")
    except metadata.PackageNotFoundError:
        return False
    return True
