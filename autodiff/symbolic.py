"""Expressions that write themselves as Python: a primitive's rules, read as text.

A rule of ``autodiff.primitives`` is a function of ``xp, g, out, *inputs``.
Called with ``Expression`` leaves for g, out and the inputs, and with one
of the namespaces here as ``xp``, it builds the expression tree of what it
computes instead of computing it:

    MUL's rule for a:   lambda xp, g, out, a, b: b * g    ->   w1.data * mul1.grad

Each leaf may carry the value it stands for; every expression built from
such leaves stands for a value too, computed when asked by the same
operations the engine runs (``numpy_ops`` or ``operators``), so a trace can
show the numbers beside the formula. An expression's ``shape``, ``ndim``
and ``dtype``, which rules read, are worked out without computing the
value where that is plain (arithmetic, matrix products, reductions,
reshapes): writing the program of a large model computes no matrix
product. The same tree written out with other names is
a line of the program ``autodiff.compile`` builds.

An expression refuses to be a Python bool, number or numpy array: a rule
that branches on the numbers, or hands them to numpy directly, cannot be
written out as one expression, and says so by ``NotWritable``.
"""

import math

import numpy as np

from . import numpy_ops, operators


class NotWritable(TypeError):
    """A rule needs the numbers themselves (a branch, a numpy call): it cannot be written as one expression."""


# how tightly each kind of expression binds, as in Python's grammar: higher binds tighter
_LOWEST, _CONDITIONAL, _COMPARE, _OR, _XOR, _AND, _ADD, _MULTIPLY, _UNARY, _POWER, _ATOM = range(11)
_BINARY = {
    "+": (_ADD, "add"), "-": (_ADD, "sub"), "*": (_MULTIPLY, "mul"), "/": (_MULTIPLY, "truediv"),
    "@": (_MULTIPLY, "matmul"), "**": (_POWER, "pow"), "&": (_AND, "and_"), "|": (_OR, "or_"), "^": (_XOR, "xor"),
    "<": (_COMPARE, "lt"), "<=": (_COMPARE, "le"), ">": (_COMPARE, "gt"), ">=": (_COMPARE, "ge"),
    "==": (_COMPARE, "eq"), "!=": (_COMPARE, "ne"),
}


