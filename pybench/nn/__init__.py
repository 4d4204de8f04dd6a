"""pybench.nn: layers with explicit forward/backward on the native ops, initializers, model builders.

A training step by hand::

    model = nn.mlp(784, 10, depth=2, width=512)      # a Sequential; model.compute_dx is False
    y = model.forward(x)                              # x: (N, 784) float32
    dy = ...                                          # dL/dy, e.g. from a loss's backward
    model.backward(dy)                                # overwrites p.grad for p in model.parameters()

Arrays returned by forward/backward are buffers the layers reuse: valid until that layer's next
call (see pybench.nn.module).
"""

from . import init  # noqa: F401
from .module import Module, Parameter, Sequential  # noqa: F401
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool,  # noqa: F401
                     Identity, Linear, MaxPool2d)
from .activations import *  # noqa: F401,F403  every activation layer (its __all__), activation(), activation_names()
from .models import cnn, mlp, receptive_field  # noqa: F401

# losses, optimizers, LR schedules (train helper: loss.py, optim.py, schedule.py)
from . import loss, optim, schedule  # noqa: F401,E402
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, MSELoss, make_loss  # noqa: F401,E402
from .optim import (SGD, AdaGrad, Adam, AdamW, Penalty, RMSprop, clip_grad_norm, grad_norm,  # noqa: F401,E402
                    make_optimizer)
from .schedule import lr_schedule, scale_lr  # noqa: F401,E402
