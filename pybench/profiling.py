"""Where a training step's time goes: the same step as ``Sequential.forward``/``backward`` but
layer by layer with a clock around each call, summed by the layer's ``op``.

Keys: each op family ("linear", "conv2d", "batch_norm", "relu", ...), "loss" (forward and
backward), "optimizer" (penalty, clipping and the update), "data" (gathering the batch) and
"python": the rest of the measured step (the loop, the schedule, dispatch between calls).
The arithmetic is exactly the unprofiled step's, so profiled steps stay part of training.
"""

import time

_clock = time.perf_counter


class StepProfile:
    """Accumulates per-op seconds over profiled steps; ``result()`` is the mean per step."""

    def __init__(self):
        self.fwd, self.bwd, self.other = {}, {}, {}
        self.steps = 0
        self.total = 0.0

    def add(self, table, key, dt):
        table[key] = table.get(key, 0.0) + dt

    def forward(self, model, x):
        for layer in model.layers:
            t = _clock()
            x = layer.forward(x)
            self.add(self.fwd, layer.op, _clock() - t)
        return x

    def backward(self, model, dy):
        for layer in reversed(model.layers):
            t = _clock()
            dy = layer.backward(dy)
            self.add(self.bwd, layer.op, _clock() - t)
            if dy is None:  # Sequential.backward stops here too (leading layers need no gradient)
                break

    def timed(self, key, fn, *args):
        t = _clock()
        r = fn(*args)
        self.add(self.other, key, _clock() - t)
        return r

    def end_step(self, step_seconds):
        self.steps += 1
        self.total += step_seconds

    def result(self):
        """{op: seconds per step}, largest first, summing to the mean step time; plus the
        forward/backward split per layer op."""
        if not self.steps:
            return None, None
        n = self.steps
        ops = set(self.fwd) | set(self.bwd)
        per_op = {op: (self.fwd.get(op, 0.0) + self.bwd.get(op, 0.0)) / n for op in ops}
        per_op.update({k: v / n for k, v in self.other.items()})
        per_op["python"] = max(self.total / n - sum(per_op.values()), 0.0)
        split = {op: {"forward": self.fwd.get(op, 0.0) / n, "backward": self.bwd.get(op, 0.0) / n} for op in ops}
        return dict(sorted(per_op.items(), key=lambda kv: -kv[1])), split
