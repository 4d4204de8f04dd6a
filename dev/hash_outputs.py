"""sha256 of every output of every native op, implementation, ISA level and float dtype.

A refactor of the dispatch must not change a single bit: run this before and after and compare.
Each level hashes the impls that run there (impls(op, dtype=...)) and what impl=None runs, under
the name "(default)"; --compare matches that with the default of the older file where it has no
"(default)" (the last of its impls(op): the default when every impl was listed everywhere).

    PYTHONPATH=. python dev/hash_outputs.py OUT.json           # write the hashes
    python dev/hash_outputs.py --compare BEFORE.json AFTER.json # list what differs

Inputs are fixed and seeded (a few shapes per op, odd sizes included). Each call's results are
hashed together with every input array after the call (the optimizers and batch norm update
arrays in place). One thread, so the figures do not depend on the machine's core count.
"""
import hashlib
import json
import re
import sys

import numpy as np

LEVELS = ("base", "avx2", "avx512")
DEFAULT = "(default)"


def _digest(obj, h):
    if obj is None:
        h.update(b"None")
    elif isinstance(obj, np.ndarray):
        h.update(str((obj.dtype.str, obj.shape)).encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, (tuple, list)):
        h.update(b"(")
        for o in obj:
            _digest(o, h)
        h.update(b")")
    elif isinstance(obj, dict):
        for k in sorted(obj):
            h.update(str(k).encode())
            _digest(obj[k], h)
    elif isinstance(obj, float):
        h.update(np.float64(obj).tobytes())
    else:
        h.update(repr(obj).encode())


def _hash(result, inputs):
    h = hashlib.sha256()
    _digest(result, h)
    _digest(inputs, h)
    return h.hexdigest()



