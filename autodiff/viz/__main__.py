"""``python -m autodiff.viz "(a*b + c).tanh()" a=2 b=-3 c=6.5``: see backpropagation through a small expression.

Writes the graph before backward (forward.svg: the data) and after
(backward.svg: the gradients), prints every chain-rule step, with
``--frames`` also writes one picture per step and an animated GIF, and
with ``--html`` a page (explore.html) that steps through backward in a
browser, forwards and back, with every node's numbers a click away. The
expression is read by ``autodiff.viz.expression``, which accepts only
arithmetic on the names given; anything else is refused (exit status 2).
"""

import argparse
import sys
from pathlib import Path

from .draw import GraphvizNotFound, draw_dot
from .explore import explore
from .expression import METHODS, ExpressionError, build, parse_assignments
from .frames import backward_frames, backward_gif
from .trace import trace_backward


def parser():
    result = argparse.ArgumentParser(
        prog="python -m autodiff.viz",
        description="Draw the graph of a small expression before and after backward, and print the chain rule "
                    "step by step. If the expression begins with a minus sign, put the options first and -- before it.",
    )
    result.add_argument("expression", help=f"e.g. \"(a*b + c).tanh()\": + - * / **, unary -, numbers, "
                                           f"and the methods {', '.join(METHODS)}")
    result.add_argument("values", nargs="*", metavar="NAME=VALUE", help="a value for each name, e.g. a=2 b=-3")
    result.add_argument("--out", type=Path, default=Path("out") / "viz", help="folder for the pictures")
    result.add_argument("--format", choices=("svg", "png"), default="svg", help="picture format")
    result.add_argument("--frames", action="store_true", help="also one picture per backward step and a GIF")
    result.add_argument("--html", action="store_true",
                        help="also explore.html: a page that steps through backward in a browser")
    return result


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        root = build(args.expression, parse_assignments(args.values))
    except ExpressionError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    except (ArithmeticError, ValueError) as error:
        print(f"cannot compute {args.expression}: {error}", file=sys.stderr)
        return 1
    if not hasattr(root, "children"):
        print(f"refused: {args.expression} has no named values to differentiate", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    forward = draw_dot(root, format=args.format)
    try:
        page = explore(root, args.out / "explore.html") if args.html else None
    except GraphvizNotFound:
        page = None  # the pictures below fail the same way, and say what to install
    trace = trace_backward(root, store=True)  # backward.svg shows the gradients it leaves
    print(trace)
    backward = draw_dot(root, format=args.format)
    try:
        for name, drawing in (("forward", forward), ("backward", backward)):
            path = args.out / f"{name}.{args.format}"
            path.write_bytes(drawing.pipe(format=args.format))
            print(f"wrote {path}")
        if args.frames:
            paths = backward_frames(trace, args.out / "frames", format=args.format)
            print(f"wrote {len(paths)} frames to {args.out / 'frames'}")
            print(f"wrote {backward_gif(trace, args.out / 'backward.gif')}")
        if page is not None:
            print(f"wrote {page.path}: open it in a browser to step through backward")
    except GraphvizNotFound as error:
        for name, drawing in (("forward", forward), ("backward", backward)):
            (args.out / f"{name}.gv").write_text(drawing.source)
        print(f"{error}\nwrote the DOT sources forward.gv and backward.gv to {args.out}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
