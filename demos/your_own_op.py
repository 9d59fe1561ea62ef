"""Your own operation: softplus with a wrong derivative, caught by gradcheck, found on the explorer page, then fixed.

A neuron weighs its inputs, adds its bias and passes the sum through an
activation function; training moves the weights by the derivative of
everything on the way, the activation included. So an operation of your
own is only as good as its derivative, and a wrong one does not crash:
it trains, wrongly. This lesson writes one, gets it wrong the way
students do, and lets the engine find the mistake.

The operation is softplus(x) = ln(1 + eˣ), a smooth relu: near 0 far to
the left, near x far to the right. By the chain rule (the derivative of
ln u is 1/u, and u = 1 + eˣ has derivative eˣ)

    softplus'(x) = 1/(1 + eˣ) · eˣ = 1/(1 + e⁻ˣ) = σ(x),

the logistic sigmoid. (The forward pass computes the same number as
max(x, 0) + ln(1 + e^-|x|), so that e to a large power never overflows.)

Part 1 writes softplus as an ``autodiff.Function``, PyTorch's protocol
for an operation of your own: ``forward(ctx, x)`` computes the result
and keeps x for later (``ctx.save_for_backward``); ``backward(ctx,
grad)`` receives grad = dL/d(out) and returns dL/dx = grad · softplus'(x).
The first version forgets the chain rule's inner factor eˣ and returns
grad / (1 + eˣ), which is σ(-x). At x = 0 the two agree (both are ½), so
a check at 0 alone cannot see the mistake. ``autodiff.gradcheck``
compares backward with central differences, (f(x + h) - f(x - h)) / 2h,
at every element, and names the input, the element and both numbers.

Part 2 writes a page that steps through backward in a browser
(``autodiff.explore``) for one neuron, o = softplus(x1·w1 + x2·w2 + b),
once with the wrong Function and once with the right one. The two pages
agree up to the step of the Function's node: there n.grad becomes
1/(1 + eⁿ) instead of σ(n), and every later step carries the error on to
the weights. The lesson reads both pages, finds that step, and says
where to look.

Part 3 fixes backward (grad · σ(x)): gradcheck passes, and the values and
gradients match PyTorch's ``torch.nn.functional.softplus`` (without
PyTorch, finite differences of numpy's ``logaddexp`` stand in, and the
lesson says so).

Part 4 writes the same operation the engine's own way, as an
``autodiff.Primitive``: one line of forward and one rule, each written
with the functions of a namespace ``xp``. The engine runs that rule on
floats (Values), on arrays (Tensors), on nodes (``create_graph``: the
gradient is itself a graph, so second derivatives come free, and
``gradgradcheck`` checks them), and on expressions (a trace writes the
step as the rule, ``n.grad += sigmoid(n.data) * o.grad``); being
elementwise, forward mode (``autodiff.jvp``) applies the rule to the
tangent. A Function's backward, by contrast, is Python the engine calls
but cannot read: it may do anything (numpy, a solver, code ported from
PyTorch by renaming), but a trace can only say that it ran, forward
mode needs a ``jvp`` of its own, and second derivatives come only when
backward is written with the engine's operations, as the fixed one is.

Writes to --out: your_own_op.png (the mistake, and the pages' steps side
by side), primitive_derivatives.png (the Primitive's derivatives against
their formulas), and the pages wrong_softplus.html and softplus.html to
open in a browser (these need Graphviz's dot).
"""

import json
import math
import re

import numpy as np

import autodiff
from autodiff import Function, GradcheckError, Primitive, Tensor, Value, gradcheck, gradgradcheck, trace_backward
from autodiff.viz import GraphvizNotFound

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

# gradcheck's points: the first is where the wrong derivative happens to be right
POINTS = [0.0, 1.5, -2.0, 3.0]
# the neuron of the pages: two inputs need three weights, one for each and one for the bias; n = 1
NEURON = {"x1": 2.0, "w1": 0.25, "x2": -1.0, "w2": 0.5, "b": 1.0}
# points on [-6, 6] where the fixed versions are compared with PyTorch and drawn
GRID, QUICK_GRID = 241, 25
SAME = 1e-12  # float64 results of the same formula computed two ways differ by rounding alone


