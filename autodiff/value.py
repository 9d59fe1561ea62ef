"""A scalar that remembers how it was computed: micrograd's ``Value``.

Every operation does two things side by side (``autodiff.primitives`` has
them, written once for this engine and for the tensor engine):

1. the forward pass: compute the result from the inputs' ``data``;
2. for each input, the chain rule: given g = d(root)/d(out), the share
   d(root)/d(input) = d(out)/d(input) · g, the *local derivative* times g.

``backward()`` walks the graph from the output to the inputs and applies
the chain rule at every node:

    input.grad += d(out)/d(input) * out.grad

A node keeps the numbers its inputs held in the forward pass (not the
inputs' current ``data``): changing a leaf's ``data`` after the forward
pass (a weight update) cannot change the gradients of that pass, and
backward needs no closure that refers back to the node, so a graph is
freed the moment nothing refers to its output. The rules run on those
floats with ``xp = operators``; ``backward(create_graph=True)`` runs the
same rules on the nodes themselves (``xp = VALUE_MATH``), so the gradients
it computes are Values that can be differentiated again.
"""

from numbers import Real

import numpy as np

from . import numpy_ops, operators
from .graph import BackwardError, Node, run_backward
from .mode import grad_mode
from .symbolic import NUMBERS, leaf
from .recording import check_conversion, check_outside_recording, check_without_graph
from .primitives import (
    ABS, ADD, COS, DIV, EXP, LOG, MUL, NEG, POW, POWER, RELU, SIGMOID, SIN, SQRT, SUB, TANH, VALUE_LINEAR, VALUE_SUM,
    NAMED, ElementwiseMethods,
)


