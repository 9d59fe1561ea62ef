"""Remake the README's pictures of backpropagation from the lesson demos/backprop.py.

    python docs/images/make_images.py

Runs the lesson in a scratch folder and copies four of its pictures here:
the neuron's graph after backward (SVG and PNG), the backward frame where
the chain rule reaches x1, and the decision boundary of the small network.
"""

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from demos import backprop  # noqa: E402


def main():
    with tempfile.TemporaryDirectory() as scratch:
        results = backprop.main(["--out", scratch])
        out = Path(scratch)
        step = next(k for k, s in enumerate(results["trace"], 1) if s.text.startswith("x1.grad"))
        frames = sorted((out / "neuron_frames").glob("step_*.png"))
        chosen = {
            "neuron_backward.svg": "backprop_neuron_graph.svg",
            "neuron_backward.png": "backprop_neuron_graph.png",
            f"neuron_frames/{frames[step - 1].name}": "backprop_frame_x1.png",
            "classifier_boundary.png": "backprop_decision_boundary.png",
        }
        for source, target in chosen.items():
            shutil.copyfile(out / source, HERE / target)
            print(f"wrote {HERE / target}")


if __name__ == "__main__":
    main()
