"""The `pybench` command."""

import argparse
import json
import shlex
import sys


def _cmd_info(args):
    from . import info

    d = info.collect()
    print(json.dumps(d, indent=2) if args.json else info.format_info(d))
    return 0


def _split_peers(s):
    return tuple(p.strip() for p in s.split(",") if p.strip() and p.strip() != "none")


def _cmd_bench(args):
    from rich.console import Console

    from .bench import Options, UsageError, env, report, run

    out = Console() if sys.stdout.isatty() else Console(width=240)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    warning = env.slow_blas_warning("pybench bench " + " ".join(shlex.quote(a) for a in args.argv))
    if warning:
        err.print(f"[bold yellow]{warning}[/]")
    opts = Options(ops=tuple(args.op or ()), impl=args.impl, threads=args.threads, quick=args.quick,
                   peers=args.peers, repeat_seconds=args.repeat_seconds)
    try:
        result = run(opts, log=lambda msg: err.print(msg, markup=False))
    except UsageError as e:
        err.print(f"pybench bench: error: {e}", markup=False)
        return 2
    for line in report.header_lines(result):
        out.print(line, markup=False, highlight=False)
    out.print(report.build_table(result))
    if args.json:
        report.write_json(dict(result, command=["pybench", "bench", *args.argv]), args.json)
        err.print(f"wrote {args.json}", markup=False)
    if warning:
        err.print(f"[bold yellow]{warning}[/]")
    if result["failed"]:
        err.print(f"[bold red]{result['failed']} problem(s) FAILED their check (not timed)[/]")
        return 1
    return 0


def _cmd_bench_train(args):
    from rich.console import Console

    from .bench import report, train_step

    out = Console() if sys.stdout.isatty() else Console(width=200)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if args.convergence:
        from .bench import convergence

        rows = convergence.run(threads=args.threads, log=lambda m: err.print(m, markup=False))
        out.print("pybench bench-train --convergence: issue 4's accuracy bars, one train.run each")
        out.print(convergence.build_table(rows))
        if args.json:
            report.write_json({"command": ["pybench", "bench-train", *args.argv], "runs": rows}, args.json)
            err.print(f"wrote {args.json}", markup=False)
        return 0 if all(r["passed"] for r in rows) else 1
    cases = None
    if args.model:
        pool = train_step.QUICK_CASES if args.quick else train_step.DEFAULT_CASES
        cases = [c for c in pool if c.name in args.model]
    result = train_step.run(cases, quick=args.quick, threads=args.threads, peers=args.peers,
                            budget_s=args.repeat_seconds, log=lambda m: err.print(m, markup=False))
    e = result["environment"]
    out.print(f"pybench bench-train: {e['machine']['cpu']}, {e['threads']} threads, SIMD "
              f"{e['machine']['isa_active']}; PyTorch {e['torch'] or 'n/a (' + e['torch_reason'] + ')'}; "
              f"one step = forward, cross-entropy, backward, SGD momentum", markup=False, highlight=False)
    load = e["loadavg_start"]
    if load is not None and load > 0.5 * (e["machine"]["cpu_count"] or 1):
        out.print(f"note: load average {load:.1f} at the start: timings are noisy, compare the ratios", markup=False)
    out.print(train_step.build_table(result))
    if args.json:
        report.write_json(dict(result, command=["pybench", "bench-train", *args.argv]), args.json)
        err.print(f"wrote {args.json}", markup=False)
    failed = [r for r in result["records"] if r["status"] != "ok"]
    return 1 if failed else 0


