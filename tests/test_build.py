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
