"""The node protocol that ``Value`` and ``Tensor`` share, and the one backward driver.

Reverse mode computes dL/dx for every node x of a graph that ends in L:
visit the nodes so that each node comes after every node that uses it
(reverse topological order), and at each one apply the chain rule

    dL/d(child) += dL/d(node) * d(node)/d(child).

When a node is reached, every use of it has already been visited, so its
gradient is complete before it is passed on. The order is built with an
explicit stack, not recursion, so a chain of a million operations is fine.

While backward runs, the gradients in flight live in a dictionary of the
driver's own, never in the nodes. Each gradient there is either *borrowed*
(an array some other node or the caller may also hold: what a
vector-Jacobian product returned, the seed) or *owned* (a sum the driver
made itself). The driver adds into an owned array in place and never
writes into a borrowed one; that is the whole of gradient ownership, as
HIPS autograd tracks it with ``(g, mutable)``. Only at the end is each
result handed to its node, and the node decides how to keep it
(``_store_grad``): an intermediate node simply holds it, a leaf adds it to
what it held before, as in PyTorch, until the user resets it.
"""

import math

import numpy as np

from .mode import enable_grad, grad_mode
from .recording import check_outside_recording


class BackwardError(RuntimeError, ValueError):
    """``backward()`` was called in a way that cannot define a gradient."""


class Node:
    """What backward, forward mode, pictures and ``nn`` need from a node; ``Value`` and ``Tensor`` implement it.

    Every node has

    - ``data``: its numbers (a float for a Value, an array for a Tensor);
    - ``children``: the nodes it was computed from, in order (empty for a leaf);
    - ``op``: the name of the operation that made it ("" for a leaf);
    - ``label``: a name for pictures and traces ("" for none);
    - ``grad``: d(root)/d(node) after ``root.backward()``;
    - ``primitive`` and ``params``: the ``Primitive`` that computed it and
      the settings it was applied with (read from ``_definition`` and
      ``_params``, which every node keeps).

    What backward asks of it:

    - ``_backward_seed(grad, create_graph)``: d(node)/d(node) to start
      backward with: ``grad`` checked against the node, or 1 for a scalar;
    - ``_pullback(g, create_graph)``: the chain rule at this node. Given
      g = d(root)/d(node), return for each child g · d(node)/d(child), in the
      child's shape and dtype, or None for a child that needs no gradient.
      With ``create_graph`` the results are nodes themselves (Values for a
      Value, Tensors for a Tensor), computed by recorded operations.
    - ``_fresh``: whether the arrays ``_pullback`` returns are new ones
      that nothing else holds (then the driver may add into them);
    - ``_requires_grad``: whether backward computes a gradient for this
      node: a Tensor's ``requires_grad`` (False for a constant, or a
      result computed from constants only); always True for a Value;
    - ``_store_grad(g, owned, accumulate)``: keep ``g`` as this node's
      gradient; add it to the gradient held before when ``accumulate`` (a
      leaf). ``owned`` says that nothing else holds the array ``g``.

    What forward mode, ``gradcheck``, traces and pictures ask:

    - ``_tangent(tangents)``: the node's tangent from its inputs' tangents;
    - ``_as_tangent(t, what)``: ``t`` checked as a direction for this
      node, in the form its tangents take (a float for a Value, an array
      of its shape and dtype for a Tensor); ``what`` names ``t`` in errors;
    - ``_new_leaf(numbers, requires_grad=False)``: a new leaf of this
      node's engine holding a copy of ``numbers`` (a Tensor in this one's
      dtype; a Value always takes part in backward);
    - ``detach()``: a new leaf holding this node's numbers, outside any graph;
    - ``local_grads``: d(node)/d(child) for each child, one number each
      for a Value; None each where the Jacobian is no number (a Tensor's,
      whose backward applies it as a vector-Jacobian product);
    - ``_written_share(position, g, name_of)``: the rule for one input,
      written in the nodes' names (what a trace prints);
    - ``_changed_since_forward()``: whether what its backward reads changed since;
    - ``_data_kind``: what pictures show as its data: ``"number"`` (a
      Value), ``"array"`` (a Tensor: a shape, a dtype, and a leaf that is
      a parameter when it requires gradients, else a constant) or
      ``"outputs"`` (a Function's node with several outputs: their data).

    What ``nn`` asks of a parameter (its optimisers, ``zero_grad``, loading):

    - ``_reset_grad(set_to_none=True)``: forget the gradient: a Value's
      becomes 0.0 (as micrograd's), a Tensor's None (or, with
      ``set_to_none=False``, zeros where it had one);
    - ``_bump_version()``: count a change of ``data`` made in place from
      outside the graph (an optimiser's step): a Tensor's version moves
      on, so a backward that saved the old numbers refuses to run; a Value
      has no version (its nodes keep the numbers their forward pass read);
    - ``_version_now()``: that count (None for a Value);
    - ``_load_numbers(array)``: take ``array``'s numbers as its own, in
      place (a Tensor copies them into its array, so every holder sees
      them, and counts the change); ``array`` is checked against
      ``numpy.asarray(node.data)``'s shape and dtype first.
    """

    __slots__ = ()

    @property
    def primitive(self):
        """The ``Primitive`` that computed this node (None for a leaf, or a Value built by hand)."""
        return self._definition

    @property
    def params(self):
        """The settings its primitive was applied with (an axis, a constant exponent), and what it saved: a dict."""
        return self._params or {}

    def _pullback(self, g, create_graph):
        raise NotImplementedError

    def _store_grad(self, g, owned, accumulate):
        raise NotImplementedError

    def _changed_since_forward(self):
        """Whether what this node's backward reads changed since its forward pass (traces refuse such a graph)."""
        return False

    def _bump_version(self):
        """Count an in-place change of ``data`` made from outside the graph (nothing to count by default)."""

    def _version_now(self):
        """How many in-place changes of ``data`` were counted (None: this node keeps no count)."""
        return None


