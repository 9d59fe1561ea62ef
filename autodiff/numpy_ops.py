"""The namespace ``xp`` for numpy arrays: the tensor engine's forward passes and first-order gradients.

Every primitive (``autodiff.primitives``) is written once, with Python's
operators, the methods numpy arrays and Tensors share (``reshape``,
``transpose``, ``sum``, indexing) and the functions of a namespace ``xp``.
The tensor engine passes this module and plain arrays: the fast path, no
graph recorded. Backward with ``create_graph`` passes ``autodiff.functions``,
whose functions of the same names are recorded Tensor operations, so the
gradient is itself a graph; the scalar engine passes ``operators``.
"""

import numpy as np

exp = np.exp
log = np.log
sqrt = np.sqrt
tanh = np.tanh
sin = np.sin
cos = np.cos
abs = np.abs  # noqa: A001
maximum = np.maximum
where = np.where
equal = np.equal
not_equal = np.not_equal
logical_and = np.logical_and
logical_or = np.logical_or
logical_xor = np.logical_xor
logical_not = np.logical_not
argmax = np.argmax
argmin = np.argmin
isnan = np.isnan
isfinite = np.isfinite
clip = np.clip
add = np.add
max = np.max  # noqa: A001
min = np.min  # noqa: A001
concatenate = np.concatenate
vdot = np.vdot
swapaxes = np.swapaxes
zeros_like = np.zeros_like


def power(a, b):
    """a ** b. A number exponent goes through the operator, which computes a ** 2 as a square and a ** 0.5
    as a square root, as PyTorch's pow with a number does; an array exponent through ``np.power``, element
    by element, as PyTorch's pow of two tensors (the operator would take a 0-d exponent 0.5 as a square root,
    whose value at -inf is nan, not pow's inf)."""
    if isinstance(b, (int, float)):
        return a ** b
    out = np.power(a, b)
    if np.isnan(out).any():
        # numpy's float64 loop takes an exponent 0.5 shared by every element (0-d, or broadcast) as a square root
        out = np.where(np.isneginf(a) & (b == 0.5), np.inf, out)
    return out


def sign(x):
    """-1, 0 or 1 by the sign of x, and 0 for NaN, as PyTorch's sign (numpy's keeps NaN)."""
    signs = np.asarray(np.sign(x))
    signs[np.isnan(signs)] = 0
    return signs


def sigmoid(x):
    """1 / (1 + e**-x). For very negative x, e**-x overflows to inf and the quotient is 0, the right limit."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def softmax(a, axis):
    """e**a / Σ e**a along ``axis``, shifted by the maximum so that it never overflows."""
    exps = np.exp(a - a.max(axis=axis, keepdims=True))
    return exps / exps.sum(axis=axis, keepdims=True)


def broadcast_to(a, shape):
    """``a`` repeated along the axes where it has length 1 (or lacks) to ``shape``, as a new array.

    A new array, not numpy's read-only view: backward may add into it, and
    filling it costs less than ``np.broadcast_to``'s own checks on small arrays.
    """
    out = np.empty(shape, dtype=a.dtype)
    out[...] = a
    return out


def unindex(g, index, shape):
    """An array of ``shape``, zero except at ``index``, where it holds g."""
    grad = np.zeros(shape, dtype=g.dtype)
    grad[index] = g
    return grad


def ungather(g, index, shape):
    """An array of ``shape``, zero except at ``index``, where g is added (twice where the index repeats an element)."""
    grad = np.zeros(shape, dtype=g.dtype)
    np.add.at(grad, index, g)
    return grad


def __getattr__(name):
    """Any other ufunc of numpy's (``sinh``, ``arctan2``), as numpy has it: a new primitive's forward and
    rules may call it as ``xp.sinh`` without a line here."""
    ufunc = getattr(np, name, None)
    if not isinstance(ufunc, np.ufunc):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return ufunc
