"""Without Graphviz: importing costs nothing, and without its ``dot`` program lessons still teach.

Each test runs a fresh Python whose PATH has no ``dot`` on it (an empty
folder), as on a machine where Graphviz was never installed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_python(args, path, cwd=ROOT):
    """``python args`` in a fresh process whose PATH is only ``path``."""
    env = {**os.environ, "PATH": str(path), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_importing_autodiff_and_nn_does_not_import_graphviz():
    result = subprocess.run(
        [sys.executable, "-c", "import autodiff, nn, sys; assert 'graphviz' not in sys.modules, 'graphviz imported'"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_rendering_without_dot_raises_graphviz_not_found_naming_the_install(tmp_path):
    script = (
        "from autodiff import Value, draw_dot\n"
        "from autodiff.viz import GraphvizNotFound\n"
        "o = (Value(2.0, label='x') * Value(-3.0, label='w')).tanh()\n"
        "drawing = draw_dot(o)\n"
        "assert 'x' in drawing.source\n"
        "try:\n"
        "    drawing.pipe(format='svg')\n"
        "except GraphvizNotFound as error:\n"
        "    assert isinstance(error, RuntimeError)\n"
        "    print(error)\n"
    )
    result = run_python(["-c", script], path=tmp_path)
    assert result.returncode == 0, result.stderr
    for install in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert install in result.stdout


@pytest.mark.slow
def test_a_lesson_without_dot_trains_checks_its_claims_and_leaves_out_only_the_graph(tmp_path, matplotlib):
    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    result = run_python(["-m", "demos.moons", "--quick", "--out", str(out)], path=empty)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "✓ gradient descent lowers the loss" in result.stdout
    assert "left out the graph picture neuron" in result.stdout and "apt-get install graphviz" in result.stdout
    assert (out / "decision_boundary.png").is_file() and (out / "training.png").is_file()
    assert not list(out.glob("neuron*")), "no graph picture (nor a stray DOT file) without dot"
