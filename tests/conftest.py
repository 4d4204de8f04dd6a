import glob
import os
import sys

import numpy as np
import pytest

# `python -m pytest` inside the checkout puts the checkout first on sys.path, and its pybench/ has no
# built extension (pip builds it into site-packages): test the installed package instead. An in-place
# build (a _native*.so in the tree) is tested as it is.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not glob.glob(os.path.join(_ROOT, "pybench", "_native*")):
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]

from pybench import _native  # noqa: E402

ISA_LEVELS = [lvl for lvl in ("base", "avx2", "avx512")
              if ["base", "avx2", "avx512"].index(lvl) <= ["base", "avx2", "avx512"].index(_native.isa_supported())]


@pytest.fixture(params=ISA_LEVELS)
def isa(request):
    """Run the test once per SIMD build of the CPU kernels this machine can execute."""
    before = _native.isa_active()
    _native.set_isa(request.param)
    yield request.param
    _native.set_isa(before)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def one_thread():
    """Finite differences call the op thousands of times: one thread avoids a fork/join per call
    (slow when the cores are shared)."""
    before = _native.get_num_threads()
    _native.set_num_threads(1)
    yield
    _native.set_num_threads(before)