def parse_set(items):
    """['lr=0.1', 'norm=batch', 'betas=[0.9,0.99]'] -> {'lr': 0.1, 'norm': 'batch', ...}: each value
    is read as JSON when it parses (numbers, true/false/null, lists), else kept as a string."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _cmd_train(args):
    from . import train

    try:
        fields = json.loads(args.config_json) if args.config_json else {}
        if not isinstance(fields, dict):
            raise ValueError(f"--config-json: expected a JSON object, got {args.config_json!r}")
        fields.update(parse_set(args.set))
        config = train.Config.from_dict(fields)
        config.validate()
    except (TypeError, ValueError) as e:
        print(f"pybench train: error: {e}", file=sys.stderr)
        return 2
    record = train.run(config)
    print(train.summary(record))
    if args.out:
        from .bench.report import write_json

        write_json(record, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if record["status"] in ("completed", "diverged", "collapsed") else 1


def _positive_float(s):
    v = float(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {s}")
    return v


def _positive_int(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s}")
    return v


def build_parser():
    from .bench import GROUPS, OPS

    p = argparse.ArgumentParser(prog="pybench", description="Native reference kernels and training benchmarks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    pi = sub.add_parser("info", help="build, SIMD level, threads and CUDA status")
    pi.add_argument("--json", action="store_true", help="machine-readable output")
    pi.set_defaults(func=_cmd_info)

    pb = sub.add_parser(
        "bench", help="time the native ops against NumPy and PyTorch",
        description="Check each op against pybench.reference on its inputs, then time it side by side with "
                    "NumPy and PyTorch CPU (alternating, median of repeats). Default problems: issue 3's "
                    "targets. Exit 0 on success, 1 if any problem FAILED its check, 2 on usage errors.")
    pb.add_argument("--op", nargs="+", action="extend", metavar="OP", choices=list(OPS) + list(GROUPS),
                    help="ops to run (default: all): " + ", ".join(list(OPS) + list(GROUPS)))
    pb.add_argument("--impl", default=None, metavar="IMPL",
                    help="implementation to time (default: each op's default, its fastest); 'all' times "
                         "every registered one side by side")
    pb.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                    help="threads for pybench, PyTorch and NumPy's BLAS (default: pybench's current count)")
    pb.add_argument("--quick", action="store_true", help="small subset with small sizes (smoke runs, tests)")
    pb.add_argument("--peers", type=_split_peers, default=("numpy", "torch"), metavar="LIST",
                    help="comma-separated peers to compare with: numpy,torch (default both; 'none' for none)")
    pb.add_argument("--repeat-seconds", type=_positive_float, default=None, metavar="S",
                    help="timing budget per problem after warm-up (default 1.0; 0.1 with --quick)")
    pb.add_argument("--json", metavar="OUT", default=None, help="write every record (and machine info) to OUT")
    pb.set_defaults(func=_cmd_bench)

    pt = sub.add_parser(
        "bench-train", help="training-step throughput of pybench.nn models against PyTorch",
        description="Time one training step (forward, cross-entropy, backward, SGD momentum) of issue 4's MLP "
                    "and small CNN against the same model in PyTorch CPU, after checking that one step of each "
                    "agrees. --convergence trains the convergence configs instead. Exit 0 on success, 1 if a check FAILED "
                    "or a bar was missed, 2 on usage errors.")
    pt.add_argument("--model", nargs="+", choices=("mlp", "cnn"), help="models to run (default both)")
    pt.add_argument("--quick", action="store_true", help="two small cases (smoke runs, tests)")
    pt.add_argument("--convergence", action="store_true",
                    help="instead of timing steps, train issue 4's convergence configs to their budgets and "
                         "compare test accuracy with the bars (a few minutes)")
    pt.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                    help="threads for pybench and PyTorch (default: pybench's current count)")
    pt.add_argument("--peers", type=_split_peers, default=("torch",), metavar="LIST",
                    help="'torch' (default) or 'none'")
    pt.add_argument("--repeat-seconds", type=_positive_float, default=None, metavar="S",
                    help="timing budget per case (default 2.0; 0.3 with --quick)")
    pt.add_argument("--json", metavar="OUT", default=None, help="write every record to OUT")
    pt.set_defaults(func=_cmd_bench_train)

    pr = sub.add_parser(
        "train", help="train one model on pybench's kernels and print its record's summary",
        description="Train one config (pybench.train.Config; every field has a default) and print a summary. "
                    "Exit 0 when the run completed, diverged or collapsed (a measured outcome), 1 when it "
                    "failed, 2 on a bad config.")
    pr.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="a Config field, e.g. --set model=cnn --set lr=0.002 (values read as JSON when they parse)")
    pr.add_argument("--config-json", default=None, metavar="JSON", help="Config fields as one JSON object")
    pr.add_argument("--out", metavar="FILE", default=None, help="write the full record as JSON")
    pr.set_defaults(func=_cmd_train)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: 2 on usage errors, 0 for --help
        return e.code
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    args.argv = argv[1:] if argv and argv[0] == args.command else argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
