"""Scalar and tuple arguments of every op family (csrc/bindings/convert.cpp): a wrong type is a
TypeError, an out-of-range value a ValueError, each "<op>: <arg>: expected ..., got ..." -- never
pybind11's "incompatible function arguments" with every argument, arrays included, printed."""

import numpy as np
import pytest

from pybench import _native, ops

BIG = 2**64  # past uint64: pybind11's casters refused it with the raw message
HUGE = 2**2000  # past float64's range

# Inputs of each op, fresh per call (the optimizers write theirs). Large enough that a printed
# array would show in the message.
X = np.ones((40, 50), np.float32)
IMG = np.ones((2, 3, 8, 8), np.float32)
W3 = np.ones((4, 3, 3, 3), np.float32)
P = np.ones((40, 50))
INPUTS = {
    "relu_forward": lambda: (X,),
    "leaky_relu_forward": lambda: (X,),
    "elu_backward": lambda: (X, X),
    "gelu_forward": lambda: (X,),
    "softplus_forward": lambda: (X,),
    "softmax_forward": lambda: (X,),
    "log_softmax_backward": lambda: (X, X),
    "gemm": lambda: (X, X.T.copy()),
    "linear_forward": lambda: (X, np.ones((3, 50), np.float32)),
    "linear_backward": lambda: (np.ones((40, 3), np.float32), X, np.ones((3, 50), np.float32)),
    "conv2d_forward": lambda: (IMG, W3),
    "conv2d_backward": lambda: (np.ones((2, 4, 6, 6), np.float32), IMG, W3),
    "max_pool2d_forward": lambda: (IMG, 2),
    "max_pool2d_backward": lambda: (np.ones((2, 3, 4, 4), np.float32), np.zeros((2, 3, 4, 4), np.int64)),
    "avg_pool2d_forward": lambda: (IMG, 2),
    "avg_pool2d_backward": lambda: (np.ones((2, 3, 4, 4), np.float32),),
    "global_avg_pool2d_backward": lambda: (np.ones((2, 3), np.float32),),
    "batch_norm_forward": lambda: (IMG, None, None, np.zeros(3, np.float32), np.ones(3, np.float32)),
    "batch_norm_backward": lambda: (IMG, IMG, None, np.zeros(3, np.float32), np.ones(3, np.float32)),
    "dropout_forward": lambda: (X,),
    "dropout_backward": lambda: (X,),
    "dropout_mask": lambda: (),
    "cross_entropy_forward": lambda: (X, np.zeros(40, np.int64)),
    "cross_entropy_backward": lambda: (X, np.zeros(40, np.int64)),
    "mse_backward": lambda: (X, X),
    "huber_forward": lambda: (X, X),
    "bce_with_logits_forward": lambda: (X, X),
    "sgd_step": lambda: (P.copy(), P, np.zeros_like(P)),
    "adagrad_step": lambda: (P.copy(), P, np.zeros_like(P)),
    "rmsprop_step": lambda: (P.copy(), P, np.zeros_like(P), np.zeros_like(P), np.zeros_like(P)),
    "adam_step": lambda: (P.copy(), P, np.zeros_like(P), np.zeros_like(P)),
    "adamw_step": lambda: (P.copy(), P, np.zeros_like(P), np.zeros_like(P)),
    "impls": lambda: (),
    "set_isa": lambda: (),
}