def softplus_of(x):
    """ln(1 + eˣ) computed as max(x, 0) + ln(1 + e^-|x|): the same number, with no eˣ to overflow."""
    return x.relu() + (1 + (-x.abs()).exp()).log()


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -- part 1: a Function with a wrong derivative -----------------------------------------------------


class WrongSoftplus(Function):
    """softplus whose backward forgets the chain rule's inner factor eˣ: 1/(1 + eˣ), not eˣ/(1 + eˣ)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return softplus_of(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + x.exp())


class Softplus(Function):
    """softplus with its derivative right: d/dx ln(1 + eˣ) = eˣ/(1 + eˣ) = σ(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return softplus_of(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.sigmoid()


# -- part 4: the same operation as a Primitive ------------------------------------------------------

SOFTPLUS = Primitive(
    "softplus", lambda xp, a: xp.maximum(a, 0) + xp.log(1 + xp.exp(-xp.abs(a))),
    (lambda xp, g, out, a: xp.sigmoid(a) * g,),
    elementwise=True, doc="ln(1 + eᵃ);  dL/da = σ(a) · g.",
)


def the_mistake():
    """gradcheck on the wrong Function: the error it raises, and that x = 0 alone would have passed."""
    x = Tensor(np.array(POINTS), requires_grad=True, label="x")
    print(f"\nPart 1: gradcheck of WrongSoftplus at x = {POINTS}")
    try:
        gradcheck(lambda x: WrongSoftplus.apply(x).sum(), [x])
    except GradcheckError as caught:
        error = caught
    else:
        error = None
    check(error is not None, "gradcheck refuses the wrong backward")
    print(f"  GradcheckError: {error}")
    at = POINTS[error.element[0]]
    check(error.input == 0 and error.element == (1,) and at == 1.5,
          "it names input 0 ('x') and its element (1,), x = 1.5: the first point after x = 0")
    check(math.isclose(error.analytic, 1 / (1 + math.exp(at)), rel_tol=1e-12)
          and math.isclose(error.numerical, sigmoid(at), rel_tol=1e-6),
          f"its numbers are the wrong derivative, 1/(1 + e^{at}) = {error.analytic:.4f}, and the true one, "
          f"σ({at}) = {error.numerical:.4f}, found by finite differences")
    at_zero = gradcheck(lambda x: WrongSoftplus.apply(x).sum(), [Tensor(np.array([0.0]), requires_grad=True)])
    check(at_zero, "at x = 0 alone the mistake hides, σ(-0) = σ(0) = ½: check more than one point")
    return error


# -- part 2: the pages --------------------------------------------------------------------------------


def neuron(softplus):
    """o = softplus(x1·w1 + x2·w2 + b) of Values, every node labelled as the pages name it."""
    leaves = {name: Value(number, label=name) for name, number in NEURON.items()}
    x1w1 = leaves["x1"] * leaves["w1"]
    x1w1.label = "x1*w1"
    x2w2 = leaves["x2"] * leaves["w2"]
    x2w2.label = "x2*w2"
    weighted = x1w1 + x2w2
    weighted.label = "x1*w1 + x2*w2"
    n = weighted + leaves["b"]
    n.label = "n"
    o = softplus(n)
    o.label = "o"
    return o


def page_steps(root, path):
    """The steps the page ``explore`` writes for ``root`` holds: [(target, op of the node, grad after, text)].

    None, with the reason printed, without Graphviz's dot.
    """
    try:
        page = autodiff.explore(root, path)
    except GraphvizNotFound as error:
        print(f"left out the page {path.name}: {error}")
        return None
    data = json.loads(re.search(r'<script type="application/json" id="explore-data">(.*?)</script>',
                                page.html, re.S).group(1))
    nodes = data["nodes"]
    return [(nodes[step["target"]]["name"], nodes[step["node"]]["op"], step["grad"]["value"], step["text"])
            for step in data["steps"]]


def trace_steps(root):
    """The same steps from ``trace_backward``, which the page is made from: for when there is no page."""
    return [(step.target.label, step.node.op, step.grad_after, step.text) for step in trace_backward(root)]


def first_difference(wrong, right):
    """The index of the first step whose gradient differs between the two lists of steps."""
    return next(k for k, (a, b) in enumerate(zip(wrong, right)) if not math.isclose(a[2], b[2], rel_tol=SAME))


def the_pages(out):
    """Both neurons' pages, or traces without dot; the step where they part, checked."""
    print("\nPart 2: backward through o = softplus(x1*w1 + x2*w2 + b), with each Function, step by step")
    paths = {"wrong": out / "wrong_softplus.html", "right": out / "softplus.html"}
    wrong = page_steps(neuron(WrongSoftplus.apply), paths["wrong"])
    right = page_steps(neuron(Softplus.apply), paths["right"])
    source = "pages"
    if wrong is None or right is None:
        wrong, right = trace_steps(neuron(WrongSoftplus.apply)), trace_steps(neuron(Softplus.apply))
        source = "traces (the steps the pages would show)"
    k = first_difference(wrong, right)
    target, op, value, text = wrong[k]
    n = sum(NEURON[a] * NEURON[b] for a, b in (("x1", "w1"), ("x2", "w2"))) + NEURON["b"]
    print(f"  the {source} agree up to step {k}; step {k + 1} of {len(wrong)} is the first that differs:\n"
          f"    wrong: {text}\n    right: {right[k][3]}")
    if source == "pages":
        print(f"  open {paths['wrong']} and press → {k + 1} times to see it (or {paths['right']} for the right one)")
    check(op == "WrongSoftplus" and target == "n",
          f"the first step that differs is the Function's own: WrongSoftplus sends n its share (step {k + 1})")
    check(math.isclose(value, 1 / (1 + math.exp(n)), rel_tol=SAME)
          and math.isclose(right[k][2], sigmoid(n), rel_tol=SAME),
          f"there n.grad is 1/(1 + e^n) = {value:.4f} where it should be σ(n) = {right[k][2]:.4f}, at n = {n:g}")
    leaves_after = {a[0] for a, b in zip(wrong[k:], right[k:]) if not math.isclose(a[2], b[2], rel_tol=SAME)}
    check({"w1", "w2", "b"} <= leaves_after,
          "every weight and the bias get a wrong gradient after it: the mistake flows down the graph")
    return {"wrong": wrong, "right": right, "first_difference": k, "source": source,
            "pages": list(paths.values()) if source == "pages" else []}


# -- part 3: fixed, and compared with PyTorch --------------------------------------------------------


def values_and_gradients(apply, grid):
    x = Tensor(grid.copy(), requires_grad=True)
    y = apply(x)
    y.sum().backward()
    return y.data, x.grad


def reference(grid):
    """softplus and its derivative on ``grid`` from PyTorch, or from numpy and finite differences without it."""
    try:
        import torch
    except ImportError:
        print("  PyTorch is not installed: compared with numpy's logaddexp(0, x) and its central differences "
              "instead (pip install torch to compare with torch.nn.functional.softplus)")
        h = 1e-6
        slope = (np.logaddexp(0, grid + h) - np.logaddexp(0, grid - h)) / (2 * h)
        return "numpy's logaddexp(0, x) and its finite differences", np.logaddexp(0, grid), slope, None, 1e-8
    x = torch.tensor(grid, requires_grad=True)
    y = torch.nn.functional.softplus(x)
    (slope,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (curvature,) = torch.autograd.grad(slope.sum(), x)
    return "PyTorch", y.detach().numpy(), slope.detach().numpy(), curvature.numpy(), SAME


def the_fix(grid):
    print("\nPart 3: the fixed Function")
    x = Tensor(np.array(POINTS), requires_grad=True, label="x")
    check(gradcheck(lambda x: Softplus.apply(x).sum(), [x]), "gradcheck passes the fixed backward, grad · σ(x)")
    source, values, slopes, curvatures, tolerance = reference(grid)
    ours, our_slopes = values_and_gradients(Softplus.apply, grid)
    gap = max(np.abs(ours - values).max(), np.abs(our_slopes - slopes).max())
    print(f"  on {len(grid)} points of [{grid[0]:g}, {grid[-1]:g}], against {source}: "
          f"values and gradients at most {gap:.1e} apart")
    matched = "PyTorch's torch.nn.functional.softplus" if source == "PyTorch" else source
    check(gap < tolerance, f"its values and gradients match {matched}")
    check(gradgradcheck(lambda x: Softplus.apply(x).sum(), [x]),
          "its backward is written with the engine's operations, so it differentiates again: gradgradcheck passes")
    try:
        autodiff.jvp(Softplus.apply, Tensor(np.array(POINTS)), np.ones(len(POINTS)))
        refused = None
    except NotImplementedError as error:
        refused = str(error)
    check(refused is not None and "Softplus has no jvp" in refused,
          "forward mode through it is refused by name: a Function needs a jvp of its own")
    return {"source": source, "reference": (values, slopes, curvatures), "gap": gap}


# -- part 4: the Primitive ------------------------------------------------------------------------------


def the_primitive(grid, fix):
    print("\nPart 4: the same operation as a Primitive: one line of forward, one rule")
    values, slopes, curvatures = fix["reference"]
    x = Tensor(grid.copy(), requires_grad=True)
    y = SOFTPLUS(x)
    (slope,) = autodiff.grad(y.sum(), x, create_graph=True)
    (curvature,) = autodiff.grad(slope.sum(), x)
    _, tangent = autodiff.jvp(SOFTPLUS, Tensor(grid.copy()), np.ones_like(grid))
    by_function, _ = values_and_gradients(Softplus.apply, grid)
    s = sigmoid(grid)
    check(np.abs(y.data - by_function).max() < SAME and np.abs(slope.data - s).max() < SAME,
          "it computes what the Function computes, and its gradient is σ(x)")
    check(np.abs(curvature - s * (1 - s)).max() < SAME and np.abs(tangent.data - s).max() < SAME,
          "second derivatives and forward mode come free: d²/dx² = σ(x)(1 - σ(x)), and jvp along 1 gives σ(x)")
    if curvatures is not None:
        check(np.abs(curvature - curvatures).max() < SAME, "its second derivatives match PyTorch's")
    points = Tensor(np.array(POINTS), requires_grad=True, label="x")
    check(gradcheck(lambda x: SOFTPLUS(x).sum(), [points]) and gradgradcheck(lambda x: SOFTPLUS(x).sum(), [points]),
          "gradcheck and gradgradcheck pass it")
    written = next(text for target, _, _, text in trace_steps(neuron(SOFTPLUS)) if target == "n")
    called = next(text for target, _, _, text in trace_steps(neuron(Softplus.apply)) if target == "n")
    print(f"  a trace's step through the Primitive is its rule, written in the nodes' names:\n    {written}\n"
          f"  through the Function it can only say that backward ran:\n    {called}")
    check("sigmoid(n.data)" in written, "the trace writes the Primitive's step as its rule, σ in the nodes' names")
    return {"grid": grid, "values": y.data, "slope": slope.data, "curvature": curvature, "tangent": tangent.data}


# -- pictures ------------------------------------------------------------------------------------------


def draw_lesson(error, pages, grid, path):
    fig, (left, right) = figure(13, 4.8, 1, 2, gridspec_kw={"width_ratios": [1.15, 1], "wspace": 0.45})
    fine = np.linspace(grid[0], grid[-1], 400)
    left.plot(fine, np.logaddexp(0, fine), color="gray", label="softplus(x) = ln(1 + eˣ)")
    left.plot(fine, sigmoid(fine), color="tab:green", linewidth=2.2, label="its derivative, σ(x)")
    left.plot(fine, 1 / (1 + np.exp(fine)), color="tab:red", linestyle="--", linewidth=2,
              label="the wrong backward, 1/(1 + eˣ)")
    h = 1e-6
    points = np.array(POINTS)
    estimates = (np.logaddexp(0, points + h) - np.logaddexp(0, points - h)) / (2 * h)
    left.plot(points, estimates, "ko", markersize=5, label="finite differences at gradcheck's points")
    at = POINTS[error.element[0]]
    left.plot([at, at], [error.analytic, error.numerical], color="black", linewidth=1)
    left.annotate(f"gradcheck:\ninput 0 ('x'), element {error.element}\nbackward {error.analytic:.4f}\n"
                  f"finite differences {error.numerical:.4f}", (at, (error.analytic + error.numerical) / 2),
                  xytext=(2.0, 0.25), fontsize=8, arrowprops={"arrowstyle": "->", "color": "black"})
    left.annotate("equal at 0", (0, 0.5), xytext=(-4.6, 0.6), fontsize=8,
                  arrowprops={"arrowstyle": "->", "color": "gray"})
    left.set(title="part 1: backward's derivative against finite differences", xlabel="x", ylim=(-0.1, 2.2))
    left.legend(loc="upper left", fontsize=8)

    wrong, correct, k = pages["wrong"], pages["right"], pages["first_difference"]
    rows = np.arange(len(wrong))
    right.barh(rows - 0.2, [step[2] for step in correct], height=0.4, color="tab:green", label="Softplus")
    right.barh(rows + 0.2, [step[2] for step in wrong], height=0.4, color="tab:red", label="WrongSoftplus")
    right.set_yticks(rows, [f"{i + 1}. {step[0]}" for i, step in enumerate(wrong)], fontsize=8)
    right.invert_yaxis()
    right.axhspan(k - 0.5, k + 0.5, color="gold", alpha=0.35, zorder=0)
    right.annotate(f"step {k + 1}: the Function's node\nsends n the wrong share", (max(wrong[k][2], correct[k][2]), k),
                   xytext=(12, -4), textcoords="offset points", fontsize=8, va="center")
    right.axvline(0, color="black", linewidth=0.6)
    low, high = right.get_xlim()
    right.set_xlim(low, high + 0.45 * (high - low))  # room for the note beside the bars
    right.set(title=f"part 2: each step of the {'pages' if pages['source'] == 'pages' else 'traces'}, "
              "gradient after it", xlabel="the node's gradient after the step", ylabel="step: the node it changes")
    right.legend(loc="lower right", fontsize=8)
    return save(fig, path)


def draw_primitive(primitive, path):
    fig, ax = figure(6.5, 4)
    grid = primitive["grid"]
    fine = np.linspace(grid[0], grid[-1], 400)
    s = sigmoid(fine)
    ax.plot(fine, s, color="tab:green", linewidth=1, label="σ(x), the formula")
    ax.plot(fine, s * (1 - s), color="tab:purple", linewidth=1, label="σ(x)(1 - σ(x)), the formula")
    ax.plot(grid, primitive["slope"], "o", color="tab:green", markersize=3.5, label="backward (autodiff.grad)")
    ax.plot(grid, primitive["tangent"], "x", color="black", markersize=4, label="forward mode (autodiff.jvp)")
    ax.plot(grid, primitive["curvature"], "o", color="tab:purple", markersize=3.5,
            label="second derivative (grad of grad)")
    ax.set(title="SOFTPLUS, a Primitive: one rule gives all three", xlabel="x")
    ax.legend(loc="upper left", fontsize=8)
    return save(fig, path)


# -- the lesson ------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args("your_own_op", __doc__.splitlines()[0], argv)
    grid = np.linspace(-6.0, 6.0, QUICK_GRID if args.quick else GRID)
    error = the_mistake()
    pages = the_pages(args.out)
    fix = the_fix(grid)
    primitive = the_primitive(grid, fix)
    pictures = [
        draw_lesson(error, pages, grid, args.out / "your_own_op.png"),
        draw_primitive(primitive, args.out / "primitive_derivatives.png"),
        *pages["pages"],
    ]
    print()
    report_pictures(args.out, pictures)
    return {"error": error, "pages": pages, "reference": fix["source"], "gap": fix["gap"], "primitive": primitive}


if __name__ == "__main__":
    main()
