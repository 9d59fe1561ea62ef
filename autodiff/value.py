"""A scalar that remembers how it was computed: micrograd's ``Value``.

Every operation below does two things side by side:

1. the forward pass: compute the result from the inputs' ``data``;
2. the local derivative: how much the result moves when each input moves
   by a little, d(out)/d(input), evaluated at these inputs.

``backward()`` then walks the graph from the output to the inputs and
applies the chain rule at every node:

    input.grad += d(out)/d(input) * out.grad

Storing the local derivatives as plain numbers (rather than a closure
that refers back to ``out``) keeps each node free of reference cycles, so
a graph is freed the moment nothing refers to its output any more.
"""

import math
from numbers import Real

from . import operators
from .graph import backward, grad_mode


class Value:
    """A scalar node of a computation graph.

    ``data`` is the number, ``grad`` is d(output)/d(this) after
    ``output.backward()``, ``children`` are the Values this one was computed
    from, in order, and ``op`` names the operation ("" for a leaf).
    """

    __slots__ = ("data", "grad", "label", "op", "children", "local_grads", "__weakref__")
    _EMPTY_GRAD = 0.0

    def __init__(self, data, label=""):
        if type(data) is not float:
            if not isinstance(data, Real):
                raise TypeError(f"Value holds a real number, got {type(data).__name__} {data!r}")
            data = float(data)
        self.data = data
        self.grad = 0.0
        self.label = label
        self.op = ""
        self.children = ()
        self.local_grads = ()

    @staticmethod
    def _result(data, op, children, local_grads):
        """A new node ``op(*children) = data`` with d(data)/d(children[i]) = local_grads[i]."""
        out = Value.__new__(Value)
        out.data = data
        out.grad = 0.0
        out.label = ""
        if grad_mode.enabled:
            out.op = op
            out.children = children
            out.local_grads = local_grads
        else:
            out.op = ""
            out.children = ()
            out.local_grads = ()
        return out

    # -- arithmetic ------------------------------------------------------

    def __add__(self, other):
        other = as_value(other)
        # out = a + b:  dout/da = 1,  dout/db = 1
        return Value._result(self.data + other.data, "+", (self, other), (1.0, 1.0))

    def __sub__(self, other):
        other = as_value(other)
        # out = a - b:  dout/da = 1,  dout/db = -1
        return Value._result(self.data - other.data, "-", (self, other), (1.0, -1.0))

    def __mul__(self, other):
        other = as_value(other)
        # out = a * b:  dout/da = b,  dout/db = a
        return Value._result(self.data * other.data, "*", (self, other), (other.data, self.data))

    def __truediv__(self, other):
        other = as_value(other)
        a, b = self.data, other.data
        # out = a / b:  dout/da = 1 / b,  dout/db = -a / b**2
        return Value._result(
            operators.divide(a, b), "/", (self, other),
            (operators.divide(1.0, b), operators.divide(-a, b * b)),
        )

    def __pow__(self, other):
        if not isinstance(other, Value):
            if not isinstance(other, Real):
                return NotImplemented
            # out = a ** n, n a constant:  dout/da = n * a ** (n - 1)
            n = float(other)
            slope = n * operators.power(self.data, n - 1) if n != 0 else 0.0
            return Value._result(operators.power(self.data, n), f"**{other:g}", (self,), (slope,))
        a, b = self.data, other.data
        out = operators.power(a, b)
        # out = a ** b:  dout/da = b * a ** (b - 1),  dout/db = a ** b * ln(a)
        # (ln 0 is -inf, but 0 ** b does not move with b >= 0: slope 0, as PyTorch has it)
        slope_a = b * operators.power(a, b - 1) if b != 0 else 0.0
        slope_b = 0.0 if a == 0 and b >= 0 else out * operators.log(a)
        return Value._result(out, "**", (self, other), (slope_a, slope_b))

    @staticmethod
    def linear(weights, inputs, bias):
        """w1·x1 + ... + wn·xn + b, the weighted sum a neuron computes, as one node."""
        weights = [w if isinstance(w, Value) else Value(w) for w in weights]
        inputs = [x if isinstance(x, Value) else Value(x) for x in inputs]
        bias = as_value(bias)
        if len(weights) != len(inputs):
            raise ValueError(f"{len(weights)} weights for {len(inputs)} inputs")
        total = bias.data + sum(w.data * x.data for w, x in zip(weights, inputs))
        # out = Σ wi·xi + b:  dout/dwi = xi,  dout/dxi = wi,  dout/db = 1
        return Value._result(
            total, "w·x+b", (*weights, *inputs, bias),
            (*[x.data for x in inputs], *[w.data for w in weights], 1.0),
        )

    @staticmethod
    def sum(values):
        """v1 + v2 + ... + vn as one node (Python's ``sum`` would make a chain of n - 1 additions)."""
        values = tuple(v if isinstance(v, Value) else Value(v) for v in values)
        total = sum(v.data for v in values)
        # out = v1 + ... + vn:  dout/dvi = 1 for every i
        return Value._result(total, "sum", values, (1.0,) * len(values))

    def __neg__(self):
        # out = -a:  dout/da = -1
        return Value._result(-self.data, "neg", (self,), (-1.0,))

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
        e = operators.exp(self.data)
        # out = e ** a:  dout/da = e ** a
        return Value._result(e, "exp", (self,), (e,))

    def log(self):
        a = self.data
        # out = ln a:  dout/da = 1 / a  (ln of a negative number is nan, as in PyTorch)
        return Value._result(operators.log(a), "log", (self,), (operators.divide(1.0, a),))

    def tanh(self):
        t = math.tanh(self.data)
        # out = tanh a:  dout/da = 1 - tanh(a) ** 2
        return Value._result(t, "tanh", (self,), (1.0 - t * t,))

    def relu(self):
        positive = self.data > 0
        # out = max(0, a):  dout/da = 1 where a > 0, else 0
        return Value._result(self.data if positive else 0.0, "relu", (self,), (1.0 if positive else 0.0,))

    def sigmoid(self):
        s = operators.sigmoid(self.data)
        # out = 1 / (1 + e ** -a):  dout/da = out * (1 - out)
        return Value._result(s, "sigmoid", (self,), (s * (1.0 - s),))

    # -- gradients -------------------------------------------------------

    def backward(self):
        """Set ``grad`` of every node below this one to d(self)/d(node).

        Leaves add to what they held before; users reset them (``zero_grad``).
        """
        backward(self, 1.0)

    def _accumulate(self, grad):
        self.grad += grad

    @staticmethod
    def _chain_rule(nodes):
        for node in nodes:
            # d(out)/d(child) = d(out)/d(node) * d(node)/d(child)
            grad = node.grad
            for child, local_grad in zip(node.children, node.local_grads):
                child.grad += local_grad * grad

    def __repr__(self):
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{label}{op})"


def as_value(x):
    """``x`` itself if it is a Value, else a new constant leaf holding ``x``."""
    return x if isinstance(x, Value) else Value(x)
