"""The runs and the comparisons of the pitfalls experiment (pybench.experiments.pitfalls).

A *variant* is one named training configuration: a family's Config fields (``FAMILIES``) plus its
own changes. A *comparison* is one line of the table: a bad variant against a fixed one, judged by
one metric. A side of a comparison is a variant name or a ``Tuned`` choice: the variant with the
highest median best validation accuracy among the values of its grid that were run (how a
practitioner picks a learning rate, never the test set). Variants are shared: the base run
``momentum lr=0.03`` is the "fixed" side of several pitfalls and runs once.

A Tuned choice whose best value sits on an edge of its grid is extended: its values beyond the
grid, one step further along its ``ladder``, are variants too (``variant_config`` makes them on
demand, e.g. "adam lr=0.03"), run by ``pybench run`` (pybench.experiments._grid).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from . import _grid

# ---- families: what the runs of one group have in common ------------------------------------------

# The main family: a 2x128 ReLU MLP on standardized MNIST-1D, He init, SGD with momentum 0.9 at
# lr 0.03 (the middle of its tuning grid), batch 32, cross-entropy. Budget: BUDGETS.
MAIN = {
    "dataset": "mnist1d", "model": "mlp", "depth": 2, "width": 128, "activation": "relu", "init": "he_normal",
    "norm": None, "dropout": 0.0, "last_activation": None, "loss": "cross_entropy", "normalize": "standard",
    "optimizer": "sgd", "lr": 0.03, "momentum": 0.9, "batch_size": 32, "diagnostics": True, "diag_batch": 256,
}
BASE_LR = 0.03
# The small family: a training set a 256-wide MLP memorizes, and a validation set that resolves what
# early stopping and tuning select on (one of 520 signals is 0.19 pp; the binomial SE at 35% accuracy
# about 2 pp, against 4.4 pp on the 120 it had). Both are carved from one generated pool of 1000.
SMALL_TRAIN, SMALL_VAL = 480, 520
FAMILIES = {
    "main": {},
    # a deeper MLP for the initialization pitfall
    "deep": {"depth": 8},
    "small": {"n_train": SMALL_TRAIN + SMALL_VAL, "val_fraction": SMALL_VAL / (SMALL_TRAIN + SMALL_VAL), "width": 256},
}
# Per family and mode: the budget (epochs; evaluation once per epoch). The batch-size pitfall
# compares batch sizes at the same number of epochs.
BUDGETS = {
    "main": {"quick": {"epochs": 4}, "full": {"epochs": 20}},
    "deep": {"quick": {"epochs": 4}, "full": {"epochs": 20}},
    "small": {"quick": {"epochs": 60}, "full": {"epochs": 150}},
}
# Early stopping watches validation accuracy, the experiments' selection metric: on this family the
# validation loss bottoms out at epoch 2-4 (growing overconfidence) while accuracy still rises, so
# stopping on it restored underfit weights. A gain of under 3 of the 520 validation signals is a tie.
EARLY_STOP = {"early_stop_on": "val_acc", "min_delta": 0.005}
PATIENCE = {"quick": 5, "full": 10}     # evaluations (epochs) without such a gain before stopping

# ---- tuning grids (learning rate per optimizer / loss; regularization strength) ------------------

OPTIMIZERS = {  # name -> Config fields (plain SGD has no momentum; the adaptive ones none either)
    "sgd": {"optimizer": "sgd", "momentum": 0.0},
    "momentum": {"optimizer": "sgd", "momentum": 0.9},
    "adagrad": {"optimizer": "adagrad", "momentum": 0.0},
    "rmsprop": {"optimizer": "rmsprop", "momentum": 0.0},
    "adam": {"optimizer": "adam", "momentum": 0.0},
}
LR_GRIDS = {
    "quick": {"sgd": [0.1, 0.3, 1.0], "momentum": [0.01, 0.03, 0.1], "adagrad": [0.01, 0.03, 0.1],
              "rmsprop": [1e-4, 3e-4, 1e-3], "adam": [1e-3, 3e-3, 1e-2], "mse": [0.01, 0.03, 0.1],
              "batch1024": [0.03, 0.1, 0.3]},
    "full": {"sgd": [0.03, 0.1, 0.3, 1.0], "momentum": [0.003, 0.01, 0.03, 0.1], "adagrad": [0.003, 0.01, 0.03, 0.1],
             "rmsprop": [3e-5, 1e-4, 3e-4, 1e-3], "adam": [3e-4, 1e-3, 3e-3, 1e-2], "mse": [0.01, 0.03, 0.1, 0.3],
             # batch 1024 at its own LR: the batch-32 LR 0.03 up to its linear scaling (x 1024/32 = 0.96)
             "batch1024": [0.03, 0.1, 0.3, 0.96]},
}
REG_GRIDS = {
    "quick": {"dropout": [0.3], "weight_decay": [0.01]},
    "full": {"dropout": [0.2, 0.3, 0.5], "weight_decay": [0.001, 0.01, 0.03]},
}
# the steps an extension takes beyond a grid's edge: learning rates and weight decay continue their
# 1-3-10 grids (a half-decade ratio); dropout p < 1 steps 0.5 -> 0.7 -> 0.8 -> 0.9 and stops there
LR_LADDER = _grid.half_decades(-7, 2)
WD_LADDER = _grid.half_decades(-6, 0)
DROPOUT_LADDER = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9)
LR_TOO_HIGH, LR_TOO_LOW = 1.0, 1e-4     # about 30x above / 300x below the base lr
DEAD_LR = 0.3                           # 10x the base lr: high enough to kill ReLUs here
BIG_BATCH = 1024
TOO_DEEP = 16


def _g(v):
    return f"{v:g}"


def lr_name(opt, lr):
    return f"{opt} lr={_g(lr)}"


def big_batch_name(lr):
    """"batch 1024" at the batch-32 LR (the name its records had before it got a grid), else with its lr."""
    return f"batch {BIG_BATCH}" + ("" if lr == BASE_LR else f" lr={_g(lr)}")


def mse_name(lr, relu_out=False):
    return f"mse{' relu-out' if relu_out else ''} lr={_g(lr)}"


def dropout_name(p):
    return f"small dropout={_g(p)}"


def wd_name(wd):
    return f"small wd={_g(wd)}"


# ---- tuned choices ---------------------------------------------------------------------------------

@dataclass
class Tuned:
    """A tuned choice: of its values that were run, the one with the highest median best validation
    accuracy. Its values are variants named ``name(value)`` with Config fields ``fields(value)`` in
    ``family``; ``grids`` are the values each mode's sweep runs, ``ladder`` every value it may take
    (ascending): an extension beyond a grid's edge takes the next ladder value."""
    what: str                 # the table's word, e.g. "lr", "dropout"
    label: str                # which knob, in notes and progress lines, e.g. "adam lr"
    family: str
    name: Callable
    fields: Callable
    grids: dict
    ladder: tuple

    def base(self, mode):
        """The grid of ``mode`` (None: the union of the quick and full grids), ascending."""
        if mode in self.grids:
            return sorted(set(self.grids[mode]))
        return sorted(set(self.grids["quick"]) | set(self.grids["full"]))

    @property
    def candidates(self):
        """The variant names of its quick and full grids."""
        return [self.name(v) for v in self.base(None)]

    def values_run(self, run, mode=None):
        """{value: variant name} of its values among the names ``run``: those within the range of
        the mode's grid, and beyond each edge the ladder values run one after the other (extensions
        are contiguous: a value further out, run for another reason, e.g. "momentum lr=1", the lr
        far too high, joins only once the values between were run)."""
        base = self.base(mode)
        values = {v for v in set(base) | set(self.ladder) if base[0] <= v <= base[-1] and self.name(v) in run}
        for side, edge in (("high", base[-1]), ("low", base[0])):
            for _ in range(_grid.MAX_ROUNDS):
                edge = _grid.ladder_step(self.ladder, edge, side)
                if edge is None or self.name(edge) not in run:
                    break
                values.add(edge)
        return {v: self.name(v) for v in sorted(values)}