def cases(dt):
    """(op, shape label, callable(impl, arrays) -> result, arrays maker) for float dtype dt."""
    from pybench import _native

    seed = [0]

    def rnd(*shape, scale=1.0, low=None):
        seed[0] += 1
        r = np.random.default_rng(seed[0])
        a = r.standard_normal(shape) * scale
        if low is not None:
            a = np.abs(a) + low
        return a.astype(dt)

    out = []

    def add(op, label, make, call):
        out.append((op, label, make, call))

    # ---- element-wise activations ----
    def add_act(name, variants):
        for vi, v in enumerate(variants):
            for shape in [(1,), (37,), (5, 131), (3, 7, 33)]:
                lab = f"{shape}-{vi}"
                add(f"{name}_forward", lab, (lambda s=shape: [rnd(*s, scale=4.0)]),
                    (lambda f, impl, a, v=v: f(a[0], impl=impl, **v)))
                add(f"{name}_backward", lab, (lambda s=shape: [rnd(*s), rnd(*s, scale=4.0)]),
                    (lambda f, impl, a, v=v: f(a[0], a[1], impl=impl, **v)))

    acts = {
        "relu": [{}], "sigmoid": [{}], "tanh": [{}], "silu": [{}],
        "leaky_relu": [{"negative_slope": 0.02}], "elu": [{"alpha": 0.7}],
        "gelu": [{"approximate": "none"}, {"approximate": "tanh"}],
        "softplus": [{"beta": 1.0, "threshold": 20.0}, {"beta": 2.5, "threshold": 3.0}],
    }
    for name, variants in acts.items():
        add_act(name, variants)
    for name in ("softmax", "log_softmax"):
        for shape in [(1,), (3, 17), (5, 129), (2, 3, 1000), (4, 4099)]:
            add(f"{name}_forward", str(shape), (lambda s=shape: [rnd(*s, scale=3.0)]),
                (lambda f, impl, a: f(a[0], impl=impl)))
            add(f"{name}_backward", str(shape),
                (lambda s=shape: [rnd(*s), np.exp(rnd(*s)) / 3]),
                (lambda f, impl, a: f(a[0], a[1], impl=impl)))

    # ---- losses ----
    for N, C in [(1, 3), (7, 10), (33, 129)]:
        def ce(N=N, C=C):
            seed[0] += 1
            return [rnd(N, C, scale=2.0), np.random.default_rng(seed[0]).integers(0, C, N).astype(np.int64)]
        add("cross_entropy_forward", f"{N}x{C}", ce, lambda f, impl, a: f(a[0], a[1], impl=impl))
        add("cross_entropy_backward", f"{N}x{C}", ce, lambda f, impl, a: f(a[0], a[1], grad=0.7, impl=impl))
    for shape in [(1,), (37,), (9, 131)]:
        pair = (lambda s=shape: [rnd(*s, scale=2.0), rnd(*s, scale=2.0)])
        bpair = (lambda s=shape: [rnd(*s, scale=2.0), (rnd(*s) > 0).astype(dt)])
        add("mse_forward", str(shape), pair, lambda f, impl, a: f(a[0], a[1], impl=impl))
        add("mse_backward", str(shape), pair, lambda f, impl, a: f(a[0], a[1], grad=0.3, impl=impl))
        add("huber_forward", str(shape), pair, lambda f, impl, a: f(a[0], a[1], 0.8, impl=impl))
        add("huber_backward", str(shape), pair, lambda f, impl, a: f(a[0], a[1], 0.8, grad=0.3, impl=impl))
        add("bce_with_logits_forward", str(shape), bpair, lambda f, impl, a: f(a[0], a[1], impl=impl))
        add("bce_with_logits_backward", str(shape), bpair, lambda f, impl, a: f(a[0], a[1], grad=0.3, impl=impl))

    # ---- optimizers (in place: the arrays after the call are hashed) ----
    for n in (1, 37, 1031):
        add("sgd_step", f"{n}-plain", (lambda n=n: [rnd(n), rnd(n)]),
            lambda f, impl, a: f(a[0], a[1], lr=0.1, weight_decay=0.01, impl=impl))
        add("sgd_step", f"{n}-nesterov", (lambda n=n: [rnd(n), rnd(n), rnd(n)]),
            lambda f, impl, a: f(a[0], a[1], a[2], lr=0.1, momentum=0.9, nesterov=True, step=3, impl=impl))
        add("adagrad_step", str(n), (lambda n=n: [rnd(n), rnd(n), rnd(n, low=0.1)]),
            lambda f, impl, a: f(a[0], a[1], a[2], step=2, lr=0.05, lr_decay=0.01, weight_decay=0.01, impl=impl))
        add("rmsprop_step", f"{n}-plain", (lambda n=n: [rnd(n), rnd(n), rnd(n, low=0.1)]),
            lambda f, impl, a: f(a[0], a[1], a[2], lr=0.01, impl=impl))
        add("rmsprop_step", f"{n}-full", (lambda n=n: [rnd(n), rnd(n), rnd(n, low=0.5), rnd(n), rnd(n, scale=0.1)]),
            lambda f, impl, a: f(a[0], a[1], a[2], a[3], a[4], lr=0.01, momentum=0.9, centered=True,
                                 weight_decay=0.01, impl=impl))
        for op in ("adam_step", "adamw_step"):
            add(op, str(n), (lambda n=n: [rnd(n), rnd(n), rnd(n), rnd(n, low=0.01)]),
                lambda f, impl, a: f(a[0], a[1], a[2], a[3], step=5, lr=0.01, weight_decay=0.02, impl=impl))

    # ---- dropout ----
    for shape in [(1,), (37,), (5, 1031)]:
        add("dropout_forward", f"{shape}-train", (lambda s=shape: [rnd(*s)]),
            lambda f, impl, a: f(a[0], 0.3, 1234, 17, True, impl=impl))
        add("dropout_forward", f"{shape}-eval", (lambda s=shape: [rnd(*s)]),
            lambda f, impl, a: f(a[0], 0.3, 1234, 17, False, impl=impl))
        add("dropout_backward", str(shape), (lambda s=shape: [rnd(*s)]),
            lambda f, impl, a: f(a[0], 0.3, 99, 5, impl=impl))
        add("dropout_mask", str(shape), (lambda: []),
            (lambda f, impl, a, s=shape: f(s, 0.3, 1234, 17, impl=impl)))

    # ---- copy ----
    for shape in [(1,), (37,), (7, 1031)]:
        add("copy", str(shape), (lambda s=shape: [rnd(*s)]), lambda f, impl, a: f(a[0], impl=impl))

    # ---- gemm / linear ----
    for M, N, K in [(1, 1, 1), (5, 7, 3), (33, 17, 65), (70, 129, 40)]:
        for ta in (False, True):
            for tb in (False, True):
                def mk(M=M, N=N, K=K, ta=ta, tb=tb):
                    return [rnd(*((K, M) if ta else (M, K))), rnd(*((N, K) if tb else (K, N))), rnd(M, N)]
                add("gemm", f"{M}x{N}x{K}-{ta}-{tb}", mk,
                    lambda f, impl, a, ta=ta, tb=tb: f(a[0], a[1], trans_a=ta, trans_b=tb, alpha=0.5, beta=0.25,
                                                       out=a[2], impl=impl))
        add("gemm", f"{M}x{N}x0", (lambda M=M, N=N: [rnd(M, 0), rnd(0, N), rnd(M, N)]),
            lambda f, impl, a: f(a[0], a[1], beta=0.5, out=a[2], impl=impl))
    for n, i, o in [(1, 3, 2), (7, 33, 17), (130, 65, 9), (3, 129, 257)]:
        add("linear_forward", f"{n}x{i}x{o}", (lambda n=n, i=i, o=o: [rnd(n, i), rnd(o, i), rnd(o)]),
            lambda f, impl, a: f(a[0], a[1], a[2], impl=impl))
        add("linear_forward", f"{n}x{i}x{o}-nobias", (lambda n=n, i=i, o=o: [rnd(n, i), rnd(o, i)]),
            lambda f, impl, a: f(a[0], a[1], impl=impl))
        add("linear_backward", f"{n}x{i}x{o}", (lambda n=n, i=i, o=o: [rnd(n, o), rnd(n, i), rnd(o, i)]),
            lambda f, impl, a: f(a[0], a[1], a[2], impl=impl))
        add("linear_backward", f"{n}x{i}x{o}-nodx", (lambda n=n, i=i, o=o: [rnd(n, o), rnd(n, i), rnd(o, i)]),
            lambda f, impl, a: f(a[0], a[1], a[2], bias=False, compute_dx=False, impl=impl))

    # ---- conv2d ----
    conv = [  # x shape, w shape, stride, padding, dilation, groups
        ((2, 3, 9, 11), (4, 3, 3, 3), 1, 1, 1, 1),
        ((1, 1, 13, 10), (5, 1, 3, 3), 1, 1, 1, 1),
        ((2, 16, 8, 8), (16, 16, 3, 3), 1, 1, 1, 1),
        ((2, 8, 7, 9), (8, 1, 3, 3), 1, 1, 1, 8),
        ((1, 6, 10, 7), (4, 6, 1, 1), 1, 0, 1, 1),
        ((2, 4, 11, 9), (6, 2, 3, 2), 2, 1, 2, 2),
    ]
    for xs, ws, st, pd, dl, g in conv:
        lab = f"{xs}{ws}s{st}p{pd}d{dl}g{g}"
        kw = dict(stride=st, padding=pd, dilation=dl, groups=g)
        add("conv2d_forward", lab, (lambda xs=xs, ws=ws: [rnd(*xs), rnd(*ws), rnd(ws[0])]),
            lambda f, impl, a, kw=kw: f(a[0], a[1], a[2], impl=impl, **kw))

        def mkb(xs=xs, ws=ws, st=st, pd=pd, dl=dl):
            oh = (xs[2] + 2 * pd - dl * (ws[2] - 1) - 1) // st + 1
            ow = (xs[3] + 2 * pd - dl * (ws[3] - 1) - 1) // st + 1
            return [rnd(xs[0], ws[0], oh, ow), rnd(*xs), rnd(*ws)]
        add("conv2d_backward", lab, mkb, lambda f, impl, a, kw=kw: f(a[0], a[1], a[2], impl=impl, **kw))
        add("conv2d_backward", lab + "-nodx", mkb,
            lambda f, impl, a, kw=kw: f(a[0], a[1], a[2], compute_dx=False, bias=False, impl=impl, **kw))

    # ---- pooling ----
    pools = [((2, 3, 9, 11), 3, 2, 1), ((1, 2, 8, 8), 2, 2, 0), ((2, 1, 7, 13), (3, 2), (1, 2), (1, 0))]
    for xs, k, s, p in pools:
        lab = f"{xs}k{k}s{s}p{p}"
        add("max_pool2d_forward", lab, (lambda xs=xs: [rnd(*xs)]),
            lambda f, impl, a, k=k, s=s, p=p: f(a[0], k, s, p, impl=impl))

        def mk_max_b(xs=xs, k=k, s=s, p=p):
            from pybench import _native
            y, idx = _native.max_pool2d_forward(rnd(*xs), k, s, p, impl="naive")
            return [rnd(*y.shape), idx]
        add("max_pool2d_backward", lab, mk_max_b, lambda f, impl, a, xs=xs: f(a[0], a[1], xs, impl=impl))
        for cip in (True, False):
            add("avg_pool2d_forward", f"{lab}-{cip}", (lambda xs=xs: [rnd(*xs)]),
                lambda f, impl, a, k=k, s=s, p=p, cip=cip: f(a[0], k, s, p, cip, impl=impl))

            def mk_avg_b(xs=xs, k=k, s=s, p=p):
                from pybench import _native
                y = _native.avg_pool2d_forward(rnd(*xs), k, s, p, impl="naive")
                return [rnd(*y.shape)]
            add("avg_pool2d_backward", f"{lab}-{cip}", mk_avg_b,
                lambda f, impl, a, xs=xs, k=k, s=s, p=p, cip=cip: f(a[0], xs, k, s, p, cip, impl=impl))
        add("global_avg_pool2d_forward", lab, (lambda xs=xs: [rnd(*xs)]), lambda f, impl, a: f(a[0], impl=impl))
        add("global_avg_pool2d_backward", lab, (lambda xs=xs: [rnd(xs[0], xs[1])]),
            lambda f, impl, a, xs=xs: f(a[0], xs, impl=impl))

    # ---- batch norm ----
    for xs in [(5, 3), (7, 4, 3, 5), (3, 6, 17, 19), (2, 3, 300, 300)]:
        C = xs[1]
        for training in (True, False):
            lab = f"{xs}-{training}"
            add("batch_norm_forward", lab,
                (lambda xs=xs, C=C: [rnd(*xs, scale=2.0), rnd(C), rnd(C), rnd(C), rnd(C, low=0.5)]),
                lambda f, impl, a, tr=training: f(a[0], a[1], a[2], a[3], a[4], tr, 0.1, 1e-5, impl=impl))
            add("batch_norm_forward", lab + "-noaffine",
                (lambda xs=xs, C=C: [rnd(*xs, scale=2.0), rnd(C), rnd(C, low=0.5)]),
                lambda f, impl, a, tr=training: f(a[0], None, None, a[1], a[2], tr, 0.1, 1e-5, impl=impl))
            add("batch_norm_backward", lab,
                (lambda xs=xs, C=C: [rnd(*xs), rnd(*xs, scale=2.0), rnd(C), rnd(C), rnd(C, low=0.5)]),
                lambda f, impl, a, tr=training: f(a[0], a[1], a[2], a[3], a[4], tr, impl=impl))
            add("batch_norm_backward", lab + "-noweight",
                (lambda xs=xs, C=C: [rnd(*xs), rnd(*xs, scale=2.0), rnd(C), rnd(C, low=0.5)]),
                lambda f, impl, a, tr=training: f(a[0], a[1], None, a[2], a[3], tr, impl=impl))
    # Parameterless activations added since (forward (x, *, ...), backward (dy, x, *, ...)), hashed
    # without an edit here; last, so the inputs of the cases above (seeded by index) stay the same.
    def takes(op, args):
        return re.match(rf"{op}\({args}, \*,", getattr(_native, op, None).__doc__ or "") is not None

    for op in _native.ops():
        name = op[:-len("_forward")]
        if (op.endswith("_forward") and name not in acts and takes(op, r"x: \w+")
                and takes(name + "_backward", r"dy: \w+, x: \w+")):
            add_act(name, [{}])

    def reseed(i):  # the inputs of case i, the same for every impl and level
        seed[0] = 1000 * i

    return out, reseed


