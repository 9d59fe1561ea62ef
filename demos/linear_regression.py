"""Linear regression as one neuron: gradient descent finds the least-squares weights.

A neuron without an activation computes y = w1·x1 + ... + wn·xn + b. That
is exactly the model of linear regression: each weight says how much the
prediction moves when its feature grows by one unit, and the bias is the
prediction when every feature is zero.

Here the data come from known weights plus noise. The neuron starts from
random weights and a zero bias, and gradient descent on the mean squared
error moves all of them at once, each by -lr · d(loss)/dw. Because the
loss is a bowl (a quadratic in the weights) there is a single bottom, and
it has a closed form: the least-squares solution, which numpy computes
directly by appending a column of ones to the inputs (the bias is the
weight of an input that is always 1). The lesson checks that the weights
learned step by step land on that solution.

The noise is why neither of them recovers the true weights exactly: both
find the best fit to these particular samples.

Writes the loss curve and the path of every parameter to --out.
"""

import numpy as np

import nn

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

TRUE_WEIGHTS = [2.0, -3.5, 0.5]
TRUE_BIAS = 1.0
NOISE = 0.3
SAMPLES, QUICK_SAMPLES = 60, 30
STEPS = 200
LEARNING_RATE = 0.05
TOLERANCE = 1e-3


def make_data(samples, seed=0):
    """Inputs X (samples, features) and targets y = X·w + b + noise, from the known weights."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, len(TRUE_WEIGHTS)))
    y = X @ np.array(TRUE_WEIGHTS) + TRUE_BIAS + rng.normal(scale=NOISE, size=samples)
    return X, y


def least_squares(X, y):
    """The weights and bias that minimise Σ (X·w + b - y)², solved in closed form."""
    with_ones = np.hstack([X, np.ones((len(X), 1))])
    solution, *_ = np.linalg.lstsq(with_ones, y, rcond=None)
    return solution[:-1], solution[-1]


def fit(neuron, X, y, steps):
    """Full-batch gradient descent on the mean squared error; the loss and parameters of every step."""
    optimizer = nn.optim.SGD(neuron.parameters(), lr=LEARNING_RATE)
    rows, targets = X.tolist(), y.tolist()
    history = {"loss": [], "parameters": []}
    for step in range(steps):
        loss = nn.mse_loss([neuron(row) for row in rows], targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["loss"].append(loss.data)
        history["parameters"].append([p.data for p in neuron.parameters()])
        if step % 25 == 0:
            print(f"step {step:3d}  loss {loss.data:.6f}")
    return history


def draw(history, exact, path):
    fig, (left, right) = figure(9, 3.5, 1, 2)
    left.semilogy(history["loss"])
    left.set(title="mean squared error", xlabel="step")
    names = [f"w{i + 1}" for i in range(len(TRUE_WEIGHTS))] + ["b"]
    paths = np.array(history["parameters"])
    for i, name in enumerate(names):
        line, = right.plot(paths[:, i], label=name)
        right.axhline(exact[i], color=line.get_color(), linestyle=":")
    right.set(title="parameters (dotted: least squares)", xlabel="step")
    right.legend(loc="right")
    return save(fig, path)


def main(argv=None):
    args = parse_args("linear_regression", __doc__.splitlines()[0], argv)
    nn.manual_seed(0)
    X, y = make_data(QUICK_SAMPLES if args.quick else SAMPLES)
    neuron = nn.Neuron(len(TRUE_WEIGHTS), nonlin=False)
    print(f"{len(X)} samples of y = {' + '.join(f'{w}·x{i + 1}' for i, w in enumerate(TRUE_WEIGHTS))}"
          f" + {TRUE_BIAS} + noise(σ={NOISE})")
    print(f"one linear neuron: {neuron.num_parameters()} parameters\n")

    history = fit(neuron, X, y, STEPS)
    learned = np.array([p.data for p in neuron.parameters()])  # w1..wn, then b
    exact_w, exact_b = least_squares(X, y)
    exact = np.append(exact_w, exact_b)

    print(f"\n{'':4}{'true':>9}{'learned':>12}{'lstsq':>12}")
    truth = TRUE_WEIGHTS + [TRUE_BIAS]
    for i, (t, g, e) in enumerate(zip(truth, learned, exact)):
        name = f"w{i + 1}" if i < len(TRUE_WEIGHTS) else "b"
        print(f"{name:4}{t:9.4f}{g:12.6f}{e:12.6f}")
    gap = float(np.max(np.abs(learned - exact)))
    print(f"largest difference from least squares: {gap:.2e}")

    picture = draw(history, exact, args.out / "linear_regression.png")
    report_pictures(args.out, [picture])

    check(history["loss"][-1] < history["loss"][0], "gradient descent lowers the loss")
    check(gap < TOLERANCE, f"the learned weights and bias match least squares to {TOLERANCE:g}")
    return {"learned": learned, "least_squares": exact, "gap": gap, "loss": history["loss"]}


if __name__ == "__main__":
    main()
