"""A plain-NumPy twin of a pybench model for the end-to-end proof: every computation comes from
``pybench.reference`` (never from pybench.nn or pybench.ops).

``RefNet(model)`` reads a pybench Sequential's architecture (layer types and hyperparameters) and
its current parameters, buffers and dropout offsets, converting everything to float64. It then
trains on its own: ``step(x, y, lr, momentum, weight_decay)`` is one step of softmax
cross-entropy with torch-style SGD momentum, weight decay on Linear/Conv weights only.
"""

import numpy as np

from pybench import reference as ref


class RefNet:
    KINDS = ("Flatten", "Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout")

    def __init__(self, model):
        self.layers = []
        for layer in model.layers:
            kind = type(layer).__name__
            if kind not in self.KINDS:
                raise ValueError(f"RefNet: no reference for layer {kind}")
            d = {"kind": kind}
            if kind in ("Linear", "Conv2d"):
                d["weight"] = layer.weight.data.astype(np.float64)
                d["bias"] = None if layer.bias is None else layer.bias.data.astype(np.float64)
            if kind == "Conv2d":
                d.update(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
            if kind.startswith("BatchNorm"):
                d.update(weight=layer.weight.data.astype(np.float64), bias=layer.bias.data.astype(np.float64),
                         running_mean=layer.running_mean.astype(np.float64),
                         running_var=layer.running_var.astype(np.float64), eps=layer.eps, momentum=layer.momentum)
            if kind == "MaxPool2d":
                d.update(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding)
            if kind == "Dropout":
                d.update(p=layer.p, seed=layer.seed, offset=layer.offset)
            self.layers.append(d)
        # (layer, name, decay) in pybench's parameter order: weight before bias, layers in order
        self.param_keys = [(d, k, d["kind"] in ("Linear", "Conv2d") and k == "weight")
                           for d in self.layers for k in ("weight", "bias") if d.get(k) is not None]
        self.momentum_bufs = [np.zeros_like(d[k]) for d, k, _ in self.param_keys]
        self.t = 0

    def params(self):
        return [d[k] for d, k, _ in self.param_keys]

    def forward(self, x):
        for d in self.layers:
            d["x"] = x
            kind = d["kind"]
            if kind == "Flatten":
                x = x.reshape(len(x), -1)
            elif kind == "Linear":
                x = ref.linear_forward(x, d["weight"], d["bias"])
            elif kind == "Conv2d":
                x = ref.conv2d_forward(x, d["weight"], d["bias"], d["stride"], d["padding"], d["dilation"], d["groups"])
            elif kind.startswith("BatchNorm"):
                x, d["save_mean"], d["save_invstd"] = ref.batch_norm_forward(
                    x, d["weight"], d["bias"], d["running_mean"], d["running_var"], True, d["momentum"], d["eps"])
            elif kind == "ReLU":
                x = ref.relu_forward(x)
            elif kind == "MaxPool2d":
                x, d["indices"] = ref.max_pool2d_forward(x, d["kernel_size"], d["stride"], d["padding"])
            elif kind == "Dropout":
                d["used"] = d["offset"]
                x = ref.dropout_forward(x, d["p"], d["seed"], d["offset"])
                d["offset"] += x.size
        return x

    def backward(self, dy):
        for d in reversed(self.layers):
            kind, x = d["kind"], d["x"]
            if kind == "Flatten":
                dy = dy.reshape(x.shape)
            elif kind == "Linear":
                dy, d["dweight"], d["dbias"] = ref.linear_backward(dy, x, d["weight"], bias=d["bias"] is not None)
            elif kind == "Conv2d":
                dy, d["dweight"], d["dbias"] = ref.conv2d_backward(dy, x, d["weight"], d["stride"], d["padding"],
                                                                   d["dilation"], d["groups"], bias=d["bias"] is not None)
            elif kind.startswith("BatchNorm"):
                dy, d["dweight"], d["dbias"] = ref.batch_norm_backward(dy, x, d["weight"], d["save_mean"],
                                                                       d["save_invstd"], True)
            elif kind == "ReLU":
                dy = ref.relu_backward(dy, x)
            elif kind == "MaxPool2d":
                dy = ref.max_pool2d_backward(dy, d["indices"], x.shape)
            elif kind == "Dropout":
                dy = ref.dropout_backward(dy, d["p"], d["seed"], d["used"])
        return dy

    def step(self, x, y, *, lr, momentum, weight_decay=0.0):
        """One SGD step on (x, y); returns the batch loss before the update."""
        out = self.forward(np.asarray(x, np.float64))
        loss = ref.cross_entropy_forward(out, y)
        self.backward(ref.cross_entropy_backward(out, y))
        self.t += 1
        for (d, k, decay), buf in zip(self.param_keys, self.momentum_bufs):
            ref.sgd_step(d[k], d["d" + k], buf, lr=lr, momentum=momentum,
                         weight_decay=weight_decay if decay else 0.0, step=self.t)
        return loss
