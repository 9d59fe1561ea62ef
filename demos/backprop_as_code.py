"""Backpropagation as code: autodiff.compile writes a network's backward pass out as a Python program, and a backward written by hand matches it line by line.

Every training step of a network does the same thing: the forward pass
builds a graph of nodes, and backward walks that graph from the loss down,
applying at each node the rule for its operation (a product hands each
factor the other factor times the gradient, tanh hands on (1 - tanh²)
times it). For a fixed network and a fixed batch shape the graph is the
same at every step; only the numbers change. So the walk can be done once
and written down: one line of Python per node, the forward pass from the
inputs up, then the chain rule from the loss down. That text is the whole
of backpropagation for this network, with nothing hidden in an engine.

``autodiff.compile(loss)`` does exactly that. Its first call runs ``loss``
as usual while recording each operation, then writes the graph out as two
functions, ``forward`` and ``backward_0``, from each operation's own
definition (the same rules ``backward()`` applies), and ``source()`` shows
them. Later calls run that program; its result is still a Tensor, and
``backward()`` on it fills in ``.grad`` as before, with the same numbers,
because the program makes the same numpy calls in the same order.

The lesson compiles the 2-3-1 network of ``network_by_hand`` (two inputs,
three tanh neurons, one linear output: thirteen parameters) with a mean
squared error on the four points of XOR, prints its program, and then
writes the backward pass by hand in numpy, one gradient per line, as one
would on paper:

    d_e  = 2 * e * d_sq        the square's rule: d(e²)/de = 2e
    d_h  = d_y @ W2            a matrix product sends G @ W back to its input
    d_z  = (1 - h**2) * d_h    tanh' = 1 - tanh²

Each of those intermediate gradients is compared with the variable the
compiled backward computed for the same node (Python's tracing hook, the
one debuggers use, reads them as the program returns). They agree; where
the program takes a longer road (the gradient of W2ᵀ first, then its
transpose) the numbers are still the same.

The compiled and the eager network then learn XOR side by side and take
the same steps to the last bit. Last, the time of one training step:
eager (a graph built and walked at every step), compiled (the program),
and the numpy written by hand, the floor both approach; and the same
network on scalar Values, where compiling turns a graph of Python objects
into plain arithmetic on floats. The times are printed, not checked: they
depend on the machine.

Writes the program (program.py) and a picture of the two training runs and
the step times to --out.
"""

import inspect
import re
import sys
import time

import numpy as np

import autodiff
from autodiff import Tensor, Value

from ._common import check, parse_args, report_pictures
from ._figures import figure, save
from .network_by_hand import HIDDEN_BIASES, HIDDEN_WEIGHTS, OUTPUT_BIAS, OUTPUT_WEIGHTS, build

# XOR on ±1: the target is +1 where the two inputs differ
INPUTS = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
TARGETS = [[-1.0], [1.0], [1.0], [-1.0]]
LEARNING_RATE = 0.2
TRAINING_STEPS, QUICK_TRAINING_STEPS = 120, 60
# how long to time each kind of step: rounds of this many steps, the fastest round kept
TIMED_ROUNDS, TIMED_STEPS, QUICK_TIMED_STEPS = 5, 400, 40
# a hand-written formula that adds or multiplies in another order may differ from the program by rounding
AGREEMENT = 1e-12
# the learner's gradients and the program's variables for the same nodes
PAIRS = {"d_sq": "sq_grad", "d_e": "e_grad", "d_y": "y_grad", "d_b2": "b2_grad", "d_h": "h_grad",
         "d_W2": "W2_grad", "d_z": "z_grad", "d_b1": "b1_grad", "d_W1": "W1_grad"}


def named(tensor, label):
    """``tensor`` with a label, which becomes its name in the compiled program."""
    tensor.label = label
    return tensor


