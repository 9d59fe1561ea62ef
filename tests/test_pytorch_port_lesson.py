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


@pytest.mark.slow
def test_lesson_runs_quick_and_agrees_with_pytorch(tmp_path, torch, digits, matplotlib):
    results = pytorch_port.main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "predictions.png").is_file()
    assert results["accuracy"] >= pytorch_port.QUICK_TARGET
    assert results["pytorch_gap"] < 1e-4


@pytest.mark.slow
def test_lesson_says_it_skipped_pytorch_when_torch_is_missing(tmp_path, monkeypatch, capsys, digits, matplotlib):
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


def run(torch, digits, program, dtype, weights, epochs=2, batches=3):
    """``fit`` of the port (``program`` "ours") or of the PyTorch program ("pytorch") in ``dtype``, from
    ``weights`` (a state dict of arrays), on the same batches with the same dropout masks; (history, state)."""
    autodiff.set_default_dtype(dtype)
    torch.set_default_dtype({np.float32: torch.float32, np.float64: torch.float64}[dtype])
    quiet = {"max_batches": batches, "log": lambda *lines: None}
    if program == "ours":
        model = pytorch_port.Net()
        model.load_state_dict({name: array.astype(dtype) for name, array in weights.items()})
        for name, p in (("dropout1", 0.25), ("dropout2", 0.5)):
            setattr(model, name, given_masks(nn.Module, p, 7, lambda m, x: Tensor(m.astype(x.dtype))))
        history = pytorch_port.fit(model, *pytorch_port.our_loaders(digits, dtype), epochs, **quiet)
        return history, {name: np.asarray(array) for name, array in model.state_dict().items()}
    original = pytorch_port.in_pytorch(torch)
    model = original.Net()
    model.load_state_dict({name: torch.from_numpy(array.astype(dtype)) for name, array in weights.items()})
    for name, p in (("dropout1", 0.25), ("dropout2", 0.5)):
        setattr(model, name, given_masks(torch.nn.Module, p, 7, lambda m, x: torch.from_numpy(m).to(x.dtype)))
    history = original.fit(model, *pytorch_port.torch_loaders(torch, digits, dtype), epochs, **quiet)
    return history, {name: tensor.numpy() for name, tensor in model.state_dict().items()}


def initial_weights(dtype):
    autodiff.set_default_dtype(dtype)
    autodiff.manual_seed(0)
    return pytorch_port.Net().state_dict()


@pytest.mark.slow
def test_port_matches_pytorch_step_by_step_in_float64(torch, digits, default_dtype):
    weights = initial_weights(np.float64)
    (ours, our_state), (theirs, their_state) = (run(torch, digits, program, np.float64, weights)
                                               for program in ("ours", "pytorch"))
    assert len(ours["loss"]) == len(theirs["loss"]) == 6
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(ours["test_loss"], theirs["test_loss"], rtol=1e-10, atol=0)
    assert ours["accuracy"] == theirs["accuracy"]
    assert ours["loss"][-1] < ours["loss"][0]
    for name, array in our_state.items():
        assert array.dtype == np.float64
        expected = their_state[name]
        gap = np.linalg.norm(array - expected) / np.linalg.norm(expected)
        assert gap <= 1e-10, f"{name}: ours and PyTorch's differ by {gap:.1e} of its norm"


# The float32 runs are held to float32's accuracy, which is what holds across machines. In float32
# the engines round differently (BLAS kernels, summation orders) and so differ from each other and
# from the exact result; each must stay within float32's accuracy of the exact result of the same
# computation: the same float32 weights, data and dropout masks, carried out in float64 (where the
# two programs agree to 1e-10, above). The longest sums here have N = 64·26·26 = 43,264 terms (the
# gradient of conv1 over a batch), and recursive float32 summation of N terms errs by about √N·u
# of the sum of their sizes (Higham, Accuracy and Stability of Numerical Algorithms, §4.2; u = 2⁻²⁴);
# Adadelta hands a gradient's absolute error on to the weights with a gain of at most 1, so over S
# steps a loss can drift from the exact one by about S·√N·u: 7.4e-5 for the 6 steps here (measured:
# 1.5e-5 at most for ours, 1e-7 for PyTorch's; 2e-7 for PyTorch's without its MKL-DNN kernels).
# The weights are not compared one by one: where two activations of a pooling window, or a ReLU's
# input and 0, are closer than float32 tells apart, backward routes a gradient differently, and
# Adadelta's normalised steps carry that to up to a few per cent of a few thousand weights (in
# PyTorch too, with other kernels: 5e-4 without MKL-DNN), leaving the losses within the bound.
FLOAT32_STEPS = 6
LONGEST_SUM = 64 * 26 * 26
FLOAT32_LOSS_TOLERANCE = FLOAT32_STEPS * LONGEST_SUM ** 0.5 * 2.0 ** -24


@pytest.mark.slow
def test_port_and_pytorch_both_stay_within_float32_accuracy_of_the_exact_run(torch, digits, default_dtype):
    weights = initial_weights(np.float32)
    exact, _ = run(torch, digits, "pytorch", np.float64, weights)
    for program in ("ours", "pytorch"):
        history, state = run(torch, digits, program, np.float32, weights)
        assert len(history["loss"]) == FLOAT32_STEPS and history["loss"][-1] < history["loss"][0]
        assert all(array.dtype == np.float32 for array in state.values()), program
        for key in ("loss", "test_loss"):
            np.testing.assert_allclose(history[key], exact[key], rtol=FLOAT32_LOSS_TOLERANCE, atol=0,
                                       err_msg=f"{program}'s float32 {key}")
        # a test digit whose two best log-probabilities float32 cannot tell apart may go either way
        test_size = len(digits[3])
        assert np.abs(np.subtract(history["accuracy"], exact["accuracy"])).max() <= 1 / test_size, program
