"""``Parameter``: a Tensor that a module declares as something it learns.

A module's parameters are what an optimiser updates and what
``state_dict()`` saves. Declaring a weight as a ``Parameter`` says so
explicitly, whatever its name and whether or not it is frozen
(``requires_grad=False``): a frozen weight is still part of the model and
its saved state. Any other Tensor attribute counts only while it is a
leaf that requires gradients, so a mask, a constant or an activation kept
from ``forward`` (the result of an operation) is never mistaken for one.
"""

from autodiff import Tensor, Value
from autodiff.graph import Node


class Parameter(Tensor):
    """``Parameter(data, requires_grad=True)``: a leaf Tensor that a module learns (``data`` is copied).

    It is a Tensor in every way (operations on it give plain Tensors, as in
    PyTorch); only ``Module`` treats it differently, as a parameter even
    while frozen.

    >>> from autodiff import nn
    >>> w = nn.Parameter([[1.0, 2.0]])
    >>> w.requires_grad, type(w * 2).__name__
    (True, 'Tensor')
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def values_and_tensors(parameters):
    """The Values among ``parameters``, and the rest (Tensors), each in the order given.

    ``nn`` handles a model's Values together, as one float64 vector (an
    optimiser's step, clipping, norms): a Value is one number, and a Python
    call per number would cost more than the arithmetic. Tensors are
    handled one by one, each its own array; only they have a dtype to
    change, or can be frozen.
    """
    values, tensors = [], []
    for p in parameters:
        (values if isinstance(p, Value) else tensors).append(p)
    return values, tensors


def parameter_list(parameters, as_list=list):
    """``parameters`` (one Value or Tensor, or an iterable of them) as a list, each checked to be one.

    ``as_list`` makes the list of an iterable (an optimiser's refuses a set, whose order is not fixed).
    """
    if isinstance(parameters, Node):
        return [parameters]
    parameters = as_list(parameters)
    for i, p in enumerate(parameters):
        if not isinstance(p, Node):
            raise TypeError(f"parameter {i} is a {type(p).__name__}, not a Tensor or a Value")
    return parameters
