"""The training loop: ``run(Config) -> record``, one JSON-safe dict per run.

A step is: gather the batch -> ``model.forward`` -> loss -> ``model.backward`` (overwrites every
``.grad``) -> L1/L2 penalty gradients -> optional global-norm clipping -> the optimizer's fused
update at the scheduled learning rate. Every ``eval_every`` steps (default: once per epoch), and
at step 0 and the last step, the model is evaluated on the validation set and, when asked, the
diagnostics and the gradient noise scale are measured on extra batches (which never change the
trajectory, see pybench.diagnostics).

Measurement rules:
- ``wall_time`` and throughput count training steps only (batch gathering included, evaluation
  and diagnostics excluded); ``throughput.elapsed`` is the whole run.
- Epochs use every full batch of a fresh permutation (by data_seed) of the training set; the
  ``n_train % batch_size`` samples left over differ from epoch to epoch.
- Test and train-set metrics are those of the final weights, or, with early stopping
  (``patience`` evaluations without an improvement of ``early_stop_on`` by more than ``min_delta``),
  of the weights where ``early_stop_on`` was best, or after a divergence, of those with the lowest
  validation loss (``best.step``), restored from a state_dict snapshot; ``test.step`` says which.
- The selection metric is the best validation accuracy: ``selected`` holds its step and the test
  metrics of the weights at that checkpoint (snapshotted when it was reached). Experiments report
  from it, the final step beside it.
- status: "completed"; "budget-limited" (the run spent its budget while its training loss still
  fell: the last LATE_FRACTION of the budget brought more than PLATEAU_TOL of the run's whole drop;
  ``convergence`` has the numbers); "diverged" (a non-finite training or validation loss, or a
  training loss above DIVERGE_FACTOR times the first step's: the run stops, history kept);
  "collapsed" (at the end the network predicts a single class on the whole validation set and,
  for cross-entropy, its loss is within 10% of ln(classes): failure without NaN); "failed" (an
  unexpected exception: message and traceback in the record).
- Non-finite floats are stored as None, so the record is strict JSON.

Devices (``Config.device``: "cpu", "cuda", "cuda:N"): the model is built and initialized on the
host (same weights as on the CPU), then moved (``Module.to``); the datasets are moved once at the
start; batches are gathered on the device with index arrays made on the host (one permutation
per epoch, moved once). Losses come back as Python floats: the one sync per step, as on the CPU;
a step's backward and update then run on the device while the next step is being launched, so
on CUDA a step's clock interval ends at its last launch and its device tail is waited for in the
next step's loss (the sum over a run is right; at most one step's tail per evaluation is counted
as evaluation). Evaluation counts come back as ints. The profiled steps sync around every layer
and the update, so the breakdown is device time, not launch time.
A CUDA device that cannot be used here (no GPU/driver, not built, no CuPy) is a RuntimeError
from ``run`` before any work. Honesty: the CUDA path is compiled and imported on machines
without a GPU; it has not been executed (tests/cuda/test_cuda_train.py runs it on a GPU).

``python -m pybench.train --config-json '{"model": "cnn", ...}'`` runs one config and prints a summary.
"""

import contextlib
import dataclasses
import math
import sys
import time
import traceback

import numpy as np
from threadpoolctl import threadpool_limits

from . import _native, arrays, nn, provenance
from .diagnostics import Diagnostics, NoiseScale
from .nn.loss import make_loss
from .nn.optim import Penalty, clip_grad_norm, make_optimizer
from .nn.schedule import lr_schedule, scale_lr
from .profiling import StepProfile
from .runconfig import Config

__all__ = ["Config", "run", "train_step", "evaluate", "build_model", "build_optimizer", "SCHEMA"]

SCHEMA = "pybench.run/1"
# What the statuses mean (module docstring); stated in every record's stop reason or "convergence".
DIVERGE_FACTOR = 10.0   # a mean training loss over an evaluation interval above 10x the first step's
LATE_FRACTION, PLATEAU_TOL = 0.2, 0.05  # the last 20% of the budget brought > 5% of the loss's drop
OK_STATUSES = ("completed", "budget-limited")  # trained to the end of its budget or stopping rule
PROFILE_FIRST, PROFILE_STEPS = 3, 5   # profile steps 3..7: past the first steps' buffer allocation
_clock = time.perf_counter


