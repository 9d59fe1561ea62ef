"""Tensor layers with PyTorch's names, shapes and default initialisation, and the primitives they compute with.

A layer holds its parameters as ``nn.Parameter`` attributes (``weight``,
``bias``), so ``Module`` finds them under PyTorch's names, frozen or not,
and state dicts move between the two. The computing is done by Tensor
operations or by the primitives defined here beside the layer they serve
(``linear``, ``dropout``, ``embedding``, ``erf`` for GELU): each is one node
of the graph instead of several, with rules written against the array
namespace ``xp``, so they can be differentiated again (``create_graph``).
"""

import math

import numpy as np

from autodiff import Primitive, Tensor, get_default_dtype
from autodiff.tensor import as_tensor

from . import init
from .erf import erf
from .module import Module
from .parameter import Parameter
from .rng import generator

WEIGHT_INITS = {
    "he": init.he_normal_,
    "he_normal": init.he_normal_,
    "he_uniform": init.he_uniform_,
    "xavier": init.xavier_uniform_,
    "xavier_uniform": init.xavier_uniform_,
    "xavier_normal": init.xavier_normal_,
}


def parameter(*shape):
    """A new Parameter of ``shape`` in the default dtype, zeros until an init fills it."""
    return Parameter(np.zeros(shape, dtype=get_default_dtype()))


def initialise(weight, bias, scheme):
    """Fill ``weight`` and ``bias`` (may be None) by ``scheme``.

    None is PyTorch's default for Linear and Conv2d: weight and bias both
    U(-1/√fan_in, 1/√fan_in) (its kaiming_uniform_ with a = √5 comes to this
    bound). A name from ``WEIGHT_INITS`` fills the weight by that rule and
    the bias with zeros.
    """
    if scheme is None:
        bound = 1 / math.sqrt(init.fans(weight.shape)[0])
        init.uniform_(weight, -bound, bound)
        if bias is not None:
            init.uniform_(bias, -bound, bound)
        return
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"unknown init {scheme!r}: choose one of {', '.join(WEIGHT_INITS)} (or None)")
    WEIGHT_INITS[scheme](weight)
    if bias is not None:
        init.zeros_(bias)


def _linear_forward(xp, x, weight, bias=None):
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out


def _as_rows(a):
    """``a`` as a matrix of its last axis: (..., n) -> (rows, n); a matrix as it is."""
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


def _column_sums(xp, g, out, x, weight, bias):
    """Σ of g over every axis but the last, as a matrix-vector product: for a batch of
    100 rows of 16, numpy's sum along axis 0 takes three times as long."""
    rows = _as_rows(g)
    return np.ones(rows.shape[0], dtype=rows.dtype) @ rows


LINEAR = Primitive(
    "linear", _linear_forward,
    (lambda xp, g, out, x, weight, bias=None: g @ weight,
     lambda xp, g, out, x, weight, bias=None: _as_rows(g).T @ _as_rows(x),
     _column_sums),
    fresh=True,
    doc="x @ weightᵀ + bias;  dL/dx = g @ weight,  dL/dweight = Σ gᵀ x,  dL/dbias = Σ g (over the leading axes).",
)


def linear(x, weight, bias=None):
    """x @ weight.T + bias, for x of shape (..., in), weight (out, in), bias (out,).

    With g = dL/d(out) of shape (..., out):  dL/dx = g @ weight,
    dL/dweight = Σ over leading axes of gᵀ x,  dL/dbias = Σ over leading axes of g.
    Each rule is written against the array namespace ``xp``, so the
    gradient can be differentiated again (``create_graph``).

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.linear(autodiff.ones(5, 3), autodiff.ones(2, 3), autodiff.tensor([0.5, -0.5]))[0]
    Tensor([3.5, 2.5])
    """
    x = as_tensor(x, weight)
    if x.data.shape[-1:] != weight.data.shape[1:]:
        raise ValueError(
            f"linear: input of shape {x.data.shape} does not fit a weight of shape {weight.data.shape} (out, in)"
        )
    return Tensor.apply_primitive(LINEAR, (x, weight) if bias is None else (x, weight, bias))


class Linear(Module):
    """y = x Wᵀ + b for x of shape (..., in_features); ``weight`` (out, in), ``bias`` (out,).

    ``init`` is None (PyTorch's default) or a name from ``WEIGHT_INITS``.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.Linear(4, 2)(autodiff.zeros(5, 3, 4)).shape
    (5, 3, 2)
    """

    def __init__(self, in_features, out_features, bias=True, init=None):
        self.in_features, self.out_features = in_features, out_features
        self.weight = parameter(out_features, in_features)
        self.bias = parameter(out_features) if bias else None
        initialise(self.weight, self.bias, init)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def __repr__(self):
        bias = self.bias is not None
        return f"Linear(in_features={self.in_features}, out_features={self.out_features}, bias={bias})"


