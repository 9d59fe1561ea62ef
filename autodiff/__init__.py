"""Reverse-mode automatic differentiation on scalars (``Value``) and numpy arrays (``Tensor``).

- ``graph``: the node protocol ``Value`` and ``Tensor`` share, the one backward driver, ``grad``;
- ``mode``: grad mode per thread (``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``detect_anomaly``);
- ``primitive`` and ``primitives``: what an operation is (``Primitive``), and the table of them, each
  defined once for both engines;
- ``function``: your own operations with PyTorch's protocol (``Function``; also ``autograd.Function``,
  as ``torch.autograd.Function``);
- ``value``: the scalar engine, micrograd's ``Value``;
- ``tensor`` and ``functions``: the n-dimensional engine and its operations;
- ``forward``: forward mode (``jvp``) and second derivatives (``hvp``, ``hessian``);
- ``gradcheck``: gradients (and, ``gradgradcheck``, second derivatives) checked against finite differences;
- ``memory``: freed arrays kept in the process between training steps (glibc);
- ``cuda`` and ``accelerator``: PyTorch's device questions, answered for the CPU (the only device);
- ``viz``: pictures and traces of backpropagation (``draw_dot``, ``trace_backward``).

``autodiff.nn`` is the package ``nn`` (``from autodiff import nn``, as ``from torch import nn``).
"""

__version__ = "0.2.0"

import numpy as _numpy

from . import accelerator, cuda, primitives
from .compiler import Compiled, compile
from . import autograd
from .factories import (
    arange, from_numpy, full, get_default_device, linspace, multinomial, ones, ones_like, rand, randint, randn, randperm,
    set_default_device, tensor, zeros, zeros_like,
)
from .function import Function, FunctionCtx, once_differentiable
from .functions import (
    abs, cat, clone, concatenate, cos, exp, flatten, log, log_softmax, masked_fill, matmul, mean, relu, sigmoid, sin,
    softmax, split, sqrt, stack, std, sum, tanh, tril, triu, var, where,
)
from .forward import hessian, hvp, jvp
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import BackwardError, grad
from .memory import keep_freed_memory
from .mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .primitive import Primitive
from .recording import CompileError
from .random import Generator, manual_seed
from .tensor import Device as device
from .tensor import Tensor, get_default_dtype, set_default_dtype
from .value import Value
from .viz import draw_dot, trace_backward
from .viz.explore import explore

# PyTorch's dtype names, as the numpy dtypes they stand for (torch.float is float32, torch.long int64)
float32 = float = _numpy.float32
float64 = double = _numpy.float64
int32 = int = _numpy.int32
int64 = long = _numpy.int64
bool = _numpy.bool_

# what ``from autodiff import *`` brings: not the names of Python's builtins (abs, sum, float, int, bool),
# which stay reachable as autodiff.sum and the like
__all__ = [
    "Value", "Tensor", "grad", "jvp", "hvp", "hessian", "Function", "FunctionCtx", "once_differentiable", "Primitive",
    "compile", "Compiled", "CompileError",
    "no_grad", "enable_grad", "set_grad_enabled", "detect_anomaly", "is_grad_enabled",
    "gradcheck", "gradgradcheck", "GradcheckError", "BackwardError", "keep_freed_memory",
    "get_default_dtype", "set_default_dtype", "draw_dot", "trace_backward", "explore",
    "tensor", "from_numpy", "zeros", "ones", "full", "arange", "linspace", "zeros_like", "ones_like",
    "randn", "rand", "randint", "randperm", "multinomial", "manual_seed", "Generator", "device",
    "set_default_device", "get_default_device", "cuda", "accelerator",
    "concatenate", "cat", "stack", "where", "flatten", "split", "clone", "matmul",
    "exp", "log", "sqrt", "tanh", "relu", "sigmoid", "sin", "cos", "softmax", "log_softmax", "mean", "var", "std",
    "masked_fill", "tril", "triu",
    "float32", "float64", "double", "int32", "int64", "long",
    *primitives.NAMED,  # sinh, cosh, ...
]
globals().update(primitives.NAMED)  # the functions primitives.ElementwiseMethods offers, each written there once


def __getattr__(name):
    # ``nn`` imports autodiff, so it can only be reached once autodiff is whole: on first use (see autodiff/nn.py)
    if name == "nn":
        import importlib

        return importlib.import_module(f"{__name__}.nn")
    raise AttributeError(f"module 'autodiff' has no attribute {name!r}")
