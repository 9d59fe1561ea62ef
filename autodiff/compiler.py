"""``autodiff.compile``: a function turned into a program, its forward pass and its backward written out in Python.

The first call with new kinds of arguments runs the function eagerly while
recording every operation (``autodiff.recording``), then writes the graph
out as two Python functions, one line per node:

- ``forward``: each node's forward pass, as its primitive writes it
  (``mul1 = x1 * w1``), from the arguments and the parameters;
- ``backward``: the chain rule from the output down, each node's rules
  applied as the backward driver applies them, in the same order
  (``x1_grad = w1 * mul1_grad``), shares summed where a node is used twice.

Later calls with arguments of the same kind run that program, as long as
what else the function read is unchanged: the globals and closure
variables it names (a Module's forward's, a wrapped function's), and the
attributes of every module that ran (the same objects, or equal numbers
and strings; a list or dict also item by item).
A layer replaced, a dropout rate or a global setting set anew makes the
call record again; what the recording changed itself (a count of calls)
is the function's own state, left out. Its output
is a node whose backward runs the backward program, so ``out.backward()``
and ``autodiff.grad`` fill in the same gradients as the eager function
would, computed by the same numpy calls in the same order. The program is
written from the primitives' own definitions (``autodiff.primitives``):
each rule, called with expressions instead of arrays, writes itself out
(``autodiff.symbolic``); a primitive whose forward pass or rule cannot be
written as expressions (a numpy kernel such as ``conv2d``, a random draw
such as dropout's) is called instead, one call per node.

``compiled.source()`` is the program's text, which is what runs.

A Python value computed from the inputs (``x.item()``, ``float(x)``, a
comparison of nodes) is refused while recording, naming the line: the
program could not follow a branch on it. Reading ``.data`` is not
watched: a branch on ``x.data`` is taken as it was on the recorded call.
Nor is an array changed in place: a tensor made inside from a numpy array
the function reads is a constant of the program (pass changing data as an
argument, or keep it in a Tensor).
"""

import builtins
import collections
import functools
import inspect
import keyword
import operator
import re
import threading
import warnings

import numpy as np

from . import numpy_ops, operators
from .graph import Node
from .mode import grad_mode
from .primitive import INPUTS, Primitive
from .recording import CompileError, record, snapshot, unchanged
from .symbolic import ARRAYS, NUMBERS, NotWritable, in_place_parts, leaf, shared_parts, write
from .tensor import Tensor, get_default_dtype, unbroadcast
from .value import Value


def compile(fn=None, *, fullgraph=False, dynamic=None, mode=None, backend=None, options=None,  # noqa: A001
            disable=False):
    """``fn`` (a function or a Module) as a compiled callable with its signature: see the module's docstring.

    Written as PyTorch writes ``torch.compile``: ``@compile`` or
    ``@compile(fullgraph=True)`` on a function, and ``disable=True`` gives
    ``fn`` back as it is. PyTorch's other options are accepted and change
    nothing: a program here is always the whole graph (what it cannot hold
    is refused, never split off), and each new signature records anew.

    >>> import autodiff
    >>> w = autodiff.tensor([1.0, -2.0], requires_grad=True)
    >>> def loss(x):
    ...     return ((x * w).tanh() ** 2).sum()
    >>> step = autodiff.compile(loss)
    >>> x = autodiff.tensor([0.5, 0.25])
    >>> step(x).backward()          # the first call runs loss, recording it, and builds the program
    >>> eager = w.grad.copy()
    >>> w.grad = None
    >>> step(x).backward()          # later calls run the program: the same gradients
    >>> bool((w.grad == eager).all())
    True
    >>> print(step.source().splitlines()[4])
    def forward(x, w):
    """
    del fullgraph, dynamic, mode, backend, options  # PyTorch's tuning, which a program here has no use for
    if fn is None:
        return lambda function: compile(function, disable=disable)
    return fn if disable else Compiled(fn)


# How many signatures a compiled function keeps programs for, and how many programs for one signature (they
# differ in what the function read: a module's setting, a global). What differs at every call (a new numpy
# array, a setting annealed at every step) makes every call record again: the programs recorded first are
# forgotten first, so memory stays bounded.
KEPT_SIGNATURES = 64
KEPT_PER_SIGNATURE = 8


