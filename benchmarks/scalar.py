"""The scalar engine against micrograd: one training step of the two-moons MLP.

The workload is micrograd's own demo: MLP(2, [16, 16, 1]) on 100 points,
max-margin loss plus 1e-4 L2 on every parameter, SGD. The same step
function runs both engines; only the Value and MLP classes differ.
micrograd is timed as users run it (Python's cyclic garbage collector on)
and with the collector off, which removes the cost of the reference cycle
every micrograd node forms with its backward closure.

Needs ``pip install micrograd==0.1.0`` (the ``benchmarks`` extra).
"""

import random

from autodiff import Value
from nn import MLP
from nn.datasets import make_moons

from ._timing import interleaved, table


def training_step(model, value_type, X, y, learning_rate=0.5):
    """Forward, loss, backward and SGD update on the whole data set; returns the loss node."""
    inputs = [[value_type(float(a)), value_type(float(b))] for a, b in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    loss = data_loss + reg_loss
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= learning_rate * p.grad
    return loss


def count_graph(root, children):
    """(nodes, edges) of the graph below ``root``, leaves included; ``children(node)`` lists a node's inputs."""
    seen = {id(root)}
    stack = [root]
    edges = 0
    while stack:
        inputs = children(stack.pop())
        edges += len(inputs)
        for child in inputs:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen), edges


def chain(start, length):
    """y = tanh(y * 1.0001 + 0.01), ``length`` times: a graph as deep as it is long; returns d(y)/d(start)."""
    y = start
    for _ in range(length):
        y = (y * 1.0001 + 0.01).tanh()
    y.backward()
    return start.grad


def run_chain(length, repeats):
    """The deep chain, ours against PyTorch 0-d tensors (when torch is installed)."""
    workloads = {"ours": lambda: chain(Value(0.5), length)}
    try:
        import torch

        torch.set_num_threads(1)
        workloads["pytorch"] = lambda: chain(torch.tensor(0.5, dtype=torch.float64, requires_grad=True), length)
    except ImportError:
        print("(torch is not installed: the chain runs without its PyTorch comparison)")
    times = interleaved(workloads, repeats, warmup=0)
    print(f"\nA chain of {length:,} tanh(y * a + b) steps, forward and backward:")
    print(table([(name, f"{seconds:.3f}") for name, seconds in times.items()], ("engine", "s")))
    if "pytorch" in times:
        print(f"pytorch / ours: {times['pytorch'] / times['ours']:.2f}x faster")
    return times


def run(quick=False):
    try:
        from micrograd.engine import Value as MicrogradValue
        from micrograd.nn import MLP as MicrogradMLP
    except ImportError:
        print("micrograd is not installed: pip install micrograd==0.1.0 (or the 'benchmarks' extra)")
        return None

    X, labels = make_moons(100, noise=0.1, seed=0)
    y = [1.0 if label else -1.0 for label in labels]
    random.seed(1337)
    ours, theirs = MLP(2, [16, 16, 1]), MicrogradMLP(2, [16, 16, 1])

    graphs = {
        "ours": count_graph(training_step(ours, Value, X, y), lambda v: v.children),
        "micrograd": count_graph(training_step(theirs, MicrogradValue, X, y), lambda v: tuple(v._prev)),
    }
    repeats = 3 if quick else 15
    steps = {
        "ours": lambda: training_step(ours, Value, X, y),
        "micrograd": lambda: training_step(theirs, MicrogradValue, X, y),
    }
    with_collector = interleaved(steps, repeats)
    without_collector = interleaved(steps, repeats, collector=False)

    rows = []
    for name in ("ours", "micrograd"):
        nodes, edges = graphs[name]
        for label, times in (("on", with_collector), ("off", without_collector)):
            seconds = times[name]
            rows.append((name, label, f"{seconds * 1e3:.1f}", nodes, edges, f"{seconds / nodes * 1e9:.0f}"))
    print(__doc__.strip().splitlines()[0])
    print(table(rows, ("engine", "gc", "ms/step", "nodes/step", "edges/step", "ns/node")))
    ratios = {
        "micrograd (gc on) / ours (gc on)": with_collector["micrograd"] / with_collector["ours"],
        "micrograd (gc off) / ours (gc on)": without_collector["micrograd"] / with_collector["ours"],
        "micrograd (gc off) / ours (gc off)": without_collector["micrograd"] / without_collector["ours"],
    }
    for name, ratio in ratios.items():
        print(f"{name:<36} {ratio:5.2f}x faster")
    print("targets: >= 10x against micrograd as shipped, >= 1.5x against micrograd with its collector off")
    print("(micrograd's edges count each distinct input once: it keeps a node's inputs in a set)")
    run_chain(10_000 if quick else 100_000, 1 if quick else 3)
    return ratios
