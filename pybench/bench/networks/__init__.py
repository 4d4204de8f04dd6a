"""Real networks' layers for `pybench bench --network NAME|FILE` (`--shapes` is its old name).

A network is a TOML file listing the shapes of its layers (this directory holds the built-in ones;
any path works too):

    name = "resnet50"
    source = "where the layers come from (paper, code)"     # required
    description = "which layers are listed and what was left out"
    batch = 8            # N of conv2d and linear entries (--mb overrides); absent: --mb is refused
    real_batch = 256     # the batch the network really trains at (informative)

    [[conv2d]]           # NCHW input (batch, c, h, w), k output channels, square kernel
    name = "conv1"; c = 3; h = 224; w = 224; k = 64; kernel = 7; stride = 2; padding = 3
    count = 1            # how often the layer occurs in the network (default 1)
    compute_dx = false   # a first layer needs no input gradient (default true)

    [[linear]]           # x (batch, in) -> (batch, out)
    name = "fc1"; in = 784; out = 512; compute_dx = false

    [[gemm]]             # C (m, n) = op(A) (m, k) . op(B) (k, n)
    m = 1760; n = 16; k = 1760; trans_a = false; trans_b = false

`load()` validates every field and raises NetworkError with one line naming the file and entry.
"""

import os
import tomllib
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("conv2d", "linear", "gemm")


class NetworkError(ValueError):
    """An unknown network name, an unreadable file or a bad entry (the CLI exits 2 with it)."""


@dataclass
class Network:
    name: str
    source: str
    description: str
    path: str
    batch: int = None          # None: the network's entries have no batch dimension (--mb refused)
    real_batch: int = None
    entries: list = field(default_factory=list)  # [(kind, {field: value})] in file order

    def with_batch(self, mb):
        """Entries with the batch applied: mb (--mb) if given, else the network's own."""
        if mb is not None and self.batch is None:
            raise NetworkError(f"--mb: network {self.name} has no batch dimension (its entries fix every size)")
        n = mb if mb is not None else self.batch
        out = []
        for kind, e in self.entries:
            e = dict(e)
            if kind in ("conv2d", "linear"):
                e["batch"] = n
            out.append((kind, e))
        return out


def names():
    """Built-in network names (file stems in this directory), sorted."""
    return sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".toml"))


def resolve(name_or_path):
    """The file of a built-in name, or the path itself if it exists."""
    if os.sep in name_or_path or name_or_path.endswith((".toml", ".json")) or os.path.exists(name_or_path):
        if not os.path.isfile(name_or_path):
            raise NetworkError(f"--network: no such file {name_or_path!r}")
        return name_or_path
    path = os.path.join(HERE, name_or_path + ".toml")
    if not os.path.isfile(path):
        raise NetworkError(f"--network: unknown network {name_or_path!r}; built in: {', '.join(names())} "
                             "(or a path to a .toml/.json file)")
    return path


_FIELDS = {  # kind: {field: (type, required, default)}
    "conv2d": {"name": (str, False, ""), "c": (int, True, None), "h": (int, True, None), "w": (int, True, None),
               "k": (int, True, None), "kernel": (int, True, None), "stride": (int, False, 1),
               "padding": (int, False, 0), "count": (int, False, 1), "compute_dx": (bool, False, True)},
    "linear": {"name": (str, False, ""), "in": (int, True, None), "out": (int, True, None),
               "count": (int, False, 1), "compute_dx": (bool, False, True)},
    "gemm": {"name": (str, False, ""), "m": (int, True, None), "n": (int, True, None), "k": (int, True, None),
             "trans_a": (bool, False, False), "trans_b": (bool, False, False), "count": (int, False, 1)},
}


def _entry(path, kind, i, raw):
    where = f"{os.path.basename(path)}: {kind}[{i}]"
    if not isinstance(raw, dict):
        raise NetworkError(f"{where}: expected a table, got {type(raw).__name__}")
    spec = _FIELDS[kind]
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise NetworkError(f"{where}: unknown field(s) {', '.join(unknown)}; expected {', '.join(spec)}")
    e = {}
    for f, (typ, required, default) in spec.items():
        if f not in raw:
            if required:
                raise NetworkError(f"{where}: missing field {f!r}")
            e[f] = default
            continue
        v = raw[f]
        ok = isinstance(v, typ) and (typ is not int or not isinstance(v, bool))
        if not ok:
            raise NetworkError(f"{where}: {f}: expected {typ.__name__}, got {v!r}")
        if typ is int and (v < (0 if f == "padding" else 1)):
            raise NetworkError(f"{where}: {f}: expected {'>= 0' if f == 'padding' else 'a positive int'}, got {v}")
        e[f] = v
    if kind == "conv2d":
        for side in ("h", "w"):
            if e[side] + 2 * e["padding"] < e["kernel"]:
                raise NetworkError(f"{where}: {side}: expected >= kernel - 2*padding = "
                                     f"{e['kernel'] - 2 * e['padding']}, got {e[side]}")
    return e


def load(name_or_path):
    """Parse and validate a network (built-in name or file path) -> Network."""
    path = resolve(name_or_path)
    try:
        if path.endswith(".json"):
            import json  # noqa: PLC0415

            with open(path) as f:
                d = json.load(f)
        else:
            with open(path, "rb") as f:
                d = tomllib.load(f)
    except (OSError, ValueError) as e:
        raise NetworkError(f"--network: cannot read {path}: {e}") from None
    base = os.path.basename(path)
    if not isinstance(d, dict):
        raise NetworkError(f"{base}: expected a table at the top level")
    src = d.get("source")
    if not isinstance(src, str) or not src.strip():
        raise NetworkError(f"{base}: missing 'source' (say where the layers come from)")
    batch = d.get("batch")
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise NetworkError(f"{base}: batch: expected a positive int, got {batch!r}")
    entries = []
    for kind in KINDS:
        items = d.get(kind, [])
        if not isinstance(items, list):
            raise NetworkError(f"{base}: {kind}: expected an array of tables")
        entries += [(kind, _entry(path, kind, i, raw)) for i, raw in enumerate(items)]
    unknown = sorted(k for k, v in d.items() if isinstance(v, list) and k not in KINDS)
    if unknown:
        raise NetworkError(f"{base}: unknown entry kind(s) {', '.join(unknown)}; expected {', '.join(KINDS)}")
    if not entries:
        raise NetworkError(f"{base}: no entries (expected [[conv2d]], [[linear]] or [[gemm]] tables)")
    if batch is None and any(k in ("conv2d", "linear") for k, _ in entries):
        raise NetworkError(f"{base}: conv2d/linear entries need a top-level 'batch'")
    return Network(name=str(d.get("name") or os.path.splitext(base)[0]), source=" ".join(src.split()),
                   description=" ".join(str(d.get("description", "")).split()), path=path, batch=batch,
                   real_batch=d.get("real_batch"), entries=entries)