def build_model(c, in_shape, classes):
    kw = dict(activation=c.activation, norm=c.norm, dropout=c.dropout, init=c.init,
              last_activation=c.last_activation, seed=c.seed, dtype=np.dtype(c.dtype))
    if c.model == "mlp":
        return nn.mlp(tuple(in_shape), classes, c.depth, c.width, **kw)
    return nn.cnn(tuple(in_shape), classes, c.depth, c.width, kernel_size=c.kernel_size, head=c.head,
                  stem_blocks=c.stem_blocks, **kw)


def build_optimizer(c, params, lr):
    kw = {"lr": lr}
    if c.weight_decay is not None:
        kw["weight_decay"] = c.weight_decay
    if c.eps is not None and c.optimizer != "sgd":
        kw["eps"] = c.eps
    if c.optimizer in ("sgd", "rmsprop"):
        kw["momentum"] = c.momentum
    if c.optimizer == "sgd":
        kw["nesterov"] = c.nesterov
    if c.optimizer in ("adam", "adamw"):
        kw["betas"] = tuple(c.betas)
    return make_optimizer(c.optimizer, params, **kw)


def train_step(model, loss_fn, optimizer, x, y, *, penalty=None, clip=None, profile=None):
    """One training step on the batch (x, y); returns the batch loss (data term only). A
    non-finite loss returns at once: no backward, no update. ``profile`` (a StepProfile) times
    each layer; the arithmetic is the same either way."""
    if profile is None:
        loss = loss_fn.forward(model.forward(x), y)
        if not math.isfinite(loss):
            return loss
        model.backward(loss_fn.backward())
    else:
        out = profile.forward(model, x)
        loss = profile.timed("loss", loss_fn.forward, out, y)
        if not math.isfinite(loss):
            return loss
        profile.backward(model, profile.timed("loss", loss_fn.backward))
    t = _clock()
    if penalty is not None:
        penalty.add_grad()
    if clip is not None:
        clip_grad_norm(optimizer.params, clip)
    optimizer.step()
    if profile is not None:
        if getattr(profile, "sync", None) is not None:  # a CUDA run's profile: the update's device time
            profile.sync()
        profile.add(profile.other, "optimizer", _clock() - t)
    return loss


def evaluate(model, loss_fn, x, y, batch_size):
    """Eval-mode loss (mean over samples) and accuracy (argmax of the output) on (x, y), in
    chunks of batch_size; also how many distinct classes were predicted. (x, y) on the model's
    device: argmax and counts there, only the ints come back."""
    if len(x) == 0:
        return {"loss": None, "acc": None, "classes_predicted": 0}
    xp = arrays.array_module(x)
    model.eval()
    total, correct, seen = 0.0, 0, None
    try:
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            out = model.forward(xb)
            total += loss_fn.forward(out, yb) * len(xb)
            pred = out.argmax(axis=1)
            correct += int((pred == yb).sum())
            counts = xp.bincount(pred, minlength=out.shape[1])
            seen = counts if seen is None else seen + counts
    finally:
        model.train()
    return {"loss": _f(total / len(x)), "acc": correct / len(x), "classes_predicted": int((seen > 0).sum())}


