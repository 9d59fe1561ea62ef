"""``docs/build.py`` loaded as a module, for the tests of the documentation."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "docs_build_script", Path(__file__).resolve().parent.parent / "docs" / "build.py"
)
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)
