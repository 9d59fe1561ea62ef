"""The operations on Tensors: what users call, turning their arguments into primitives of the table.

Each function here checks and normalises its arguments (numpy's names
``axis``/``keepdims`` and PyTorch's ``dim``/``keepdim``, dtypes, shapes,
errors that name what was wrong) and applies a primitive of
``autodiff.primitives``, where the operation's forward pass and rules are
written once. Composite operations (``softmax``, ``stack``, ``flatten``,
``log10``, ``masked_fill``, ...) are written in terms of the
primitives and need no backward code of their own.

The elementwise functions shared with the scalar engine (``exp``, ``log``,
``sqrt``, ``tanh``, ``sigmoid``, ``relu``, ``abs``, ``sin``, ``cos``) are the
primitives themselves: ``autodiff.exp(x)`` takes a Tensor or a Value; so
are those of ``primitives.ElementwiseMethods`` (``sinh``, ``cosh``),
brought in by name from ``primitives.NAMED``.

This module is also the namespace ``xp`` in which backward with
``create_graph`` runs the rules: its functions of the names the rules use
(``where``, ``equal``, ``power``, ``broadcast_to``, ``unindex``, ...) are
recorded Tensor operations, so the gradient is itself a graph.
"""

import builtins
import math
from typing import NamedTuple

import numpy as np

from . import numpy_ops
from . import primitives as P
from .primitives import ARRAY
from .tensor import _NO_PARAMS, Tensor, _take_documentation, as_tensor, unbroadcast

_apply = Tensor._apply
_record = Tensor._record

exp = P.EXP
log = P.LOG
sqrt = P.SQRT
tanh = P.TANH
sigmoid = P.SIGMOID
relu = P.RELU
abs = P.ABS  # noqa: A001
sin = P.SIN
cos = P.COS


def _broadcast_error(op, x, y):
    return ValueError(f"{op}: shapes {x.shape} and {y.shape} cannot be broadcast together")


# -- arithmetic, with numpy broadcasting ----------------------------------


def _operands(a, b):
    """``a`` and ``b`` (Tensors, arrays or numbers, at least one a Tensor) as Tensors of one kind.

    Numbers, arrays and integer or boolean tensors meeting a floating-point
    tensor take its dtype, so float32 work is never widened to float64.
    """
    if not isinstance(a, Tensor):
        b, a = _operands(b, a)
        return a, b
    if not isinstance(b, Tensor) or (b.data.dtype.kind != "f" and a.data.dtype.kind == "f"):
        return a, as_tensor(b, a)
    if a.data.dtype.kind != "f" and b.data.dtype.kind == "f":
        return as_tensor(a, b), b
    return a, b


def _binary(definition, symbol, a, b):
    """``definition`` (two inputs, no settings, nothing saved) applied to ``a`` and ``b`` as ``_operands`` makes them.

    The forward pass is called here rather than through ``_apply``: arithmetic is the commonest operation, and
    this is its shortest path.
    """
    a, b = _operands(a, b)
    try:
        data = definition.forward(numpy_ops, a.data, b.data)
    except ValueError:
        raise _broadcast_error(symbol, a.data, b.data) from None
    return _record(data, definition, (a, b), _NO_PARAMS)


def add(a, b):
    """a + b, broadcast;  dL/da = g,  dL/db = g."""
    return _binary(P.ADD, "+", a, b)


def sub(a, b):
    """a - b, broadcast;  dL/da = g,  dL/db = -g."""
    return _binary(P.SUB, "-", a, b)


def mul(a, b):
    """a * b, broadcast;  dL/da = b · g,  dL/db = a · g."""
    return _binary(P.MUL, "*", a, b)


def div(a, b):
    """a / b, broadcast;  dL/da = g / b,  dL/db = -g · a / b²."""
    return _binary(P.DIV, "/", a, b)


def neg(a):
    """-a;  dL/da = -g."""
    return _apply(P.NEG, (a,))


def pow(a, b):  # noqa: A001
    """a ** b;  dL/da = b · a**(b-1) · g,  dL/db = a**b · ln(a) · g.

    As in PyTorch, dL/db is 0 where a == 0 and b >= 0 (there a**b does not
    move with b), dL/da is 0 where b == 0, and a negative base with a
    fractional exponent is nan. A Python number as exponent is a setting
    of the operation (``**2``), not an input.

    >>> Tensor([1.0, 2.0, 3.0]).pow(2).tolist()
    [1.0, 4.0, 9.0]
    """
    if isinstance(b, (Tensor, np.ndarray)) or not isinstance(a, Tensor):
        return _binary(P.POW, "**", a, b)
    # a Python number never widens the array's dtype; a numpy scalar could
    exponent = b if isinstance(b, int) else float(b)
    return _apply(P.POWER, (a,), {"exponent": exponent})


