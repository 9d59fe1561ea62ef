"""The backprop-as-code lesson: its program is what compile wrote, and its line-by-line check can fail."""

import numpy as np

import autodiff
from autodiff import Tensor
from demos import backprop_as_code as lesson


def test_the_lesson_prints_and_saves_the_compiled_program_and_compares_every_gradient(quick_lesson):
    run = quick_lesson("backprop_as_code")
    source = run.results["source"]
    assert source in run.printed
    assert (run.out / "program.py").read_text(encoding="utf-8") == source
    compared = [name for name, *_ in run.results["comparison"]]
    assert compared == list(lesson.PAIRS) and len(compared) == 9
    assert all(difference <= lesson.AGREEMENT for *_, difference in run.results["comparison"])
    assert set(run.results["times"]) >= {"eager (Tensors)", "compiled (Tensors)", "numpy by hand (Tensors)"}


def test_every_variable_the_lesson_compares_is_a_line_of_the_program():
    loss, parameters = lesson.network()
    compiled = autodiff.compile(loss)
    compiled(Tensor(np.array(lesson.INPUTS)), Tensor(np.array(lesson.TARGETS)))
    lines = lesson.program_lines(compiled.source())
    hand = lesson.lines_by_hand()
    for mine, theirs in lesson.PAIRS.items():
        assert theirs in lines and mine in hand


def test_a_wrong_line_written_by_hand_is_caught_from_that_line_on(monkeypatch):
    right = lesson.backward_by_hand

    def with_a_mistake(X, T, W1, b1, W2, b2):
        grads = right(X, T, W1, b1, W2, b2)
        h = np.tanh(X @ W1.T + b1)
        grads["d_z"] = (1 - h) * grads["d_h"]  # tanh' taken as 1 - tanh: the slip the check must catch
        grads["d_b1"] = grads["d_z"].sum(axis=0)
        grads["d_W1"] = grads["d_z"].T @ X
        return grads

    monkeypatch.setattr(lesson, "backward_by_hand", with_a_mistake)
    loss, parameters = lesson.network()
    compiled = autodiff.compile(loss)
    X, T = np.array(lesson.INPUTS), np.array(lesson.TARGETS)
    compiled(Tensor(X), Tensor(T))
    rows, _ = lesson.compare_line_by_line(compiled, parameters, X, T)
    wrong = {name for name, _, _, difference in rows if difference > lesson.AGREEMENT}
    assert wrong == {"d_z", "d_b1", "d_W1"}
