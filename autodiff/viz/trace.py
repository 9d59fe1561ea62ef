"""``trace_backward``: backward, one chain-rule step at a time, written out.

The trace follows the driver every backward uses
(``autodiff.graph.run_backward``) and writes down each step as the driver
takes it: a node after every node that uses it, and at each node, for
each of its inputs in turn,

    child.grad += d(node)/d(child) * node.grad

Each step is recorded:

- ``seed``: d(root)/d(root) = 1 starts it all;
- ``chain``: one input receives its share, ``a.grad += b.data * out.grad
  = -3.0 * 0.5 = -1.5`` (for a Tensor the local derivative is a
  vector-Jacobian product, and the step shows shapes and summaries);
- ``accumulate``: a node used more than once (``x * x``, or an input of
  two operations) adds up what each use sent it, ``x.grad = 3.0 + 3.0 = 6.0``.

A trace only shows: no ``.grad`` changes, and the steps hold this pass's
own numbers, as if every gradient started from nothing. With
``store=True`` it is backward with a record: the gradients are left as
``root.backward()`` leaves them, a leaf that held a gradient from an
earlier backward adding this pass's to it (its first line says so).

A gradient that this pass has not computed yet is shown as ``?`` by the
frames and by ``explore``; ``Trace.before(node)`` tells which.
"""

import re
from dataclasses import dataclass

import numpy as np

from .. import operators
from ..graph import run_backward
from ..symbolic import NotWritable, leaves_of, write
from .nodes import describe_grad, format_number, forward_order, node_names, role_names

__all__ = ["Step", "Trace", "trace_backward", "GraphChangedSinceForward", "NOT_COMPUTED", "changed_since_forward"]


class _NotComputed:
    """The gradient of a node before this pass reaches it: shown as ``?``."""

    def __repr__(self):
        return "NOT_COMPUTED"


NOT_COMPUTED = _NotComputed()
UNKNOWN = "?"  # how pictures and pages write a gradient not computed yet
UNKNOWN_MEANS = "not computed yet"


class GraphChangedSinceForward(RuntimeError):
    """Data under the graph (a weight, say) changed after the forward pass: its recorded derivatives are stale.

    >>> from autodiff import Value, trace_backward
    >>> w = Value(2.0, label="w")
    >>> y = w * w
    >>> w.data -= 0.1                       # an optimiser step, by hand
    >>> try:
    ...     trace_backward(y)
    ... except GraphChangedSinceForward as error:
    ...     print(str(error).split(": ")[-1])
    run the forward pass again and trace its new result
    """


@dataclass(frozen=True, eq=False)
class Step:
    """One step of backward.

    ``node`` is the node whose gradient flows down (the root, for the
    seed), ``target`` the node whose gradient changes, ``position`` which
    input of ``node`` it is. ``upstream`` is node.grad, ``local`` the local
    derivative d(node)/d(target) (a number for Values, None for Tensors,
    whose local derivative is a function), ``contribution`` what is added
    to target.grad, ``grad_before`` and ``grad_after`` target.grad around it
    (``grad_before`` is ``NOT_COMPUTED`` before the target's first share).
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
    node to the gradient this pass gave it, ``stored`` says whether the
    pass left its gradients in the nodes (``store=True``).
    """

    def __init__(self, steps, root, module, names, note="", grads=None, stored=False):
        super().__init__(steps)
        self.root, self.module, self.names, self.note = root, module, names, note
        self.grads = grads if grads is not None else {}
        self.stored = stored
        self._first_before = {}
        for step in self:
            self._first_before.setdefault(id(step.target), step.grad_before)

    def before(self, node):
        """What ``node`` shows as its gradient before this pass's first step reaches it.

        ``NOT_COMPUTED`` for a node the pass gives a gradient to and that
        held none (``?`` in pictures); for a leaf that holds one from an
        earlier backward, with ``store=True``, that gradient; for a node
        the pass never reaches (a constant Tensor), its ``.grad``.
        """
        return self._first_before.get(id(node), node.grad)

    def __str__(self):
        width = len(str(len(self)))
        lines = [f"{i:>{width}}. {step.text}" for i, step in enumerate(self, 1)]
        return "\n".join([self.note, *lines] if self.note else lines)