power = pow


def matmul(a, b):
    """a @ b for 1-D, 2-D and batched operands, as numpy's matmul.

    For 2-D operands: dL/da = g @ bᵀ,  dL/db = aᵀ @ g. A 1-D operand is
    treated as a row (on the left) or a column (on the right) whose extra
    axis is removed from the result; batch axes broadcast, and backward
    sums the gradient over the batch axes an operand lacks.
    """
    a, b = _operands(a, b)
    x, y = a.data, b.data
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul of shapes {x.shape} and {y.shape}: operands need at least one dimension")
    try:
        return _apply(P.MATMUL, (a, b))
    except ValueError:
        inner = x.shape[-1], y.shape[-2] if y.ndim > 1 else y.shape[0]
        problem = "inner dimensions {} and {} differ".format(*inner) if inner[0] != inner[1] else (
            "batch dimensions cannot be broadcast together"
        )
        raise ValueError(f"matmul of shapes {x.shape} and {y.shape}: {problem}") from None


# -- elementwise functions -------------------------------------------------


def log2(a):
    """log₂ a = ln a / ln 2, elementwise;  dL/da = g / (a ln 2).

    >>> [round(v, 4) for v in Tensor([1.0, 8.0]).log2().tolist()]
    [0.0, 3.0]
    """
    return div(log(a), math.log(2))


def log10(a):
    """log₁₀ a = ln a / ln 10, elementwise;  dL/da = g / (a ln 10).

    >>> [round(v, 4) for v in Tensor([1.0, 100.0]).log10().tolist()]
    [0.0, 2.0]
    """
    return div(log(a), math.log(10))


def clip(a, low=None, high=None):
    """a limited to [low, high] (either may be None), elementwise;  dL/da = g where low <= a <= high, else 0.

    ``a.clamp(min, max)`` is the same, by PyTorch's names.

    >>> x = Tensor([-2.0, 0.5, 3.0])
    >>> x.clip(-1.0, 1.0).tolist(), x.clamp(min=0.0).tolist()
    ([-1.0, 0.5, 1.0], [0.0, 0.5, 3.0])
    """
    if low is None and high is None:
        raise ValueError("clip needs a lower bound, an upper bound, or both")
    return _apply(P.CLIP, (a,), {"low": low, "high": high})


def cast(a, dtype):
    """a in another ``dtype`` (a itself if it has it);  dL/da = g, cast back by backward.

    A cast to an integer or boolean dtype is a constant: only floating-point tensors have gradients.
    """
    dtype = np.dtype(dtype)
    if a.data.dtype == dtype:
        return a
    return _apply(P.CAST if dtype.kind == "f" else P.CONVERT, (a,), {"dtype": dtype})


def clone(a):
    """A copy of a with memory of its own;  dL/da = g.

    >>> x = Tensor([1.0, 2.0])
    >>> x.clone().zero_().tolist(), x.tolist()
    ([0.0, 0.0], [1.0, 2.0])
    """
    return _apply(P.CLONE, (a,))


# -- constants: results outside the graph ------------------------------------


def sign(a):
    """-1, 0 or 1 by the sign of each element (0 for NaN, as PyTorch's), as a tensor outside the graph: not
    differentiable (its derivative is 0 almost everywhere).

    >>> Tensor([-2.0, 0.0, 3.0]).sign().tolist()
    [-1.0, 0.0, 1.0]
    """
    return _apply(P.SIGN, (a,))


def zeros_like(a):
    """Zeros of a's shape and dtype, outside the graph."""
    return Tensor._constant(np.zeros_like(a.data))


def isnan(a):
    """Whether each element is NaN, as a boolean tensor outside the graph."""
    return _apply(P.ISNAN, (a,))


def isfinite(a):
    """Whether each element is finite, as a boolean tensor outside the graph."""
    return _apply(P.ISFINITE, (a,))


def _comparison(definition, name, example_result=None):
    """The function ``name`` comparing two tensors by ``definition``; ``example_result``, if given, is what
    its docstring's example, ``Tensor([1.0, 2.0, 3.0]).<name>(2.0).tolist()``, prints."""
    def comparison(a, b):
        return _binary(definition, definition.name, a, b)

    comparison.__name__ = name
    comparison.__doc__ = f"a {definition.name} b elementwise, as a boolean tensor outside the graph."
    if example_result is not None:
        comparison.__doc__ += f"\n\n>>> Tensor([1.0, 2.0, 3.0]).{name}(2.0).tolist()\n{example_result}\n"
    return comparison


