"""Per-row medians over several `pybench bench` or `bench-train` --json runs:
`python -m pybench.bench.medians RUN.json ...`.

The VM's memory bandwidth changes mode from minute to minute, so one run's "% of copy" for a
memory-bound row is one draw. This prints, for every row present in the runs, each run's value
and their median: "% of copy" for memory-bound rows, "vs <peer>" ratios for the others (for
bench-train, the training step's ratio to PyTorch).
"""

import argparse
import json
import statistics
import sys


def row_values(runs):
    """{(op, label, problem): {"of copy %" | "vs torch" | ...: [value per run]}} in first-seen order."""
    rows = {}
    for recs in runs:
        for r in recs:
            if "case" in r:  # a `pybench bench-train` record: one training step vs PyTorch
                if r.get("status") == "ok" and r.get("ratio") is not None:
                    rows.setdefault((r["case"], "", ""), {}).setdefault("vs torch", []).append(r["ratio"])
                continue
            if r.get("status") != "ok" or r["op"] == "copy":
                continue
            v = rows.setdefault((r["op"], r["label"], r["shape"]), {})
            if r.get("kind") == "memory" and r.get("fraction_of_copy") is not None:
                v.setdefault("of copy %", []).append(100 * r["fraction_of_copy"])
            for name, p in (r.get("peers") or {}).items():
                if p.get("ratio") is not None:
                    v.setdefault(f"vs {name}", []).append(p["ratio"])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m pybench.bench.medians",
                                 description="Per-row medians over several `pybench bench` / `bench-train` --json runs.")
    ap.add_argument("runs", nargs="+", metavar="RUN.json", help="files written by --json")
    paths = ap.parse_args(argv).runs
    runs = []
    for path in paths:
        try:
            with open(path) as f:
                runs.append(json.load(f)["records"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"medians: {path}: not a --json run ({type(e).__name__}: {e})", file=sys.stderr)
            return 2
    print(f"medians over {len(runs)} runs: {', '.join(paths)}")
    for (op, label, shape), cols in row_values(runs).items():
        cells = []
        for name, vals in cols.items():
            fmt = "{:.0f}" if name.endswith("%") else "{:.2f}"
            cells.append(f"{name} " + " ".join(fmt.format(x) for x in vals) + " -> median " + fmt.format(statistics.median(vals)))
        name = f"{op:12s} {label + ' ' + shape:36s}" if label or shape else f"{op:62s}"
        print(name + " " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
