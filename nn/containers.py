"""Containers that hold submodules under PyTorch's names: ``ModuleList``, ``ModuleDict``, and ``Identity``.

A container keeps its modules in one dict, ``_modules``, from name to
module, and offers them to ``Module`` by name (``_members``), so a
ModuleList's parameters are named ``0.weight``, ``1.weight``, ... and a
ModuleDict's ``key.weight``, exactly as PyTorch names them: state dicts
move between the two. The dict, not attributes, holds them so that any
key (``"update"``, ``"training"``) is a key and never hides a method.

``Identity`` returns its input: the placeholder that replaces a layer
(``model.fc = nn.Identity()``) or fills a slot of a container.

>>> from autodiff import nn
>>> blocks = nn.ModuleList([nn.Linear(3, 3), nn.Identity()])
>>> blocks.append(nn.Linear(3, 1))[-1].out_features
1
>>> list(nn.ModuleDict({"blocks": blocks}).state_dict())
['blocks.0.weight', 'blocks.0.bias', 'blocks.2.weight', 'blocks.2.bias']
"""

import operator
from collections.abc import Mapping

from .module import Module


def _checked_module(container, where, module):
    if not isinstance(module, Module):
        raise TypeError(f"{container} holds Modules, {where} is {type(module).__name__}")
    return module


class _Container(Module):
    """What ModuleList and ModuleDict share: the named modules in ``_modules``, offered to ``Module`` first."""

    def _members(self):
        """(name, object) for each held module, then each attribute's (as ``Module`` finds them), each once."""
        seen = set()
        for name, value in (*self._modules.items(), *super()._members()):
            if id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def __len__(self):
        return len(self._modules)


class ModuleList(_Container):
    """A list of modules, each named by its position (``0.weight``, ``1.bias``, ...) as in PyTorch.

    Indexing (negative indices and slices too, a slice giving a new
    ModuleList), ``len``, iteration, ``append``, ``extend``, ``insert``,
    assignment and ``del`` by position; positions are renumbered after an
    insertion or deletion, as PyTorch renumbers them. It has no ``forward``:
    the module holding it decides how its members are called.
    """

    def __init__(self, modules=None):
        self._modules = {}
        if modules is not None:
            self.extend(modules)

    def _list(self):
        return list(self._modules.values())

    def _renumber(self, modules):
        self._modules = {str(position): module for position, module in enumerate(modules)}

    def _position(self, index):
        """``index`` (an int, negative from the end) as a position in range, or IndexError naming both."""
        try:
            position = operator.index(index)
        except TypeError:
            raise TypeError(f"ModuleList indices must be integers or slices, not {type(index).__name__}") from None
        if not -len(self) <= position < len(self):
            raise IndexError(f"index {position} is out of range for a ModuleList of {len(self)} modules")
        return position % len(self)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._list()[index])
        return self._modules[str(self._position(index))]

    def __setitem__(self, index, module):
        if isinstance(index, slice):
            raise TypeError("ModuleList assigns one module at a time: model.layers[i] = module")
        position = self._position(index)
        self._modules[str(position)] = _checked_module("ModuleList", f"the module for index {index}", module)

    def __delitem__(self, index):
        modules = self._list()
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[self._position(index)]
        self._renumber(modules)

    def __iter__(self):
        return iter(self._list())

    def append(self, module):
        """Add ``module`` at the end; returns this list."""
        self._modules[str(len(self))] = _checked_module("ModuleList", "the appended object", module)
        return self

    def extend(self, modules):
        """Add each of ``modules`` at the end, in order (all are checked before any is added); returns this list."""
        if not hasattr(modules, "__iter__"):
            raise TypeError(f"ModuleList.extend takes an iterable of Modules, got {type(modules).__name__}")
        new = list(modules)
        for offset, module in enumerate(new):
            _checked_module("ModuleList", f"element {offset} of the modules given", module)
        self._renumber([*self._list(), *new])
        return self

    def insert(self, index, module):
        """Put ``module`` before position ``index`` (as ``list.insert``: clamped to the ends, negative from the end)."""
        _checked_module("ModuleList", "the inserted object", module)
        modules = self._list()
        modules.insert(operator.index(index), module)
        self._renumber(modules)


class ModuleDict(_Container):
    """A dict of modules, each named by its key (``encoder.weight``) as in PyTorch; keys keep their order.

    ``[]``, ``in``, ``len``, iteration over the keys, ``keys()``,
    ``values()``, ``items()``, ``update(...)``, ``pop(key)`` and ``del``.
    A key is a non-empty string without ``.`` (the dot separates a dotted
    name's parts). It has no ``forward``.
    """

    def __init__(self, modules=None):
        self._modules = {}
        if modules is not None:
            self.update(modules)

    @staticmethod
    def _checked_key(key):
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys are strings, got {type(key).__name__} {key!r}")
        if not key or "." in key:
            raise KeyError(f"a ModuleDict key must be a non-empty string without '.', got {key!r}")
        return key

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r} (keys: {', '.join(map(repr, self._modules)) or 'none'})")
        return self._modules[key]

    def __setitem__(self, key, module):
        self._modules[self._checked_key(key)] = _checked_module("ModuleDict", f"the value for key {key!r}", module)

    def __delitem__(self, key):
        self.pop(key)

    def __contains__(self, key):
        return key in self._modules

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        """Remove ``key`` and return its module."""
        module = self[key]
        del self._modules[key]
        return module

    def update(self, modules):
        """Add or replace entries from a mapping (a dict, a ModuleDict) or an iterable of (key, module) pairs.

        Every entry is checked before any is set, so a bad one changes nothing.
        """
        if isinstance(modules, (Mapping, ModuleDict)):
            pairs = list(modules.items())
        else:
            if isinstance(modules, (str, Module)):
                raise TypeError(
                    f"ModuleDict.update takes a mapping or an iterable of (key, module) pairs, got {type(modules).__name__}"
                )
            pairs = []
            for position, pair in enumerate(modules):
                if isinstance(pair, (str, bytes)) or len(pair) != 2:
                    raise ValueError(f"ModuleDict.update: element {position} is not a (key, module) pair: {pair!r}")
                pairs.append(tuple(pair))
        for key, module in pairs:
            self._checked_key(key)
            _checked_module("ModuleDict", f"the value for key {key!r}", module)
        self._modules.update(pairs)


class Identity(Module):
    """y = x: returns its input unchanged. Arguments are accepted and ignored, as PyTorch's Identity does,
    so that it can take the place of a layer built with arguments."""

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, x):
        return x
