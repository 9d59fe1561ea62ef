"""The two-moons MLP: 337 scalar Values learn to separate two interleaving half circles.

micrograd's classic demo. A network of 2 inputs, two hidden layers of 16
ReLU neurons and one linear output neuron has 337 parameters: every
neuron holds one weight per input and one bias. It scores each point;
the sign of the score is the predicted class. Training repeats four moves:

1. forward: score every point and measure the loss, a max-margin loss
   mean(relu(1 - y·score)) plus a small L2 penalty on the weights;
2. backward: fill in d(loss)/d(p) for all 337 parameters p;
3. update: move each parameter a little against its gradient,
   p ← p - lr · d(loss)/dp, with a learning rate decaying from 1.0 to 0.1;
4. repeat, until every training point is on the right side.

Writes the decision boundary and the graph of one neuron to --out.
"""

import nn
from autodiff import Value, draw_dot
from nn.datasets import make_moons

from ._common import check, parse_args, render_graph, report_pictures

STEPS = 100
QUICK_STEPS = 15
OUTPUT_LABEL = "relu(w·x+b)"


def train(model, X, y, steps, log=print):
    """Full-batch gradient descent; returns the loss and accuracy of every step."""
    history = {"loss": [], "accuracy": []}
    rows = X.tolist()
    for k in range(steps):
        scores = [model(row) for row in rows]
        loss = nn.hinge_loss(scores, y) + 1e-4 * nn.l2_penalty(model.weights())
        accuracy = nn.accuracy(scores, y)

        model.zero_grad()
        loss.backward()
        learning_rate = 1.0 - 0.9 * k / STEPS
        for p in model.parameters():
            p.data -= learning_rate * p.grad

        history["loss"].append(loss.data)
        history["accuracy"].append(accuracy)
        if k % 10 == 0 or k == steps - 1:
            log(f"step {k:3d}  loss {loss.data:.4f}  accuracy {accuracy:.0%}")
    return history


def one_neuron(model, X):
    """The graph that computed the first neuron of the first hidden layer, after backward from that neuron,
    at the training point where it fires most.

    Inputs and weights are numbered alike (x1 meets w1), as in micrograd's
    lecture; the caption says which neuron of the model this is, and that
    its grads are the neuron's own derivatives, not the loss's: backward
    starts at the neuron's output here.
    """
    neuron = model.layers[0].neurons[0]
    point = max(X.tolist(), key=lambda row: neuron(row).data)
    inputs = [Value(value, label=f"x{i + 1}") for i, value in enumerate(point)]
    for i, w in enumerate(neuron.w):
        w.label = f"w{i + 1}"
    neuron.b.label = "b"
    activation = neuron(inputs)
    activation.label = OUTPUT_LABEL
    neuron.zero_grad()
    activation.backward()
    graph = draw_dot(activation, module=neuron)
    graph.attr(label=f"hidden layer 1, neuron 1 of {len(model.layers[0].neurons)} (model.layers[0].neurons[0]), "
                     f"at the training point where it fires most.\\l"
                     f"Each grad is d({OUTPUT_LABEL})/d(node): how the neuron's output moves with that number, "
                     f"from a backward pass started at the neuron, not at the loss.\\l",
               labelloc="t", labeljust="l", fontsize="14")
    return graph


def draw_one_neuron(model, X, out):
    """Write ``one_neuron`` as neuron.svg and neuron.png in ``out``; the paths written."""
    return render_graph(one_neuron(model, X), out / "neuron")


def main(argv=None):
    args = parse_args("moons", __doc__.splitlines()[0], argv)
    nn.manual_seed(1337)
    X, labels = make_moons(100, noise=0.1, seed=1)
    y = 2 * labels - 1  # classes as -1 and +1, as the max-margin loss wants them
    model = nn.MLP(2, [16, 16, 1])
    print(f"MLP(2, [16, 16, 1]): {model.num_parameters()} parameters")
    print(model.summary([0.0, 0.0]))

    history = train(model, X, y, QUICK_STEPS if args.quick else STEPS)

    from nn import plots

    plots.decision_boundary(model, X, labels, path=args.out / "decision_boundary.png")
    plots.training_curves(history, path=args.out / "training.png")
    neuron_files = draw_one_neuron(model, X, args.out)
    report_pictures(args.out, [args.out / "decision_boundary.png", args.out / "training.png", *neuron_files])

    check(history["loss"][-1] < history["loss"][0], "gradient descent lowers the loss")
    if not args.quick:
        check(history["accuracy"][-1] == 1.0, "the network classifies every training point correctly")
    return history


if __name__ == "__main__":
    main()