class Expression:
    """A node of an expression tree: ``kind`` and its ``parts``, and the ``value`` it stands for (None: none).

    ``compute`` gives the value from the parts' values, when first asked.
    """

    __slots__ = ("kind", "parts", "_value", "_compute", "_form")

    def __init__(self, kind, parts, value=None, compute=None):
        self.kind, self.parts, self._value, self._compute, self._form = kind, parts, value, compute, None

    @property
    def value(self):
        if self._compute is not None:
            self._value = _computed(self._compute, [_value_of(part) for part in self.parts])
            self._compute = None
        return self._value

    # -- what a rule may read: the shape of what the expression stands for --------------------------

    @property
    def shape(self):
        return self._shape_and_dtype()[0]

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def dtype(self):
        return self._shape_and_dtype()[1]

    def __len__(self):
        return self.shape[0]

    def _shape_and_dtype(self):
        if self._form is None:
            self._form = _form_of(self) or _form_of_value(self._known())
        return self._form

    def _known(self):
        value = self.value
        if value is None:
            raise NotWritable("this expression stands for no value: its shape is unknown")
        return value

    # -- refusals: the numbers themselves are not available to a written rule ------------------------

    def __bool__(self):
        raise NotWritable("a rule that branches on the numbers cannot be written as one expression")

    def __float__(self):
        raise NotWritable("a rule that converts the numbers to a float cannot be written as one expression")

    __int__ = __index__ = __complex__ = __float__

    def __iter__(self):
        raise NotWritable("a rule that iterates over the numbers cannot be written as one expression")

    def __array__(self, *args, **kwargs):
        raise NotWritable("a rule that hands the numbers to numpy directly cannot be written as one expression")

    def __array_function__(self, func, types, args, kwargs):
        raise NotWritable(f"a rule that calls numpy's {func.__name__} directly cannot be written as one expression")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """A numpy ufunc applied to expressions (``np.exp(a)``, ``array * a``) is an expression too."""
        if method != "__call__" or "out" in kwargs or getattr(np, ufunc.__name__, None) is not ufunc:
            raise NotWritable(f"numpy's {ufunc.__name__}.{method} cannot be written as one expression")
        symbol = _UFUNC_OPERATORS.get(ufunc.__name__)
        if symbol is not None and len(inputs) == 2 and not kwargs:
            return _operation(("binary", symbol), inputs, _BINARY_FUNCTIONS[symbol])
        return _call_writer(f"np.{ufunc.__name__}", ufunc)(*inputs, **kwargs)

    __hash__ = object.__hash__

    # -- operators --------------------------------------------------------------------------------

    def _binary(self, symbol, other, reflected=False):
        left, right = (other, self) if reflected else (self, other)
        return _operation(("binary", symbol), (left, right), _BINARY_FUNCTIONS[symbol])

    def __add__(self, other): return self._binary("+", other)
    def __radd__(self, other): return self._binary("+", other, True)
    def __sub__(self, other): return self._binary("-", other)
    def __rsub__(self, other): return self._binary("-", other, True)
    def __mul__(self, other): return self._binary("*", other)
    def __rmul__(self, other): return self._binary("*", other, True)
    def __truediv__(self, other): return self._binary("/", other)
    def __rtruediv__(self, other): return self._binary("/", other, True)
    def __matmul__(self, other): return self._binary("@", other)
    def __rmatmul__(self, other): return self._binary("@", other, True)
    def __pow__(self, other): return self._binary("**", other)
    def __rpow__(self, other): return self._binary("**", other, True)
    def __and__(self, other): return self._binary("&", other)
    def __rand__(self, other): return self._binary("&", other, True)
    def __or__(self, other): return self._binary("|", other)
    def __ror__(self, other): return self._binary("|", other, True)
    def __lt__(self, other): return self._binary("<", other)
    def __le__(self, other): return self._binary("<=", other)
    def __gt__(self, other): return self._binary(">", other)
    def __ge__(self, other): return self._binary(">=", other)
    def __eq__(self, other): return self._binary("==", other)
    def __ne__(self, other): return self._binary("!=", other)

    def _in_place(self, symbol, other):
        """``self op= other``: an expression of its own, which a program writes as a statement (``out += b``)."""
        return _operation(("in place", symbol), (self, other), _BINARY_FUNCTIONS[symbol])

    def __iadd__(self, other): return self._in_place("+", other)
    def __isub__(self, other): return self._in_place("-", other)
    def __imul__(self, other): return self._in_place("*", other)
    def __itruediv__(self, other): return self._in_place("/", other)

    def __neg__(self):
        return _operation(("unary", "-"), (self,), lambda a: -a)

    def __invert__(self):
        return _operation(("unary", "~"), (self,), lambda a: ~a)

    def __getitem__(self, index):
        return _operation(("index",), (self, index), lambda a, i: a[i])

    @property
    def T(self):
        return _operation(("attribute", "T"), (self,), lambda a: a.T)

    def _method(self, name, *args, **kwargs):
        return _operation(("method", name, tuple(kwargs)), (self, *args, *kwargs.values()),
                          lambda a, *rest: getattr(a, name)(*rest[:len(args)], **dict(zip(kwargs, rest[len(args):]))))

    def reshape(self, *shape):
        return self._method("reshape", *shape)

    def transpose(self, *axes):
        return self._method("transpose", *axes)

    def sum(self, *args, **kwargs):
        return self._method("sum", *args, **kwargs)

    def max(self, *args, **kwargs):
        return self._method("max", *args, **kwargs)

    def astype(self, *args, **kwargs):
        return self._method("astype", *args, **kwargs)

    def copy(self):
        return self._method("copy")

    def __repr__(self):
        return f"Expression({write(self)!r})"


