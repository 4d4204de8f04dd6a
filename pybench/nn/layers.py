"""The layers: Linear, Conv2d, BatchNorm1d/2d, Dropout, MaxPool2d, AvgPool2d, GlobalAvgPool,
Flatten, Identity. Every computation is one native op from pybench.ops, writing into buffers the
layer keeps (an output is valid until the layer's next call with the same input shape).

Layers with parameters have a dtype fixed at construction (float32 or float64) and refuse input
of another dtype with a TypeError naming the layer; parameter-free layers follow their input.

FLOPs per sample (``flops(in_shape, backward=False)``): Linear and Conv2d count exactly, a
multiply-add as 2, plus 1 per output for the bias; with ``backward=True`` they add the weight
gradient (same multiply-adds), the bias gradient (1 per output) and, unless ``compute_dx`` is
False, the input gradient (same multiply-adds again). Memory-bound layers count nominal figures,
documented on each class; they hardly matter next to the GEMMs and their time follows bytes.

Conv2d and the pools normalize stride/padding/... once at construction and pass the native ops
plain tuples, so no call pays for re-parsing them.
"""

import math

import numpy as np

from .. import _native, ops
from ..arrays import is_cuda_array
from .init import initialize
from .module import Module, Parameter, check_dtype, check_int

__all__ = ["Identity", "Flatten", "Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "Dropout",
           "MaxPool2d", "AvgPool2d", "GlobalAvgPool"]


def _rng(rng, who):
    """None -> a fixed default (seed 0; nothing here touches a global RNG), int -> seeded, or a Generator."""
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{who}: rng: expected a numpy Generator, an int seed or None, got {type(rng).__name__}")


def _pair(v, name, who, minimum):
    items = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(items) != 2:
        raise ValueError(f"{who}: {name}: expected an int or a pair of ints, got {v!r}")
    return tuple(check_int(e, name, who, minimum) for e in items)


class _Layer(Module):
    """Shared input checks of layers with a fixed dtype."""

    dtype = None

    def _repr_tail(self):
        """The non-default bias and dtype arguments, as the constructor call spells them."""
        return (", bias=False" if getattr(self, "bias", True) is None else "") + (
            f", dtype={self.dtype}" if self.dtype != np.float32 else "")

    def _bad_input(self, x, expected):
        """The error for an input that failed the fast check (built only on that slow path)."""
        if not (isinstance(x, np.ndarray) or is_cuda_array(x)):
            return self._not_array(x)
        if x.dtype != self.dtype:
            return TypeError(f"{self._label()}.forward: x: expected dtype {self.dtype}, got {x.dtype}")
        return ValueError(f"{self._label()}.forward: x: expected shape {expected}, got {x.shape}")


class Identity(Module):
    op = "identity"

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy if self.compute_dx else None


