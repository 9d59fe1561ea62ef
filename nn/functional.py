"""Differentiable operations specific to neural-network layers, as primitives.

Each could be composed from ``autodiff`` operations, but as one node with
its own vector-Jacobian products it costs one graph node instead of
several, and its backward can use the cheapest numpy calls.
"""

import numpy as np

from autodiff import Tensor
from autodiff.tensor import as_tensor


def linear(x, weight, bias=None):
    """x @ weight.T + bias, for x of shape (..., in), weight (out, in), bias (out,).

    With g = dL/d(out) of shape (..., out):  dL/dx = g @ weight,
    dL/dweight = Σ over leading axes of gᵀ x,  dL/dbias = Σ over leading axes of g.
    """
    x = as_tensor(x, weight)
    X, W = x.data, weight.data
    if X.shape[-1:] != W.shape[1:]:
        raise ValueError(f"linear: input of shape {X.shape} does not fit a weight of shape {W.shape} (out, in)")
    out = X @ W.T

    def weight_vjp(g):
        return g.reshape(-1, g.shape[-1]).T @ X.reshape(-1, X.shape[-1])

    if bias is None:
        return Tensor._result(out, "linear", (x, weight), (lambda g: g @ W, weight_vjp))
    out += bias.data
    return Tensor._result(
        out, "linear", (x, weight, bias),
        (lambda g: g @ W, weight_vjp, lambda g: g.reshape(-1, g.shape[-1]).sum(axis=0)),
    )
