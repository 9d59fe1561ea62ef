"""The backward driver shared by every kind of node.

A node is any object with these attributes:

- ``children``: the tuple of nodes it was computed from (empty for a leaf);
- ``grad``: the gradient of the final output with respect to this node;
- ``_accumulate(seed)``: adds a gradient into this node's ``grad``;
- ``_EMPTY_GRAD``: what ``grad`` holds before anything has flowed in;
- ``_chain_rule(nodes)``: for each of ``nodes`` in turn, adds its ``grad``
  times its local derivatives into its children's ``grad`` (one function
  per node type, so that the loop over a large graph is a single call).

Reverse mode computes dL/dx for every node x of a graph that ends in L:
visit the nodes so that each node comes after every node that uses it
(reverse topological order), and at each one apply the chain rule

    dL/d(child) += dL/d(node) * d(node)/d(child).

When a node is reached, every use of it has already been visited, so its
gradient is complete before it is passed on. The order is built with an
explicit stack, not recursion, so a chain of a million operations is fine.

Gradients of intermediate nodes are recomputed from zero on every call;
the gradients of leaves (the inputs and parameters) add up across calls, as
in PyTorch, until the user resets them.
"""

import math
from contextlib import ContextDecorator

import numpy as np


class _GradMode:
    """Whether new operations record the graph needed for backward."""

    enabled = True
    check_finite = False


grad_mode = _GradMode()

# Marks, on the stack of topological_order, that a node's children are done.
_CHILDREN_DONE = object()


class no_grad(ContextDecorator):
    """Context manager and decorator under which no graph is recorded.

    Results computed inside have no children and cannot be differentiated,
    which saves the time and memory of recording them (evaluation, weight
    updates, finite differences).
    """

    def __enter__(self):
        self._previous = grad_mode.enabled
        grad_mode.enabled = False
        return self

    def __exit__(self, *exc_info):
        grad_mode.enabled = self._previous
        return False


class detect_anomaly(ContextDecorator):
    """Context manager and decorator that checks every gradient backward makes.

    The first operation whose backward step produces a NaN or an infinity
    raises ``FloatingPointError`` naming that operation. Off by default: the
    check reads every gradient once more.
    """

    def __enter__(self):
        self._previous = grad_mode.check_finite
        grad_mode.check_finite = True
        return self

    def __exit__(self, *exc_info):
        grad_mode.check_finite = self._previous
        return False


def is_grad_enabled():
    """True unless inside ``no_grad``."""
    return grad_mode.enabled


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


def backward(root, seed):
    """Fill in d(root)/d(node) for every node of the graph below ``root``.

    ``seed`` is d(root)/d(root): 1 for a scalar, or the upstream gradient.
    """
    order = topological_order(root)
    empty = root._EMPTY_GRAD
    for node in order:
        node.grad = empty
    if root.children:
        root.grad = seed  # nothing but the seed flows into the root
    else:
        root._accumulate(seed)
    if grad_mode.check_finite:
        for node in reversed(order):
            already_non_finite = _non_finite_children(node)
            node._chain_rule((node,))
            _check_finite(node, already_non_finite)
    else:
        root._chain_rule(reversed(order))


def _is_finite(grad):
    return grad is None or (math.isfinite(grad) if isinstance(grad, float) else np.isfinite(grad).all())


def _non_finite_children(node):
    """Positions of the children whose gradient is already NaN or infinite (left there by an earlier backward)."""
    return {position for position, child in enumerate(node.children) if not _is_finite(child.grad)}


def _check_finite(node, already_non_finite):
    """Blame ``node`` for a child's gradient that its backward step turned non-finite."""
    for position, child in enumerate(node.children):
        if position not in already_non_finite and not _is_finite(child.grad):
            raise FloatingPointError(
                f"backward of {node.op!r} produced a non-finite gradient "
                f"for its input {position} ({child!r})"
            )
