"""What every lesson shares: its command line, its output folder, and how it states its lesson."""

import argparse
from pathlib import Path


def parse_args(name, description, argv=None):
    """The lesson's options: ``--quick`` for a short run, ``--out DIR`` for its pictures (default out/<name>)."""
    parser = argparse.ArgumentParser(prog=f"python -m demos.{name}", description=description)
    parser.add_argument("--quick", action="store_true", help="a short run, as the tests do")
    parser.add_argument("--out", type=Path, default=Path("out") / name, help="folder for the pictures")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


class LessonFailed(AssertionError):
    """What a lesson set out to show did not happen."""


def check(condition, claim):
    """Raise LessonFailed unless ``condition`` holds; ``claim`` says what the lesson promised."""
    if not condition:
        raise LessonFailed(f"the lesson did not hold: {claim}")
    print(f"  ✓ {claim}")