# (op, keyword arguments, exception, message fragment); other required arguments get valid values.
SGD, ADAM = dict(lr=0.1), dict(step=1)
BAD = [
    # activations
    ("relu_forward", dict(impl=3), TypeError,
     "relu_forward: impl: expected a str (an implementation name) or None, got int"),
    ("relu_forward", dict(impl=b"naive"), TypeError, "relu_forward: impl: expected a str"),
    ("leaky_relu_forward", dict(negative_slope="0.1"), TypeError,
     "leaky_relu_forward: negative_slope: expected a real number, got str"),
    ("leaky_relu_forward", dict(negative_slope=True), TypeError,
     "leaky_relu_forward: negative_slope: expected a real number, got bool"),
    ("elu_backward", dict(alpha=None), TypeError, "elu_backward: alpha: expected a real number, got None"),
    ("gelu_forward", dict(approximate=1), TypeError, "gelu_forward: approximate: expected a str, got int"),
    ("softplus_forward", dict(beta=HUGE), ValueError,
     "softplus_forward: beta: expected a real number within float64 range, got 1148130695274254524"),
    ("softplus_forward", dict(threshold=[20.0]), TypeError,
     "softplus_forward: threshold: expected a real number, got list"),
    ("softmax_forward", dict(impl=0), TypeError, "softmax_forward: impl: expected a str"),
    ("log_softmax_backward", dict(impl=["vec"]), TypeError, "log_softmax_backward: impl: expected a str"),
    # GEMM, linear
    ("gemm", dict(trans_a="yes"), TypeError, "gemm: trans_a: expected a bool, got str"),
    ("gemm", dict(trans_b=1), TypeError, "gemm: trans_b: expected a bool, got int"),
    ("gemm", dict(alpha="1"), TypeError, "gemm: alpha: expected a real number, got str"),
    ("gemm", dict(beta=np.ones(3)), TypeError, "gemm: beta: expected a real number, got ndarray"),
    ("linear_forward", dict(impl=1.0), TypeError, "linear_forward: impl: expected a str"),
    ("linear_backward", dict(bias="no"), TypeError, "linear_backward: bias: expected a bool, got str"),
    ("linear_backward", dict(compute_dx=None), TypeError, "linear_backward: compute_dx: expected a bool, got None"),
    # conv2d
    ("conv2d_forward", dict(stride=BIG), ValueError,
     "conv2d_forward: stride: expected an integer in [-2**63, 2**63), got 18446744073709551616"),
    ("conv2d_forward", dict(padding=1.5), TypeError,
     "conv2d_forward: padding: expected an int or a pair of ints, got float"),
    ("conv2d_forward", dict(dilation="1"), TypeError,
     "conv2d_forward: dilation: expected an int or a pair of ints, got str"),
    ("conv2d_forward", dict(stride=(1, 2, 3)), ValueError,
     "conv2d_forward: stride: expected an int or a pair of ints, got a sequence of length 3"),
    ("conv2d_forward", dict(padding=(1, -BIG)), ValueError,
     "conv2d_forward: padding: expected an integer in [-2**63, 2**63), got -18446744073709551616"),
    ("conv2d_forward", dict(groups=BIG), ValueError,
     "conv2d_forward: groups: expected an integer in [-2**63, 2**63), got 18446744073709551616"),
    ("conv2d_forward", dict(groups=1.0), TypeError,
     "conv2d_forward: groups: expected an integer in [-2**63, 2**63), got float"),
    ("conv2d_forward", dict(groups=True), TypeError,
     "conv2d_forward: groups: expected an integer in [-2**63, 2**63), got bool"),
    ("conv2d_backward", dict(bias="yes"), TypeError, "conv2d_backward: bias: expected a bool, got str"),
    ("conv2d_backward", dict(stride=(1, None)), TypeError,
     "conv2d_backward: stride: expected an int or a pair of ints, got None"),
    # pooling
    ("max_pool2d_forward", dict(stride=BIG), ValueError,
     "max_pool2d_forward: stride: expected an integer in [-2**63, 2**63), got 18446744073709551616"),
    ("max_pool2d_forward", dict(padding="0"), TypeError,
     "max_pool2d_forward: padding: expected an int or a pair of ints, got str"),
    ("max_pool2d_backward", dict(input_shape=(2, 3, "8", 8)), TypeError,
     "max_pool2d_backward: input_shape: expected a tuple of ints, got str"),
    ("max_pool2d_backward", dict(input_shape=8), TypeError,
     "max_pool2d_backward: input_shape: expected a tuple of ints, got int"),
    ("avg_pool2d_forward", dict(count_include_pad="yes"), TypeError,
     "avg_pool2d_forward: count_include_pad: expected a bool, got str"),
    ("avg_pool2d_backward", dict(input_shape=(2, 3, 8, 8), kernel_size=2.0), TypeError,
     "avg_pool2d_backward: kernel_size: expected an int or a pair of ints, got float"),
    ("avg_pool2d_backward", dict(input_shape=(2, 3, 8, BIG), kernel_size=2), ValueError,
     "avg_pool2d_backward: input_shape: expected an integer in [-2**63, 2**63), got 18446744073709551616"),
    ("global_avg_pool2d_backward", dict(input_shape=np.array([2, 3, 8, 8])), TypeError,
     "global_avg_pool2d_backward: input_shape: expected a tuple of ints, got ndarray"),
    # BatchNorm
    ("batch_norm_forward", dict(training="yes"), TypeError, "batch_norm_forward: training: expected a bool, got str"),
    ("batch_norm_forward", dict(momentum="0.1"), TypeError,
     "batch_norm_forward: momentum: expected a real number, got str"),
    ("batch_norm_forward", dict(eps=None), TypeError, "batch_norm_forward: eps: expected a real number, got None"),
    ("batch_norm_backward", dict(training=0), TypeError, "batch_norm_backward: training: expected a bool, got int"),
    ("batch_norm_backward", dict(impl=2), TypeError, "batch_norm_backward: impl: expected a str"),
    # dropout
    ("dropout_forward", dict(p="a"), TypeError, "dropout_forward: p: expected a real number, got str"),
    ("dropout_forward", dict(seed=BIG), ValueError,
     "dropout_forward: seed: expected an integer in [0, 2**64), got 18446744073709551616"),
    ("dropout_forward", dict(seed=-1), ValueError, "dropout_forward: seed: expected an integer in [0, 2**64), got -1"),
    ("dropout_forward", dict(seed=1.5), TypeError,
     "dropout_forward: seed: expected an integer in [0, 2**64), got float"),
    ("dropout_forward", dict(offset=2**63), ValueError,
     "dropout_forward: offset: expected an integer in [0, 2**63), got 9223372036854775808"),
    ("dropout_forward", dict(offset="0"), TypeError,
     "dropout_forward: offset: expected an integer in [0, 2**63), got str"),
    ("dropout_forward", dict(training="yes"), TypeError, "dropout_forward: training: expected a bool, got str"),
    ("dropout_forward", dict(impl=3), TypeError, "dropout_forward: impl: expected a str"),
    ("dropout_backward", dict(p=0.5, seed=0, offset=-BIG), ValueError,
     "dropout_backward: offset: expected an integer in [0, 2**63), got -18446744073709551616"),
    ("dropout_mask", dict(shape="3", p=0.5, seed=0), TypeError,
     "dropout_mask: shape: expected an int or a tuple of ints, got str"),
    ("dropout_mask", dict(shape=(2, BIG), p=0.5, seed=0), ValueError,
     "dropout_mask: shape: expected an integer in [-2**63, 2**63), got 18446744073709551616"),
    ("dropout_mask", dict(shape=4, p=None, seed=0), TypeError, "dropout_mask: p: expected a real number, got None"),
    # losses
    ("cross_entropy_forward", dict(impl=3), TypeError, "cross_entropy_forward: impl: expected a str"),
    ("cross_entropy_backward", dict(grad="1"), TypeError,
     "cross_entropy_backward: grad: expected a real number, got str"),
    ("mse_backward", dict(grad=HUGE), ValueError, "mse_backward: grad: expected a real number within float64 range"),
    ("huber_forward", dict(delta=None), TypeError, "huber_forward: delta: expected a real number, got None"),
    ("bce_with_logits_forward", dict(impl=False), TypeError, "bce_with_logits_forward: impl: expected a str"),
    # optimizers
    ("sgd_step", dict(lr="0.1"), TypeError, "sgd_step: lr: expected a real number, got str"),
    ("sgd_step", dict(SGD, step=BIG), ValueError,
     "sgd_step: step: expected an integer in [-2**63, 2**63), got 18446744073709551616"),
    ("sgd_step", dict(SGD, step=1.5), TypeError, "sgd_step: step: expected an integer in [-2**63, 2**63), got float"),
    ("sgd_step", dict(SGD, nesterov="yes"), TypeError, "sgd_step: nesterov: expected a bool, got str"),
    ("sgd_step", dict(SGD, momentum=True), TypeError, "sgd_step: momentum: expected a real number, got bool"),
    ("adagrad_step", dict(step="1"), TypeError, "adagrad_step: step: expected an integer in [-2**63, 2**63), got str"),
    ("rmsprop_step", dict(centered=1), TypeError, "rmsprop_step: centered: expected a bool, got int"),
    ("rmsprop_step", dict(alpha=[0.9]), TypeError, "rmsprop_step: alpha: expected a real number, got list"),
    ("adam_step", dict(ADAM, betas=0.9), TypeError, "adam_step: betas: expected a pair of real numbers, got float"),
    ("adam_step", dict(ADAM, betas=np.array([0.9, 0.99])), TypeError,
     "adam_step: betas: expected a pair of real numbers, got ndarray"),
    ("adam_step", dict(ADAM, betas=(0.9, 0.99, 0.5)), ValueError,
     "adam_step: betas: expected a pair of real numbers, got a sequence of length 3"),
    ("adamw_step", dict(ADAM, betas=(0.9, "x")), TypeError, "adamw_step: betas[1]: expected a real number, got str"),
    ("adamw_step", dict(ADAM, eps=HUGE), ValueError, "adamw_step: eps: expected a real number within float64 range"),
    # the registry
    ("impls", dict(op=3), TypeError, "impls: op: expected a str, got int"),
    ("set_isa", dict(name=None), TypeError, "set_isa: name: expected a str, got None"),
]