class Compiled:
    """A compiled function: call it as ``fn``; ``source()`` shows the program its last new signature built.

    A compiled Module also reads as that Module, as ``torch.compile``'s does:
    ``compiled.parameters()``, ``compiled.eval()``, ``compiled.state_dict()``
    are the Module's, and a method that returns the Module (``eval()``,
    ``train()``, ``to()``) returns the compiled one.
    """

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.__doc__ = getattr(fn, "__doc__", None)
        # signature to the programs recorded for it (they differ in what they read), in the order recorded
        self._programs = collections.OrderedDict()
        self._last = None
        self._lock = threading.Lock()
        self._warned = False

    def __repr__(self):
        return f"compile({self.__name__})"

    def __getattr__(self, name):
        from nn import Module  # autodiff does not need nn; only a name a compiled function lacks brings it

        module = self.__dict__.get("fn")  # through __dict__: no call back into __getattr__ before __init__ ran
        if not isinstance(module, Module):
            raise AttributeError(f"a compiled function has no attribute {name!r} (a compiled Module has its Module's)")
        value = getattr(module, name)
        if not (inspect.ismethod(value) and value.__self__ is module):
            return value

        @functools.wraps(value)
        def method(*args, **kwargs):
            result = value(*args, **kwargs)
            return self if result is module else result  # model = compiled.eval() stays compiled

        return method

    def __call__(self, *args, **kwargs):
        nodes, key = _signature(args, kwargs)
        try:
            programs = self._programs.get(key, ())
        except TypeError:  # the key is hashed here, once per call
            raise CompileError(
                "compile tells calls apart by their arguments: an argument that is not a Tensor, a Value, a number, "
                "a list, tuple or dict of them, or a numpy array must be hashable"
            ) from None
        for program in programs:
            if program.holds():
                return program.run(nodes, args, kwargs)
        before = _scope_read(self.fn)
        result, recording = record(self.fn, args, kwargs, nodes)
        program = Program(self, recording, nodes, result, args, kwargs, _left_alone(before, _scope_read(self.fn)))
        with self._lock:
            # a program whose names were bound anew (w = w - lr * w.grad) will not run again: dropped, with its arrays
            kept = [p for p in self._programs.pop(key, ()) if p.reads_the_same_names()]
            forget = len(kept) >= KEPT_PER_SIGNATURE
            self._programs[key] = (kept + [program])[-KEPT_PER_SIGNATURE:]
            self._last = program
            if len(self._programs) > KEPT_SIGNATURES:
                self._programs.popitem(last=False)
                forget = True
            warn, self._warned = forget and not self._warned, self._warned or forget
        if warn:
            warnings.warn(
                f"compile({self.__name__}) records again at almost every call, and forgets its oldest programs: "
                "something it counts by value differs each time. That is an argument that is not a Tensor (a "
                "numpy array, a number), or a number the function reads from a module or a global (a setting "
                "changed at every step). Pass arrays as Tensors, and keep a changing number in a Tensor that you "
                "change in place",
                RuntimeWarning, stacklevel=2,
            )
        return result

    def source(self, optimized=False):
        """The text of the last program built: ``forward`` and ``backward``, one line per node.

        With ``optimized``, the text that runs: the same program with each
        definition's in-place steps kept in place (``out = x @ w.T`` then
        ``out += b``, where the plain text has ``x @ w.T + b``), which
        computes the same numbers with fewer new arrays.
        """
        if self._last is None:
            raise RuntimeError(f"compile({self.__name__}) has built no program yet: call it once first")
        return self._last.optimized_source if optimized else self._last.source


def _signature(args, kwargs):
    """The Tensors and Values among the arguments, in order, and a key of everything else about them.

    A Tensor counts by its shape, dtype and ``requires_grad``; a Value by
    being one; anything else by its type and equality (a numpy array by its bytes); and
    which arguments are the same node.
    """
    nodes = []

    def described(item):
        if isinstance(item, Node):
            nodes.append(item)
            if item._data_kind == "number":
                return ("Value",)
            return ("Tensor", item.data.shape, item.data.dtype, item._requires_grad)
        if isinstance(item, (list, tuple)):
            return (type(item).__name__, tuple([described(x) for x in item]))
        if isinstance(item, dict):
            return ("dict", tuple([(k, described(v)) for k, v in item.items()]))
        if isinstance(item, np.ndarray):
            return ("array", item.shape, item.dtype, item.tobytes())
        return ("object", type(item), item)  # 1, 1.0 and True are equal, but x * 1 and x * 1.0 differ in dtype

    described_args, described_kwargs = described(args), described(kwargs)
    # the same node given twice is one leaf of the recorded graph: a call with two different ones is another
    first_places = {}
    aliases = tuple([first_places.setdefault(id(node), k) for k, node in enumerate(nodes)])
    # the default dtype is that of the constants fn makes (autodiff.tensor([2.0])), which the program holds
    return nodes, (described_args, described_kwargs, aliases, grad_mode.enabled, get_default_dtype())