_BINARY_FUNCTIONS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "@": lambda a, b: a @ b, "**": lambda a, b: a ** b, "&": lambda a, b: a & b, "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


# numpy's ufuncs that Python's operators stand for: array @ expression is written as an @ again
_UFUNC_OPERATORS = {
    "add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "divide": "/", "matmul": "@", "power": "**",
    "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^", "less": "<", "less_equal": "<=", "greater": ">",
    "greater_equal": ">=", "equal": "==", "not_equal": "!=",
}


def leaf(name, value=None):
    """An expression that is just a name (``mul1.grad``, ``w1``), standing for ``value``."""
    return Expression("leaf", (name,), value)


def _value_of(part):
    return part.value if isinstance(part, Expression) else part


def _stands_for_nothing(part):
    return isinstance(part, Expression) and part._value is None and part._compute is None


def _operation(kind, parts, compute):
    """A new expression of ``kind`` over ``parts``; its value is ``compute`` of theirs, where all are known."""
    parts = tuple(parts)
    if any(_stands_for_nothing(part) for part in parts):
        return Expression(kind, parts)
    return Expression(kind, parts, compute=compute)


def _computed(compute, values):
    with np.errstate(all="ignore"):
        try:
            return compute(*values)
        except ArithmeticError:  # Python's floats refuse 1 / 0: the engine computes in IEEE arithmetic there
            return float(compute(*[np.float64(v) if isinstance(v, float) else v for v in values]))


def _form_of_value(value):
    return np.shape(value), np.asarray(value).dtype if not isinstance(value, float) else np.dtype(np.float64)


def _form_of(expression):
    """(shape, dtype) of what ``expression`` stands for, worked out from its parts' without computing it, or None.

    For arithmetic and comparisons (broadcast shapes, numpy's promotion,
    Python numbers weak), matrix products, numpy's ufuncs and ``where``,
    ``.T``, reshapes, transposes, sums, casts and the engine's
    ``broadcast_to``; anything else is computed.
    """
    kind, parts = expression.kind, expression.parts
    if kind == "leaf" or any(isinstance(part, Expression) and part._value is None and part._compute is None
                             for part in parts):
        return None
    tag = kind[0]
    try:
        if tag in ("binary", "in place") and kind[1] != "@" or tag == "unary" or (
                tag == "call" and kind[1] in _ELEMENTWISE_CALLS and not kind[2]):
            forms = [_part_form(part) for part in parts]
            shape = np.broadcast_shapes(*[f[0] for f in forms])
            if tag == "binary" and kind[1] in ("<", "<=", ">", ">=", "==", "!=") or (
                    tag == "call" and kind[1] in _BOOLEAN_CALLS):
                return shape, np.dtype(bool)
            dtype = np.result_type(*[f[1] for f in forms])
            if tag == "call" and kind[1] in _FLOAT_CALLS:
                dtype = np.result_type(dtype, np.float16)  # integers become floats, as numpy's ufuncs make them
            return shape, dtype
        if tag == "binary" and kind[1] == "@":
            (a, a_dtype), (b, b_dtype) = _part_form(parts[0]), _part_form(parts[1])
            if len(a) >= 2 and len(b) >= 2:
                return (*np.broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1]), np.result_type(a_dtype, b_dtype)
            return None
        if tag == "attribute" and kind[1] == "T":
            shape, dtype = _part_form(parts[0])
            return shape[::-1], dtype
        if tag == "method":
            return _method_form(kind[1], kind[2], parts)
    except (TypeError, ValueError):
        return None
    return None


# numpy's functions that work element by element: the shape is the broadcast of the arguments'
_ELEMENTWISE_CALLS = {"np.exp", "np.log", "np.sqrt", "np.tanh", "np.sin", "np.cos", "np.abs", "np.sign",
                      "np.maximum", "np.minimum", "np.where", "xp.power", "xp.sigmoid", "np.equal", "np.not_equal",
                      "np.isnan", "np.isfinite", "np.logical_and", "np.logical_or", "np.logical_not"}
