"""``skip_without_onnx()``: skip a test that runs an exported model where onnx or onnxruntime is missing.

Such a test is skipped with the reason, as the PyTorch comparisons are
without torch; where ``AUTODIFF_REQUIRE_ONNX`` is set (CI sets it) it fails
instead, so no run of an exported model can be skipped silently there.
"""

import os

import pytest


def onnx_missing():
    """Why exported models cannot be written and run here (onnx or onnxruntime not installed), or None."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed: pip install onnx onnxruntime to write and run ONNX models"
    return None


def skip_without_onnx(what="it runs an exported model"):
    reason = onnx_missing()
    if reason is None:
        return
    if os.environ.get("AUTODIFF_REQUIRE_ONNX"):
        pytest.fail(f"AUTODIFF_REQUIRE_ONNX is set but {reason}")
    pytest.skip(f"{what}: {reason}")
