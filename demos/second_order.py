"""Second order: Newton's method against gradient descent, and why backpropagation is reverse mode.

Gradient descent moves the weights by -lr · ∇L. The gradient says which
way is downhill, not how far the bottom is: where the loss is a long
narrow valley, a step small enough not to overshoot across the valley
crawls along it. The second derivatives say how far. They form the
Hessian H, the matrix of ∂²L/∂wᵢ∂wⱼ, and near the minimum the loss is
the bowl L(w + d) ≈ L(w) + ∇L·d + ½ dᵀH d, whose bottom is at
d = -H⁻¹∇L. Newton's method steps straight there, so each step squares
the error: 1e-2, 1e-4, 1e-8, ... The engine differentiates its own
gradients (``autodiff.hessian``, ``autodiff.hvp``), so the Hessian costs
no calculus by hand.

Part 1 fits a logistic regression (two correlated features, so the
valley is narrow) both ways from the same start and counts the steps.
It then draws the Hessian of a small network's loss in all its
parameters, one block per pair of layers.

Part 2 is why training uses reverse mode (backpropagation). For f from n
inputs to m outputs, forward mode (``autodiff.jvp``) pushes one input
direction through the computation per pass: the whole Jacobian takes n
passes. Reverse mode (``autodiff.grad``) pulls one output's sensitivity
back per pass: m passes. A loss has one output and millions of
weights, so reverse mode gets the whole gradient in one pass where
forward mode would need millions. The lesson counts the passes of each
as n and m grow, checks that both give the same Jacobian, and prints
(never asserts) how long they take.

Writes the paths of both methods over the loss, their errors step by
step, the network's Hessian and the timings of both modes to --out.
"""

import time

import numpy as np

import autodiff
from autodiff import Tensor

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

SEED = 0
SAMPLES, QUICK_SAMPLES = 200, 80
TRUE_WEIGHTS = np.array([1.5, -1.0])
L2 = 0.01  # keeps the minimum finite however the classes fall
NEWTON_STEPS = 8
DESCENT_STEPS, QUICK_DESCENT_STEPS = 3000, 1500
CLOSE = 1e-6  # "at the minimum": the loss within this of its lowest value
NETWORK = (2, 4, 1)
# (inputs, outputs) of the Jacobians computed both ways
SHAPES = [(1, 32), (4, 16), (16, 4), (32, 1)]
QUICK_SHAPES = [(1, 8), (8, 1)]
HIDDEN = 32


# -- part 1: gradient descent and Newton's method ---------------------------------------------


def make_data(samples):
    """Two correlated features on different scales, and 0/1 labels drawn from a logistic model."""
    rng = np.random.default_rng(SEED)
    first = rng.normal(size=samples)
    second = 0.95 * first + 0.3 * rng.normal(size=samples)
    X = np.stack([first, 2.0 * second], axis=1)
    labels = (rng.uniform(size=samples) < 1 / (1 + np.exp(-X @ TRUE_WEIGHTS))).astype(np.float64)
    return X, labels


def logistic_loss(X, labels):
    """L(w) = mean over samples of [ln(1 + e^z) - y·z], z = x·w, plus L2/2·|w|²: the cross-entropy of σ(z)."""
    X, y = Tensor(X), Tensor(labels)

    def loss(w):
        z = X @ w
        return ((1 + z.exp()).log() - y * z).mean() + (w * w).sum() * (L2 / 2)

    return loss


def analytic_hessian(X, w):
    """Xᵀ diag(σ(z)(1 - σ(z))) X / n + L2·I: the logistic loss's Hessian worked out by hand."""
    p = 1 / (1 + np.exp(-X @ w))
    return (X.T * (p * (1 - p))) @ X / len(X) + L2 * np.eye(len(w))


def gradient_descent(loss, start, lr, steps):
    """w ← w - lr·∇L(w); the weights after every step (the start first)."""
    w = Tensor(start, requires_grad=True)
    path = [start.copy()]
    for _ in range(steps):
        (grad,) = autodiff.grad(loss(w), w)
        with autodiff.no_grad():
            w -= lr * grad
        path.append(w.data.copy())
    return np.array(path)


