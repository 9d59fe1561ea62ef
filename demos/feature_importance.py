"""Which features matter: logistic regression's weights pick out the informative features of a table.

A made-up table describes pets by eight measurements. Four of them carry
information about whether the pet is a cat or a dog, each with a known
true weight; the other four (fur colour, eye colour, the owner's age, the
day of birth) are pure noise. Logistic regression is a single neuron with
a sigmoid: p(cat) = σ(w·x + b), trained by minimising binary
cross-entropy. After training, a weight says how much one unit of its
feature shifts the log-odds of "cat".

"One unit" is the catch: a kilogram and a day of the month are not
comparable, so raw weights cannot be ranked. Standardising every feature
first (subtract its mean, divide by its standard deviation) puts them all
in the same unit, one standard deviation, and then the size of a weight
is a fair measure of how much its feature matters. The lesson checks that
the four informative features get the four largest weights, with the
right signs, and that the noise features get weights near zero.

Writes a bar chart of the learned weights next to the true ones to --out.
"""

import numpy as np

from autodiff import Tensor
import nn

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

# name, unit, mean and spread in that unit, true weight per standard deviation (+: cat)
FEATURES = [
    ("ear pointiness", "score 0-10", 5.0, 2.0, 2.0),
    ("body weight", "kg", 12.0, 8.0, -1.5),
    ("whisker length", "cm", 6.0, 1.5, 1.0),
    ("plays fetch", "hours/week", 2.0, 1.5, -0.7),
    ("fur colour", "hue, degrees", 180.0, 100.0, 0.0),
    ("eye colour", "code 0-4", 2.0, 1.4, 0.0),
    ("owner's age", "years", 45.0, 15.0, 0.0),
    ("day of birth", "1-31", 16.0, 9.0, 0.0),
]
SAMPLES, QUICK_SAMPLES = 1000, 400
STEPS, QUICK_STEPS = 300, 150
LEARNING_RATE = 0.05


def make_pets(samples, seed=0):
    """The table in its raw units, and labels (1 = cat) drawn from the true logistic model."""
    rng = np.random.default_rng(seed)
    standard = rng.normal(size=(samples, len(FEATURES)))
    means, spreads, weights = (np.array([f[i] for f in FEATURES]) for i in (2, 3, 4))
    probability = 1 / (1 + np.exp(-(standard @ weights)))
    labels = (rng.random(samples) < probability).astype(np.float64)
    return means + spreads * standard, labels


def standardise(X):
    """Every column to mean 0 and standard deviation 1; also returns the deviations used."""
    spread = X.std(axis=0)
    return (X - X.mean(axis=0)) / spread, spread


def fit(X, labels, steps):
    """Logistic regression by Adam on binary cross-entropy; returns the model and its loss curve."""
    model = nn.Linear(X.shape[1], 1)
    optimizer = nn.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    inputs, targets = Tensor(X), Tensor(labels[:, None])
    losses = []
    for step in range(steps):
        loss = nn.binary_cross_entropy(model(inputs).sigmoid(), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    return model, losses


def draw(learned, path):
    names = [f[0] for f in FEATURES]
    truth = np.array([f[4] for f in FEATURES])
    colours = ["tab:orange" if t else "tab:grey" for t in truth]
    fig, ax = figure(7, 4)
    rows = np.arange(len(names))[::-1]
    ax.barh(rows, learned, color=colours, label="learned weight")
    ax.scatter(truth, rows, color="black", marker="|", s=300, label="true weight", zorder=3)
    ax.set_yticks(rows, names)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set(title="logistic regression on standardised features (orange: informative)",
           xlabel="weight: change in log-odds of 'cat' per standard deviation")
    ax.legend(loc="lower right")
    return save(fig, path)


def main(argv=None):
    args = parse_args("feature_importance", __doc__.splitlines()[0], argv)
    nn.manual_seed(0)
    raw, labels = make_pets(QUICK_SAMPLES if args.quick else SAMPLES)
    X, spread = standardise(raw)
    print(f"{len(X)} pets, {labels.mean():.0%} cats, {len(FEATURES)} features\n")

    model, losses = fit(X, labels, QUICK_STEPS if args.quick else STEPS)
    learned = model.weight.data[0].astype(np.float64)
    accuracy = nn.accuracy(model(Tensor(X)).sigmoid(), labels)
    print(f"training accuracy {accuracy:.1%}\n")

    print(f"{'feature':16}{'true':>7}{'learned':>9}{'per raw unit':>14}  unit")
    for (name, unit, *_, true), w, s in zip(FEATURES, learned, spread):
        print(f"{name:16}{true:7.2f}{w:9.3f}{w / s:14.4f}  {unit}")
    print("(per raw unit: the same weights undone from standardising; their sizes depend on the units)")

    informative = {i for i, f in enumerate(FEATURES) if f[4] != 0}
    ranking = np.argsort(-np.abs(learned))
    print("\nranked by |weight|: " + ", ".join(FEATURES[i][0] for i in ranking))
    picture = draw(learned, args.out / "feature_importance.png")
    report_pictures(args.out, [picture])

    check(losses[-1] < losses[0], "training lowers the cross-entropy")
    check(set(ranking[:len(informative)].tolist()) == informative,
          "the informative features get the largest weights")
    check(all(np.sign(learned[i]) == np.sign(FEATURES[i][4]) for i in informative),
          "each informative weight has the sign of its true weight")
    noise_largest = max(abs(learned[i]) for i in range(len(FEATURES)) if i not in informative)
    weakest_signal = min(abs(FEATURES[i][4]) for i in informative)
    check(noise_largest < weakest_signal / 2, "the noise features' weights stay near zero")
    return {"weights": learned, "ranking": [FEATURES[i][0] for i in ranking], "accuracy": accuracy,
            "loss": losses}


if __name__ == "__main__":
    main()