def run():
    from pybench import _native
    _native.set_num_threads(1)
    supported = LEVELS.index(_native.isa_supported())
    levels = LEVELS[: supported + 1]
    ops = set(_native.ops())
    before = _native.isa_active()
    result = {"ops": sorted(ops), "impls": {op: _native.impls(op) for op in sorted(ops)}, "hashes": {}}
    covered = set()
    for dt in (np.float32, np.float64):
        dname = np.dtype(dt).name
        table, reseed = cases(dt)
        for ci, (op, label, make, call) in enumerate(table):
            if op not in ops:
                raise SystemExit(f"unknown op {op}")
            covered.add(op)
            f = getattr(_native, op)
            for lvl in levels:
                _native.set_isa(lvl)
                for impl in _native.impls(op, dtype=dname) + [None]:
                    reseed(ci)
                    arrays = make()
                    try:
                        r = call(f, impl, arrays)
                        key = _hash(r, arrays)
                    except Exception as e:  # an error is an outcome too
                        key = f"error: {type(e).__name__}: {e}"
                    result["hashes"][f"{op}|{label}|{dname}|{DEFAULT if impl is None else impl}|{lvl}"] = key
    _native.set_isa(before)
    result["not_covered"] = sorted(ops - covered - {"_fastmath"})
    return result


