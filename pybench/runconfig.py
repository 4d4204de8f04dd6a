"""``Config``: every knob of one training run, JSON-safe, validated, hashed into the run id.

``pybench.train.Config`` is this class. Build one with keywords or ``Config.from_dict(d)`` (which
names unknown keys); ``validate()`` checks types and ranges statically (what ``run`` rejects up
front with ValueError/TypeError before any work); ``run_id()`` is the first 12 hex digits of the
SHA-256 of the canonical JSON (sorted keys, every field, defaults included), so equal configs share
an id and any changed field gives a new one. ``device`` has been a field (default "cpu") since the
first stored records, so it is hashed like the others: a cpu config keeps its id, and the same
config on "cuda" gets another ("cuda" and "cuda:0" are the same device but spelled differently,
hence two ids).
"""

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from .arrays import parse_device

_INT, _FLOAT, _STR, _BOOL = "int", "float", "str", "bool"


@dataclass
class Config:
    # data (pybench.data.load)
    dataset: str = "mnist1d"
    resolution: int | None = None          # None: the dataset's default
    n_train: int | None = None             # None: the dataset's full training pool (validation is carved from it)
    n_test: int | None = None              # None: the dataset's full test set
    val_fraction: float = 0.1
    normalize: str = "standard"            # "standard" or "raw"
    data_seed: int = 0                     # splits and the per-epoch shuffling
    data_path: str | None = None           # IDX directory for "mnist" / "fashion_mnist"
    # model (pybench.nn.mlp / pybench.nn.cnn)
    model: str = "mlp"                     # "mlp" or "cnn"
    depth: int = 2
    width: int = 256
    activation: str | None = "relu"
    norm: str | None = None                # None or "batch" (for cnn too: no default BatchNorm here)
    dropout: float = 0.0
    init: str = "he_normal"
    last_activation: str | None = None
    head: str = "flatten"                  # cnn only: "flatten" or "gap"
    kernel_size: int = 3                   # cnn only
    stem_blocks: int = 0                   # cnn only: conv+pool blocks at `width` channels before the `depth` blocks
    # objective and optimizer (pybench.nn.loss / optim / schedule)
    loss: str = "cross_entropy"            # "cross_entropy", "mse", "huber", "bce"
    optimizer: str = "sgd"                 # "sgd", "adagrad", "rmsprop", "adam", "adamw"
    lr: float = 0.05
    momentum: float = 0.0                  # sgd and rmsprop
    nesterov: bool = False                 # sgd
    betas: list = field(default_factory=lambda: [0.9, 0.999])  # adam, adamw
    eps: float | None = None               # None: the optimizer's default
    weight_decay: float | None = None      # None: the optimizer's default (0; adamw 0.01)
    l1: float = 0.0
    l2: float = 0.0
    batch_size: int = 128
    lr_scaling: str = "none"               # "none", "linear", "sqrt": lr is tuned at base_batch_size
    base_batch_size: int = 128
    schedule: str = "constant"             # "constant", "step", "cosine"
    warmup_steps: int = 0
    step_size: int | None = None           # "step" schedule
    gamma: float = 0.1
    min_lr: float = 0.0                    # "cosine" floor
    clip_grad_norm: float | None = None    # None: no clipping
    # budget
    steps: int | None = None               # give steps or epochs; neither: 10 epochs
    epochs: int | None = None
    eval_every: int | None = None          # in steps; None: once per epoch
    patience: int | None = None            # evaluations without improvement of early_stop_on before stopping
    early_stop_on: str = "val_loss"        # "val_loss" or "val_acc": what patience watches (and restores)
    min_delta: float = 0.0                 # an improvement smaller than this does not count
    target_accuracy: float | None = None   # val accuracy in [0, 1]
    stop_at_target: bool = False
    # measurement
    seed: int = 0                          # model init and dropout streams
    dtype: str = "float32"
    threads: int | None = None             # None: keep the current native thread count
    diagnostics: bool = True
    diag_batch: int = 256
    noise_scale: bool = False
    noise_batches: int = 8                 # K small batches of batch_size; their mean is the big batch
    profile: bool = True
    device: str = "cpu"                    # "cpu", "cuda" or "cuda:<N>" (pybench.arrays; CUDA needs CuPy + a GPU)

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise TypeError(f"Config.from_dict: expected a dict, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"Config.from_dict: unknown keys {unknown}")
        return cls(**d)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d

    def canonical_json(self):
        d = {k: v for k, v in self.to_dict().items() if k not in _HASHED_WHEN_SET or v != _HASHED_WHEN_SET[k]}
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def run_id(self):
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]

    def budget(self):
        """("steps", n) or ("epochs", n)."""
        if self.steps is not None:
            return "steps", self.steps
        return "epochs", 10 if self.epochs is None else self.epochs

    def validate(self):
        """Check every field's type and range; normalizes ints given for floats (so 1 and 1.0
        hash alike). Raises TypeError/ValueError naming the field; returns self."""
        for f in dataclasses.fields(self):
            kind, optional, check = _RULES[f.name]
            v = getattr(self, f.name)
            if v is None:
                if not optional:
                    raise TypeError(f"Config: {f.name}: expected a {kind}, got None")
                continue
            v = _typed(f.name, kind, v)
            setattr(self, f.name, v)
            if check is not None and not check(v):
                raise ValueError(f"Config: {f.name}: expected {_RULE_TEXT[f.name]}, got {v!r}")
        if self.steps is not None and self.epochs is not None:
            raise ValueError(f"Config: steps/epochs: expected one of them, got steps={self.steps} and epochs={self.epochs}")
        if self.schedule == "step" and self.step_size is None:
            raise ValueError("Config: step_size: required by schedule 'step', got None")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("Config: nesterov: needs optimizer 'sgd' with momentum > 0, "
                             f"got optimizer={self.optimizer!r}, momentum={self.momentum}")
        if self.stop_at_target and self.target_accuracy is None:
            raise ValueError("Config: stop_at_target: needs target_accuracy, got None")
        return self


