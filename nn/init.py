"""Initial values for weights, following PyTorch's ``torch.nn.init``.

Why it matters: each layer multiplies its input by a weight matrix. If the
weights are too small, activations (and gradients) shrink layer after
layer until nothing is left to learn from; too large, and they blow up.
The right scale keeps the variance of activations about constant through
the network, and it depends on how many inputs each unit sums (fan_in),
how many units receive its output (fan_out), and the nonlinearity:

- Xavier (Glorot) initialisation, Var(w) = gain² · 2 / (fan_in + fan_out),
  suits tanh and sigmoid, which are roughly linear around zero.
- He (Kaiming) initialisation, Var(w) = 2 / fan_in, suits ReLU, which sets
  half of its inputs to zero and so halves the variance: the factor 2
  makes up for it.

Fans are computed as PyTorch computes them: for a weight of shape
(out, in, *kernel), fan_in = in · prod(kernel) and fan_out = out · prod(kernel).
Every function fills its tensor in place (no graph is recorded) and returns it.
"""

import math

import numpy as np

from autodiff import no_grad

from .rng import generator


def fans(shape):
    """(fan_in, fan_out) of a weight of ``shape``: (out, in) for Linear, (out, in, kh, kw) for Conv2d."""
    if len(shape) < 2:
        raise ValueError(f"fan_in and fan_out need a weight of at least 2 dimensions, got shape {tuple(shape)}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def xavier_std(fan_in, fan_out, gain=1.0):
    """Standard deviation of Xavier initialisation: gain · √(2 / (fan_in + fan_out))."""
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def he_std(fan_in):
    """Standard deviation of He initialisation for ReLU: √(2 / fan_in)."""
    return math.sqrt(2.0 / fan_in)


def _fill(tensor, values):
    # an in-place change like any other: counted, so a graph that saved the old weights refuses backward
    with no_grad():
        return tensor.copy_(values)


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with draws from U(a, b).

    >>> import autodiff
    >>> from autodiff import nn
    >>> _ = autodiff.manual_seed(0)
    >>> w = autodiff.zeros(3, 4)
    >>> nn.init.uniform_(w, -1.0, 1.0) is w, w.abs().max().item() <= 1
    (True, True)
    """
    return _fill(tensor, generator().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with draws from N(mean, std²).

    >>> import autodiff
    >>> from autodiff import nn
    >>> _ = autodiff.manual_seed(0)
    >>> round(nn.init.normal_(autodiff.zeros(1000), mean=5.0, std=0.1).mean().item(), 1)
    5.0
    """
    return _fill(tensor, generator().normal(mean, std, size=tensor.shape))


def zeros_(tensor):
    """Fill with zeros: the usual start for biases (never for weights: every unit would stay identical).

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.init.zeros_(autodiff.ones(3))
    Tensor([0., 0., 0.])
    """
    return _fill(tensor, 0.0)


def xavier_uniform_(tensor, gain=1.0):
    """Xavier/Glorot uniform, U(-a, a) with a = gain · √(6 / (fan_in + fan_out)). Use before tanh or sigmoid.

    >>> import autodiff
    >>> from autodiff import nn
    >>> _ = autodiff.manual_seed(0)
    >>> w = nn.init.xavier_uniform_(autodiff.zeros(30, 20))    # a = √(6 / 50) ≈ 0.35
    >>> w.abs().max().item() <= (6 / 50) ** 0.5
    True
    """
    bound = math.sqrt(3.0) * xavier_std(*fans(tensor.shape), gain)
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Xavier/Glorot normal, N(0, gain² · 2 / (fan_in + fan_out)). Use before tanh or sigmoid.

    >>> import autodiff
    >>> from autodiff import nn
    >>> _ = autodiff.manual_seed(0)
    >>> w = nn.init.xavier_normal_(autodiff.zeros(300, 200))    # std √(2 / 500) ≈ 0.063
    >>> round(float(w.numpy().std()), 2)
    0.06
    """
    return normal_(tensor, 0.0, xavier_std(*fans(tensor.shape), gain))


def he_uniform_(tensor):
    """He/Kaiming uniform for ReLU, U(-a, a) with a = √(6 / fan_in).

    >>> import autodiff
    >>> from autodiff import nn
    >>> _ = autodiff.manual_seed(0)
    >>> w = nn.init.he_uniform_(autodiff.zeros(256, 512))     # fan_in 512: a ≈ 0.108
    >>> w.abs().max().item() <= (6 / 512) ** 0.5
    True
    """
    bound = math.sqrt(3.0) * he_std(fans(tensor.shape)[0])
    return uniform_(tensor, -bound, bound)


def he_normal_(tensor):
    """He/Kaiming normal for ReLU, N(0, 2 / fan_in).

    >>> import autodiff
    >>> from autodiff import nn
    >>> _ = autodiff.manual_seed(0)
    >>> w = nn.init.he_normal_(autodiff.zeros(256, 512))      # std √(2 / 512) = 0.0625
    >>> round(float(w.numpy().std()), 2)
    0.06
    """
    return normal_(tensor, 0.0, he_std(fans(tensor.shape)[0]))
