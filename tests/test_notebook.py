"""docs/first_session.ipynb runs from top to bottom in a fresh kernel and shows its pictures."""

import os
import sys
from pathlib import Path

import pytest

from needs_dot import needs_dot

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "first_session.ipynb"


@pytest.mark.slow
@needs_dot
def test_the_first_session_runs_and_shows_graphs_and_plots(tmp_path, monkeypatch):
    reason = "running the notebook needs nbclient, nbformat and ipykernel (pip install -e '.[dev]')"
    nbformat = pytest.importorskip("nbformat", reason=reason)
    nbclient = pytest.importorskip("nbclient", reason=reason)
    pytest.importorskip("ipykernel", reason=reason)
    # the kernel is this Python, importing this checkout
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit the notebook without outputs"
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on an error

    kinds = [kind for cell in notebook.cells if cell.cell_type == "code"
             for output in cell.outputs for kind in output.get("data", {})]
    assert kinds.count("image/svg+xml") >= 2, "the graphs of d and of the neuron should show as pictures"
    assert kinds.count("image/png") >= 2, "the decision boundary and the training curves should show as pictures"
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "dd/da = b = -3.0" in printed and "do/dw1 = 1.0000" in printed
    final_accuracy = printed.rsplit("accuracy ", 1)[1].split("%")[0]
    assert int(final_accuracy) >= 90
