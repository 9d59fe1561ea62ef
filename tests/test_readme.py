"""The README works as printed: its examples run, its picture is what its code draws, its commands install
from this checkout, and every picture it shows is in the repository."""

import configparser
import contextlib
import io
import math
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from demos._gallery import ten_lines_example
from needs_dot import needs_dot

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SVG = "{http://www.w3.org/2000/svg}"


def python_block(heading):
    section = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def marked_command(marker):
    return re.search(rf"<!-- {marker} -->\n```bash\n(.*?)\n```", README).group(1)


def run_printing(code):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    return printed.getvalue()


def svg_texts(svg):
    return sorted(" ".join(t.text.split()) for t in ET.fromstring(svg).iter(f"{SVG}text") if t.text)


@needs_dot
def test_the_ten_line_example_runs_and_draws_the_picture_the_readme_shows(tmp_path, monkeypatch):
    example = ten_lines_example(README)
    assert len(example.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    printed = run_printing(example)
    assert float(printed.split()[0]) == pytest.approx(1.0, abs=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["neuron.svg"], "the example should leave only its picture"
    drawn = (tmp_path / "neuron.svg").read_bytes()
    picture = re.search(r"## Ten lines.*?!\[[^\]]*\]\(([^)]+)\)", README, re.S).group(1)
    shown = (ROOT / picture).read_bytes()
    # every name, data and grad in the README's picture is what the code draws (python -m demos._gallery)
    assert svg_texts(shown) == svg_texts(drawn)
    for name in ("x1", "w1", "n", "o", "mul1", "add1"):
        assert name in svg_texts(drawn)


def test_the_network_example_trains(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    example = python_block("## A network in ten lines")
    assert "from autodiff import Tensor, nn" in example
    printed = run_printing(example)
    loss, accuracy = re.fullmatch(r"loss ([\d.]+), accuracy (\d+)%\n", printed).groups()
    assert float(loss) < 0.2 and int(accuracy) >= 90


def test_the_onnx_example_predicts_the_same_classes_in_onnx_runtime(monkeypatch, tmp_path):
    from needs_onnx import skip_without_onnx

    skip_without_onnx()
    monkeypatch.chdir(tmp_path)
    example = python_block("## Models leave as ONNX")
    assert "nn.export_onnx(model, " in example and 'pip install -e ".[onnx]"' in README
    theirs, ours = re.fullmatch(r"(\[[\d ]+\]) (\[[\d ]+\])\n", run_printing(example)).groups()
    assert theirs == ours and len(theirs.split()) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_the_second_derivative_example_gives_the_numbers_its_comments_say():
    namespace = {}
    exec(compile(python_block("## Derivatives of derivatives"), "README.md", "exec"), namespace)
    assert namespace["dx"].data == 27.0 and namespace["d2x"] == 18.0


@needs_dot
def test_the_command_line_example_prints_what_the_readme_shows_through_a_tanh_that_is_not_saturated(tmp_path):
    command = re.search(r"<!-- cli-example -->\n```bash\n(.*?)\n```", README).group(1)
    shown = re.search(r"<!-- cli-output -->\n```text\n(.*?)```", README, re.S).group(1)
    arguments = shlex.split(command)
    assert arguments[:3] == ["python", "-m", "autodiff.viz"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, *arguments[1:]], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown
    values = dict(argument.split("=") for argument in arguments if "=" in argument)
    inside = float(values["a"]) * float(values["b"]) + float(values["c"])
    assert 1 - math.tanh(inside) ** 2 > 0.5  # the slope of tanh there: far from flat


def test_the_install_section_covers_the_supported_pythons_and_every_system():
    install = README[README.index("## Install"):README.index("## Two commands")]
    metadata = configparser.ConfigParser()
    metadata.read(ROOT / "setup.cfg")
    assert metadata["options"]["python_requires"] == ">=3.10"
    versions = re.findall(r"Python :: (3\.\d+)$", metadata["metadata"]["classifiers"], re.M)
    assert versions == ["3.10", "3.11", "3.12", "3.13"]
    assert "Python 3.10, 3.11, 3.12 or 3.13" in install
    for command in ("python3 -m venv .venv", ". .venv/bin/activate", "apt-get install graphviz",
                    "brew install graphviz", "conda install graphviz", "torch==2.13.0"):
        assert command in install, command


@pytest.mark.parametrize("marker", ["main-command", "test-command"])
def test_the_marked_commands_use_a_venv_and_install_this_checkout(marker):
    command = marked_command(marker)
    steps = command.split(" && ")
    assert steps[0] == "apt-get update"
    assert "python3-venv" in steps[1] and "graphviz" in steps[1]
    venv = steps.index("python3 -m venv .venv")
    assert steps[venv + 1] == ". .venv/bin/activate"
    installs = [s for s in steps if s.startswith("pip install")]
    assert installs and all(steps.index(s) > venv + 1 for s in installs), "pip only inside the venv"
    for install in installs:
        for requirement in install.split()[2:]:
            assert requirement in ("-e", '".[demos]"', '".[dev]"') or re.fullmatch(r"torch==2\.13\.0", requirement), \
                f"{requirement}: install this checkout or a pinned plain dependency"
    assert re.match(r"python (-m|-c)", steps[-1]), "python is the venv's, after activate"


def test_no_install_hint_names_a_package_that_could_be_a_strangers():
    """Nothing here is on PyPI: a hint names the plain dependency or this checkout, never autodiff[...]."""
    hint = re.compile(r"""pip install (-U )?["']?autodiff(\[|["'\s]|$)""", re.M)
    skipped = {".git", ".venv", "site", "out", "build", "dist", "node_modules", ".pytest_cache", ".hypothesis"}
    offending = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(part in skipped or part.endswith(".egg-info") for part in parts[:-1]) or not path.is_file():
            continue
        if path.suffix in (".py", ".md", ".cfg", ".toml", ".ipynb") or path.name == "run":
            if hint.search(path.read_text(encoding="utf-8", errors="replace")):
                offending.append(str(path.relative_to(ROOT)))
    assert not offending, f"install hints naming the distribution 'autodiff' (a stranger's on PyPI): {offending}"


def test_every_picture_the_readme_shows_exists():
    pictures = re.findall(r'src="([^"]+)"', README) + re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert len(pictures) >= 15
    missing = [p for p in pictures if not (ROOT / p).is_file()]
    assert not missing, f"the README shows pictures that are not in the repository: {missing}"


def test_the_readme_says_what_the_same_numbers_means():
    """Same weights and data in, same losses, gradients and updates out; seeds are this engine's own."""
    opening = README[:README.index("## What is in it")]
    assert "with the same numbers" in opening
    meaning = opening[opening.index('"The same numbers" means'):]
    for promise in ("same weights", "same gradients", "same updates", "Random draws are this engine's own",
                    "state_dict"):
        assert promise in " ".join(meaning.split()), f"the README's opening should say: {promise}"


def test_the_readme_says_a_cpu_only_torch_is_enough_and_how_to_install_it():
    install = " ".join(README[README.index("## Install"):README.index("## Two commands")].split())
    assert "A CPU-only build of torch is enough for every test" in install
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in install


def test_the_compile_example_prints_the_program_the_readme_shows_and_gives_eager_gradients():
    namespace = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(python_block("## Backpropagation as a program"), "README.md", "exec"), namespace)
    program = printed.getvalue().splitlines()
    section = README[README.index("## Backpropagation as a program"):]
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1).splitlines()
    assert len(shown) >= 5
    for line in shown:
        assert line in program, f"the README shows a line the program does not have: {line!r}"
    # the same two steps eagerly: .grad accumulates the same numbers
    import numpy as np

    from autodiff import Tensor

    W = Tensor(namespace["W"].data.copy(), requires_grad=True)
    for row in ([[1.0, 2.0]], [[0.5, -1.0]]):
        ((Tensor(np.array(row)) @ W).tanh() ** 2).sum().backward()
    assert np.array_equal(W.grad, namespace["W"].grad)


def test_your_own_operations_run_as_printed_and_their_derivatives_hold(torch):
    section = README[README.index("## Your own operations"):README.index("## Backpropagation as a program")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    scope = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), scope)  # the README's own examples, as a reader runs them
    assert printed.getvalue().split() == ["True", str(math.log(2))]
    autodiff, Tensor = scope["autodiff"], scope["Tensor"]
    # the Function and the Primitive give PyTorch's softplus gradient; the Primitive also its second derivative
    x = Tensor([-1.0, 0.5, 2.0], dtype=autodiff.float64, requires_grad=True)
    (derivative,) = autodiff.grad(scope["Softplus"].apply(x).sum(), x)
    t = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(torch.nn.functional.softplus(t).sum(), t, create_graph=True)
    assert derivative == pytest.approx(expected.detach().numpy(), rel=1e-12)
    (first,) = autodiff.grad(scope["softplus"](x).sum(), x, create_graph=True)
    (second,) = autodiff.grad(first.sum(), x)
    (expected_second,) = torch.autograd.grad(expected.sum(), t)
    assert second == pytest.approx(expected_second.numpy(), rel=1e-12)
