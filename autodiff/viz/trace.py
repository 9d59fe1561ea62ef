"""``trace_backward``: backward, one chain-rule step at a time, written out.

The trace runs backward itself, through the driver every backward uses
(``autodiff.graph.run_backward``), and writes down each step as the driver
takes it: a node after every node that uses it, and at each node, for
each of its inputs in turn,

    child.grad += d(node)/d(child) * node.grad

so the gradients it leaves are exactly those of ``root.backward()``. Each
step is recorded:

- ``seed``: d(root)/d(root) = 1 starts it all;
- ``chain``: one input receives its share, ``a.grad += b.data * out.grad
  = -3.0 * 0.5 = -1.5`` (for a Tensor the local derivative is a
  vector-Jacobian product, and the step shows shapes and summaries);
- ``accumulate``: a node used more than once (``x * x``, or an input of
  two operations) adds up what each use sent it, ``x.grad = 3.0 + 3.0 = 6.0``.

A leaf that held a gradient from an earlier backward adds this pass's to
it, as backward does; the trace says so in its first line. With
``record_only=True`` no ``.grad`` changes at all: the steps hold the
numbers (this pass's gradients, as if every leaf started from zero).
"""

from dataclasses import dataclass

import numpy as np

from ..graph import run_backward
from ..symbolic import NotWritable, write
from ..tensor import Tensor
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
    """The steps of one backward pass, in order; ``str`` of it is the numbered chain-rule text.

    ``note`` is a line said before the steps (or ""), ``grads`` maps each
    node to the gradient this pass gave it.
    """

    def __init__(self, steps, root, module, names, note="", grads=None):
        super().__init__(steps)
        self.root, self.module, self.names, self.note = root, module, names, note
        self.grads = grads if grads is not None else {}

    def __str__(self):
        width = len(str(len(self)))
        lines = [f"{i:>{width}}. {step.text}" for i, step in enumerate(self, 1)]
        return "\n".join([self.note, *lines] if self.note else lines)


def trace_backward(root, grad=None, *, module=None, digits=4, record_only=False):
    """Run backward from ``root`` (a Value or a Tensor) and return its steps as a ``Trace``.

    Leaves the same gradients ``root.backward(grad)`` would, or, with
    ``record_only``, changes no gradient. ``module`` names its parameters
    in the text (``layers.0.neurons.1.w.0``); other nodes are named by
    their label or, without one, by what they are (``mul1``, ``tanh2``,
    ``leaf3``), as ``draw_dot`` names them.

    >>> from autodiff import Value, trace_backward
    >>> x, y = Value(2.0, label="x"), Value(3.0, label="y")
    >>> print(trace_backward(x * y + x))        # x is used twice: its two shares add up
    1. add1.grad = 1.0 (the seed: dadd1/dadd1 = 1)
    2. mul1.grad += add1.grad = 1.0
    3. x.grad += add1.grad = 1.0
    4. x.grad += y.data * mul1.grad = 3.0 * 1.0 = 3.0
    5. x.grad = 1.0 + 3.0 = 4.0
    6. y.grad += x.data * mul1.grad = 2.0 * 1.0 = 2.0
    """
    seed = root._backward_seed(grad, False)
    names = node_names(forward_order(root), parameter_names(module))
    writer = _Writer(names, digits)
    held = {} if record_only else _held_gradients(root)
    empty = None if isinstance(root, Tensor) else 0.0  # what a leaf's grad is before any backward

    def total(node, in_this_pass):
        """What node.grad reads once this pass has given it ``in_this_pass`` (None: nothing yet)."""
        prior = held.get(node, empty)
        if in_this_pass is None or prior is empty:
            return prior if in_this_pass is None else in_this_pass
        return prior + in_this_pass

    steps = [Step("seed", root, root, None, None, None, seed, held.get(root, empty), total(root, seed),
                  writer.seed(root, seed, given=grad is not None))]
    received = set()

    def observe(node, g, position, child, contribution, before, after):
        local = node.local_grads[position] if not isinstance(node, Tensor) else None
        grad_before, grad_after = total(child, before), total(child, after)
        step = Step("chain", node, child, position, g, local, contribution, grad_before, grad_after,
                    writer.chain(node, g, position, child, local, contribution))
        steps.append(step)
        if child in received or child in held:
            steps.append(Step("accumulate", node, child, position, g, local, contribution,
                              grad_before, grad_after, writer.accumulate(step)))
        received.add(child)

    grads = run_backward(root, seed, store=not record_only, observer=observe)
    note = ""
    if held:
        note = ("(the leaves already held gradients from an earlier backward: "
                "as backward does, this pass adds to them)")
    return Trace(steps, root, module, names, note, grads)


def _held_gradients(root):
    """The leaves below ``root`` that hold a gradient from before (not None, not 0.0), and that gradient."""
    held = {}
    for node in forward_order(root):
        grad = node.grad
        if not node.children and grad is not None and not (isinstance(grad, float) and grad == 0.0):
            held[node] = grad
    return held


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
        return describe_grad(grad if grad is None or isinstance(grad, (float, tuple)) else np.asarray(grad), self.digits)

    def seed(self, root, seed, given):
        name = self.name(root)
        why = "the gradient given" if given else f"the seed: d{name}/d{name} = 1"
        return f"{name}.grad = {self.describe(seed)} ({why})"

    def chain(self, node, upstream, position, child, local, contribution):
        target = f"{self.name(child)}.grad += "
        try:
            share = node._written_share(position, upstream, self.name)
            formula = write(share)
        except NotWritable:
            return (
                f"{target}vjp of {node.op!r} for input {position} applied to "
                f"{self.name(node)}.grad = {self.describe(upstream)}  ->  {self.describe(contribution)}"
            )
        if local is None:
            return f"{target}{formula}  ->  {self.describe(contribution)}"
        numbers = write(share, lambda leaf: self.number(leaf.value))
        result = self.number(contribution)
        return f"{target}{formula} = {numbers}" + ("" if numbers == result else f" = {result}")

    def accumulate(self, step):
        return (
            f"{self.name(step.target)}.grad = {self.describe(step.grad_before)} + "
            f"{_bracket(self.describe(step.contribution))} = {self.describe(step.grad_after)}"
        )


def _operand(name):
    """A node's name ready to be followed by ``.grad`` or ``.data``: ``(x1*w1 + x2*w2).grad``, not ``x1*w1 + x2*w2.grad``."""
    return name if all(c.isalnum() or c in "_.#[]" for c in name) else f"({name})"


def _bracket(number):
    """A negative number in parentheses, to follow an operator: ``3.0 + (-1.5)``."""
    return f"({number})" if number.startswith("-") else number


def share_formula(node, position, names):
    """The chain-rule share node sends its input ``position``, in the nodes' names: ``w1.data * mul1.grad``."""
    try:
        return write(node._written_share(position, None, lambda n: _operand(names[id(n)])))
    except NotWritable:
        return f"vjp of {node.op!r} for input {position}"