class Program:
    """One recorded call written out: the forward and backward functions, and what they read."""

    def __init__(self, compiled, recording, argument_nodes, result, args, kwargs, scope):
        outputs, self.structure = _flatten_outputs(result)
        if not outputs:
            raise CompileError(f"compile({compiled.__name__}): the function returned no Tensor or Value")
        _refuse_python_values(compiled.__name__, self.structure)
        self.name = compiled.__name__
        self.scalar = outputs[0]._data_kind == "number"
        self.modules = tuple(recording.modules.values())
        self.module_attributes = [_attributes_after(module, recording.attributes[id(module)])
                                  for module, _ in self.modules]
        arguments = {id(node): position for position, node in enumerate(argument_nodes)}
        order, leaves = _forward_order(outputs, arguments)
        for node in order:
            if node._data_kind == "outputs":
                raise CompileError(
                    f"compile({self.name}): {node.op} is a Function with several outputs, which a compiled program "
                    "cannot run yet: call it outside the compiled function, or return one output"
                )
        self.argument_positions, self.parameters, constants, sources = [], [], {}, []
        for node in leaves:
            if id(node) in arguments:
                self.argument_positions.append(arguments[id(node)])
            elif node.primitive is not None:
                sources.append(node)  # a random draw: drawn anew at every call
            elif id(node) in recording.made:
                if getattr(node, "requires_grad", False):
                    raise CompileError(
                        f"compile({self.name}): a tensor that requires gradients is made inside the function, so "
                        "each call would make a new one whose gradient no one could read: make it outside and "
                        "pass it in (or keep it in a Module)"
                    )
                constants[id(node)] = node
            else:
                self.parameters.append(node)
        # the operations in the order the recorded call ran them: random draws then come as eager draws them
        made = {key: rank for rank, key in enumerate(recording.made)}
        order = sorted(order + sources, key=lambda node: made.get(id(node), -1))
        self.leaves = [argument_nodes[p] for p in self.argument_positions] + self.parameters
        self.scope = scope
        # eager fn makes its constants anew at every call; the program holds them: an output that is one, or a
        # view of one, is handed out as a copy, so that writing into it cannot change the next call
        # an output eager made without a gradient (under no_grad, detached, an argmax) is handed out as such
        self.differentiable = [output._requires_grad for output in outputs]
        self.outputs_of_constants = frozenset(
            k for k, output in enumerate(outputs)
            if any(np.may_share_memory(output.data, constant.data) for constant in constants.values()))
        # requires_grad too: the backward program gives a gradient to the parameters that wanted one then
        self.parameter_kinds = [(p.data.shape, p.data.dtype, p.requires_grad) if p._data_kind == "array" else None
                                for p in self.parameters]
        parameter_names = {**_parameter_names(self.modules), **_names_in_scope(compiled.fn)}
        argument_names = _argument_names(compiled.fn, args, kwargs, argument_nodes)

        def written(optimized):
            writer = _ProgramWriter(self.scalar, _Names(argument_names, parameter_names), constants, arguments, optimized)
            return writer, *writer.program(compiled.__name__, order, self.leaves, outputs, argument_nodes)

        # what runs: each definition's in-place steps kept in place (out = x @ w.T; out += b): the same numbers as
        # the plain program, one line per node, with fewer arrays made
        writer, self.optimized_source, namespace = written(True)
        self.source = written(False)[1] if writer.in_place else self.optimized_source
        exec(builtins.compile(self.optimized_source, f"<compile({self.name})>", "exec"), namespace)  # our own text
        self.forward = namespace["forward"]
        # fresh where every gradient the backward program hands out is an array it made: backward may keep them
        self.primitives = [
            Primitive(f"compile({self.name})", _forward_refused, vjp_all=functools.partial(
                _backward_rule, namespace[f"backward_{k}"], self.scalar),
                      reads=INPUTS, once_differentiable=True, fresh=writer.fresh[k])
            for k in range(len(outputs))
        ]

    def holds(self):
        """Whether this program is still the function: the same modules' modes, the same parameters' shapes,
        dtypes and ``requires_grad`` (a layer frozen or unfrozen since).

        And the same objects, or equal numbers, behind the names the function reads (``w = w - lr * w.grad``
        outside it binds ``w`` to a new tensor, which the function reads from then on) and the attributes of
        every module that ran (a layer replaced, a dropout rate or a temperature set anew).
        """
        if not self.reads_the_same_names():
            return False
        for module, training in self.modules:
            if module.training != training:
                return False
        for module, attributes, own in self.module_attributes:
            now = vars(module)
            # the usual case, decided without a Python call per attribute: the same objects, in the same order
            if len(now) == len(attributes) and all(map(operator.is_, now.values(), attributes.values())):
                continue
            if not _same_attributes(attributes, now, own):
                return False
        for parameter, kind in zip(self.parameters, self.parameter_kinds):
            if kind is not None and (parameter.data.shape, parameter.data.dtype, parameter._requires_grad) != kind:
                return False
        return True

    def reads_the_same_names(self):
        for binding, name, held in self.scope:
            current = _bound(binding, name)
            if current is not held and not unchanged(held, current):
                return False
        return True

    def run(self, argument_nodes, args, kwargs):
        leaves = [argument_nodes[p] for p in self.argument_positions] + self.parameters
        numbers = [leaf.data for leaf in leaves]
        if self.scalar:
            try:
                outputs, saved = self.forward(*numbers)
            except ArithmeticError:  # Python's floats refused: IEEE arithmetic, as the eager engine does then
                outputs, saved = _in_ieee_arithmetic(self.forward, numbers)
        else:
            outputs, saved = self.forward(*numbers)
            if self.outputs_of_constants:
                outputs = [data.copy() if k in self.outputs_of_constants else data for k, data in enumerate(outputs)]
        children = tuple(leaves)
        nodes = [
            _output_node(data, primitive, children, {"saved": saved}, self.scalar) if differentiable
            else Tensor._constant(data)
            for data, primitive, differentiable in zip(outputs, self.primitives, self.differentiable)
        ]
        return _rebuilt(self.structure, iter(nodes))