class Value(Node, ElementwiseMethods):
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

    __slots__ = ("data", "grad", "label", "op", "children", "_definition", "_inputs", "_params", "__weakref__")
    _fresh = False  # gradients are numbers: nothing to own
    _requires_grad = True  # every Value takes part in backward
    _data_kind = "number"

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
        if grad_mode.recording is not None:
            grad_mode.recording.made_here(self)
        self.data = data
        self.grad = 0.0
        self.label = label
        self.op = _op
        self.children = tuple(_children)
        # by hand, with children: no definition, so backward refuses to pass through it
        self._definition = None
        self._inputs = ()
        self._params = None

    @property
    def _prev(self):
        """The set of children, micrograd's name for them (read-only)."""
        return set(self.children)

    @property
    def _op(self):
        """The operation's name, micrograd's name for ``op`` (read-only)."""
        return self.op

    @property
    def local_grads(self):
        """d(self)/d(child) for each child, at the numbers of the forward pass (() for a leaf)."""
        if not self.children:
            return ()
        self._definition_or_refuse()
        return tuple(self._shares(1.0))

    @staticmethod
    def _apply(definition, inputs, params=None):
        """The primitive ``definition`` applied to the Values ``inputs`` with the settings ``params``: a new node."""
        numbers = tuple([x.data for x in inputs])
        try:
            data = definition.forward(operators, *numbers, **params) if params else definition.forward(operators, *numbers)
        except ArithmeticError:
            with np.errstate(all="ignore"):
                data = definition.forward(numpy_ops, *_ieee(numbers), **(params or {}))
        return Value._node(data, definition, inputs, numbers, params)

    apply_primitive = _apply  # the public name: how an operation defined outside the engine makes its node

    @staticmethod
    def _apply2(definition, a, b):
        """``_apply`` of a primitive of two Values and no settings: arithmetic's own, shorter path."""
        x, y = a.data, b.data
        try:
            data = definition.forward(operators, x, y)
        except ArithmeticError:
            with np.errstate(all="ignore"):
                data = definition.forward(numpy_ops, np.float64(x), np.float64(y))
        return Value._node(data, definition, (a, b), (x, y), None)

    @staticmethod
    def _record_function(result, definition, inputs, params):
        """The Value a ``Function``'s forward returned, as the node of ``definition`` applied to ``inputs``."""
        return Value._node(result.data, definition, inputs, tuple([x.data for x in inputs]), params)

    @staticmethod
    def _node(data, definition, inputs, numbers, params):
        """A new node ``definition(*inputs) = data`` that keeps the inputs' ``numbers`` for its backward."""
        out = Value.__new__(Value)
        out.data = data if type(data) is float else float(data)
        out.grad = 0.0
        out.label = ""
        if grad_mode.enabled:
            if grad_mode.recording is not None:
                grad_mode.recording.made_here(out)
            out.op = definition.name if definition.display is None else definition.display(params)
            out.children = inputs
            out._definition = definition
            out._inputs = numbers
            out._params = params
        else:
            out.op = ""
            out.children = ()
            out._definition = None
            out._inputs = ()
            out._params = None
            if grad_mode.recording is not None:
                check_without_graph(out, inputs)
        return out

    @staticmethod
    def _coerce_all(inputs):
        """``inputs`` as Values: numbers become constant leaves."""
        return tuple([as_value(x) for x in inputs])

    # -- arithmetic ------------------------------------------------------

    def __add__(self, other):
        return Value._apply2(ADD, self, other if type(other) is Value else as_value(other))

    def __sub__(self, other):
        return Value._apply2(SUB, self, other if type(other) is Value else as_value(other))

    def __mul__(self, other):
        return Value._apply2(MUL, self, other if type(other) is Value else as_value(other))

    def __truediv__(self, other):
        return Value._apply2(DIV, self, other if type(other) is Value else as_value(other))

    def __pow__(self, other):
        if isinstance(other, Value):
            return Value._apply(POW, (self, other))
        if not isinstance(other, Real):
            return NotImplemented
        # a constant exponent is a setting of the operation, not an input: micrograd's "**2"
        return Value._apply(POWER, (self,), {"exponent": other})

    def __neg__(self):
        return Value._apply(NEG, (self,))

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

    def __abs__(self):
        return Value._apply(ABS, (self,))

    # comparisons read the numbers, as with PyTorch's 0-d tensors (== stays identity, as in micrograd)
    def __lt__(self, other):
        a, b = _compared(self, other)
        return a < b

    def __le__(self, other):
        a, b = _compared(self, other)
        return a <= b

    def __gt__(self, other):
        a, b = _compared(self, other)
        return a > b

    def __ge__(self, other):
        a, b = _compared(self, other)
        return a >= b

    @staticmethod
    def linear(weights, inputs, bias):
        """w1·x1 + ... + wn·xn + b, the weighted sum a neuron computes, as one node."""
        children = (*weights, *inputs, bias)
        if len(children) != 2 * len(weights) + 1:
            raise ValueError(f"{len(weights)} weights for {len(children) - len(weights) - 1} inputs")
        return Value._apply(VALUE_LINEAR, tuple([c if type(c) is Value else as_value(c) for c in children]))

    @staticmethod
    def sum(values):
        """v1 + v2 + ... + vn as one node (Python's ``sum`` would make a chain of n - 1 additions)."""
        return Value._apply(VALUE_SUM, tuple([as_value(v) for v in values]))

    # -- functions -------------------------------------------------------

    def exp(self):
        """e**a;  d/da = e**a.

        >>> x = Value(1.0); y = x.exp(); y.backward()
        >>> round(y.data, 4), round(x.grad, 4)
        (2.7183, 2.7183)
        """
        return Value._apply(EXP, (self,))

    def log(self):
        """ln a;  d/da = 1 / a (ln of a negative number is nan, as in PyTorch).

        >>> x = Value(2.0); y = x.log(); y.backward()
        >>> round(y.data, 4), x.grad
        (0.6931, 0.5)
        """
        return Value._apply(LOG, (self,))

    def sqrt(self):
        """√a;  d/da = 1 / (2√a).

        >>> x = Value(4.0); y = x.sqrt(); y.backward()
        >>> y.data, x.grad
        (2.0, 0.25)
        """
        return Value._apply(SQRT, (self,))

    def tanh(self):
        """tanh a;  d/da = 1 - tanh(a)**2.

        >>> x = Value(0.5); y = x.tanh(); y.backward()
        >>> round(y.data, 4), round(x.grad, 4)
        (0.4621, 0.7864)
        """
        return Value._apply(TANH, (self,))

    def relu(self):
        """max(0, a);  d/da = 1 where a > 0, else 0 (nan stays nan, as in PyTorch).

        The op is named ``'ReLU'``, as micrograd names it.

        >>> x, z = Value(3.0), Value(-2.0)
        >>> (x.relu() + z.relu()).backward()
        >>> x.grad, z.grad
        (1.0, 0.0)
        """
        return Value._apply(RELU, (self,))

    def sigmoid(self):
        """σ(a) = 1 / (1 + e**-a);  d/da = σ(a)(1 - σ(a)).

        >>> x = Value(0.0); y = x.sigmoid(); y.backward()
        >>> y.data, x.grad
        (0.5, 0.25)
        """
        return Value._apply(SIGMOID, (self,))

    def sin(self):
        """sin a;  d/da = cos a.

        >>> x = Value(0.0); y = x.sin(); y.backward()
        >>> y.data, x.grad
        (0.0, 1.0)
        """
        return Value._apply(SIN, (self,))

    def cos(self):
        """cos a;  d/da = -sin a.

        >>> x = Value(0.0); y = x.cos(); y.backward()
        >>> y.data, x.grad
        (1.0, -0.0)
        """
        return Value._apply(COS, (self,))

    def abs(self):
        """|a|;  d/da = sign(a), 0 at 0 as in PyTorch."""
        return Value._apply(ABS, (self,))

    # -- gradients -------------------------------------------------------

    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Set ``grad`` of every node below this one to d(self)/d(node).

        Leaves add to what they held before; users reset them (``zero_grad``).
        With ``create_graph`` the gradients are Values, nodes of a new graph
        that can be differentiated again. ``retain_graph`` is accepted for
        PyTorch's programs: a graph here is never freed by backward.

        >>> a, b = Value(2.0), Value(-3.0)
        >>> (a * b + a).backward()  # d/da = b + 1, d/db = a
        >>> a.grad, b.grad
        (-2.0, 2.0)
        """
        run_backward(self, self._backward_seed(grad, create_graph), create_graph=create_graph)

    def _backward(self):
        """One step of the chain rule by hand, as micrograd's lecture takes it: add this node's ``grad`` times
        d(self)/d(child) to each child's ``grad`` (nothing for a leaf).

        ``backward()`` takes these steps for every node, each after all the nodes that use it.

        >>> a, b = Value(2.0), Value(-3.0)
        >>> c = a * b
        >>> c.grad = 1.0
        >>> c._backward()       # dc/da = b, dc/db = a
        >>> a.grad, b.grad
        (-3.0, 2.0)
        """
        if grad_mode.recording is not None:
            check_outside_recording("_backward()")
        if not self.children:
            return
        self._definition_or_refuse()
        for child, share in zip(self.children, self._shares(self.grad)):
            child.grad += share

    def _backward_seed(self, grad, create_graph):
        if create_graph and isinstance(grad, Value):
            return grad  # a seed that is itself a node stays one: the gradients are differentiable in it too
        seed = 1.0 if grad is None else float(grad.data if isinstance(grad, Value) else grad)
        return Value(seed) if create_graph else seed

    def _definition_or_refuse(self):
        definition = self._definition
        if definition is None:
            raise BackwardError(
                f"{self!r} was built by hand from its children, so it has no local derivatives to apply; "
                "compute it with Value's operations instead, or write the operation as an autodiff.Function "
                "(its forward and its backward, as a micrograd _backward closure would be; python -m "
                "demos.your_own_op shows how)"
            )
        return definition

    def _shares(self, g):
        """The rules of this node's operation at g, on the numbers of the forward pass."""
        definition = self._definition
        numbers = self._inputs
        params = self._params
        try:
            rules = definition.vjps
            if rules is not None and not params:
                data = self.data
                return [rule(operators, g, data, *numbers) for rule in rules]
            return list(definition.shares(operators, g, self.data, numbers, params or {}, (True,) * len(numbers)))
        except ArithmeticError:
            with np.errstate(all="ignore"):
                g, data, *numbers = _ieee((g, self.data, *numbers))
                shares = definition.shares(numpy_ops, g, data, numbers, params or {}, (True,) * len(numbers))
            return [float(share) for share in shares]

    def _pullback(self, g, create_graph):
        definition = self._definition
        if definition is not None and not create_graph and self._params is None:
            rules = definition.vjps
            numbers = self._inputs
            try:
                if rules is not None:
                    data = self.data
                    # one or two inputs, as arithmetic has: called without a loop, the commonest case is the fastest
                    if len(rules) == 2:
                        a, b = numbers
                        return [rules[0](operators, g, data, a, b), rules[1](operators, g, data, a, b)]
                    if len(rules) == 1:
                        return [rules[0](operators, g, data, numbers[0])]
                    return [rule(operators, g, data, *numbers) for rule in rules]
                if definition.vjp_all is not None:
                    return definition.vjp_all(operators, g, self.data, *numbers, needs=_every(len(numbers)))
            except ArithmeticError:
                pass  # computed again below, in IEEE arithmetic
        if create_graph:
            definition = self._definition_or_refuse()
            if definition.once_differentiable:
                raise NotImplementedError(f"{self.op!r} has first derivatives only: it cannot be part of create_graph")
            children = self.children
            return list(definition.shares(VALUE_MATH, g, self, children, self._params or {}, (True,) * len(children)))
        if self._definition is None:
            self._definition_or_refuse()
        return self._shares(g)

    def _written_share(self, position, g, name_of):
        """The rule that sends input ``position`` its share of g, as an expression in the nodes' names.

        ``name_of(node)`` names a node; the expression's leaves are
        ``name.grad`` (g) and ``name.data`` (the numbers of the forward
        pass), and it carries its value: what a trace prints.
        """
        definition = self._definition_or_refuse()
        inputs = [leaf(f"{name_of(child)}.data", number) for child, number in zip(self.children, self._inputs)]
        rule = definition.rule(position, len(inputs))
        name = name_of(self)
        return rule(NUMBERS, leaf(f"{name}.grad", g), leaf(f"{name}.data", self.data), *inputs, **(self._params or {}))

    def _changed_since_forward(self):
        """Whether an input's ``data`` differs from the number this node's forward pass read (NaN equals NaN)."""
        return any(
            child.data != number and not (child.data != child.data and number != number)
            for child, number in zip(self.children, self._inputs)
        )

    def _tangent(self, tangents):
        """Forward mode: the tangent of this node from its inputs' ``tangents`` (None where an input has none)."""
        definition = self._definition_or_refuse()
        params = self._params or {}
        tangent = definition.tangent(operators, tangents, self.data, self._inputs, params, operators.zeros_like)
        if tangent is NotImplemented:
            # an operation on numbers has a 1x1 Jacobian per input: its rule applied to the tangent is J·t
            tangent = definition.sum_of_rules(operators, tangents, self.data, self._inputs, params)
        return tangent

    def _store_grad(self, g, owned, accumulate):
        if accumulate and not (type(self.grad) is float and self.grad == 0.0):
            self.grad = self.grad + g
        else:
            self.grad = g

    # -- what forward mode, gradcheck and nn ask of a node (see graph.Node) -

    def detach(self):
        """A new leaf holding this Value's number, outside any graph.

        >>> x = Value(2.0)
        >>> y = (x * 3).detach()
        >>> y.data, y.children
        (6.0, ())
        """
        if grad_mode.recording is not None:
            check_conversion(self, "detach()")  # a compiled program would keep this number as a constant
        return Value(self.data)

    def _new_leaf(self, numbers, requires_grad=False):
        """A new Value holding ``numbers`` (one number, or a Value's); every Value takes part in backward."""
        number = numbers.data if isinstance(numbers, Value) else numbers
        return Value(float(np.reshape(number, ())))

    @staticmethod
    def _as_tangent(t, what):
        """``t`` (a number or a Value) as a direction for a Value: a float; ``what`` names it in errors."""
        if isinstance(t, Value):
            return t.data
        if not isinstance(t, Real):
            raise TypeError(f"{what} is a {type(t).__name__}; a Value's direction is a number or a Value")
        return float(t)

    def _reset_grad(self, set_to_none=True):
        """Forget the gradient: 0.0, as micrograd's ``zero_grad`` leaves it (a Value's gradient is never None)."""
        if grad_mode.recording is not None:
            check_outside_recording("zero_grad()")
        self.grad = 0.0

    def _load_numbers(self, array):
        """Take the one number of ``array`` as ``data`` (its nodes keep the numbers they read: nothing to count)."""
        self.data = float(array)

    def _repr_html_(self):
        from .viz.html import value_html  # viz needs this module: imported when Jupyter asks

        return value_html(self)

    def __repr__(self):
        label = f", label={self.label!r}" if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        grad = self.grad.data if isinstance(self.grad, Value) else self.grad
        return f"Value(data={self.data:.6g}, grad={grad:.6g}{label}{op})"


