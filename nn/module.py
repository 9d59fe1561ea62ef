"""``Module``: the base of every model, how it finds its parameters, and the state it saves.

A module's attributes (and the lists and tuples in them) hold everything
it is made of, whatever their names, underscores included, as in PyTorch:

- submodules: every ``Module``, searched in turn;
- parameters, what an optimiser updates: every ``nn.Parameter`` (frozen
  ones too), every other Tensor that is a leaf requiring gradients, and
  every leaf ``Value`` (micrograd's weights). The result of an operation
  (an activation kept from ``forward``) and a Tensor that requires no
  gradient (a mask, a constant) are never parameters;
- buffers, state that is saved but never trained (BatchNorm's running
  statistics): Tensors declared with ``register_buffer``.

Each parameter and buffer has a dotted name built from the attribute
names and list positions that lead to it (``layers.0.w.1``, ``0.weight``
in a Sequential), as PyTorch names them, so state dicts move between
programs; an object reached under two names keeps the first. A parameter
whose own name is ``b`` or starts with ``bias`` is a bias; every other
parameter is a weight.
"""

import numpy as np

from autodiff import Tensor, no_grad
from autodiff.graph import Node
from autodiff.mode import grad_mode
from autodiff.tensor import numbers_of, to_arguments

from .parameter import Parameter, values_and_tensors


class StateDictError(KeyError):
    """A state dict's names do not match the module's parameters and buffers."""

    def __str__(self):
        return self.args[0]


