"""The nodes of a graph as a picture or a trace shows them: in order, named, sorted into kinds.

Every node below the output is visited once, leaves included, children
before the nodes computed from them (the order the forward pass made them
in). The walk keeps its own stack instead of recursing, so a chain of a
million operations is fine, and it stops as soon as a limit is passed, so
asking whether a huge graph is too big to draw costs only the limit.

Kinds, which the pictures colour:

- output: the node everything is differentiated from;
- parameter: a leaf that is learned (a Tensor with ``requires_grad``, or
  a Value among the parameters of the module given);
- input: any other leaf (data, constants);
- intermediate: everything computed in between.
"""

import math

import numpy as np

from .modules import computed_by

__all__ = ["GraphTooLarge", "forward_order", "node_names", "role_names", "format_number"]

KINDS = ("input", "parameter", "intermediate", "output")

# Readable stems for the names of unlabelled results, by operation.
_OP_STEMS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "w·x+b": "linear", "ReLU": "relu"}

# Marks, on the walk's stack, that the node below it has all its children placed.
_CHILDREN_PLACED = object()


class GraphTooLarge(ValueError):
    """The graph has more nodes than a picture was asked to hold.

    >>> from autodiff import Value, draw_dot
    >>> x = Value(1.0)
    >>> for _ in range(100):
    ...     x = x + 1
    >>> try:
    ...     draw_dot(x, max_nodes=50)
    ... except GraphTooLarge as error:
    ...     print(str(error)[:59])
    the graph has more than max_nodes=50 nodes, more than a pic
    """


def forward_order(root, limit=None):
    """Every node below ``root``, leaves included, each after all of its children.

    Children come in the order the operation took them, so leaves are met
    in the order the forward pass used them. Past ``limit`` nodes, raises
    ``GraphTooLarge``.

    >>> from autodiff import Value
    >>> a, b = Value(2.0, label="a"), Value(3.0, label="b")
    >>> [node.label or node.op for node in forward_order((a * b + a).tanh())]
    ['a', 'b', '*', '+', 'tanh']
    """
    order = []
    seen = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is _CHILDREN_PLACED:
            order.append(stack.pop())
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if limit is not None and len(seen) > limit:
            raise GraphTooLarge(f"the graph has more than {limit} nodes")
        if not node.children:
            order.append(node)
            continue
        stack.append(node)
        stack.append(_CHILDREN_PLACED)
        stack.extend(child for child in reversed(node.children) if id(child) not in seen)
    return order


def parameter_names(module):
    """id of each parameter of ``module`` (None: no module) to its dotted name."""
    if module is None:
        return {}
    return {id(p): name for name, p in module.named_parameters()}


def role_names(order, root, module=None):
    """id of each unlabelled leaf among ``order`` whose role the graph tells to a name saying it.

    With ``module``: its parameters by their dotted path (``layers.0.weight``),
    the leaves it was given as input, in the order it used them, as
    ``x[0]``, ``x[1]``, ... (a single Tensor input as ``x``), and any other
    leaf Value as a constant with its value, ``const(1.0)``. Without a
    module a leaf Value is named by its value, ``leaf(2.0)``: nothing tells
    a constant from a weight then.

    >>> import nn
    >>> from autodiff import Value
    >>> model = nn.Neuron(2)
    >>> out = model([1.0, Value(2.0)]) * 3
    >>> order = forward_order(out)
    >>> sorted(role_names(order, out, model).values())
    ['b', 'const(3.0)', 'w.0', 'w.1', 'x[0]', 'x[1]']
    """
    names = parameter_names(module)
    inputs = module_inputs(order, root, module)
    unlabelled_inputs = [node for node in inputs if not node.label]
    if len(inputs) == 1 and inputs[0]._data_kind == "array":
        names.update({id(node): "x" for node in unlabelled_inputs})
    else:
        names.update({id(node): f"x[{inputs.index(node)}]" for node in unlabelled_inputs})
    stem = "const" if module is not None else "leaf"
    for node in order:
        if not node.children and id(node) not in names and node._data_kind == "number":
            names[id(node)] = f"{stem}({format_number(node.data)})"
    return names


def module_inputs(order, root, module):
    """The leaves among ``order`` that ``module`` took as input, in the order it used them (none without a module).

    They are the leaves, other than its parameters, that the operations
    the module computed (``modules.computed_by``) read.
    """
    if module is None:
        return []
    parameters = {id(p) for p in module.parameters()}
    inside = computed_by(order, root, parameters)
    if any(id(child) in parameters for child in root.children):
        inside.add(id(root))  # the module's last weighted sum, when nothing follows it
    inputs, seen = [], set()
    for node in order:
        if id(node) not in inside:
            continue
        for child in node.children:
            if not child.children and id(child) not in parameters and id(child) not in seen:
                seen.add(id(child))
                inputs.append(child)
    return inputs