def _f(v):
    """A float for the record: None when not finite (strict JSON)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def run(config):
    """Train one configuration; returns the record (see the module docstring). Config errors
    raise TypeError/ValueError, and a device that cannot be used here RuntimeError
    ("train: device 'cuda': <why>"), before any work; nothing after that raises."""
    if isinstance(config, dict):
        config = Config.from_dict(config)
    if not isinstance(config, Config):
        raise TypeError(f"train.run: config: expected a Config or a dict, got {type(config).__name__}")
    config = dataclasses.replace(config).validate()
    check_device(config.device)
    record = {"schema": SCHEMA, "run_id": config.run_id(), "config": config.to_dict(),
              "seeds": {"seed": config.seed, "data_seed": config.data_seed, "shuffle": [config.data_seed, 1],
                        "diagnostics": [config.seed, 2], "noise_scale": [config.seed, 3]},
              "status": None, "stop_reason": None, "history": [], "target": None}
    threads_before = _native.get_num_threads()
    t0 = _clock()
    try:
        if config.threads is not None:
            _native.set_num_threads(config.threads)
        record["provenance"] = provenance.collect(_native.get_num_threads())
        record["provenance"]["device"] = arrays.device_info(config.device)
        # NumPy's BLAS (the diagnostics' and noise scale's dot products) gets the run's thread
        # count too: OpenBLAS threads spinning beside ours cost 1-50 ms per call on a loaded
        # machine and slowed the training steps themselves ~2x.
        with threadpool_limits(limits=_native.get_num_threads(), user_api="blas"), _on_device(config.device):
            _Trainer(config, record).run()
    except Exception as e:  # the record survives anything; the message says what happened
        record["status"] = "failed"
        record["stop_reason"] = f"{type(e).__name__}: {e}"
        record["error"] = traceback.format_exc()
    finally:
        _native.set_num_threads(threads_before)
    record["elapsed"] = _clock() - t0
    return record


def check_device(device):
    """RuntimeError("train: device '<device>': <why>") when ``device`` cannot be used here
    (``arrays.device_unavailable_reason``); the check ``run`` and the CLI make before any work."""
    why = arrays.device_unavailable_reason(device)
    if why:
        raise RuntimeError(f"train: device {device!r}: {why}")


@contextlib.contextmanager
def _on_device(device):
    """CuPy's current device is the run's (its allocations and kernels follow it)."""
    kind, n = arrays.parse_device(device)
    if kind == "cpu":
        yield
        return
    with arrays.cupy().cuda.Device(n):
        yield


class _SyncedProfile(StepProfile):
    """StepProfile for a CUDA run: a device sync before each clock read, so each layer's time
    is its device time (profiled steps only; the arithmetic is unchanged)."""

    def __init__(self, sync):
        super().__init__()
        self.sync = sync

    def forward(self, model, x):
        for layer in model.layers:
            self.sync()
            t = _clock()
            x = layer.forward(x)
            self.sync()
            self.add(self.fwd, layer.op, _clock() - t)
        return x

    def backward(self, model, dy):
        for layer in reversed(model.layers):
            self.sync()
            t = _clock()
            dy = layer.backward(dy)
            self.sync()
            self.add(self.bwd, layer.op, _clock() - t)
            if dy is None:
                break

    def timed(self, key, fn, *args):
        self.sync()
        t = _clock()
        r = fn(*args)
        self.sync()
        self.add(self.other, key, _clock() - t)
        return r


def _to_device(ds, device):
    """The dataset with its arrays on ``device`` (the same object for the CPU: no copy)."""
    if device == "cpu":
        return ds
    return dataclasses.replace(ds, **{k: arrays.to_device(getattr(ds, k), device)
                                      for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")})


class _Trainer:
    def __init__(self, c, record):
        from . import data  # here: importing pybench.train must not need the datasets

        self.c, self.rec = c, record
        ds = self.ds = data.load(c.dataset, resolution=c.resolution, n_train=c.n_train, n_test=c.n_test, val_fraction=c.val_fraction,
                                 normalize=c.normalize, seed=c.data_seed, dtype=np.dtype(c.dtype), path=c.data_path)
        n, b = len(ds.x_train), c.batch_size
        if b > n:
            raise ValueError(f"Config: batch_size: expected <= the training set size {n}, got {b}")
        if len(ds.x_val) == 0 and (c.patience or c.target_accuracy is not None):
            raise ValueError("Config: patience/target_accuracy: need a validation set, got val_fraction=0")
        record["data"] = {"name": ds.name, "num_classes": ds.num_classes, "in_shape": list(ds.in_shape),
                          "n_train": n, "n_val": len(ds.x_val), "n_test": len(ds.x_test), "meta": ds.meta}
        self.sync = None if c.device == "cpu" else (lambda: arrays.synchronize(c.device))
        ds = self.ds = _to_device(ds, c.device)  # once, before any step
        self.model = build_model(c, ds.in_shape, ds.num_classes).to(c.device)  # host init, then moved
        self.loss_fn, self.eval_loss = make_loss(c.loss), make_loss(c.loss)
        self.steps_per_epoch = n // b
        kind, v = c.budget()
        self.total = v if kind == "steps" else v * self.steps_per_epoch
        self.eval_every = c.eval_every or self.steps_per_epoch
        base_lr = scale_lr(c.lr, b, c.base_batch_size, c.lr_scaling)
        self.lr_at = lr_schedule(c.schedule, base_lr, self.total, warmup_steps=c.warmup_steps, step_size=c.step_size,
                                 gamma=c.gamma, min_lr=c.min_lr)
        self.opt = build_optimizer(c, self.model.parameters(), base_lr)
        self.penalty = Penalty(self.model.parameters(), c.l1, c.l2)
        m = self.model
        record["model"] = {"num_parameters": m.num_parameters(), "flops": m.flops(), "train_flops": m.flops(backward=True),
                           "spec": m.spec, "repr": repr(m)}
        record["budget"] = {"steps": self.total, "steps_per_epoch": self.steps_per_epoch, "eval_every": self.eval_every,
                            "base_lr": base_lr}
        diag_rng = np.random.default_rng(record["seeds"]["diagnostics"])
        di = np.sort(diag_rng.choice(n, size=min(c.diag_batch, n), replace=False))
        di = arrays.array_module(ds.x_train).asarray(di)  # host-made indices, used on the data's device
        self.diag = Diagnostics(m, make_loss(c.loss), ds.x_train[di], ds.y_train[di]) if c.diagnostics else None
        self.noise = (NoiseScale(m, make_loss(c.loss), ds.x_train, ds.y_train, b, c.noise_batches,
                                 np.random.default_rng(record["seeds"]["noise_scale"])) if c.noise_scale else None)
        first = min(PROFILE_FIRST, max(self.total - PROFILE_STEPS, 0))
        self.profile_steps = set(range(first, min(first + PROFILE_STEPS, self.total))) if c.profile else set()
        self.prof = StepProfile() if self.sync is None else _SyncedProfile(self.sync)
        self.train_time, self.best_loss, self.best_step, self.snapshot, self.bad_evals = 0.0, math.inf, None, None, 0
        self.best_acc, self.acc_step, self.acc_snapshot = -math.inf, None, None  # the selection checkpoint
        self.watched = None  # best value of early_stop_on so far, for patience
        self.loss0 = None    # the first step's training loss: the divergence reference
        self.status, self.stop_reason, self.last_val = None, None, None

    # ---- the loop ---------------------------------------------------------------------------
    def run(self):
        c, ds, b, spe = self.c, self.ds, self.c.batch_size, self.steps_per_epoch
        shuffle = np.random.default_rng(self.rec["seeds"]["shuffle"])
        xp, sync = arrays.array_module(ds.x_train), self.sync
        xb = arrays.empty(ds.x_train, (b,) + ds.x_train.shape[1:])
        yb = arrays.empty(ds.y_train, (b,))
        times = np.zeros(self.total)
        clip = c.clip_grad_norm
        penalty = self.penalty if self.penalty.active else None
        stop = self.checkpoint(0, None)
        step, loss_sum, loss_n, perm = 0, 0.0, 0, None
        while not stop and step < self.total:
            if step % spe == 0:
                perm = shuffle.permutation(len(ds.x_train))  # on the host (the CPU run's order)
                if xp is not np:
                    perm = xp.asarray(perm)  # moved once per epoch
            idx = perm[(step % spe) * b:(step % spe + 1) * b]
            prof = self.prof if step in self.profile_steps else None
            if prof is not None and sync is not None:
                sync()  # the previous step's device tail is not this profiled step's
            t = _clock()
            xp.take(ds.x_train, idx, axis=0, out=xb)
            xp.take(ds.y_train, idx, out=yb)
            if prof is not None:
                if sync is not None:
                    sync()
                prof.add(prof.other, "data", _clock() - t)
            self.opt.lr = self.lr_at(step)
            loss = train_step(self.model, self.loss_fn, self.opt, xb, yb, penalty=penalty, clip=clip, profile=prof)
            times[step] = dt = _clock() - t
            if prof is not None:
                prof.end_step(dt)
            self.train_time += dt
            step += 1
            loss_sum, loss_n = loss_sum + loss, loss_n + 1
            if self.loss0 is None:
                self.loss0 = loss
            if not math.isfinite(loss):
                self.status, self.stop_reason = "diverged", f"non-finite training loss ({loss}) at step {step}"
                self.checkpoint(step, loss)
                break
            if step % self.eval_every == 0 or step == self.total:
                stop = self.checkpoint(step, loss_sum / loss_n)
                loss_sum, loss_n = 0.0, 0
        self.finish(step, times[:step])

    def checkpoint(self, step, train_loss):
        """Evaluate at ``step`` (history, target, best snapshot); True when the run should stop."""
        c, rec = self.c, self.rec
        val = self.last_val = evaluate(self.model, self.eval_loss, self.ds.x_val, self.ds.y_val, c.batch_size)
        entry = {"step": step, "epoch": step / self.steps_per_epoch, "samples": step * c.batch_size,
                 "wall_time": self.train_time, "lr": self.opt.lr if step else self.lr_at(0),
                 "train_loss": _f(train_loss), "val_loss": val["loss"], "val_acc": val["acc"]}
        with np.errstate(all="ignore"):
            entry["diagnostics"] = self.diag() if self.diag else None
            if self.noise:
                entry["noise_scale"] = self.noise(step)
        rec["history"].append(entry)
        if self.status == "diverged":
            return True
        if val["acc"] is not None and val["loss"] is None:
            self.status, self.stop_reason = "diverged", f"non-finite validation loss at step {step}"
            return True
        if train_loss is not None and self.loss0 is not None and train_loss > DIVERGE_FACTOR * abs(self.loss0):
            self.status, self.stop_reason = "diverged", (
                f"training loss {train_loss:.4g} (mean since the last evaluation) above {DIVERGE_FACTOR:g}x the "
                f"first step's {self.loss0:.4g} at step {step}")
            return True
        if val["acc"] is not None and val["acc"] > self.best_acc:
            self.best_acc, self.acc_step = val["acc"], step
            self.acc_snapshot = self.model.state_dict()
        if c.target_accuracy is not None and rec["target"] is None and val["acc"] >= c.target_accuracy:
            rec["target"] = {k: entry[k] for k in ("step", "epoch", "samples", "wall_time")}
            if c.stop_at_target:
                self.stop_reason = f"reached target val accuracy {c.target_accuracy} at step {step}"
                return True
        if val["loss"] is not None and val["loss"] < self.best_loss:
            self.best_loss, self.best_step = val["loss"], step
            self.snapshot = self.model.state_dict()
        return self._patience_spent(val, step)

    def _patience_spent(self, val, step):
        """Early stopping: True after ``patience`` evaluations in a row that did not improve
        ``early_stop_on`` on its best so far by more than ``min_delta``."""
        c = self.c
        v = val["loss"] if c.early_stop_on == "val_loss" else val["acc"]
        if v is None:
            return False
        better = (self.watched is None or (v < self.watched - c.min_delta if c.early_stop_on == "val_loss"
                                           else v > self.watched + c.min_delta))
        if better:
            self.watched, self.bad_evals = v, 0
            return False
        self.bad_evals += 1
        if c.patience is not None and self.bad_evals >= c.patience:
            best = self.best_step if c.early_stop_on == "val_loss" else self.acc_step
            self.stop_reason = (f"early stopping: {c.early_stop_on} did not improve by more than {c.min_delta:g} in "
                                f"{c.patience} evaluations (best at step {best})")
            return True
        return False

    def finish(self, steps, times):
        c, rec, val, ds = self.c, self.rec, self.last_val, self.ds
        ln_c = math.log(ds.num_classes)
        rec["collapse"] = {"val_classes_predicted": val["classes_predicted"], "val_loss": val["loss"], "ln_classes": ln_c,
                           "dead_fraction": (rec["history"][-1].get("diagnostics") or {}).get("dead_fraction")}
        single = val["acc"] is not None and val["classes_predicted"] == 1
        near = c.loss != "cross_entropy" or (val["loss"] is not None and abs(val["loss"] - ln_c) <= 0.1 * ln_c)
        rec["convergence"] = late_drop(rec["history"], self.total) if steps == self.total and not self.stop_reason else None
        if self.status is None:
            if single and near:
                self.status = "collapsed"
            elif rec["convergence"] and rec["convergence"]["still_falling"]:
                self.status = "budget-limited"
            else:
                self.status = "completed"
        rec["status"] = self.status
        rec["stop_reason"] = self.stop_reason or f"budget of {self.total} steps done"
        rec["steps"] = steps
        at = steps
        by_acc = c.patience is not None and c.early_stop_on == "val_acc" and self.status != "diverged"
        step_snap = (self.acc_step, self.acc_snapshot) if by_acc else (self.best_step, self.snapshot)
        if (c.patience is not None or self.status == "diverged") and step_snap[1] is not None:
            at = step_snap[0]
            if at != steps:
                self.model.load_state_dict(step_snap[1])
        hist = rec["history"]
        accs = [h["val_acc"] for h in hist if h["val_acc"] is not None]
        rec["best_val_acc"] = max(accs) if accs else None
        rec["best"] = {"step": self.best_step, "val_loss": _f(self.best_loss),
                       "val_acc": next((h["val_acc"] for h in hist if h["step"] == self.best_step), None)}
        test = evaluate(self.model, self.eval_loss, ds.x_test, ds.y_test, c.batch_size)
        train = evaluate(self.model, self.eval_loss, ds.x_train, ds.y_train, c.batch_size)
        rec["test"] = {"loss": test["loss"], "acc": test["acc"], "step": at}
        rec["train"] = {"loss": train["loss"], "acc": train["acc"], "step": at}
        rec["gap"] = train["acc"] - test["acc"] if test["acc"] is not None else None
        samples = steps * c.batch_size
        tt = self.train_time
        rec["throughput"] = {"samples_per_s": samples / tt if tt > 0 else None,
                             "step_time": float(np.median(times[1:] if len(times) > 1 else times)) if len(times) else None,
                             "gflops": rec["model"]["train_flops"] * samples / tt / 1e9 if tt > 0 else None,
                             "train_time": tt, "steps_timed": steps}
        rec["breakdown"], rec["breakdown_split"] = self.prof.result()
        rec["profile_steps"] = self.prof.steps
        rec["noise_scale"] = self.noise.summary((rec["target"] or {}).get("step")) if self.noise else None
        rec["selected"] = self._selected(at, test)

    def _selected(self, at, test):
        """The test metrics at the best-validation-accuracy checkpoint (evaluated last: it loads
        that snapshot into the model)."""
        if self.acc_snapshot is None:
            return None
        sel = {"metric": "val_acc", "step": self.acc_step, "val_acc": self.best_acc}
        if self.acc_step != at:
            self.model.load_state_dict(self.acc_snapshot)
            test = evaluate(self.model, self.eval_loss, self.ds.x_test, self.ds.y_test, self.c.batch_size)
        sel["test"] = {"loss": test["loss"], "acc": test["acc"]}
        return sel


def late_drop(history, total):
    """Is the training loss still falling at the end of the budget? From the evaluations' mean
    training losses: the drop over the last LATE_FRACTION of the steps as a fraction of the drop
    since the first evaluation; "still_falling" when above PLATEAU_TOL. None with < 3 evaluations."""
    pts = [(h["step"], h["train_loss"]) for h in history if h.get("train_loss") is not None]
    if len(pts) < 3:
        return None
    first, end = pts[0][1], pts[-1][1]
    cut = (1.0 - LATE_FRACTION) * total
    late = [l for s, l in pts if s <= cut][-1]
    total_drop = first - end
    frac = (late - end) / total_drop if total_drop > 0 else None
    return {"first_loss": first, "loss_at_cut": late, "final_loss": end, "cut_step": int(cut),
            "late_drop_fraction": frac, "threshold": PLATEAU_TOL,
            "still_falling": frac is not None and frac > PLATEAU_TOL}


def summary(record):
    """A few readable lines about a record (for the command line)."""
    r, t = record, record.get("throughput") or {}
    lines = [f"run {r['run_id']}: {r['status']} ({r['stop_reason']})"]
    if r["status"] == "failed":
        return "\n".join(lines + [r.get("error", "")])
    lines.append(f"model {r['model']['num_parameters']:,} params, {r['model']['train_flops']:,} train FLOPs/sample; "
                 f"{r['steps']} steps of {r['config']['batch_size']}")
    pct = (lambda v: "-" if v is None else f"{100 * v:.2f}%")
    lines.append(f"test acc {pct(r['test']['acc'])}  best val acc {pct(r['best_val_acc'])}  "
                 f"train acc {pct(r['train']['acc'])}  (weights of step {r['test']['step']}; "
                 f"lowest val loss at step {r['best']['step']})")
    if t.get("samples_per_s"):
        lines.append(f"train time {t['train_time']:.2f} s, {t['samples_per_s']:,.0f} samples/s, "
                     f"median step {1e3 * t['step_time']:.3f} ms, {t['gflops']:.2f} GFLOP/s; elapsed {r['elapsed']:.2f} s")
    if r.get("target"):
        lines.append(f"target reached at step {r['target']['step']} after {r['target']['wall_time']:.2f} s")
    if r.get("breakdown"):
        lines.append("step breakdown: " + ", ".join(f"{k} {1e3 * v:.3f} ms" for k, v in r["breakdown"].items()))
    ns = r.get("noise_scale")
    if ns:
        def b(p):
            v, se = (p or {}).get("b_simple"), (p or {}).get("b_simple_se")
            return "-" if v is None else f"{v:.3g}" + (f" (jackknife SE {se:.2g})" if se is not None else "")
        lines.append(f"noise scale B_simple (EMA of each term, step 0 left out): {b(ns)} at the end"
                     + (f", {b(ns['at_target'])} at the target" if ns.get("at_target") else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    # `python -m pybench.train ...` is `pybench train ...`. The command line is imported here, where
    # this file runs as the program, never by `import pybench.train`: pybench.cli imports this module,
    # so this module must not import pybench.cli.
    from pybench.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
