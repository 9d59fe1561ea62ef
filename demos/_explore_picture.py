"""Remake the README's picture of the page ``explore`` writes: ``python -m demos._explore_picture``.

Writes the README's neuron as a page, opens it in Chromium (through
Playwright for Python, launched on the system's ``chromium``), steps to
step 7, where x1 receives its share through the product x1*w1, clicks x1
and saves the window as docs/images/explore.png.
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from autodiff import Value
from autodiff.viz.explore import explore

ROOT = Path(__file__).resolve().parent.parent
STEP = 7
WINDOW = {"width": 1440, "height": 540}


def readme_neuron():
    """The README's neuron, with its sum and output labelled as the pictures label them."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m demos._explore_picture", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "explore.png")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        page_path = explore(readme_neuron(), Path(folder) / "neuron.html").path
        arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=args.chromium, args=arguments)
        page = browser.new_page(viewport=WINDOW, device_scale_factor=2)  # sharp where the README shrinks it
        page.goto(page_path.as_uri())
        for _ in range(STEP):
            page.keyboard.press("ArrowRight")
        page.evaluate("names => autodiffExplorer.select(names.indexOf('x1'))",
                      page.evaluate("autodiffExplorer.state().grads.map(g => g.name)"))
        page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