def kind_of(node, root, parameters):
    """"output", "intermediate", "parameter" or "input" (``parameters``: ids of known parameters)."""
    if node is root:
        return "output"
    if node.children:
        return "intermediate"
    if id(node) in parameters or (node._data_kind == "array" and node.requires_grad):
        return "parameter"
    return "input"


def node_names(nodes, roles=None):
    """A distinct, readable name for each node (by id), in the order given.

    A labelled node keeps its label (``x``, then ``x#2`` if another node
    has the same label), an unlabelled node named in ``roles`` (from
    ``role_names``: ``layers.0.w.0``, ``x[0]``, ``const(1.0)``) takes that
    name, and the rest a name made from what they are: ``mul1``,
    ``tanh2``, ``leaf3`` (a leaf Value), ``param1`` or ``const1`` (leaf
    Tensors).

    >>> from autodiff import Value
    >>> x, w = Value(2.0, label="x"), Value(-3.0)
    >>> y = (x * w).tanh()
    >>> order = forward_order(y)
    >>> names = node_names(order, {id(w): "w.0"})
    >>> [names[id(node)] for node in order]
    ['x', 'w.0', 'mul1', 'tanh1']
    """
    roles = roles or {}
    wanted = [node.label or roles.get(id(node)) for node in nodes]
    labels = set(filter(None, wanted))
    given = set()
    counters = {}  # per label or stem, the last number appended to it
    names = {}
    for node, name in zip(nodes, wanted):
        if not name and _is_output(node) and id(node.children[0]) in names:
            name = names[id(node.children[0])] + node.op  # output k of a Function with several: function1[k]
        if not name or name in given:
            stem, pattern = (name, "{}#{}") if name else (_stem(node), "{}{}")
            number = counters.get(stem, 1 if name else 0)
            while True:
                number += 1
                name = pattern.format(stem, number)
                if name not in labels and name not in given:
                    break
            counters[stem] = number
        given.add(name)
        names[id(node)] = name
    return names


def _is_output(node):
    """Whether ``node`` is output k of a Function with several outputs (op ``[k]``, its one child the Function's node)."""
    return len(node.children) == 1 and node.op.startswith("[") and node.op.endswith("]")


def _stem(node):
    if not node.children:
        if node._data_kind == "array":
            return "param" if node.requires_grad else "const"
        return "leaf"
    if node.op in _OP_STEMS:
        return _OP_STEMS[node.op]
    if node.op.startswith("**"):
        return "pow"
    stem = "".join(c for c in node.op if c.isalnum() or c == "_")
    return stem.lower() or "node"


def format_number(x, digits=4):
    """``x`` to ``digits`` significant digits, whole numbers keeping their ".0" (-3.0, 0.7071, 6.881).

    Zero is 0.0 whatever its sign: -0.0 tells a learner nothing but to worry.

    >>> format_number(-3), format_number(2 ** -0.5), format_number(6.8813735870195432), format_number(-0.0)
    ('-3.0', '0.7071', '6.881', '0.0')
    """
    x = float(x) + 0.0  # -0.0 + 0.0 is 0.0
    text = f"{x:.{digits}g}"
    if math.isfinite(x) and "e" not in text and "." not in text:
        text += ".0"
    return text


def summarize(array, digits=4, tiny=4):
    """A short description of an array: its values when it has at most ``tiny``, else "mean m in [min, max]"."""
    array = np.asarray(array)
    if array.size <= tiny:
        values = ", ".join(format_number(v, digits) for v in array.ravel())
        return f"[{values}]" if array.ndim else values
    return (
        f"mean {format_number(array.mean(), digits)} in "
        f"[{format_number(array.min(), digits)}, {format_number(array.max(), digits)}]"
    )


def describe_grad(grad, digits=4):
    """A gradient as the pictures and traces print it: a number, a summary, or "None".

    The node of a Function with several outputs holds a tuple, one
    gradient (or data) per output: each is described, in parentheses.
    """
    if grad is None:
        return "None"
    if isinstance(grad, tuple):
        return "(" + ", ".join(describe_grad(part, digits) for part in grad) + ")"
    if isinstance(grad, float):
        return format_number(grad, digits)
    return summarize(grad, digits)


def grad_magnitude(grad):
    """|grad| for a Value, mean |grad| for a Tensor, 0 before any gradient flowed."""
    if grad is None:
        return 0.0
    if isinstance(grad, tuple):  # one per output of a Function's node
        return max((grad_magnitude(part) for part in grad), default=0.0)
    if isinstance(grad, float):
        return abs(grad)
    return float(np.abs(grad).mean()) if np.size(grad) else 0.0
