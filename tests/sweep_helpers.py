"""Runners for tests/test_sweep.py that Dask workers import by name (module-level functions).

``PYBENCH_TEST_DIR`` (set before the cluster starts, inherited by its workers) is where they leave
their traces: one file per attempt, so a test can count attempts across worker processes."""

import os
import signal
import time
import uuid

from pybench import train


def _attempt(config):
    d = os.environ["PYBENCH_TEST_DIR"]
    tag = f"attempt-w{config['width']}-s{config['seed']}-"
    n = sum(1 for f in os.listdir(d) if f.startswith(tag))
    with open(os.path.join(d, tag + uuid.uuid4().hex), "w") as f:
        f.write(f"{os.getpid()} {time.time()}\n")
    return n


def kill_first_attempt(config):
    """Width 16: the worker process dies (SIGKILL) in the middle of the first attempt; later
    attempts, and every other point, train normally."""
    n = _attempt(config)
    if config["width"] == 16 and n == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return train.run(config)


def kill_every_attempt(config):
    """Width 16 kills its worker every time it runs."""
    _attempt(config)
    if config["width"] == 16:
        os.kill(os.getpid(), signal.SIGKILL)
    return train.run(config)


def slow_run(config):
    """A real run that lasts at least 0.3 s, so points overlap if the scheduler lets them."""
    t = time.time()
    rec = train.run(config)
    time.sleep(max(0.0, 0.3 - (time.time() - t)))
    return rec


# ---- fake runners: records shaped like pybench.train.run's, no training (grid extension tests) ----

BATCH_PEAK = 2.5  # the lr_factor with the fewest steps to target


def fake_batch_run(config):
    """A batch-size run that reaches its target after 100 (1 + ln(f / 2.5)^2) steps at lr_factor
    f = lr / lr_ref(B): fewest at 2.5, so a grid topping out at 2 finds its optimum one step beyond."""
    import math

    from pybench.experiments.batch_size import lr_ref

    b = config["batch_size"]
    steps = round(100 * (1 + math.log(config["lr"] / lr_ref(b) / BATCH_PEAK) ** 2))
    hist = [{"step": s, "epoch": s * b / 9000, "samples": s * b, "wall_time": s * 1e-3, "train_loss": 2.0 / (1 + s),
             "val_loss": 1.0, "val_acc": 0.5 + 0.1 * s / steps} for s in (0, steps // 2, steps)]
    return {"schema": train.SCHEMA, "run_id": train.Config(**config).run_id(), "config": dict(config),
            "status": "completed", "stop_reason": "target reached",
            "target": {"step": steps, "epoch": steps * b / 9000, "samples": steps * b, "wall_time": steps * 1e-3},
            "best_val_acc": 0.61, "test": {"acc": 0.6, "loss": 1.0}, "train": {"acc": 0.65}, "gap": 0.05,
            "model": {"num_parameters": 1000}, "steps": steps, "history": hist,
            "throughput": {"samples_per_s": 1e4, "gflops": 1.0, "step_time": 1e-3, "train_time": steps * 1e-3}}


def fake_pitfalls_run(config, peak=0.015):
    """A pitfalls run whose best validation accuracy falls with the distance of log10(lr) from
    log10(peak) (0.6 at the peak); lr >= 1 diverges."""
    import math

    lr = config["lr"]
    diverged = lr >= 1
    acc = 0.1 if diverged else 0.6 - 0.1 * math.log10(lr / peak) ** 2
    steps = 100
    return {"schema": train.SCHEMA, "run_id": train.Config(**config).run_id(), "config": dict(config),
            "status": "diverged" if diverged else "completed", "stop_reason": "fake",
            "target": None, "best_val_acc": acc, "test": {"acc": acc - 0.01, "loss": 1.0}, "gap": 0.05,
            "train": {"acc": acc + 0.04}, "steps": steps, "collapse": {"dead_fraction": 0.0},
            "data": {"num_classes": 10}, "model": {"num_parameters": 1000},
            "history": [{"step": s, "epoch": s / 100, "val_loss": 1.0, "val_acc": acc} for s in (0, steps)]}