def node_or_refuse(x, message):
    """``x`` itself if it is a node (a Value or a Tensor), else ``TypeError(message)``: an argument checked."""
    if not isinstance(x, Node):
        raise TypeError(message)
    return x


# Marks, on the stack of topological_order, that a node's children are done.
_CHILDREN_DONE = object()


def topological_order(root):
    """The non-leaf nodes reachable from ``root``, each after all of its children.

    Depth-first, iteratively: a node is pushed, then a marker, then its
    children; when the marker comes off the stack again, everything below
    the node has been placed, so the node is placed next. Leaves are left
    out: they have nothing to pass on.
    """
    order = []
    seen = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is _CHILDREN_DONE:
            order.append(stack.pop())
            continue
        if node in seen or not node.children:
            continue
        seen.add(node)
        stack.append(node)
        stack.append(_CHILDREN_DONE)
        for child in node.children:
            if child.children and child not in seen:
                stack.append(child)
    return order


def run_backward(root, seed, *, create_graph=False, store=True, observer=None):
    """Propagate ``seed`` = d(root)/d(root) to every node below ``root``; return the gradients.

    The result maps each node that received a gradient to the total it
    received in this pass. With ``store``, every node also keeps it
    (``_store_grad``: intermediate nodes hold it, leaves add it to what
    they held). Without, no node changes: ``autodiff.grad`` and the
    traces that only record use that.

    ``observer``, if given, is called after every chain-rule step as
    ``observer(node, g, position, child, contribution, before, after)``,
    with the child's total in this pass before and after the step (None
    before its first contribution).
    """
    if grad_mode.recording is not None and (store or not create_graph):
        # gradients stored, or numbers outside the graph: what a compiled program could not repeat
        check_outside_recording("backward()" if store else "a gradient computed without create_graph")
    if create_graph:
        with enable_grad():
            return _propagate(root, seed, True, store, observer)
    return _propagate(root, seed, False, store, observer)


def _propagate(root, seed, create_graph, store, observer):
    order = topological_order(root)
    totals = {root: seed}
    owned = set()  # the nodes whose total is an array the driver made and may add into in place
    if observer is not None or grad_mode.check_finite:
        _propagate_observed(order, totals, create_graph, observer)
    else:
        total_of = totals.get
        for node in reversed(order):
            g = total_of(node)
            if g is None:
                continue  # no gradient reaches it: every use sent None, or it was recorded for autodiff.compile
            fresh = node._fresh and not create_graph
            for child, contribution in zip(node.children, node._pullback(g, create_graph)):
                if contribution is None:
                    continue
                before = total_of(child)
                if before is None:
                    totals[child] = contribution
                    if fresh:
                        owned.add(child)
                elif type(before) is float:
                    totals[child] = before + contribution  # a Value's: numbers, nothing to own
                elif child in owned:
                    np.add(before, contribution, out=before)
                else:
                    totals[child] = _fresh_sum(before, contribution, child, owned)
    if store:
        for node, total in totals.items():
            node._store_grad(total, node in owned, not node.children)
    return totals