class Module:
    """Base class: subclasses set parameters and submodules as attributes and define ``forward``.

    >>> from autodiff import nn
    >>> class Scale(nn.Module):
    ...     def __init__(self):
    ...         self.a = nn.Parameter([2.0])
    ...     def forward(self, x):
    ...         return self.a * x
    >>> Scale()(3.0).item(), Scale().num_parameters()
    (6.0, 1)
    """

    training = True
    # True for a layer built of smaller modules that ``summary`` shows as one row
    _summary_row = False

    def __call__(self, *args, **kwargs):
        recording = grad_mode.recording
        if recording is None:
            out = self.forward(*args, **kwargs)
        else:
            # a compiled program holds for this module's training flag; an export names the layer of each node
            recording.enter(self)
            try:
                out = self.forward(*args, **kwargs)
            finally:
                recording.leave()
        if _output_shapes is not None:
            _output_shapes[id(self)] = _shape_of(out)
        return out

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- finding parameters, buffers and submodules ----------------------------

    def _members(self):
        """(name, object) for each Value, Tensor and Module held directly, lists and tuples opened, each once."""
        seen = set()
        stack = list(reversed(vars(self).items()))
        while stack:
            name, value = stack.pop()
            if isinstance(value, (Node, Module)):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield name, value
            elif isinstance(value, (list, tuple)):
                stack.extend((f"{name}.{i}", item) for i, item in reversed(list(enumerate(value))))

    def _own_parameters(self):
        """(name, parameter) for each parameter held directly (not by a submodule)."""
        buffers = vars(self).get("_buffer_names", {})
        for name, value in self._members():
            if name not in buffers and _is_parameter(value):
                yield name, value

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module ("") and every submodule below it, each once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child}" if name else child, value)
                for child, value in module._members() if isinstance(value, Module)
            ]
            stack.extend(reversed(children))

    def modules(self):
        """This module and every submodule below it, each once."""
        return [module for _, module in self.named_modules()]

    def named_children(self):
        """(name, module) for each submodule held directly."""
        return [(name, value) for name, value in self._members() if isinstance(value, Module)]

    def children(self):
        """The submodules held directly."""
        return [module for _, module in self.named_children()]

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule, then on this module (as PyTorch does); returns this module."""
        # a depth-first order that visits children last-first, reversed, puts every module after its children
        order, seen, stack = [], set(), [self]
        while stack:
            module = stack.pop()
            if id(module) not in seen:
                seen.add(id(module))
                order.append(module)
                stack.extend(module.children())
        for module in reversed(order):
            fn(module)
        return self

    def named_parameters(self):
        """(dotted name, parameter) pairs, each parameter once, in a stable order.

        >>> from autodiff import nn
        >>> [(name, p.shape) for name, p in nn.Sequential(nn.Linear(3, 2)).named_parameters()]
        [('0.weight', (2, 3)), ('0.bias', (2,))]
        """
        seen = set()
        for prefix, module in self.named_modules():
            for name, value in module._own_parameters():
                if id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self):
        """Every parameter once: the weights and the biases, frozen ones included.

        >>> from autodiff import nn
        >>> [p.shape for p in nn.Linear(3, 2).parameters()]
        [(2, 3), (2,)]
        """
        return [p for _, p in self.named_parameters()]

    def weights(self):
        """The parameters that are weights, not biases.

        >>> from autodiff import nn
        >>> [w.shape for w in nn.Linear(3, 2).weights()]
        [(2, 3)]
        """
        return [p for name, p in self.named_parameters() if not _is_bias(name)]

    def biases(self):
        """The parameters that are biases."""
        return [p for name, p in self.named_parameters() if _is_bias(name)]

    def num_parameters(self):
        """The number of scalars the model learns (frozen parameters included).

        >>> from autodiff import nn
        >>> nn.Linear(3, 2).num_parameters()    # 3·2 weights + 2 biases
        8
        """
        return sum(_size_of(p) for p in self.parameters())

    def register_parameter(self, name, param):
        """Set attribute ``name`` to ``param``, an ``nn.Parameter`` or None (as PyTorch's ``register_parameter``)."""
        _check_attribute_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot register {type(param).__name__} as parameter {name!r}: an nn.Parameter or None is required"
            )
        if name in vars(self).get("_buffer_names", {}):
            raise KeyError(f"{name!r} is already a buffer of {type(self).__name__}")
        setattr(self, name, param)

    def register_buffer(self, name, tensor, persistent=True):
        """Declare attribute ``name`` as a buffer holding ``tensor`` (a Tensor, or None for none yet).

        A buffer is state the module keeps and ``state_dict()`` saves (unless
        ``persistent`` is False) but that is never a parameter: optimisers do
        not see it. Assigning a new Tensor to the attribute later keeps it a buffer.

        >>> import autodiff
        >>> from autodiff import nn
        >>> m = nn.Linear(2, 2)
        >>> m.register_buffer("steps", autodiff.zeros(1))
        >>> list(m.state_dict()), m.num_parameters()
        (['weight', 'bias', 'steps'], 6)
        """
        _check_attribute_name("buffer", name)
        _check_buffer(self, name, tensor)
        if isinstance(tensor, Parameter):
            raise TypeError(f"cannot register a Parameter as buffer {name!r}: a parameter is learned, a buffer is not")
        buffers = vars(self).setdefault("_buffer_names", {})
        if name not in buffers and name in vars(self):
            raise KeyError(f"attribute {name!r} already exists in {type(self).__name__}; it cannot become a buffer")
        buffers[name] = bool(persistent)
        setattr(self, name, tensor)

    def _own_buffers(self, persistent_only=False):
        """(name, tensor) for each buffer registered on this module that holds a Tensor."""
        for name, persistent in vars(self).get("_buffer_names", {}).items():
            tensor = getattr(self, name)
            if tensor is None or (persistent_only and not persistent):
                continue
            _check_buffer(self, name, tensor)
            yield name, tensor

    def named_buffers(self):
        """(dotted name, buffer) pairs for every buffer of this module and its submodules, each once.

        >>> from autodiff import nn
        >>> [name for name, _ in nn.Sequential(nn.BatchNorm1d(4)).named_buffers()]
        ['0.running_mean', '0.running_var', '0.num_batches_tracked']
        """
        seen = set()
        for prefix, module in self.named_modules():
            for name, tensor in module._own_buffers():
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    yield (f"{prefix}.{name}" if prefix else name), tensor

    def buffers(self):
        """Every buffer once.

        >>> from autodiff import nn
        >>> [b.shape for b in nn.BatchNorm1d(4).buffers()]
        [(4,), (4,), ()]
        """
        return [tensor for _, tensor in self.named_buffers()]

    def _named_state(self):
        """(dotted name, parameter or buffer) for what ``state_dict`` saves, in PyTorch's order:
        module by module, each one's parameters, then its persistent buffers."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, value in (*module._own_parameters(), *module._own_buffers(persistent_only=True)):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def _named_constants(self):
        """(dotted name, object) for each Tensor or Value attribute that is neither a parameter nor a buffer."""
        for prefix, module in self.named_modules():
            buffers = vars(module).get("_buffer_names", {})
            for name, value in module._members():
                if not isinstance(value, Module) and name not in buffers and not _is_parameter(value):
                    yield (f"{prefix}.{name}" if prefix else name), value

    # -- training state ----------------------------------------------------

    def zero_grad(self):
        """Reset gradients: Values to 0.0, Tensors to None.

        >>> import autodiff
        >>> from autodiff import nn
        >>> m = nn.Linear(2, 1)
        >>> m(autodiff.ones(2)).sum().backward()
        >>> m.weight.grad.tolist(), m.zero_grad(), m.weight.grad
        ([[1.0, 1.0]], None, None)
        """
        for p in self.parameters():
            p._reset_grad()

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every Tensor parameter; returns this module. Frozen ones stay parameters
        only when they are ``nn.Parameter``s, as every layer's weights are."""
        _, tensors = values_and_tensors(self.parameters())  # a Value cannot be frozen: it always takes part
        for p in tensors:
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args, dtype=None, device=None):
        """This module on ``device`` (the CPU, the only one) with its floating-point parameters and
        buffers in ``dtype``; changed in place and returned, as ``Module.to`` in PyTorch."""
        dtype = to_arguments(args, dtype, device)
        if dtype is None:
            return self
        target = np.dtype(dtype)
        _, tensors = values_and_tensors([*self.parameters(), *self.buffers()])  # a Value is always a float64
        with no_grad():
            for tensor in tensors:
                if tensor.dtype.kind == "f" and tensor.dtype != target:
                    tensor.data = tensor.data.astype(target)
                    tensor._bump_version()
        return self

    def float(self):  # noqa: A003 (PyTorch's name)
        """``to(float32)``: every floating-point parameter and buffer in float32, as PyTorch's ``Module.float()``."""
        return self.to(dtype=np.float32)

    def double(self):
        """``to(float64)``: every floating-point parameter and buffer in float64, as PyTorch's ``Module.double()``
        (what ``gradcheck`` wants)."""
        return self.to(dtype=np.float64)

    def cpu(self):
        """This module itself: the CPU is the only device, as PyTorch's ``Module.cpu()`` leaves it there."""
        return self

    def train(self, mode=True):
        """Switch this module and every submodule to training (or, with False, evaluation) behaviour.

        >>> from autodiff import nn
        >>> m = nn.Sequential(nn.Dropout(0.5))
        >>> m.train(False)[0].training, m.train()[0].training
        (False, True)
        """
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self):
        """Switch to evaluation behaviour (Dropout passes its input through, BatchNorm uses running statistics).

        >>> import autodiff
        >>> from autodiff import nn
        >>> nn.Dropout(0.5).eval()(autodiff.ones(3))
        Tensor([1., 1., 1.])
        """
        return self.train(False)

    # -- state dicts -------------------------------------------------------

    def state_dict(self):
        """Dotted name to a copy of each parameter and persistent buffer as a numpy array
        (a Value as a 0-d float64 array).

        >>> from autodiff import nn
        >>> {name: array.shape for name, array in nn.Linear(3, 2).state_dict().items()}
        {'weight': (2, 3), 'bias': (2,)}
        """
        return {name: np.array(p.data) for name, p in self._named_state()}  # a Value's number: 0-d, float64

    def load_state_dict(self, state, strict=True):
        """Copy the arrays of ``state`` into the parameters and buffers of the same names.

        Every array is checked first (names when ``strict``, shapes and
        dtypes always); on any failure nothing is changed.

        >>> from autodiff import nn
        >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
        >>> b.load_state_dict(a.state_dict())
        >>> bool((a.weight.data == b.weight.data).all())
        True
        """
        targets = dict(self._named_state())
        if strict:
            check_state_names(self, state, "state dict")
        updates = [
            (targets[name], _checked_array(name, targets[name], value))
            for name, value in state.items() if name in targets
        ]
        for target, array in updates:
            target._load_numbers(array)

    # -- description -------------------------------------------------------

    def summary(self, example_input=None):
        """A table of the layers: output shape (when ``example_input`` is given), weights and biases.

        The example input is run through the model once, without recording a graph.

        >>> import autodiff
        >>> from autodiff import nn
        >>> print(nn.Sequential(nn.Linear(3, 2), nn.ReLU()).summary(autodiff.zeros(4, 3)))
        layer  type    output shape  weights  biases
        --------------------------------------------
        0      Linear  (4, 2)              6       2
        1      ReLU    (4, 2)              0       0
        --------------------------------------------
        total                              6       2
        8 parameters (6 weights, 2 biases)
        """
        shapes = {}
        if example_input is not None:
            global _output_shapes
            _output_shapes = shapes
            try:
                with no_grad():
                    self(example_input)
            finally:
                _output_shapes = None
        rows = []
        covered = []  # modules whose row already counts everything below them
        for name, module in self.named_modules():
            if any(name.startswith(prefix + ".") for prefix in covered):
                continue
            own = list(module._own_parameters())
            is_leaf = not module.named_children()
            if is_leaf or module._summary_row:
                covered.append(name)
                counted = list(module.named_parameters())
            elif own:
                counted = own
            else:
                continue  # a container: its layers have rows of their own
            weights = sum(_size_of(p) for n, p in counted if not _is_bias(n))
            biases = sum(_size_of(p) for n, p in counted if _is_bias(n))
            shape = shapes.get(id(module), "")
            rows.append((name or "(model)", type(module).__name__, str(shape), str(weights), str(biases)))
        header = ("layer", "type", "output shape", "weights", "biases")
        total_w = sum(int(r[3]) for r in rows)
        total_b = sum(int(r[4]) for r in rows)
        footer = ("total", "", "", str(total_w), str(total_b))
        widths = [max(len(r[i]) for r in [header, *rows, footer]) for i in range(5)]

        def line(row):
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

        rule = "-" * len(line(header))
        return "\n".join(
            [line(header), rule, *map(line, rows), rule, line(footer),
             f"{total_w + total_b} parameters ({total_w} weights, {total_b} biases)"]
        )

    def _repr_html_(self):
        from autodiff.viz.html import module_html

        return module_html(self)

    def __repr__(self):
        members = self.named_children()
        if not members:
            return f"{type(self).__name__}()"
        inner = "\n".join(f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in members)
        return f"{type(self).__name__}(\n{inner}\n)"


