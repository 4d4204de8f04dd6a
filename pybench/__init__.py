"""pybench: native-accelerated reference kernels and training benchmarks."""

__version__ = "0.1.0"

try:
    from . import _native  # noqa: F401
except ImportError as e:  # pragma: no cover - only on a broken install
    raise ImportError(
        "pybench's native extension is missing or failed to load: install with `pip install .` "
        "(or, for development, `cmake -S . -B build/dev && cmake --build build/dev` and "
        "`PYTHONPATH=. ...`). Original error: " + str(e)
    ) from e

from . import ops  # noqa: E402,F401
from ._native import get_num_threads, set_num_threads  # noqa: E402,F401
