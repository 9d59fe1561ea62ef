"""Checking gradients against central finite differences.

For an input element x and a small step h,

    df/dx ≈ (f(x + h) - f(x - h)) / (2h)

with an error of order h² (the first-order terms of the Taylor expansions
cancel). ``gradcheck`` compares this estimate with what backward computes.
"""

import numpy as np

from .mode import no_grad
from .tensor import Tensor
from .value import Value


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate.

    At a kink the two differ: relu's slope at 0 is taken as 0, while the
    central difference averages the slopes on either side.

    >>> try:
    ...     gradcheck(lambda x: x.relu(), [Value(0.0)])
    ... except GradcheckError as error:
    ...     print(error)
    gradient of input 0 at its value: backward gives 0.0, finite differences give 0.5
    """


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=1000, seed=0):
    """Compare the gradients backward computes for ``fn(*inputs)`` with central differences.

    ``inputs`` is a tuple or list of Values and Tensors (Tensors in float64,
    as float32 has too few digits for differences of size ``eps``); ``fn``
    returns a Value or a one-element Tensor. An element passes when
    |analytic - numerical| <= atol + rtol * |numerical|. Tensors with more
    than ``max_elements`` elements are checked at that many elements drawn
    at random (``seed``).

    Returns True, or raises ``GradcheckError`` naming the input, the element
    and both numbers. The inputs' gradients are left as they were.

    >>> x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    >>> gradcheck(lambda x: (x * x.exp()).sum(), [x])
    True
    """
    inputs = tuple(inputs)
    for position, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.data.dtype != np.float64:
                raise TypeError(
                    f"gradcheck needs float64 tensors, input {position} is {x.data.dtype}"
                )
            if not x.requires_grad:
                raise ValueError(f"gradcheck input {position} does not require gradients")
        elif not isinstance(x, Value):
            raise TypeError(f"gradcheck inputs are Values or Tensors, input {position} is {type(x).__name__}")

    analytic = _analytic_gradients(fn, inputs)
    rng = np.random.default_rng(seed)
    for position, (x, grad) in enumerate(zip(inputs, analytic)):
        for element in _elements_to_check(x, max_elements, rng):
            numerical = _central_difference(fn, inputs, x, element, eps)
            found = grad[element] if isinstance(x, Tensor) else grad
            if not abs(found - numerical) <= atol + rtol * abs(numerical):
                where = f"element {element}" if isinstance(x, Tensor) else "its value"
                name = f" ({x.label!r})" if x.label else ""
                raise GradcheckError(
                    f"gradient of input {position}{name} at {where}: "
                    f"backward gives {float(found)!r}, finite differences give {float(numerical)!r}"
                )
    return True


def _scalar_output(fn, inputs):
    out = fn(*inputs)
    if isinstance(out, Tensor):
        if out.data.size != 1:
            raise ValueError(f"gradcheck needs fn to return one element, it returned shape {out.shape}")
        return out, float(out.data.reshape(()))
    if isinstance(out, Value):
        return out, out.data
    raise TypeError(f"gradcheck needs fn to return a Value or a Tensor, it returned {type(out).__name__}")


def _analytic_gradients(fn, inputs):
    saved = [x.grad for x in inputs]
    try:
        for x in inputs:
            x.grad = 0.0 if isinstance(x, Value) else None
        out, _ = _scalar_output(fn, inputs)
        out.backward()
        return [
            x.grad if isinstance(x, Value)
            else (np.zeros_like(x.data) if x.grad is None else np.array(x.grad))
            for x in inputs
        ]
    finally:
        for x, grad in zip(inputs, saved):
            x.grad = grad


def _elements_to_check(x, max_elements, rng):
    if isinstance(x, Value):
        return [()]
    if x.data.size <= max_elements:
        return list(np.ndindex(x.data.shape))
    flat = rng.choice(x.data.size, size=max_elements, replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, x.data.shape)) for k in sorted(flat)]


def _central_difference(fn, inputs, x, element, eps):
    with no_grad():
        if isinstance(x, Value):
            original = x.data
            try:
                x.data = original + eps
                _, plus = _scalar_output(fn, inputs)
                x.data = original - eps
                _, minus = _scalar_output(fn, inputs)
            finally:
                x.data = original
        else:
            original = x.data[element]
            try:
                x.data[element] = original + eps
                _, plus = _scalar_output(fn, inputs)
                x.data[element] = original - eps
                _, minus = _scalar_output(fn, inputs)
            finally:
                x.data[element] = original
    return (plus - minus) / (2 * eps)
