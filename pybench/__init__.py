"""pybench: native-accelerated reference kernels and training benchmarks."""

__version__ = "0.1.0"


def _missing_native_message(error):
    """Why `_native` did not load. The usual cause is a source checkout first on sys.path (`python -m
    pytest` or `python` run inside it) shadowing the installed package, whose extension pip built."""
    import os
    from importlib import metadata

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        installed = os.path.abspath(str(metadata.distribution("pybench").locate_file("pybench")))
    except (metadata.PackageNotFoundError, OSError):
        installed = None
    if installed and installed != here and os.path.isdir(installed):
        return (f"pybench: the source tree at {here} shadows the installed package at {installed} (the source "
                "tree has no built extension): run from outside the checkout, or run the tests with `pytest` "
                "(the script), not `python -m pytest`")
    return ("pybench's native extension is missing or failed to load: install with `pip install .` (or, for "
            "development, `cmake -S . -B build/dev && cmake --build build/dev` and `PYTHONPATH=. ...`). "
            f"Original error: {error}")


try:
    from . import _native  # noqa: F401
except ImportError as e:
    raise ImportError(_missing_native_message(e)) from e

from . import ops  # noqa: E402,F401
from ._native import get_num_threads, set_num_threads  # noqa: E402,F401