def _lr_tuned(opt):
    return Tuned("lr", f"{opt} lr", "main", lambda lr: lr_name(opt, lr), lambda lr: {**OPTIMIZERS[opt], "lr": lr},
                 {m: LR_GRIDS[m][opt] for m in ("quick", "full")}, LR_LADDER)


def _mse_tuned(relu_out):
    return Tuned("lr", f"mse{' relu-out' if relu_out else ''} lr", "main", lambda lr: mse_name(lr, relu_out),
                 lambda lr: {"loss": "mse", "lr": lr, "last_activation": "relu" if relu_out else None},
                 {m: LR_GRIDS[m]["mse"] for m in ("quick", "full")}, LR_LADDER)


TUNED = {
    **{opt: _lr_tuned(opt) for opt in OPTIMIZERS},
    # batch 1024's own LR grid extends like the others; its ladder has the linear-scaling 0.96 (the
    # grid's top) in place of 1, so a step beyond it is a half-decade step (to 3), not a 4% one
    "batch1024": Tuned("lr", f"batch {BIG_BATCH} lr", "main", big_batch_name,
                       lambda lr: {"batch_size": BIG_BATCH, "lr": lr},
                       {m: LR_GRIDS[m]["batch1024"] for m in ("quick", "full")},
                       tuple(sorted((set(LR_LADDER) - {1.0}) | {0.96}))),
    "mse": _mse_tuned(False),
    "mse relu-out": _mse_tuned(True),
    "dropout": Tuned("dropout", "dropout", "small", dropout_name, lambda p: {"dropout": p},
                     {m: REG_GRIDS[m]["dropout"] for m in ("quick", "full")}, DROPOUT_LADDER),
    "weight decay": Tuned("weight decay", "weight decay", "small", wd_name, lambda wd: {"weight_decay": wd},
                          {m: REG_GRIDS[m]["weight_decay"] for m in ("quick", "full")}, WD_LADDER),
}
# every value a Tuned may take, by variant name (the grids' own values are also in VARIANTS)
TUNED_VALUES = {t.name(v): (t, v) for t in TUNED.values() for v in sorted(set(t.ladder) | set(t.base(None)))}