def network():
    """The 2-3-1 network of network_by_hand as four tensors, and its loss on a batch as a function.

    The weights start as that lesson picked them: W1 (3, 2) and b1 (3,)
    for the hidden layer, W2 (1, 3) and b2 (1,) for the output neuron.
    """
    W1 = Tensor(np.array(HIDDEN_WEIGHTS), requires_grad=True)
    b1 = Tensor(np.array(HIDDEN_BIASES), requires_grad=True)
    W2 = Tensor(np.array([OUTPUT_WEIGHTS]), requires_grad=True)
    b2 = Tensor(np.array([OUTPUT_BIAS]), requires_grad=True)

    def loss(X, T):
        """L = mean((y - T)²) for y = tanh(X W1ᵀ + b1) W2ᵀ + b2."""
        z = named(X @ W1.T + b1, "z")       # (4, 3): each hidden neuron's weighted sum, per example
        h = named(z.tanh(), "h")            # the hidden activations
        y = named(h @ W2.T + b2, "y")       # (4, 1): the network's outputs
        e = named(y - T, "e")               # the errors
        sq = named(e ** 2, "sq")
        return sq.mean()

    return loss, {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def backward_by_hand(X, T, W1, b1, W2, b2):
    """The forward pass in numpy, then the backward pass one gradient per line, from the loss to the weights."""
    z = X @ W1.T + b1
    h = np.tanh(z)
    y = h @ W2.T + b2
    e = y - T
    d_sq = np.full(e.shape, 1.0 / e.size)  # L = mean(sq): each square gets 1/N of dL/dL = 1
    d_e = 2 * e * d_sq                     # sq = e²: d(e²)/de = 2e
    d_y = d_e                              # e = y - T: passes through unchanged
    d_b2 = d_y.sum(axis=0)                 # b2 was added to every row: its gradient sums over the rows
    d_h = d_y @ W2                         # y = h @ W2ᵀ: back through a matrix product, G @ W2
    d_W2 = d_y.T @ h                       #   and Gᵀ @ h for its weights
    d_z = (1 - h ** 2) * d_h               # h = tanh z: tanh' = 1 - tanh²
    d_b1 = d_z.sum(axis=0)
    d_W1 = d_z.T @ X
    return {name: value for name, value in locals().items() if name.startswith("d_")}


def lines_by_hand():
    """The lines of ``backward_by_hand`` that compute a gradient (without their comments), by the name they assign."""
    source = inspect.getsource(backward_by_hand)
    return {m.group(1): f"{m.group(1)} = {m.group(2)}"
            for m in re.finditer(r"^\s*(d_\w+) = ([^#\n]*?)\s*(?:#.*)?$", source, re.M)}


def program_lines(source):
    """The lines of the compiled program, by the name each assigns (the last assignment where there are two)."""
    return {m.group(1): m.group(0).strip() for m in re.finditer(r"^    (\w+) = .*$", source, re.M)}


def variables_of_compiled_backward(loss):
    """``loss.backward()``, watching the compiled program's backward function: its local variables as it returns.

    The program is ordinary Python, so Python's tracing hook (``sys.settrace``,
    what debuggers are built on) can read every variable it computed: each
    intermediate gradient, under its name.
    """
    seen = {}

    def on_call(frame, event, arg):
        code = frame.f_code
        if not (code.co_filename.startswith("<compile(") and code.co_name.startswith("backward")):
            return None

        def on_event(frame, event, arg):
            if event == "return":
                seen.update(frame.f_locals)
            return on_event

        return on_event

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        loss.backward()
    finally:
        sys.settrace(previous)
    return seen


def compare_line_by_line(compiled, parameters, X, T):
    """The hand-written gradients against the compiled backward's variables: (name, mine, program's, difference)."""
    for p in parameters.values():
        p.grad = None
    program = variables_of_compiled_backward(compiled(Tensor(X), Tensor(T)))
    mine = backward_by_hand(X, T, *(parameters[k].data for k in ("W1", "b1", "W2", "b2")))
    rows = []
    for name, variable in PAIRS.items():
        theirs = np.asarray(program[variable])
        difference = float(np.max(np.abs(mine[name] - theirs)) / max(np.max(np.abs(theirs)), 1e-300))
        rows.append((name, variable, bool(np.array_equal(mine[name], theirs)), difference))
    grads = {k: p.grad.copy() for k, p in parameters.items()}
    return rows, grads


def train(step, parameters, steps):
    """Gradient descent on XOR from the starting weights: the loss at each step; the weights are put back after."""
    start = {k: p.data.copy() for k, p in parameters.items()}
    X, T = Tensor(np.array(INPUTS)), Tensor(np.array(TARGETS))
    losses = []
    for _ in range(steps):
        for p in parameters.values():
            p.grad = None
        loss = step(X, T)
        loss.backward()
        for p in parameters.values():
            p.data -= LEARNING_RATE * p.grad
        losses.append(loss.item())
    final = {k: p.data.copy() for k, p in parameters.items()}
    for k, p in parameters.items():
        p.data[...] = start[k]
    return losses, final


def seconds_per_step(step, steps):
    """The time of one call of ``step``: the fastest of TIMED_ROUNDS rounds of ``steps`` calls."""
    fastest = float("inf")
    for _ in range(TIMED_ROUNDS):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        fastest = min(fastest, (time.perf_counter() - started) / steps)
    return fastest


def tensor_steps(eager, eager_parameters, compiled, parameters):
    """One training step each way, as callables: eager, compiled, numpy by hand (the update has rate 0: the
    weights stay as they are while timing)."""
    X, T = np.array(INPUTS), np.array(TARGETS)
    Xt, Tt = Tensor(X), Tensor(T)

    def with_engine(fn, parameters):
        def step():
            for p in parameters.values():
                p.grad = None
            fn(Xt, Tt).backward()
            for p in parameters.values():
                p.data -= 0.0 * p.grad
        return step

    def by_hand():
        grads = backward_by_hand(X, T, *(parameters[k].data for k in ("W1", "b1", "W2", "b2")))
        for k, p in parameters.items():
            p.data -= 0.0 * grads[f"d_{k}"]

    return {"eager": with_engine(eager, eager_parameters), "compiled": with_engine(compiled, parameters),
            "numpy by hand": by_hand}


def value_network():
    """The same network on scalar Values (network_by_hand's nn.MLP), its loss on the four points, compiled."""
    model = build()
    points = [[Value(a), Value(b)] for a, b in INPUTS]
    targets = [t for (t,) in TARGETS]

    def loss(points):
        return sum((model(point) - target) ** 2 for point, target in zip(points, targets)) * (1.0 / len(targets))

    compiled = autodiff.compile(loss)

    def step_with(fn):
        def step():
            model.zero_grad()
            fn(points).backward()
            for p in model.parameters():
                p.data -= 0.0 * p.grad  # an update of rate 0, as the timed Tensor steps make
            return [p.grad for p in model.parameters()]
        return step

    return loss, compiled, step_with


def draw(eager_losses, compiled_losses, times, path):
    fig, (curve, bars) = figure(11, 3.8, 1, 2, gridspec_kw={"width_ratios": [1.1, 1], "wspace": 0.6})
    steps = np.arange(1, len(eager_losses) + 1)
    curve.semilogy(steps, eager_losses, color="tab:blue", linewidth=2.5, label="eager")
    every = max(1, len(steps) // 25)
    curve.semilogy(steps[::every], compiled_losses[::every], "o", color="tab:orange", markersize=4,
                   label="compiled (the same numbers)")
    curve.set(xlabel="gradient-descent step", ylabel="mean squared error",
              title="The 2-3-1 network learning XOR, eager and compiled")
    curve.legend(loc="lower left")
    names = list(times)
    micros = [times[n] * 1e6 for n in names]
    colours = ["tab:blue" if "eager" in n else "tab:orange" if "compiled" in n else "tab:gray" for n in names]
    positions = np.arange(len(names))[::-1]
    bars.barh(positions, micros, color=colours)
    bars.set_yticks(positions, names)
    for y, value in zip(positions, micros):
        bars.text(value, y, f" {value:.0f} µs", va="center")
    bars.set(xlabel="time per training step (µs, this machine)", title="One step: loss, backward, update")
    bars.set_xlim(0, max(micros) * 1.3)
    return save(fig, path)


def main(argv=None):
    args = parse_args("backprop_as_code", __doc__.splitlines()[0], argv)
    loss, parameters = network()
    compiled = autodiff.compile(loss)
    X, T = np.array(INPUTS), np.array(TARGETS)

    # the first call records loss and writes the program; the second runs it
    first = compiled(Tensor(X), Tensor(T))
    source = compiled.source()
    (args.out / "program.py").write_text(source, encoding="utf-8")
    print("The 2-3-1 network's loss, compiled. Its program (also in program.py):\n")
    print(source)

    print("The same backward written by hand, each line beside the program's line for the same node:\n")
    rows, program_grads = compare_line_by_line(compiled, parameters, X, T)
    mine, theirs = lines_by_hand(), program_lines(source)
    width = max(len(line) for line in mine.values())
    program_width = max(len(theirs[variable]) for variable in PAIRS.values())
    for name, variable, identical, difference in rows:
        verdict = "equal to the last bit" if identical else f"differs by {difference:.1e} (relative)"
        print(f"  {mine[name]:<{width}}   program: {theirs[variable]:<{program_width}}   {verdict}")
    worst = max(difference for *_, difference in rows)
    identical = sum(identical for _, _, identical, _ in rows)
    print(f"\n{identical} of {len(rows)} gradients equal to the last bit, the largest difference {worst:.1e}\n")

    eager_loss, eager_parameters = network()  # a second network with the same weights, run eagerly
    eager_loss(Tensor(X), Tensor(T)).backward()
    same_as_eager = all(np.array_equal(program_grads[k], eager_parameters[k].grad) for k in parameters)

    steps = QUICK_TRAINING_STEPS if args.quick else TRAINING_STEPS
    eager_losses, eager_weights = train(eager_loss, eager_parameters, steps)
    compiled_losses, compiled_weights = train(compiled, parameters, steps)
    same_steps = eager_losses == compiled_losses and all(
        np.array_equal(eager_weights[k], compiled_weights[k]) for k in parameters)
    print(f"gradient descent on XOR, {steps} steps at rate {LEARNING_RATE}: loss {eager_losses[0]:.4f} -> "
          f"{eager_losses[-1]:.2e} eager, {compiled_losses[-1]:.2e} compiled")

    value_loss, value_compiled, value_step = value_network()
    value_step(value_compiled)()  # records
    eager_value_grads, compiled_value_grads = value_step(value_loss)(), value_step(value_compiled)()
    value_source = value_compiled.source()
    value_forward = [line for line in value_source.splitlines()
                     if line.startswith("    ") and "constant" not in line][:4]
    value_backward = value_source[value_source.index("def backward_0"):].splitlines()[2:6]
    print("\nThe same network on scalar Values compiles to arithmetic on floats:\n")
    print("\n".join(value_forward + ["    ..."] + value_backward + ["    ..."]))

    timed = QUICK_TIMED_STEPS if args.quick else TIMED_STEPS
    times = {f"{name} (Tensors)": seconds_per_step(step, timed)
             for name, step in tensor_steps(eager_loss, eager_parameters, compiled, parameters).items()}
    times["eager (Values)"] = seconds_per_step(value_step(value_loss), max(1, timed // 4))
    times["compiled (Values)"] = seconds_per_step(value_step(value_compiled), max(1, timed // 4))
    print("\ntime per training step (loss, backward, update) on this machine:")
    for name, seconds in times.items():
        print(f"  {name:<26} {seconds * 1e6:8.1f} µs")
    print(f"  compiled is {times['eager (Tensors)'] / times['compiled (Tensors)']:.1f}x faster than eager on Tensors, "
          f"{times['eager (Values)'] / times['compiled (Values)']:.1f}x on Values; numpy by hand is "
          f"{times['compiled (Tensors)'] / times['numpy by hand (Tensors)']:.1f}x faster still\n")

    picture = draw(eager_losses, compiled_losses, times, args.out / "backprop_as_code.png")
    report_pictures(args.out, [picture])
    check(first.requires_grad and "def backward_0" in source and source.count("_grad = ") >= len(PAIRS),
          "compile wrote the network's backward out as a program, a line per gradient")
    check(worst <= AGREEMENT,
          f"each gradient written by hand equals the compiled backward's for the same node, line by line "
          f"(largest relative difference {worst:.1e})")
    check(same_as_eager, "the compiled backward leaves eager backward's .grad on every weight, to the last bit")
    check(same_steps and eager_losses[-1] < 0.01 * eager_losses[0],
          f"compiled and eager gradient descent took the same {steps} steps to the last bit, and learnt XOR")
    check(compiled_value_grads == eager_value_grads and "np." not in value_source,
          "on Values the program is arithmetic on floats with eager's gradients")
    return {"source": source, "comparison": rows, "losses": eager_losses, "times": times}


if __name__ == "__main__":
    main()
