"""Helpers of the CUDA tests: whether a usable GPU and CuPy are here, else the reason.

(Not a conftest.py: a second module named ``conftest`` would shadow tests/conftest.py for the
tests that import from it.)
"""

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