_BOOLEAN_CALLS = {"np.equal", "np.not_equal", "np.isnan", "np.isfinite", "np.logical_and", "np.logical_or",
                  "np.logical_not"}
_FLOAT_CALLS = {"np.exp", "np.log", "np.sqrt", "np.tanh", "np.sin", "np.cos", "xp.sigmoid"}


def _part_form(part):
    """(shape, dtype) of a part: an expression's, or a constant's (a Python number is weak: it keeps the dtype)."""
    if isinstance(part, Expression):
        return part._shape_and_dtype()
    if isinstance(part, (bool, int, float)):
        return (), part  # the number itself is weak in numpy's promotion: np.result_type(float32, 0.5) is float32
    array = np.asarray(part)
    return array.shape, array.dtype


def _method_form(name, keywords, parts):
    shape, dtype = _part_form(parts[0])
    arguments = parts[1:len(parts) - len(keywords)]
    options = dict(zip(keywords, parts[len(parts) - len(keywords):]))
    if any(isinstance(part, Expression) for part in (*arguments, *options.values())):
        return None
    if name == "reshape":
        target = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], tuple) else arguments
        return np.empty(shape, dtype=bool).reshape(target).shape if -1 in target else tuple(target), dtype
    if name == "transpose":
        axes = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], tuple) else arguments
        return (tuple(shape[axis] for axis in axes) if axes else shape[::-1]), dtype
    if name == "astype":
        return shape, np.dtype(arguments[0] if arguments else options["dtype"])
    if name == "copy":
        return shape, dtype
    if name == "sum" and not arguments:
        axis, keep = options.get("axis"), options.get("keepdims", False)
        axes = range(len(shape)) if axis is None else [axis] if isinstance(axis, int) else axis
        axes = {a % len(shape) for a in axes} if shape else set()
        reduced = tuple(1 if i in axes else n for i, n in enumerate(shape)) if keep else tuple(
            n for i, n in enumerate(shape) if i not in axes)
        return reduced, np.dtype(options["dtype"]) if options.get("dtype") is not None else (
            np.result_type(dtype, np.int64) if dtype == np.bool_ else dtype)
    return None


class ArrayNamespace:
    """The ``xp`` of rules on arrays, building expressions: ``np.exp(x)``, or ``xp.broadcast_to(...)``.

    A function that is numpy's own writes as ``np.name``; one of the
    engine's (``numpy_ops.broadcast_to`` makes a new array where numpy's
    gives a read-only view) as ``xp.name``, so that the text, run with
    ``np`` as numpy and ``xp`` as ``autodiff.numpy_ops``, computes exactly
    what the rule computes.
    """

    computes = numpy_ops

    def __getattr__(self, name):
        function = getattr(self.computes, name)
        if not callable(function) or name.startswith("_"):
            raise AttributeError(name)
        prefix = "np" if getattr(np, name, None) is function else "xp"
        if name == "add":  # numpy's ufunc, used as xp.add.reduce(...)
            return _UfuncMethods(self, prefix, name)
        return _call_writer(f"{prefix}.{name}", function)


class NumberNamespace:
    """The ``xp`` of rules on floats, building expressions: ``exp(x)``, and ``where`` as ``a if c else b``.

    The text runs with the functions ``autodiff.operators`` defines in scope,
    and with ``xp`` as that module, for the ufuncs of numpy it lends
    (``xp.sinh(x)``).
    """

    computes = operators

    def __getattr__(self, name):
        function = getattr(self.computes, name)
        if not callable(function) or name.startswith("_"):
            raise AttributeError(name)
        return _call_writer(name if name in vars(self.computes) else f"xp.{name}", function)

    @staticmethod
    def where(condition, a, b):
        return _operation(("conditional",), (condition, a, b), operators.where)

    @staticmethod
    def equal(a, b):
        return _operation(("binary", "=="), (a, b), operators.equal)


