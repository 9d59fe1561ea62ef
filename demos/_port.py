"""A ported program run under PyTorch's names: the program it was renamed from, for lessons that compare.

A port of a PyTorch program changes only names: ``torch`` → ``autodiff``,
``torch.nn`` → ``nn``, ``torch.nn.functional as F`` → ``nn.functional as
F``, ``torch.optim`` → ``nn.optim``. ``in_pytorch`` takes the port's own
functions and classes and binds those names back: each function keeps its
code and reads its global names from a namespace where ``autodiff`` is
``torch``, ``nn`` is ``torch.nn`` and so on; each class becomes a subclass
of ``torch.nn.Module`` with the same methods. What runs is the PyTorch
program, character for character, that the port was renamed from.
"""

import types


def torch_names(torch):
    """The renaming, backwards: each name a port uses, bound to the PyTorch module it renames."""
    return {"autodiff": torch, "nn": torch.nn, "F": torch.nn.functional, "optim": torch.optim}


def in_pytorch(torch, namespace, program, **names):
    """The functions and classes of ``program`` with their names bound to PyTorch's, as a namespace.

    ``namespace`` is the port's module globals (its ``globals()``);
    ``names`` binds further names (what the port imported under another
    name than PyTorch's). The parts of ``program`` find each other, so a
    function calling another of them calls its PyTorch twin, and a
    ``super()`` or ``super(Net, self)`` in a method finds the new class.
    """
    scope = {**namespace, **torch_names(torch), **names}
    twins = {}
    for part in program:
        if isinstance(part, type):
            twins[part.__name__] = _module_class(torch, part, scope)
        else:
            twins[part.__name__] = _rebound(part, scope)
    scope.update(twins)
    return types.SimpleNamespace(**twins)


def _module_class(torch, cls, scope):
    """A ``torch.nn.Module`` subclass with the methods of ``cls``, each rebound to ``scope``."""
    # Python gives every method that names super a cell holding its class (``__class__``): the
    # new methods get a cell of their own, filled with the new class once it exists
    class_cell = types.CellType()
    methods = {
        name: _rebound(function, scope, class_cell)
        for name, function in vars(cls).items() if isinstance(function, types.FunctionType)
    }
    twin = type(cls.__name__, (torch.nn.Module,), methods)
    class_cell.cell_contents = twin
    return twin


def _rebound(function, scope, class_cell=None):
    """``function``'s code with ``scope`` for its global names (and ``class_cell`` for ``__class__``)."""
    if hasattr(function, "__wrapped__"):
        # a decorator's wrapper: rebinding it would leave the decorated code on this project's names
        raise TypeError(f"{function.__qualname__} is decorated; write the decorator as a with block to port it")
    closure = function.__closure__
    if closure is not None:
        closure = tuple(
            class_cell if name == "__class__" and class_cell is not None else cell
            for name, cell in zip(function.__code__.co_freevars, closure)
        )
    return types.FunctionType(function.__code__, scope, function.__name__, function.__defaults__, closure)
