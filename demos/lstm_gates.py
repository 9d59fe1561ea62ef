"""LSTM gates: an LSTM remembers a symbol across 30 noisy steps; a plain RNN with as many units forgets it.

The task: a sequence starts with one of four symbols, then 29 steps of
random noise follow; at the end the network must say which symbol it saw
first. Nothing in the noise helps, so whatever is remembered must be held
in the state for the whole sequence.

A plain RNN rewrites its whole state at every step, h_t = tanh(W x_t +
U h_{t-1} + b): the noise is mixed in thirty times, and the gradient that
should teach the first step is multiplied by U and by tanh's slope thirty
times on its way back, so it shrinks to almost nothing.

An LSTM keeps a separate cell state c and three gates, each a sigmoid
between 0 (shut) and 1 (open) computed from the input and the previous
output:

- the input gate i decides how much of the new candidate enters the cell,
- the forget gate f decides how much of the old cell is kept,
- the output gate o decides how much of the cell is shown as h.

The cell is updated by addition, c_t = f · c_{t-1} + i · g, so while f stays
near 1 nothing is erased, and the gradient flows back along the cells
multiplied only by f, not squeezed by a tanh at every step. The forget
gates start with a bias of 3 (σ(3) ≈ 0.95), so the cells begin by keeping
what they hold and training only has to learn what to write.

Both networks have 16 hidden units (the LSTM has four times the weights
per unit, one set per gate) and train with the same optimiser on the same
batches. The pictures show both loss curves and what the trained LSTM
does: its forget gates stay open, and the first symbol decides the
direction in which the cells then drift, a direction the noise cannot
reverse and the readout can tell apart at the end. The cell states are
rebuilt from the gates alone, c_t = f · c_{t-1} + i · g, and checked against
the layer's own.
"""

import numpy as np

from autodiff import Tensor
import nn
from nn import Progress

from ._common import check, parse_args, report_pictures
from ._figures import figure, save

SYMBOLS, NOISE_CHANNELS = 4, 4
LENGTH, QUICK_LENGTH = 30, 20
STEPS, QUICK_STEPS = 800, 300
# Training can stall on a plateau where three of the four symbols are told
# apart; which runs stall depends even on the BLAS thread count. Steps of 0.01
# on batches of 64 stalled one run in three, 0.003 on 128 one in fifteen, and
# 0.003 on 256 none of 60 (30 seeds, one and two threads).
HIDDEN, BATCH, LEARNING_RATE = 16, 256, 0.003
FORGET_BIAS = 3.0
SEED = 0
# full mode: the LSTM must reach LEARNED while the RNN stays below FAILED;
# quick mode: the LSTM must reach QUICK_LEARNED and beat the RNN by QUICK_MARGIN
LEARNED, FAILED = 0.95, 0.6
QUICK_LEARNED, QUICK_MARGIN = 0.9, 0.3


def sequences(rng, count, length):
    """``count`` sequences (count, length, SYMBOLS + NOISE_CHANNELS): a one-hot symbol, then noise; and the symbols."""
    first = rng.integers(0, SYMBOLS, count)
    x = np.zeros((count, length, SYMBOLS + NOISE_CHANNELS), dtype=np.float32)
    x[np.arange(count), 0, first] = 1.0
    x[:, 1:, SYMBOLS:] = rng.normal(size=(count, length - 1, NOISE_CHANNELS))
    return x, first


class Recall(nn.Module):
    """A recurrent layer (``nn.LSTM`` or ``nn.RNN``) read out at the last step by a linear layer."""

    def __init__(self, recurrent):
        self.recurrent = recurrent(SYMBOLS + NOISE_CHANNELS, HIDDEN)
        self.head = nn.Linear(HIDDEN, SYMBOLS)
        if isinstance(self.recurrent, nn.LSTM):
            forget = slice(HIDDEN, 2 * HIDDEN)  # gates are stacked input, forget, cell, output
            self.recurrent.bias_ih.data[forget] = FORGET_BIAS
            self.recurrent.bias_hh.data[forget] = 0.0

    def forward(self, x):
        _, state = self.recurrent(Tensor(x))
        last = state[0] if isinstance(state, tuple) else state  # an LSTM's state is (h, c)
        return self.head(last)


def train(recurrent, length, steps, name):
    """Adam on fresh random batches; returns the model and its loss at every step."""
    nn.manual_seed(SEED)
    model = Recall(recurrent)
    optimizer = nn.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    rng = np.random.default_rng(SEED)
    losses = []
    bar = Progress(range(steps), desc=f"training the {name}")
    for _ in bar:
        x, first = sequences(rng, BATCH, length)
        loss = nn.cross_entropy(model(x), first)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        bar.show(loss=losses[-1])
    return model, losses