def _call_writer(function_text, function):
    def written(*args, **kwargs):
        return _operation(("call", function_text, tuple(kwargs)), (*args, *kwargs.values()),
                          lambda *values: function(*values[:len(args)], **dict(zip(kwargs, values[len(args):]))))

    return written


class _UfuncMethods:
    """``xp.add.reduce(...)``: a ufunc's method, written as ``np.add.reduce(...)``."""

    def __init__(self, namespace, prefix, name):
        self.reduce = _call_writer(f"{prefix}.{name}.reduce", getattr(namespace.computes, name).reduce)


ARRAYS = ArrayNamespace()
NUMBERS = NumberNamespace()


# -- writing an expression out ------------------------------------------------------------------------


def write(expression, name_of_leaf=None, constant=None, bound=None):
    """``expression`` as Python source.

    ``name_of_leaf(leaf)`` gives a leaf's text (its name by default);
    ``constant(value)`` the text of a value that is not a plain Python
    literal (an array); ``bound`` maps the id of a sub-expression already
    computed to the name that holds it.
    """
    renderer = _Renderer(name_of_leaf or (lambda e: e.parts[0]), constant or _refuse_constant, bound or {})
    return renderer.written(expression)[0]


def leaves_of(expression):
    """How many leaves (names) an expression reads, counted as often as it reads them."""
    count, stack = 0, [expression]
    while stack:
        part = stack.pop()
        if isinstance(part, Expression):
            if part.kind == "leaf":
                count += 1
            else:
                stack.extend(_subexpressions(part))
    return count


def in_place_parts(expressions):
    """The in-place operations (``out += b``) in ``expressions`` whose target is computed there (not a name),
    each after those it holds: each is written as two statements, the target into a name, then ``name += b``."""
    found, seen, stack = [], set(), [(e, False) for e in expressions if isinstance(e, Expression)]
    while stack:
        expression, done = stack.pop()
        if done:
            if expression.kind[0] == "in place" and expression.parts[0].kind != "leaf":
                found.append(expression)
            continue
        if id(expression) in seen:
            continue
        seen.add(id(expression))
        stack.append((expression, True))
        stack.extend((part, False) for part in _subexpressions(expression))
    return found


def shared_parts(expressions):
    """The sub-expressions (not leaves) that ``expressions`` reach more than once, each after those it holds.

    A rule that names a value and uses it twice (``attains`` in max's rule)
    builds one expression object used twice; written out, it is computed
    once, into a name of its own, as the rule computes it.
    """
    uses, order, stack = {}, [], [(e, False) for e in expressions if isinstance(e, Expression)]
    while stack:
        expression, done = stack.pop()
        if done:
            order.append(expression)
            continue
        uses[id(expression)] = uses.get(id(expression), 0) + 1
        if uses[id(expression)] > 1:
            continue
        stack.append((expression, True))
        for part in _subexpressions(expression):
            stack.append((part, False))
    return [e for e in order if uses[id(e)] > 1 and e.kind != "leaf"]


def _subexpressions(expression):
    for part in expression.parts:
        if isinstance(part, Expression):
            yield part
        elif isinstance(part, tuple):  # an index or a shape holding expressions
            yield from (p for p in part if isinstance(p, Expression))


def _refuse_constant(value):
    raise NotWritable(f"a constant {type(value).__name__} has no name in this text")


