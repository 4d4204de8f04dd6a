"""The experiments ``pybench run`` knows, by name.

Registration: every module in this package (other than ``base``, ``custom`` and private ``_*``
modules) that defines ``EXPERIMENT`` (an ``Experiment`` instance) is registered under
``EXPERIMENT.name``, so adding an experiment is adding its module. ``ORDER`` fixes the order of
``names()`` (the order ``pybench run`` and ``pybench list`` use); experiments not in it follow
alphabetically.

    from pybench import experiments
    experiments.names()            # ['width', ...]
    experiments.get("width")       # the Experiment; ValueError naming the valid names otherwise
"""

import importlib
import pkgutil

from .base import Column, Experiment, PlotSpec, RunSpec, Series  # noqa: F401

ORDER = ("batch-size", "resolution", "depth", "width", "pitfalls")
_SKIP = ("base", "custom")
_registry = None


def _load():
    global _registry
    if _registry is None:
        found = {}
        for info in pkgutil.iter_modules(__path__):
            if info.name in _SKIP or info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            exp = getattr(mod, "EXPERIMENT", None)
            if exp is None:
                continue
            if not isinstance(exp, Experiment):
                raise TypeError(f"pybench.experiments.{info.name}.EXPERIMENT: expected an Experiment, "
                                f"got {type(exp).__name__}")
            if exp.name in found:
                raise ValueError(f"pybench.experiments: two experiments named {exp.name!r}")
            found[exp.name] = exp
        rank = {n: i for i, n in enumerate(ORDER)}
        _registry = {n: found[n] for n in sorted(found, key=lambda n: (rank.get(n, len(rank)), n))}
    return _registry


def names():
    """Registered experiment names, in ORDER."""
    return list(_load())


def get(name):
    """The registered Experiment called ``name``; ValueError listing the valid names otherwise."""
    reg = _load()
    if name not in reg:
        raise ValueError(f"unknown experiment {name!r}: expected one of {', '.join(reg) or '(none registered)'}")
    return reg[name]


def all_experiments():
    return list(_load().values())
