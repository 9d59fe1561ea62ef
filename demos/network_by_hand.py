"""A 2-3-1 network by hand: every weight, every activation and every gradient of one step, in numbers.

The smallest network worth the name: two inputs, a hidden layer of three
tanh neurons, one linear output neuron. Each neuron owns one weight per
input plus a bias, so a neuron reading two inputs has three parameters;
the hidden layer has 3 · 3 = 9 and the output neuron, reading three
hidden activations, has 4: thirteen numbers in all, and training means
choosing those thirteen numbers.

The lesson sets them by hand, feeds one example forward (each hidden
neuron forms z = w1·x1 + w2·x2 + b and passes on tanh z; the output forms
a weighted sum of those), and measures the squared error against the
target. Backpropagation then gives the derivative of the error with
respect to each of the thirteen parameters. Two checks make those numbers
believable:

- the chain rule written out for one hidden weight, factor by factor;
- finite differences: nudge a parameter by ±ε, rerun the forward pass,
  and the change in the loss divided by 2ε must match the gradient.

Finally, one step of gradient descent moves each parameter against its
gradient and the loss goes down.

Writes a diagram of the network with its weights and gradients to --out.
"""

import numpy as np

import nn

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

HIDDEN_WEIGHTS = [[0.5, -0.4], [0.3, 0.8], [-0.7, 0.2]]
HIDDEN_BIASES = [0.1, -0.2, 0.0]
OUTPUT_WEIGHTS = [0.6, -0.5, 0.9]
OUTPUT_BIAS = 0.05
EXAMPLE, TARGET = [1.0, 2.0], 1.0
LEARNING_RATE = 0.1
EPSILON = 1e-6
# the diagram: distance between layers and size of a neuron
LAYER_GAP, NODE_RADIUS = 2.2, 0.5
POSITIVE, NEGATIVE = "tab:blue", "tab:red"
# where an edge's label may sit, as fractions of the way along it, most wanted first: near the start, where
# the edges leaving a neuron have spread apart and not yet crossed the others
ALONG_EDGE = tuple(sorted(np.arange(0.15, 0.86, 0.05).round(2), key=lambda spot: abs(spot - 0.3)))


def build():
    """The 2-3-1 network with the hand-picked weights above."""
    model = nn.MLP(2, [3, 1], nonlin="tanh")
    hidden, output = model.layers
    for neuron, weights, bias in zip(hidden.neurons, HIDDEN_WEIGHTS, HIDDEN_BIASES):
        for w, value in zip(neuron.w, weights):
            w.data = value
        neuron.b.data = bias
    for w, value in zip(output.neurons[0].w, OUTPUT_WEIGHTS):
        w.data = value
    output.neurons[0].b.data = OUTPUT_BIAS
    return model


def loss_of(model):
    """The squared error on the example: (network(x) - target)²."""
    return (model(EXAMPLE) - TARGET) ** 2


def forward_by_layer(model):
    """The pre-activations z and activations a of the hidden layer, and the output, as plain numbers."""
    hidden, output = model.layers
    z = [sum(w.data * x for w, x in zip(n.w, EXAMPLE)) + n.b.data for n in hidden.neurons]
    a = [float(np.tanh(v)) for v in z]
    out = output.neurons[0]
    y = sum(w.data * v for w, v in zip(out.w, a)) + out.b.data
    return z, a, y


def finite_difference(model, p):
    """(L(p + ε) - L(p - ε)) / 2ε: the slope of the loss along one parameter, without calculus."""
    original = p.data
    p.data = original + EPSILON
    above = loss_of(model).data
    p.data = original - EPSILON
    below = loss_of(model).data
    p.data = original
    return (above - below) / (2 * EPSILON)


def draw(model, z, a, y, path):
    """Write ``network_figure`` to ``path``."""
    return save(network_figure(model, z, a, y), path)


