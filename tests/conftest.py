import numpy as np
import pytest

from pybench import _native

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
