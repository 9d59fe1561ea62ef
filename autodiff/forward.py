"""Forward mode and second derivatives: ``jvp``, ``hvp``, ``hessian``.

Reverse mode (``backward``) starts from an output and computes vᵀJ, the
gradient of one weighted sum of the outputs with respect to every input:
one pass per output. Forward mode starts from the inputs and computes
J·t, how every output moves when the inputs move in one direction t: one
pass per input direction. So for a loss (one output, millions of weights)
reverse mode is the cheap one, which is why training uses backpropagation;
for few inputs and many outputs, forward mode is.

Forward mode here is dual numbers: every node x carries, beside its value,
a tangent ẋ = dx/dε for inputs moved to primal + ε·t. Each operation's
tangent follows from its inputs' tangents by the chain rule,

    out = op(a, b):   ȯut = (∂op/∂a)·ȧ + (∂op/∂b)·ḃ,

computed node by node in the order the forward pass made them (so every
input's tangent is known when it is needed), right after the forward pass
of ``f`` has computed the values. Each node pushes its tangent itself
(``Node._tangent``), from its primitive's definition: an operation linear
in its inputs applies itself to the tangents; an elementwise one (and any
operation on Values: its Jacobian is a number per input) applies its rules
to them; the rest have a rule of their own (``jvp``) or, failing that, use
their rules transposed.

Second derivatives reuse reverse mode twice: the gradient of f is
computed with ``create_graph``, so it is itself a graph, and the gradient
of ⟨∇f, v⟩ is H·v (the Hessian is symmetric, so vᵀH = (H·v)ᵀ). ``hessian``
does that once per element of x.

Every function here leaves the ``.grad`` of every node as it was, and
returns results outside any graph. Values are accepted wherever Tensors
are, and give Values back.
"""

import numpy as np

from .graph import node_or_refuse, run_backward, topological_order
from .mode import enable_grad
from .primitive import Primitive
from .tensor import numbers_of


def jvp(f, primals, tangents):
    """``(f(*primals), J·tangents)``, as ``torch.func.jvp``: how f's output moves along ``tangents``.

    ``primals`` is a Tensor or a Value, or a tuple of them (``f``'s
    arguments); ``tangents`` has one entry per primal, of its shape (an
    array or number will do). With x moving to primal + ε·tangent, the
    result is d f(x)/dε at ε = 0, computed in one forward pass (see the
    module's docstring). ``f`` may return a Tensor, a Value or a tuple of
    them; the tangent has the same structure. Both results are outside any
    graph.

    >>> from autodiff import Value, jvp
    >>> out, slope = jvp(lambda x, y: x * y + x.exp(), (Value(0.0), Value(2.0)), (1.0, 0.0))
    >>> out.data, slope.data      # d/dx (xy + eˣ) = y + eˣ
    (1.0, 3.0)
    """
    primals, _ = _as_tuple(primals)
    tangents, _ = _as_tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    leaves = [_fresh_leaf(p, "jvp", f"primal {i}") for i, p in enumerate(primals)]
    seeds = [leaf._as_tangent(t, f"jvp: tangent {i}") for i, (t, leaf) in enumerate(zip(tangents, leaves))]
    with enable_grad():
        result = f(*leaves)
    outputs, single = _as_tuple(result)
    for i, out in enumerate(outputs):
        node_or_refuse(out, f"jvp: f returned a {type(out).__name__} (output {i}); it must return Tensors or Values")
    tangent_of = dict(zip(leaves, seeds))
    for node in _forward_order(outputs):
        tangents = [tangent_of.get(child) for child in node.children]
        if any(t is not None for t in tangents):
            tangent = node._tangent(tangents)
            if tangent is not None:
                tangent_of[node] = tangent
    values = tuple(out.detach() for out in outputs)
    slopes = tuple(_as_result(tangent_of.get(out), out) for out in outputs)
    return (values[0], slopes[0]) if single else (values, slopes)


def hvp(f, x, v):
    """``(f(x), H·v)``: the Hessian of the scalar f at x times v, by the double-backward trick.

    ``x`` is a Tensor or a Value, or a tuple of them (``f``'s arguments,
    ``v`` then a tuple of the same shapes: H is then the Hessian in all of
    them together). ``f`` returns a Value or a one-element Tensor. H·v is
    the gradient of ⟨∇f(x), v⟩, with ∇f computed as a graph
    (``create_graph``): one forward pass and two backward passes.

    >>> from autodiff import Tensor, hvp
    >>> out, hv = hvp(lambda x: (x ** 3).sum(), Tensor([1.0, 2.0]), Tensor([1.0, 1.0]))
    >>> hv                            # H = diag(6x)
    Tensor([ 6., 12.])
    """
    xs, single = _as_tuple(x)
    vs, _ = _as_tuple(v)
    if len(xs) != len(vs):
        raise ValueError(f"hvp: {len(xs)} inputs but {len(vs)} vectors")
    leaves = [_fresh_leaf(x, "hvp", f"input {i}") for i, x in enumerate(xs)]
    directions = [leaf._as_tangent(v, f"hvp: vector {i}") for i, (v, leaf) in enumerate(zip(vs, leaves))]
    out, gradients = _gradient_graph(f, leaves, "hvp")
    pairs = [(gradient, direction) for gradient, direction in zip(gradients, directions)
             if gradient is not None and gradient._requires_grad]
    products = _gradients_of(_inner_product(pairs), None, leaves) if pairs else [None] * len(leaves)
    results = tuple(_as_result(p, leaf) for p, leaf in zip(products, leaves))
    return out.detach(), results[0] if single else results