class _Renderer:
    """Writes expressions out: ``written(part)`` is (source, precedence) of an expression or a constant."""

    def __init__(self, name_of_leaf, constant, bound):
        self.name_of_leaf, self.constant, self.bound = name_of_leaf, constant, bound

    def written(self, part):
        if not isinstance(part, Expression):
            return self.literal(part), _ATOM
        if id(part) in self.bound:
            return self.bound[id(part)], _ATOM
        kind = part.kind
        tag = kind if kind == "leaf" else kind[0]
        if tag == "leaf":
            text = self.name_of_leaf(part)
            return text, _UNARY if text.startswith("-") else _ATOM  # a negative number reads as a unary minus
        if tag == "index":
            receiver, receiver_precedence = self.written(part.parts[0])
            return f"{_bracket(receiver, receiver_precedence < _ATOM)}[{self.index_text(part.parts[1])}]", _ATOM
        parts = [self.written(p) for p in part.parts]
        if tag in ("binary", "in place"):  # in place where it is not a statement of its own: the same numbers
            return self.binary(kind[1], *parts)
        if tag == "conditional":
            (condition, condition_precedence), (a, a_precedence), (b, b_precedence) = parts
            text = (f"{_bracket(a, a_precedence <= _CONDITIONAL)} if "
                    f"{_bracket(condition, condition_precedence <= _CONDITIONAL)} else "
                    f"{_bracket(b, b_precedence < _CONDITIONAL)}")
            return text, _CONDITIONAL
        if tag == "unary":
            (operand, operand_precedence), = parts
            return f"{kind[1]}{_bracket(operand, operand_precedence < _UNARY)}", _UNARY
        if tag == "attribute":
            (receiver, receiver_precedence), = parts
            return f"{_bracket(receiver, receiver_precedence < _ATOM)}.{kind[1]}", _ATOM
        if tag == "method":
            _, name, keywords = kind
            (receiver, receiver_precedence) = parts[0]
            arguments = _arguments([text for text, _ in parts[1:]], keywords)
            return f"{_bracket(receiver, receiver_precedence < _ATOM)}.{name}({arguments})", _ATOM
        _, function, keywords = kind
        return f"{function}({_arguments([text for text, _ in parts], keywords)})", _ATOM

    @staticmethod
    def binary(symbol, left_part, right_part):
        (left, left_precedence), (right, right_precedence) = left_part, right_part
        precedence = _BINARY[symbol][0]
        # left-associative, except ** (right) and comparisons (which chain): brackets where they would regroup
        left_needs = left_precedence < precedence or (
            (symbol == "**" or precedence == _COMPARE) and left_precedence <= precedence)
        right_needs = right_precedence < precedence or (symbol != "**" and right_precedence <= precedence)
        if right.startswith("-"):
            right_needs = True  # 0.5 - (-3.0), not 0.5 - -3.0
        space = "" if symbol == "**" else " "  # o.data**2, as one reads it
        return f"{_bracket(left, left_needs)}{space}{symbol}{space}{_bracket(right, right_needs)}", precedence

    def index_text(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        texts = [self.slice_text(part) if isinstance(part, slice) else "..." if part is Ellipsis else
                 self.written(part)[0] for part in parts]
        if isinstance(index, tuple) and len(index) == 1:
            return texts[0] + ","
        return ", ".join(texts) if texts else "()"

    def slice_text(self, part):
        start, stop, step = ("" if v is None else self.written(v)[0] for v in (part.start, part.stop, part.step))
        return f"{start}:{stop}" + (f":{step}" if step else "")

    def literal(self, value):
        """A Python literal for ``value`` (a number, a tuple of them, None, a slice, a dtype), else ``constant(value)``."""
        if isinstance(value, float) and not math.isfinite(value):
            return f'float("{value!r}")'  # repr gives inf and nan, which are no names in Python
        if value is None or isinstance(value, (bool, int, float, str)):
            return repr(value)
        if isinstance(value, np.dtype):
            return f"np.{value.name}"
        if isinstance(value, np.generic) and value.ndim == 0:
            return f"np.{value.dtype.name}({value.item()!r})"
        if isinstance(value, tuple):
            inner = ", ".join(self.written(v)[0] for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, slice):
            return f"slice({self.literal(value.start)}, {self.literal(value.stop)}, {self.literal(value.step)})"
        if value is Ellipsis:
            return "Ellipsis"
        return self.constant(value)


def _bracket(text, needed):
    return f"({text})" if needed else text


def _arguments(texts, keywords):
    positional = texts[:len(texts) - len(keywords)]
    named = [f"{key}={text}" for key, text in zip(keywords, texts[len(texts) - len(keywords):])]
    return ", ".join(positional + named)