def _forward_refused(xp, *inputs, **params):
    raise TypeError("a compiled program's output is made by the program, not by its primitive")


def _backward_rule(backward, scalar, xp, g, out, *leaves, needs, saved):
    """The rule of a compiled output: the backward program, from g, for every leaf it reads."""
    if scalar:
        try:
            return backward(g, saved)
        except ArithmeticError:
            return [None if share is None else float(share)
                    for share in _in_ieee_arithmetic(lambda *a: backward(*a), [g, saved])]
    with np.errstate(divide="ignore", invalid="ignore"):
        return backward(g, saved)


def _in_ieee_arithmetic(function, numbers):
    """``function`` run again on numpy's float64 scalars, which give IEEE infinities and NaNs where floats raise."""
    with np.errstate(all="ignore"):
        result = function(*_as_float64(numbers))
    return _as_floats(result)


def _as_float64(items):
    if isinstance(items, (list, tuple)):
        return type(items)(_as_float64(x) for x in items)
    return np.float64(items) if isinstance(items, float) else items


def _as_floats(items):
    if isinstance(items, (list, tuple)):
        return type(items)(_as_floats(x) for x in items)
    return float(items) if isinstance(items, np.floating) else items


def _output_node(data, primitive, children, params, scalar):
    if scalar:
        return Value._node(data, primitive, children, tuple([child.data for child in children]), params)
    return Tensor._record(data, primitive, children, params)


def _flatten_outputs(result):
    """The output nodes of ``result`` (a node, or lists, tuples and dicts holding nodes), and its structure."""
    outputs = []

    def structure(item):
        if isinstance(item, Node):
            outputs.append(item)
            return ("node",)
        if isinstance(item, (list, tuple)):
            return (type(item), [structure(x) for x in item])
        if isinstance(item, dict):
            return (dict, {k: structure(v) for k, v in item.items()})
        return ("constant", item)

    return outputs, structure(result)


def _refuse_python_values(name, structure):
    """Refuse a result that holds a Python value besides None: the program would hand out the recorded one."""
    stack = [(structure, "the result")]
    while stack:
        (tag, *content), where = stack.pop()
        if tag == "node":
            continue
        content = content[0]
        if tag == "constant" and content is not None:
            raise CompileError(
                f"compile({name}) returned a {type(content).__name__} ({content!r}) as {where}: a compiled program "
                "hands out the value the recorded call computed, at every call (an accuracy counted from .data "
                "would stay at its first value). Return Tensors and Values only, and compute such numbers outside "
                "the compiled function, from the outputs"
            )
        if tag is dict:
            stack.extend((item, f"{where}[{key!r}]") for key, item in content.items())
        elif tag != "constant":
            stack.extend((item, f"{where}[{k}]") for k, item in enumerate(content))


def _rebuilt(structure, nodes):
    tag = structure[0]
    if tag == "node":
        return next(nodes)
    if tag == "constant":
        return structure[1]
    if tag is dict:
        return {k: _rebuilt(v, nodes) for k, v in structure[1].items()}
    items = [_rebuilt(s, nodes) for s in structure[1]]
    return tag(*items) if hasattr(tag, "_fields") else tag(items)  # a named tuple (max's values and indices)


def _forward_order(outputs, arguments):
    """The non-leaf nodes below ``outputs`` in an order of the forward pass, and the leaves, each once.

    ``arguments`` (ids) count as leaves: what computed an argument before the call is not the function's.
    """
    order, placed, leaves, seen_leaves = [], set(), [], set()
    for output in outputs:
        for node in _operations_below(output, arguments, first_child_first=True):
            if node not in placed:
                placed.add(node)
                order.append(node)
        for node in [output, *order]:
            for child in node.children:
                if _is_leaf(child, arguments) and child not in seen_leaves:
                    seen_leaves.add(child)
                    leaves.append(child)
        if _is_leaf(output, arguments) and output not in seen_leaves:
            seen_leaves.add(output)
            leaves.append(output)
    return order, leaves


def _is_leaf(node, arguments):
    return not node.children or id(node) in arguments


def _operations_below(root, arguments, first_child_first=False):
    """``graph.topological_order(root)`` with the ``arguments`` (ids) as leaves: each node after its children.

    ``first_child_first`` places what a node's first input needs before what its second needs, as Python
    evaluated them (``f(a) + f(b)``): the order a forward pass reads in. Backward keeps the driver's order.
    """
    if _is_leaf(root, arguments):
        return []
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, children_placed = stack.pop()
        if children_placed:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for child in (reversed(node.children) if first_child_first else node.children):
            if not _is_leaf(child, arguments) and child not in seen:
                stack.append((child, False))
    return order


# A definition that hands an expression to a numpy function that is not a ufunc may meet numpy's TypeError
# rather than NotWritable, and one that reads what only an array has (max_pool2d's x.strides) an
# AttributeError. The eager call just ran the definition on arrays, so either says only that it cannot be
# written: it is called instead.
_NOT_WRITTEN = (NotWritable, TypeError, AttributeError)


# -- names -----------------------------------------------------------------------------------------------


