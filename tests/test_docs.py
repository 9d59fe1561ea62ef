"""The documentation builds with one command and no warning, and holds the reference and the guides."""

import subprocess
import sys
from pathlib import Path

import pytest

from docs_build import build

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_documentation_builds_without_a_warning(tmp_path):
    pytest.importorskip("pdoc", reason="pdoc builds the documentation: pip install pdoc (in the dev extra)")
    result = subprocess.run(
        [sys.executable, "docs/build.py", "--out", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
        text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr  # any warning fails the build
    site = tmp_path / "site"
    for page in ["index.html", "autodiff.html", "nn.html", "autodiff/viz.html", "nn/init.html", "nn/optim.html",
                 "guides.html", "guides/tutorial.html", "guides/design.html"]:
        assert (site / page).is_file(), f"no page {page}"
    for name, source, _ in build.GUIDES:
        if (ROOT / "docs" / source).is_file():
            assert (site / "guides" / f"{name}.html").is_file(), f"the guide docs/{source} has no page"
    autodiff_page = (site / "autodiff.html").read_text(encoding="utf-8")
    assert "Value" in autodiff_page and "Tensor" in autodiff_page and "draw_dot" in autodiff_page
    tutorial = (site / "guides" / "tutorial.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in tutorial, "the tutorial's pictures should be embedded in its page"
    assert 'href="design.html"' in tutorial, "links between guides should point at their pages"
    assert (site / build.NOTEBOOK).is_file()
    guides = (site / "guides.html").read_text(encoding="utf-8")
    assert f'href="{build.NOTEBOOK}"' in guides and 'href="guides/tutorial.html"' in guides


def test_the_tutorial_follows_the_lessons_in_teaching_order():
    from demos.__main__ import lessons

    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    names = [name for name, _ in lessons()]
    assert sorted(names, key=lambda name: tutorial.index(f"**`{name}`**")) == names


def test_the_readme_says_how_to_build_the_documentation():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python docs/build.py" in readme
