"""Checking gradients against central finite differences.

For an input element x and a small step h,

    df/dx ≈ (f(x + h) - f(x - h)) / (2h)

with an error of order h² (the first-order terms of the Taylor expansions
cancel). ``gradcheck`` compares this estimate with what backward computes.

``fn`` is evaluated with gradients recorded, the finite differences
included, so ``fn`` may itself compute a gradient (``autodiff.grad`` with
``create_graph=True``, a gradient penalty): then ``gradcheck`` checks the
derivatives of that gradient. ``gradgradcheck`` does so for the second
derivatives of any ``fn``.
"""

import contextlib

import numpy as np

from .forward import _inner_product
from .graph import node_or_refuse, run_backward
from .mode import enable_grad
from .tensor import Tensor, numbers_of
from .value import Value


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate.

    Besides its message, it carries what it names: ``input`` (the
    position of the input in ``inputs``), ``element`` (the index in a
    Tensor, None for a Value), ``analytic`` (what backward gives) and
    ``numerical`` (what finite differences give).

    At a kink the two differ: relu's slope at 0 is taken as 0, while the
    central difference averages the slopes on either side.

    >>> try:
    ...     gradcheck(lambda x: x.relu(), [Value(0.0)])
    ... except GradcheckError as error:
    ...     print(error)
    gradient of input 0 at its value: backward gives 0.0, finite differences give 0.5
    """

    def __init__(self, message, *, input=None, element=None, analytic=None, numerical=None):  # noqa: A002
        super().__init__(message)
        self.input = input
        self.element = element
        self.analytic = analytic
        self.numerical = numerical


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=1000, seed=0):
    """Compare the gradients backward computes for ``fn(*inputs)`` with central differences.

    ``inputs`` is a Value or a Tensor, or a tuple or list of them (Tensors in float64,
    as float32 has too few digits for differences of size ``eps``); ``fn``
    returns a Value or a one-element Tensor. An element passes when
    |analytic - numerical| <= atol + rtol * |numerical|. Tensors with more
    than ``max_elements`` elements are checked at that many elements drawn
    at random (``seed``).

    ``fn`` always runs with gradients recorded (the finite differences
    too), and each run starts with the inputs' ``.grad`` cleared, so ``fn``
    may compute a gradient itself, with ``autodiff.grad(...,
    create_graph=True)`` or ``backward(create_graph=True)``.

    Returns True, or raises ``GradcheckError`` naming the input, the element
    and both numbers. The inputs' gradients and data are left as they were.

    >>> x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    >>> gradcheck(lambda x: (x * x.exp()).sum(), [x])
    True
    """
    return _check(fn, _checked_inputs(inputs), eps, atol, rtol, max_elements, seed, "gradient")


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=1000, seed=0):
    """Compare the second derivatives backward computes for ``fn(*inputs)`` with finite differences of its gradient.

    As ``torch.autograd.gradgradcheck``: the gradient ∇f of f = ``fn``,
    computed with ``create_graph=True``, is itself a function of the
    inputs. Weighted by a fixed random vector v (one number per element
    of every input, drawn from ``seed``), h(x) = ∇f(x)·v is a scalar whose
    gradient is H·v, where H is the Hessian of f in all the inputs together
    (mixed derivatives ∂²f/∂xᵢ∂yⱼ included). ``gradcheck`` of h compares
    backward through the gradient's graph (each operation's rule,
    differentiated) with central differences of ∇f·v. A wrong entry of H in
    row i shows in element i of H·v (v would have to be 0 just there to
    hide it).

    Use it on an operation of your own: a ``Primitive`` gets second
    derivatives from its rules, a ``Function`` from its ``backward``, and
    this checks them. ``fn``, ``inputs`` and the other arguments are as for
    ``gradcheck``; a failure raises ``GradcheckError`` naming the input,
    the element of H·v, and both numbers.

    >>> x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    >>> gradgradcheck(lambda x: (x * x.exp()).sum(), [x])
    True
    """
    inputs = _checked_inputs(inputs)
    rng = np.random.default_rng(seed)
    # [()] makes a 0-d draw (a Value's) a number, and leaves any other draw the array it is
    directions = [x._as_tangent(rng.standard_normal(np.shape(x.data))[()], f"gradgradcheck: input {position}")
                  for position, x in enumerate(inputs)]

    def gradient_along_directions(*xs):
        out = _scalar_output(fn, xs)
        pairs = [(gradient, v) for gradient, v in zip(_gradients(out, xs, create_graph=True), directions)
                 if gradient is not None]
        if not pairs:  # f depends on no input: its gradient, and every second derivative, is 0
            return xs[0]._new_leaf(0.0)
        return _inner_product(pairs)

    what = "second derivatives (Hessian times a random vector)"
    return _check(gradient_along_directions, inputs, eps, atol, rtol, max_elements, seed, what)


def _checked_inputs(inputs):
    # anything but a list or tuple is one input, as PyTorch's gradcheck takes it (a Tensor is not its rows)
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    if not inputs:
        raise ValueError("gradcheck needs at least one input")
    for position, x in enumerate(inputs):
        node_or_refuse(x, f"gradcheck inputs are Values or Tensors, input {position} is {type(x).__name__}")
        dtype = numbers_of(x).dtype  # a Value's number is a float64
        if dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 tensors, input {position} is {dtype}")
        if not x._requires_grad:
            raise ValueError(f"gradcheck input {position} does not require gradients")
    return inputs


def _check(fn, inputs, eps, atol, rtol, max_elements, seed, what):
    # gradients must be recorded even if the caller runs under no_grad: backward, and any fn that
    # computes a gradient itself, need the graph
    with enable_grad(), _grads_kept(inputs):
        out = _scalar_output(fn, inputs)
        analytic = [
            np.array(np.zeros_like(x.data) if grad is None else grad)  # a Value's as a 0-d array
            for x, grad in zip(inputs, _gradients(out, inputs, create_graph=False))
        ]
        del out
        rng = np.random.default_rng(seed)
        for position, (x, grad) in enumerate(zip(inputs, analytic)):
            one_number = x._data_kind == "number"  # no elements: its data is changed, and named, as a whole
            for element in _elements_to_check(x, max_elements, rng):
                numerical = _central_difference(fn, inputs, x, None if one_number else element, eps)
                found = float(grad[element])
                if not abs(found - numerical) <= atol + rtol * abs(numerical):
                    where = "its value" if one_number else f"element {element}"
                    name = f" ({x.label!r})" if x.label else ""
                    raise GradcheckError(
                        f"{what} of input {position}{name} at {where}: "
                        f"backward gives {found!r}, finite differences give {numerical!r}",
                        input=position, element=None if one_number else element,
                        analytic=found, numerical=numerical,
                    )
    return True


@contextlib.contextmanager
def _grads_kept(inputs):
    """Give each input back the ``.grad`` it held on entry, however ``fn`` changed it."""
    saved = [x.grad for x in inputs]
    try:
        yield
    finally:
        for x, grad in zip(inputs, saved):
            x.grad = grad


def _scalar_output(fn, inputs):
    """``fn(*inputs)``, each input's ``.grad`` cleared first, checked to be one number."""
    for x in inputs:
        x._reset_grad()
    out = fn(*inputs)
    node_or_refuse(out, f"gradcheck needs fn to return a Value or a Tensor, it returned {type(out).__name__}")
    if np.size(out.data) != 1:
        raise ValueError(f"gradcheck needs fn to return one element, it returned shape {out.shape}")
    return out