@pytest.mark.parametrize("op, kwargs, exc, fragment", BAD, ids=[f"{i}-{row[0]}" for i, row in enumerate(BAD)])
def test_bad_argument(op, kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        getattr(ops, op)(*INPUTS[op](), **kwargs)
    msg = str(info.value)
    assert fragment in msg
    assert "incompatible function arguments" not in msg and len(msg) < 200, msg  # no argument dump


def test_every_op_family_is_covered():
    families = {"relu", "gemm", "linear", "conv2d", "pool2d", "batch_norm", "dropout", "entropy", "mse", "step"}
    assert all(any(f in row[0] for row in BAD) for f in families)


# What stays accepted: NumPy scalars for numbers and bools, None for impl and pooling's stride.
GOOD = [
    ("dropout_forward", dict(p=np.float32(0.25), seed=np.uint64(2**64 - 1), offset=np.int64(3), training=np.True_)),
    ("dropout_mask", dict(shape=np.int64(7), p=0.5, seed=np.uint8(1))),
    ("conv2d_forward", dict(stride=np.int32(1), padding=(np.int64(1), 1), groups=np.int16(1), impl=None)),
    ("max_pool2d_forward", dict(stride=None, padding=[0, np.int8(1)])),
    ("gemm", dict(alpha=np.float16(2), beta=0, trans_b=np.bool_(False))),
    ("leaky_relu_forward", dict(negative_slope=1)),
    ("adam_step", dict(step=np.int64(2), lr=np.float64(0.01), betas=[np.float32(0.8), 0.9])),
    ("batch_norm_forward", dict(training=False, momentum=0, eps=np.float32(1e-3))),
]


@pytest.mark.parametrize("op, kwargs", GOOD, ids=[row[0] for row in GOOD])
def test_numpy_scalars_accepted(op, kwargs):
    getattr(ops, op)(*INPUTS[op](), **kwargs)


def test_native_entry_points_check_too():
    """The checks live in the bindings, so calling pybench._native directly is no different."""
    with pytest.raises(TypeError, match=r"^dropout_forward: training: expected a bool, got str$"):
        _native.dropout_forward(X, 0.5, 0, 0, "yes")
    with pytest.raises(ValueError, match=r"^set_num_threads: n: expected an integer in \[-2\*\*63, 2\*\*63\), got 1844"):
        _native.set_num_threads(BIG)