class _Names:
    """A Python name for every node of the program: arguments, parameters, results."""

    def __init__(self, arguments, parameters):
        self.given = {**parameters, **arguments}  # id to a preferred name (dotted for parameters)
        # what the program's text calls (np, the scalar functions of autodiff.operators) and Python's keywords
        # are never a node's name: a label "exp" or "lambda" is numbered instead
        self.taken = {"np", "xp", "saved", "forward", "backward", *keyword.kwlist,
                      *(name for name in dir(operators) if not name.startswith("_"))}
        self.names = {}
        self.counters = {}

    def __call__(self, node):
        name = self.names.get(id(node))
        if name is None:
            name = self.names[id(node)] = self._new(node)
        return name

    def shown(self, node):
        """How a comment shows the node: its dotted parameter name or its label, when it has one."""
        return self.given.get(id(node)) or node.label

    def _new(self, node):
        preferred = self.given.get(id(node)) or node.label
        stem = _identifier(preferred, given=True) if preferred else _identifier(node.op) or "node"
        if not preferred or stem in self.taken:
            number = self.counters.get(stem, 0) + 1
            while f"{stem}{number}" in self.taken:
                number += 1
            self.counters[stem] = number
            stem = f"{stem}{number}"
        self.taken.add(stem)
        return stem

    def temporary(self, stem):
        number = self.counters.get(stem, 0) + 1
        while f"{stem}{number}" in self.taken:
            number += 1
        self.counters[stem] = number
        self.taken.add(f"{stem}{number}")
        return f"{stem}{number}"


_STEMS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "@": "matmul", "neg": "neg",
          "w·x+b": "linear", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}


def _identifier(text, given=False):
    """A Python name from a label or a dotted parameter name (``given``, kept as written), or from an op's name."""
    if not given:
        text = _STEMS.get(text, text)
        if text.startswith("**"):
            text = "pow"
    name = "".join(c if ("_" + c).isidentifier() else "_" for c in text).strip("_")
    name = name if given else name.lower()
    return f"_{name}" if name[:1].isdigit() else name


def _argument_names(fn, args, kwargs, nodes):
    """The name of each Tensor or Value argument: its parameter's name, with indices where it sits in a list."""
    try:
        bound = inspect.signature(_called(fn)).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {f"arg{i}": arg for i, arg in enumerate(args)} | kwargs
    names = {}

    def visit(item, name):
        if isinstance(item, Node):
            names[id(item)] = name
        elif isinstance(item, (list, tuple)):
            for i, x in enumerate(item):
                visit(x, f"{name}_{i}")
        elif isinstance(item, dict):
            for k, v in item.items():
                visit(v, f"{name}_{k}")

    for name, value in bound.items():
        visit(value, name)
    return names


def _names_in_scope(fn):
    """Dotted names of the tensors ``fn`` reads by name: ``w``, ``model.0.weight`` (or ``0.weight`` in a Module)."""
    from nn import Module  # autodiff does not need nn; only a function that uses modules brings them

    names = {}
    if isinstance(fn, Module):
        for name, tensor in [*fn.named_parameters(), *fn.named_buffers()]:
            names.setdefault(id(tensor), name)
        return names
    for _, variable, value in _variables_read(fn):
        if isinstance(value, Node):
            names.setdefault(id(value), variable)
        elif isinstance(value, Module):
            for name, tensor in [*value.named_parameters(), *value.named_buffers()]:
                names.setdefault(id(tensor), f"{variable}.{name}")
    return names


def _scope_read(fn):
    """(namespace or cell, name, ``snapshot`` of its object) for each global and closure variable ``fn`` reads
    (as far as Python tells: names read by the functions it calls are not)."""
    return [(binding, name if isinstance(binding, dict) else None, snapshot(value))
            for binding, name, value in _variables_read(fn)]


def _left_alone(before, after):
    """The entries of ``after`` (``_scope_read`` once the recording ran) that the recording did not change.

    What ``fn`` changed itself (a count of its calls, a list it appends
    to) is its own state, which a program does not repeat: watching it
    would make every call record again.
    """
    held = {(id(binding), name): then for binding, name, then in before}
    return [(binding, name, now) for binding, name, now in after
            if (id(binding), name) in held and unchanged(held[id(binding), name], now)]


def _attributes_after(module, before):
    """(module, ``snapshot`` of its attributes once the recording ran, the names its forward changed itself).

    As for ``_left_alone``: an attribute the recording changed (``self.calls += 1``) is the module's own state,
    which the program does not repeat, so it is left out of what is compared at each call.
    """
    after = {name: snapshot(value) for name, value in vars(module).items()}
    own = {name for name, value in after.items() if name not in before or not unchanged(before[name], value)}
    return module, after, own


def _called(fn):
    """The callable whose code runs when ``fn`` is called: a Module's ``forward`` (its ``__call__`` hands the
    arguments on), another object's ``__call__``, or ``fn`` itself."""
    from nn import Module

    if isinstance(fn, Module):
        return fn.forward
    if not inspect.isroutine(fn) and not inspect.isclass(fn) and not isinstance(fn, functools.partial):
        return getattr(fn, "__call__", fn)
    return fn