# ---- the variants --------------------------------------------------------------------------------

@dataclass
class Variant:
    name: str
    family: str
    fields: dict            # Config fields on top of MAIN + FAMILIES[family] (+ the family budget)
    modes: tuple = ("quick", "full")   # the modes whose default sweep runs it


def _variants():
    out = []

    def add(name, family, fields, modes=("quick", "full")):
        out.append(Variant(name, family, fields, tuple(modes)))

    def add_tuned(t):
        for v in t.base(None):
            add(t.name(v), t.family, t.fields(v), [m for m in ("quick", "full") if v in t.grids[m]])

    for opt in OPTIMIZERS:
        add_tuned(TUNED[opt])
    add(lr_name("momentum", LR_TOO_HIGH), "main", {"lr": LR_TOO_HIGH})
    add(lr_name("momentum", LR_TOO_LOW), "main", {"lr": LR_TOO_LOW})
    add("raw inputs 0-255", "main", {"normalize": "raw"})
    add_tuned(TUNED["batch1024"])
    for act in ("relu", "leaky_relu", "elu"):
        add(f"{act} lr={_g(DEAD_LR)}", "main", {"activation": act, "lr": DEAD_LR})
    add_tuned(TUNED["mse"])
    add_tuned(TUNED["mse relu-out"])
    for init in ("zeros", "normal(0.01)", "he_normal", "xavier_normal"):
        add(f"depth 8 init={init}", "deep", {"init": init})
    add(f"depth {TOO_DEEP}", "main", {"depth": TOO_DEEP})
    add(f"depth {TOO_DEEP} + BatchNorm", "main", {"depth": TOO_DEEP, "norm": "batch"})
    add("small no regularization", "small", {})
    add_tuned(TUNED["dropout"])
    add_tuned(TUNED["weight decay"])
    add("small early stopping", "small", {"patience": None, **EARLY_STOP})   # patience: PATIENCE[mode]
    return out


