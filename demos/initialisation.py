"""Initialisation: the scale of the starting weights decides whether a deep network can learn at all.

Every layer multiplies its input by a weight matrix. If a unit sums n
inputs of variance v with weights of variance s², its output has variance
about n · s² · v: the layer scales the signal by n · s². Ten layers scale
it by (n · s²)¹⁰, so unless n · s² is close to 1 the signal shrinks to
nothing or blows up, and the gradients flowing back go the same way.

- Small random weights, N(0, 0.01²): n · s² is far below 1; the
  activations and the gradients fade by orders of magnitude. The output
  no longer depends on the input, and the early layers get no gradient.
- Large random weights, N(0, 1): n · s² is far above 1; ReLU activations
  explode, and tanh units are driven to ±1 (saturated), where each one
  says little more than a sign and training lurches from spike to spike.
- Xavier: Var(w) = 2 / (fan_in + fan_out), about 1/n, for activations
  that are linear near zero (tanh).
- He: Var(w) = 2 / fan_in. ReLU zeroes half of its inputs, halving the
  variance, and the factor 2 gives it back.

The lesson measures the standard deviation of the activations (forward)
and of the gradients reaching them (backward) at each of ten layers, for a
ReLU and a tanh network under the four schemes, then trains each on the
two moons to see which ones learn.

Writes the per-layer standard deviations and the training curves to --out.
"""

import math

import numpy as np

from autodiff import Tensor
import nn
from nn import Progress
from nn.datasets import make_moons

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

SCHEMES = {
    "small N(0, 0.01²)": lambda w: nn.init.normal_(w, 0.0, 0.01),
    "large N(0, 1)": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "Xavier": nn.init.xavier_normal_,
    "He": nn.init.he_normal_,
}
SMALL, LARGE, XAVIER, HE = SCHEMES
ACTIVATIONS = {"ReLU": nn.ReLU, "tanh": nn.Tanh}
DEPTH = 10
PROBE_WIDTH, PROBE_BATCH = 64, 256
TRAIN_WIDTH, LEARNING_RATE = 32, 0.05
STEPS, QUICK_STEPS = 300, 120
# the accuracy that counts as having learned the moons, after STEPS or QUICK_STEPS
LEARNED, QUICK_LEARNED = 0.95, 0.85


def deep_network(activation, scheme, inputs, width, outputs):
    """DEPTH hidden layers of ``width`` units, weights drawn by ``scheme``, biases zero, then a linear head."""
    sizes = [inputs] + [width] * DEPTH
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [initialised(nn.Linear(fan_in, fan_out), scheme), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers, initialised(nn.Linear(width, outputs), scheme))


def initialised(linear, scheme):
    SCHEMES[scheme](linear.weight)
    nn.init.zeros_(linear.bias)
    return linear


def layer_statistics(activation, scheme):
    """The standard deviation of each hidden layer's activations, and of the gradient reaching them.

    The input is N(0, 1) noise; the gradient arriving at the top is N(0, 1) noise too, so
    each layer's numbers show only how that layer scales what passes through it.
    """
    nn.manual_seed(0)
    network = deep_network(activation, scheme, PROBE_WIDTH, PROBE_WIDTH, 1)
    rng = np.random.default_rng(1)
    h = Tensor(rng.normal(size=(PROBE_BATCH, PROBE_WIDTH)).astype(np.float32))
    hidden = []
    for layer in list(network)[:-1]:
        h = layer(h)
        if not isinstance(layer, nn.Linear):
            hidden.append(h)
    h.backward(rng.normal(size=h.shape).astype(np.float32))
    return [float(a.data.std()) for a in hidden], [float(a.grad.std()) for a in hidden]


def train(activation, scheme, X, y, steps):
    """Full-batch SGD on cross-entropy; the losses (stopping at a non-finite one) and the final accuracy."""
    nn.manual_seed(0)
    network = deep_network(activation, scheme, X.shape[1], TRAIN_WIDTH, 2)
    optimizer = nn.optim.SGD(network.parameters(), lr=LEARNING_RATE)
    inputs = Tensor(X)
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):  # exploding is one of the outcomes shown
        for _ in range(steps):
            loss = nn.cross_entropy(network(inputs), y)
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        accuracy = nn.accuracy(network(inputs), y)
    return losses, accuracy


