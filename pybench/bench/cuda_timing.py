"""Side-by-side timing on a CUDA device: CUDA events on CuPy's current stream, rounds alternating.

The same protocol as timing.measure (warm-up, then rounds of one sample per candidate, the order
rotating every round, median and IQR of the per-call times) with a device clock instead of the
host's: a sample is k back-to-back calls between two CUDA events, synchronized on the end event,
k chosen so a sample lasts at least MIN_SAMPLE_SECONDS of GPU time. Kernels are launched
asynchronously, so a sample measures the GPU's time for the k calls -- including any gaps when
the host launches them more slowly than the GPU runs them (a kernel of a few microseconds
launched from Python can be launch-bound; every candidate is treated alike).

No settling between candidates (timing.SETTLE_SECONDS is for CPU thread pools); each sample ends
with its synchronization, so one candidate's work never overlaps another's sample.
"""

from .timing import MAX_ROUNDS, MIN_ROUNDS, MIN_ROUNDS_SLOW, alternate

MIN_SAMPLE_SECONDS = 2e-3
MAX_CALLS_PER_SAMPLE = 10000


def calls_per_sample(est_s):
    return max(1, min(MAX_CALLS_PER_SAMPLE, int(MIN_SAMPLE_SECONDS / max(est_s, 1e-9))))


def measure(candidates, budget_s, clock, min_rounds=MIN_ROUNDS, max_rounds=MAX_ROUNDS):
    """Time `candidates` ({name: zero-argument callable launching device work}) alternately with
    `clock` (device.EventClock, or HostClock for the fake device). Returns {name: timing.Stats}.

    Warm-up: each candidate runs once and is synchronized (lazy initialization: cuBLAS handles,
    cuDNN algorithm choice, module loading), then one call is timed to choose its k. Then rounds
    until `budget_s` of wall time has passed and at least `min_rounds` are done (3 when one round
    alone outlasts the budget)."""
    names = list(candidates)
    est = {}
    for n in names:
        candidates[n]()
        clock.sync()
        est[n] = clock.time(candidates[n], 1)
    k = {n: calls_per_sample(est[n]) for n in names}
    if sum(est[n] * k[n] for n in names) > budget_s:
        min_rounds = min(min_rounds, MIN_ROUNDS_SLOW)
    return alternate(names, lambda n: clock.time(candidates[n], k[n]), k, budget_s, min_rounds, max_rounds)