_EVERY = {}


def _every(count):
    """``needs`` for ``count`` inputs of a Value: all of them need their gradient (one shared tuple per count)."""
    needs = _EVERY.get(count)
    if needs is None:
        needs = _EVERY[count] = (True,) * count
    return needs


def _ieee(numbers):
    """``numbers`` as numpy's float64 scalars, to compute again what Python's floats refused to.

    Python's float arithmetic raises where IEEE arithmetic has an answer
    (``1.0 / 0.0``, ``10.0 ** 400``); numpy's float64 follows IEEE, and
    agrees with Python's floats wherever Python does not raise.
    """
    return [np.float64(x) for x in numbers]


def _number(x):
    return x.data if isinstance(x, Value) else x


def _compared(a, b):
    """The two numbers a comparison reads (refused while recording, where they depend on the inputs)."""
    if grad_mode.recording is not None:
        check_conversion(a, "a comparison")
        if isinstance(b, Value):
            check_conversion(b, "a comparison")
    return a.data, _number(b)


class _ValueMath:
    """The functions of ``xp`` on Values: rules computed with them are graphs (``create_graph``)."""

    exp = staticmethod(lambda a: Value._apply(EXP, (a,)))
    log = staticmethod(lambda a: Value._apply(LOG, (a,)))
    sqrt = staticmethod(lambda a: Value._apply(SQRT, (a,)))
    tanh = staticmethod(lambda a: Value._apply(TANH, (a,)))
    sigmoid = staticmethod(lambda a: Value._apply(SIGMOID, (a,)))
    sin = staticmethod(lambda a: Value._apply(SIN, (a,)))
    cos = staticmethod(lambda a: Value._apply(COS, (a,)))
    abs = staticmethod(lambda a: Value._apply(ABS, (a,)))

    @staticmethod
    def power(a, b):
        return as_value(a) ** b

    @staticmethod
    def sign(a):
        return Value(operators.sign(_number(a)))  # constant: its derivative is 0 wherever it is defined

    @staticmethod
    def where(condition, a, b):
        return as_value(a if condition else b)

    @staticmethod
    def equal(a, b):
        return _number(a) == _number(b)

    @staticmethod
    def zeros_like(a):
        return Value(0.0)

    def __getattr__(self, name):
        primitive = NAMED.get(name)  # xp.sinh: a function ElementwiseMethods offers, applied to Values
        if primitive is None:
            raise AttributeError(f"the namespace of Values has no function {name!r}")
        return lambda *inputs: Value._apply(primitive, inputs)


VALUE_MATH = _ValueMath()


def as_value(x):
    """``x`` itself if it is a Value, else a new constant leaf holding ``x``."""
    kind = type(x)
    if (kind is float or kind is int) and grad_mode.recording is None:
        leaf = Value.__new__(Value)  # a number, as every operation with a number makes: Value(x) without its checks
        leaf.data, leaf.grad, leaf.label, leaf.op, leaf.children = float(x), 0.0, "", "", ()
        leaf._definition, leaf._inputs, leaf._params = None, (), None
        return leaf
    return x if isinstance(x, Value) else Value(x)
