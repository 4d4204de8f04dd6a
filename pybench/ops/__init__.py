"""The native ops on NumPy arrays: ``pybench._native``'s functions, re-exported as they are.

Every registered op (``registered_ops()``) is here under its name; each one's docstring
(``help(pybench.ops.gelu_forward)``) says its semantics, shapes and differences from PyTorch.
Every op takes its inputs and an optional ``out=`` (written in place and returned; allocated when
omitted), and ``impl=`` to pick an implementation (``impls(op)`` lists them, plainest first; the
default is the last; ``impl_info(op)`` says what each does). Semantics follow PyTorch's functional
ops. Scalar arguments are converted and checked in one place (csrc/bindings/convert.cpp): a wrong
type is a TypeError, an out-of-range value a ValueError, each naming the op and the argument; a
bool is never taken for a number, nor a number for a bool.

What each family of ops shares:

Activations (``relu``, ``leaky_relu``, ``elu``, ``gelu``, ``sigmoid``, ``tanh``, ``silu``,
``softplus``: element-wise, any shape; ``softmax``, ``log_softmax``: over the last axis).
PyTorch functional semantics, NaN propagation included. ``<name>_backward(dy, x, ...)`` returns
``dx`` for the forward computed from ``x``; softmax and log_softmax backward take the forward
*output* ``y``. ``out=`` must have the input's shape and dtype, be C-contiguous, writable and not
overlap an input. float32 and float64 inputs; the result has the input's dtype. float32 impls
other than ``naive`` may use pybench's float32 fast math (a few ulp, see csrc/math/fastmath.h);
float64 uses the C library's math in every impl.

GEMM and linear: see ``pybench/reference.py`` for the math.

conv2d (NCHW): ``torch.nn.functional.conv2d`` semantics; ``pybench/reference.py`` has the math in
NumPy.

Pooling (``max_pool2d``, ``avg_pool2d``, ``global_avg_pool2d``; NCHW, PyTorch semantics).
Differences from PyTorch: inputs are 4-D (N, C, H, W) only; no ``ceil_mode``, no ``dilation`` and
no ``divisor_override`` (floor mode, dilation 1, the usual divisor). As in PyTorch, padding may be
at most half the kernel size; ``stride=None`` means stride = kernel_size.

Batch normalization over (N, C) and (N, C, H, W): semantics of ``torch.nn.functional.batch_norm``.
Training normalizes with the batch mean and the biased batch variance and updates
``running_mean`` / ``running_var`` in place with ``running = (1 - momentum) * running + momentum
* batch`` (the unbiased variance for ``running_var``); eval normalizes with the running
statistics. ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel. Differences from
PyTorch: ``momentum=None`` (cumulative moving average) is not supported; the forward returns
``(y, save_mean, save_invstd)`` (what the backward needs) instead of ``y``, and in eval mode these
are the running mean and ``1/sqrt(running_var + eps)``. Statistics are computed in float64 for
every input dtype, and results are bitwise reproducible for any thread count.

Dropout, with a counter-based (Philox4x32-10) mask. The mask is a pure function of ``(seed,
offset, element index)``: element ``i`` (flat C order) of a call uses the stream position ``g =
offset + i``; Philox4x32-10 with counter ``(lo32(g // 4), hi32(g // 4), 0, 0)`` and key
``(lo32(seed), hi32(seed))`` gives four 32-bit words, of which word ``g % 4`` is the element's
``u``. The element is kept iff ``u >= floor(p * 2**32)`` (an integer test: ``p=0`` keeps all,
``p=1`` none). So the mask does not depend on the thread count, the SIMD level or the device,
and a call at ``offset=k`` sees elements ``k, k+1, ...`` of the stream that a call at
``offset=0`` sees: advance ``offset`` by the number of elements used to get fresh masks from one
seed. Differences from PyTorch's ``torch.nn.functional.dropout``: the RNG is explicit (``seed``,
``offset``) instead of a global generator; a dropped element is exactly ``0`` even where ``x`` is
NaN or Inf (PyTorch multiplies by a zero mask and gets NaN there); the keep probability is ``1 -
floor(p * 2**32) / 2**32`` (within ``2**-32`` of ``1 - p``).

Losses, with mean reduction: forward returns the loss as a Python float, backward the gradient of
that mean with respect to the input, times ``grad`` (the upstream gradient, default 1.0).
Semantics follow ``torch.nn.functional`` with ``reduction='mean'``. The reduction is accumulated
in float64 for float32 inputs too, in fixed chunks, so the value is deterministic for any thread
count (and slightly more accurate than PyTorch's float32 result). The formulas live once in
``csrc/math/loss.h``; ``pybench.reference`` states them in NumPy. An empty input (N = 0 logits for
cross-entropy; any extent 0 for the element-wise losses) is not an error: the mean over no terms
is NaN, as PyTorch's ``reduction='mean'``, and the backward returns an empty gradient.

Optimizer updates (``<name>_step``), in place: each call is one ``torch.optim`` step on one
parameter tensor, fused into one threaded pass over param, grad and state. They return None.
Semantics are those of torch.optim's single-tensor (``foreach=False``) algorithms with
``maximize=False`` (no ``amsgrad``, ``capturable``, ``differentiable``). The state PyTorch keeps in
``optimizer.state[p]`` is passed in as arrays the caller owns, allocated with ``numpy.zeros_like``
(PyTorch's initial value for every state array), and ``step`` is the 1-based count of this update
(PyTorch's ``state['step']`` after its increment). Scalars derived from the hyperparameters (bias
corrections, step sizes) are formed in float64 and then rounded to the array dtype, as PyTorch
does with its Python-float scalars. The formulas live once in ``csrc/math/optim.h``. Every array
has param's dtype and shape and is C-contiguous; updated arrays must be writable and share no
memory with each other or with grad (ValueError otherwise, never a copy). An empty param (any
extent 0) is checked like any other and then left as it is (a no-op, as torch.optim).
"""

from .._native import *  # noqa: F403  every registered op and the impl queries (_native.__all__)
from .._native import __all__ as _native_all, ops as registered_ops

__all__ = sorted([*_native_all, "registered_ops"])
