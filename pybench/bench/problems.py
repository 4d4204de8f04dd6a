"""What `pybench bench` measures: the default problems, per op, each with its oracle and peers.

A Problem describes one row (op, shape, work in FLOPs or bytes). Building it gives a Case: the
inputs, our call into preallocated outputs (`ours(impl)`), the same problem through NumPy and
PyTorch (`peer(name)`), and `check(outputs)` against `pybench.reference` on those actual inputs.

This module is the registry: which problems an --op name, --quick or a --network gives, in
table order. The types are in problem_core.py, the cases in cases_compute.py (gemm, linear,
conv2d) and cases_memory.py (copy, activations, dropout, batch_norm).

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

ELEMS_FULL = 1 << 26          # 64M float32 elements for the memory-bound ops (256 MiB per array)
ROW_LEN = 1024                 # activations / softmax / dropout run on (ELEMS // ROW_LEN, ROW_LEN)
QUICK_ROWS, QUICK_COLS = 256, 1000  # --quick: 256 000 elements, rows not a multiple of 16


# ----------------------------------------------------------------------------------------------
# the problem sets
# ----------------------------------------------------------------------------------------------

OPS = ("copy", "gemm", "linear", "conv2d", "batch_norm", *ACT_OPS, "dropout")
GROUPS = {"activations": ACT_OPS}
MEMORY_OPS = ("copy", "batch_norm", *ACT_OPS, "dropout")

GEMM_SIZES = (512, 1024, 2048)
LINEAR_SIZES = ((128, 784, 512), (128, 512, 512), (1024, 1024, 1024))
CONV_SHAPES = (  # (N, C, O, H=W, k, pad)
    (64, 3, 32, 32, 3, 1), (64, 32, 64, 16, 3, 1), (64, 64, 128, 8, 3, 1), (32, 64, 64, 56, 3, 1),
    (32, 256, 64, 56, 1, 0))
BN_SHAPE = (64, 64, 128, 128)  # 64M elements

QUICK_GEMM = (128,)
QUICK_LINEAR = ((32, 64, 48),)
QUICK_CONV = ((2, 3, 8, 16, 3, 1), (2, 16, 8, 8, 1, 0))
QUICK_BN = (4, 8, 32, 32)


def problems_for(op, quick=False):
    """The problems of one --op name, in table order."""
    rows, cols = (QUICK_ROWS, QUICK_COLS) if quick else (ELEMS_FULL // ROW_LEN, ROW_LEN)
    if op == "copy":
        return [copy_problem(rows, cols)]
    if op == "gemm":
        return [gemm_problem(n) for n in (QUICK_GEMM if quick else GEMM_SIZES)]
    if op == "linear":
        return [linear_problem(*s) for s in (QUICK_LINEAR if quick else LINEAR_SIZES)]
    if op == "conv2d":
        return [conv_problem(*s) for s in (QUICK_CONV if quick else CONV_SHAPES)]
    if op == "batch_norm":
        shape = QUICK_BN if quick else BN_SHAPE
        return [batch_norm_problem(shape, False), batch_norm_problem(shape, True)]
    if op == "dropout":
        return [dropout_problem(rows, cols)]
    acts = [a for a in ACTS if a.op == op]
    if acts:
        return [act_problem(a, bwd, rows, cols) for a in acts for bwd in (False, True)]
    raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")


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
