"""``Module``: the base of every model, and how it finds its parameters.

A parameter is a number the model learns: every ``Value`` and every
``Tensor`` that a module holds in an attribute, directly or inside a list
or tuple. Modules held the same way are submodules, searched in turn.
Attributes whose names start with an underscore are private and not
searched, so a module can keep scratch values there.

Each parameter has a dotted name built from the attribute names and list
positions that lead to it (``layers.0.w.1``, ``0.weight`` in a Sequential),
as PyTorch names them, so state dicts move between programs. A parameter
whose own name is ``b`` or starts with ``bias`` is a bias; every other
parameter is a weight.
"""

import numpy as np

from autodiff import Tensor, Value, no_grad


class StateDictError(KeyError):
    """A state dict's names do not match the module's parameters."""

    def __str__(self):
        return self.args[0]


class Module:
    """Base class: subclasses set parameters and submodules as attributes and define ``forward``."""

    training = True
    # True for a layer built of smaller modules that ``summary`` shows as one row
    _summary_row = False

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        if _output_shapes is not None:
            _output_shapes[id(self)] = _shape_of(out)
        return out

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- finding parameters and submodules -----------------------------------

    def _members(self):
        """(name, object) for each parameter and submodule held directly, lists and tuples opened."""
        stack = [(name, value) for name, value in reversed(vars(self).items()) if not name.startswith("_")]
        while stack:
            name, value = stack.pop()
            if isinstance(value, (Value, Tensor, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                stack.extend((f"{name}.{i}", item) for i, item in reversed(list(enumerate(value))))

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

    def named_parameters(self):
        """(dotted name, parameter) pairs, each parameter once, in a stable order."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, value in module._members():
                if isinstance(value, Module) or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self):
        """Every parameter once: the weights and the biases."""
        return [p for _, p in self.named_parameters()]

    def weights(self):
        """The parameters that are weights, not biases."""
        return [p for name, p in self.named_parameters() if not _is_bias(name)]

    def biases(self):
        """The parameters that are biases."""
        return [p for name, p in self.named_parameters() if _is_bias(name)]

    def num_parameters(self):
        """The number of scalars the model learns."""
        return sum(_size_of(p) for p in self.parameters())

    # -- training state ----------------------------------------------------

    def zero_grad(self):
        """Reset gradients: Values to 0.0, Tensors to None."""
        for p in self.parameters():
            p.grad = 0.0 if isinstance(p, Value) else None

    def train(self, mode=True):
        """Switch this module and every submodule to training (or, with False, evaluation) behaviour."""
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self):
        """Switch to evaluation behaviour (Dropout passes its input through)."""
        return self.train(False)

    # -- state dicts -------------------------------------------------------

    def state_dict(self):
        """Dotted name to a copy of each parameter as a numpy array (a Value as a 0-d float64 array)."""
        return {
            name: np.array(p.data, dtype=np.float64) if isinstance(p, Value) else p.data.copy()
            for name, p in self.named_parameters()
        }

    def load_state_dict(self, state, strict=True):
        """Copy the arrays of ``state`` into the parameters of the same names.

        Every array is checked first (names when ``strict``, shapes and
        dtypes always); on any failure nothing is changed.
        """
        parameters = dict(self.named_parameters())
        if strict:
            missing = [name for name in parameters if name not in state]
            unexpected = [name for name in state if name not in parameters]
            if missing or unexpected:
                raise StateDictError(
                    f"state dict does not match {type(self).__name__}: "
                    f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}"
                )
        updates = [
            (parameters[name], _checked_array(name, parameters[name], value))
            for name, value in state.items() if name in parameters
        ]
        for parameter, array in updates:
            if isinstance(parameter, Value):
                parameter.data = float(array)
            else:
                np.copyto(parameter.data, array)

    # -- description -------------------------------------------------------

    def summary(self, example_input=None):
        """A table of the layers: output shape (when ``example_input`` is given), weights and biases.

        The example input is run through the model once, without recording a graph.
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
            members = list(module._members())
            own = [(n, p) for n, p in members if not isinstance(p, Module)]
            is_leaf = len(own) == len(members)
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

    def __repr__(self):
        members = [(n, m) for n, m in self._members() if isinstance(m, Module)]
        if not members:
            return f"{type(self).__name__}()"
        inner = "\n".join(f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in members)
        return f"{type(self).__name__}(\n{inner}\n)"


# While ``summary`` runs its example, each module's output shape is recorded here.
_output_shapes = None


def _is_bias(name):
    last = name.rsplit(".", 1)[-1]
    if last.isdigit():  # an element of a list of parameters: the list's name decides
        last = name.rsplit(".", 2)[-2]
    return last == "b" or last.startswith("bias")


def _size_of(parameter):
    return 1 if isinstance(parameter, Value) else parameter.data.size


def _shape_of(out):
    if isinstance(out, Tensor):
        return tuple(out.shape)
    if isinstance(out, (list, tuple)):
        if all(isinstance(o, Value) for o in out):
            return (len(out),)
        return tuple(_shape_of(o) for o in out)
    if isinstance(out, Value):
        return ()
    return ""


def _checked_array(name, parameter, value):
    """``value`` as an array that can replace ``parameter``, or a ValueError naming what is wrong."""
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    expected_shape = () if isinstance(parameter, Value) else parameter.data.shape
    if array.shape != expected_shape:
        raise ValueError(f"{name!r}: expected shape {expected_shape}, got shape {array.shape}")
    if isinstance(parameter, Value):
        if array.dtype.kind not in "fiu":
            raise ValueError(f"{name!r}: expected a real number, got dtype {array.dtype}")
    elif array.dtype != parameter.data.dtype:
        raise ValueError(f"{name!r}: expected dtype {parameter.data.dtype}, got dtype {array.dtype}")
    return array