def newton(loss, start, steps):
    """w ← w - H⁻¹∇L(w), H from autodiff.hessian; the weights after every step (the start first)."""
    w = start.copy()
    path = [w.copy()]
    for _ in range(steps):
        leaf = Tensor(w, requires_grad=True)
        (grad,) = autodiff.grad(loss(leaf), leaf)
        H = autodiff.hessian(loss, leaf).data
        w = w - np.linalg.solve(H, grad)
        path.append(w.copy())
    return np.array(path)


def loss_values(loss, path):
    with autodiff.no_grad():
        return np.array([loss(Tensor(w)).item() for w in path])


def steps_to_reach(errors, tolerance):
    """The first step whose error is below ``tolerance`` (None if none is)."""
    below = np.flatnonzero(errors < tolerance)
    return int(below[0]) if below.size else None


def network_loss(X, labels):
    """The loss of a 2-4-1 tanh network as a function of one flat vector θ of all its parameters."""
    sizes = list(zip(NETWORK[:-1], NETWORK[1:]))
    x, y = Tensor(X), Tensor(labels[:, None])

    def loss(theta):
        h, start = x, 0
        for k, (fan_in, fan_out) in enumerate(sizes):
            weight = theta[start:start + fan_in * fan_out].reshape(fan_in, fan_out)
            bias = theta[start + fan_in * fan_out:start + (fan_in + 1) * fan_out]
            start += (fan_in + 1) * fan_out
            h = h @ weight + bias
            if k < len(sizes) - 1:
                h = h.tanh()
        return ((1 + h.exp()).log() - y * h).mean()

    count = sum((fan_in + 1) * fan_out for fan_in, fan_out in sizes)
    names = [f"{kind}{k + 1}" for k, (fan_in, fan_out) in enumerate(sizes)
             for kind, n in (("W", fan_in * fan_out), ("b", fan_out)) for _ in range(n)]
    return loss, count, names


# -- part 2: forward and reverse mode --------------------------------------------------------------


class Counted:
    """A function that counts its calls."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, *args):
        self.calls += 1
        return self.f(*args)


def random_function(inputs, outputs, rng):
    """f(x) = W₂ tanh(W₁ x) from ``inputs`` numbers to ``outputs``."""
    W1 = Tensor(rng.normal(size=(HIDDEN, inputs)) / np.sqrt(inputs))
    W2 = Tensor(rng.normal(size=(outputs, HIDDEN)) / np.sqrt(HIDDEN))
    return lambda x: W2 @ (W1 @ x).tanh()


def jacobian_forward(f, x):
    """The Jacobian column by column: one forward-mode pass (jvp) per input direction eᵢ."""
    passes = 0
    columns = []
    for i in range(x.size):
        direction = np.zeros(x.size)
        direction[i] = 1
        _, column = autodiff.jvp(f, Tensor(x), direction)
        passes += 1
        columns.append(column.data)
    return np.stack(columns, axis=1), passes


def jacobian_reverse(f, x):
    """The Jacobian row by row: one forward pass, then one reverse-mode pass (grad) per output."""
    leaf = Tensor(x, requires_grad=True)
    out = f(leaf)
    passes = 0
    rows = []
    for j in range(out.size):
        seed = np.zeros(out.size)
        seed[j] = 1
        (row,) = autodiff.grad(out, leaf, grad_outputs=seed)
        passes += 1
        rows.append(row)
    return np.stack(rows), passes


def seconds(work, repeats=3):
    """The fastest of ``repeats`` runs of ``work()``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


# -- pictures ------------------------------------------------------------------------------------


