"""The operations of neural-network layers, under ``torch.nn.functional``'s names.

Each is defined beside the layer it serves (``linear`` and ``dropout`` in
``nn.layers``, ``conv2d`` in ``nn.conv``, ``layer_norm`` in
``nn.normalization``, the losses in ``nn.losses``, ...); this module is the
list of them, as PyTorch's programs import it (``import torch.nn.functional
as F`` becomes ``from nn import functional as F``).

Derivatives of derivatives (``backward(create_graph=True)``,
``autodiff.grad(..., create_graph=True)``, ``autodiff.hvp``,
``autodiff.hessian``): linear, erf (and so gelu), dropout, embedding, the
normalisations and the losses cross_entropy, nll_loss, mse_loss,
l1_penalty and l2_penalty can be differentiated again. These have first
derivatives only, and a backward with ``create_graph`` (or forward mode,
``autodiff.jvp``) that reaches one raises ``NotImplementedError`` naming
it: conv2d, max_pool2d, rnn_tanh and lstm (so ``nn.Conv2d``,
``nn.MaxPool2d``, ``nn.RNN`` and ``nn.LSTM``), and binary_cross_entropy.
"""

import numpy as np

from autodiff import Tensor
from autodiff.tensor import as_tensor, numbers_of

from .conv import conv2d, max_pool2d
from .erf import erf
from .layers import dropout, embedding, gelu, linear
from .losses import binary_cross_entropy, cross_entropy, l1_loss, mse_loss, nll_loss
from .normalization import batch_norm, layer_norm
from .recurrent import lstm, rnn_tanh

__all__ = [
    "relu", "tanh", "sigmoid", "gelu", "erf", "softmax", "log_softmax",
    "linear", "conv2d", "max_pool2d", "dropout", "embedding", "layer_norm", "batch_norm",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy", "one_hot",
    "rnn_tanh", "lstm",
]


def relu(x):
    """max(x, 0), elementwise.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.relu(autodiff.tensor([-1.0, 2.0]))
    Tensor([0., 2.])
    """
    return as_tensor(x).relu()


def tanh(x):
    """tanh x, elementwise.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.tanh(autodiff.tensor([0.0, 1.0])).numpy().round(4)
    array([0.    , 0.7616], dtype=float32)
    """
    return as_tensor(x).tanh()


def sigmoid(x):
    """1 / (1 + e⁻ˣ), elementwise.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.sigmoid(autodiff.tensor([0.0]))
    Tensor([0.5])
    """
    return as_tensor(x).sigmoid()


def softmax(x, dim):
    """e^x / Σ e^x along ``dim``, computed stably.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.softmax(autodiff.tensor([1000.0, 1000.0, 1000.0, 1000.0]), dim=0)    # no overflow
    Tensor([0.25, 0.25, 0.25, 0.25])
    """
    return as_tensor(x).softmax(axis=dim)


def log_softmax(x, dim):
    """x - logsumexp(x) along ``dim``, computed stably.

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.log_softmax(autodiff.tensor([[0.0, 0.0]]), dim=1).numpy().round(4)    # log ½
    array([[-0.6931, -0.6931]], dtype=float32)
    """
    return as_tensor(x).log_softmax(axis=dim)


def one_hot(tensor, num_classes=-1):
    """Integer class labels as rows of 0s with a 1 at each label, int64, as ``F.one_hot``; not differentiable.

    ``num_classes`` -1 takes one more than the largest label.
    """
    labels = numbers_of(tensor)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot takes integer labels, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"one_hot takes labels of at least 0, got {labels.min()}")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"one_hot: label {labels.max()} does not fit num_classes={num_classes}")
    return Tensor((labels[..., None] == np.arange(num_classes)).astype(np.int64))
