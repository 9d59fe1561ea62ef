"""``needs_dot``: the mark of a test that renders a picture with Graphviz's ``dot``.

Without ``dot`` on PATH such a test is skipped with the reason, as the
PyTorch comparisons are without torch; where ``AUTODIFF_REQUIRE_DOT`` is
set (CI sets it) it runs anyway and fails, so no picture test can be
skipped silently there.
"""

import os
import shutil

import pytest

DOT_MISSING = shutil.which("dot") is None and not os.environ.get("AUTODIFF_REQUIRE_DOT")

needs_dot = pytest.mark.skipif(
    DOT_MISSING,
    reason="Graphviz's dot is not installed: apt-get install graphviz (Debian, Ubuntu), brew install graphviz "
           "(macOS) or conda install graphviz, to render pictures",
)
