"""The PyTorch port lesson: it runs, it says when it skipped PyTorch, and the port follows PyTorch step by step.

The comparison runs the lesson's own ``Net``, ``train``, ``test`` and
``fit`` twice: as written (this project's names) and with the names bound
to PyTorch's (``demos.pytorch_port.in_pytorch``), which is the PyTorch
program the port was renamed from. Both start from the same weights, see
the same batches in the same order and, since the two engines would draw
different dropout masks, both dropout layers are given the same masks.
"""

import sys

import numpy as np
import pytest

import autodiff
from autodiff import Tensor, nn
from demos import pytorch_port


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn", reason="the lesson's digits come from scikit-learn: pip install scikit-learn")
    return pytorch_port.mnist_like_digits()


@pytest.fixture
def default_dtype():
    """Restores both engines' default dtypes after a test that changes them."""
    ours = autodiff.get_default_dtype()
    yield
    autodiff.set_default_dtype(ours)
    if "torch" in sys.modules:
        sys.modules["torch"].set_default_dtype(sys.modules["torch"].float32)


def test_the_digits_look_like_mnist(digits):
    X_train, y_train, X_test, y_test = digits
    assert X_train.shape[1:] == X_test.shape[1:] == (1, 28, 28) and X_train.dtype == np.float32
    assert len(X_train) + len(X_test) == 1797 and set(y_train) == set(range(10))
    # a blank border of two pixels around each 24x24 digit, at MNIST's normalised zero
    background = (0 - pytorch_port.MNIST_MEAN) / pytorch_port.MNIST_STD
    np.testing.assert_allclose(X_train[:, :, :2], background, rtol=1e-6)
    np.testing.assert_allclose(X_train[:, :, :, -2:], background, rtol=1e-6)
    assert X_train.max() > 2.5  # the ink: (1 - 0.1307) / 0.3081 = 2.82


def test_bilinear_matrix_keeps_constants_and_resamples_a_ramp():
    up = pytorch_port.bilinear_matrix(8, 24)
    np.testing.assert_allclose(up.sum(axis=1), 1.0)
    ramp = up @ np.arange(8.0)
    assert np.all(np.diff(ramp) >= 0) and ramp[0] == 0 and ramp[-1] == 7


def test_lesson_runs_quick_and_agrees_with_pytorch(tmp_path, torch, digits):
    results = pytorch_port.main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "predictions.png").is_file()
    assert results["accuracy"] >= pytorch_port.QUICK_TARGET
    assert results["pytorch_gap"] < 1e-4


def test_lesson_says_it_skipped_pytorch_when_torch_is_missing(tmp_path, monkeypatch, capsys, digits):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    results = pytorch_port.main(["--quick", "--out", str(tmp_path)])
    assert "PyTorch is not installed: skipped" in capsys.readouterr().out
    assert "pytorch_gap" not in results and (tmp_path / "predictions.png").is_file()


def given_masks(base, p, seed, to_array):
    """A dropout layer (subclass of ``base``) that draws its masks from numpy, the same for either engine."""

    class GivenMasks(base):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)

        def forward(self, x):
            if not self.training:
                return x
            keep = self.rng.random(tuple(x.shape)) >= p
            return x * to_array(keep / (1 - p), x)

    return GivenMasks()


def run_both(torch, digits, dtype, epochs=2, batches=3):
    """The port and the PyTorch program from the same weights, batches and masks; both histories and models."""
    ported, original = pytorch_port, pytorch_port.in_pytorch(torch)
    autodiff.set_default_dtype(dtype)
    torch.set_default_dtype({np.float32: torch.float32, np.float64: torch.float64}[dtype])
    autodiff.manual_seed(0)
    ours, theirs = ported.Net(), original.Net()
    theirs.load_state_dict({name: torch.from_numpy(array) for name, array in ours.state_dict().items()})
    for name, p in (("dropout1", 0.25), ("dropout2", 0.5)):
        setattr(ours, name, given_masks(nn.Module, p, 7, lambda m, x: Tensor(m.astype(x.dtype))))
        setattr(theirs, name, given_masks(torch.nn.Module, p, 7, lambda m, x: torch.from_numpy(m).to(x.dtype)))
    quiet = {"max_batches": batches, "log": lambda *lines: None}
    our_history = ported.fit(ours, *ported.our_loaders(digits, dtype), epochs, **quiet)
    their_history = original.fit(theirs, *ported.torch_loaders(torch, digits, dtype), epochs, **quiet)
    return (our_history, ours), (their_history, theirs)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_port_matches_pytorch_step_by_step(torch, digits, default_dtype, dtype, tolerance):
    (ours, our_model), (theirs, their_model) = run_both(torch, digits, dtype)
    assert len(ours["loss"]) == len(theirs["loss"]) == 6
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=tolerance, atol=0)
    np.testing.assert_allclose(ours["test_loss"], theirs["test_loss"], rtol=tolerance, atol=0)
    assert ours["accuracy"] == theirs["accuracy"]
    assert ours["loss"][-1] < ours["loss"][0]
    # the weights after the last step, each tensor as a whole: in float32 the engines' sums round
    # differently, and where two activations of a pooling window nearly tie, a few weights can take
    # the other one's gradient (a few in ten thousand, by up to 4e-5 of their size)
    their_state = their_model.state_dict()
    for name, array in our_model.state_dict().items():
        assert array.dtype == dtype
        expected = their_state[name].numpy()
        gap = np.linalg.norm(array - expected) / np.linalg.norm(expected)
        assert gap <= tolerance, f"{name}: ours and PyTorch's differ by {gap:.1e} of its norm"
