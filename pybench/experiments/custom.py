"""A user's own sweep from a TOML file (``pybench run --config FILE.toml``).

    name = "lr-sweep"                 # required: the directory under --out (lowercase, digits, - _ .)
    title = "LR sweep, MLP on MNIST-1D"   # optional
    description = "..."               # optional
    seeds = 1                         # optional: replicates per point (default 1; --seeds wins)
    target_accuracy = 0.6             # optional: any Config field here goes into [base] (budget keys:
    epochs = 10                       #   steps / epochs / target_accuracy / stop_at_target / patience ...)

    [base]                            # Config fields of every run (pybench.train.Config)
    model = "mlp"
    width = 128

    [axes]                            # Config fields swept, each a non-empty list: the grid of them
    lr = [0.01, 0.1, 1.0]
    batch_size = [32, 128]

    [quick]                           # optional: what changes in quick mode (the default of
    epochs = 2                        #   `pybench run`); without it quick mode is the same sweep
    [quick.axes]
    lr = [0.1]

Every key is checked when the file is loaded: an unknown key, a wrong type or a value out of range
raises ValueError naming it and the valid choices. The parsed definition is stored in the sweep's
manifest, so ``pybench report`` rebuilds the table without the file.
"""

import tomllib

from .base import CONFIG_FIELDS, Experiment, check_distinct
from ..store import check_name

_TOP = ("name", "title", "description", "seeds", "base", "axes", "quick")


class CustomExperiment(Experiment):
    """An Experiment built from a definition dict (the parsed TOML)."""

    def __init__(self, definition):
        d = self.definition = _check(definition)
        self.name = d["name"]
        self.title = d.get("title") or d["name"]
        self.description = d.get("description") or f"user-defined sweep over {', '.join(d['axes']) or 'no axes'}"
        self.base = dict(d.get("base", {}))
        self.axes = {k: list(v) for k, v in d["axes"].items()}
        q = d.get("quick", {})
        self.quick = {k: v for k, v in q.items() if k != "axes"}
        self.quick_axes = {k: list(v) for k, v in q.get("axes", {}).items()}
        s = d.get("seeds", 1)
        self.seeds = {"quick": s, "full": s}


def _fail(path, msg):
    raise ValueError(f"{path}: {msg}")


def _check(d):
    if not isinstance(d, dict):
        _fail("config", f"expected a table, got {type(d).__name__}")
    d = dict(d)
    base = {}
    for k in list(d):
        if k in _TOP:
            continue
        if k in CONFIG_FIELDS:  # top-level budget/target keys are Config fields of every run
            base[k] = d.pop(k)
        else:
            _fail(k, f"unknown key; expected one of {', '.join(_TOP)} or a Config field ({', '.join(CONFIG_FIELDS)})")
    if "name" not in d:
        _fail("name", "missing (the sweep's name, used as its directory under --out)")
    check_name(d["name"])
    from . import names

    if d["name"] in names():
        _fail("name", f"{d['name']!r} is a built-in experiment (change it with --set instead); choose another name")
    for k in ("title", "description"):
        if k in d and not isinstance(d[k], str):
            _fail(k, f"expected a string, got {type(d[k]).__name__}")
    if "seeds" in d and (isinstance(d["seeds"], bool) or not isinstance(d["seeds"], int) or d["seeds"] < 1):
        _fail("seeds", f"expected an int >= 1, got {d['seeds']!r}")
    d["base"] = {**_fields("base", d.get("base", {})), **base}
    d["axes"] = _axes("axes", d.get("axes", {}))
    if "quick" in d:
        q = d["quick"]
        if not isinstance(q, dict):
            _fail("quick", f"expected a table, got {type(q).__name__}")
        q = dict(q)
        qa = _axes("quick.axes", q.pop("axes", {}))
        stray = [k for k in qa if k not in d["axes"]]
        if stray:
            _fail(f"quick.axes.{stray[0]}", f"not an axis of the sweep; expected one of {', '.join(d['axes']) or '(none)'}")
        d["quick"] = {**_fields("quick", q), "axes": qa}
    # every run's config must validate: Experiment.specs raises naming the field
    exp = Experiment()
    exp.name, exp.base, exp.axes = d["name"], d["base"], d["axes"]
    exp.quick = {k: v for k, v in d.get("quick", {}).items() if k != "axes"}
    exp.quick_axes = d.get("quick", {}).get("axes", {})
    for mode in ("quick", "full"):
        exp.specs(mode, seeds=1)
    return d


def _fields(path, t):
    if not isinstance(t, dict):
        _fail(path, f"expected a table, got {type(t).__name__}")
    for k in t:
        if k not in CONFIG_FIELDS:
            _fail(f"{path}.{k}", f"unknown Config field; expected one of {', '.join(CONFIG_FIELDS)}")
    return dict(t)


def _axes(path, t):
    t = _fields(path, t)
    for k, v in t.items():
        if not isinstance(v, list) or not v:
            _fail(f"{path}.{k}", f"expected a non-empty list of values, got {v!r}")
        check_distinct(f"{path}.{k}", v)
    return t


def load(path):
    """Read and check a sweep definition; ValueError (one line, naming the file) on any problem."""
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except OSError as e:
        raise ValueError(f"--config {path}: cannot read ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"--config {path}: not valid TOML ({e})") from None
    except UnicodeDecodeError as e:  # TOML is UTF-8 text
        raise ValueError(f"--config {path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
                         "expected a TOML file") from None
    try:
        return CustomExperiment(d)
    except (TypeError, ValueError) as e:
        raise ValueError(f"--config {path}: {e}") from None
