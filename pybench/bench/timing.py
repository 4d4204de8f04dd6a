"""Side-by-side timing: warm up, then call every candidate round-robin within a time budget.

Candidates are timed in alternation (the order rotates every round), so machine noise -- other
users of a shared VM, a bandwidth mode switch, turbo -- lands on all of them alike; the speed ratio
of two candidates is then far steadier than either absolute time.

Each timed sample follows untimed calls of the same candidate for at least SETTLE_SECONDS.
Thread pools of different runtimes (our OpenMP, OpenBLAS's pthreads, PyTorch's) keep spinning
after their last call -- OpenBLAS's for about 2^28 cycles (~70 ms here) -- and whoever runs next
pays for them: GEMM 1024 measured 0.51x NumPy interleaved with one settle call, 1.06x with
OPENBLAS_THREAD_TIMEOUT=4. Settling past that window makes samples measure each library in the
steady state a training loop sees, for every candidate alike.
"""

import gc
import time
from dataclasses import dataclass, field

import numpy as np

# A sample is k back-to-back calls timed together, k chosen so that one sample lasts at least
# this long: calls of a few microseconds are then not dominated by the timer and loop overhead.
MIN_SAMPLE_SECONDS = 2e-3
MIN_ROUNDS = 5
MIN_ROUNDS_SLOW = 3  # when one round alone outlasts the whole budget
MAX_ROUNDS = 2000
SETTLE_SECONDS = 0.08  # > OpenBLAS's post-call spin (2^28 cycles at ~4 GHz)


@dataclass
class Stats:
    """Per-call seconds of one candidate over the rounds of one measurement."""

    times: list = field(default_factory=list)  # one per round: per-call seconds of that sample
    calls_per_sample: int = 1

    def summary(self):
        t = np.asarray(self.times, dtype=np.float64)
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        return {
            "median_s": float(med),
            "q1_s": float(q1),
            "q3_s": float(q3),
            "min_s": float(t.min()),
            "max_s": float(t.max()),
            "iqr_rel": float((q3 - q1) / med) if med > 0 else float("nan"),
            "samples": int(t.size),
            "calls_per_sample": int(self.calls_per_sample),
        }


def _time_calls(f, k):
    t0 = time.perf_counter()
    for _ in range(k):
        f()
    return (time.perf_counter() - t0) / k


def measure(candidates, budget_s, min_rounds=MIN_ROUNDS, max_rounds=MAX_ROUNDS):
    """Time each of `candidates` ({name: zero-argument callable}) alternately.

    Warm-up: every candidate runs once (first touch of its outputs, lazy initialization), then once
    more to estimate its cost (skipped when the first call alone took longer than the budget).
    Then rounds of one sample per candidate until `budget_s` has passed and at least `min_rounds`
    rounds are done (3 when a single round is longer than the budget). Returns {name: Stats}.
    """
    names = list(candidates)
    est = {}
    for n in names:
        first = _time_calls(candidates[n], 1)
        est[n] = first if first > budget_s else _time_calls(candidates[n], 1)
    k = {n: max(1, int(MIN_SAMPLE_SECONDS / max(est[n], 1e-9))) for n in names}
    round_s = sum(est[n] * k[n] for n in names)
    if round_s > budget_s:
        min_rounds = min(min_rounds, MIN_ROUNDS_SLOW)
    def sample(n):
        if len(names) > 1:  # settle: let the previous runtime's spinning threads go idle
            t_settle = time.perf_counter()
            candidates[n]()
            while time.perf_counter() - t_settle < SETTLE_SECONDS:
                candidates[n]()
        return _time_calls(candidates[n], k[n])

    return alternate(names, sample, k, budget_s, min_rounds, max_rounds)


def alternate(names, sample, k, budget_s, min_rounds, max_rounds):
    """Rounds of one `sample(name)` (per-call seconds) per candidate, the order rotating every
    round, the garbage collector off, until `budget_s` has passed and `min_rounds` are done.
    `k`: calls per sample of each name. Returns {name: Stats}. Shared by the CPU and CUDA clocks."""
    stats = {n: Stats(calls_per_sample=k[n]) for n in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        r = 0
        while r < max_rounds and (r < min_rounds or time.perf_counter() - start < budget_s):
            for i in range(len(names)):
                n = names[(i + r) % len(names)]
                stats[n].times.append(sample(n))
            r += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    return stats


def paired_ratio(peer, ours):
    """Median over rounds of peer_time / ours_time (> 1: ours is faster); pairs share a round."""
    a = np.asarray(peer.times, dtype=np.float64)
    b = np.asarray(ours.times, dtype=np.float64)
    m = min(a.size, b.size)
    return float(np.median(a[:m] / b[:m])) if m else float("nan")
