"""The losses as modules, as PyTorch writes them: ``criterion = nn.CrossEntropyLoss(); loss = criterion(output, target)``.

Each module holds only its ``reduction`` ("mean", the default, "sum" or
"none") and calls the loss function of ``nn.losses`` with it, so the
numbers and gradients are the function's. ``reduction`` is keyword-only:
PyTorch's other arguments (``weight``, ``ignore_index``,
``label_smoothing``, the deprecated ``size_average`` and ``reduce``) are
not supported, and passing one is a ``TypeError``, never ignored.

>>> import autodiff
>>> from autodiff import nn
>>> criterion = nn.CrossEntropyLoss()
>>> round(criterion(autodiff.zeros(2, 4), [1, 3]).item(), 6)    # ln 4
1.386294
"""

from . import losses
from .module import Module


class _Loss(Module):
    """A loss with a ``reduction``, computed by ``function(input, target, reduction=...)``."""

    function = None  # the loss function of nn.losses, set by each subclass

    def __init__(self, *, reduction="mean"):
        losses._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def forward(self, input, target):
        return type(self).function(input, target, reduction=self.reduction)

    def __repr__(self):
        return f"{type(self).__name__}()" if self.reduction == "mean" else f"{type(self).__name__}(reduction={self.reduction!r})"


class CrossEntropyLoss(_Loss):
    """``cross_entropy(input, target)``: softmax cross-entropy of logits (N, C) and integer labels (N,)."""

    function = losses.cross_entropy


class NLLLoss(_Loss):
    """``nll_loss(input, target)``: negative log-likelihood of log-probabilities (N, C) and integer labels (N,)."""

    function = losses.nll_loss


class MSELoss(_Loss):
    """``mse_loss(input, target)``: the mean of (input - target)²."""

    function = losses.mse_loss


class L1Loss(_Loss):
    """``l1_loss(input, target)``: the mean of |input - target|."""

    function = losses.l1_loss


class BCELoss(_Loss):
    """``binary_cross_entropy(input, target)``: probabilities in [0, 1] against 0/1 targets."""

    function = losses.binary_cross_entropy