class Flatten(Module):
    """(N, ...) -> (N, prod(...)), a view of a C-contiguous input (no copy); backward reshapes dy."""

    op = "flatten"

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x):
        if not (isinstance(x, np.ndarray) or is_cuda_array(x)):
            raise self._not_array(x)
        if not x.flags.c_contiguous or x.ndim < 1:
            raise ValueError(f"Flatten().forward: x: expected a C-contiguous array with a batch axis (a view, "
                             f"never a copy), got shape {x.shape}, strides {x.strides}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        if self._shape is None:
            raise self._no_forward()
        return dy.reshape(self._shape) if self.compute_dx else None

    def output_shape(self, in_shape):
        return (math.prod(in_shape),)


class Linear(_Layer):
    """y = x @ weight.T + bias; x (N, in_features), weight (out_features, in_features)."""

    op = "linear"

    def __init__(self, in_features, out_features, bias=True, *, init="he_normal", bias_init="zeros",
                 dtype=np.float32, rng=None):
        super().__init__()
        who = "Linear"
        self.in_features = check_int(in_features, "in_features", who)
        self.out_features = check_int(out_features, "out_features", who)
        self.dtype = check_dtype(dtype, who)
        self.init = init
        rng = _rng(rng, who)
        fi, fo = self.in_features, self.out_features
        self.weight = Parameter("weight", initialize(init, (fo, fi), fi, fo, rng, self.dtype, who), decay=True)
        self._params = [self.weight]
        self.bias = None
        if bias:
            self.bias = Parameter("bias", initialize(bias_init, (fo,), fi, fo, rng, self.dtype, who))
            self._params.append(self.bias)
        self._x = self._ent = None

    def forward(self, x):
        if (not (isinstance(x, np.ndarray) or is_cuda_array(x)) or x.dtype != self.dtype or x.ndim != 2
                or x.shape[1] != self.in_features):
            raise self._bad_input(x, f"(N, {self.in_features})")
        ent = self._entry(x, lambda: (x.shape[0], self.out_features))
        b = self.bias
        return self._call(ops.linear_forward, x, self.weight.data, None if b is None else b.data, out=ent[0])

    def backward(self, dy):
        dx, x = self._dx(), self._x
        b = self.bias
        return self._call(ops.linear_backward, dy, x, self.weight.data, bias=b is not None, compute_dx=self.compute_dx,
                          dx=dx, dweight=self.weight.grad, dbias=None if b is None else b.grad)[0]

    def output_shape(self, in_shape):
        in_shape = tuple(in_shape)
        if in_shape != (self.in_features,):
            raise ValueError(f"{self._label()}.output_shape: in_shape: expected ({self.in_features},), got {in_shape}")
        return (self.out_features,)

    def flops(self, in_shape, backward=False):
        self.output_shape(in_shape)
        mac2 = 2 * self.in_features * self.out_features
        nb = self.out_features if self.bias is not None else 0
        total = mac2 + nb
        if backward:
            total += mac2 + nb + (mac2 if self.compute_dx else 0)
        return total

    def extra_repr(self):
        s = f"{self.in_features}, {self.out_features}"
        return s + self._repr_tail()


class Conv2d(_Layer):
    """2-D convolution (cross-correlation), NCHW, weight (O, C/groups, kh, kw), zero padding."""

    op = "conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 *, init="he_normal", bias_init="zeros", dtype=np.float32, rng=None):
        super().__init__()
        who = "Conv2d"
        self.in_channels = check_int(in_channels, "in_channels", who)
        self.out_channels = check_int(out_channels, "out_channels", who)
        self.kernel_size = _pair(kernel_size, "kernel_size", who, 1)
        self.stride = _pair(stride, "stride", who, 1)
        self.padding = _pair(padding, "padding", who, 0)
        self.dilation = _pair(dilation, "dilation", who, 1)
        self.groups = check_int(groups, "groups", who)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"Conv2d: groups: expected a divisor of in_channels ({self.in_channels}) and "
                             f"out_channels ({self.out_channels}), got {self.groups}")
        self.dtype = check_dtype(dtype, who)
        self.init = init
        rng = _rng(rng, who)
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels // self.groups, kh, kw)
        fi, fo = shape[1] * kh * kw, self.out_channels * kh * kw  # PyTorch's fans (fan_out not / groups)
        self.weight = Parameter("weight", initialize(init, shape, fi, fo, rng, self.dtype, who), decay=True)
        self._params = [self.weight]
        self.bias = None
        if bias:
            self.bias = Parameter("bias", initialize(bias_init, (self.out_channels,), fi, fo, rng, self.dtype, who))
            self._params.append(self.bias)
        self._x = self._ent = None

    def output_shape(self, in_shape):
        in_shape = tuple(in_shape)
        if len(in_shape) != 3 or in_shape[0] != self.in_channels:
            raise ValueError(f"{self._label()}.output_shape: in_shape: expected ({self.in_channels}, H, W), "
                             f"got {in_shape}")
        hw = []
        for size, k, s, p, d in zip(in_shape[1:], self.kernel_size, self.stride, self.padding, self.dilation):
            o = (size + 2 * p - d * (k - 1) - 1) // s + 1
            if o < 1:
                raise ValueError(f"{self._label()}: in_shape: expected H, W at least the dilated kernel "
                                 f"(minus padding), got {in_shape}")
            hw.append(o)
        return (self.out_channels, hw[0], hw[1])

    def forward(self, x):
        if (not (isinstance(x, np.ndarray) or is_cuda_array(x)) or x.dtype != self.dtype or x.ndim != 4
                or x.shape[1] != self.in_channels):
            raise self._bad_input(x, f"(N, {self.in_channels}, H, W)")
        ent = self._entry(x, lambda: (x.shape[0],) + self.output_shape(x.shape[1:]))
        b = self.bias
        return self._call(_native.conv2d_forward, x, self.weight.data, None if b is None else b.data, self.stride,
                          self.padding, self.dilation, self.groups, out=ent[0], impl="")

    def backward(self, dy):
        dx, x = self._dx(), self._x
        b = self.bias
        return self._call(_native.conv2d_backward, dy, x, self.weight.data, self.stride, self.padding, self.dilation,
                          self.groups, bias=b is not None, compute_dx=self.compute_dx, dx=dx, dweight=self.weight.grad,
                          dbias=None if b is None else b.grad, impl="")[0]

    def flops(self, in_shape, backward=False):
        o, oh, ow = self.output_shape(in_shape)
        kh, kw = self.kernel_size
        outputs = o * oh * ow
        mac2 = 2 * (self.in_channels // self.groups) * kh * kw * outputs
        nb = outputs if self.bias is not None else 0
        total = mac2 + nb
        if backward:
            total += mac2 + nb + (mac2 if self.compute_dx else 0)
        return total

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        for name, default in (("stride", (1, 1)), ("padding", (0, 0)), ("dilation", (1, 1))):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + self._repr_tail()


class _BatchNorm(_Layer):
    """Batch normalization (PyTorch semantics: biased batch variance to normalize, unbiased into
    running_var, running = (1 - momentum) running + momentum batch). Training normalizes with the
    batch statistics and updates the running ones; eval uses the running ones. weight/bias
    (affine, start at 1 and 0) do not decay. running_mean/running_var are buffers (state_dict).
    FLOPs, nominal: 4 per element forward (two statistics, normalize, affine), 6 more backward.
    The native backward always computes dx, so compute_dx=False only discards it."""

    op = "batch_norm"
    ndim = 2

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, *, dtype=np.float32):
        super().__init__()
        who = type(self).__name__
        self.num_features = c = check_int(num_features, "num_features", who)
        self.eps, self.momentum = float(eps), float(momentum)
        if not (math.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"{who}: eps: expected a finite number >= 0, got {eps!r}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"{who}: momentum: expected a number in [0, 1], got {momentum!r}")
        self.dtype = check_dtype(dtype, who)
        self.affine = bool(affine)
        self.weight = self.bias = None
        if self.affine:
            self.weight = Parameter("weight", np.ones(c, self.dtype))
            self.bias = Parameter("bias", np.zeros(c, self.dtype))
            self._params = [self.weight, self.bias]
        self.running_mean = np.zeros(c, self.dtype)
        self.running_var = np.ones(c, self.dtype)
        self._buffers = ("running_mean", "running_var")
        self._x = self._ent = self._saved = None

    def forward(self, x):
        if (not (isinstance(x, np.ndarray) or is_cuda_array(x)) or x.dtype != self.dtype or x.ndim != self.ndim
                or x.shape[1] != self.num_features):
            raise self._bad_input(x, "(N, C)" if self.ndim == 2 else "(N, C, H, W)")
        ent = self._entry(x)
        w, b = self.weight, self.bias
        y, mean, invstd = self._call(ops.batch_norm_forward, x, None if w is None else w.data,
                                     None if b is None else b.data, self.running_mean, self.running_var, self.training,
                                     self.momentum, self.eps, out=ent[0])
        self._saved = (mean, invstd, self.training)
        return y

    def backward(self, dy):
        dx, x = self._dx(always=True), self._x  # the native backward always writes dx
        mean, invstd, training = self._saved
        w, b = self.weight, self.bias
        self._call(ops.batch_norm_backward, dy, x, None if w is None else w.data, mean, invstd, training, dx=dx,
                   dweight=None if w is None else w.grad, dbias=None if b is None else b.grad)
        return dx if self.compute_dx else None

    def output_shape(self, in_shape):
        in_shape = tuple(in_shape)
        if len(in_shape) != self.ndim - 1 or in_shape[0] != self.num_features:
            want = f"({self.num_features},)" if self.ndim == 2 else f"({self.num_features}, H, W)"
            raise ValueError(f"{self._label()}.output_shape: in_shape: expected {want}, got {in_shape}")
        return in_shape

    def flops(self, in_shape, backward=False):
        return math.prod(self.output_shape(in_shape)) * (10 if backward else 4)

    def extra_repr(self):
        s = f"{self.num_features}"
        if self.eps != 1e-5:
            s += f", eps={self.eps}"
        if self.momentum != 0.1:
            s += f", momentum={self.momentum}"
        if not self.affine:
            s += ", affine=False"
        if self.dtype != np.float32:
            s += f", dtype={self.dtype}"
        return s


class BatchNorm1d(_BatchNorm):
    """Over (N, C): statistics per feature across the batch."""
    ndim = 2


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W): statistics per channel across batch and positions."""
    ndim = 4


class Dropout(Module):
    """Inverted dropout with a counter-based mask: a training forward uses the stream of ``seed``
    at ``offset`` and then advances ``offset`` by ``x.size``; backward regenerates the same mask
    from that (seed, offset), nothing is stored. Eval (and p == 0) returns x itself. ``offset`` is
    a buffer in state_dict, so restoring a snapshot replays the same masks.
    FLOPs, nominal: 1 per element forward, 1 more backward."""

    op = "dropout"

    def __init__(self, p=0.5, *, seed=0):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout: p: expected a number in [0, 1], got {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p: expected a number in [0, 1], got {p!r}")
        self.p = float(p)
        self.seed = check_int(seed, "seed", "Dropout", minimum=0)
        if self.seed >= 2**64:
            raise ValueError(f"Dropout: seed: expected an int in [0, 2**64), got {seed!r}")
        self.offset = 0
        self._used = None  # offset of the last training forward; None after an eval forward
        self._shape = self._ent = None

    def _local_state(self):
        return {"offset": np.array(self.offset, dtype=np.int64)}

    def _load_local(self, name, value):
        self.offset = int(value)

    def forward(self, x):
        if not self.training:
            self._used, self._shape = None, ()
            return x
        if not (isinstance(x, np.ndarray) or is_cuda_array(x)):
            raise self._not_array(x)
        off = self.offset
        self._used, self._shape = off, x.shape
        self.offset = off + x.size
        if self.p == 0.0:
            return x
        ent = self._entry(x)
        return self._call(ops.dropout_forward, x, self.p, self.seed, off, True, out=ent[0])

    def backward(self, dy):
        if self._shape is None:
            raise self._no_forward()
        if not self.compute_dx:
            return None
        if self._used is None or self.p == 0.0:
            return dy
        return self._call(ops.dropout_backward, dy, self.p, self.seed, self._used, out=self._dx())

    def flops(self, in_shape, backward=False):
        return math.prod(in_shape) * (2 if backward and self.compute_dx else 1)

    def extra_repr(self):
        return f"p={self.p}" + (f", seed={self.seed}" if self.seed else "")


class _Pool(Module):
    """Shared by the pools: 4-D input of any float dtype, buffers per input (shape, dtype)."""

    def __init__(self):
        super().__init__()
        self._x = self._ent = None

    def _check(self, x):
        if not (isinstance(x, np.ndarray) or is_cuda_array(x)):
            raise self._not_array(x)
        if x.ndim != 4:
            raise ValueError(f"{self._label()}.forward: x: expected shape (N, C, H, W), got {x.shape}")

    def _out_shape(self, x):
        return lambda: (x.shape[0],) + self.output_shape(x.shape[1:])


class _WindowPool(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        who = type(self).__name__
        self.kernel_size = _pair(kernel_size, "kernel_size", who, 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", who, 1)
        self.padding = _pair(padding, "padding", who, 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{who}: padding: expected at most half of kernel_size {self.kernel_size}, "
                             f"got {self.padding}")

    def output_shape(self, in_shape):
        in_shape = tuple(in_shape)
        if len(in_shape) != 3:
            raise ValueError(f"{self._label()}.output_shape: in_shape: expected (C, H, W), got {in_shape}")
        hw = [(size + 2 * p - k) // s + 1
              for size, k, s, p in zip(in_shape[1:], self.kernel_size, self.stride, self.padding)]
        if min(hw) < 1:
            raise ValueError(f"{self._label()}: in_shape: expected H, W >= kernel_size - 2 * padding, got {in_shape}")
        return (in_shape[0], hw[0], hw[1])

    def flops(self, in_shape, backward=False):
        """Nominal: one comparison/add per window element forward, 1 per output backward."""
        outputs = math.prod(self.output_shape(in_shape))
        return outputs * self.kernel_size[0] * self.kernel_size[1] + (outputs if backward and self.compute_dx else 0)

    def extra_repr(self):
        s = f"kernel_size={self.kernel_size}"
        if self.stride != self.kernel_size:
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        return s


class MaxPool2d(_WindowPool):
    """Max over windows; backward routes dy to the argmax positions saved by the forward."""

    op = "max_pool2d"

    def forward(self, x):
        self._check(x)
        ent = self._entry(x, self._out_shape(x), np.int64)
        return self._call(_native.max_pool2d_forward, x, self.kernel_size, self.stride, self.padding, out=ent[0],
                          indices=ent[2], impl="")[0]

    def backward(self, dy):
        dx = self._dx()
        if dx is None:
            return None
        return self._call(_native.max_pool2d_backward, dy, self._ent[2], self._x.shape, out=dx, impl="")


class AvgPool2d(_WindowPool):
    """Mean over windows (zero padding; count_include_pad as PyTorch)."""

    op = "avg_pool2d"

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        self._check(x)
        ent = self._entry(x, self._out_shape(x))
        return self._call(_native.avg_pool2d_forward, x, self.kernel_size, self.stride, self.padding,
                          self.count_include_pad, out=ent[0], impl="")

    def backward(self, dy):
        dx = self._dx()
        if dx is None:
            return None
        return self._call(_native.avg_pool2d_backward, dy, self._x.shape, self.kernel_size, self.stride, self.padding,
                          self.count_include_pad, out=dx, impl="")

    def extra_repr(self):
        return super().extra_repr() + ("" if self.count_include_pad else ", count_include_pad=False")


class GlobalAvgPool(_Pool):
    """(N, C, H, W) -> (N, C): the mean of each plane. FLOPs, nominal: H*W per channel forward,
    as many more backward."""

    op = "global_avg_pool2d"

    def output_shape(self, in_shape):
        in_shape = tuple(in_shape)
        if len(in_shape) != 3:
            raise ValueError(f"{self._label()}.output_shape: in_shape: expected (C, H, W), got {in_shape}")
        return (in_shape[0],)

    def forward(self, x):
        self._check(x)
        ent = self._entry(x, self._out_shape(x))
        return self._call(ops.global_avg_pool2d_forward, x, out=ent[0])

    def backward(self, dy):
        dx = self._dx()
        if dx is None:
            return None
        return self._call(_native.global_avg_pool2d_backward, dy, self._x.shape, out=dx, impl="")

    def flops(self, in_shape, backward=False):
        self.output_shape(in_shape)
        return math.prod(in_shape) * (2 if backward and self.compute_dx else 1)