def cell_states(gates):
    """The cell states c_1..c_T rebuilt from the gates: c_t = f_t · c_{t-1} + i_t · g_t, from c_0 = 0."""
    cells = np.zeros_like(gates["cell"])
    previous = np.zeros_like(cells[:, 0])
    for t in range(cells.shape[1]):
        previous = cells[:, t] = gates["forget"][:, t] * previous + gates["input"][:, t] * gates["cell"][:, t]
    return cells


def draw(losses, gates, cells, first, path):
    """Loss curves; one memory unit's cell state per symbol; the gates and cells of one sequence."""
    fig, axes = figure(14, 7, 2, 3)
    for name, curve in losses.items():
        axes[0, 0].plot(curve, label=name, linewidth=1)
    axes[0, 0].axhline(np.log(SYMBOLS), color="grey", linestyle=":", label="guessing")
    axes[0, 0].set(title="training loss", xlabel="step", ylabel="cross-entropy")
    axes[0, 0].legend()

    final = cells[:, -1]
    symbol_means = np.array([final[first == k].mean(axis=0) for k in range(SYMBOLS)])
    unit = int(np.argmax(symbol_means.var(axis=0)))  # the unit whose final cell value depends most on the symbol
    for k in range(SYMBOLS):
        chosen = np.flatnonzero(first == k)[:5]
        for j, row in enumerate(chosen):
            axes[0, 1].plot(cells[row, :, unit], color=f"C{k}", linewidth=1, label=f"symbol {k}" if j == 0 else None)
    axes[0, 1].set(title=f"cell state of unit {unit}, five sequences per symbol", xlabel="time step")
    axes[0, 1].legend(fontsize=8)

    panels = [(axes[0, 2], gates["output"], "output gate"), (axes[1, 0], gates["input"], "input gate"),
              (axes[1, 1], gates["forget"], "forget gate"), (axes[1, 2], cells, "cell state")]
    for ax, values, title in panels:
        reach = np.abs(values[0]).max()
        bounds = dict(vmin=0, vmax=1, cmap="magma") if title != "cell state" else dict(cmap="RdBu_r", vmin=-reach, vmax=reach)
        image = ax.imshow(values[0].T, aspect="auto", interpolation="nearest", **bounds)
        ax.set(title=f"{title}, sequence starting with {first[0]}", xlabel="time step", ylabel="hidden unit")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return save(fig, path)


def main(argv=None):
    args = parse_args("lstm_gates", __doc__.splitlines()[0], argv)
    length, steps = (QUICK_LENGTH, QUICK_STEPS) if args.quick else (LENGTH, STEPS)
    print(f"recall the first of {length} steps ({SYMBOLS} symbols, chance {1 / SYMBOLS:.0%});"
          f" {HIDDEN} hidden units each, {steps} steps of Adam\n")

    test_x, test_first = sequences(np.random.default_rng(SEED + 1), 1000, length)
    models, losses, accuracy = {}, {}, {}
    for name, recurrent in [("LSTM", nn.LSTM), ("RNN", nn.RNN)]:
        models[name], losses[name] = train(recurrent, length, steps, name)
        accuracy[name] = nn.accuracy(models[name](test_x), test_first)
        print(f"{name:5} {models[name].num_parameters():5d} parameters   loss {losses[name][0]:.3f} → "
              f"{losses[name][-1]:.3f}   test accuracy {accuracy[name]:.1%}")

    lstm = models["LSTM"].recurrent
    gates = lstm.gate_activations(Tensor(test_x))
    cells = cell_states(gates)
    _, (h_last, c_last) = lstm(Tensor(test_x))
    rebuilt = gates["output"][:, -1] * np.tanh(cells[:, -1])
    print("\nthe LSTM's gates over the test sequences, averaged over units and sequences:")
    print(f"{'':8}{'step 1 (the symbol)':>20}{'steps 2-' + str(length) + ' (noise)':>20}")
    for name in ["input", "forget", "output"]:
        values = gates[name].mean(axis=(0, 2))
        print(f"{name:8}{values[0]:20.2f}{values[1:].mean():20.2f}")

    picture = draw(losses, gates, cells, test_first, args.out / "lstm_gates.png")
    report_pictures(args.out, [picture])

    check(np.allclose(cells[:, -1], c_last.data, atol=1e-5) and np.allclose(rebuilt, h_last.data, atol=1e-5),
          "the gates explain the state: c = f·c + i·g and h = o·tanh(c) rebuild the LSTM's own c and h")
    if args.quick:
        check(accuracy["LSTM"] >= QUICK_LEARNED, f"the LSTM recalls the first of {length} steps")
        check(accuracy["LSTM"] >= accuracy["RNN"] + QUICK_MARGIN, "the plain RNN does clearly worse")
    else:
        check(accuracy["LSTM"] >= LEARNED, f"the LSTM recalls the first of {length} steps ({LEARNED:.0%})")
        check(accuracy["RNN"] < FAILED, f"a plain RNN with as many hidden units does not (below {FAILED:.0%})")
    return {"accuracy": accuracy, "loss": losses}


if __name__ == "__main__":
    main()
