"""width: how the hidden width of an MLP on MNIST-1D trades throughput against accuracy and speed
of convergence."""

from ._fit import positive_only
from .base import (Column, Experiment, PlotSpec, accuracy_plot, curves_plot, group_by_point, loss_curves_plot,
                   point_keys, series, standard_columns, standard_notes, standard_row, targets, throughput_plot,
                   TERM_DEFAULT)


class Width(Experiment):
    name = "width"
    title = "Width: MLP hidden units on MNIST-1D"
    description = (
        "An MLP with 2 hidden ReLU layers of W units (He init) on MNIST-1D (40-sample signals, 3600 train / "
        "400 val / 1000 test), SGD with momentum 0.9 at lr 0.1 (not re-tuned per width), batch 128, 30 epochs, "
        "one thread per run. Per width: throughput (samples/s, achieved GFLOP/s of forward+backward), steps, "
        "epochs, samples and training time to 60% validation accuracy, best validation and final test accuracy, "
        "the train/test gap, the gradient noise scale B_simple and the status. Full mode: W = 16 ... 2048 in "
        "powers of 2, 3 seeds. Quick mode: W = 32, 128, 512, 15 epochs, 1 seed.")
    base = {
        "dataset": "mnist1d", "model": "mlp", "depth": 2, "activation": "relu", "init": "he_normal",
        "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "batch_size": 128, "epochs": 30,
        "target_accuracy": 0.6, "noise_scale": True, "noise_batches": 8,
    }
    quick = {"epochs": 15}
    axes = {"width": [16, 32, 64, 128, 256, 512, 1024, 2048]}
    quick_axes = {"width": [32, 128, 512]}
    seeds = {"quick": 1, "full": 3}

    def analyze(self, records):
        rows = [{**point, **standard_row(recs)} for point, recs in group_by_point(records)]
        extra = [k for k in point_keys(records) if k != "width"]  # axes added by --set KEY=[...]
        columns = ([Column("width", "width", "int")] + [Column(k) for k in extra]
                   + standard_columns(term=("params", "best_val_acc") + TERM_DEFAULT))
        notes = standard_notes(records)
        ok = [r for r in rows if r["test_acc"] is not None]
        if ok and not extra:
            best = max(ok, key=lambda r: r["test_acc"])
            fast = max((r for r in ok if r["samples_per_s"]), key=lambda r: r["gflops"] or 0, default=None)
            notes.append(f"highest median test accuracy at width {best['width']} ({100 * best['test_acc']:.1f}%)"
                         + (f"; highest GFLOP/s at width {fast['width']} ({fast['gflops']:.3g} GFLOP/s)" if fast else "")
                         + ".")
        acc = accuracy_plot(rows, "width", extra, "accuracy_vs_width.png", "width", logx=True, xlabel="hidden width")
        acc.hlines = [(100 * t, f"target {100 * t:g}%") for t in targets(records)]
        # steps (left) and training time (right) to the target; a width that missed it sits on the top edge
        steps = PlotSpec("steps_vs_width.png", "width: steps and training time to target (1 thread)", "hidden width",
                         "steps to target",
                         series(rows, "width", "steps_to_target", "steps", extra, missing="target not reached")
                         + series(rows, "width", "time_to_target", "time (s)", extra, axis="right", style="s--"),
                         logx=True, logy=True, y2label="training time to target (s)")
        plots = [acc,
                 throughput_plot(rows, "width", extra, "throughput_vs_width.png", "width", logx=True, xlabel="hidden width"),
                 positive_only(steps),
                 curves_plot(records, "epoch", "curves.png", "width"),
                 loss_curves_plot(records, "loss_curves.png", "width")]
        return {"columns": columns, "rows": rows, "notes": notes, "plots": plots}


EXPERIMENT = Width()
