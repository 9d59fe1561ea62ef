"""A scalar that remembers how it was computed: micrograd's ``Value``.

Every operation below does two things side by side:

1. the forward pass: compute the result from the inputs' ``data``;
2. the local derivative (the *slope*): how much the result moves when each
   input moves by a little, d(out)/d(input).

``backward()`` then walks the graph from the output to the inputs and
applies the chain rule at every node:

    input.grad += d(out)/d(input) * out.grad

Each slope is written once, as a small function of the output and the
inputs, ``lambda m, out, a, b: (b, a)`` for a product. The forward pass
calls it on the numbers (``m`` is ``operators``, functions on floats) and
keeps the results as plain numbers: backward needs no closure that refers
back to the node, so a graph is freed the moment nothing refers to its
output, and changing a leaf's ``data`` after the forward pass cannot change
the gradients of that pass. ``backward(create_graph=True)`` calls the same
function on the nodes themselves (``m`` is ``VALUE_MATH``), so the
gradients it computes are Values that can be differentiated again.
"""

import math
from numbers import Real

from . import operators
from .graph import BackwardError, Node, run_backward
from .mode import grad_mode


class Value(Node):
    """A scalar node of a computation graph.

    ``data`` is the number, ``grad`` is d(output)/d(this) after
    ``output.backward()``, ``children`` are the Values this one was computed
    from, in order, and ``op`` names the operation ("" for a leaf).

    ``Value(data, _children=(), _op="", label="")`` has micrograd's
    signature, so micrograd's notebooks run unchanged. A Value built by hand
    with children has no local derivatives: it can be drawn, and backward
    through it raises ``BackwardError`` naming it.

    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> out = a * b + a
    >>> out.backward()
    >>> a.grad, b.grad
    (-2.0, 2.0)
    """

    __slots__ = ("data", "grad", "label", "op", "children", "local_grads", "_slopes", "__weakref__")
    _fresh = False  # gradients are numbers: nothing to own

    def __init__(self, data, _children=(), _op="", label=""):
        if type(data) is not float:
            if isinstance(data, Node):
                raise TypeError(f"Values and Tensors do not mix: got {data!r}; use Tensors throughout")
            if not isinstance(data, Real):
                raise TypeError(f"Value holds a real number, got {type(data).__name__} {data!r}")
            data = float(data)
        if isinstance(_children, str):
            raise TypeError(
                f"Value's second argument is _children, as in micrograd, not a label: write Value({data!r}, label={_children!r})"
            )
        self.data = data
        self.grad = 0.0
        self.label = label
        self.op = _op
        self.children = tuple(_children)
        # by hand, with children: no local derivatives to apply (None), as opposed to a leaf's ()
        self.local_grads = None if self.children else ()
        self._slopes = None

    @property
    def _prev(self):
        """The set of children, micrograd's name for them (read-only)."""
        return set(self.children)

    @property
    def _op(self):
        """The operation's name, micrograd's name for ``op`` (read-only)."""
        return self.op

    @staticmethod
    def _record(data, op, children, slopes):
        """A new node ``op(*children) = data`` whose local derivatives are ``slopes(m, out, *inputs)``."""
        out = Value.__new__(Value)
        out.data = data
        out.grad = 0.0
        out.label = ""
        if grad_mode.enabled:
            out.op = op
            out.children = children
            out.local_grads = slopes(operators, data, *[child.data for child in children])
            out._slopes = slopes
        else:
            out.op = ""
            out.children = ()
            out.local_grads = ()
            out._slopes = None
        return out

    @staticmethod
    def _result(data, op, children, local_grads):
        """A new node ``op(*children) = data`` with the numbers d(data)/d(children[i]) = local_grads[i].

        For operations whose slopes are known only as numbers: such a node
        has first derivatives but refuses ``create_graph``.
        """
        out = Value._record(data, op, children, _no_slopes)
        if out.children:
            out.local_grads = tuple(local_grads)
            out._slopes = None
        return out

    # -- arithmetic ------------------------------------------------------

    def __add__(self, other):
        other = as_value(other)
        # out = a + b:  dout/da = 1,  dout/db = 1
        return Value._record(self.data + other.data, "+", (self, other), lambda m, out, a, b: (1.0, 1.0))

    def __sub__(self, other):
        other = as_value(other)
        # out = a - b:  dout/da = 1,  dout/db = -1
        return Value._record(self.data - other.data, "-", (self, other), lambda m, out, a, b: (1.0, -1.0))

    def __mul__(self, other):
        other = as_value(other)
        # out = a * b:  dout/da = b,  dout/db = a
        return Value._record(self.data * other.data, "*", (self, other), lambda m, out, a, b: (b, a))

    def __truediv__(self, other):
        other = as_value(other)
        # out = a / b:  dout/da = 1 / b,  dout/db = -a / b**2
        return Value._record(
            operators.divide(self.data, other.data), "/", (self, other),
            lambda m, out, a, b: (m.divide(1.0, b), m.divide(-a, b * b)),
        )

    def __pow__(self, other):
        if not isinstance(other, Value):
            if not isinstance(other, Real):
                return NotImplemented
            n = float(other)
            # out = a ** n, n a constant:  dout/da = n * a ** (n - 1)
            return Value._record(
                operators.power(self.data, n), f"**{other:g}", (self,),
                lambda m, out, a: (n * m.power(a, n - 1) if n != 0 else 0.0,),
            )
        # out = a ** b:  dout/da = b * a ** (b - 1),  dout/db = a ** b * ln(a)
        # (ln 0 is -inf, but 0 ** b does not move with b >= 0: slope 0, as PyTorch has it)
        return Value._record(
            operators.power(self.data, other.data), "**", (self, other),
            lambda m, out, a, b: (
                b * m.power(a, b - 1) if m.number(b) != 0 else 0.0,
                0.0 if m.number(a) == 0 and m.number(b) >= 0 else out * m.log(a),
            ),
        )

    @staticmethod
    def linear(weights, inputs, bias):
        """w1·x1 + ... + wn·xn + b, the weighted sum a neuron computes, as one node."""
        weights = [as_value(w) for w in weights]
        inputs = [as_value(x) for x in inputs]
        bias = as_value(bias)
        if len(weights) != len(inputs):
            raise ValueError(f"{len(weights)} weights for {len(inputs)} inputs")
        n = len(weights)
        total = bias.data + sum(w.data * x.data for w, x in zip(weights, inputs))
        # out = Σ wi·xi + b:  dout/dwi = xi,  dout/dxi = wi,  dout/db = 1
        return Value._record(
            total, "w·x+b", (*weights, *inputs, bias),
            lambda m, out, *wxb: (*wxb[n:2 * n], *wxb[:n], 1.0),
        )

    @staticmethod
    def sum(values):
        """v1 + v2 + ... + vn as one node (Python's ``sum`` would make a chain of n - 1 additions)."""
        values = tuple([as_value(v) for v in values])
        total = sum(v.data for v in values)
        # out = v1 + ... + vn:  dout/dvi = 1 for every i
        return Value._record(total, "sum", values, lambda m, out, *vs: (1.0,) * len(vs))

    def __neg__(self):
        # out = -a:  dout/da = -1
        return Value._record(-self.data, "neg", (self,), lambda m, out, a: (-1.0,))

    def __radd__(self, other):
        return as_value(other) + self

    def __rsub__(self, other):
        return as_value(other) - self

    def __rmul__(self, other):
        return as_value(other) * self

    def __rtruediv__(self, other):
        return as_value(other) / self

    def __rpow__(self, other):
        return as_value(other) ** self

    # -- functions -------------------------------------------------------

    def exp(self):
        """e**a;  d/da = e**a.

        >>> x = Value(1.0); y = x.exp(); y.backward()
        >>> round(y.data, 4), round(x.grad, 4)
        (2.7183, 2.7183)
        """
        return Value._record(operators.exp(self.data), "exp", (self,), lambda m, out, a: (out,))

    def log(self):
        """ln a;  d/da = 1 / a (ln of a negative number is nan, as in PyTorch).

        >>> x = Value(2.0); y = x.log(); y.backward()
        >>> round(y.data, 4), x.grad
        (0.6931, 0.5)
        """
        return Value._record(operators.log(self.data), "log", (self,), lambda m, out, a: (m.divide(1.0, a),))

    def tanh(self):
        """tanh a;  d/da = 1 - tanh(a)**2.

        >>> x = Value(0.5); y = x.tanh(); y.backward()
        >>> round(y.data, 4), round(x.grad, 4)
        (0.4621, 0.7864)
        """
        return Value._record(math.tanh(self.data), "tanh", (self,), lambda m, out, a: (1.0 - out * out,))

    def relu(self):
        """max(0, a);  d/da = 1 where a > 0, else 0 (nan stays nan, as in PyTorch).

        The node's op is ``'ReLU'``, as micrograd names it.

        >>> x, z = Value(3.0), Value(-2.0)
        >>> (x.relu() + z.relu()).backward()
        >>> x.grad, z.grad, x.relu().op
        (1.0, 0.0, 'ReLU')
        """
        a = self.data
        return Value._record(0.0 if a <= 0 else a, "ReLU", (self,), lambda m, out, a: (m.step(a),))

    def abs(self):
        """|a|;  d/da = sign(a), 0 at a = 0 (and at nan), as in PyTorch. ``abs(x)`` calls it.

        >>> x = Value(-2.0); y = abs(x); y.backward()
        >>> y.data, x.grad
        (2.0, -1.0)
        """
        return Value._record(abs(self.data), "abs", (self,), lambda m, out, a: (m.sign(a),))

    __abs__ = abs

    def sin(self):
        """sin a;  d/da = cos a (nan at ±inf, as in PyTorch).

        >>> x = Value(0.0); y = x.sin(); y.backward()
        >>> y.data, x.grad
        (0.0, 1.0)
        """
        return Value._record(operators.sin(self.data), "sin", (self,), lambda m, out, a: (m.cos(a),))

    def cos(self):
        """cos a;  d/da = -sin a (nan at ±inf, as in PyTorch).

        >>> x = Value(0.0); y = x.cos(); y.backward()
        >>> y.data, x.grad
        (1.0, -0.0)
        """
        return Value._record(operators.cos(self.data), "cos", (self,), lambda m, out, a: (-m.sin(a),))

    def sigmoid(self):
        """σ(a) = 1 / (1 + e**-a);  d/da = σ(a)(1 - σ(a)).

        >>> x = Value(0.0); y = x.sigmoid(); y.backward()
        >>> y.data, x.grad
        (0.5, 0.25)
        """
        return Value._record(operators.sigmoid(self.data), "sigmoid", (self,), lambda m, out, a: (out * (1.0 - out),))

    # -- gradients -------------------------------------------------------

    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Set ``grad`` of every node below this one to d(self)/d(node).

        Leaves add to what they held before; users reset them (``zero_grad``).
        With ``create_graph`` the gradients are Values, nodes of a new graph
        that can be differentiated again. ``retain_graph`` is accepted for
        PyTorch's sake and changes nothing: backward never frees a graph.

        >>> a, b = Value(2.0), Value(-3.0)
        >>> (a * b + a).backward()  # d/da = b + 1, d/db = a
        >>> a.grad, b.grad
        (-2.0, 2.0)
        """
        run_backward(self, self._backward_seed(grad, create_graph), create_graph=create_graph)

    def _backward_seed(self, grad, create_graph):
        if create_graph and isinstance(grad, Value):
            return grad  # a seed that is itself a node stays one: the gradients are differentiable in it too
        seed = 1.0 if grad is None else float(grad.data if isinstance(grad, Value) else grad)
        return Value(seed) if create_graph else seed

    def _pullback(self, g, create_graph):
        local_grads = self.local_grads
        if local_grads is None:
            raise BackwardError(
                f"{self!r} was built by hand from its children, so it has no local derivatives to apply; "
                "compute it with Value's operations instead"
            )
        if create_graph:
            if self._slopes is None:
                raise NotImplementedError(f"{self.op!r} has first derivatives only: it cannot be part of create_graph")
            local_grads = self._slopes(VALUE_MATH, self, *self.children)
        # d(out)/d(child) = d(out)/d(self) * d(self)/d(child)
        return [local_grad * g for local_grad in local_grads]

    def _store_grad(self, g, owned, accumulate):
        if accumulate and not (type(self.grad) is float and self.grad == 0.0):
            self.grad = self.grad + g
        else:
            self.grad = g

    def _repr_html_(self):
        from .viz.html import value_html  # viz needs this module: imported when Jupyter asks

        return value_html(self)

    def __repr__(self):
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        grad = self.grad.data if isinstance(self.grad, Value) else self.grad
        return f"Value(data={self.data:.6g}, grad={grad:.6g}{label}{op})"


def _no_slopes(m, out, *inputs):
    return ()


class _ValueMath:
    """``operators``' functions on Values: slopes computed with them are graphs (``create_graph``)."""

    @staticmethod
    def divide(a, b):
        return a / b

    @staticmethod
    def power(a, b):
        return a ** b

    @staticmethod
    def log(a):
        return a.log()

    @staticmethod
    def number(a):
        return a.data if isinstance(a, Value) else a

    @staticmethod
    def step(a):
        return operators.step(a.data)

    @staticmethod
    def sign(a):
        return operators.sign(a.data)

    @staticmethod
    def sin(a):
        return a.sin()

    @staticmethod
    def cos(a):
        return a.cos()


VALUE_MATH = _ValueMath()


def as_value(x):
    """``x`` itself if it is a Value, else a new constant leaf holding ``x``."""
    return x if isinstance(x, Value) else Value(x)
