"""Parameter, Module and Sequential: the skeleton every layer hangs on.

A layer is an object with an explicit ``forward(x) -> y`` and ``backward(dy) -> dx``: forward keeps
what backward needs (its input, saved statistics), backward writes the parameters' ``.grad``
(overwriting, never accumulating) and returns the gradient of its input.

Buffers are reused: a layer's output and input-gradient arrays live in a small per-layer cache keyed
by the input's shape and dtype, so steady-state training allocates nothing (fresh memory costs
~1 us per 4 KiB page on the 2-core VMs measured). Consequently **an array returned by
forward or backward is valid until that layer's next call** with an input of the same shape;
copy it to keep it. ``release_buffers()`` frees the cache (say after a large evaluation batch).
A layer object is one node of one graph: using it twice in a model would make
the second call overwrite what the first one's backward needs.

Devices: a model is built on the host (NumPy, the host RNG) and ``Module.to("cuda")`` moves its
parameters, gradients and buffers to the GPU (CuPy arrays, through pybench.arrays), so a CUDA
model starts from bit-identical weights. From then on it takes CUDA arrays and allocates its
buffers on their device (``arrays.empty``); nothing is copied to the host behind your back.
"""

import numpy as np

from .. import arrays

__all__ = ["Parameter", "Module", "Sequential"]

# Buffer sets kept per layer (train batch, last partial batch, eval batch, noise-scale batches...);
# beyond that the oldest set is dropped (and reallocated if that shape comes back).
_MAX_SHAPES = 6


class Parameter:
    """A trainable array and its gradient (same shape and dtype; zero until the first backward).

    ``decay`` says whether weight decay and L1/L2 penalties apply: True for Linear/Conv weights,
    False for biases and BatchNorm's affine parameters. ``name`` is qualified by the enclosing
    Sequential (``"3.weight"``). ``data`` and ``grad`` are updated in place, never rebound, so
    optimizers and layers may hold references to them (the one exception: ``Module.to`` moving
    them to another device, which comes before building an optimizer).
    """

    __slots__ = ("name", "data", "grad", "decay")

    def __init__(self, name, data, decay=False):
        self.name = name
        self.data = data if arrays.is_cuda_array(data) else np.ascontiguousarray(data)
        self.grad = arrays.zeros_like(self.data)
        self.decay = bool(decay)

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.data.shape}, dtype={self.data.dtype}, decay={self.decay})"


def check_dtype(dtype, who):
    """np.float32 / np.float64 (any spelling) -> the np.dtype; anything else is a TypeError."""
    try:
        dt = None if dtype is None else np.dtype(dtype)  # np.dtype(None) would mean float64
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{who}: dtype: expected float32 or float64, got {dtype!r}")
    return dt


