"""scikit-learn's digits: 1797 real 8x8 handwritten digits (UCI optdigits test set), 17 grey
levels (0-16). The data ship inside the scikit-learn wheel: `load_digits` reads a local file and
never downloads. Fixed resolution 8: there is nothing finer to render.
"""

import numpy as np

NUM_CLASSES = 10
SIZE = 1797
DEFAULT_N_TEST = 360       # ~20 %, carved by seed (the set has no test split of its own)


def generate():
    """Returns dict(x (1797, 8, 8) float64 on 0-16, y (1797,) int64)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return {"x": np.ascontiguousarray(d.images, dtype=np.float64),
            "y": np.ascontiguousarray(d.target, dtype=np.int64)}


def version():
    try:
        from importlib.metadata import version as v
        return v("scikit-learn")
    except Exception:  # pragma: no cover
        return "unknown"