def _typed(name, kind, v):
    if kind == _BOOL:
        if not isinstance(v, bool):
            raise TypeError(f"Config: {name}: expected a bool, got {type(v).__name__}")
        return v
    if kind == _INT:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"Config: {name}: expected an int, got {type(v).__name__}")
        return v
    if kind == _FLOAT:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"Config: {name}: expected a number, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"Config: {name}: expected a finite number, got {v}")
        return float(v)
    if kind == _STR:
        if not isinstance(v, str):
            raise TypeError(f"Config: {name}: expected a str, got {type(v).__name__}")
        return v
    # "pair" (betas)
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise TypeError(f"Config: {name}: expected a pair of numbers, got {v!r}")
    return [_typed(name, _FLOAT, x) for x in v]


def _rule(kind, text=None, check=None, optional=False):
    return kind, optional, check, text


def _pos(v):
    return v >= 1


def _nonneg(v):
    return v >= 0


def _is_device(v):
    try:
        parse_device(v)
    except ValueError:
        return False
    return True


_SPEC = {
    "dataset": _rule(_STR), "resolution": _rule(_INT, "an int >= 1", _pos, True),
    "n_train": _rule(_INT, "an int >= 1", _pos, True), "n_test": _rule(_INT, "an int >= 1", _pos, True),
    "val_fraction": _rule(_FLOAT, "a float in [0, 1)", lambda v: 0 <= v < 1),
    "normalize": _rule(_STR, "'standard' or 'raw'", lambda v: v in ("standard", "raw")),
    "data_seed": _rule(_INT, "an int >= 0", _nonneg), "data_path": _rule(_STR, optional=True),
    "model": _rule(_STR, "'mlp' or 'cnn'", lambda v: v in ("mlp", "cnn")),
    "depth": _rule(_INT, "an int >= 0", _nonneg), "width": _rule(_INT, "an int >= 1", _pos),
    "activation": _rule(_STR, optional=True),
    "norm": _rule(_STR, "None or 'batch'", lambda v: v == "batch", True),
    "dropout": _rule(_FLOAT, "a float in [0, 1)", lambda v: 0 <= v < 1),
    "init": _rule(_STR), "last_activation": _rule(_STR, optional=True),
    "head": _rule(_STR, "'flatten' or 'gap'", lambda v: v in ("flatten", "gap")),
    "kernel_size": _rule(_INT, "an odd int >= 1", lambda v: v >= 1 and v % 2 == 1),
    "stem_blocks": _rule(_INT, "an int >= 0", _nonneg),
    "loss": _rule(_STR, "one of cross_entropy, mse, huber, bce", lambda v: v in ("cross_entropy", "mse", "huber", "bce")),
    "optimizer": _rule(_STR, "one of sgd, adagrad, rmsprop, adam, adamw",
                       lambda v: v in ("sgd", "adagrad", "rmsprop", "adam", "adamw")),
    "lr": _rule(_FLOAT, "a float >= 0", _nonneg), "momentum": _rule(_FLOAT, "a float >= 0", _nonneg),
    "nesterov": _rule(_BOOL), "betas": _rule("pair", "two floats in [0, 1)", lambda v: all(0 <= b < 1 for b in v)),
    "eps": _rule(_FLOAT, "a float >= 0", _nonneg, True),
    "weight_decay": _rule(_FLOAT, "a float >= 0", _nonneg, True),
    "l1": _rule(_FLOAT, "a float >= 0", _nonneg), "l2": _rule(_FLOAT, "a float >= 0", _nonneg),
    "batch_size": _rule(_INT, "an int >= 1", _pos),
    "lr_scaling": _rule(_STR, "'none', 'linear' or 'sqrt'", lambda v: v in ("none", "linear", "sqrt")),
    "base_batch_size": _rule(_INT, "an int >= 1", _pos),
    "schedule": _rule(_STR, "'constant', 'step' or 'cosine'", lambda v: v in ("constant", "step", "cosine")),
    "warmup_steps": _rule(_INT, "an int >= 0", _nonneg), "step_size": _rule(_INT, "an int >= 1", _pos, True),
    "gamma": _rule(_FLOAT, "a float >= 0", _nonneg), "min_lr": _rule(_FLOAT, "a float >= 0", _nonneg),
    "clip_grad_norm": _rule(_FLOAT, "a float > 0", lambda v: v > 0, True),
    "steps": _rule(_INT, "an int >= 1", _pos, True), "epochs": _rule(_INT, "an int >= 1", _pos, True),
    "eval_every": _rule(_INT, "an int >= 1", _pos, True), "patience": _rule(_INT, "an int >= 1", _pos, True),
    "target_accuracy": _rule(_FLOAT, "a float in [0, 1]", lambda v: 0 <= v <= 1, True),
    "stop_at_target": _rule(_BOOL),
    "early_stop_on": _rule(_STR, "'val_loss' or 'val_acc'", lambda v: v in ("val_loss", "val_acc")),
    "min_delta": _rule(_FLOAT, "a float >= 0", _nonneg),
    "seed": _rule(_INT, "an int >= 0", _nonneg),
    "dtype": _rule(_STR, "'float32' or 'float64'", lambda v: v in ("float32", "float64")),
    "threads": _rule(_INT, "an int >= 1", _pos, True),
    "diagnostics": _rule(_BOOL), "diag_batch": _rule(_INT, "an int >= 2", lambda v: v >= 2),
    "noise_scale": _rule(_BOOL), "noise_batches": _rule(_INT, "an int >= 2", lambda v: v >= 2),
    "profile": _rule(_BOOL), "device": _rule(_STR, "'cpu', 'cuda' or 'cuda:<N>'", _is_device),
}
# Fields added after runs were published: part of the run id only when they differ from their
# default, so the id of every config that does not use them stays what it was.
_HASHED_WHEN_SET = {"early_stop_on": "val_loss", "min_delta": 0.0, "stem_blocks": 0}
_RULES = {k: (kind, optional, check) for k, (kind, optional, check, _) in _SPEC.items()}
_RULE_TEXT = {k: text for k, (_, _, _, text) in _SPEC.items()}
assert set(_RULES) == {f.name for f in dataclasses.fields(Config)}, "every Config field needs a rule"
