"""Each docstring is written once: a Tensor method that hands over to a function of ``autodiff.functions`` shares
that function's docstring, and no text is written out twice in the source of autodiff and nn."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import autodiff
from autodiff import functions, primitives
from autodiff.primitive import Primitive
from autodiff.tensor import Tensor

ROOT = Path(__file__).resolve().parent.parent
TENSOR_MODULE = importlib.import_module("autodiff.tensor")  # autodiff.tensor is the factory function, as torch.tensor
# methods that hand over to a function but mean something of their own, with texts of their own
OWN_MEANING = {
    "view_as": "the shape of another tensor, not a shape given",
    "T": "the matrix transpose, as PyTorch's attribute",
    "float": "a cast to one dtype, named by it",
    "double": "a cast to one dtype, named by it",
    "long": "a cast to one dtype, named by it",
    "int": "a cast to one dtype, named by it",
    "bool": "a cast to one dtype, named by it",
}


def tensor_methods():
    """(name, definition) of each method (properties included) written in the body of ``Tensor``."""
    module = ast.parse((ROOT / "autodiff" / "tensor.py").read_text(encoding="utf-8"))
    body = next(node for node in module.body if isinstance(node, ast.ClassDef) and node.name == "Tensor").body
    return [(node.name, node) for node in body if isinstance(node, ast.FunctionDef)]


def handed_over_to(definition):
    """The public function of ``functions`` the method only hands over to (``return F.f(self, ...)`` or
    ``return Tensor._apply(P.X, (self,))`` where ``functions.x`` is ``P.X``), or None."""
    statements = [s for s in definition.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(statements) != 1 or not isinstance(statements[0], ast.Return):
        return None
    call = statements[0].value
    if not isinstance(call, ast.Call):
        return None
    callee = call.func
    if not (isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name) and call.args):
        return None
    if callee.value.id == "F" and isinstance(call.args[0], ast.Name) and call.args[0].id == "self":
        return getattr(functions, callee.attr)
    if (callee.value.id, callee.attr) == ("Tensor", "_apply") and isinstance(call.args[0], ast.Attribute):
        primitive = getattr(primitives, call.args[0].attr)
        public = [f for n, f in vars(functions).items() if f is primitive and not n.startswith("_")]
        return public[0] if public else None
    return None


def marked_name(definition):
    """The function named by the method's ``@_documented_by("name")``, or None."""
    for decorator in definition.decorator_list:
        if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "_documented_by":
            return decorator.args[0].value
    return None


def test_a_method_that_hands_over_to_a_function_shares_its_docstring():
    forwarders = [(name, node, handed_over_to(node)) for name, node in tensor_methods()]
    forwarders = [(name, node, target) for name, node, target in forwarders if target is not None]
    assert len(forwarders) >= 60, "the survey of Tensor's forwarding methods found too few: is the pattern stale?"
    for name, node, target in forwarders:
        if name.startswith("_"):  # an operator (__add__): no text at all, help(x + y) is no question
            assert ast.get_docstring(node) is None and marked_name(node) is None, name
            continue
        if name in OWN_MEANING:
            assert marked_name(node) is None and ast.get_docstring(node), \
                f"Tensor.{name} ({OWN_MEANING[name]}) keeps a text of its own"
            continue
        assert marked_name(node) is not None, (
            f"Tensor.{name} hands over to functions.{target.__name__}: mark it @_documented_by, do not copy the text"
        )
        assert ast.get_docstring(node) is None, f"Tensor.{name} writes its own docstring beside its function's"
        assert getattr(functions, marked_name(node)) is target, f"Tensor.{name} names another function than it calls"
        method = getattr(Tensor, name)
        assert method.__doc__ is target.__doc__ and inspect.getdoc(method), f"Tensor.{name} lacks its text"


def test_every_marked_method_is_documented_with_the_math_of_its_function():
    marked = {name: marked_name(node) for name, node in tensor_methods() if marked_name(node) is not None}
    assert {"softmax", "exp", "clamp", "expand", "sum", "view"} <= set(marked)
    for name, function_name in marked.items():
        method, function = getattr(Tensor, name), getattr(functions, function_name)
        assert method.documented_by == function_name
        assert method.__doc__ is function.__doc__
        assert "dL/d" in method.__doc__ or "outside the graph" in method.__doc__ or "not differentiable" in \
            method.__doc__, f"the text Tensor.{name} shares states no derivative"
    assert isinstance(functions.exp, Primitive) and Tensor.exp.__doc__ is primitives.EXP.__doc__
    assert "dL/da = exp(a) · g" in autodiff.exp.__doc__ and ">>>" in Tensor.exp.__doc__


def test_a_marked_method_with_a_docstring_of_its_own_is_refused():
    with pytest.raises(TypeError, match="functions.softmax: write the text there"):
        @TENSOR_MODULE._documented_by("softmax")
        def softmax(self, dim=None):
            """A second text."""


def docstrings_written(path):
    """(line, text) of every docstring and primitive ``doc=`` written in the source file ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            text = ast.get_docstring(node)
            if text:
                yield getattr(node, "lineno", 1), text
        elif isinstance(node, ast.keyword) and node.arg == "doc" and isinstance(node.value, ast.Constant):
            yield node.value.lineno, inspect.cleandoc(node.value.value)


def test_no_text_of_several_lines_is_written_twice():
    seen = {}
    for path in sorted([*ROOT.glob("autodiff/**/*.py"), *ROOT.glob("nn/**/*.py")]):
        for line, text in docstrings_written(path):
            if "\n" not in text:
                continue  # one-line texts may repeat (two modules' is_available)
            key = " ".join(text.split())
            where = f"{path.relative_to(ROOT)}:{line}"
            assert key not in seen, f"the docstring at {where} repeats the one at {seen[key]}: write it once"
            seen[key] = where
    assert len(seen) > 100