def draw_paths(loss, descent, newton_path, minimum, path):
    lowest = loss(Tensor(minimum)).item()
    descent_error = loss_values(loss, descent) - lowest
    newton_error = loss_values(loss, newton_path) - lowest
    # each drawn until it is as close as float64 can tell: later steps move only the last digits
    descent, descent_error = _until_exact(descent, descent_error)
    newton_path, newton_error = _until_exact(newton_path, newton_error)
    fig, (left, right) = figure(11, 4.2, 1, 2)
    everything = np.concatenate([descent, newton_path])
    low, high = everything.min(axis=0) - 0.4, everything.max(axis=0) + 0.4
    w1, w2 = np.meshgrid(np.linspace(low[0], high[0], 80), np.linspace(low[1], high[1], 80))
    grid = np.stack([w1.ravel(), w2.ravel()], axis=1)
    with autodiff.no_grad():
        values = np.array([loss(Tensor(w)).item() for w in grid]).reshape(w1.shape)
    left.contour(w1, w2, np.log(values - values.min() + 1e-3), levels=25, cmap="Greys", linewidths=0.7)
    descent_steps, newton_steps = steps_to_reach(descent_error, CLOSE), steps_to_reach(newton_error, CLOSE)
    left.plot(descent[:, 0], descent[:, 1], ".-", color="tab:blue", markersize=2, linewidth=0.8,
              label=f"gradient descent: {descent_steps} steps to {CLOSE:g}")
    left.plot(newton_path[:, 0], newton_path[:, 1], "o-", color="tab:red", markersize=4,
              label=f"Newton: {newton_steps} steps to {CLOSE:g}")
    left.plot(*minimum, "k*", markersize=12, label="minimum")
    left.set(title="paths over the loss (contours), from (0, 0)", xlabel="w1", ylabel="w2")
    left.legend(loc="upper right", fontsize=8)
    shown = lambda errors: np.maximum(errors, 1e-16)  # noqa: E731  (0 has no logarithm: drawn at the floor)
    right.loglog(np.arange(1, len(descent_error) + 1), shown(descent_error), color="tab:blue", label="gradient descent")
    right.loglog(np.arange(1, len(newton_error) + 1), shown(newton_error), "o-", color="tab:red", label="Newton")
    right.axhline(CLOSE, color="gray", linestyle=":", label=f"{CLOSE:g} above the minimum")
    right.set(title="loss above its minimum", xlabel="step + 1", ylim=(1e-16, None))
    right.legend(loc="upper right", fontsize=8)
    return save(fig, path)


def _until_exact(path, errors, floor=1e-14):
    """``path`` and ``errors`` through the first step whose error is below ``floor``."""
    end = steps_to_reach(errors, floor)
    return (path, errors) if end is None else (path[:end + 1], errors[:end + 1])


def draw_hessian(H, names, path):
    fig, ax = figure(5.5, 4.8)
    bound = np.abs(H).max()
    image = ax.imshow(H, cmap="RdBu_r", vmin=-bound, vmax=bound)
    # one label per block of parameters (W1, b1, W2, b2), at its middle, and lines between blocks
    starts = [0] + [i + 1 for i in np.flatnonzero(np.array(names[1:]) != np.array(names[:-1]))]
    ends = starts[1:] + [len(names)]
    middles = [(a + b - 1) / 2 for a, b in zip(starts, ends)]
    ax.set_xticks(middles, [names[a] for a in starts])
    ax.set_yticks(middles, [names[a] for a in starts])
    for boundary in starts[1:]:
        ax.axhline(boundary - 0.5, color="black", linewidth=0.6)
        ax.axvline(boundary - 0.5, color="black", linewidth=0.6)
    ax.set_title(f"Hessian of the 2-4-1 network's loss\nin its {len(names)} parameters, ∂²L/∂θᵢ∂θⱼ")
    fig.colorbar(image, ax=ax)
    return save(fig, path)


