"""``trace_backward``: backward, one chain-rule step at a time, written out.

Backward visits the nodes in the order ``autodiff.graph.backward`` does
(``topological_order``, reversed: a node after every node that uses it)
and, at each node, for each of its inputs in turn applies

    child.grad += d(node)/d(child) * node.grad

The trace does the same arithmetic in the same order, so the gradients it
leaves are exactly those of ``root.backward()``, and records each step:

- ``seed``: d(root)/d(root) = 1 starts it all;
- ``chain``: one input receives its share, ``a.grad += b.data * out.grad
  = -3.0 * 0.5 = -1.5`` (for a Tensor the local derivative is a
  vector-Jacobian product, and the step shows shapes and summaries);
- ``accumulate``: a node used more than once (``x * x``, or an input of
  two operations) adds up what each use sent it, ``x.grad = 3.0 + 3.0 = 6.0``.
"""

from dataclasses import dataclass

import numpy as np

from ..graph import topological_order
from ..tensor import BackwardError, Tensor, unbroadcast
from .nodes import describe_grad, format_number, forward_order, node_names, parameter_names


@dataclass(frozen=True, eq=False)
class Step:
    """One step of backward.

    ``node`` is the node whose gradient flows down (the root, for the
    seed), ``target`` the node whose gradient changes, ``position`` which
    input of ``node`` it is. ``upstream`` is node.grad, ``local`` the local
    derivative d(node)/d(target) (a number for Values, None for Tensors,
    whose local derivative is a function), ``contribution`` what is added
    to target.grad, ``grad_before`` and ``grad_after`` target.grad around it.
    """

    kind: str
    node: object
    target: object
    position: object
    upstream: object
    local: object
    contribution: object
    grad_before: object
    grad_after: object
    text: str

    def __str__(self):
        return self.text


class Trace(list):
    """The steps of one backward pass, in order; ``str`` of it is the numbered chain-rule text."""

    def __init__(self, steps, root, module, names):
        super().__init__(steps)
        self.root, self.module, self.names = root, module, names

    def __str__(self):
        width = len(str(len(self)))
        return "\n".join(f"{i:>{width}}. {step.text}" for i, step in enumerate(self, 1))


def trace_backward(root, grad=None, *, module=None, digits=4):
    """Run backward from ``root`` (a Value or a Tensor) and return its steps as a ``Trace``.

    Leaves the same gradients ``root.backward(grad)`` would. ``module``
    names its parameters in the text (``layers.0.neurons.1.w.0``); other
    nodes are named by their label or, without one, by what they are
    (``mul1``, ``tanh2``, ``leaf3``), as ``draw_dot`` names them.
    """
    seed = _seed(root, grad)
    names = node_names(forward_order(root), parameter_names(module))
    writer = _Writer(names, digits)
    order = topological_order(root)
    for node in order:
        node.grad = root._EMPTY_GRAD
    before = root.grad
    root._accumulate(seed)
    steps = [Step("seed", root, root, None, None, None, seed, before, root.grad,
                  writer.seed(root, given=grad is not None))]
    received = set()
    backward_step = _tensor_step if isinstance(root, Tensor) else _value_step
    for node in reversed(order):
        for position, child in enumerate(node.children):
            step = backward_step(node, position, child, writer)
            if step is None:
                continue
            steps.append(step)
            if id(child) in received or (not child.children and not _is_empty(step.grad_before)):
                steps.append(Step("accumulate", node, child, position, step.upstream, step.local,
                                  step.contribution, step.grad_before, step.grad_after, writer.accumulate(step)))
            received.add(id(child))
    return Trace(steps, root, module, names)


def _seed(root, grad):
    if isinstance(root, Tensor):
        if not root.requires_grad:
            raise BackwardError("trace_backward() on a tensor that does not require gradients")
        if grad is None:
            if root.data.size != 1:
                raise BackwardError(
                    f"trace_backward() without a gradient needs a one-element tensor, this one has shape "
                    f"{root.shape}; pass grad=, an array of shape {root.shape}"
                )
            return np.ones_like(root.data)
        seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.data.dtype)
        if seed.shape != root.data.shape:
            raise ValueError(f"gradient of shape {seed.shape} does not match the tensor's shape {root.shape}")
        return seed
    return 1.0 if grad is None else float(grad)


