"""The array namespace in which first-order gradients are computed: numpy.

Every vector-Jacobian product in ``functions`` is written once, as
``vjp(xp, g, out, *inputs)``, with Python's operators, the methods that
numpy arrays and Tensors share (``reshape``, ``transpose``, ``sum``,
indexing) and the functions of a namespace ``xp``. Backward passes this
module and plain arrays: the fast path, no graph recorded. Backward with
``create_graph`` passes ``autodiff.functions``, whose functions of the same
names are recorded Tensor operations, so the gradient is itself a graph.
"""

import numpy as np

exp = np.exp
log = np.log
sin = np.sin
cos = np.cos
sign = np.sign
where = np.where
swapaxes = np.swapaxes
zeros_like = np.zeros_like


def broadcast_to(a, shape):
    """``a`` repeated along the axes where it has length 1 (or lacks) to ``shape``, as a new array.

    A new array, not numpy's read-only view: backward may add into it, and
    filling it costs less than ``np.broadcast_to``'s own checks on small arrays.
    """
    out = np.empty(shape, dtype=a.dtype)
    out[...] = a
    return out


def unindex(g, index, shape, gathers):
    """An array of ``shape``, zero except at ``index``, where it holds g (summed where integer arrays repeat an element)."""
    grad = np.zeros(shape, dtype=g.dtype)
    if gathers:
        np.add.at(grad, index, g)
    else:
        grad[index] = g
    return grad
