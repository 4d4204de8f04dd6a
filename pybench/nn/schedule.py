"""Learning-rate schedules and the batch-size scaling rules.

``lr_schedule(...)`` returns ``f(step) -> lr`` for the 0-based index of the optimizer step about
to be taken; the training loop sets ``optimizer.lr = f(step)`` before each ``step()``.
"""

import math

__all__ = ["lr_schedule", "scale_lr", "SCHEDULES", "SCALING_RULES"]

SCHEDULES = ("constant", "step", "cosine")
SCALING_RULES = ("none", "linear", "sqrt")


def _int(name, v, low):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"lr_schedule: {name}: expected an int >= {low}, got {v!r}")
    return v


def lr_schedule(name, base_lr, total_steps, *, warmup_steps=0, step_size=None, gamma=0.1, min_lr=0.0):
    """The learning rate at each step.

    Linear warm-up (any schedule): step s < warmup_steps uses ``base_lr * (s + 1) / warmup_steps``
    (the first step is not wasted at lr 0; the last warm-up step reaches base_lr). After it, with
    ``s' = s - warmup_steps`` and ``T = total_steps - warmup_steps``:

    - "constant": ``base_lr``;
    - "step": ``base_lr * gamma ** (s' // step_size)`` (``step_size`` required);
    - "cosine": ``min_lr + (base_lr - min_lr) * (1 + cos(pi * min(s', T) / T)) / 2``, reaching
      min_lr at the last step budgeted (and staying there beyond it).
    """
    if name not in SCHEDULES:
        raise ValueError(f"lr_schedule: name: expected one of {list(SCHEDULES)}, got {name!r}")
    base_lr, gamma, min_lr = float(base_lr), float(gamma), float(min_lr)
    if not (math.isfinite(base_lr) and base_lr >= 0):
        raise ValueError(f"lr_schedule: base_lr: expected a finite float >= 0, got {base_lr}")
    total_steps = _int("total_steps", total_steps, 1)
    warmup_steps = _int("warmup_steps", warmup_steps, 0)
    if warmup_steps > total_steps:
        raise ValueError(f"lr_schedule: warmup_steps: expected <= total_steps ({total_steps}), got {warmup_steps}")
    if name == "step":
        if step_size is None:
            raise ValueError("lr_schedule: step_size: required for the 'step' schedule, got None")
        step_size = _int("step_size", step_size, 1)
        if not gamma >= 0:
            raise ValueError(f"lr_schedule: gamma: expected a float >= 0, got {gamma}")
    if name == "cosine" and not 0 <= min_lr <= base_lr:
        raise ValueError(f"lr_schedule: min_lr: expected a float in [0, base_lr={base_lr}], got {min_lr}")
    decay_steps = max(total_steps - warmup_steps, 1)

    def lr_at(step):
        if step < warmup_steps:
            return base_lr * (step + 1) / warmup_steps
        s = step - warmup_steps
        if name == "step":
            return base_lr * gamma ** (s // step_size)
        if name == "cosine":
            return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(s, decay_steps) / decay_steps))
        return base_lr

    return lr_at


def scale_lr(lr, batch_size, base_batch_size, rule):
    """The learning rate for ``batch_size`` given ``lr`` tuned at ``base_batch_size``:
    "none" keeps it, "linear" multiplies by ``batch_size / base_batch_size`` (Goyal et al. 2017),
    "sqrt" by its square root (Krizhevsky 2014; Hoffer et al. 2017)."""
    if rule not in SCALING_RULES:
        raise ValueError(f"scale_lr: rule: expected one of {list(SCALING_RULES)}, got {rule!r}")
    for name, v in (("batch_size", batch_size), ("base_batch_size", base_batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"scale_lr: {name}: expected an int >= 1, got {v!r}")
    ratio = batch_size / base_batch_size
    return float(lr) * {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[rule]
