"""The array adapter shared by every binding (csrc/bindings/convert.cpp), and what every bound op
declares: a docstring and the shape of its signature."""

import __future__
import inspect

import numpy as np
import pytest

from pybench import _native, ops
from util import assert_bad_call


def test_missing_input_is_a_value_error_not_an_attribute_error():
    assert_bad_call(lambda: ops.relu_forward(None), ValueError, "relu_forward", "x", "None")


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.0, "x"])
def test_non_array_input_is_a_type_error(bad):
    assert_bad_call(lambda: ops.relu_forward(bad), TypeError, "relu_forward", "x", "numpy.ndarray")


def test_big_endian_input_is_refused_not_converted():
    x = np.ones(4, dtype=">f4")
    assert_bad_call(lambda: ops.relu_forward(x), TypeError, "relu_forward", "x", "float32 or float64")


# ---- pybench.ops is pybench._native: every registered op, with its docstring and signature ----

def _signature(fn):
    """inspect.Signature of a pybind11 function, from the signature line pybind11 puts first in __doc__."""
    first = fn.__doc__.split("\n", 1)[0]
    assert first.startswith(fn.__name__ + "("), first
    ns = {}
    exec(compile(f"def {first}: pass", "<signature>", "exec", flags=__future__.annotations.compiler_flag), ns)
    return inspect.signature(ns[fn.__name__])


def test_every_registered_op_is_bound_and_exported():
    assert set(ops.registered_ops()) <= set(ops.__all__)
    for name in ops.registered_ops():
        assert getattr(ops, name) is getattr(_native, name), name
    for name in ("impls", "impl_info", "isa_active", "isa_supported", "set_isa"):
        assert getattr(ops, name) is getattr(_native, name), name
    assert ops.registered_ops is _native.ops


@pytest.mark.parametrize("name", _native.ops())
def test_op_docstring_says_what_it_computes_and_where_its_impls_are(name):
    doc = getattr(ops, name).__doc__.split("\n", 1)
    assert len(doc) == 2 and len(doc[1].strip()) > 20, f"{name}: no docstring beyond the signature"
    assert f"impls('{name}')" in doc[1], name


@pytest.mark.parametrize("name", _native.ops())
def test_op_signature_inputs_positional_out_and_impl_keyword_only(name):
    params = _signature(getattr(ops, name)).parameters
    P = inspect.Parameter
    first = next(iter(params.values()))
    assert first.kind is P.POSITIONAL_OR_KEYWORD and first.default is P.empty, (name, first)
    assert params["impl"].kind is P.KEYWORD_ONLY and params["impl"].default is None, name
    for out in ("out", "dx", "dweight", "dbias", "indices"):  # optional output buffers (not an input `indices`)
        if out in params and params[out].default is not P.empty:
            assert params[out].kind is P.KEYWORD_ONLY and params[out].default is None, (name, out)


def test_signature_reader_sees_keyword_only_and_defaults():
    params = _signature(_native.gelu_forward).parameters
    assert list(params) == ["x", "approximate", "out", "impl"]
    assert params["approximate"].default == "none" and params["out"].kind is inspect.Parameter.KEYWORD_ONLY


def test_parameterless_activations_are_bound_from_the_table():
    # relu, sigmoid, tanh, silu come from the activation table (ops::activation_names), docstring included.
    for name in ("relu", "sigmoid", "tanh", "silu"):
        for d in ("forward", "backward"):
            assert f"{name}_{d}" in _native.ops()
            assert "Element-wise on float32/float64" in getattr(_native, f"{name}_{d}").__doc__
    assert "y = max(x, 0)" in _native.relu_forward.__doc__
