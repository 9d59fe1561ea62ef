"""The README's example runs as printed, and every picture it shows is in the repository."""

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_ten_line_example_runs_and_draws(tmp_path, monkeypatch):
    section = README[README.index("## Ten lines"):]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(example.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {})
    assert float(printed.getvalue().split()[0]) == pytest.approx(1.0, abs=1e-6)
    assert "<svg" in (tmp_path / "neuron.svg").read_text(encoding="utf-8")


def test_every_picture_the_readme_shows_exists():
    pictures = re.findall(r'src="([^"]+)"', README) + re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert len(pictures) >= 15
    missing = [p for p in pictures if not (ROOT / p).is_file()]
    assert not missing, f"the README shows pictures that are not in the repository: {missing}"
