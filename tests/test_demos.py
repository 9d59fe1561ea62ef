"""Every lesson in demos/ runs in quick mode, keeps its promise, writes its pictures, and is listed.

A lesson states what it teaches with ``check``, which raises
``LessonFailed`` when the training run does not show it; running
``main(["--quick", ...])`` here is therefore the lesson's test.
"""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from demos.__main__ import lessons
from demos._gallery import PICTURES
from needs_onnx import skip_without_onnx

ROOT = Path(__file__).resolve().parent.parent
# The lessons of issue 6; a lesson that goes missing from demos/ fails the listing test.
EXPECTED = {
    "linear_regression", "network_by_hand", "feature_importance", "moons", "backprop", "initialisation",
    "learning_rate", "regularisation", "weight_sharing", "lstm_gates", "transfer_learning", "monitoring",
}
LESSONS = [name for name, _ in lessons()]
NEEDS_ONNX = {"deployment"}  # it runs its exported model in ONNX Runtime
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_lesson_holds_in_quick_mode_and_draws(name, quick_lesson, matplotlib, pillow):
    if name in NEEDS_ONNX:
        skip_without_onnx("the lesson runs its exported model in ONNX Runtime")
    run = quick_lesson(name)  # raises LessonFailed if the lesson did not hold

    assert isinstance(run.results, dict) and run.results, f"{name}.main() should return a dict of its key results"
    pictures = sorted(run.out.rglob("*.png"))
    assert pictures, f"{name} wrote no PNG to {run.out}"
    for picture in pictures:
        assert picture.read_bytes()[:8] == PNG_SIGNATURE, f"{picture.name} is not a PNG"
        with pillow.open(picture) as image:
            darkest, lightest = image.convert("L").getextrema()
            assert image.width > 50 and image.height > 50, f"{picture.name} is only {image.size}"
        assert darkest < lightest, f"{picture.name} is blank"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_follows_the_conventions(name):
    module = importlib.import_module(f"demos.{name}")
    doc = (module.__doc__ or "").strip()
    assert doc, f"demos/{name}.py has no docstring"
    lines = doc.splitlines()
    assert lines[0].endswith("."), f"the first line of {name}'s docstring should be a one-line summary"
    assert len(lines) > 2, f"{name}'s docstring should explain the idea after its summary"
    assert callable(getattr(module, "main", None)), f"demos/{name}.py has no main(argv=None)"
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert 'if __name__ == "__main__":\n    main()' in source, f"demos/{name}.py cannot be run with python -m"


def test_python_m_demos_lists_every_lesson():
    listing = subprocess.run(
        [sys.executable, "-m", "demos"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    listed = {line.split()[2].removeprefix("demos.") for line in listing.splitlines()
              if line.startswith("python -m demos.")}
    assert EXPECTED <= listed, f"not listed by python -m demos: {sorted(EXPECTED - listed)}"
    assert listed == set(LESSONS), "python -m demos should list exactly the lesson modules"


def test_python_m_demos_lists_the_lessons_in_the_readmes_order():
    listing = subprocess.run(
        [sys.executable, "-m", "demos"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    ).stdout
    listed = [line.split()[2].removeprefix("demos.") for line in listing.splitlines()
              if line.startswith("python -m demos.")]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    gallery = readme[readme.index("## Lessons"):]
    taught = sorted(listed, key=lambda name: gallery.index(f"`python -m demos.{name}`"))
    assert listed == taught, "python -m demos should list the lessons in the order the README's gallery teaches them"


@pytest.mark.parametrize("name", ["moons", "lstm_gates"])
def test_help_says_where_the_pictures_go(name):
    usage = subprocess.run(
        [sys.executable, "-m", f"demos.{name}", "--help"], cwd=ROOT, capture_output=True, text=True, check=True,
        timeout=120,
    ).stdout
    assert f"out/{name}" in usage and "--quick" in usage


def test_readme_gallery_shows_every_lesson_with_its_picture():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    gallery = readme[readme.index("## Lessons"):]
    assert set(PICTURES) == set(LESSONS), "demos/_gallery.py should choose one picture for each lesson"
    for name in LESSONS:
        picture = ROOT / "docs" / "images" / "lessons" / f"{name}.png"
        assert f"`python -m demos.{name}`" in gallery, f"the README's gallery does not list {name}"
        assert f'src="docs/images/lessons/{name}.png"' in gallery, f"the README's gallery shows no picture of {name}"
        assert picture.read_bytes()[:8] == PNG_SIGNATURE, f"{picture} is missing or not a PNG (python -m demos._gallery)"
