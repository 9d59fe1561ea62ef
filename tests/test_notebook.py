"""docs/first_session.ipynb is stored with its outputs, so it reads where it is hosted, and they are current:
run again from top to bottom in a fresh kernel, it prints the same and shows the same kinds of pictures.

After a change that alters what it prints, store it again: ``python docs/build.py --notebook``.
"""

import json
import os
import sys
from pathlib import Path

import pytest

from docs_build import build
from needs_dot import needs_dot

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "first_session.ipynb"
AGAIN = "store it again with: python docs/build.py --notebook"


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def kinds(outputs):
    """What each output is: a stream's name, or a result's mime types."""
    return [output.get("name") or sorted(output.get("data", {})) for output in outputs]


def printed(cells):
    return "".join(output.get("text", "") if isinstance(output.get("text", ""), str) else "".join(output["text"])
                   for cell in cells for output in cell["outputs"])


def test_the_notebook_is_stored_with_the_outputs_of_one_run_from_the_top():
    stored = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = code_cells(stored)
    assert all(cell["outputs"] for cell in cells), f"a code cell has no output: {AGAIN}"
    assert [cell["execution_count"] for cell in cells] == list(range(1, len(cells) + 1)), \
        f"the cells should have run once each, in order, in one kernel: {AGAIN}"
    assert not any(output["output_type"] == "error" for cell in cells for output in cell["outputs"])
    shown = [kind for cell in cells for output in cell["outputs"] for kind in output.get("data", {})]
    assert shown.count("image/svg+xml") >= 2, "the graphs of d and of the neuron should be stored as pictures"
    assert shown.count("image/png") >= 2, "the decision boundary and the training curves should be stored"
    text = printed(cells)
    assert "dd/da = b = -3.0" in text and "do/dw1 = 1.0000" in text
    assert int(text.rsplit("accuracy ", 1)[1].split("%")[0]) >= 90
    # stored as a run that prints the same would store them, so that storing it again changes nothing
    for cell in cells:
        assert len(cell["outputs"]) == len(build.steady_outputs(cell["outputs"])), f"prints split apart: {AGAIN}"
        assert " at 0x" not in json.dumps(cell["outputs"]), f"a memory address in an output: {AGAIN}"
        assert not cell["metadata"].get("execution"), f"timings in the stored notebook: {AGAIN}"


@pytest.mark.slow
@needs_dot
def test_the_notebook_runs_and_its_stored_outputs_are_current(tmp_path, monkeypatch):
    reason = "running the notebook needs nbclient, nbformat and ipykernel (pip install -e '.[dev]')"
    nbformat = pytest.importorskip("nbformat", reason=reason)
    nbclient = pytest.importorskip("nbclient", reason=reason)
    pytest.importorskip("ipykernel", reason=reason)
    # the kernel is this Python, importing this checkout
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    stored = [build.steady_outputs(cell.outputs) for cell in code_cells(notebook)]
    for cell in code_cells(notebook):
        cell.outputs = []
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on an error

    fresh = [build.steady_outputs(cell.outputs) for cell in code_cells(notebook)]
    for number, (now, then) in enumerate(zip(fresh, stored), start=1):
        assert kinds(now) == kinds(then), f"code cell {number} now shows {kinds(now)}: {AGAIN}"
        now_text = [output["text"] for output in now if output["output_type"] == "stream"]
        then_text = [output["text"] for output in then if output["output_type"] == "stream"]
        assert now_text == then_text, f"code cell {number} now prints otherwise: {AGAIN}"
