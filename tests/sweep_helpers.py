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
