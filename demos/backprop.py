"""Backpropagation step by step: the chain rule through one neuron, frame by frame, then a network learning.

A neuron computes o = tanh(n) with n = x1·w1 + x2·w2 + b. The forward
pass fills in every node's data from the inputs up. The backward pass
fills in every node's grad, do/d(node), from the output down:

1. do/do = 1: the seed;
2. at each node, in an order where a node comes after every node that
   uses it, each input receives its share by the chain rule,

       input.grad += d(node)/d(input) · node.grad

   with the local derivative d(node)/d(input) known from the forward pass:
   1 for a sum, the other factor for a product, 1 - tanh² for tanh;
3. a node used more than once (x · x, or an input of two operations)
   adds up the shares its uses send it.

The lesson prints each step as arithmetic, checks that the traced
gradients are exactly backward's and agree with finite differences, and
draws the graph before and after backward and one frame per step.

Then it trains a small network of Values (2 inputs, two hidden layers of
8 ReLU neurons, 1 output) on 24 points of the two moons with plain
gradient descent, p ← p - lr · dL/dp, and draws the loss, the decision
boundary, and the weights of each layer at the start and at the end.

It ends with one more training step, on the point nearest the decision
boundary, written as a page to open in a browser (``autodiff.explore``):
step forwards and back through its backward pass, one chain-rule step at
a time, each layer a box that opens on a click.

Writes to --out: neuron_forward.svg, neuron_backward.svg and .png,
neuron_frames/ (one PNG per step), neuron_backward.gif, neuron.html (the
neuron's backward pass as a page to step through),
classifier_training.png, classifier_boundary.png, classifier_weights.png,
classifier_norms.png, and classifier_step.html.
"""

import math

import nn
from autodiff import Value
from autodiff.viz import GraphvizNotFound, backward_frames, backward_gif, draw_dot, trace_backward
from autodiff.viz.explore import explore
from nn import plots
from nn.datasets import make_moons
from nn.monitor import TrainingMonitor
from nn.progress import Progress

from ._common import check, parse_args, render_graph

NEURON = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
STEPS, QUICK_STEPS = 40, 20
HIDDEN = [8, 8]


def neuron(values):
    """o = tanh(x1·w1 + x2·w2 + b) from ``values`` (name to number), every node labelled; returns (o, leaves)."""
    leaves = {name: Value(number, label=name) for name, number in values.items()}
    x1w1 = leaves["x1"] * leaves["w1"]
    x1w1.label = "x1*w1"
    x2w2 = leaves["x2"] * leaves["w2"]
    x2w2.label = "x2*w2"
    weighted = x1w1 + x2w2
    weighted.label = "x1*w1 + x2*w2"
    n = weighted + leaves["b"]
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, leaves


def finite_differences(values, h=1e-6):
    """do/d(leaf) for every leaf, estimated as (o(leaf + h) - o(leaf - h)) / 2h."""
    estimates = {}
    for name in values:
        up = neuron({**values, name: values[name] + h})[0].data
        down = neuron({**values, name: values[name] - h})[0].data
        estimates[name] = (up - down) / (2 * h)
    return estimates


def the_neuron(out):
    """Trace, check and draw backward through the neuron; returns the trace, the gradients and the files."""
    o, leaves = neuron(NEURON)
    files = render_graph(draw_dot(o), out / "neuron_forward", formats=("svg",))

    trace = trace_backward(o)
    print("\nbackward through o = tanh(x1*w1 + x2*w2 + b), one chain-rule step per line:")
    print(trace)
    traced = {name: leaf.grad for name, leaf in leaves.items()}

    files += render_graph(draw_dot(o), out / "neuron_backward")
    try:
        frames = backward_frames(trace, out / "neuron_frames", format="png")
        files += frames + [backward_gif(trace, out / "neuron_backward.gif")]
    except GraphvizNotFound as error:
        print(f"left out the frames and the GIF: {error}")
        frames = None

    try:
        files.append(explore(neuron(NEURON)[0], out / "neuron.html").path)
    except GraphvizNotFound as error:
        print(f"left out the page neuron.html: {error}")

    fresh, fresh_leaves = neuron(NEURON)
    fresh.backward()
    check(all(traced[name] == fresh_leaves[name].grad for name in NEURON),
          "the traced gradients are exactly those of backward()")
    estimates = finite_differences(NEURON)
    check(all(math.isclose(traced[name], estimates[name], abs_tol=1e-6) for name in NEURON),
          "each gradient agrees with its finite-difference estimate to 1e-6")
    check(math.isclose(traced["w1"], NEURON["x1"] * (1 - o.data**2), rel_tol=1e-12),
          "do/dw1 = x1 · (1 - tanh(n)²): the local derivatives multiplied along the path")
    if frames is not None:
        check(len(frames) == len(trace), f"one frame per backward step ({len(trace)})")
    return trace, traced, estimates, files