def _fresh_sum(before, contribution, child, owned):
    """before + contribution, a new object; an array made here is the driver's (``owned``)."""
    total = before + contribution
    kind = type(total)
    if kind is float:
        return total
    if isinstance(total, np.generic):
        total = np.asarray(total)  # numpy turns a sum of 0-d arrays into a scalar
    if type(total) is np.ndarray:
        owned.add(child)
    return total


def _propagate_observed(order, totals, create_graph, observer):
    """The same walk, each step checked (``detect_anomaly``) or shown to ``observer``, and never a sum in place.

    A total shown to the observer must not change afterwards, so every sum here is a new object.
    """
    check_finite = grad_mode.check_finite
    for node in reversed(order):
        g = totals.get(node)
        if g is None:
            continue  # every use of it sent None: its gradient is 0
        contributions = node._pullback(g, create_graph)
        for position, (child, contribution) in enumerate(zip(node.children, contributions)):
            if contribution is None:
                continue
            if check_finite and not _is_finite(contribution):
                raise FloatingPointError(
                    f"backward of {node.op!r} produced a non-finite gradient for its input {position} ({child!r})"
                )
            before = totals.get(child)
            after = contribution if before is None else _fresh_sum(before, contribution, child, set())
            totals[child] = after
            if observer is not None:
                observer(node, g, position, child, contribution, before, after)


def _is_finite(grad):
    if isinstance(grad, tuple):  # one gradient per output of a node with several (a Function's), None where none
        return all(_is_finite(part) for part in grad if part is not None)
    if isinstance(grad, float):
        return math.isfinite(grad)
    data = getattr(grad, "data", grad)  # a Value or Tensor made by create_graph
    return math.isfinite(data) if isinstance(data, float) else bool(np.isfinite(data).all())


def grad(outputs, inputs, grad_outputs=None, create_graph=False, *, retain_graph=None, allow_unused=False):
    """d(outputs)/d(input) for each of ``inputs``, as a tuple; no ``.grad`` anywhere changes.

    ``outputs`` is a Value, a one-element Tensor, or (with ``grad_outputs``,
    the upstream gradient of each output) any Tensor or a sequence of them;
    the results are summed over the outputs. ``inputs`` is a node or a
    sequence of nodes, leaves or not. With ``create_graph`` the gradients
    are nodes of a new graph that can be differentiated again. An input
    the outputs do not depend on raises, or with ``allow_unused`` has the
    gradient None, as in PyTorch. ``retain_graph`` is accepted for
    PyTorch's programs and changes nothing: a graph here is never freed.

    >>> from autodiff import Value, grad
    >>> x = Value(3.0)
    >>> (dx,) = grad(x * x * x, x, create_graph=True)
    >>> dx.data, grad(dx, x)[0]     # 3x², 6x
    (27.0, 18.0)
    """
    single_input = isinstance(inputs, Node)
    inputs = (inputs,) if single_input else tuple(inputs)
    outputs = (outputs,) if isinstance(outputs, Node) else tuple(outputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Node) or isinstance(grad_outputs, (np.ndarray, float, int)):
        grad_outputs = (grad_outputs,)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, x in enumerate(inputs):
        node_or_refuse(x, f"input {i} is a {type(x).__name__}, not a Value or a Tensor")
    results = [None] * len(inputs)
    for output, upstream in zip(outputs, grad_outputs):
        seed = output._backward_seed(upstream, create_graph)
        totals = run_backward(output, seed, create_graph=create_graph, store=False)
        for i, x in enumerate(inputs):
            if x in totals:
                results[i] = totals[x] if results[i] is None else results[i] + totals[x]
    for i, (x, result) in enumerate(zip(inputs, results)):
        if result is None and not allow_unused:
            raise ValueError(
                f"input {i} ({x!r}) is not part of the graph of the outputs: it has no gradient "
                "(allow_unused=True gives None for it)"
            )
    # a total may be an array that a node of the graph also holds: the caller gets one of its own
    return tuple(np.array(result) if type(result) is np.ndarray else result for result in results)