def draw_modes(modes, path):
    fig, ax = figure(6.5, 4)
    positions = np.arange(len(modes))
    forward = [mode["forward_seconds"] * 1e3 for mode in modes]
    reverse = [mode["reverse_seconds"] * 1e3 for mode in modes]
    ax.bar(positions - 0.2, forward, width=0.4, label="forward mode (n passes)", color="tab:orange")
    ax.bar(positions + 0.2, reverse, width=0.4, label="reverse mode (m passes)", color="tab:green")
    for position, mode, f, r in zip(positions, modes, forward, reverse):
        ax.annotate(f"{mode['forward_passes']}", (position - 0.2, f), ha="center", va="bottom", fontsize=8)
        ax.annotate(f"{mode['reverse_passes']}", (position + 0.2, r), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, [f"{mode['inputs']} in → {mode['outputs']} out" for mode in modes])
    ax.set(title="time for the whole Jacobian (passes above each bar)", ylabel="ms")
    ax.legend()
    return save(fig, path)


# -- the lesson ------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args("second_order", __doc__.splitlines()[0], argv)
    X, labels = make_data(QUICK_SAMPLES if args.quick else SAMPLES)
    loss = logistic_loss(X, labels)
    start = np.zeros(2)

    print("Part 1: logistic regression with two correlated features\n")
    H0 = autodiff.hessian(loss, Tensor(start)).data
    curvatures = np.linalg.eigvalsh(H0)
    lr = 1 / curvatures.max()  # lands at the bottom along the steepest direction; twice that would never settle
    print(f"Hessian at the start:\n{H0}\ncurvatures (eigenvalues) {curvatures.round(4)}: condition number "
          f"{curvatures.max() / curvatures.min():.0f}; gradient descent with lr = 1/{curvatures.max():.3f}")
    newton_path = newton(loss, start, NEWTON_STEPS)
    minimum = newton_path[-1]
    lowest = loss(Tensor(minimum)).item()
    descent = gradient_descent(loss, start, lr, QUICK_DESCENT_STEPS if args.quick else DESCENT_STEPS)
    descent_errors = loss_values(loss, descent) - lowest
    newton_errors = loss_values(loss, newton_path) - lowest
    print("\nstep  Newton: loss above the minimum")
    for step, error in enumerate(newton_errors):
        print(f"{step:4d}  {error:.3e}")
    descent_steps = steps_to_reach(descent_errors, CLOSE)
    newton_steps = steps_to_reach(newton_errors, CLOSE)
    print(f"\nwithin {CLOSE:g} of the minimum: Newton after {newton_steps} steps, "
          f"gradient descent after {descent_steps} steps")

    at_minimum = Tensor(minimum)
    H = autodiff.hessian(loss, at_minimum).data
    v = np.array([0.3, -1.2])
    _, hv = autodiff.hvp(loss, at_minimum, v)
    leaf = Tensor(minimum, requires_grad=True)
    (gradient_at_minimum,) = autodiff.grad(loss(leaf), leaf)

    network, count, names = network_loss(X, labels)
    rng = np.random.default_rng(SEED)
    theta = rng.normal(size=count) * 0.8
    network_hessian = autodiff.hessian(network, Tensor(theta)).data
    direction = rng.normal(size=count)
    _, network_hv = autodiff.hvp(network, Tensor(theta), direction)
    network_curvatures = np.linalg.eigvalsh(network_hessian)
    print(f"\nthe 2-4-1 network: {count} parameters, a {count}x{count} Hessian; its curvatures run from "
          f"{network_curvatures.min():.3f} to {network_curvatures.max():.3f}")

    print("\nPart 2: the whole Jacobian of f(x) = W₂ tanh(W₁ x), both ways\n")
    print(f"{'inputs n':>9}{'outputs m':>10}{'forward passes':>16}{'reverse passes':>16}{'forward ms':>12}"
          f"{'reverse ms':>12}")
    modes = []
    for n, m in QUICK_SHAPES if args.quick else SHAPES:
        f = Counted(random_function(n, m, np.random.default_rng(n * 100 + m)))
        x = np.random.default_rng(1).normal(size=n)
        forward_jacobian, forward_passes = jacobian_forward(f, x)
        forward_evaluations, f.calls = f.calls, 0
        reverse_jacobian, reverse_passes = jacobian_reverse(f, x)
        mode = {
            "inputs": n, "outputs": m, "forward_passes": forward_passes, "reverse_passes": reverse_passes,
            "forward_evaluations": forward_evaluations, "reverse_evaluations": f.calls,
            "difference": np.abs(forward_jacobian - reverse_jacobian).max(),
            "forward_seconds": seconds(lambda: jacobian_forward(f, x)),
            "reverse_seconds": seconds(lambda: jacobian_reverse(f, x)),
        }
        modes.append(mode)
        print(f"{n:9d}{m:10d}{forward_passes:16d}{reverse_passes:16d}{mode['forward_seconds'] * 1e3:12.2f}"
              f"{mode['reverse_seconds'] * 1e3:12.2f}")
    print("(timings on this machine, for illustration: they are not checked)")

    pictures = [
        draw_paths(loss, descent, newton_path, minimum, args.out / "newton_vs_gradient_descent.png"),
        draw_hessian(network_hessian, names, args.out / "network_hessian.png"),
        draw_modes(modes, args.out / "forward_vs_reverse.png"),
    ]
    report_pictures(args.out, pictures)

    by_hand = max(np.abs(H0 - analytic_hessian(X, start)).max(), np.abs(H - analytic_hessian(X, minimum)).max())
    check(by_hand < 1e-12, "autodiff.hessian equals the Hessian worked out by hand, Xᵀ diag(σ(1-σ)) X / n + λI")
    check(np.abs(hv.data - H @ v).max() < 1e-12 and np.abs(network_hv.data - network_hessian @ direction).max() < 1e-10,
          "autodiff.hvp(f, x, v) equals hessian(f, x) @ v, without forming H")
    check(np.abs(network_hessian - network_hessian.T).max() < 1e-12,
          "the Hessian is symmetric: ∂²L/∂θᵢ∂θⱼ = ∂²L/∂θⱼ∂θᵢ")
    check(min(curvatures.min(), np.linalg.eigvalsh(H).min()) > 0 and network_curvatures.min() < 0,
          "the logistic loss curves up in every direction (a bowl, where Newton's step goes down); the network's "
          "loss curves down in some (along those, Newton's step heads for a maximum)")
    check(np.abs(gradient_at_minimum).max() < 1e-12,
          f"Newton's method reaches the minimum (every gradient element below 1e-12) within {NEWTON_STEPS} steps")
    check(newton_steps is not None and descent_steps is not None and descent_steps >= 20 * newton_steps,
          f"gradient descent needs at least 20 times the steps Newton needs to come within {CLOSE:g} of the minimum "
          f"({descent_steps} against {newton_steps})")
    # e_(k+1) / e_k² stays bounded where the error e is small but still above rounding
    squared = [later / earlier ** 2 for earlier, later in zip(newton_errors[1:], newton_errors[2:])
               if 1e-12 < later and earlier < 1e-2]
    check(squared and max(squared) < 100,
          "near the minimum each Newton step about squares the error (quadratic convergence)")
    check(all(mode["forward_passes"] == mode["forward_evaluations"] == mode["inputs"] for mode in modes),
          "forward mode needs one pass (an evaluation of f with tangents) per input: n passes")
    check(all(mode["reverse_passes"] == mode["outputs"] and mode["reverse_evaluations"] == 1 for mode in modes),
          "reverse mode needs one evaluation of f and one backward pass per output: m passes")
    check(all(mode["difference"] < 1e-12 for mode in modes), "both modes give the same Jacobian")
    loss_like = modes[-1]
    check(loss_like["outputs"] == 1 and loss_like["reverse_passes"] == 1,
          f"for one output (a loss), reverse mode gets the whole gradient in 1 pass where forward mode needs "
          f"{loss_like['forward_passes']}: training uses reverse mode")
    return {
        "newton_steps": newton_steps, "descent_steps": descent_steps, "hessian": H,
        "network_hessian": network_hessian, "modes": modes,
    }


if __name__ == "__main__":
    main()