lt = _comparison(P.LESS, "lt", "[True, False, False]")
le = _comparison(P.LESS_EQUAL, "le", "[True, True, False]")
gt = _comparison(P.GREATER, "gt", "[False, False, True]")
ge = _comparison(P.GREATER_EQUAL, "ge", "[False, True, True]")
eq = _comparison(P.EQUAL, "eq", "[False, True, False]")
ne = _comparison(P.NOT_EQUAL, "ne", "[True, False, True]")
equal = eq
logical_and = _comparison(P.LOGICAL_AND, "logical_and")
logical_or = _comparison(P.LOGICAL_OR, "logical_or")
logical_xor = _comparison(P.LOGICAL_XOR, "logical_xor")


def logical_not(a):
    """not a, elementwise, as a boolean tensor outside the graph."""
    return _apply(P.LOGICAL_NOT, (a,))


# -- reductions ------------------------------------------------------------


def _axis_and_keep(axis, keepdims, dim, keepdim, default=None):
    """numpy's ``axis``/``keepdims`` or PyTorch's ``dim``/``keepdim``, whichever was given (``default`` if neither)."""
    if dim is not None:
        if axis is not None:
            raise TypeError("give the axes as axis= or as dim=, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return default if axis is None else axis, bool(keepdims)


def _reduced_axes(axis, ndim):
    """``axis`` (an int or a tuple, negatives allowed) as a sorted tuple of non-negative axes; None stays None."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(isinstance(ax, (int, np.integer)) for ax in axes):
        raise TypeError(f"an axis is an int or a tuple of ints, got {axis!r}")
    normalized = set()
    for ax in axes:
        if not -builtins.max(ndim, 1) <= ax < builtins.max(ndim, 1):
            raise ValueError(f"axis {ax} is out of range for a tensor of {ndim} dimensions")
        if int(ax) % builtins.max(ndim, 1) in normalized:
            raise ValueError(f"axis {ax} appears twice in {axis}")
        normalized.add(int(ax) % builtins.max(ndim, 1))
    if ndim == 0:
        return ()  # numpy and PyTorch accept axis 0 or -1 of a 0-d tensor, and leave it as it is
    return tuple(sorted(normalized))


def sum(a, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None):  # noqa: A001
    """Σ a over ``axis`` or ``dim`` (all elements by default; in ``dtype``, if given);  dL/da = g repeated along the
    summed axes.

    ``keepdims`` (or ``keepdim``) keeps the summed axes, of length 1.

    >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=0).tolist()
    [4.0, 6.0]
    """
    axis, keepdims = _axis_and_keep(axis, keepdims, dim, keepdim)
    axes = _reduced_axes(axis, a.data.ndim)
    params = {"axes": axes, "keepdims": keepdims}
    if dtype is not None:
        params["dtype"] = np.dtype(dtype)
    return _apply(P.SUM, (a,), params)


def mean(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The mean over ``axis`` or ``dim`` (all elements by default): the sum divided by the count n;  dL/da = g / n
    repeated along the averaged axes.

    The mean of no elements is 0 / 0 = nan, as in PyTorch.

    >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).mean(dim=1).tolist()
    [1.5, 3.5]
    """
    axis, keepdims = _axis_and_keep(axis, keepdims, dim, keepdim)
    axes = _reduced_axes(axis, a.data.ndim)
    return _apply(P.MEAN, (a,), {"axes": axes, "keepdims": keepdims})


