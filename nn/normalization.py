"""Normalisation layers with PyTorch's names, defaults, parameters and buffers.

Both rescale activations to zero mean and unit variance and then apply a
learned scale ``weight`` (ones at first) and shift ``bias`` (zeros), which
keeps the inputs of later layers in a range where they learn well:

- ``LayerNorm`` normalises each sample over its last axes (its features),
  the same in training and evaluation;
- ``BatchNorm1d`` / ``BatchNorm2d`` normalise each channel over the batch
  (and positions). In training they use the batch's statistics and keep
  running averages of them in buffers (``running_mean``, ``running_var``,
  ``num_batches_tracked``), which evaluation then uses, so a prediction
  does not depend on the rest of its batch.
"""

import numpy as np

from autodiff import Tensor, get_default_dtype
from autodiff.tensor import as_tensor

from .layers import parameter
from .module import Module


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Each sample normalised over its last axes (``normalized_shape``), then scaled and shifted:

        out = (x - mean) / √(var + eps) · weight + bias,

    mean and the biased variance var taken over those axes. Composed of
    Tensor operations.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.layer_norm(autodiff.tensor([[1.0, 3.0]]), (2,)).numpy().round(3)    # mean 2, var 1
    array([[-1.,  1.]], dtype=float32)
    """
    x = as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise ValueError(f"layer_norm: {name} of shape {p.shape} does not match normalized_shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    out = centred / ((centred * centred).mean(axis=axes, keepdims=True) + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Each channel (axis 1) of x (N, C, ...) normalised, then scaled and shifted:

        out = (x - mean) / √(var + eps) · weight + bias,

    per channel. Training: mean and the biased variance of this batch (over
    every axis but 1), and the running statistics, when given, move
    towards them in place: r ← (1 - momentum) r + momentum · s, the variance
    entering unbiased (· n / (n - 1)), as PyTorch does. Evaluation: the
    running statistics. Composed of Tensor operations.

    >>> import autodiff
    >>> from nn import functional as F
    >>> mean, var = autodiff.zeros(2), autodiff.ones(2)
    >>> F.batch_norm(autodiff.tensor([[1.0, 10.0], [3.0, 30.0]]), mean, var, training=True).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> mean, var    # 0.9 · old + 0.1 · batch (variance unbiased: 2 and 200)
    (Tensor([0.2, 2. ]), Tensor([ 1.1, 20.9]))
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must have shape (batch, channels, ...), got shape {x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: {name} of shape {t.shape} does not fit input of shape {x.shape}"
                             f" ({channels} channels)")
    axes = (0, *range(2, x.ndim))
    per_channel = (1, channels) + (1,) * (x.ndim - 2)
    if training:
        count = x.size // channels
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input of shape {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        variance = (centred * centred).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            _move_towards(running_mean, mean.data.reshape(channels), momentum)
        if running_var is not None:
            _move_towards(running_var, variance.data.reshape(channels) * (count / (count - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        centred = x - running_mean.reshape(per_channel)  # the buffers as they are now, at every call
        variance = running_var.reshape(per_channel)
    out = centred / (variance + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out


def _move_towards(running, batch, momentum):
    """running ← (1 - momentum) running + momentum batch, in place (holders of the Tensor see it)."""
    running.mul_(1 - momentum).add_(momentum * batch.astype(running.dtype, copy=False))




def _filled(shape, value):
    return np.full(shape, value, dtype=get_default_dtype())


class LayerNorm(Module):
    """(x - mean) / √(var + eps) · weight + bias over the last axes, ``normalized_shape`` (an int or a tuple).

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.LayerNorm(4)(autodiff.tensor([[1.0, 2.0, 3.0, 4.0]])).numpy().round(3)    # mean 2.5, var 1.25
    array([[-1.342, -0.447,  0.447,  1.342]], dtype=float32)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = parameter(*shape)
            self.weight.data[...] = 1
            self.bias = parameter(*shape) if bias else None

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def __repr__(self):
        return f"LayerNorm({self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine})"


class _BatchNorm(Module):
    """Batch normalisation over axis 1 of inputs with ``dims`` (a tuple of allowed ndims)."""

    dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = self.bias = None
        if affine:
            self.weight = parameter(num_features)
            self.weight.data[...] = 1
            self.bias = parameter(num_features)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(_filled(num_features, 0.0)))
            self.register_buffer("running_var", Tensor(_filled(num_features, 1.0)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        if x.ndim not in self.dims:
            expected = " or ".join(f"{n}-D" for n in self.dims)
            raise ValueError(f"{type(self).__name__}: expected {expected} input, got shape {tuple(x.shape)}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a plain average of every batch so far
                momentum = 1.0 / int(self.num_batches_tracked.data)
        # without running statistics, evaluation normalises by the batch's own, as in PyTorch
        batch_statistics = self.training or self.running_mean is None
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            batch_statistics, momentum, self.eps)

    def __repr__(self):
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats})")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C.

    >>> import autodiff
    >>> from autodiff import nn
    >>> norm = nn.BatchNorm1d(2)
    >>> norm(autodiff.tensor([[1.0, 10.0], [3.0, 30.0]])).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> norm.running_mean      # 0.9 · 0 + 0.1 · batch mean
    Tensor([0.2, 2. ])
    """

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel C.

    >>> import autodiff
    >>> from autodiff import nn
    >>> norm = nn.BatchNorm2d(3)
    >>> norm(autodiff.ones(2, 3, 4, 4)).shape, [b.shape for b in norm.buffers()]
    ((2, 3, 4, 4), [(3,), (3,), ()])
    """

    dims = (4,)
