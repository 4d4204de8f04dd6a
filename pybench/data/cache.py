"""In-process memory cache of generated / read source arrays, keyed by the generator arguments.

Generating MNIST-1D or rendering the image set takes seconds; a sweep loads the same data for
every run in a process, so the sources are kept. Cached arrays are made read-only, and `load`
only ever derives new arrays from them (split, normalize, cast), so a caller cannot corrupt the
cache. Least recently used entries are dropped beyond MAX_BYTES.
"""

from collections import OrderedDict

import numpy as np

MAX_BYTES = 512 * 2**20

_entries = OrderedDict()


def get(key, make):
    """The cached value for `key`, or make() stored under it. A value is a dict whose ndarray
    entries are frozen (writeable=False); other entries must be immutable or never mutated."""
    if key in _entries:
        _entries.move_to_end(key)
        return _entries[key]
    value = make()
    for v in value.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    _entries[key] = value
    while len(_entries) > 1 and _total() > MAX_BYTES:
        _entries.popitem(last=False)
    return value


def clear():
    _entries.clear()


def _total():
    return sum(v.nbytes for e in _entries.values() for v in e.values() if isinstance(v, np.ndarray))
