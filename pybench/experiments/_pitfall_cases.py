"""The runs and the comparisons of the pitfalls experiment (pybench.experiments.pitfalls).

A *variant* is one named training configuration: a family's Config fields (``FAMILIES``) plus its
own changes. A *comparison* is one line of the table: a bad variant against a fixed one, judged by
one metric. A side of a comparison is a variant name or a ``Tuned`` choice: the variant with the
highest median best validation accuracy among the named candidates that were run (how a
practitioner picks a learning rate, never the test set). Variants are shared: the base run
``momentum lr=0.03`` is the "fixed" side of several pitfalls and runs once.
"""

from dataclasses import dataclass, field

# ---- families: what the runs of one group have in common ------------------------------------------

# The main family: a 2x128 ReLU MLP on standardized MNIST-1D, He init, SGD with momentum 0.9 at
# lr 0.03 (the middle of its tuning grid), batch 32, cross-entropy. Budget: BUDGETS.
MAIN = {
    "dataset": "mnist1d", "model": "mlp", "depth": 2, "width": 128, "activation": "relu", "init": "he_normal",
    "norm": None, "dropout": 0.0, "last_activation": None, "loss": "cross_entropy", "normalize": "standard",
    "optimizer": "sgd", "lr": 0.03, "momentum": 0.9, "batch_size": 32, "diagnostics": True, "diag_batch": 256,
}
BASE_LR = 0.03
FAMILIES = {
    "main": {},
    # a deeper MLP for the initialization pitfall
    "deep": {"depth": 8},
    # a small training set (600 signals: 480 train, 120 validation) and a wider net that can memorize it
    "small": {"n_train": 600, "val_fraction": 0.2, "width": 256},
}
# Per family and mode: the budget (epochs; evaluation once per epoch). The batch-size pitfall
# compares batch sizes at the same number of epochs.
BUDGETS = {
    "main": {"quick": {"epochs": 4}, "full": {"epochs": 20}},
    "deep": {"quick": {"epochs": 4}, "full": {"epochs": 20}},
    "small": {"quick": {"epochs": 60}, "full": {"epochs": 150}},
}
PATIENCE = {"quick": 5, "full": 10}     # early stopping: evaluations (epochs) without a lower val loss

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

    grids = {m: LR_GRIDS[m] for m in ("quick", "full")}
    for opt in OPTIMIZERS:
        for lr in sorted(set(grids["quick"][opt]) | set(grids["full"][opt])):
            add(lr_name(opt, lr), "main", {**OPTIMIZERS[opt], "lr": lr},
                [m for m in ("quick", "full") if lr in grids[m][opt]])
    add(lr_name("momentum", LR_TOO_HIGH), "main", {"lr": LR_TOO_HIGH})
    add(lr_name("momentum", LR_TOO_LOW), "main", {"lr": LR_TOO_LOW})
    add("raw inputs 0-255", "main", {"normalize": "raw"})
    for lr in sorted(set(grids["quick"]["batch1024"]) | set(grids["full"]["batch1024"])):
        add(big_batch_name(lr), "main", {"batch_size": BIG_BATCH, "lr": lr},
            [m for m in ("quick", "full") if lr in grids[m]["batch1024"]])
    for act in ("relu", "leaky_relu", "elu"):
        add(f"{act} lr={_g(DEAD_LR)}", "main", {"activation": act, "lr": DEAD_LR})
    for relu_out in (False, True):
        for lr in sorted(set(grids["quick"]["mse"]) | set(grids["full"]["mse"])):
            add(mse_name(lr, relu_out), "main", {"loss": "mse", "lr": lr, "last_activation": "relu" if relu_out else None},
                [m for m in ("quick", "full") if lr in grids[m]["mse"]])
    for init in ("zeros", "normal(0.01)", "he_normal", "xavier_normal"):
        add(f"depth 8 init={init}", "deep", {"init": init})
    add(f"depth {TOO_DEEP}", "main", {"depth": TOO_DEEP})
    add(f"depth {TOO_DEEP} + BatchNorm", "main", {"depth": TOO_DEEP, "norm": "batch"})
    add("small no regularization", "small", {})
    for p in sorted(set(REG_GRIDS["quick"]["dropout"]) | set(REG_GRIDS["full"]["dropout"])):
        add(dropout_name(p), "small", {"dropout": p},
            [m for m in ("quick", "full") if p in REG_GRIDS[m]["dropout"]])
    for wd in sorted(set(REG_GRIDS["quick"]["weight_decay"]) | set(REG_GRIDS["full"]["weight_decay"])):
        add(wd_name(wd), "small", {"weight_decay": wd},
            [m for m in ("quick", "full") if wd in REG_GRIDS[m]["weight_decay"]])
    add("small early stopping", "small", {"patience": None})   # patience: PATIENCE[mode]
    return out


VARIANTS = {v.name: v for v in _variants()}


def variant_names(mode):
    return [v.name for v in VARIANTS.values() if mode in v.modes]


def variant_config(name, mode):
    """Config fields of variant ``name`` in ``mode`` (its family, its family's budget, its own fields)."""
    if name not in VARIANTS:
        raise ValueError(f"pitfalls: unknown variant {name!r}: expected one of {', '.join(map(repr, VARIANTS))}")
    v = VARIANTS[name]
    cfg = {**FAMILIES[v.family], **BUDGETS[v.family][mode], **v.fields}
    if name == "small early stopping":
        cfg["patience"] = PATIENCE[mode]
    return cfg


# ---- the comparisons -----------------------------------------------------------------------------

@dataclass
class Tuned:
    """The candidate (of those run) with the highest median best validation accuracy."""
    what: str                 # e.g. "lr", "dropout"
    candidates: list


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


def _grid(kind, key):
    """The union of the quick and full grids (a side's candidates: whichever of them were run)."""
    return sorted(set(kind["quick"][key]) | set(kind["full"][key]))


def _lrs(opt):
    return Tuned("lr", [lr_name(opt, lr) for lr in _grid(LR_GRIDS, opt)])


def _big_batch():
    return Tuned("lr", [big_batch_name(lr) for lr in _grid(LR_GRIDS, "batch1024")])


def _mse(relu_out):
    return Tuned("lr", [mse_name(lr, relu_out) for lr in _grid(LR_GRIDS, "mse")])


BASE = lr_name("momentum", BASE_LR)
DROPOUT = Tuned("dropout", [dropout_name(p) for p in _grid(REG_GRIDS, "dropout")])
WEIGHT_DECAY = Tuned("weight decay", [wd_name(w) for w in _grid(REG_GRIDS, "weight_decay")])

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
               metric="test loss", details=["test_acc", "steps"], fixed_text="{v} (patience {p})"),
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