def var(a, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
    """Variance over ``dim`` (or ``axis``; all elements by default): Σ (a - mean)² / (n - correction);
    dL/da = 2 (a - mean) / (n - correction) · g.

    PyTorch's default correction 1 gives the unbiased estimate; ``correction=0``
    (or ``unbiased=False``) divides by n.

    >>> x = Tensor([1.0, 2.0, 3.0, 4.0])
    >>> round(x.var().item(), 4), x.var(correction=0).item()
    (1.6667, 1.25)
    """
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axis, keepdim = _axis_and_keep(axis, keepdims if keepdims is not None else keepdim, dim, None)
    axes = _reduced_axes(axis, a.ndim)
    return _apply(P.VAR, (a,), {"axes": axes, "keepdims": keepdim, "correction": correction})


def std(a, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None):
    """Standard deviation over ``dim`` (or ``axis``): √var, with ``var``'s ``correction`` (PyTorch's default 1);
    dL/da = (a - mean) / ((n - correction) · std) · g, taken as 0 where the deviation is 0, as PyTorch takes it.

    >>> round(Tensor([1.0, 2.0, 3.0, 4.0]).std(correction=0).item(), 4)
    1.118
    """
    variance = var(a, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, axis=axis, keepdims=keepdims)
    return _apply(P.STD, (variance,))


def split(a, split_size_or_sections, dim=0):
    """a cut along ``dim`` into pieces of ``split_size`` (the last may be shorter) or of the given sizes;  dL/da is
    the pieces' gradients side by side.

    >>> [piece.tolist() for piece in Tensor([1.0, 2.0, 3.0, 4.0, 5.0]).split(2)]
    [[1.0, 2.0], [3.0, 4.0], [5.0]]
    """
    length = a.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections < 1:
            raise ValueError(f"split: pieces must have a positive size, got {split_size_or_sections}")
        sizes = [builtins.min(split_size_or_sections, length - start)
                 for start in range(0, length, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != length:
            raise ValueError(f"split: sizes {sizes} do not add up to the length {length} of dimension {dim}")
    pieces, start = [], 0
    for size in sizes:
        where = (slice(None),) * (dim % a.ndim) + (slice(start, start + size),)
        pieces.append(getitem(a, where))
        start += size
    return tuple(pieces)


class ValuesIndices(NamedTuple):
    """What ``max(dim)`` and ``min(dim)`` return, as in PyTorch: the extremes and where they are."""

    values: Tensor
    indices: Tensor


def _refuse_empty(name, a, axes):
    """ValueError if a reduction over ``axes`` (None: all) of ``a`` takes in no element: it has no result."""
    if P.count_of(a.shape, axes) == 0:
        if axes is None:
            raise ValueError(f"{name}() of an empty tensor of shape {a.shape}: there is no element to pick")
        raise ValueError(f"{name}() along the axes {axes} of a tensor of shape {a.shape}, empty along them: "
                         "there is no element to pick")


def _extremum(a, dim, keepdim, axis, keepdims, definition, arg):
    name = definition.name
    if dim is None:
        keep = keepdims if keepdims is not None else keepdim
        axes = _reduced_axes(axis, a.data.ndim)
        _refuse_empty(name, a, axes)
        return _apply(definition, (a,), {"axes": axes, "keepdims": bool(keep)})
    if axis is not None:
        name = definition.name
        raise TypeError(f"{name}: give the dimension as dim (values and indices) or as axis= (values), not both")
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{definition.name}(dim) takes one dimension, got {dim!r}; for several, use axis=...")
    keep = bool(keepdims if keepdims is not None else keepdim)
    (axis,) = _reduced_axes(dim, a.data.ndim) or (0,)
    if a.data.ndim:
        _refuse_empty(name, a, (axis,))
    indices = arg(a, axis, keepdim=True)
    # the values are the elements at the indices, so the gradient goes to exactly those elements, as in PyTorch
    shape = a.data.shape
    grids = np.ogrid[tuple(slice(n) for n in shape)]
    index = tuple(indices if k == axis else grid for k, grid in enumerate(grids))
    values = getitem(a, index) if shape else clone(a)
    if not keep and shape:
        values, indices = squeeze(values, axis), squeeze(indices, axis)
    return ValuesIndices(values, indices)


def max(a, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """The largest elements;  dL/da = g at the maximum.

    ``max()`` and ``max(axis=...)`` return the values, and share g among
    elements that tie (as PyTorch's ``max()`` and ``amax``); ``max(dim)``,
    as in PyTorch, returns ``(values, indices)``, and g goes to the element
    at the index.

    >>> x = Tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> x.max().item(), x.max(dim=1).indices.tolist()
    (7.0, [1, 0])
    """
    return _extremum(a, dim, keepdim, axis, keepdims, P.AMAX, argmax)


def min(a, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A001
    """The smallest elements;  dL/da = g at the minimum (see ``max`` for ties and for ``min(dim)``).

    >>> x = Tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> x.min().item(), x.min(dim=1).values.tolist()
    (1.0, [1.0, 2.0])
    """
    return _extremum(a, dim, keepdim, axis, keepdims, P.AMIN, argmin)


def argmax(a, dim=None, keepdim=False, *, axis=None):
    """The index of the largest element along ``dim`` (in the flattened tensor when None); not differentiable.

    >>> x = Tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> x.argmax().item(), x.argmax(dim=1).tolist()
    (2, [1, 0])
    """
    axis, keepdim = _axis_and_keep(axis, keepdim, dim, None)
    _refuse_empty("argmax", a, _reduced_axes(axis, a.data.ndim))
    return _apply(P.ARGMAX, (a,), {"axis": axis, "keepdims": keepdim})


def argmin(a, dim=None, keepdim=False, *, axis=None):
    """The index of the smallest element along ``dim`` (in the flattened tensor when None); not differentiable.

    >>> x = Tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> x.argmin().item(), x.argmin(dim=0).tolist()
    (0, [0, 1])
    """
    axis, keepdim = _axis_and_keep(axis, keepdim, dim, None)
    _refuse_empty("argmin", a, _reduced_axes(axis, a.data.ndim))
    return _apply(P.ARGMIN, (a,), {"axis": axis, "keepdims": keepdim})


def logsumexp(a, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """ln Σ e**a over ``axis`` or ``dim`` (all elements by default), shifted by the maximum so it never overflows;
    dL/da = softmax(a) · g.

    Over no elements it is ln 0 = -inf, as in PyTorch.

    >>> round(Tensor([1.0, 2.0, 3.0]).logsumexp().item(), 4)
    3.4076
    """
    axis, keepdims = _axis_and_keep(axis, keepdims, dim, keepdim)
    axes = _reduced_axes(axis, a.data.ndim)
    return _apply(P.LOGSUMEXP, (a,), {"axes": axes, "keepdims": keepdims})


def log_softmax(a, axis=None, *, dim=None):
    """a - logsumexp(a) along ``axis`` or ``dim`` (the last by default): ln softmax, shifted by the maximum so it never
    overflows;  dL/da = g - softmax(a) · Σ g.

    >>> [round(v, 4) for v in Tensor([0.0, 0.0]).log_softmax(dim=0).tolist()]
    [-0.6931, -0.6931]
    """
    axis, _ = _axis_and_keep(axis, False, dim, None, default=-1)
    (axis,) = _reduced_axes(axis, a.data.ndim) or (0,)
    if a.data.size == 0:
        return _apply(P.CLONE, (a,))  # nothing to normalise: an empty result of the same shape
    return _apply(P.LOG_SOFTMAX, (a,), {"axis": axis})


def softmax(a, axis=None, *, dim=None):
    """s = exp(a) / Σ exp(a) along ``axis`` or ``dim`` (the last by default), as exp(log_softmax(a)), stable for large
    inputs;  dL/da = s · (g - Σ s · g).

    >>> [round(v, 4) for v in Tensor([1.0, 2.0, 3.0]).softmax(dim=0).tolist()]
    [0.09, 0.2447, 0.6652]
    """
    return exp(log_softmax(a, axis, dim=dim))


# -- shape -----------------------------------------------------------------


def _shape_argument(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _resolved_shape(old, shape):
    """``shape`` with its -1 worked out, for ``old.size`` elements; ValueError if it cannot hold them."""
    shape = [int(n) for n in shape]
    size = math.prod(old)
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in shape):
        raise ValueError
    if unknown:
        known = math.prod(n for n in shape if n != -1)
        if known == 0 or size % known:
            raise ValueError
        shape[unknown[0]] = size // known
    if math.prod(shape) != size:
        raise ValueError
    return tuple(shape)


def reshape(a, *shape):
    """The same elements in a new shape (one entry may be -1);  dL/da = g in a's shape.

    >>> Tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape(2, -1).tolist()
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    """
    shape = _shape_argument(shape)
    try:
        shape = _resolved_shape(a.data.shape, shape)
    except (ValueError, TypeError):
        raise ValueError(f"cannot reshape a tensor of shape {a.data.shape} into shape {shape}") from None
    return _apply(P.RESHAPE, (a,), {"shape": shape})


def view(a, *shape):
    """The same elements in a new shape (one entry may be -1), sharing memory, as PyTorch's ``view``;  dL/da = g in
    a's shape.

    Refused where that needs a copy (the elements are not laid out in that
    order in memory, as after a transpose): ``reshape`` copies them there.

    >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).view(-1).tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    out = reshape(a, *shape)
    if out.data.size and not np.may_share_memory(out.data, a.data):  # a copy shares nothing at all
        raise RuntimeError(
            f"view of a tensor of shape {a.shape} as {out.shape} would need a copy (its elements are not "
            "laid out in that order in memory, e.g. after a transpose); use reshape(), which copies"
        )
    return out


def transpose(a, *axes):
    """Axes permuted (reversed when none are given);  dL/da = g with the inverse permutation.

    Two axes given separately, ``transpose(dim0, dim1)``, of a tensor of
    more than two dimensions are swapped, as in PyTorch; of a matrix,
    ``transpose(0, 1)`` is refused, since numpy would keep the axes and
    PyTorch swap them. One tuple, ``transpose((1, 0, 2))``, is numpy's
    permutation.

    >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).transpose().tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    >>> Tensor(np.zeros((2, 3, 4))).transpose(0, 2).shape
    (4, 3, 2)
    """
    as_pair = len(axes) == 2
    axes = _shape_argument(axes)
    ndim = a.data.ndim
    if as_pair and ndim != 2:
        return swapaxes(a, *axes)
    if as_pair and tuple(ax % 2 for ax in axes) == (0, 1):
        raise ValueError(
            "transpose(0, 1) of a matrix means no change in numpy and a swap in PyTorch: "
            "write .T or transpose() for the swap"
        )
    return permute(a, *axes) if axes else permute(a, *reversed(range(ndim)))


def permute(a, *dims):
    """The axes in the order ``dims``, as PyTorch's ``permute``;  dL/da = g with the inverse permutation.

    >>> Tensor(np.zeros((2, 3, 4))).permute(2, 0, 1).shape
    (4, 2, 3)
    """
    dims = _shape_argument(dims)
    ndim = a.data.ndim
    if sorted(d % builtins.max(ndim, 1) for d in dims) != list(range(ndim)):
        raise ValueError(f"axes {dims} are not a permutation of the axes of shape {a.data.shape}")
    dims = tuple(d % ndim for d in dims)
    inverse = tuple(np.argsort(dims).tolist())
    return _apply(P.PERMUTE, (a,), {"dims": dims, "inverse": inverse})


def swapaxes(a, axis1, axis2):
    """Axes ``axis1`` and ``axis2`` exchanged;  dL/da = g with them exchanged back.

    >>> Tensor(np.zeros((2, 3, 4))).swapaxes(0, 2).shape
    (4, 3, 2)
    """
    ndim = a.data.ndim
    for ax in (axis1, axis2):
        if not -ndim <= ax < ndim:
            raise ValueError(f"axis {ax} is out of range for a tensor of {ndim} dimensions")
    order = list(range(ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return permute(a, *order)


def flatten(a, start_dim=0, end_dim=-1):
    """Dimensions ``start_dim`` to ``end_dim`` (all, by default) merged into one;  dL/da = g in a's shape.

    >>> x = Tensor(np.zeros((2, 3, 4)))
    >>> x.flatten().shape, x.flatten(1).shape, flatten(x, 0, 1).shape
    ((24,), (2, 12), (6, 4))
    """
    shape = a.shape
    ndim = builtins.max(len(shape), 1)  # a 0-d tensor flattens as if it had one axis, to shape (1,)
    for name, dim in (("start_dim", start_dim), ("end_dim", end_dim)):
        if not -ndim <= dim < ndim:
            raise ValueError(f"flatten: {name} {dim} is out of range for a tensor of shape {shape}")
    if not shape:
        return reshape(a, 1)
    start, end = start_dim % len(shape), end_dim % len(shape)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {shape}")
    return reshape(a, *shape[:start], -1, *shape[end + 1:])


def unsqueeze(a, dim):
    """A new axis of length 1 at ``dim`` (counted in the result's dimensions, as in PyTorch);  dL/da = g in a's shape.

    >>> Tensor([1.0, 2.0]).unsqueeze(0).shape
    (1, 2)
    """
    ndim = a.data.ndim + 1
    if not -ndim <= dim < ndim:
        raise ValueError(f"unsqueeze: dim {dim} is out of range for a result of {ndim} dimensions")
    dim %= ndim
    return reshape(a, *a.shape[:dim], 1, *a.shape[dim:])


def squeeze(a, dim=None):
    """Axes of length 1 removed: all of them, or only ``dim`` (left alone if its length is not 1, as in PyTorch);
    dL/da = g in a's shape.

    >>> Tensor([[[1.0], [2.0]]]).squeeze().shape
    (2,)
    """
    shape = a.shape
    if dim is None:
        return reshape(a, *[n for n in shape if n != 1])
    dims = _reduced_axes(dim, len(shape))
    return reshape(a, *[n for i, n in enumerate(shape) if not (i in dims and n == 1)])


def broadcast_to(a, *shape):
    """a repeated along the axes where it has length 1 (or lacks) to ``shape``;  dL/da = g summed over them.

    ``a.expand(*shape)`` is the same, by PyTorch's name, without PyTorch's -1 for a length kept as it is.

    >>> Tensor([1.0, 2.0]).expand(2, 2).tolist()
    [[1.0, 2.0], [1.0, 2.0]]
    """
    shape = _shape_argument(shape)
    try:
        np.broadcast_shapes(a.data.shape, shape)
        if np.broadcast_shapes(a.data.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"cannot broadcast a tensor of shape {a.data.shape} to shape {shape}") from None
    return _apply(P.BROADCAST_TO, (a,), {"shape": shape})


def _index_parts(index):
    """``index`` as a tuple of basic parts (ints, slices, None, ...) and index arrays (Tensors or arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    plain = []
    for part in parts:
        if isinstance(part, list):
            part = np.asarray(part) if part else np.empty(0, dtype=np.intp)
        elif isinstance(part, Tensor) and part.data.ndim == 0 and part.data.dtype.kind in "iu":
            part = int(part.data)  # a one-element integer tensor indexes as an int, as in PyTorch
        elif isinstance(part, np.integer):
            part = int(part)
        plain.append(part)
    return tuple(plain)


def getitem(a, index):
    """a[index] with ints, slices, None, ..., integer arrays and boolean masks.

    Basic indexing (no arrays) gives a view: writing into it (under
    ``no_grad``) writes into a. dL/da is zero except at the selected
    elements, which receive g; an element selected several times by
    integer arrays receives the sum. An index array is an input of the
    operation (a numpy array is copied first): changing it in place after
    the forward pass makes backward refuse, as for any input.
    """
    parts = _index_parts(index)
    if not any(isinstance(part, (Tensor, np.ndarray)) for part in parts):
        if Ellipsis not in parts:
            parts = parts + (Ellipsis,)  # so that every element alone is a 0-d view, not a copy
        return _apply(P.INDEX, (a,), {"index": parts})
    arrays, layout, repeats = [], [], False
    for part in parts:
        if isinstance(part, (Tensor, np.ndarray)):
            array = part if isinstance(part, Tensor) else Tensor._constant(part.copy())
            if array.data.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, got {array.data.dtype}")
            repeats = repeats or array.data.dtype.kind in "iu"
            arrays.append(array)
            layout.append(ARRAY)
        else:
            layout.append(part)
    return _apply(P.GATHER, (a, *arrays), {"layout": tuple(layout), "repeats": repeats})


def unindex(g, index, shape):
    """A tensor of ``shape``, zero except at ``index``, where it holds g: what getitem sends back.

    An index holding arrays (a boolean mask: no element twice) is an input, as in ``ungather``.
    """
    if any(isinstance(part, (Tensor, np.ndarray)) for part in index):
        return ungather(g, index, shape)
    return _apply(P.UNINDEX, (g,), {"index": index, "shape": shape})


def ungather(g, index, shape):
    """A tensor of ``shape``, zero except at ``index`` (holding index arrays), where g is added.

    A numpy array in the index is copied, as by ``getitem``: changing it later cannot move the gradient.
    """
    arrays, layout = [], []
    for part in index:
        if isinstance(part, (Tensor, np.ndarray)):
            arrays.append(part if isinstance(part, Tensor) else Tensor._constant(part.copy()))
            layout.append(ARRAY)
        else:
            layout.append(part)
    return _apply(P.UNGATHER, (g, *arrays), {"layout": tuple(layout), "shape": shape})


def _like_first_tensor(items):
    """``items`` as Tensors, constants taking the dtype of the first Tensor among them."""
    items = list(items)
    like = next((t for t in items if isinstance(t, Tensor)), None)
    return [as_tensor(t, like) for t in items]


def concatenate(tensors, axis=None, *, dim=None):
    """The tensors joined along ``axis`` (the first by default);  each input's gradient is its slice of g.

    ``cat`` is the same function, by PyTorch's name.

    >>> a, b = Tensor([[1.0, 2.0]]), Tensor([[3.0, 4.0]])
    >>> concatenate([a, b]).tolist(), cat([a, b], dim=1).tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0, 3.0, 4.0]])
    """
    axis, _ = _axis_and_keep(axis, False, dim, None, default=0)
    tensors = _like_first_tensor(tensors)
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    shapes = [t.data.shape for t in tensors]
    ndim = len(shapes[0])
    if not -builtins.max(ndim, 1) <= axis < ndim or any(
        len(s) != ndim or s[:axis % ndim] + s[axis % ndim + 1:] != shapes[0][:axis % ndim] + shapes[0][axis % ndim + 1:]
        for s in shapes
    ):
        raise ValueError(f"cannot concatenate shapes {', '.join(map(str, shapes))} along axis {axis}")
    axis %= ndim
    bounds = tuple(np.cumsum([0] + [s[axis] for s in shapes]).tolist())
    return _apply(P.CONCATENATE, tuple(tensors), {"axis": axis, "bounds": bounds})


cat = concatenate


def stack(tensors, axis=None, *, dim=None):
    """The tensors (all of one shape) joined along a new ``axis`` (the first by default).

    >>> a, b = Tensor([1.0, 2.0]), Tensor([3.0, 4.0])
    >>> stack([a, b]).tolist(), stack([a, b], dim=1).tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 3.0], [2.0, 4.0]])
    """
    axis, _ = _axis_and_keep(axis, False, dim, None, default=0)
    tensors = _like_first_tensor(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = list(dict.fromkeys(t.shape for t in tensors))
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {', '.join(map(str, shapes))}")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for stacking {ndim - 1}-dimensional tensors")
    axis %= ndim
    shape = tensors[0].shape
    expanded = shape[:axis] + (1,) + shape[axis:]
    return concatenate([reshape(t, expanded) for t in tensors], axis=axis)


def _condition(condition):
    """``condition`` as a boolean Tensor: a boolean Tensor itself (its version is then checked), else a copy."""
    if isinstance(condition, Tensor):
        return condition if condition.data.dtype == np.bool_ else Tensor._constant(condition.data.astype(bool))
    return Tensor._constant(np.array(condition, dtype=bool))


def where(condition, a, b):
    """a where ``condition`` holds, else b;  dL/da = g where it holds, dL/db = g elsewhere.

    >>> x = Tensor([-1.0, 2.0, -3.0])
    >>> where(x > 0, x, 0.0).tolist()
    [0.0, 2.0, 0.0]
    """
    condition = _condition(condition)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor(a)
    a, b = _operands(a, b)
    try:
        return _apply(P.WHERE, (condition, a, b))
    except ValueError:
        raise ValueError(
            f"where: condition of shape {condition.shape} and values of shapes {a.shape} and {b.shape} "
            "cannot be broadcast together"
        ) from None


def masked_fill(a, mask, value):
    """a with ``value`` where the boolean ``mask`` holds, as PyTorch's ``masked_fill``.

    ``mask`` (a bool Tensor or array) broadcasts with a; ``value`` is a
    number or a 0-d Tensor, taken in a's dtype (an integer tensor truncates
    a fractional value, as PyTorch does, and refuses an infinity or nan).
    dL/da = g where the mask does not hold, else 0; dL/dvalue = Σ g where it
    holds.

    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.masked_fill(x > 2.5, float("-inf")).tolist()
    [[1.0, 2.0], [-inf, -inf]]
    """
    chosen = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if chosen.dtype != np.bool_:
        raise TypeError(f"masked_fill takes a boolean mask, got one of dtype {chosen.dtype}: compare first (mask == 0)")
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"masked_fill takes a number or a 0-d tensor as the value, got shape {value.shape}")
        value = cast(value, a.dtype)
    else:
        value = Tensor._constant(_fill_value(value, a.data.dtype))
    try:
        return where(mask, value, a)
    except ValueError:
        raise ValueError(f"masked_fill: a mask of shape {chosen.shape} does not broadcast with shape {a.shape}") from None


def _fill_value(value, dtype):
    """``value`` as a 0-d array of ``dtype``; an infinity or nan for an integer dtype is refused, as in PyTorch."""
    if not isinstance(value, (int, float, np.number, np.bool_)):
        raise TypeError(f"masked_fill's value must be a number or a 0-d tensor, got {type(value).__name__} {value!r}")
    if dtype.kind in "iub" and not math.isfinite(value):
        raise ValueError(f"masked_fill: {value!r} cannot be stored in a tensor of dtype {dtype}")
    return np.asarray(value).astype(dtype)


def _triangle(a, keep, name):
    if a.data.ndim < 2:
        raise ValueError(f"{name} needs a tensor of at least 2 dimensions, got shape {a.shape}")
    rows, columns = a.data.shape[-2:]
    return where(keep(rows, columns), a, np.zeros((), a.data.dtype))  # zeros of a's dtype: an int stays an int


def tril(a, diagonal=0):
    """The lower triangle of the last two axes (on and below the ``diagonal``-th diagonal), zeros above;  dL/da = g in
    the triangle, 0 above.

    >>> Tensor(np.ones((2, 3))).tril().tolist()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """
    return _triangle(a, lambda n, m: np.tri(n, m, diagonal, dtype=bool), "tril")


def triu(a, diagonal=0):
    """The upper triangle of the last two axes (on and above the ``diagonal``-th diagonal), zeros below;  dL/da = g in
    the triangle, 0 below.

    >>> Tensor(np.ones((2, 3))).triu(1).tolist()
    [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
    """
    return _triangle(a, lambda n, m: ~np.tri(n, m, diagonal - 1, dtype=bool), "triu")


globals().update(P.NAMED)  # sinh, cosh, ...: the functions primitives.ElementwiseMethods offers, written there once

# Tensor's methods that hand over to the functions above share their docstrings (see tensor._documented_by)
_take_documentation(globals())