def network_figure(model, z, a, y):
    """The network twice: weights and activations (forward), then gradients (backward), with a colour key."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle

    hidden, output = model.layers
    positions = {("x", i): (0, 1 - i * 2) for i in range(2)}
    positions.update({("h", j): (LAYER_GAP, 2 - j * 2) for j in range(3)})
    positions[("y", 0)] = (2 * LAYER_GAP, 0)
    edges = [(("x", i), ("h", j), n.w[i]) for j, n in enumerate(hidden.neurons) for i in range(2)]
    edges += [(("h", j), ("y", 0), w) for j, w in enumerate(output.neurons[0].w)]
    biases = {("h", j): n.b for j, n in enumerate(hidden.neurons)}
    biases[("y", 0)] = output.neurons[0].b
    node_text = {("x", i): f"x{i + 1}={x:g}" for i, x in enumerate(EXAMPLE)}
    node_text.update({("h", j): f"z={z[j]:.2f}\na={a[j]:.2f}" for j in range(3)})
    node_text[("y", 0)] = f"y={y:.3f}\nt={TARGET:g}"

    fig, panels = figure(12, 5.6, 1, 2)
    edge_labels = []
    for panel, (title, number) in zip(panels, [
        ("forward: weights, biases and activations", lambda p: p.data),
        ("backward: d(loss)/d(parameter)", lambda p: p.grad),
    ]):
        largest = max(abs(number(p)) for *_, p in edges)
        labels = []
        for start, end, p in edges:
            (x0, y0), (x1, y1) = positions[start], positions[end]
            value = number(p)
            panel.plot([x0, x1], [y0, y1], color=POSITIVE if value >= 0 else NEGATIVE,
                       linewidth=0.5 + 4 * abs(value) / largest, zorder=1)
            # written along its edge (the panel's aspect is equal: the angle on the page is the data's)
            angle = np.degrees(np.arctan2(y1 - y0, x1 - x0))
            labels.append((panel.text(0, 0, f"{value:+.3f}", fontsize=8, ha="center", va="center", zorder=4,
                                      rotation=angle, rotation_mode="anchor",
                                      bbox=dict(facecolor="white", edgecolor="none", pad=0.5)), (x0, y0), (x1, y1)))
        for node, (x, height) in positions.items():
            panel.add_patch(Circle((x, height), NODE_RADIUS, facecolor="lightgrey", edgecolor="black", zorder=2))
            panel.text(x, height, node_text[node], ha="center", va="center", fontsize=8, zorder=3)
            if node in biases:
                panel.text(x, height - NODE_RADIUS - 0.25, f"b {number(biases[node]):+.3f}", ha="center", fontsize=8)
        panel.set_title(title, fontsize=10)
        panel.set_xlim(-0.6, 2 * LAYER_GAP + 0.6)
        panel.set_ylim(-3.1, 2.6)
        panel.set_aspect("equal")
        panel.axis("off")
        edge_labels.append(labels)
    fig.legend(handles=[Line2D([], [], color=POSITIVE, linewidth=3, label="positive"),
                        Line2D([], [], color=NEGATIVE, linewidth=3, label="negative"),
                        Line2D([], [], color="0.5", linewidth=0.8, label="thin: small, thick: large |number|")],
               loc="lower center", ncol=3, fontsize=9, frameon=False,
               title="each line is a weight; its colour is the sign of the number written on it")
    fig.subplots_adjust(bottom=0.12)
    for panel, labels in zip(panels, edge_labels):
        place_on_edges(fig, panel, labels)
    return fig


def place_on_edges(fig, panel, labels):
    """Slide each edge's label along its edge to the first spot where it covers no other label and no node
    (or, if there is none, where it covers least).

    ``labels``: (text, start, end) for each edge, in the order they get to choose; a spot is a fraction of
    the way from start to end (ALONG_EDGE). Where edges cross, their labels end up apart.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    panel.apply_aspect()
    placed = {id(text) for text, *_ in labels}
    # the nodes, and the texts already there (the biases under the nodes)
    taken = [artist.get_window_extent(renderer) for artist in panel.patches]
    taken += [text.get_window_extent(renderer) for text in panel.texts if id(text) not in placed and text.get_text()]

    def box_at(text, along, start, end):
        (x0, y0), (x1, y1) = start, end
        text.set_position((x0 + along * (x1 - x0), y0 + along * (y1 - y0)))
        return text.get_window_extent(renderer).expanded(1.1, 1.3)

    def covered(box):
        return sum(max(0.0, min(box.x1, o.x1) - max(box.x0, o.x0)) * max(0.0, min(box.y1, o.y1) - max(box.y0, o.y0))
                   for o in taken)

    for text, start, end in labels:
        along = min(ALONG_EDGE, key=lambda spot: (covered(box_at(text, spot, start, end)), ALONG_EDGE.index(spot)))
        taken.append(box_at(text, along, start, end))