def hessian(f, x):
    """The Hessian of the scalar f at x, d²f/dx_i dx_j, of shape ``x.shape + x.shape``.

    ``x`` is a Tensor (a Tensor returned) or a Value (a Value returned,
    f''(x)); ``f`` returns a Value or a one-element Tensor. Row i is the
    gradient of ∂f/∂x_i: the gradient of f computed once as a graph, then
    one backward pass through it per element of x.

    >>> from autodiff import Tensor, hessian
    >>> hessian(lambda x: x[0] ** 2 * x[1], Tensor([3.0, 5.0]))
    Tensor([[10.,  6.],
            [ 6.,  0.]])
    """
    if isinstance(x, (tuple, list)):
        raise TypeError("hessian takes one Tensor or Value; for several, stack them into one Tensor")
    leaf = _fresh_leaf(x, "hessian", "x")
    _, (gradient,) = _gradient_graph(f, [leaf], "hessian")
    numbers = numbers_of(leaf)  # a Value's number as a 0-d array: its Hessian is 1x1, reshaped to ()
    shape, size = numbers.shape, numbers.size
    rows = np.zeros((size, size), dtype=numbers.dtype)
    for k in range(size):
        basis = np.zeros(size, dtype=numbers.dtype)
        basis[k] = 1
        (row,) = _gradients_of(gradient, basis.reshape(shape), [leaf])
        if row is not None:
            rows[k] = np.reshape(row, -1)
    return leaf._new_leaf(rows.reshape(shape + shape))


# -- the forward sweep ----------------------------------------------------------------------


def _forward_order(outputs):
    """The non-leaf nodes below ``outputs``, each after all of its children, each once."""
    order, placed = [], set()
    for out in outputs:
        for node in topological_order(out):
            if node not in placed:
                placed.add(node)
                order.append(node)
    return order


# -- second derivatives ---------------------------------------------------------------------------


def _gradient_graph(f, leaves, name):
    """f(*leaves) and its gradient in each leaf as a graph (``create_graph``), None where f does not depend on it."""
    with enable_grad():
        out = f(*leaves)
        returned = type(out).__name__
        node_or_refuse(out, f"{name}: f returned a {returned}; it must return a Value or a one-element Tensor")
        if np.size(out.data) != 1:
            raise ValueError(f"{name}: f must return one number, it returned a Tensor of shape {out.shape}")
        if not out._requires_grad:
            return out, [None] * len(leaves)
        totals = run_backward(out, out._backward_seed(None, True), create_graph=True, store=False)
    return out, [totals.get(leaf) for leaf in leaves]


def _inner_product(pairs):
    """Σᵢ ⟨gradientᵢ, directionᵢ⟩ as one node: d/d gradientᵢ = directionᵢ.

    One node rather than a product, a sum and an addition per input, so the backward pass through
    it does three times fewer steps here.
    """
    gradients = tuple(gradient for gradient, _ in pairs)
    with enable_grad():
        return type(gradients[0]).apply_primitive(INNER_PRODUCT, gradients, {"directions": tuple(d for _, d in pairs)})


INNER_PRODUCT = Primitive(
    "<·,v>", lambda xp, *gradients, directions: sum(xp.vdot(g, d) for g, d in zip(gradients, directions)),
    vjp_each=lambda xp, g, out, *gradients, directions, position: g * directions[position],
    linear=True, reads=0, doc="Σᵢ ⟨gradientᵢ, directionᵢ⟩;  d/d gradientᵢ = directionᵢ · g.",
)


def _gradients_of(gradient, seed, leaves):
    """The gradient of ⟨gradient, seed⟩ in each leaf: an array or number, or None where it is 0."""
    if gradient is None or not gradient._requires_grad:
        return [None] * len(leaves)
    totals = run_backward(gradient, gradient._backward_seed(seed, False), store=False)
    return [totals.get(leaf) for leaf in leaves]


# -- inputs and results ---------------------------------------------------------------------------


def _as_tuple(items):
    """``items`` as a tuple, and whether it was a single node."""
    if isinstance(items, (tuple, list)):
        return tuple(items), False
    return (items,), True


def _fresh_leaf(primal, name, what):
    """A new leaf holding ``primal``'s value, whose graph the engine records (and no one else holds)."""
    node_or_refuse(primal, f"{name}: {what} is a {type(primal).__name__}; pass Tensors or Values")
    return primal._new_leaf(primal.data, requires_grad=True)


def _as_result(tangent, like):
    """A tangent or second derivative as a new leaf like ``like`` (its shape and dtype), 0 where None."""
    numbers = np.zeros_like(like.data) if tangent is None else tangent
    return like._new_leaf(np.reshape(numbers, np.shape(like.data)))
