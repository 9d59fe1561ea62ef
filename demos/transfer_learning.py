"""Transfer learning: weights learned on one task, saved and loaded, give a head start on a related one.

A network trained to tell the ten digits apart has learned more than its
final answer: its hidden layers turn 64 pixels into 32 features that say
what kind of strokes an image holds. Those features are useful for other
questions about the same kind of image.

The lesson trains a network on 1,000 digits to name the digit, then saves
the weights of its trunk (the hidden layers, not the output layer) to a
safetensors file. The new task asks a different question of different
images, "is this digit a prime (2, 3, 5 or 7)?", with only 30 labelled
examples. A new network with the same trunk names and a new, two-class
head loads the saved trunk; its first layer is frozen (its weights no
longer take gradient steps, so what it learned cannot be lost), and only
the second hidden layer and the head are fine-tuned.

The same network trained from scratch on the 30 examples has to learn
what digits look like and what a prime is at the same time, from almost
nothing. Both are measured on the remaining, unseen images after every
step: the one that starts from learned features reaches the target
accuracy first, and the frozen weights are checked to be exactly the
ones that were saved.

Writes both accuracy curves on one plot to --out.
"""

import numpy as np

from autodiff import Tensor
import nn
from nn import Progress

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

PRETRAIN_IMAGES, NEW_TASK_EXAMPLES = 1000, 30
PRIMES = [2, 3, 5, 7]
PRETRAIN_STEPS, QUICK_PRETRAIN_STEPS = 400, 200
FINE_TUNE_STEPS, QUICK_FINE_TUNE_STEPS = 300, 100
BATCH, LEARNING_RATE = 64, 0.01
TARGET = 0.9


class Classifier(nn.Module):
    """A trunk of two hidden layers (64 → 64 → 32, ReLU) and a linear head for ``classes`` classes."""

    def __init__(self, classes):
        self.trunk = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        return self.head(self.trunk(x))


def load_tasks(seed=0):
    """Task A: name the digit, on the first 1,000 shuffled images. Task B: prime or not, on the rest,
    with its first 30 images for training and the others for testing."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.data))
    X = (digits.data[order] / 16.0).astype(np.float32)
    y = digits.target[order]
    is_prime = np.isin(y, PRIMES).astype(np.int64)
    task_a = X[:PRETRAIN_IMAGES], y[:PRETRAIN_IMAGES]
    rest, rest_labels = X[PRETRAIN_IMAGES:], is_prime[PRETRAIN_IMAGES:]
    task_b = (rest[:NEW_TASK_EXAMPLES], rest_labels[:NEW_TASK_EXAMPLES],
              rest[NEW_TASK_EXAMPLES:], rest_labels[NEW_TASK_EXAMPLES:])
    return task_a, task_b


def pretrain(X, y, steps):
    """Name the digit: Adam on random mini-batches."""
    nn.manual_seed(0)
    model = Classifier(10)
    optimizer = nn.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    rng = np.random.default_rng(0)
    bar = Progress(range(steps), desc="task A")
    for _ in bar:
        batch = rng.integers(0, len(X), BATCH)
        loss = nn.cross_entropy(model(Tensor(X[batch])), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        bar.show(loss=loss)
    return model


def fine_tune(model, task, steps, name):
    """Full-batch Adam on the parameters that still require gradients; test accuracy after each step."""
    X_train, y_train, X_test, y_test = task
    optimizer = nn.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)
    accuracies = []
    bar = Progress(range(steps), desc=f"task B, {name}")
    for _ in bar:
        loss = nn.cross_entropy(model(Tensor(X_train)), y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        accuracies.append(nn.accuracy(model(Tensor(X_test)), y_test))
        bar.show(accuracy=accuracies[-1])
    return accuracies


def steps_to(accuracies, target):
    """The first step (counting from 1) at which the accuracy reaches ``target``, or None."""
    return next((step for step, a in enumerate(accuracies, start=1) if a >= target), None)


def draw(curves, path):
    fig, ax = figure(7, 4)
    for name, accuracies in curves.items():
        reached = steps_to(accuracies, TARGET)
        label = f"{name} (reaches {TARGET:.0%} at step {reached})" if reached else f"{name} (never reaches {TARGET:.0%})"
        ax.plot(np.arange(1, len(accuracies) + 1), accuracies, label=label)
    ax.axhline(TARGET, color="grey", linestyle=":")
    ax.set_xscale("log")
    ax.set(title=f"is it a prime? learned from {NEW_TASK_EXAMPLES} examples", xlabel="fine-tuning step",
           ylabel="test accuracy")
    ax.legend(loc="lower right")
    return save(fig, path)


def main(argv=None):
    args = parse_args("transfer_learning", __doc__.splitlines()[0], argv)
    (X_a, y_a), task_b = load_tasks()
    pretrain_steps = QUICK_PRETRAIN_STEPS if args.quick else PRETRAIN_STEPS
    steps = QUICK_FINE_TUNE_STEPS if args.quick else FINE_TUNE_STEPS

    pretrained = pretrain(X_a, y_a, pretrain_steps)
    print(f"task A, name the digit: {pretrain_steps} steps on {len(X_a)} images, training accuracy"
          f" {nn.accuracy(pretrained(Tensor(X_a)), y_a):.1%}")
    trunk_file = args.out / "trunk.safetensors"
    nn.save(pretrained.trunk, trunk_file)
    print(f"saved the trunk ({', '.join(pretrained.trunk.state_dict())}) to {trunk_file}\n")

    nn.manual_seed(1)
    transferred = Classifier(2)
    nn.load(transferred.trunk, trunk_file)
    first_layer = transferred.trunk[0]
    for p in first_layer.parameters():
        p.requires_grad_(False)
    frozen_before = {name: p.data.copy() for name, p in first_layer.named_parameters()}
    trainable = sum(p.size for p in transferred.parameters() if p.requires_grad)
    print(f"task B, prime or not: {len(task_b[0])} training and {len(task_b[2])} test images")
    print(f"transferred: trunk loaded, first layer frozen; {trainable} of {transferred.num_parameters()}"
          " parameters fine-tuned")

    nn.manual_seed(1)
    scratch = Classifier(2)
    curves = {name: fine_tune(model, task_b, steps, name)
              for name, model in (("transferred", transferred), ("from scratch", scratch))}
    print(f"\n{'':14}" + "".join(f"{'step ' + str(s):>10}" for s in (1, 5, 10, 30, steps)) + f"{'steps to ' + format(TARGET, '.0%'):>14}")
    for name, accuracies in curves.items():
        reached = steps_to(accuracies, TARGET)
        print(f"{name:14}" + "".join(f"{accuracies[s - 1]:10.1%}" for s in (1, 5, 10, 30, steps))
              + f"{reached if reached else 'never':>14}")

    picture = draw(curves, args.out / "transfer_learning.png")
    report_pictures(args.out, [picture])

    unchanged = all(np.array_equal(p.data, frozen_before[name]) for name, p in first_layer.named_parameters())
    check(unchanged and np.array_equal(first_layer.weight.data, pretrained.trunk[0].weight.data),
          "the frozen first layer still holds exactly the weights saved from task A")
    reached = {name: steps_to(accuracies, TARGET) for name, accuracies in curves.items()}
    check(reached["transferred"] is not None, f"the transferred network reaches {TARGET:.0%} test accuracy")
    check(reached["from scratch"] is None or reached["transferred"] < reached["from scratch"],
          "it gets there in fewer steps than the network trained from scratch")
    return {"curves": curves, "steps_to_target": reached}


if __name__ == "__main__":
    main()
