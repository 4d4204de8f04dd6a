"""The native ops on NumPy arrays, one module per op family.

Every op takes its inputs and an optional ``out=`` (written in place and returned; allocated when
omitted), and ``impl=`` to pick an implementation (``impls(op)`` lists them, plainest first; the
default is the last, fastest one). Semantics follow PyTorch's functional ops; see each docstring.
Scalar arguments are converted and checked in one place (csrc/bindings/convert.cpp): a wrong type
is a TypeError, an out-of-range value a ValueError, each naming the op and the argument; a bool is
never taken for a number, nor a number for a bool.
"""

from .._native import impls, ops as registered_ops, isa_active, isa_supported, set_isa  # noqa: F401
from .activation import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