def main(argv=None):
    args = parse_args("network_by_hand", __doc__.splitlines()[0], argv)
    model = build()
    per_neuron = [len(n.parameters()) for layer in model.layers for n in layer.neurons]
    print(f"parameters per neuron: {per_neuron}  (a neuron with n inputs has n weights and 1 bias)")
    print(f"3 hidden neurons × (2 + 1) + 1 output neuron × (3 + 1) = {3 * 3 + 4}; "
          f"the model counts {model.num_parameters()}\n")

    z, a, y = forward_by_layer(model)
    print(f"forward pass for x = {EXAMPLE}, target {TARGET}:")
    for j, neuron in enumerate(model.layers[0].neurons):
        w1, w2 = (w.data for w in neuron.w)
        print(f"  hidden {j + 1}: z = {w1:+.1f}·{EXAMPLE[0]:g} {w2:+.1f}·{EXAMPLE[1]:g} {neuron.b.data:+.1f}"
              f" = {z[j]:+.4f}   a = tanh z = {a[j]:+.4f}")
    terms = " ".join(f"{w.data:+.1f}·{v:.4f}" for w, v in zip(model.layers[1].neurons[0].w, a))
    print(f"  output:   y = {terms} {OUTPUT_BIAS:+.2f} = {y:+.4f}")

    loss = loss_of(model)
    print(f"  loss = (y - t)² = ({y:.4f} - {TARGET:g})² = {loss.data:.6f}\n")
    check(abs(loss.data - (y - TARGET) ** 2) < 1e-12, "the network computes what the arithmetic above says")

    model.zero_grad()
    loss.backward()
    print(f"{'parameter':28}{'value':>8}{'backprop':>13}{'finite diff':>13}")
    largest_error = 0.0
    for name, p in model.named_parameters():
        numeric = finite_difference(model, p)
        largest_error = max(largest_error, abs(numeric - p.grad))
        print(f"{name:28}{p.data:8.3f}{p.grad:13.6f}{numeric:13.6f}")
    print(f"largest difference: {largest_error:.1e}\n")

    # The chain rule for the first weight of hidden neuron 1, one factor per step back.
    first = model.layers[0].neurons[0].w[0]
    v1 = OUTPUT_WEIGHTS[0]
    by_hand = 2 * (y - TARGET) * v1 * (1 - a[0] ** 2) * EXAMPLE[0]
    print("chain rule for hidden neuron 1's first weight:")
    print(f"  dL/dy · dy/da1 · da1/dz1 · dz1/dw = 2(y - t) · v1 · (1 - a1²) · x1"
          f" = {2 * (y - TARGET):.4f} · {v1} · {1 - a[0] ** 2:.4f} · {EXAMPLE[0]:g} = {by_hand:.6f}\n")

    picture = draw(model, z, a, y, args.out / "network_by_hand.png")

    before = loss.data
    for p in model.parameters():
        p.data -= LEARNING_RATE * p.grad
    after = loss_of(model).data
    print(f"one step of gradient descent (lr {LEARNING_RATE}): loss {before:.6f} → {after:.6f}")
    report_pictures(args.out, [picture])

    check(per_neuron == [3, 3, 3, 4] and model.num_parameters() == 13,
          "a neuron with two inputs has three parameters; the 2-3-1 network has 3·3 + 4 = 13")
    check(largest_error < 1e-6, "every backprop gradient matches its finite difference")
    check(abs(by_hand - first.grad) < 1e-12, "the chain rule by hand gives backprop's number")
    check(after < before, "one step against the gradient lowers the loss")
    return {"loss_before": before, "loss_after": after, "parameters": model.num_parameters(),
            "largest_gradient_error": largest_error}


if __name__ == "__main__":
    main()