def _functions_run(fn):
    """The Python functions whose own code a call of ``fn`` runs: what ``_called`` finds, and what it says it
    runs in turn (``functools.partial``'s function, ``functools.wraps``'s ``__wrapped__``)."""
    functions, current = [], fn
    while current is not None and not any(current is f for f in functions):
        if isinstance(current, functools.partial):
            current = current.func
            continue
        called = _called(current)
        function = getattr(called, "__func__", called)
        if getattr(function, "__code__", None) is None:
            break
        functions.append(function)
        current = getattr(function, "__wrapped__", None)
    return functions


def _variables_read(fn):
    """(the globals dict or a closure cell, name, value) for each global and closure variable that the code of
    ``fn`` (``_functions_run``) reads, its comprehensions' and nested functions' included
    (``inspect.getclosurevars`` misses those)."""
    read, places = [], set()
    for function in _functions_run(fn):
        code = function.__code__
        cells = [(cell, name, cell.cell_contents)
                 for name, cell in zip(code.co_freevars, function.__closure__ or ()) if _filled(cell)]
        names, stack = set(), [code]
        while stack:
            current = stack.pop()
            names.update(current.co_names)
            stack.extend(const for const in current.co_consts if inspect.iscode(const))
        namespace = function.__globals__
        for binding, name, value in cells + [(namespace, name, namespace[name]) for name in sorted(names)
                                             if name in namespace]:
            if (id(binding), name) not in places:  # a wrapper and the function it wraps share their globals
                places.add((id(binding), name))
                read.append((binding, name, value))
    return read