def trace_backward(root, module=None, store=False, *, grad=None, digits=4):
    """The steps of backward from ``root`` (a Value or a Tensor) as a ``Trace``; no ``.grad`` changes.

    With ``store=True`` the gradients are also left as
    ``root.backward(grad)`` leaves them. ``module`` names the nodes by their
    role: its parameters by their path (``layers.0.neurons.1.w.0``), the
    inputs it was given as ``x[0]``, ``x[1]``, ...; other nodes are named by
    their label or, without one, by what they are (``mul1``, ``tanh2``, a
    constant by its value, ``const(1.0)``), as ``draw_dot`` names them.
    ``grad``: d(out)/d(root) to start from, as for ``backward``.

    Raises ``GraphChangedSinceForward`` if data under ``root`` changed
    since the forward pass computed it (an optimiser step updated the
    weights): the recorded derivatives would no longer match the data.

    >>> from autodiff import Value, trace_backward
    >>> x, y = Value(2.0, label="x"), Value(3.0, label="y")
    >>> print(trace_backward(x * y + x))        # x is used twice: its two shares add up
    1. add1.grad = 1.0 (the seed: dadd1/dadd1 = 1)
    2. mul1.grad += add1.grad = 1.0
    3. x.grad += add1.grad = 1.0
    4. x.grad += y.data * mul1.grad = 3.0 * 1.0 = 3.0
    5. x.grad = 1.0 + 3.0 = 4.0
    6. y.grad += x.data * mul1.grad = 2.0 * 1.0 = 2.0
    >>> x.grad                                  # only shown: store=True would leave 4.0
    0.0
    """
    order = forward_order(root)
    names = node_names(order, role_names(order, root, module))
    _refuse_changed(root, names)
    seed = root._backward_seed(grad, False)
    writer = _Writer(names, digits)
    held = _held_gradients(order)

    def total(node, in_this_pass):
        """What node.grad reads once this pass has given it ``in_this_pass`` (None: nothing yet)."""
        prior = held.get(node, NOT_COMPUTED) if store else NOT_COMPUTED
        if in_this_pass is None:
            return prior
        return in_this_pass if prior is NOT_COMPUTED else prior + in_this_pass

    steps = [Step("seed", root, root, None, None, None, seed, total(root, None), total(root, seed),
                  writer.seed(root, seed, given=grad is not None))]

    def observe(node, g, position, child, contribution, before, after):
        local = node.local_grads[position]
        grad_before, grad_after = total(child, before), total(child, after)
        step = Step("chain", node, child, position, g, local, contribution, grad_before, grad_after,
                    writer.chain(node, g, position, child, local, contribution))
        steps.append(step)
        if grad_before is not NOT_COMPUTED:
            steps.append(Step("accumulate", node, child, position, g, local, contribution,
                              grad_before, grad_after, writer.accumulate(step)))

    grads = run_backward(root, seed, store=store, observer=observe)
    note = ""
    if held and store:
        note = ("(the leaves already held gradients from an earlier backward: "
                "as backward does, this pass adds to them)")
    elif held:
        note = ("(the leaves hold gradients from an earlier backward; these steps show this pass's own, "
                "which backward() would add to them: zero_grad() first starts from zero)")
    return Trace(steps, root, module, names, note, grads, stored=store)


def changed_since_forward(root):
    """The operations below ``root`` whose inputs changed after the forward pass recorded them, in forward order.

    A Tensor operation saves the versions of the tensors its backward
    reads, and an in-place change (an optimiser step) bumps a version; a
    Value operation keeps the numbers its inputs held, and compares them
    with what the inputs hold now (``Node._changed_since_forward``).
    """
    return [node for node in forward_order(root) if node.children and node._changed_since_forward()]


def _refuse_changed(root, names):
    changed = changed_since_forward(root)
    if not changed:
        return
    listed = ", ".join(names[id(node)] for node in changed[:3])
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    raise GraphChangedSinceForward(
        f"the inputs of {listed}{more} changed after the forward pass that computed {names[id(root)]} "
        "(an optimiser step, or data changed by hand), so the derivatives that pass recorded no longer "
        "match them: run the forward pass again and trace its new result"
    )


def _held_gradients(order):
    """The leaves among ``order`` that hold a gradient from before (not None, not 0.0), and that gradient."""
    held = {}
    for node in order:
        grad = node.grad
        if not node.children and grad is not None and not (isinstance(grad, float) and grad == 0.0):
            held[node] = grad
    return held


class _Writer:
    """The text of each step, with the nodes' names."""

    def __init__(self, names, digits):
        self.names, self.digits = names, digits
        self.vjp_explained = False

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
            text = (f"{target}vjp of {node.op!r} for input {position} applied to "
                    f"{self.name(node)}.grad = {self.describe(upstream)}  ->  {self.describe(contribution)}")
            return self.explained(text, node, child)
        if local is None:
            return self.explained(f"{target}{formula}  ->  {self.describe(contribution)}", node, child)
        result = self.number(contribution)
        if leaves_of(share) < 2:
            return f"{target}{formula} = {result}"  # one number in it: no arithmetic to show (no "-0.0 = 0.0")
        numbers = write(share, lambda leaf: self.number(leaf.value))
        return f"{target}{formula} = {numbers}" + ("" if numbers == result else f" = {result}")

    def explained(self, text, node, child):
        """A Tensor step's text, the first one with what it computes in words: a vector-Jacobian product (vjp)."""
        if self.vjp_explained:
            return text
        self.vjp_explained = True
        return text + (f"  (a vjp, vector-Jacobian product: {self.name(node)}.grad times the Jacobian "
                       f"d({self.names[id(node)]})/d({self.names[id(child)]}), the share of the gradient that "
                       f"flows back to {self.name(child)})")

    def accumulate(self, step):
        return (
            f"{self.name(step.target)}.grad = {self.describe(step.grad_before)} + "
            f"{_bracket(self.describe(step.contribution))} = {self.describe(step.grad_after)}"
        )


# a name that reads as one thing before ".grad": x1, layers.0.w.0, x#2, x[0], const(-1.0), leaf(2.0)#2
_ATOM = re.compile(r"[\w.#]+(\[\d+\])?|(const|leaf)\([^()]*\)(#\d+)?")


def _operand(name):
    """A node's name ready to be followed by ``.grad`` or ``.data``: ``(x1*w1 + x2*w2).grad``, not ``x1*w1 + x2*w2.grad``."""
    return name if _ATOM.fullmatch(name) else f"({name})"


def _bracket(number):
    """A negative number in parentheses, to follow an operator: ``3.0 + (-1.5)``."""
    return f"({number})" if number.startswith("-") else number


def share_formula(node, position, names):
    """The chain-rule share node sends its input ``position``, in the nodes' names: ``w1.data * mul1.grad``."""
    try:
        return write(node._written_share(position, None, lambda n: _operand(names[id(n)])))
    except NotWritable:
        return f"vjp of {node.op!r} for input {position}"
