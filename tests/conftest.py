"""Shared fixtures.

Tests that compare with PyTorch take the ``torch`` fixture. Without torch
installed they are skipped with the reason; where ``AUTODIFF_REQUIRE_TORCH``
is set (CI sets it) a missing torch fails them instead, so a comparison
can never be skipped silently. Tests that run exported models in ONNX
Runtime take the ``onnxruntime`` fixture, which does the same with onnx
and onnxruntime and ``AUTODIFF_REQUIRE_ONNX``.
"""

import os

import numpy as np
import pytest
from hypothesis import settings

from needs_onnx import skip_without_onnx

# folders of screenshots the browser tests saved, to be named at the end of the run
SCREENSHOT_FOLDERS = set()


def pytest_terminal_summary(terminalreporter):
    for folder in sorted(SCREENSHOT_FOLDERS):
        terminalreporter.write_line(f"screenshots of the explore pages: {folder}")


settings.register_profile("default", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("default")


@pytest.fixture
def torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("AUTODIFF_REQUIRE_TORCH"):
            pytest.fail("AUTODIFF_REQUIRE_TORCH is set but torch is not installed (pip install torch==2.13.0)")
        pytest.skip("torch is not installed: pip install torch==2.13.0 to compare against PyTorch")
    torch.set_num_threads(1)
    return torch


def _optional(module, package):
    return pytest.importorskip(module, reason=f"{package} is not installed: pip install {package} (in the test extra)")


@pytest.fixture
def pillow():
    """``PIL.Image``, or the test skipped with the reason: Pillow is optional (the test extra has it)."""
    return _optional("PIL.Image", "pillow")


@pytest.fixture
def tqdm():
    """``tqdm``, or the test skipped with the reason: progress bars are optional (the test extra has tqdm)."""
    return _optional("tqdm", "tqdm")


@pytest.fixture
def matplotlib():
    """``matplotlib``, or the test skipped with the reason: pictures are optional (the test extra has it)."""
    return _optional("matplotlib", "matplotlib")


@pytest.fixture
def safetensors():
    """``safetensors``, or the test skipped with the reason: weights files are optional (the test extra has it)."""
    return _optional("safetensors", "safetensors")


@pytest.fixture
def sklearn():
    """``sklearn``, or the test skipped with the reason: scikit-learn's data sets are optional."""
    return _optional("sklearn", "scikit-learn")


@pytest.fixture
def onnxruntime():
    skip_without_onnx()
    import onnxruntime

    return onnxruntime


@pytest.fixture
def float64_and_seeded():
    """Tensors made from numbers and layers' parameters in float64, and nn seeded, for the test."""
    import autodiff
    import nn

    previous = autodiff.get_default_dtype()
    autodiff.set_default_dtype(np.float64)
    nn.manual_seed(0)
    yield
    autodiff.set_default_dtype(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


class LessonRun:
    """What one quick run of a lesson left: ``results`` (what its main returned), ``printed`` (its standard
    output) and ``out`` (the folder of its pictures)."""

    def __init__(self, results, printed, out):
        self.results, self.printed, self.out = results, printed, out


@pytest.fixture(scope="session")
def quick_lesson(tmp_path_factory):
    """``quick_lesson(name)``: the LessonRun of ``python -m demos.<name> --quick``, run once per test session
    however many tests look at it (a lesson that does not hold raises LessonFailed in each of them)."""
    import contextlib
    import importlib
    import io

    runs = {}

    def run(name):
        if name not in runs:
            out = tmp_path_factory.mktemp(name)
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    results = importlib.import_module(f"demos.{name}").main(["--quick", "--out", str(out)])
            except BaseException as error:
                runs[name] = error
                print(printed.getvalue())  # what the lesson said before it failed, in the test's report
            else:
                runs[name] = LessonRun(results, printed.getvalue(), out)
        if isinstance(runs[name], BaseException):
            raise runs[name]
        return runs[name]

    return run
