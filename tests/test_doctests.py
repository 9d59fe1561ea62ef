"""The examples in the docstrings of every public module of autodiff and nn run and print what they say.

One test per module (``docs/build.py`` says which modules are public: the
same ones get a reference page). Examples that render with Graphviz's
``dot`` live in the modules of ``NEEDS_DOT``, skipped with the reason
where ``dot`` is missing.

Each docstring is tested once, in the module where it is written: a
primitive's (its ``doc``) in the module that defines it, and a Tensor
method that takes its docstring from the function it hands over to
(``Tensor.softmax``, from ``functions.softmax``) not again.
"""

import doctest
import importlib

import pytest

from autodiff import Tensor
from autodiff.primitive import Primitive
from docs_build import build
from needs_dot import DOT_MISSING
from needs_onnx import skip_without_onnx

NEEDS_DOT = {"autodiff.viz.frames", "autodiff.viz.explore"}
# modules whose examples need an optional package: (what to import, what to pip install)
NEEDS_PACKAGE = {"nn.plots": ("matplotlib", "matplotlib"), "nn.serialization": ("safetensors", "safetensors"),
                 "autodiff.viz.frames": ("PIL", "pillow")}
NEEDS_ONNX = {"nn.onnx_export"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def docstring_tests(module, name):
    """The doctests of the docstrings written in ``module`` (named ``name``), examples or none."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [test for test in finder.find(module, name) if not _taken_from_elsewhere(module, test.name[len(name):])]
    # doctest does not take a primitive for the module's own (it is an instance of a class defined elsewhere)
    for attribute, value in vars(module).items():
        if isinstance(value, Primitive) and getattr(value.forward, "__module__", None) == name:
            tests.extend(finder.find(value, f"{name}.{attribute}", module=module))
    return tests


def _taken_from_elsewhere(module, path):
    """Whether the object at ``path`` (".Tensor.softmax") in ``module`` shares the docstring of another."""
    found = module
    for part in path.split(".")[1:]:
        found = getattr(found, part)
    return hasattr(found, "documented_by")


@pytest.mark.parametrize("name", build.public_modules())
def test_the_docstring_examples_of_the_module_run(name, tmp_path, monkeypatch):
    if name in NEEDS_DOT and DOT_MISSING:
        pytest.skip("its examples render pictures with Graphviz's dot, which is not installed")
    if name in NEEDS_PACKAGE:
        module, package = NEEDS_PACKAGE[name]
        pytest.importorskip(module, reason=f"its examples need {package}, which is not installed: pip install {package}")
    if name in NEEDS_ONNX:
        skip_without_onnx("its examples run an exported model")
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in docstring_tests(module, name):  # its own names, not imported ones
        runner.run(test)
    failed, _ = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} docstring example(s) of {name} failed (printed above)"


def test_modules_with_examples_exist_in_both_packages():
    with_examples = [
        name for name in build.public_modules()
        if any(test.examples for test in doctest.DocTestFinder().find(importlib.import_module(name), name))
    ]
    assert any(n.startswith("autodiff") for n in with_examples) and any(n.startswith("nn") for n in with_examples)


def test_every_docstring_with_examples_is_tested_once():
    tested = {}
    for name in build.public_modules():
        for test in docstring_tests(importlib.import_module(name), name):
            if test.examples:
                assert test.docstring not in tested, f"{test.name} runs the examples of {tested[test.docstring]} again"
                tested[test.docstring] = test.name
    shared = [method for method in vars(Tensor).values() if hasattr(method, "documented_by")]
    assert len(shared) >= 40
    for method in shared:  # where they are written: in functions (or a primitive's definition)
        if ">>>" in method.__doc__:
            assert tested.get(method.__doc__, "").startswith(("autodiff.functions.", "autodiff.primitives.")), \
                f"the examples Tensor.{method.__name__} shows are not tested where they are written"
    assert tested[Tensor.softmax.__doc__] == "autodiff.functions.softmax"
    assert tested[Tensor.exp.__doc__] == "autodiff.primitives.EXP"
