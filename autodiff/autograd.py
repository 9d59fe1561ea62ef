"""PyTorch's ``torch.autograd`` names, for programs ported by renaming ``torch`` to ``autodiff``.

``autodiff.autograd.Function`` is ``autodiff.Function`` (see ``autodiff.function``),
``autodiff.autograd.grad`` is ``autodiff.grad``, and ``autodiff.autograd.function``
is the module, so ``torch.autograd.function.once_differentiable`` and
``torch.autograd.function.FunctionCtx`` port too.
"""

from . import function
from .function import Function, FunctionCtx, once_differentiable
from .graph import grad

__all__ = ["Function", "FunctionCtx", "once_differentiable", "grad", "function"]
