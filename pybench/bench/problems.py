"""The problem table: every problem of every op, declared once, with its sizes by class.

A Problem (problem_core.py) describes one row (op, label, sizes, work in FLOPs or bytes, peers).
Building it gives a Case: the inputs, our call into preallocated outputs (`ours(impl)`), the same
problem through NumPy and PyTorch (`peer(name)`), and `check(outputs)` against
`pybench.reference` on those actual inputs. The cases are in cases_compute.py (gemm, linear,
conv2d), cases_memory.py (copy, activations, dropout, batch_norm) and cases_train.py (pooling,
losses, optimizer steps).

Size classes (SIZE_CLASSES), one table for every mode:
- "full": `pybench bench` (and `--device cuda`); "quick": `pybench bench --quick`;
- "pytest": the pytest-benchmark suite (tests/bench);
- "gate": tiny, counted under valgrind by `pybench gate`, each with its stable gate name;
- "check": the smallest, for the tests' check of every problem (tests/test_problems.py).

Work counted:
- compute-bound ops count FLOPs (a multiply-add is 2), bias adds and bias-gradient sums included;
- memory-bound ops count the fewest bytes a single pass must move (each input read once, each
  output written once; float32 = 4 B). A kernel that reads an input twice (BatchNorm's statistics,
  then the normalization) still gets credit only for the minimum, so "fraction of copy bandwidth"
  is a fraction of what a perfect fused kernel could reach; BatchNorm's rows also carry the bytes
  a two-pass kernel moves (params["two_pass_work"] in --json).
"""

from .cases_compute import conv_problem, gemm_problem, linear_problem
from .cases_memory import ACT_OPS, ACTS, act_problem, batch_norm_problem, copy_problem, dropout_problem
from .cases_train import OPTIMS, loss_problem, optim_problem, pool_problem

