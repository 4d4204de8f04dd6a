"""Convergence check of the training engine: an accuracy bar per config, each one `train.run` on a fixed config.

    pybench bench-train --convergence [--json OUT]

Each row trains one model to its budget and compares the final test accuracy with its bar
(MLP on MNIST-1D >= 60%, CNN on MNIST-1D >= 90%, CNN on digits and on the shapes set well above
chance, taken here as 3x chance). The configs are the ones tuned while building the engine; the
record of every run is kept in the JSON output.
"""

from .. import train

CASES = (
    ("MLP on MNIST-1D", 0.60,
     dict(dataset="mnist1d", model="mlp", depth=2, width=256, optimizer="adamw", lr=1e-3, weight_decay=0.1,
          dropout=0.2, batch_size=100, steps=3000, eval_every=500)),
    ("CNN on MNIST-1D", 0.90,
     dict(dataset="mnist1d", model="cnn", depth=3, width=16, norm="batch", optimizer="adam", lr=2e-3,
          schedule="cosine", batch_size=100, steps=1500, eval_every=250)),
    ("CNN on digits (8x8)", 0.30,
     dict(dataset="digits", model="cnn", depth=2, width=16, norm="batch", optimizer="adam", lr=2e-3,
          batch_size=64, epochs=20)),
    ("CNN on shapes (32x32)", 0.30,
     dict(dataset="shapes", model="cnn", depth=2, width=16, norm="batch", optimizer="adam", lr=2e-3,
          batch_size=64, epochs=10)),
)


def run(threads=None, log=lambda m: None):
    """[{name, bar, passed, record}] for every case, in order."""
    rows = []
    for name, bar, cfg in CASES:
        cfg = dict(cfg, diagnostics=False, noise_scale=False, **({"threads": threads} if threads else {}))
        log(f"{name}: training ({cfg.get('steps') or str(cfg.get('epochs')) + ' epochs'}) ...")
        rec = train.run(train.Config.from_dict(cfg))
        acc = (rec.get("test") or {}).get("acc")
        rows.append({"name": name, "bar": bar, "passed": rec["status"] == "completed" and acc is not None
                     and acc >= bar, "record": rec})
        log(f"{name}: {rec['status']}, test accuracy {acc}")
    return rows


def build_table(rows):
    from rich.table import Table
    from rich.text import Text

    t = Table(header_style="bold")
    for col in ("run", "test acc", "bar", "steps", "epochs", "train time", "whole run", "samples/s", "status"):
        t.add_column(col, justify="left" if col in ("run", "status") else "right")
    for r in rows:
        rec = r["record"]
        tp = rec.get("throughput") or {}
        acc = (rec.get("test") or {}).get("acc")
        hist = rec.get("history") or [{}]
        t.add_row(r["name"], "-" if acc is None else f"{100 * acc:.1f}%", f"{100 * r['bar']:.0f}%",
                  str(rec.get("steps", "-")), f"{hist[-1].get('epoch', 0):.1f}",
                  f"{tp.get('train_time', float('nan')):.1f} s", f"{rec.get('elapsed', float('nan')):.1f} s",
                  f"{tp.get('samples_per_s', 0):,.0f}",
                  Text("pass" if r["passed"] else f"MISS ({rec['status']})", style="green" if r["passed"] else "red"))
    return t
