"""The functions ``autodiff`` exports under PyTorch's names (``autodiff.exp(x)``), for Tensors and for Values.

``functions`` holds the operations on Tensors. These are the same
functions with their first argument checked: a Tensor goes to the
function in ``functions``; a Value goes to its own method of the same name
where it has one (``autodiff.abs(Value(-2.0))`` is ``Value(-2.0).abs()``);
anything else is refused with a ``TypeError`` that names the function and
what it got, instead of an error from deep inside the operation.
"""

import functools

from . import functions as F
from .tensor import Tensor
from .value import Value

# the elementwise functions a Value has as methods of its own, without arguments
VALUE_METHODS = ("abs", "exp", "log", "tanh", "relu", "sigmoid", "sin", "cos")


def _for_tensors_and_values(function):
    name = function.__name__
    value_method = name if name in VALUE_METHODS else None

    @functools.wraps(function)
    def checked(input, *args, **kwargs):
        if isinstance(input, Tensor):
            return function(input, *args, **kwargs)
        if isinstance(input, Value):
            if value_method is None:
                raise TypeError(
                    f"autodiff.{name} takes a Tensor, got a Value; a Value's own operations are "
                    f"+ - * / ** and {', '.join(VALUE_METHODS)}"
                )
            if args or kwargs:
                raise TypeError(f"autodiff.{name} of a Value takes no other arguments")
            return getattr(input, value_method)()
        raise TypeError(
            f"autodiff.{name} takes a Tensor{' or a Value' if value_method else ''}, got "
            f"{type(input).__name__}: make one with autodiff.tensor(...)"
        )

    return checked


abs = _for_tensors_and_values(F.abs)
exp = _for_tensors_and_values(F.exp)
log = _for_tensors_and_values(F.log)
sqrt = _for_tensors_and_values(F.sqrt)
tanh = _for_tensors_and_values(F.tanh)
relu = _for_tensors_and_values(F.relu)
sigmoid = _for_tensors_and_values(F.sigmoid)
sin = _for_tensors_and_values(F.sin)
cos = _for_tensors_and_values(F.cos)
sum = _for_tensors_and_values(F.sum)
mean = _for_tensors_and_values(F.mean)
var = _for_tensors_and_values(F.var)
std = _for_tensors_and_values(F.std)
softmax = _for_tensors_and_values(F.softmax)
log_softmax = _for_tensors_and_values(F.log_softmax)
flatten = _for_tensors_and_values(F.flatten)
clone = _for_tensors_and_values(F.clone)
split = _for_tensors_and_values(F.split)
matmul = _for_tensors_and_values(F.matmul)
masked_fill = _for_tensors_and_values(F.masked_fill)
tril = _for_tensors_and_values(F.tril)
triu = _for_tensors_and_values(F.triu)