ELEMS_FULL = 1 << 26          # 64M float32 elements for the memory-bound ops (256 MiB per array)
ROW_LEN = 1024                 # activations / softmax / dropout run on (ELEMS // ROW_LEN, ROW_LEN)
FULL = (ELEMS_FULL // ROW_LEN, ROW_LEN)
QUICK = (256, 1000)            # --quick: 256 000 elements, rows not a multiple of 16
PYTEST = (1024, 1024)
SIZE_CLASSES = ("full", "quick", "pytest", "gate", "check")

POOL_OPS = ("max_pool2d", "avg_pool2d", "global_avg_pool2d")
LOSS_OPS = ("cross_entropy", "mse", "huber", "bce_with_logits")
OPTIM_OPS = tuple(OPTIMS)
OPS = ("copy", "gemm", "linear", "conv2d", *POOL_OPS, "batch_norm", *ACT_OPS, "dropout", *LOSS_OPS, *OPTIM_OPS)
GROUPS = {"activations": ACT_OPS, "pooling": POOL_OPS, "losses": LOSS_OPS, "optimizers": OPTIM_OPS}
MEMORY_OPS = tuple(o for o in OPS if o not in ("gemm", "linear", "conv2d"))


def _fb(make):
    """Forward then backward: make(backward)."""
    return [make(False), make(True)]


def _gate_fb(name, make):
    """{'<name forward>/..': fwd, '<name backward>/..': bwd}: name holds '{d}' for the direction."""
    return {name.format(d=d): make(d == "backward") for d in ("forward", "backward")}


FWD, BWD = ("fwd",), ("bwd",)
F, Q, T, C = FULL, QUICK, PYTEST, (3, 50)

# op -> size class -> a function returning the problems (the gate's: {gate name: problem}), so the
# table costs nothing until a class is asked for.
TABLE = {
    "copy": {
        "full": lambda: [copy_problem(*F)], "quick": lambda: [copy_problem(*Q)], "pytest": lambda: [copy_problem(*T)],
        "check": lambda: [copy_problem(*C)], "gate": lambda: {"copy/262144": copy_problem(256, 1024)},
    },
    "gemm": {
        "full": lambda: [gemm_problem(n) for n in (512, 1024, 2048)],
        "quick": lambda: [gemm_problem(128)],
        "pytest": lambda: [gemm_problem(*s) for s in ((512,) * 3, (1024,) * 3, (1760, 128, 1760), (35, 2048, 2560))],
        "check": lambda: [gemm_problem(13, 7, 9), gemm_problem(5, 6, 7, True, True)],
        "gate": lambda: {"gemm/256x256x256": gemm_problem(256, 256, 256),
                         "gemm/200x160x300": gemm_problem(200, 160, 300)},
    },
    "linear": {  # (N, in, out)
        "full": lambda: [linear_problem(*s) for s in ((128, 784, 512), (128, 512, 512), (1024, 1024, 1024))],
        "quick": lambda: [linear_problem(32, 64, 48)],
        "pytest": lambda: [linear_problem(*s) for s in ((128, 784, 512), (128, 512, 512), (512, 1024, 1024))],
        "check": lambda: [linear_problem(5, 7, 3), linear_problem(5, 7, 3, compute_dx=False)],
        "gate": lambda: {"linear_forward/128x512->256": linear_problem(128, 512, 256, parts=FWD),
                         "linear_backward/128x512->256": linear_problem(128, 512, 256, parts=BWD)},
    },
    "conv2d": {  # (N, C, O, H=W, k, pad[, stride])
        "full": lambda: [conv_problem(*s) for s in ((64, 3, 32, 32, 3, 1), (64, 32, 64, 16, 3, 1),
                                                    (64, 64, 128, 8, 3, 1), (32, 64, 64, 56, 3, 1),
                                                    (32, 256, 64, 56, 1, 0))],
        "quick": lambda: [conv_problem(2, 3, 8, 16, 3, 1), conv_problem(2, 16, 8, 8, 1, 0)],
        "pytest": lambda: [conv_problem(*s) for s in ((8, 64, 64, 56, 3, 1, 1), (8, 256, 64, 56, 1, 0, 1),
                                                      (8, 128, 128, 28, 3, 1, 2), (32, 16, 32, 14, 3, 1, 1))],
        "check": lambda: [conv_problem(2, 3, 4, 7, 3, 1), conv_problem(2, 3, 4, 7, 3, 1, 2, compute_dx=False)],
        "gate": lambda: {
            f"conv2d_{d}/{name}": conv_problem(4, c, o, h, k, p, s, parts=BWD if d == "backward" else FWD)
            for name, (c, o, h, k, p, s) in (("3x3 32->32 4x16x16 (winograd)", (32, 32, 16, 3, 1, 1)),
                                             ("1x1 64->128 4x16x16", (64, 128, 16, 1, 0, 1)),
                                             ("3x3 s2 16->32 4x17x17 (im2col)", (16, 32, 17, 3, 1, 2)))
            for d in ("forward", "backward")},
    },
    "max_pool2d": {  # (shape, k, s, p)
        "full": lambda: _fb(lambda b: pool_problem("max", b, (32, 64, 112, 112), 3, 2, 1)),
        "quick": lambda: _fb(lambda b: pool_problem("max", b, (4, 8, 32, 32), 3, 2, 1)),
        "pytest": lambda: [p for s in (((32, 64, 56, 56), 3, 2, 1), ((64, 32, 28, 28), 2, 2, 0))
                           for p in _fb(lambda b: pool_problem("max", b, *s))],
        "check": lambda: _fb(lambda b: pool_problem("max", b, (2, 3, 7, 7), 3, 2, 1)),
        "gate": lambda: _gate_fb("max_pool2d_{d}/2x2 s2 8x32x32x32",
                                 lambda b: pool_problem("max", b, (8, 32, 32, 32), 2, 2)),
    },
    "avg_pool2d": {
        "full": lambda: _fb(lambda b: pool_problem("avg", b, (32, 64, 112, 112), 3, 2, 1)),
        "quick": lambda: _fb(lambda b: pool_problem("avg", b, (4, 8, 32, 32), 3, 2, 1)),
        "pytest": lambda: [p for s in (((32, 64, 56, 56), 3, 2, 1), ((64, 32, 28, 28), 2, 2, 0))
                           for p in _fb(lambda b: pool_problem("avg", b, *s))],
        "check": lambda: _fb(lambda b: pool_problem("avg", b, (2, 3, 7, 7), 3, 2, 1)),
        "gate": lambda: _gate_fb("avg_pool2d_{d}/3x3 s2 p1 8x32x32x32",
                                 lambda b: pool_problem("avg", b, (8, 32, 32, 32), 3, 2, 1)),
    },
    "global_avg_pool2d": {
        "full": lambda: _fb(lambda b: pool_problem("global_avg", b, (64, 2048, 7, 7))),
        "quick": lambda: _fb(lambda b: pool_problem("global_avg", b, (4, 64, 7, 7))),
        "pytest": lambda: _fb(lambda b: pool_problem("global_avg", b, (32, 512, 7, 7))),
        "check": lambda: _fb(lambda b: pool_problem("global_avg", b, (2, 3, 5, 5))),
        "gate": lambda: _gate_fb("global_avg_pool2d_{d}/8x64x8x8",
                                 lambda b: pool_problem("global_avg", b, (8, 64, 8, 8))),
    },
    "batch_norm": {
        "full": lambda: _fb(lambda b: batch_norm_problem((64, 64, 128, 128), b)),
        "quick": lambda: _fb(lambda b: batch_norm_problem((4, 8, 32, 32), b)),
        "pytest": lambda: [p for s in ((32, 64, 56, 56), (128, 512, 1, 1))
                           for p in _fb(lambda b: batch_norm_problem(s, b))],
        "check": lambda: _fb(lambda b: batch_norm_problem((3, 4, 5, 5), b)),
        "gate": lambda: _gate_fb("batch_norm_{d}/train 16x64x16x16",
                                 lambda b: batch_norm_problem((16, 64, 16, 16), b)),
    },
    **{op: {
        "full": lambda op=op: [p for b in (False, True) for p in _act(op, b, F)],
        "quick": lambda op=op: [p for b in (False, True) for p in _act(op, b, Q)],
        "pytest": lambda op=op: [p for b in (False, True) for p in _act(op, b, T)],
        "check": lambda op=op: [p for b in (False, True) for p in _act(op, b, C)],
        "gate": lambda op=op: _gate_acts(op),
    } for op in ACT_OPS},
    "dropout": {
        "full": lambda: [dropout_problem(*F)], "quick": lambda: [dropout_problem(*Q)],
        "pytest": lambda: [dropout_problem(1024, 1024), dropout_problem(4096, 1024)],
        "check": lambda: [dropout_problem(*C)],
        "gate": lambda: {"dropout_forward/262144 p=0.5": dropout_problem(256, 1024)},
    },
    **{op: {
        "full": lambda op=op: _fb(lambda b: loss_problem(op, b, (16384, 1024))),
        "quick": lambda op=op: _fb(lambda b: loss_problem(op, b, (256, 1000))),
        "pytest": lambda op=op: _fb(lambda b: loss_problem(op, b, PYTEST)),
        "check": lambda op=op: _fb(lambda b: loss_problem(op, b, C)),
        "gate": lambda op=op: _gate_fb(op + "_{d}/1024x100", lambda b: loss_problem(op, b, (1024, 100))),
    } for op in LOSS_OPS},
    **{op: {
        "full": lambda op=op: [optim_problem(op, 1 << 24)], "quick": lambda op=op: [optim_problem(op, 256000)],
        "pytest": lambda op=op: [optim_problem(op, n) for n in (1 << 20, 1 << 22)],
        "check": lambda op=op: [optim_problem(op, 150)],
        "gate": lambda op=op: {f"{op}_step/262144" + (" nesterov" if op == "sgd" else ""): optim_problem(op, 262144)},
    } for op in OPTIM_OPS},
}

# the gate's activations, each with its stable name (256 rows of 1024); one not listed: its forward
GATE_ACTS = {"relu": ("fwd", "bwd"), "leaky_relu": ("fwd",), "elu": ("fwd",), "gelu": ("fwd", "bwd tanh"),
             "sigmoid": ("fwd",), "tanh": ("fwd",), "silu": ("bwd",), "softplus": ("fwd",),
             "softmax": ("fwd", "bwd"), "log_softmax": ("fwd",)}


def _act(op, bwd, shape, variant=None):
    """Every variant of an activation (gelu: erf and tanh) unless `variant` picks one."""
    return [act_problem(a, bwd, *shape) for a in ACTS if a.op == op and variant in (None, a.variant)]


def _gate_acts(op):
    out = {}
    for label in GATE_ACTS.get(op, ("fwd",)):
        bwd, variant = label.startswith("bwd"), (label.split(" ") + [""])[1]
        softmax = op in ("softmax", "log_softmax")
        shape = (1024, 100) if softmax else (256, 1024)
        size = "1024x100" if softmax else "262144"
        p, = _act(op, bwd, shape, variant or ("erf" if op == "gelu" else ""))
        out[f"{op}_{'backward' if bwd else 'forward'}/{size}{' ' + variant if variant else ''}"] = p
    return out


def problems_for(op, quick=False, size=None):
    """The problems of one --op name, in table order, at a size class (default "full", or
    "quick" when `quick`); the gate's class gives each its name in `.gate`."""
    size = size or ("quick" if quick else "full")
    if op not in TABLE:
        raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")
    if size not in SIZE_CLASSES:
        raise ValueError(f"size class: expected one of {', '.join(SIZE_CLASSES)}, got {size!r}")
    probs = TABLE[op][size]()
    if size == "gate":
        for name, p in probs.items():
            p.gate = name
        probs = list(probs.values())
    return probs


def table(size, ops=OPS):
    """Every problem of the `ops` at one size class, in table order."""
    return [p for op in ops for p in problems_for(op, size=size)]


def expand_ops(names):
    """--op names (with groups like 'activations') -> op names in canonical order, unique."""
    wanted = set()
    for n in names:
        wanted.update(GROUPS.get(n, (n,)))
    unknown = sorted(wanted - set(OPS))
    if unknown:
        raise ValueError(f"unknown op(s) {', '.join(unknown)}; choose from {', '.join(OPS + tuple(GROUPS))}")
    return [o for o in OPS if o in wanted]


# ----------------------------------------------------------------------------------------------
# real networks' layers (--network)
# ----------------------------------------------------------------------------------------------

NETWORK_OPS = ("conv2d", "linear", "gemm")  # the entry kinds a network may hold


def problems_from_network(network, mb=None, ops=None):
    """Problems of a networks.Network in file order (conv2d, then linear, then gemm entries), the
    batch set to `mb` if given; `ops` (expanded --op names) keeps only those kinds."""
    probs = []
    for kind, e in network.with_batch(mb):
        if ops and kind not in ops:
            continue
        common = {"name": e["name"], "count": e["count"], "source": network.name}
        if kind == "conv2d":
            probs.append(conv_problem(e["batch"], e["c"], e["k"], e["h"], e["kernel"], e["padding"], e["stride"],
                                      e["w"], e["compute_dx"], **common))
        elif kind == "linear":
            probs.append(linear_problem(e["batch"], e["in"], e["out"], e["compute_dx"], **common))
        else:
            probs.append(gemm_problem(e["m"], e["n"], e["k"], e["trans_a"], e["trans_b"], **common))
    return probs