VARIANTS = {v.name: v for v in _variants()}


def variant_names(mode):
    return [v.name for v in VARIANTS.values() if mode in v.modes]


def variant_config(name, mode):
    """Config fields of variant ``name`` in ``mode`` (its family, its family's budget, its own fields);
    ``name`` is a variant of VARIANTS or any value of a Tuned choice's ladder (an extension)."""
    if name in VARIANTS:
        family, fields = VARIANTS[name].family, VARIANTS[name].fields
    elif name in TUNED_VALUES:
        t, value = TUNED_VALUES[name]
        family, fields = t.family, t.fields(value)
    else:
        raise ValueError(f"pitfalls: unknown variant {name!r}: expected one of {', '.join(map(repr, VARIANTS))}, "
                         "or a tuned value beyond its grid, e.g. 'adam lr=0.03'")
    cfg = {**FAMILIES[family], **BUDGETS[family][mode], **fields}
    if name == "small early stopping":
        cfg["patience"] = PATIENCE[mode]
    return cfg


# ---- the comparisons -----------------------------------------------------------------------------

# metric -> (record path, higher is better, threshold for "shown", kind). Test accuracy is read at the
# best-validation-accuracy checkpoint, the metric that picks a Tuned side; FINAL_PATH: the final
# step's, for records written before pybench.train kept that checkpoint (then on both sides).
METRICS = {
    "test acc": ("selected.test.acc", True, 0.02, "pct"),
    "train-test gap": ("gap", False, 0.02, "pct"),
    "test loss": ("test.loss", False, 0.05, "num"),
}


FINAL_PATH = {"selected.test.acc": "test.acc"}


@dataclass
class Comparison:
    pitfall: str              # the table's first column
    label: str                # short name for the plot's x axis
    bad: object               # a variant name or Tuned
    fixed: object
    metric: str = "test acc"  # a METRICS key
    details: list = field(default_factory=lambda: ["test_acc"])   # extra facts shown: keys of DETAIL_KEYS
    bad_text: str = "{v}"
    fixed_text: str = "{v}"
    untuned: str = ""         # a note for when the bad side's grid ran one candidate only ({v}: its name)


def _lrs(opt):
    return TUNED[opt]


def _big_batch():
    return TUNED["batch1024"]


def _mse(relu_out):
    return TUNED["mse relu-out" if relu_out else "mse"]


BASE = lr_name("momentum", BASE_LR)
DROPOUT = TUNED["dropout"]
WEIGHT_DECAY = TUNED["weight decay"]