def _with_defaults(res):
    """The hashes, with "(default)" keys made from the last impl where the file has none."""
    h = dict(res["hashes"])
    if any(k.split("|")[3] == DEFAULT for k in h):
        return h
    for k, v in res["hashes"].items():
        op, label, dt, impl, lvl = k.split("|")
        if impl == res["impls"][op][-1]:
            h[f"{op}|{label}|{dt}|{DEFAULT}|{lvl}"] = v
    return h


def compare(a_path, b_path):
    """0 when no hash present in both files differs (but for requests now refused by name) and every
    default is in both."""
    a, b = json.load(open(a_path)), json.load(open(b_path))
    ha, hb = _with_defaults(a), _with_defaults(b)
    both = [k for k in ha if k in hb and ha[k] != hb[k]]
    # a row named where it does not run as itself (a shape winograd / direct do not handle) is now
    # refused with a ValueError instead of running another row's code: listed apart
    refused = [k for k in both if hb[k].startswith("error: ValueError") and ": impl: expected" in hb[k]]
    diff = [k for k in both if k not in refused]
    only_a = sorted(set(ha) - set(hb))
    only_b = sorted(set(hb) - set(ha))
    defaults = [k for k in ha if k.split("|")[3] == DEFAULT]
    missing_defaults = [k for k in defaults if k not in hb]
    print(f"{len(ha)} vs {len(hb)} hashes; {len(diff)} differ; {len(refused)} now refused; {len(only_a)} only before; "
          f"{len(only_b)} only after")
    print(f"defaults: {len(defaults)} before, {sum(1 for k in defaults if k in hb and ha[k] == hb[k])} bitwise equal "
          f"after, {len(missing_defaults)} missing")
    if a["impls"] != b["impls"]:
        print("impl lists differ:", {k: (a["impls"].get(k), b["impls"].get(k))
                                     for k in set(a["impls"]) | set(b["impls"]) if a["impls"].get(k) != b["impls"].get(k)})
    gone = sorted({"|".join(k.split("|")[i] for i in (0, 2, 3, 4)) for k in only_a})
    print(f"now refused by name ({len(refused)}), by op|dtype|impl|level:")
    for k in sorted({"|".join(k.split("|")[i] for i in (0, 2, 3, 4)) for k in refused}):
        print(" ", k)
    print(f"only before, by op|dtype|impl|level ({len(gone)}):")
    for k in gone:
        print(" ", k)
    for k in diff[:40] + only_b[:10]:
        print(" ", k)
    errors = sum(1 for v in hb.values() if v.startswith("error"))
    print(f"{errors} outcomes are errors (in both: {sum(1 for k, v in hb.items() if v.startswith('error') and ha.get(k) == v)})")
    return 0 if not diff and not missing_defaults else 1


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    res = run()
    with open(sys.argv[1], "w") as fh:
        json.dump(res, fh, indent=0, sort_keys=True)
    print(f"{len(res['hashes'])} hashes, {len(res['ops'])} ops; not covered: {res['not_covered']}")
