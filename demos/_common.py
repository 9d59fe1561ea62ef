"""What every lesson shares: its command line, its output folder, its closing lines, and how it states its lesson."""

import argparse
import sys
from pathlib import Path

from autodiff.viz import GraphvizNotFound


def parse_args(name, description, argv=None):
    """The lesson's options: ``--quick`` for a short run, ``--out DIR`` for its pictures (default out/<name>).

    Also makes standard output line-buffered, as it is on a terminal: a
    lesson whose output goes to a file (``> log``, a CI run) writes each
    line as it is printed, in order with the progress lines of its training
    loops (nn.Progress, on standard error), not all at once when it ends.
    """
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    default = Path("out") / name
    parser = argparse.ArgumentParser(
        prog=f"python -m demos.{name}", description=description,
        epilog=f"Pictures go to {default}/ (under the current folder) unless --out says otherwise.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run, as the tests do")
    parser.add_argument("--out", type=Path, default=default, help=f"folder for the pictures (default: {default})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def render_graph(drawing, path, formats=("svg", "png")):
    """Write the graph ``drawing`` as ``path``.svg, .png; the paths written.

    Without Graphviz's ``dot`` the lesson goes on without the picture: it
    says what it left out and how to get ``dot``, and returns no path.
    """
    written = []
    try:
        for fmt in formats:
            written.append(Path(f"{path}.{fmt}"))
            written[-1].write_bytes(drawing.pipe(format=fmt))  # pipe, not render: no DOT file left beside
        return written
    except GraphvizNotFound as error:
        print(f"left out the graph picture {Path(path).name}: {error}")
        return []


def report_pictures(out, pictures):
    """The closing line every lesson prints before its claims: ``pictures in DIR/: a.png, b.png``."""
    names = ", ".join(str(Path(p).relative_to(out)) if Path(p).is_relative_to(out) else str(p) for p in pictures)
    print(f"pictures in {out}/: {names}")


class LessonFailed(AssertionError):
    """What a lesson set out to show did not happen."""


def check(condition, claim):
    """Raise LessonFailed unless ``condition`` holds; ``claim`` says what the lesson promised."""
    if not condition:
        raise LessonFailed(f"the lesson did not hold: {claim}")
    print(f"  ✓ {claim}")