COMPARISONS = [
    Comparison("inputs not normalized", "raw inputs", "raw inputs 0-255", BASE, details=["dead"],
               fixed_text="standardized ({v})"),
    Comparison("learning rate far too high", "lr too high", lr_name("momentum", LR_TOO_HIGH), _lrs("momentum"),
               details=["dead"], fixed_text="tuned: {v}"),
    Comparison("learning rate far too low", "lr too low", lr_name("momentum", LR_TOO_LOW), _lrs("momentum"),
               details=[], fixed_text="tuned: {v}"),
    Comparison("ReLU on the output (MSE, one-hot targets)", "ReLU output", _mse(True), _mse(False), details=[],
               bad_text="ReLU output: {v}", fixed_text="linear output: {v}"),
    Comparison("dead ReLUs at a high learning rate", "dead ReLU: leaky", f"relu lr={_g(DEAD_LR)}",
               f"leaky_relu lr={_g(DEAD_LR)}", details=["dead"]),
    Comparison("dead ReLUs at a high learning rate", "dead ReLU: ELU", f"relu lr={_g(DEAD_LR)}",
               f"elu lr={_g(DEAD_LR)}", details=["dead"]),
    Comparison("zero initialization (deep MLP)", "zeros vs He", "depth 8 init=zeros", "depth 8 init=he_normal",
               details=["dead"]),
    Comparison("zero initialization (deep MLP)", "zeros vs Xavier", "depth 8 init=zeros", "depth 8 init=xavier_normal",
               details=["dead"]),
    Comparison("tiny init, std 0.01 (deep MLP)", "N(0,.01) vs He", "depth 8 init=normal(0.01)", "depth 8 init=he_normal",
               details=["dead"]),
    Comparison("tiny init, std 0.01 (deep MLP)", "N(0,.01) vs Xavier", "depth 8 init=normal(0.01)",
               "depth 8 init=xavier_normal", details=["dead"]),
    Comparison("too deep without BatchNorm", "deep, no BN", f"depth {TOO_DEEP}", f"depth {TOO_DEEP} + BatchNorm",
               details=["dead"]),
    Comparison("batch too large at a fixed epoch budget", "batch too large", _big_batch(), _lrs("momentum"),
               details=["steps"], fixed_text="batch 32, tuned: {v}",
               untuned=(f"batch too large: {{v}} ran at the batch-32 LR only ({BASE_LR:g}; its own LR grid was not "
                        f"run): {BIG_BATCH // MAIN['batch_size']}x fewer steps at an LR not re-tuned for the larger "
                        "batch, so the effect overstates what the batch size alone costs.")),
    Comparison("no regularization on a small training set", "no reg vs dropout", "small no regularization", DROPOUT,
               metric="train-test gap", details=["test_acc"]),
    Comparison("no regularization on a small training set", "no reg vs WD", "small no regularization", WEIGHT_DECAY,
               metric="train-test gap", details=["test_acc"]),
    Comparison("no early stopping", "early stopping", "small no regularization", "small early stopping",
               metric="test loss", details=["test_acc", "steps"],
               fixed_text="{v} (patience {p} on {on}, min_delta {min_delta:g})"),
    Comparison("MSE loss for classification", "MSE vs CE", _mse(False), _lrs("momentum"), details=[],
               bad_text="MSE: {v}", fixed_text="cross-entropy: {v}"),
    Comparison("plain SGD", "SGD vs momentum", _lrs("sgd"), _lrs("momentum"), details=[]),
    Comparison("plain SGD", "SGD vs AdaGrad", _lrs("sgd"), _lrs("adagrad"), details=[]),
    Comparison("plain SGD", "SGD vs RMSprop", _lrs("sgd"), _lrs("rmsprop"), details=[]),
    Comparison("plain SGD", "SGD vs Adam", _lrs("sgd"), _lrs("adam"), details=[]),
]

# curve plots: file -> (title, x key, metric, variants or Tuned choices)
CURVES = {
    "curves_inputs_lr.png": ("inputs and learning rate: validation loss", "step", "val_loss",
                             ["raw inputs 0-255", BASE, lr_name("momentum", LR_TOO_HIGH), lr_name("momentum", LR_TOO_LOW)]),
    "curves_init_depth.png": ("initialization and depth: validation loss", "step", "val_loss",
                              ["depth 8 init=zeros", "depth 8 init=normal(0.01)", "depth 8 init=he_normal",
                               "depth 8 init=xavier_normal", f"depth {TOO_DEEP}", f"depth {TOO_DEEP} + BatchNorm"]),
    "curves_regularization.png": ("small training set: validation loss", "epoch", "val_loss",
                                  ["small no regularization", DROPOUT, WEIGHT_DECAY, "small early stopping"]),
    "curves_optimizers.png": ("optimizers at their tuned lr: validation accuracy", "step", "val_acc",
                              [_lrs(o) for o in OPTIMIZERS]),
}
