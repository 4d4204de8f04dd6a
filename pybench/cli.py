"""The `pybench` command."""

import argparse
import json
import sys


def _cmd_info(args):
    from . import info

    d = info.collect()
    print(json.dumps(d, indent=2) if args.json else info.format_info(d))
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="pybench", description="Native reference kernels and training benchmarks.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    pi = sub.add_parser("info", help="build, SIMD level, threads and CUDA status")
    pi.add_argument("--json", action="store_true", help="machine-readable output")
    pi.set_defaults(func=_cmd_info)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
