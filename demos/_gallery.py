"""Regenerate the README's pictures: run every lesson in full, keep one picture of each, small.

    python -m demos._gallery      # writes docs/images/lessons/<lesson>.png, backprop_* and ten_lines_neuron.svg

The picture under "Ten lines" is drawn by running the README's own
example, so the picture and the code cannot disagree.
"""

import argparse
import contextlib
import importlib
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

from .__main__ import lessons

# the picture that shows each lesson best, as the lesson names it in its --out folder
PICTURES = {
    "linear_regression": "linear_regression.png",
    "network_by_hand": "network_by_hand.png",
    "feature_importance": "feature_importance.png",
    "moons": "decision_boundary.png",
    "backprop": "neuron_backward.png",
    "tensors_by_hand": "tensors_by_hand.png",
    "backprop_as_code": "backprop_as_code.png",
    "initialisation": "initialisation.png",
    "learning_rate": "learning_rate.png",
    "second_order": "newton_vs_gradient_descent.png",
    "regularisation": "regularisation.png",
    "weight_sharing": "weight_sharing.png",
    "lstm_gates": "lstm_gates.png",
    "makemore": "makemore.png",
    "gpt": "gpt.png",
    "transfer_learning": "transfer_learning.png",
    "monitoring": "broken_norms.png",
    "pytorch_port": "predictions.png",
    "your_own_op": "your_own_op.png",
    "deployment": "deployment.png",
}
# the README's pictures of backpropagation, copied as the lessons wrote them
BACKPROP_PICTURES = {
    "backprop": {
        "neuron_frames/step_07.png": "backprop_frame_x1.png",  # the step where x1 receives its share
        "classifier_weights.png": "backprop_weights.png",
    },
}
# the pages a lesson writes with autodiff.explore, to step through in a browser: the documentation's
# gallery (docs/build.py) runs the lesson and links them, each with what it shows
EXPLORER_PAGES = {
    "backprop": {
        "neuron.html": "the neuron o = tanh(x1·w1 + x2·w2 + b), one chain-rule step at a time",
        "classifier_step.html": "one training step of the network of Values, each layer a box that opens",
    },
    "tensors_by_hand": {
        "matrix_product.html": "L = ½ Σ (A @ B - T)²: the gradients of a matrix product, step by step",
    },
}
# widest a gallery picture may be, in pixels; taller ones shrink to keep their shape
WIDTH = 800


def shrink(source, target):
    """Copy the PNG ``source`` to ``target`` at most WIDTH pixels wide, in 256 colours (a small file)."""
    from PIL import Image

    with Image.open(source) as image:
        image = image.convert("RGB")
        if image.width > WIDTH:
            image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
        image.quantize(colors=256).save(target, optimize=True)


def ten_lines_example(readme):
    """The code of the README's "Ten lines" section."""
    section = readme[readme.index("## Ten lines"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def draw_ten_lines(readme, target):
    """Run the README's ten-line example in an empty folder and keep the picture it writes as ``target``."""
    with tempfile.TemporaryDirectory() as folder:
        here = Path.cwd()
        os.chdir(folder)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(ten_lines_example(readme), "README.md", "exec"), {})
        finally:
            os.chdir(here)
        shutil.copyfile(Path(folder) / "neuron.svg", target)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demos._gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs") / "images")
    args = parser.parse_args(argv)
    (args.out / "lessons").mkdir(parents=True, exist_ok=True)
    missing = sorted({name for name, _ in lessons()} - set(PICTURES))
    if missing:
        raise SystemExit(f"no gallery picture chosen for: {', '.join(missing)} (add them to PICTURES)")
    for name, picture in PICTURES.items():
        print(f"\n=== python -m demos.{name}")
        with tempfile.TemporaryDirectory() as folder:
            importlib.import_module(f"demos.{name}").main(["--out", folder])
            shrink(Path(folder) / picture, args.out / "lessons" / f"{name}.png")
            for source, target in BACKPROP_PICTURES.get(name, {}).items():
                shutil.copyfile(Path(folder) / source, args.out / target)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    draw_ten_lines(readme, args.out / "ten_lines_neuron.svg")
    print(f"\npictures in {args.out}/")


if __name__ == "__main__":
    main()