def _gradients(out, inputs, create_graph):
    """d(out)/d(x) for each of ``inputs``, None where ``out`` does not depend on it; no ``.grad`` changes."""
    if not out._requires_grad:
        return [None] * len(inputs)  # computed from no input that requires gradients: a constant
    totals = run_backward(out, out._backward_seed(None, create_graph), create_graph=create_graph, store=False)
    return [totals.get(x) for x in inputs]


def _elements_to_check(x, max_elements, rng):
    shape, size = np.shape(x.data), np.size(x.data)  # a Value: one element, at ()
    if size <= max_elements:
        return list(np.ndindex(shape))
    flat = rng.choice(size, size=max_elements, replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in sorted(flat)]


def _value_at(fn, inputs):
    return float(np.reshape(_scalar_output(fn, inputs).data, ()))


def _central_difference(fn, inputs, x, element, eps):
    """(f(x + eps) - f(x - eps)) / (2 eps) at ``element`` of ``x`` (None for a Value), changed in place and put back."""
    if element is None:
        original = x.data
        try:
            x.data = original + eps
            plus = _value_at(fn, inputs)
            x.data = original - eps
            minus = _value_at(fn, inputs)
        finally:
            x.data = original
    else:
        original = x.data[element]
        try:
            x.data[element] = original + eps
            plus = _value_at(fn, inputs)
            x.data[element] = original - eps
            minus = _value_at(fn, inputs)
        finally:
            x.data[element] = original
    return (plus - minus) / (2 * eps)
