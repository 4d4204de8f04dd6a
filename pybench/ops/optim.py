"""Optimizer updates, in place: each call is one ``torch.optim`` step on one parameter tensor,
fused into one threaded pass over param, grad and state. They return None.

Semantics are those of torch.optim's single-tensor (``foreach=False``) algorithms with
``maximize=False`` (no ``amsgrad``, ``capturable``, ``differentiable``). The state PyTorch keeps in
``optimizer.state[p]`` is passed in as arrays the caller owns, allocated with ``numpy.zeros_like``
(PyTorch's initial value for every state array), and ``step`` is the 1-based count of this update
(PyTorch's ``state['step']`` after its increment). Scalars derived from the hyperparameters (bias
corrections, step sizes) are formed in float64 and then rounded to the array dtype, as PyTorch does
with its Python-float scalars. The formulas live once in ``csrc/math/optim.h``.

Every array has param's dtype and shape and is C-contiguous; updated arrays must be writable and
share no memory with each other or with grad (ValueError otherwise, never a copy). An empty param
(any extent 0) is checked like any other and then left as it is (a no-op, as torch.optim).
"""

from .. import _native

__all__ = ["sgd_step", "adagrad_step", "rmsprop_step", "adam_step", "adamw_step"]


def sgd_step(param, grad, momentum_buf=None, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
             weight_decay=0.0, step=1, impl=None):
    """SGD as ``torch.optim.SGD``::

        g = grad + weight_decay * param
        if momentum != 0:
            buf = g if step == 1 else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        param -= lr * g

    momentum_buf is required (and updated) when momentum != 0, ignored otherwise; ``step == 1``
    initializes it to g, as PyTorch does when the buffer does not exist yet (so pass the real
    step count: the default 1 restarts momentum every call). nesterov requires momentum > 0 and
    dampening == 0.
    """
    return _native.sgd_step(param, grad, momentum_buf, lr=lr, momentum=momentum, dampening=dampening,
                            nesterov=nesterov, weight_decay=weight_decay, step=step, impl=impl)


def adagrad_step(param, grad, state_sum, *, step, lr=0.01, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                 impl=None):
    """AdaGrad as ``torch.optim.Adagrad`` (initial_accumulator_value=0: pass zeros)::

        g = grad + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum += g * g
        param -= clr * g / (sqrt(state_sum) + eps)
    """
    return _native.adagrad_step(param, grad, state_sum, step=step, lr=lr, lr_decay=lr_decay,
                                weight_decay=weight_decay, eps=eps, impl=impl)


def rmsprop_step(param, grad, square_avg, momentum_buf=None, grad_avg=None, *, lr=0.01, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, impl=None):
    """RMSprop as ``torch.optim.RMSprop``::

        g = grad + weight_decay * param
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:
            grad_avg = lerp(grad_avg, g, 1 - alpha)
            avg = sqrt(square_avg - grad_avg**2) + eps
        else:
            avg = sqrt(square_avg) + eps
        if momentum > 0:
            momentum_buf = momentum * momentum_buf + g / avg
            param -= lr * momentum_buf
        else:
            param -= lr * g / avg

    momentum_buf is required when momentum > 0 and grad_avg when centered (both start at zeros, as
    in PyTorch); otherwise they are ignored. Differs from PyTorch: alpha must lie in [0, 1]
    (PyTorch only rejects alpha < 0).
    """
    return _native.rmsprop_step(param, grad, square_avg, momentum_buf, grad_avg, lr=lr, alpha=alpha, eps=eps,
                                weight_decay=weight_decay, momentum=momentum, centered=centered, impl=impl)


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, impl=None):
    """Adam as ``torch.optim.Adam`` (amsgrad=False), L2 weight decay added to the gradient::

        g = grad + weight_decay * param
        exp_avg = lerp(exp_avg, g, 1 - beta1)
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        denom = sqrt(exp_avg_sq) / sqrt(1 - beta2**step) + eps
        param -= lr / (1 - beta1**step) * exp_avg / denom

    betas in [0, 1), eps >= 0, step >= 1.
    """
    return _native.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, betas=betas, eps=eps,
                             weight_decay=weight_decay, impl=impl)


def adamw_step(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.01, impl=None):
    """AdamW as ``torch.optim.AdamW``: decoupled weight decay ``param *= 1 - lr * weight_decay``
    first, then the Adam update without the L2 term (see ``adam_step``)."""
    return _native.adamw_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, betas=betas, eps=eps,
                              weight_decay=weight_decay, impl=impl)
