"""python -m autodiff.viz: renders a small expression, prints its trace, refuses anything but arithmetic."""

import ast
import builtins
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autodiff import Value
from autodiff.viz import __main__ as cli
from autodiff.viz.expression import ExpressionError, build, parse_assignments
from explore_graphs import page_data
from needs_dot import needs_dot

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "autodiff.viz", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


@needs_dot
def test_renders_forward_and_backward_and_prints_the_trace(tmp_path):
    result = run("(a*b + c).tanh()", "a=2", "b=-3", "c=10", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    (a * b + c).tanh().backward()
    lines = result.stdout.splitlines()
    assert lines[0] == "1. tanh1.grad = 1.0 (the seed: dtanh1/dtanh1 = 1)"
    assert any(line.startswith("5. a.grad += b.data * mul1.grad = -3.0 * ") and line.endswith(f"= {a.grad:.4g}")
               for line in lines)
    assert any(line.endswith(f"= {c.grad:.4g}") and "c.grad" in line for line in lines)
    for name in ("forward", "backward"):
        svg = ET.parse(tmp_path / f"{name}.svg").getroot()
        texts = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
        assert {"a", "b", "c", "tanh1", "data 2.0", "data -3.0"} <= texts
        assert ("grad 0.0" in texts) == (name == "forward")  # only the second picture has gradients


@needs_dot
def test_html_writes_the_page_of_backward_from_the_start(tmp_path):
    result = run("(a*b + c).tanh()", "a=2", "b=-3", "c=10", "--html", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'explore.html'}" in result.stdout
    data = page_data((tmp_path / "explore.html").read_text(encoding="utf-8"))
    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    (a * b + c).tanh().backward()
    final = {}
    for step in data["steps"]:
        final[data["nodes"][step["target"]]["name"]] = step["grad"]["value"]
    # the page is written before the command's own backward, so it shows one pass, not two added up
    assert {name: final[name] for name in "abc"} == {"a": a.grad, "b": b.grad, "c": c.grad}
    assert [step["text"] for step in data["steps"]] == [
        re.sub(r"^\s*\d+\. ", "", line) for line in result.stdout.splitlines() if re.match(r"\s*\d+\. ", line)]


@needs_dot
def test_png_and_frames(tmp_path, pillow):
    result = run("--format", "png", "--frames", "--out", str(tmp_path), "x*x + x", "x=3")
    assert result.returncode == 0, result.stderr
    assert "x.grad = 4.0 + 3.0 = 7.0" in result.stdout  # the last of three uses adds to the first two
    with pillow.open(tmp_path / "backward.png") as image:
        assert image.format == "PNG"
    frames = sorted((tmp_path / "frames").glob("step_*.png"))
    steps = [line for line in result.stdout.splitlines() if re.match(r"\s*\d+\. ", line)]
    assert len(frames) == len(steps)
    with pillow.open(tmp_path / "backward.gif") as gif:
        assert gif.n_frames == len(steps)


@pytest.mark.parametrize("expression, message", [
    ("__import__('os')", "calls to __import__ are not allowed"),
    ("__import__('os').system('touch pwned')", "the method system is not allowed"),
    ("open('/etc/passwd')", "calls to open are not allowed"),
    ("a.__class__", "a.__class__ is not allowed"),
    ("a.__class__.__bases__", "is not allowed (attribute)"),
    ("exp(a)", "calls to exp are not allowed"),
    ("a.exp(2)", "exp() takes no arguments"),
    ("a.tanh(x=1)", "tanh() takes no arguments"),
    ("a.grad", "a.grad is not allowed (attribute)"),
    ("(lambda: a)()", "calls to lambda: a are not allowed"),
    ("[a for a in ()]", "is not allowed (listcomp)"),
    ("a @ a", "the operator in a @ a is not allowed"),
    ("a // a", "the operator in a // a is not allowed"),
    ("+a", "the operator in +a is not allowed"),
    ("a < 1", "a < 1 is not allowed (compare)"),
    ("'text'", "'text' is not a number"),
    ("True * a", "True is not a number"),
    ("1j * a", "1j is not a number"),
    ("d + a", "unknown name 'd'"),
    ("a[0]", "a[0] is not allowed (subscript)"),
    ("a +", "is not an expression"),
    ("2 * 3", "has no named values"),
])
def test_anything_but_arithmetic_is_refused_in_process(expression, message, tmp_path, capsys):
    assert cli.main([expression, "a=1", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_refusals_exit_non_zero_from_the_command_line(tmp_path):
    result = run("__import__('os').system('touch pwned')", "a=1", "--out", str(tmp_path))
    assert result.returncode == 2 and "refused:" in result.stderr
    result = run("__import__('os')", "--out", str(tmp_path))
    assert result.returncode == 2 and "calls to __import__ are not allowed" in result.stderr
    assert not (ROOT / "pwned").exists() and not list(tmp_path.iterdir())


@needs_dot
def test_the_expression_is_never_evaluated_by_python(monkeypatch, tmp_path):
    import graphviz  # noqa: F401  (drawing imports it; importing a module runs its code, which is not the user's text)

    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval or exec")

    real_compile = builtins.compile

    def parse_only(source, filename, mode, flags=0, *args, **kwargs):
        # ast.parse compiles to a syntax tree only; compiling to code would make it runnable
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError("user text was compiled to code")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", parse_only)
    assert cli.main(["(a*b + c).tanh() / (1 + a**2) - -b.exp()", "a=2", "b=-3", "c=0.5", "--out", str(tmp_path)]) == 0


def test_built_values_match_python_arithmetic():
    values = {"a": 1.5, "b": -0.25}
    out = build("-a * b ** 2 / (a - b) + (a*b).sigmoid() + (a + 1).log() - b.relu() + a.exp()", values)
    a, b = values["a"], values["b"]
    expected = -a * b**2 / (a - b) + 1 / (1 + math.exp(-a * b)) + math.log(a + 1) - max(b, 0) + math.exp(a)
    assert out.data == pytest.approx(expected)
    assert {child.label for child in _leaves(out)} >= {"a", "b"}


def _leaves(root):
    seen, stack, found = set(), [root], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.children:
            stack.extend(node.children)
        else:
            found.append(node)
    return found


def test_assignments_are_checked():
    assert parse_assignments(["a=2", "b = -3.5"]) == {"a": 2.0, "b": -3.5}
    for bad, message in [(["a"], "not an assignment"), (["1a=2"], "not an assignment"),
                         (["a=x"], "is not a number"), (["a=1", "a=2"], "given twice")]:
        with pytest.raises(ExpressionError, match=message):
            parse_assignments(bad)


def test_deep_or_long_expressions_are_refused_cleanly():
    with pytest.raises(ExpressionError):
        build("(" * 300 + "a" + ")" * 300, {"a": 1.0})
    with pytest.raises(ExpressionError, match="longer than"):
        build("a+" * 600 + "a", {"a": 1.0})
    assert build("-" * 400 + "a", {"a": 1.0}).data == 1.0  # nesting within the limit is walked without recursion


def test_without_dot_the_sources_are_written_and_the_fix_explained(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path / "nowhere")}
    result = run("a*b", "a=2", "b=3", "--html", "--out", str(tmp_path), env=env)
    assert result.returncode == 1
    assert "apt-get install graphviz" in result.stderr and "brew install graphviz" in result.stderr
    assert (tmp_path / "backward.gv").read_text().startswith("digraph")
    assert not (tmp_path / "explore.html").exists()
    assert "a.grad += b.data * mul1.grad = 3.0 * 1.0 = 3.0" in result.stdout
