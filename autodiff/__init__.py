"""Reverse-mode automatic differentiation on scalars (``Value``) and numpy arrays (``Tensor``).

- ``graph``: the backward driver both node types share, ``no_grad``, ``detect_anomaly``;
- ``value``: the scalar engine, micrograd's ``Value``;
- ``tensor`` and ``functions``: the n-dimensional engine and its operations;
- ``gradcheck``: gradients checked against finite differences;
- ``memory``: freed arrays kept in the process between training steps (glibc);
- ``viz``: pictures and traces of backpropagation (``draw_dot``, ``trace_backward``).
"""

from .factories import arange, full, ones, ones_like, rand, randint, randn, tensor, zeros, zeros_like
from .functions import concatenate, stack, where
from .gradcheck import GradcheckError, gradcheck
from .graph import detect_anomaly, is_grad_enabled, no_grad
from .memory import keep_freed_memory
from .random import manual_seed
from .tensor import BackwardError, Tensor, get_default_dtype, set_default_dtype
from .value import Value
from .viz import draw_dot, trace_backward

# Without this, each training step hands its arrays back to the system and faults them in again.
keep_freed_memory()

__all__ = [
    "Value", "Tensor", "concatenate", "stack", "where",
    "no_grad", "detect_anomaly", "is_grad_enabled",
    "gradcheck", "GradcheckError", "BackwardError",
    "get_default_dtype", "set_default_dtype",
    "draw_dot", "trace_backward",
]
__all__ += ["tensor", "zeros", "ones", "full", "arange", "zeros_like", "ones_like", "randn", "rand", "randint", "manual_seed"]
