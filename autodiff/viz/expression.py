"""Small arithmetic expressions, such as ``(a*b + c).tanh()``, read safely into a graph of Values.

The text is parsed with Python's ``ast`` and only this much is accepted:
names given values, numbers, ``+ - * / **``, unary minus, and the Value
methods ``exp``, ``log``, ``tanh``, ``relu`` and ``sigmoid`` called with
no arguments. Everything else is refused with ``ExpressionError`` naming
the offending part. The text is never handed to ``eval`` or ``exec``: the
tree is walked here, one accepted node at a time.
"""

import ast

from ..value import Value, as_value

OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
METHODS = ("exp", "log", "tanh", "relu", "sigmoid")
MAX_LENGTH = 1000


class ExpressionError(ValueError):
    """An expression uses something outside the small arithmetic language accepted."""


def parse_assignments(assignments):
    """``["a=2", "b=-3"]`` to ``{"a": 2.0, "b": -3.0}``; refuses bad names, values and repeats."""
    values = {}
    for assignment in assignments:
        name, equals, number = assignment.partition("=")
        name = name.strip()
        if not equals or not name.isidentifier():
            raise ExpressionError(f"{assignment!r} is not an assignment like a=2.5")
        if name in values:
            raise ExpressionError(f"{name} is given twice")
        try:
            values[name] = float(number)
        except ValueError:
            raise ExpressionError(f"the value of {name}, {number.strip()!r}, is not a number") from None
    return values


def build(expression, values):
    """The Value that ``expression`` computes from ``values`` (name to number), its leaves labelled by name."""
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"{expression!r} is not an expression: {error.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply") from None
    leaves = {name: Value(number, label=name) for name, number in values.items()}
    results = {}  # id of an ast node to the Value it computes
    stack = [(tree.body, False)]
    while stack:
        node, inputs_done = stack.pop()
        if not inputs_done:
            stack.append((node, True))
            stack.extend((part, False) for part in reversed(_inputs(node, expression, leaves)))
            continue
        results[id(node)] = _apply(node, results, leaves)
    return results[id(tree.body)]


def _inputs(node, source, leaves):
    """The sub-expressions ``node`` needs, or ``ExpressionError`` if ``node`` is not accepted."""
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return [node.operand]
    if isinstance(node, ast.Constant):
        if type(node.value) in (int, float):
            return []
        raise ExpressionError(f"{_text(node, source)} is not a number")
    if isinstance(node, ast.Name):
        if node.id in leaves:
            return []
        raise ExpressionError(f"unknown name {node.id!r}: give it a value, e.g. {node.id}=1.5")
    if isinstance(node, ast.Call):
        return [_method_receiver(node, source)]
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        raise ExpressionError(f"the operator in {_text(node, source)} is not allowed (use + - * / ** or -x)")
    raise ExpressionError(f"{_text(node, source)} is not allowed ({type(node).__name__.lower()})")


def _method_receiver(call, source):
    function = call.func
    if not isinstance(function, ast.Attribute):
        called = function.id if isinstance(function, ast.Name) else _text(function, source)
        raise ExpressionError(f"calls to {called} are not allowed; only x.{'()/x.'.join(METHODS)}() are")
    if function.attr not in METHODS:
        raise ExpressionError(f"the method {function.attr} is not allowed; only {', '.join(METHODS)} are")
    if call.args or call.keywords:
        example = f"{_text(function.value, source)}.{function.attr}()"
        raise ExpressionError(f"{function.attr}() takes no arguments, as in {example}")
    return function.value


def _apply(node, results, leaves):
    if isinstance(node, ast.BinOp):
        left, right = results[id(node.left)], results[id(node.right)]
        operator = OPERATORS[type(node.op)]
        if operator == "+":
            return left + right
        if operator == "-":
            return left - right
        if operator == "*":
            return left * right
        if operator == "/":
            return left / right
        return left ** right
    if isinstance(node, ast.UnaryOp):
        return -results[id(node.operand)]
    if isinstance(node, ast.Constant):
        try:
            return float(node.value)  # floats overflow where integers would grow without end (9**9**9)
        except OverflowError:
            raise ExpressionError(f"the number {node.value} is too large") from None
    if isinstance(node, ast.Name):
        return leaves[node.id]
    receiver = results[id(node.func.value)]
    return getattr(as_value(receiver), node.func.attr)()


def _text(node, source):
    return ast.get_source_segment(source.strip(), node) or ast.unparse(node)