def check_int(value, name, who, minimum=1):
    """An int >= minimum (bools and floats refused with TypeError, small values with ValueError)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{who}: {name}: expected an int >= {minimum}, got {value!r}")
    v = int(value.__index__())
    if v < minimum:
        raise ValueError(f"{who}: {name}: expected an int >= {minimum}, got {v}")
    return v


class Module:
    """Base class. Subclasses set ``op`` (the op family for time breakdowns), keep their own
    parameters in ``self._params`` and the names of their buffer attributes in ``self._buffers``,
    and implement ``forward``, ``backward``, ``output_shape`` and ``flops``."""

    training = True
    op = "module"
    compute_dx = True

    def __init__(self):
        self._params = []
        self._buffers = ()
        self._cache = {}  # input shape (and dtype) -> [output, dx, ...] buffers

    # ---- graph ---------------------------------------------------------------------------
    def children(self):
        return []

    def modules(self):
        """Self and every submodule, depth first (a model's layers in order)."""
        yield self
        for c in self.children():
            yield from c.modules()

    def named_parameters(self, prefix=""):
        for p in self._params:
            yield prefix + p.name.rsplit(".", 1)[-1], p
        for i, c in enumerate(self.children()):
            yield from c.named_parameters(f"{prefix}{i}.")

    def parameters(self):
        """Every Parameter in a fixed order: a model's layers in order, weight before bias."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self):
        return sum(p.data.size for p in self.parameters())

    def release_buffers(self):
        """Drop every cached output/gradient buffer (e.g. after evaluating with a large batch);
        they are reallocated on the next call. Saved forward state goes too (backward needs a
        new forward)."""
        for m in self.modules():
            m._cache.clear()
            for attr in ("_x", "_ent", "_shape", "_saved"):
                if attr in m.__dict__:
                    setattr(m, attr, None)

    def zero_grad(self):
        for p in self.parameters():
            p.grad[...] = 0

    # ---- device ----------------------------------------------------------------------------
    @property
    def device(self):
        """"cpu" or "cuda:<N>": where the parameters and buffers live (a model without any: "cpu")."""
        for _, v, _ in self._named_state():
            if arrays.is_cuda_array(v):
                return arrays.device_of(v)
        return "cpu"

    def to(self, device):
        """Move every parameter, gradient and array buffer (BatchNorm running stats) of this
        module and its submodules to ``device`` ("cpu", "cuda", "cuda:<N>"); returns self.
        Arrays already there are kept as they are (``to("cpu")`` on a host model is a no-op that
        keeps every array's identity). Moved arrays are new objects, and the layers' cached
        buffers are dropped: move a model before building its optimizer (as in PyTorch).
        Needs CuPy for a CUDA device (RuntimeError otherwise)."""
        arrays.parse_device(device, f"{type(self).__name__}.to: device")
        for m in self.modules():
            moved = False
            for p in m._params:
                data, grad = arrays.to_device(p.data, device), arrays.to_device(p.grad, device)
                moved |= data is not p.data or grad is not p.grad
                p.data, p.grad = data, grad
            for b in m._buffers:
                v = getattr(m, b)
                w = arrays.to_device(v, device)
                if w is not v:
                    setattr(m, b, w)
                    moved = True
            if moved:
                m._cache.clear()
        return self

    # ---- modes -----------------------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # ---- state -----------------------------------------------------------------------------
    def _local_state(self):
        """name -> array (not copied) of this module's own parameters and buffers."""
        d = {p.name.rsplit(".", 1)[-1]: p.data for p in self._params}
        for b in self._buffers:
            d[b] = getattr(self, b)
        return d

    def _load_local(self, name, value):
        target = self._local_state()[name]
        arrays.copyto(target, value)  # in place (optimizers hold references), across devices if need be

    def _named_state(self, prefix=""):
        for k, v in self._local_state().items():
            yield prefix + k, v, self
        for i, c in enumerate(self.children()):
            yield from c._named_state(f"{prefix}{i}.")

    def state_dict(self):
        """Copies of every parameter and buffer (BatchNorm running stats, Dropout offsets), on
        the device they live on (CuPy arrays for a CUDA model; ``arrays.asnumpy`` to bring back)."""
        return {k: arrays.copy(v) for k, v, _ in self._named_state()}

    def load_state_dict(self, d, strict=True):
        """Copy ``d`` (from state_dict) into this module in place; shapes must match. Keys must
        match too, except that ``strict=False`` allows missing ones (e.g. restore buffers only);
        unexpected keys are an error either way (PyTorch ignores them when not strict). Values
        may live on either device (host snapshots load into a CUDA model and back)."""
        who = f"{type(self).__name__}.load_state_dict"
        if not isinstance(d, dict):
            raise TypeError(f"{who}: d: expected a dict, got {type(d).__name__}")
        mine = {k: (v, m) for k, v, m in self._named_state()}
        missing, unexpected = sorted(set(mine) - set(d)), sorted(set(d) - set(mine))
        if (missing and strict) or unexpected:
            raise ValueError(f"{who}: d: expected keys {sorted(mine)}, got missing {missing}, unexpected {unexpected}")
        todo = []
        for k, (v, m) in mine.items():  # check everything first: a bad entry loads nothing
            if k in d:
                value = d[k] if arrays.is_cuda_array(d[k]) else np.asarray(d[k])
                if tuple(value.shape) != tuple(v.shape):
                    raise ValueError(f"{who}: d[{k!r}]: expected shape {tuple(v.shape)}, got {tuple(value.shape)}")
                todo.append((m, k.rsplit(".", 1)[-1], value))
        for m, name, value in todo:
            m._load_local(name, value)

    # ---- computation -----------------------------------------------------------------------
    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}.forward: every layer defines its own")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__}.backward: every layer defines its own")

    def output_shape(self, in_shape):
        """Per-sample output shape (no batch dimension) for a per-sample input shape."""
        return tuple(in_shape)

    def flops(self, in_shape, backward=False):
        """FLOPs per sample of forward (multiply-add = 2); ``backward=True``: forward + backward,
        i.e. one training step (see pybench.nn.layers for what each layer counts)."""
        return 0

    # ---- helpers for subclasses ------------------------------------------------------------
    def _label(self):
        return repr(self)

    def _fail(self, e):
        """Re-raise a native op's TypeError/ValueError with this layer named in front."""
        return type(e)(f"{self._label()}: {e}")

    def _call(self, op, *args, **kwargs):
        """op(*args, **kwargs): a native op whose TypeError/ValueError is re-raised naming this layer."""
        try:
            return op(*args, **kwargs)
        except (TypeError, ValueError) as e:
            raise self._fail(e) from None

    def _not_array(self, x):
        return TypeError(f"{self._label()}.forward: x: expected a numpy.ndarray or a CUDA array, got {type(x).__name__}")

    def _no_forward(self):
        return RuntimeError(f"{self._label()}.backward: called before forward")

    def _entry(self, x, out_shape=None, extra=None):
        """The [output, dx, extra] buffers reused for inputs of x's shape and dtype, allocated at the
        first such input (output of shape ``out_shape()`` or x's, ``extra`` a second output's dtype);
        remembers x for backward."""
        key = (x.shape, x.dtype)
        ent = self._cache.get(key)
        if ent is None:
            out = x.shape if out_shape is None else out_shape()
            if len(self._cache) >= _MAX_SHAPES:
                del self._cache[next(iter(self._cache))]
            ent = self._cache[key] = [arrays.empty(x, out), None, None if extra is None else arrays.empty(x, out, extra)]
        self._x, self._ent = x, ent
        return ent

    def _dx(self, always=False):
        """The input-gradient buffer for the last forward's input: None when compute_dx is off
        (unless ``always``, for native ops that write dx regardless)."""
        x = self._x
        if x is None:
            raise self._no_forward()
        if not (self.compute_dx or always):
            return None
        dx = self._ent[1]
        if dx is None:
            dx = self._ent[1] = arrays.empty(x, x.shape)
        return dx

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse.

    ``compute_dx = False`` (what the builders set) turns off the input gradient of every leading
    layer up to and including the first layer with parameters: the data needs no gradient, so
    the first Linear/Conv skips its dx GEMM and backward returns None. Backward stops at the
    first layer that returns None; layers before it are not visited.
    """

    op = "sequential"

    def __init__(self, *layers, in_shape=None, name=None):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layers[{i}]: expected a Module, got {type(layer).__name__}")
        self.layers = list(layers)
        self.in_shape = None if in_shape is None else tuple(int(s) for s in in_shape)
        self.name = name
        self._compute_dx = True
        for qual, p in self.named_parameters():
            p.name = qual

    def children(self):
        return self.layers

    @property
    def compute_dx(self):
        return self._compute_dx

    @compute_dx.setter
    def compute_dx(self, value):
        self._compute_dx = bool(value)
        for layer in self.layers:
            layer.compute_dx = self._compute_dx
            if layer.parameters():
                break

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if dy is None:
                return None
        return dy

    def output_shape(self, in_shape=None):
        shape = self._in(in_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def flops(self, in_shape=None, backward=False):
        """Sum of the layers' FLOPs per sample (``in_shape`` defaults to ``self.in_shape``).
        With ``backward=True``: a training step's forward + backward FLOPs, where layers with
        ``compute_dx=False`` (the builders' first layer) count no input gradient."""
        shape, total = self._in(in_shape), 0
        for layer in self.layers:
            total += layer.flops(shape, backward=backward)
            shape = layer.output_shape(shape)
        return total

    def _in(self, in_shape):
        if in_shape is None:
            if self.in_shape is None:
                raise ValueError("Sequential: in_shape: expected a per-sample shape (this model has no .in_shape), "
                                 "got None")
            return self.in_shape
        if isinstance(in_shape, (int, np.integer)):
            return (int(in_shape),)
        return tuple(in_shape)

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def summary(self):
        """One line: shapes, parameter count and forward FLOPs per sample (needs in_shape)."""
        return (f"in {self.in_shape} -> out {self.output_shape()}, {self.num_parameters():,} parameters, "
                f"{self.flops():,} FLOPs/sample forward, {self.flops(backward=True):,} per training step")

    def __repr__(self):
        lines = [self.name or "Sequential"]
        if self.in_shape is not None:
            try:
                lines.append("  # " + self.summary())
            except (TypeError, ValueError) as e:  # a hand-built model whose shapes do not chain
                lines.append(f"  # shapes do not chain: {e}")
        lines += [f"  ({i}) {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return "\n".join(lines)
