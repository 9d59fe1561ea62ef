"""The learning rate: too small crawls, a good one converges, too large diverges.

Gradient descent moves every parameter by -lr · d(loss)/d(parameter). The
gradient gives a direction and a slope; the learning rate decides how far
to trust it. The slope is only valid near the current point, so:

- a tiny learning rate takes tiny steps: every step helps, but after
  hundreds of them the model has barely moved (it crawls);
- a moderate one takes steps the slope can vouch for, and the loss falls
  quickly to the noise floor;
- a large one overshoots: it jumps across the valley and lands higher up
  the far side than where it started, where the slope is steeper, so the
  next jump is longer still. Each step multiplies the error instead of
  shrinking it, until the numbers overflow to infinity and then NaN.

The same network (1 input, 32 tanh units, 1 output, the same starting
weights every time) fits a noisy sine curve by full-batch gradient
descent with several learning rates, and the loss curves share one plot.

Writes the loss curves and the fitted curves to --out.
"""

import math

import numpy as np

from autodiff import Tensor
import nn

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

TOO_SMALL, GOOD, TOO_LARGE = 0.001, 0.05, 0.5
LEARNING_RATES = [TOO_SMALL, 0.01, GOOD, 0.1, TOO_LARGE]
STEPS, QUICK_STEPS = 400, 150
POINTS, NOISE = 64, 0.1
SEED = 0


def make_data():
    """Points on a sine curve over [-3, 3], with Gaussian noise on y."""
    rng = np.random.default_rng(SEED)
    x = np.linspace(-3, 3, POINTS, dtype=np.float32)[:, None]
    y = np.sin(x) + rng.normal(scale=NOISE, size=x.shape).astype(np.float32)
    return x, y


def new_model():
    """The same starting weights for every learning rate."""
    nn.manual_seed(SEED)
    return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))


def train(x, y, lr, steps):
    """Full-batch SGD; the loss of every step, stopping early once it is no longer a finite number."""
    model = new_model()
    optimizer = nn.optim.SGD(model.parameters(), lr=lr)
    inputs, targets = Tensor(x), Tensor(y)
    losses = []
    # Diverging is this lesson's expected outcome, not an accident to warn about.
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            loss = nn.mse_loss(model(inputs), targets)
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model, losses


def draw(x, y, runs, path):
    fig, (left, right) = figure(10, 3.8, 1, 2)
    right.scatter(x[:, 0], y[:, 0], s=8, color="black", label="data")
    first = next(iter(runs.values()))[1][0]
    ceiling = 1e3 * first  # a diverging curve leaves the plot here
    for lr, (model, losses) in runs.items():
        finite = [v if math.isfinite(v) else np.nan for v in losses]
        line, = left.semilogy(finite, label=f"lr {lr:g}")
        if not math.isfinite(losses[-1]):
            left.annotate("overflow", (len(losses) - 1, ceiling), xytext=(10, -20), textcoords="offset points",
                          color=line.get_color(), arrowprops=dict(arrowstyle="->", color=line.get_color()))
            continue
        right.plot(x[:, 0], model(Tensor(x)).data[:, 0], color=line.get_color(), label=f"lr {lr:g}")
    lowest = min(min(v for v in losses if math.isfinite(v)) for _, losses in runs.values())
    left.set_ylim(lowest / 2, ceiling)
    left.set(title=f"the same network, {len(runs)} learning rates", xlabel="step", ylabel="mean squared error")
    left.legend(fontsize=8)
    right.set(title="the fitted curves after training", xlabel="x")
    right.legend(fontsize=8)
    return save(fig, path)


def main(argv=None):
    args = parse_args("learning_rate", __doc__.splitlines()[0], argv)
    steps = QUICK_STEPS if args.quick else STEPS
    x, y = make_data()
    print(f"fitting sin(x) + noise(σ={NOISE}) with {new_model().num_parameters()} parameters, {steps} steps each\n")
    runs = {lr: train(x, y, lr, steps) for lr in LEARNING_RATES}
    print(f"{'learning rate':>14}{'first loss':>12}{'last loss':>12}  steps")
    for lr, (_, losses) in runs.items():
        print(f"{lr:14g}{losses[0]:12.4f}{losses[-1]:12.4g}  {len(losses)}")

    picture = draw(x, y, runs, args.out / "learning_rate.png")
    report_pictures(args.out, [picture])

    small, good, large = (runs[lr][1] for lr in (TOO_SMALL, GOOD, TOO_LARGE))
    check(small[-1] < small[0] and small[-1] > 3 * good[-1],
          f"lr {TOO_SMALL:g} crawls: it lowers the loss, but ends far above lr {GOOD:g}")
    check(good[-1] < 0.1 * good[0] and good[-1] < 5 * NOISE**2,
          f"lr {GOOD:g} converges: the loss falls tenfold, near the noise level {NOISE**2:g}")
    check(not math.isfinite(large[-1]) or large[-1] > large[0],
          f"lr {TOO_LARGE:g} diverges: the loss grows until it is no longer a finite number")
    return {lr: losses for lr, (_, losses) in runs.items()}


if __name__ == "__main__":
    main()