class Sequential(Module):
    """Modules applied one after another; the i-th is named "i", as in PyTorch (``0.weight``).

    >>> import autodiff
    >>> from autodiff import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    >>> model(autodiff.zeros(2, 4)).shape, list(model.state_dict())
    ((2, 1), ['0.weight', '0.bias', '2.weight', '2.bias'])
    """

    def __init__(self, *modules):
        for position, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules, argument {position} is {type(module).__name__}")
            # set directly, so Module finds them (in order) under the names "0", "1", ...
            vars(self)[str(position)] = module
        self._modules = modules  # the same modules in a tuple: forward walks it without a name lookup per layer

    def __setattr__(self, name, value):
        if name.isdigit():
            raise AttributeError(
                f"Sequential's layers are fixed when it is built; to change layer {name}, "
                "build a new Sequential from the layers you want (model[:n] gives the first n)"
            )
        super().__setattr__(name, value)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._modules[index])
        return self._modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def forward(self, x):
        for module in self._modules:
            x = module(x)
        return x


class ReLU(Module):
    """max(x, 0), elementwise.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.ReLU()(autodiff.tensor([-1.0, 2.0]))
    Tensor([0., 2.])
    """

    def forward(self, x):
        return as_tensor(x).relu()


class Tanh(Module):
    """tanh x, elementwise.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.Tanh()(autodiff.tensor([0.0, 1.0])).numpy().round(4)
    array([0.    , 0.7616], dtype=float32)
    """

    def forward(self, x):
        return as_tensor(x).tanh()


class Sigmoid(Module):
    """1 / (1 + e⁻ˣ), elementwise.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.Sigmoid()(autodiff.tensor([0.0]))
    Tensor([0.5])
    """

    def forward(self, x):
        return as_tensor(x).sigmoid()


class Flatten(Module):
    """Dimensions ``start_dim`` to ``end_dim`` merged into one, as ``torch.nn.Flatten``.

    By default (``start_dim=1, end_dim=-1``), (N, d1, d2, ...) becomes
    (N, d1·d2·...): everything but the batch axis in one row.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.Flatten()(autodiff.zeros(2, 3, 4)).shape, nn.Flatten(0, 1)(autodiff.zeros(2, 3, 4)).shape
    ((2, 12), (6, 4))
    """

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return as_tensor(x).flatten(self.start_dim, self.end_dim)

    def __repr__(self):
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


def _dropout_forward(xp, x, *, p):
    keep = generator().random(x.shape) >= p
    mask = keep * np.asarray(0 if p == 1 else 1 / (1 - p), dtype=x.dtype)
    return x * mask, mask


DROPOUT = Primitive(
    "dropout", _dropout_forward, (lambda xp, g, out, x, *, p, mask: mask * g,),
    saves=("mask",), elementwise=True, reads=0, fresh=True, random=True,
    doc="x · mask, the mask drawn anew each time: 0 with probability p, else 1/(1-p);  dL/dx = mask · g.",
)


def dropout(x, p=0.5, training=True):
    """Inverted dropout: each element zeroed with probability p, the survivors scaled by 1/(1-p).

    The scaling keeps E[out] = x, so at evaluation (``training=False``)
    dropout is the identity and returns ``x`` itself. dL/dx = g · mask, the
    same zeros and scale. The mask is drawn from ``nn.rng.generator()``.

    >>> import autodiff
    >>> from nn import functional as F
    >>> _ = autodiff.manual_seed(0)
    >>> sorted(set(F.dropout(autodiff.ones(100), p=0.75).tolist()))    # survivors scaled by 1/(1 - 0.75)
    [0.0, 4.0]
    >>> x = autodiff.ones(3)
    >>> F.dropout(x, training=False) is x
    True
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p!r}")
    if not training or p == 0:
        return x
    return Tensor.apply_primitive(DROPOUT, (as_tensor(x),), {"p": p})


class Dropout(Module):
    """Zeroes each element with probability p while training, scaling the rest by 1/(1-p); identity in eval.

    >>> import autodiff
    >>> from autodiff import nn
    >>> _ = autodiff.manual_seed(0)
    >>> sorted(set(nn.Dropout(0.5)(autodiff.ones(100)).tolist()))    # kept ones scaled by 1/(1 - 0.5)
    [0.0, 2.0]
    """

    def __init__(self, p=0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be between 0 and 1, got {p!r}")
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def __repr__(self):
        return f"Dropout(p={self.p})"


def gelu(x, approximate="none"):
    """Gaussian error linear unit, x Φ(x) with Φ the standard normal CDF, as PyTorch computes it.

    "none" (the default): x · ½ (1 + erf(x/√2)), exact. "tanh": the
    approximation x · ½ (1 + tanh(√(2/π) (x + 0.044715 x³))). Composed of
    Tensor operations, so the gradient follows from theirs.
    """
    x = as_tensor(x)
    if approximate == "none":
        return x * 0.5 * (erf(x * (1 / math.sqrt(2))) + 1)
    if approximate == "tanh":
        return x * 0.5 * (((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)).tanh() + 1)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


class GELU(Module):
    """x Φ(x), Φ the standard normal CDF: exact (erf) by default, or PyTorch's tanh approximation.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.GELU()(autodiff.tensor([-1.0, 0.0, 1.0])).numpy().round(4)    # Φ(1) = 0.8413
    array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, self.approximate)

    def __repr__(self):
        return "GELU()" if self.approximate == "none" else f"GELU(approximate={self.approximate!r})"