def _filled(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _same_attributes(then, now, own):
    """Whether a module's attributes ``now`` are what ``then`` (their snapshots) were, those in ``own`` (its
    forward's own state) and ``training`` aside.

    The mode is compared on its own (``Program.holds``); an instance has
    its own ``training`` only once ``train()`` or ``eval()`` set it, which
    changes nothing when it is the mode the program was recorded in.
    """
    for name, value in then.items():
        if name != "training" and name not in own and not unchanged(value, now.get(name, _ABSENT)):
            return False
    added = len(now) - len(then)  # every name of then is in now: what else now has
    return added == 0 or (added == 1 and "training" in now and "training" not in then)


_ABSENT = object()  # what an attribute deleted since the recording holds


def _bound(binding, name):
    """What a global name (``binding`` the namespace) or a closure cell (``name`` None) holds now."""
    if name is not None:
        return binding.get(name)
    try:
        return binding.cell_contents
    except ValueError:  # an emptied cell
        return None


def _parameter_names(modules):
    """Dotted names of the parameters and buffers of the outermost modules that ran (``layers.0.weight``)."""
    names = {}
    for module, _ in modules:
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            names.setdefault(id(tensor), name)  # an outer module runs first: its names win
    return names


# -- writing the program ------------------------------------------------------------------------------------


class _ProgramWriter:
    """Writes ``forward`` and one ``backward_k`` per output, and the namespace they run in."""

    def __init__(self, scalar, names, constants, arguments, optimized):
        self.scalar = scalar
        self.optimized = optimized
        self.in_place = False  # whether the program met an in-place step it wrote in place
        self.arguments = arguments  # ids of the argument nodes: leaves of the program, even if computed
        self.xp = NUMBERS if scalar else ARRAYS
        self.names = names
        self.constants = constants
        self.namespace = {"np": np, "xp": operators if scalar else numpy_ops}
        if scalar:
            self.namespace.update({name: getattr(operators, name) for name in dir(operators) if not name.startswith("_")})
        self.values = {}  # id of a namespace value to its name
        self.held = []
        self.fresh = []  # for each backward program, whether every gradient it hands out is an array it made

    def constant(self, value, stem=None):
        """The name under which the program's namespace holds ``value`` (an array, a function)."""
        name = self.values.get(id(value))
        if name is None:
            name = self.values[id(value)] = self.names.temporary(stem or _constant_stem(value))
            self.namespace[name] = value
            self.held.append(value)  # ids stay unique while the program is written
        return name

    def program(self, function_name, order, leaves, outputs, argument_nodes):
        names = self.names
        leaf_names = [names(node) for node in leaves]
        self.computed = list(leaf_names)  # every name forward assigns, in order: what backward may read
        forward = [f"def forward({', '.join(leaf_names)}):"]
        for node in self.constants.values():
            self.computed.append(names(node))
            forward.append(f"    {names(node)} = {self.constant(node.data)}  # a constant made inside {function_name}")
        for node in order:
            forward.extend(self.forward_lines(node))
        backwards = [self.backward_lines(k, output, order, leaves) for k, output in enumerate(outputs)]
        code = "\n".join(line.split("#")[0] for lines in backwards for line in lines)
        used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
        saved_names = [name for name in dict.fromkeys(self.computed) if name in used]
        forward.append(f"    return ({', '.join(names(o) for o in outputs)},), ({''.join(n + ', ' for n in saved_names)})")
        text = [self.header(function_name, order, leaves, argument_nodes), "\n".join(forward)]
        for lines in backwards:
            unpack = f"    {''.join(n + ', ' for n in saved_names)}= saved" if saved_names else "    # nothing saved"
            text.append("\n".join([lines[0], unpack, *lines[1:]]))
        return "\n\n\n".join(text) + "\n", self.namespace

    def header(self, function_name, order, leaves, argument_nodes):
        described = ", ".join(f"{self.names(node)} {_kind(node)}" for node in leaves)
        library = ("the scalar functions of autodiff.operators (exp, tanh, ...; xp is that module)" if self.scalar else
                   "np is numpy; xp is autodiff.numpy_ops (numpy's functions and a few of the engine's own)")
        operations = f"{len(order)} operation{'' if len(order) == 1 else 's'}"
        return (f"# compile({function_name}): {operations} on {described}\n"
                f"# forward, then backward from each output; {library}")

    def forward_lines(self, node):
        definition, params = node.primitive, node.params
        static = {k: v for k, v in params.items() if k not in definition.saves}
        name = self.names(node)
        comment = f"  # {node.op}" + (f" ({self.names.shown(node)})" if self.names.shown(node) else "")
        inputs = [leaf(self.names(child), child.data) for child in node.children]
        targets = [name] + [f"{name}_{saved}" for saved in definition.saves]
        self.computed.extend(targets)
        if not definition.random and getattr(definition, "function", None) is None:
            try:
                result = definition.forward(self.xp, *inputs, **static)
                results = list(result) if definition.saves else [result]
                return self.assignments(targets, results, comment)
            except _NOT_WRITTEN:
                pass
        function = self.constant(functools.partial(definition.forward, **static), f"{_identifier(node.op)}_forward")
        arguments = ", ".join(["xp", *[self.names(child) for child in node.children]])
        called = ("it draws random numbers" if definition.random else
                  "your own Function" if getattr(definition, "function", None) is not None else "written in numpy")
        return [f"    {', '.join(targets)}, = {function}({arguments}){comment}, called: {called}"
                if definition.saves else f"    {name} = {function}({arguments}){comment}, called: {called}"]

    def assignments(self, targets, expressions, comment):
        """``target = expression`` lines, what the expressions share computed first, once, into names of its own."""
        bound, lines = {}, []
        for shared in shared_parts(expressions):
            name = self.names.temporary("t")
            lines.append(f"    {name} = {write(shared, constant=self.constant, bound=bound)}")
            bound[id(shared)] = name
        for change in in_place_parts(expressions) if self.optimized else ():
            self.in_place = True
            # out = x @ w.T; out += b, as the definition computes it: into the array it just made
            outer = next((t for t, e in zip(targets, expressions) if e is change), None)
            name = outer or self.names.temporary("t")
            lines.append(f"    {name} = {write(change.parts[0], constant=self.constant, bound=bound)}")
            lines.append(f"    {name} {change.kind[1]}= {write(change.parts[1], constant=self.constant, bound=bound)}")
            bound[id(change)] = name
        for target, expression in zip(targets, expressions):
            if bound.get(id(expression)) == target:
                lines[-1] += comment
                comment = ""
                continue
            if isinstance(expression, np.generic):
                expression = np.asarray(expression)
            text = write(expression, constant=self.constant, bound=bound)
            lines.append(f"    {target} = {text}{comment}")
            comment = ""
        return lines

    def backward_lines(self, k, output, order, leaves):
        """The lines of ``backward_k``: the chain rule from output k down to the leaves that want gradients."""
        names = self.names
        wanted = _reaching_leaves(order, leaves, self.scalar)
        grads = {id(output): f"{names(output)}_grad"}
        self.new_arrays = set()  # the ids of the nodes whose gradient so far is an array the program made
        lines = [f"def backward_{k}({names(output)}_grad, saved):"]
        for node in reversed(_operations_below(output, self.arguments)):
            if id(node) in grads:
                lines.extend(self.chain_rule_lines(node, grads, wanted))
        self.fresh.append(all(id(node) in self.new_arrays for node in leaves if id(node) in grads))
        results = [grads.get(id(node), "None") for node in leaves]
        lines.append(f"    return ({''.join(r + ', ' for r in results)})")
        return lines

    def chain_rule_lines(self, node, grads, wanted):
        definition, params = node.primitive, node.params
        children = node.children
        needs = [id(child) in wanted for child in children]
        if not any(needs):
            return []
        name = self.names(node)
        # what forward saved for the rules (a mask, a softmax) is read from this call's forward, never this recording's
        saved = {key: leaf(f"{name}_{key}", params[key]) for key in definition.saves}
        settings = {k: v for k, v in params.items() if k not in definition.saves}
        g = leaf(grads[id(node)], np.zeros_like(node.data) if not self.scalar else 0.0)
        out = leaf(name, node.data)
        inputs = [leaf(self.names(child), child.data) for child in children]
        lines = [f"    # {node.op} {name}: the chain rule to its inputs"]
        try:
            shares = definition.shares(self.xp, g, out, inputs, {**settings, **saved}, needs)
            shares = [None if share is None else self.conformed(share, child) for share, child in zip(shares, children)]
            texts, prelude = self.share_texts(shares)
            lines.extend(prelude)
            new = [share is not None and _makes_a_new_array(share, text) for share, text in zip(shares, texts)]
        except _NOT_WRITTEN:
            function = self.constant(functools.partial(_called_shares, definition, settings, tuple(needs), self.scalar),
                                     f"{_identifier(node.op)}_rules")
            share_names = [self.names.temporary("share") if need else "_" for need in needs]
            arguments = ", ".join([g.parts[0], out.parts[0], *[i.parts[0] for i in inputs],
                                   *[f"{key}={value.parts[0]}" for key, value in saved.items()]])
            lines.append(f"    {', '.join(share_names)}, = {function}({arguments})  # called")
            texts = [share if need else None for share, need in zip(share_names, needs)]
            new = [False] * len(children)  # what a called rule returns may be held elsewhere
        for child, text, need, made in zip(children, texts, needs, new):
            if not need or text is None:
                continue
            grad = grads.get(id(child))
            if grad is None:
                grads[id(child)] = grad = f"{self.names(child)}_grad"
                lines.append(f"    {grad} = {text}")
                if made:
                    self.new_arrays.add(id(child))
            else:
                lines.append(f"    {grad} = {grad} + {_bracketed(text)}")
                self.new_arrays.add(id(child))  # a sum: a new array
        return lines

    def share_texts(self, shares):
        bound, prelude = {}, []
        present = [share for share in shares if share is not None]
        for shared in shared_parts([s for s in present if _is_expression(s)]):
            name = self.names.temporary("t")
            prelude.append(f"    {name} = {write(shared, constant=self.constant, bound=bound)}")
            bound[id(shared)] = name
        texts = []
        for share in shares:
            if share is None:
                texts.append(None)
            else:
                texts.append(write(share, constant=self.constant, bound=bound))
        return texts, prelude

    def conformed(self, share, child):
        """The share as backward hands it to ``child``: summed back over broadcast axes, in its dtype."""
        if self.scalar:
            return share
        if not _is_expression(share):
            share = np.asarray(share)
        target = child.data
        if share.shape != target.shape:
            share = unbroadcast(share, target.shape)
        if share.dtype != target.dtype:
            share = share.astype(target.dtype)
        return share


def _constant_stem(value):
    """A name for a constant array that says what it holds, where that is short: ``ones5``, ``zeros3``."""
    if isinstance(value, np.ndarray) and value.size:
        for word, number in (("ones", 1), ("zeros", 0)):
            if (value == number).all():
                return f"{word}{'x'.join(map(str, value.shape))}_"
    return "constant"


def _makes_a_new_array(share, text):
    """Whether the written ``share`` computes a new array, which nothing else holds (so backward may keep it).

    Arithmetic, numpy's ufuncs, a sum, a cast and the engine's own functions
    make one; a name (a gradient handed on as it is), an index, ``.T`` or a
    reshape is, or may be, a view of what another holds.
    """
    if not _is_expression(share) or text.isidentifier():
        return False
    kind = share.kind
    tag = kind if kind == "leaf" else kind[0]
    if tag in ("binary", "unary", "conditional"):
        return True
    if tag == "method":
        return kind[1] in ("sum", "astype", "copy", "max")
    if tag == "call":
        name = kind[1]
        if name.startswith("xp."):
            return True  # the engine's own: broadcast_to, unindex, ungather, power, sigmoid, softmax
        function = getattr(np, name.removeprefix("np."), None)
        return isinstance(function, np.ufunc) or name in ("np.where", "np.add.reduce")
    return False


def _is_expression(x):
    return hasattr(x, "kind") and hasattr(x, "parts")


def _bracketed(text):
    return text if text.isidentifier() else f"({text})"


def _kind(node):
    if node._data_kind == "array":
        return f"{node.data.shape} {node.data.dtype}"
    return "(a number)"


def _reaching_leaves(order, leaves, scalar):
    """The ids of the nodes from which a gradient reaches a leaf that wants one, the leaves included.

    A Tensor recorded without a gradient (under ``no_grad``, or by an operation without a derivative) passes
    none on, as in eager: the recording kept it only so that the forward program computes it.
    """
    wanted = {id(node) for node in leaves if (scalar or node.requires_grad)}
    for node in order:
        if (scalar or node.requires_grad) and any(id(child) in wanted for child in node.children):
            wanted.add(id(node))
    return wanted


def _called_shares(definition, params, needs, scalar, g, out, *inputs, **saved):
    """A primitive's rules called on the numbers, conformed as backward conforms them: for rules written in numpy.

    ``params`` are its settings; ``saved``, what this call's forward pass saved.
    """
    xp = operators if scalar else numpy_ops
    shares = definition.shares(xp, g, out, inputs, {**params, **saved}, needs)
    if scalar:
        return tuple(shares)
    conformed = []
    for share, target in zip(shares, inputs):
        if share is not None:
            share = np.asarray(share)
            if share.shape != target.shape:
                share = np.asarray(unbroadcast(share, target.shape))
            if share.dtype != target.dtype:
                share = share.astype(target.dtype)
        conformed.append(share)
    return tuple(conformed)
