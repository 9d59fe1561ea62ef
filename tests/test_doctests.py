"""The examples in the docstrings of every public module of autodiff and nn run and print what they say.

One test per module (``docs/build.py`` says which modules are public: the
same ones get a reference page). Examples that render with Graphviz's
``dot`` live in the modules of ``NEEDS_DOT``, skipped with the reason
where ``dot`` is missing.
"""

import doctest
import importlib

import pytest

from docs_build import build
from needs_dot import DOT_MISSING
from needs_onnx import skip_without_onnx

NEEDS_DOT = {"autodiff.viz.frames", "autodiff.viz.explore"}
# modules whose examples need an optional package: (what to import, what to pip install)
NEEDS_PACKAGE = {"nn.plots": ("matplotlib", "matplotlib"), "nn.serialization": ("safetensors", "safetensors"),
                 "autodiff.viz.frames": ("PIL", "pillow")}
NEEDS_ONNX = {"nn.onnx_export"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


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
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):  # its own names, not imported ones
        runner.run(test)
    failed, _ = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} docstring example(s) of {name} failed (printed above)"


def test_modules_with_examples_exist_in_both_packages():
    with_examples = [
        name for name in build.public_modules()
        if any(test.examples for test in doctest.DocTestFinder().find(importlib.import_module(name), name))
    ]
    assert any(n.startswith("autodiff") for n in with_examples) and any(n.startswith("nn") for n in with_examples)