class Softmax(Module):
    """e^x / Σ e^x along ``dim``: each slice along it becomes a probability distribution.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.Softmax(dim=1)(autodiff.tensor([[0.0, 0.0], [0.0, 2.0]])).numpy().round(4)
    array([[0.5   , 0.5   ],
           [0.1192, 0.8808]], dtype=float32)
    """

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return as_tensor(x).softmax(axis=self.dim)

    def __repr__(self):
        return f"Softmax(dim={self.dim})"


class LogSoftmax(Module):
    """x - logsumexp(x) along ``dim``: log-probabilities, the input ``nll_loss`` expects.

    >>> import autodiff
    >>> from autodiff import nn
    >>> nn.LogSoftmax(dim=-1)(autodiff.tensor([0.0, 0.0])).numpy().round(4)    # log ½
    array([-0.6931, -0.6931], dtype=float32)
    """

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return as_tensor(x).log_softmax(axis=self.dim)

    def __repr__(self):
        return f"LogSoftmax(dim={self.dim})"


def _embedding_rule(xp, g, out, weight, indices, *, padding_idx):
    rows = indices.reshape(-1)
    g = g.reshape(-1, weight.shape[1])
    if padding_idx is not None:
        # the padding row is never trained: its positions send no gradient
        kept = rows != padding_idx
        rows, g = rows[kept], g[kept]
    return xp.ungather(g, (rows,), weight.shape)


EMBEDDING = Primitive(
    "embedding", lambda xp, weight, indices, *, padding_idx: weight[indices],
    (_embedding_rule, None), reads=0, fresh=True,
    doc="rows of weight picked by integer indices;  dL/dweight[k] = Σ of g where indices == k.",
)


def embedding(indices, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices``: shape indices.shape + (dim,).

    out[..., :] = weight[indices[...], :];  dL/dweight[k] = Σ of g over the
    positions where indices == k (0 for ``padding_idx``, a row never trained).
    The indices are an input of the node (a numpy array is copied first).

    >>> import autodiff
    >>> from nn import functional as F
    >>> F.embedding(autodiff.tensor([2, 0]), autodiff.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    Tensor([[2., 2.],
            [0., 0.]])
    """
    indices = as_tensor(indices)
    index, W = indices.data, weight.data
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {index.dtype}")
    if W.ndim != 2:
        raise ValueError(f"embedding: weight must have shape (num_embeddings, embedding_dim), got shape {W.shape}")
    if index.size and (index.min() < 0 or index.max() >= len(W)):
        outside = index[(index < 0) | (index >= len(W))].flat[0]
        raise IndexError(f"embedding: index {outside} is out of range for {len(W)} embeddings (0 to {len(W) - 1})")
    padding = None if padding_idx is None else padding_idx % len(W)
    return Tensor.apply_primitive(EMBEDDING, (weight, indices), {"padding_idx": padding})


class Embedding(Module):
    """A lookup table: ``weight`` (num_embeddings, embedding_dim), one learned row per index, N(0, 1) at first.

    Called with integer indices of any shape, it returns their rows, of
    shape indices.shape + (embedding_dim,). The row ``padding_idx`` (if
    given) starts at zero and receives no gradient.

    >>> import autodiff
    >>> from autodiff import nn
    >>> table = nn.Embedding(10, 3, padding_idx=0)
    >>> table(autodiff.tensor([[1, 2], [0, 4]])).shape, table.weight[0].tolist()
    ((2, 2, 3), [0.0, 0.0, 0.0])
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for {num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.weight = parameter(num_embeddings, embedding_dim)
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, indices):
        return embedding(indices, self.weight, self.padding_idx)

    def __repr__(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{padding})"