def state_items(module):
    """(dotted name, parameter or buffer) for each entry of ``module.state_dict()``, the objects themselves."""
    return list(module._named_state())


def check_state_names(module, names, source):
    """Raise ``StateDictError`` unless ``names`` are exactly the names of ``module.state_dict()``.

    ``source`` says where the names come from ("state dict", a file's
    path). A name that is now a Tensor attribute needing no gradient (saved
    when every Tensor attribute was a parameter) is named as such.
    """
    names = list(names)
    expected = [name for name, _ in module._named_state()]
    given, known = set(names), set(expected)
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in names if name not in known]
    if not (missing or unexpected):
        return
    message = (f"{source} does not match {type(module).__name__}: "
               f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
    constants = dict(module._named_constants())
    demoted = [name for name in unexpected if name in constants]
    if demoted:
        message += (
            f"; {', '.join(map(repr, demoted))} {'is no longer a parameter' if len(demoted) == 1 else 'are no longer parameters'}: "
            "a Tensor attribute that requires no gradient (a mask, a constant, an activation kept from forward) "
            "is not saved, as it was before nn.Parameter; load_state_dict(state, strict=False) skips it, or make it "
            "an nn.Parameter (learned) or register_buffer it (saved, not learned)"
        )
    if any(part.startswith("_") for name in missing for part in name.split(".")):
        message += "; attributes whose names start with '_' hold parameters too now, and files saved before lack them"
    raise StateDictError(message)


# While ``summary`` runs its example, each module's output shape is recorded here.
_output_shapes = None


def _is_parameter(value):
    """Whether a Value, Tensor or Module held by a module is one of its parameters."""
    if isinstance(value, Parameter):
        return True
    return not isinstance(value, Module) and not value.children and value._requires_grad


def _check_buffer(module, name, tensor):
    """A buffer holds a Tensor, or None for none yet."""
    if tensor is not None and not isinstance(tensor, Tensor):
        kind = type(tensor).__name__
        raise TypeError(f"buffer {name!r} of {type(module).__name__} must hold a Tensor or None, not a {kind}")


def _check_attribute_name(kind, name):
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"a {kind} name must be a non-empty string without '.', got {name!r}")


def _is_bias(name):
    last = name.rsplit(".", 1)[-1]
    if last.isdigit():  # an element of a list of parameters: the list's name decides
        last = name.rsplit(".", 2)[-2]
    return last == "b" or last.startswith("bias")


def _size_of(parameter):
    return np.size(parameter.data)


def _shape_of(out):
    if isinstance(out, Node):
        return np.shape(out.data)  # a Value's: ()
    if isinstance(out, (list, tuple)):
        shapes = tuple(_shape_of(o) for o in out)
        return (len(out),) if shapes and all(shape == () for shape in shapes) else shapes  # numbers: a vector
    return ""


def _checked_array(name, target, value):
    """``value`` as an array that can replace ``target``'s data, or a ValueError naming what is wrong."""
    array = numbers_of(value)
    expected = np.asarray(target.data)  # a Value's number: 0-d, float64
    if array.shape != expected.shape:
        raise ValueError(f"{name!r}: expected shape {expected.shape}, got shape {array.shape}")
    if array.dtype != expected.dtype:
        raise ValueError(f"{name!r}: expected dtype {expected.dtype}, got dtype {array.dtype}")
    return array