def draw(statistics, training, path):
    fig, axes = figure(13, 7, 2, 3)
    layers = np.arange(1, DEPTH + 1)
    for row, activation in zip(axes, ACTIVATIONS):
        for scheme in SCHEMES:
            forward, backward = statistics[activation, scheme]
            row[0].semilogy(layers, forward, marker="o", label=scheme)
            row[1].semilogy(layers, backward, marker="o", label=scheme)
            losses, accuracy = training[activation, scheme]
            finite = [v for v in losses if math.isfinite(v)]
            if len(finite) < len(losses):  # blew up: mark its last finite loss, the curve may be a single point
                label = f"{scheme}: loss {finite[-1]:.0e}, then not a number" if finite else f"{scheme}: no finite loss"
            else:
                label = f"{scheme}: {accuracy:.0%}"
            row[2].semilogy(finite, marker="o" if len(finite) < 5 else None, label=label)
        row[0].set(title=f"{activation}: std of activations", xlabel="layer")
        row[1].set(title=f"{activation}: std of gradients reaching them", xlabel="layer")
        row[2].set(title=f"{activation}: training loss (final accuracy)", xlabel="step")
        row[0].legend(fontsize=8)
        row[2].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def main(argv=None):
    args = parse_args("initialisation", __doc__.splitlines()[0], argv)
    statistics = {(a, s): layer_statistics(a, s) for a in ACTIVATIONS for s in SCHEMES}
    print(f"{DEPTH} layers of {PROBE_WIDTH} units: standard deviation of activations at layers 1, 4, 7, 10,"
          " and of the gradient reaching them")
    for (activation, scheme), (forward, backward) in statistics.items():
        print(f"{activation:5} {scheme:18} " + " ".join(f"{forward[i]:9.1e}" for i in (0, 3, 6, 9))
              + "   grad " + " ".join(f"{backward[i]:9.1e}" for i in (0, 3, 6, 9)))

    X, y = make_moons(200, noise=0.1, seed=0)
    X = X.astype(np.float32)
    steps = QUICK_STEPS if args.quick else STEPS
    print(f"\ntraining each on the two moons: {steps} steps of SGD, lr {LEARNING_RATE}")
    runs = Progress([(a, s) for a in ACTIVATIONS for s in SCHEMES], desc="training")
    training = {(a, s): train(a, s, X, y, steps) for a, s in runs}
    for (activation, scheme), (losses, accuracy) in training.items():
        print(f"{activation:5} {scheme:18} loss {losses[0]:10.4g} → {losses[-1]:<10.4g} accuracy {accuracy:.0%}")

    picture = draw(statistics, training, args.out / "initialisation.png")
    report_pictures(args.out, [picture])

    def growth(activation, scheme):
        forward, _ = statistics[activation, scheme]
        return forward[-1] / forward[0]

    check(1 / 3 < growth("ReLU", HE) < 3, "He keeps ReLU activations at the same scale through ten layers")
    check(growth("ReLU", SMALL) < 1e-6, "small random weights make ReLU activations vanish (a millionfold smaller)")
    check(growth("ReLU", LARGE) > 1e6, "large random weights make ReLU activations explode (a millionfold larger)")
    check(1 / 3 < growth("tanh", XAVIER) < 3, "Xavier keeps tanh activations at about the same scale")
    learned = QUICK_LEARNED if args.quick else LEARNED
    check(min(training[a, s][1] for a, s in [("ReLU", HE), ("tanh", XAVIER)]) >= learned,
          f"He (ReLU) and Xavier (tanh) networks learn the moons (accuracy at least {learned:.0%})")
    small_losses = training["ReLU", SMALL][0]
    check(abs(small_losses[-1] - small_losses[0]) < 1e-3, "the vanished ReLU network does not learn at all")
    large_losses = training["ReLU", LARGE][0]
    check(not math.isfinite(large_losses[-1]) or large_losses[-1] > large_losses[0],
          "the exploded ReLU network's loss blows up")
    return {"statistics": statistics, "training": training}


if __name__ == "__main__":
    main()
