"""Fixtures of the CUDA tests: a usable GPU and CuPy, else a skip that says which is missing."""

import pytest

from pybench import _native, arrays


def cuda_skip_reason():
    """None when CUDA tests can run here, else the reason they cannot (shown by pytest -rs)."""
    st = _native.cuda_status()
    if not st["built"]:
        return f"no CUDA device: {st['reason']}"
    if st["device_count"] == 0:
        return f"no CUDA device: {st['reason']}"
    if arrays.cupy() is None:
        return arrays.cupy_missing_reason()
    return None


@pytest.fixture(scope="session")
def cp():
    """The cupy module, on a machine with a usable GPU; the test is skipped otherwise."""
    reason = cuda_skip_reason()
    if reason:
        pytest.skip(reason)
    return arrays.cupy()
