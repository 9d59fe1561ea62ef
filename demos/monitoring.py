"""Monitoring training: per-layer weight and gradient norms, weight histograms and dead ReLUs tell a healthy run from a broken one.

The loss says whether training works; it rarely says why it does not.
Looking inside, layer by layer, at every step:

- the weight norm ‖W‖ = √(Σ w²) shows how far each layer has travelled
  from its start; a healthy run moves it steadily, not in jumps;
- the gradient norm ‖∂L/∂W‖ shows how hard the loss pulls on the layer;
  if it falls to almost nothing while the loss is still high, the layer
  has stopped learning (vanishing gradients), and if it soars, steps are
  about to blow up;
- a ReLU unit is dead when it outputs 0 for every example. Its slope is
  then 0 everywhere, so no gradient reaches its incoming weights and it
  can never come back. One large step can push a unit's bias and weights
  so far that its input is negative for every example;
- a histogram of each layer's weights shows their spread changing.

The same four-layer ReLU network learns the 8x8 digits twice, with SGD
and momentum, once at a sensible learning rate and once at ten times it.
Within its first few dozen steps the second run kills most of its ReLU
units; the monitor shows the dead count jump and the gradient norms
collapse, which the loss alone (stuck near its starting value) would
never explain.

Writes, for each run, the norms and dead units over training and the
weight histograms at the first and last step to --out.
"""

import numpy as np

from autodiff import Tensor
import nn
from nn import Progress, plots
from nn.monitor import TrainingMonitor

from ._common import check, parse_args, report_pictures

HEALTHY_LR, BROKEN_LR = 0.05, 0.5
MOMENTUM, BATCH = 0.9, 64
STEPS, QUICK_STEPS = 300, 150
TRAIN_IMAGES = 1300
REPORT_EVERY = 50


def load_digits_split(seed=0):
    """The 8x8 digits as rows of 64 pixels in [0, 1], shuffled, split into train and test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.data))
    X = (digits.data[order] / 16.0).astype(np.float32)
    y = digits.target[order]
    return X[:TRAIN_IMAGES], y[:TRAIN_IMAGES], X[TRAIN_IMAGES:], y[TRAIN_IMAGES:]


def network():
    nn.manual_seed(0)  # both runs start from the same weights
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def forward_recording(model, x):
    """The model's output, and each ReLU layer's output by its place in the model ("1: ReLU", ...)."""
    activations = {}
    h = Tensor(x)
    for position, layer in enumerate(model):
        h = layer(h)
        if isinstance(layer, nn.ReLU):
            activations[f"{position}: ReLU"] = h.data
    return h, activations


def dead_units(model, X):
    """The number of units of each ReLU layer that output 0 for every example of X."""
    _, activations = forward_recording(model, X)
    return {name: int((a <= 0).all(axis=0).sum()) for name, a in activations.items()}


def train(lr, data, steps):
    """SGD with momentum on mini-batches, recording every step in a TrainingMonitor."""
    X_train, y_train, *_ = data
    model = network()
    monitor = TrainingMonitor(model, histogram_steps=[0, steps - 1])
    optimizer = nn.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    rng = np.random.default_rng(0)
    bar = Progress(range(steps), desc=f"training at lr {lr}")
    for step in bar:
        batch = rng.integers(0, len(X_train), BATCH)
        scores, activations = forward_recording(model, X_train[batch])
        loss = nn.cross_entropy(scores, y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        monitor.record(step, loss=loss, accuracy=nn.accuracy(scores, y_train[batch]), activations=activations)
        optimizer.step()
        bar.show(loss=loss)
    return model, monitor


def report(monitor):
    """Every REPORT_EVERY steps: loss, and per layer the weight norm, gradient norm and dead units."""
    layers = list(monitor.weight_norms)
    relus = list(monitor.dead_units)
    print(f"(layers by their place in the Sequential: Linear {', '.join(layers)}, ReLU "
          f"{', '.join(n.split(':')[0] for n in relus)}; dead: ReLU units silent on the whole batch)")
    print(f"{'step':>5}{'loss':>8}" + "".join(f"{'‖W‖ ' + n:>9}" for n in layers)
          + "".join(f"{'‖∂W‖ ' + n:>10}" for n in layers) + "".join(f"{'dead ' + n.split(':')[0]:>8}" for n in relus))
    for i, step in enumerate(monitor.steps):
        if step % REPORT_EVERY and i != len(monitor.steps) - 1:
            continue
        print(f"{step:5d}{monitor.loss[i]:8.3f}"
              + "".join(f"{monitor.weight_norms[n][i]:9.2f}" for n in layers)
              + "".join(f"{monitor.grad_norms[n][i]:10.4f}" for n in layers)
              + "".join(f"{monitor.dead_units[n][i][1]:8d}" for n in relus))


def main(argv=None):
    args = parse_args("monitoring", __doc__.splitlines()[0], argv)
    data = load_digits_split()
    X_train, y_train, X_test, y_test = data
    steps = QUICK_STEPS if args.quick else STEPS
    results = {}
    for name, lr in [("healthy", HEALTHY_LR), ("broken", BROKEN_LR)]:
        print(f"\n{name} run: lr {lr}, momentum {MOMENTUM}, {steps} steps of {BATCH} digits")
        model, monitor = train(lr, data, steps)
        report(monitor)
        dead = dead_units(model, X_train)
        units = sum(layer.out_features for layer in list(model)[:-1] if isinstance(layer, nn.Linear))
        first_layer = next(iter(monitor.grad_norms))
        gradients = monitor.grad_norms[first_layer]
        results[name] = {
            "test_accuracy": nn.accuracy(model(Tensor(X_test)), y_test),
            "dead_fraction": sum(dead.values()) / units,
            "gradient_fall": np.mean(gradients[-10:]) / max(gradients),
        }
        print(f"dead on all {len(X_train)} training digits: {dead};"
              f" test accuracy {results[name]['test_accuracy']:.1%}")
        plots.layer_norms(monitor, path=args.out / f"{name}_norms.png",
                          title=f"{name} run (lr {lr}): weights, gradients and dead ReLUs by layer")
        plots.weight_histograms(monitor, path=args.out / f"{name}_weights.png",
                                title=f"{name} run (lr {lr}): weights by layer, first and last step")
    print()
    report_pictures(args.out, [args.out / f"{name}_{kind}.png" for name in results for kind in ("norms", "weights")])

    healthy, broken = results["healthy"], results["broken"]
    check(healthy["test_accuracy"] > 0.9 and healthy["dead_fraction"] < 0.1,
          "the healthy run learns the digits with fewer than 10% of its ReLU units dead")
    check(broken["dead_fraction"] > 0.5, f"at lr {BROKEN_LR} most ReLU units die")
    check(broken["gradient_fall"] < 0.05 and broken["gradient_fall"] < healthy["gradient_fall"] / 5,
          "the broken run's first-layer gradient norm collapses to a few percent of its peak")
    check(broken["test_accuracy"] < healthy["test_accuracy"] - 0.3, "and the broken run does not learn")
    return results


if __name__ == "__main__":
    main()