def _value_step(node, position, child, writer):
    upstream = node.grad
    local = node.local_grads[position]
    before = child.grad
    contribution = local * upstream  # the engine's arithmetic, in its order
    child.grad += contribution
    return Step("chain", node, child, position, upstream, local, contribution, before, child.grad,
                writer.value_chain(node, position, child, local, upstream, contribution))


def _tensor_step(node, position, child, writer):
    if not child.requires_grad:
        return None
    upstream = node.grad
    before = child.grad
    pushed = node.vjps[position](upstream)
    child._accumulate(pushed)
    contribution = unbroadcast(np.asarray(pushed), child.shape) if np.shape(pushed) != child.shape else pushed
    return Step("chain", node, child, position, upstream, None, contribution, before, child.grad,
                writer.tensor_chain(node, position, child, upstream, contribution))


def _is_empty(grad):
    return grad is None or (isinstance(grad, float) and grad == 0.0)


class _Writer:
    """The text of each step, with the nodes' names."""

    def __init__(self, names, digits):
        self.names, self.digits = names, digits

    def name(self, node):
        return _operand(self.names[id(node)])

    def number(self, x):
        return format_number(x, self.digits)

    def describe(self, grad):
        if isinstance(grad, np.ndarray) and grad.size > 4:
            return f"{grad.shape} {describe_grad(grad, self.digits)}"
        return describe_grad(grad if grad is None or isinstance(grad, float) else np.asarray(grad), self.digits)

    def seed(self, root, given):
        name = self.name(root)
        why = "the gradient given" if given else f"the seed: d{name}/d{name} = 1"
        return f"{name}.grad = {self.describe(root.grad)} ({why})"

    def value_chain(self, node, position, child, local, upstream, contribution):
        formula = local_derivative_formula(node, position, self.names)
        return (
            f"{self.name(child)}.grad += {formula} * {self.name(node)}.grad"
            f" = {self.number(local)} * {_bracket(self.number(upstream))} = {self.number(contribution)}"
        )

    def tensor_chain(self, node, position, child, upstream, contribution):
        return (
            f"{self.name(child)}.grad += vjp of {node.op!r} for input {position} applied to "
            f"{self.name(node)}.grad = {self.describe(upstream)}  ->  {self.describe(contribution)}"
        )

    def accumulate(self, step):
        return (
            f"{self.name(step.target)}.grad = {self.describe(step.grad_before)} + "
            f"{_bracket(self.describe(step.contribution))} = {self.describe(step.grad_after)}"
        )


def _operand(name):
    """A node's name ready to be followed by ``.grad`` or ``.data``: ``(x1*w1 + x2*w2).grad``, not ``x1*w1 + x2*w2.grad``."""
    return name if all(c.isalnum() or c in "_.#" for c in name) else f"({name})"


def _bracket(number):
    """A negative number in parentheses, to follow an operator: ``3.0 + (-1.5)``."""
    return f"({number})" if number.startswith("-") else number


def local_derivative_formula(node, position, names):
    """d(node)/d(input ``position``) of a Value node, in the nodes' names: ``b.data`` for a product's ``a``."""
    children = node.children

    def data(i):
        return f"{_operand(names[id(children[i])])}.data"

    out = f"{_operand(names[id(node)])}.data"
    op = node.op
    if op in ("+", "sum"):
        return "1.0"
    if op == "-":
        return "1.0" if position == 0 else "-1.0"
    if op == "neg":
        return "-1.0"
    if op == "*":
        return data(1 - position)
    if op == "/":
        return f"(1 / {data(1)})" if position == 0 else f"(-{data(0)} / {data(1)}**2)"
    if op == "**":
        return f"({data(1)} * {data(0)}**({data(1)} - 1))" if position == 0 else f"({out} * log({data(0)}))"
    if op.startswith("**"):
        exponent = float(op[2:])
        return f"({op[2:]} * {data(0)}**{exponent - 1:g})"
    if op == "w·x+b":
        n = (len(children) - 1) // 2
        return "1.0" if position == 2 * n else data((position + n) % (2 * n))
    formulas = {
        "exp": out,
        "log": f"(1 / {data(0)})",
        "tanh": f"(1 - {out}**2)",
        "relu": f"({data(0)} > 0)",
        "sigmoid": f"{out} * (1 - {out})",
    }
    return formulas.get(op, f"d{_operand(names[id(node)])}/d{_operand(names[id(children[position])])}")
