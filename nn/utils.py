"""Helpers for training loops, as ``torch.nn.utils`` has them: gradient clipping."""

import math

import numpy as np

from autodiff import Tensor

from .parameter import parameter_list, values_and_tensors


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients so that their total norm is at most ``max_norm``; returns the norm before.

    The total norm is the p-norm (p = ``norm_type``, ``math.inf`` for the
    largest magnitude) of all gradients taken as one vector, computed as
    PyTorch computes it: the norm of each parameter's gradient, then the
    norm of those norms. Every gradient is then multiplied in place by

        min(1, max_norm / (total + 1e-6)),

    so gradients already small enough keep their size (up to the 1e-6) and
    larger ones keep their direction. Tensors without a gradient are
    skipped; a Value's gradient (0.0 at rest) counts like a one-element
    Tensor's. Returns the total norm as a 0-d Tensor, in the gradients'
    dtype. With ``error_if_nonfinite``, a NaN or infinite total raises
    ``RuntimeError`` instead of scaling every gradient by NaN.

    >>> import autodiff
    >>> from autodiff import nn
    >>> w = autodiff.tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w / 2).sum().backward()                       # grad = w, of norm 5
    >>> nn.utils.clip_grad_norm_([w], max_norm=1.0).item(), w.grad.round(4)
    (5.0, array([0.6, 0.8], dtype=float32))
    """
    parameters = parameter_list(parameters)
    max_norm, norm_type = _number("max_norm", max_norm), _number("norm_type", norm_type)
    values, tensors = values_and_tensors(parameters)
    tensors = [p for p in tensors if p.grad is not None]
    gradients = [p.grad.ravel() for p in tensors]
    gradients += [np.array([v.grad], dtype=np.float64) for v in values]
    if not gradients:
        return Tensor(0.0)
    dtype = np.result_type(*gradients)
    norms = np.array([np.linalg.norm(g, ord=norm_type) for g in gradients], dtype=dtype)
    total = np.linalg.norm(norms, ord=norm_type).astype(dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"the total {norm_type}-norm of the gradients is {total}, so they cannot be clipped; "
            "error_if_nonfinite=False scales them by it anyway"
        )
    scale = np.minimum(max_norm / (total + dtype.type(1e-6)), dtype.type(1.0))
    for p in tensors:
        p.grad *= scale
    for v in values:
        v.grad = float(v.grad * scale)
    return Tensor(total)


def _number(name, x):
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(x).__name__} {x!r}")
    x = float(x)
    if math.isnan(x):
        raise ValueError(f"{name} must not be NaN")
    return x
