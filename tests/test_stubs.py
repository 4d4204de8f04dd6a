"""The committed type stubs match the built module (dev/gen_stubs.py writes them from it)."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gen_stubs():
    spec = importlib.util.spec_from_file_location("gen_stubs", os.path.join(ROOT, "dev", "gen_stubs.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("rel", ["pybench/_native.pyi", "pybench/ops/__init__.pyi"])
def test_committed_stub_matches_the_built_module(rel):
    want = _gen_stubs().render()[os.path.join(*rel.split("/"))]
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        got = f.read()
    assert got == want, f"{rel} is out of date with the built pybench._native: run `python dev/gen_stubs.py`"


def test_stub_generator_reads_signatures_and_docs():
    g = _gen_stubs()

    def fake(x, out=None):
        pass
    fake.__name__ = "fake"
    fake.__doc__ = "fake(x: object, *, out: object = None, mode: object = 'object') -> object\n\nOne line.\n"
    assert g.stub_def(fake) == "def fake(x: Any, *, out: Any = None, mode: Any = 'object') -> Any:\n" \
                               '    """One line."""\n'
    fake.__doc__ = "no signature"
    with pytest.raises(ValueError, match="fake: __doc__ does not start with a pybind11 signature"):
        g.stub_def(fake)