def used_twice():
    """x · x: the two uses of x each send it a share, and the shares add up to 2x."""
    x = Value(3.0, label="x")
    square = x * x
    square.label = "x*x"
    trace = trace_backward(square)
    print("\na node used twice, y = x * x:")
    print(trace)
    check(x.grad == 2 * x.data and trace[-1].kind == "accumulate",
          "the shares of both uses add up: dy/dx = x + x = 2x")
    return trace


def the_classifier(out, steps):
    """Train an MLP of Values on a few moons points by hand-written gradient descent, and draw it learning."""
    nn.manual_seed(0)
    X, labels = make_moons(24, noise=0.05, seed=0)
    y = 2 * labels - 1  # -1 and +1, as the max-margin loss wants them
    rows = X.tolist()
    model = nn.MLP(2, HIDDEN + [1])
    monitor = TrainingMonitor(model, histogram_steps=[0, steps - 1])
    print(f"\ntraining MLP(2, {HIDDEN + [1]}), {model.num_parameters()} parameters, on {len(rows)} points:")
    history = {"loss": [], "accuracy": []}
    bar = Progress(range(steps), desc="training")
    for step in bar:
        scores = [model(row) for row in rows]
        loss = nn.hinge_loss(scores, y)
        accuracy = nn.accuracy(scores, y)
        model.zero_grad()
        loss.backward()
        monitor.record(step, loss=loss, accuracy=accuracy)
        learning_rate = 1.0 - 0.9 * step / steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history["loss"].append(loss.data)
        history["accuracy"].append(accuracy)
        bar.show(loss=loss, accuracy=accuracy)
        if step % 10 == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {loss.data:.4f}  accuracy {accuracy:.0%}")
    files = [out / f"classifier_{name}.png" for name in ("training", "boundary", "weights", "norms")]
    plots.training_curves(history, path=files[0])
    plots.decision_boundary(model, X, labels, resolution=40 if steps == QUICK_STEPS else 100, path=files[1])
    plots.weight_histograms(monitor, path=files[2])
    plots.layer_norms(monitor, path=files[3])

    check(history["loss"][-1] < history["loss"][0] / 4, "gradient descent cuts the loss to under a quarter")
    if steps == QUICK_STEPS:
        check(history["accuracy"][-1] >= 0.9, "the network classifies at least 90% of the points correctly")
    else:
        check(history["accuracy"][-1] == 1.0, "the network classifies every point correctly")
    return history, files, (model, rows, y.tolist())


def the_page(out, model, rows, y):
    """One more training step, on the point nearest the boundary, as a page to step through.

    Returns the page's path, or None without Graphviz's dot.
    """
    margins = [label * model(row).data for row, label in zip(rows, y)]
    nearest = min(range(len(rows)), key=margins.__getitem__)
    loss = nn.hinge_loss([model(rows[nearest])], [y[nearest]])
    loss.label = "loss"
    model.zero_grad()  # as a training step starts
    try:
        page = explore(loss, out / "classifier_step.html", module=model)
    except GraphvizNotFound as error:
        print(f"left out the page classifier_step.html: {error}")
        return None
    print(f"\none more training step, on point {nearest} (margin {margins[nearest]:.3f}), to step through in a browser:"
          f"\n  {page.path}")
    check(all(p.grad == 0.0 for p in model.parameters()),
          "writing the page changed no gradient: it steps through backward on its own copies")
    return page.path


def main(argv=None):
    args = parse_args("backprop", __doc__.splitlines()[0], argv)
    trace, gradients, estimates, neuron_files = the_neuron(args.out)
    square_trace = used_twice()
    history, classifier_files, (model, rows, y) = the_classifier(args.out, QUICK_STEPS if args.quick else STEPS)
    page = the_page(args.out, model, rows, y)
    files = neuron_files + classifier_files + ([page] if page is not None else [])
    pictures = ", ".join(f.name for f in files if f.parent == args.out)
    frames = sum(1 for f in files if f.parent == args.out / "neuron_frames")
    print(f"\npictures in {args.out}/: {pictures}" + (f", and {frames} frames in neuron_frames/" if frames else ""))
    return {
        "trace": trace, "gradients": gradients, "finite_differences": estimates,
        "square_trace": square_trace, "history": history, "files": files, "page": page,
    }


if __name__ == "__main__":
    main()
