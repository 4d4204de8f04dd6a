"""The array adapter shared by every binding (csrc/bindings/convert.cpp)."""

import numpy as np
import pytest

from pybench import ops
from util import assert_bad_call


def test_missing_input_is_a_value_error_not_an_attribute_error():
    assert_bad_call(lambda: ops.relu_forward(None), ValueError, "relu_forward", "x", "None")


@pytest.mark.parametrize("bad", [[1.0, 2.0], 3.0, "x"])
def test_non_array_input_is_a_type_error(bad):
    assert_bad_call(lambda: ops.relu_forward(bad), TypeError, "relu_forward", "x", "numpy.ndarray")


def test_big_endian_input_is_refused_not_converted():
    x = np.ones(4, dtype=">f4")
    assert_bad_call(lambda: ops.relu_forward(x), TypeError, "relu_forward", "x", "float32 or float64")
