"""Compiled programs (autodiff.compile) against hand-written numpy, PyTorch eager, jax.jit and micrograd.

(a) One training step of a ReLU MLP at the four sizes of the tensor
    benchmark (tiny 2-16-16-1, small 64-128-10, medium 784-256-10, large
    1024-1024-1024-10), float32 and float64, every engine from the same
    weights (the first losses are checked to agree):
    - compiled: the loss (nn layers, softmax cross-entropy; tiny: sigmoid
      and binary cross-entropy) compiled, its backward, and the eager
      nn.optim.SGD step;
    - eager: the same loss, not compiled;
    - pytorch: torch.nn, torch.optim, eager, one thread;
    - jax.jit: the whole step (value_and_grad and the update) jitted, where
      jax is installed: an anchor, never a dependency;
    - numpy: the floor, the step written by hand (benchmarks.tensor).
    Each engine runs in a process of its own, the processes take turns.
    The time of the first call (recording the loss and writing its
    program) is printed for each.
(b) micrograd's two-moons step (MLP(2, [16, 16, 1]) on 100 points,
    max-margin loss and L2, SGD) with Values: compiled against our eager
    Values and micrograd itself (garbage collector on, as users run it,
    and off).

One BLAS thread everywhere (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)).
"""

import random
import time

import numpy as np

import autodiff
import nn
from autodiff import Tensor, Value

from . import tensor
from ._timing import interleaved, processes_taking_turns, table

ENGINES = ("compiled", "eager", "pytorch", "jax.jit", "numpy")
# compiled / reference, at most
TARGETS = {
    "tiny": (("numpy", 1.3), ("pytorch", 1 / 3)), "small": (("numpy", 1.3), ("pytorch", 1 / 3)),
    "medium": (("numpy", 1.05),), "large": (("numpy", 1.05),),
}
FIRST_CALL_TARGET = 0.050  # seconds, for graphs under 1,000 nodes
MOONS_TARGETS = (("micrograd", 1 / 50), ("eager Values", 1 / 5))


def _loss_function(model, binary):
    def loss(x, y):
        out = model(x)
        return nn.binary_cross_entropy(out.sigmoid(), y) if binary else nn.cross_entropy(out, y)

    return loss


def step_function(engine, size, dtype):
    """One training step of ``engine`` at ``size`` (a module-level factory, for the engines' processes)."""
    x, y = tensor.problem(size, dtype)
    model = tensor.our_model(size, dtype)
    if engine in ("compiled", "eager"):
        loss = _loss_function(model, y.ndim == 2)
        if engine == "compiled":
            loss = autodiff.compile(loss)
        optimizer = nn.optim.SGD(model.parameters(), lr=tensor.LEARNING_RATE)
        x, y = Tensor(x), Tensor(y)

        def step():
            optimizer.zero_grad()
            value = loss(x, y)
            value.backward()
            optimizer.step()
            return value.item()

        return step
    if engine == "pytorch":
        import torch

        torch.set_num_threads(1)
        return tensor.torch_step_function(torch, model, x, y)
    if engine == "jax.jit":
        return _jax_step(model, x, y)
    mlp = tensor.NumpyMLP(model)
    return lambda: mlp.step(x, y)


def _jax_step(model, x, y):
    import jax

    if x.dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    params = [(jnp.asarray(m.weight.data), jnp.asarray(m.bias.data)) for m in model if isinstance(m, nn.Linear)]
    binary = y.ndim == 2

    def loss(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jnp.maximum(h, 0)
        if binary:
            p = jax.nn.sigmoid(h)
            return -(y * jnp.maximum(jnp.log(p), -100) + (1 - y) * jnp.maximum(jnp.log1p(-p), -100)).mean()
        return -jnp.take_along_axis(jax.nn.log_softmax(h, axis=1), y[:, None], axis=1).mean()

    @jax.jit
    def update(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        return value, [(w - tensor.LEARNING_RATE * gw, b - tensor.LEARNING_RATE * gb)
                       for (w, b), (gw, gb) in zip(params, grads)]

    state = {"params": params}
    x, y = jnp.asarray(x), jnp.asarray(y)

    def step():
        value, state["params"] = update(state["params"], x, y)
        return float(value)

    return step


def first_call(size, dtype):
    """Seconds of the first compiled call, of an eager call, and the number of nodes of the program.

    The first call runs the loss eagerly while recording it, then writes and
    compiles its program: what it costs beyond an eager call is the building.
    """
    x, y = tensor.problem(size, dtype)
    model = tensor.our_model(size, dtype)
    loss = _loss_function(model, y.ndim == 2)
    x, y = Tensor(x), Tensor(y)
    eager = min(_seconds(lambda: loss(x, y)) for _ in range(3))
    compiled = autodiff.compile(loss)
    first = _seconds(lambda: compiled(x, y))
    lines = compiled.source().splitlines()
    return first, eager, sum(1 for line in lines if line.startswith("    ") and "  # " in line)


def _seconds(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def moons(quick):
    """(b): seconds per step of compiled, eager Values and micrograd, and the first call's seconds."""
    from nn.datasets import make_moons

    from .scalar import training_step

    X, labels = make_moons(100, noise=0.1, seed=0)
    y = [1.0 if label else -1.0 for label in labels]
    points = [[float(a), float(b)] for a, b in X]
    random.seed(1337)
    eager_model, compiled_model = nn.MLP(2, [16, 16, 1]), nn.MLP(2, [16, 16, 1])
    compiled_model.load_state_dict(eager_model.state_dict())

    def loss(points, y):
        scores = [compiled_model([Value(a), Value(b)]) for a, b in points]
        losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        return data_loss + 1e-4 * sum(p * p for p in compiled_model.parameters())

    compiled = autodiff.compile(loss)
    start = time.perf_counter()
    compiled(points, y)
    first = time.perf_counter() - start

    def compiled_step():
        value = compiled(points, y)
        compiled_model.zero_grad()
        value.backward()
        for p in compiled_model.parameters():
            p.data -= 0.5 * p.grad
        return value

    steps = {"compiled": compiled_step, "eager Values": lambda: training_step(eager_model, Value, X, y)}
    try:
        from micrograd.engine import Value as MicrogradValue
        from micrograd.nn import MLP as MicrogradMLP

        random.seed(1337)
        theirs = MicrogradMLP(2, [16, 16, 1])
        steps["micrograd"] = lambda: training_step(theirs, MicrogradValue, X, y)
    except ImportError:
        print("micrograd is not installed: pip install micrograd==0.1.0 (the 'benchmarks' extra)")
    repeats = 3 if quick else 15
    on = interleaved(steps, repeats)
    off = interleaved(steps, repeats, collector=False)
    return on, off, first


def run(quick=False):
    print(__doc__.strip().splitlines()[0])
    try:
        import jax  # noqa: F401
        engines = ENGINES
    except ImportError:
        print("(jax is not installed: its column is left out; pip install jax to see it)")
        engines = tuple(engine for engine in ENGINES if engine != "jax.jit")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("(torch is not installed: its column is left out)")
        engines = tuple(engine for engine in engines if engine != "pytorch")
    ratios, rows, first_rows = {}, [], []
    for size in tensor.SIZES:
        for dtype in ("float32", "float64"):
            losses, results = processes_taking_turns(
                engines, step_function, (size, np.dtype(dtype)), 3 if quick else tensor.REPEATS[size],
                tensor.STEPS_PER_SAMPLE[size])
            tolerance = 1e-3 if dtype == "float32" else 1e-8
            for engine, first in losses.items():
                if not np.allclose(first, losses["eager"], rtol=tolerance):
                    raise AssertionError(f"{size} {dtype}: {engine} losses {first} differ from eager {losses['eager']}")
            times = {engine: seconds for engine, (seconds, _) in results.items()}
            verdicts = []
            for reference, target in TARGETS[size]:
                if reference not in times:
                    continue
                ratio = times["compiled"] / times[reference]
                ratios[f"{size} {dtype} compiled/{reference}"] = ratio
                verdicts.append(f"/{reference} {ratio:.2f} <= {target:.2f}: {'met' if ratio <= target else 'MISSED'}")
            rows.append((size, dtype, *(f"{times[e] * 1e3:.3f}" for e in engines),
                         *(f"{times[e] / times['numpy']:.2f}" for e in engines if e != "numpy"), "; ".join(verdicts)))
            first, eager, nodes = first_call(size, np.dtype(dtype))
            building = first - eager
            ratios[f"{size} {dtype} first call s"] = first
            ratios[f"{size} {dtype} building s"] = building
            met = "met" if building <= FIRST_CALL_TARGET or nodes >= 1000 else "MISSED"
            first_rows.append((size, dtype, nodes, f"{first * 1e3:.1f}", f"{eager * 1e3:.1f}", f"{building * 1e3:.1f}",
                               f"<= 50 ms under 1,000 nodes: {met}"))
    print("\n(a) one training step, ms (medians), and each engine's time as a multiple of numpy's")
    header = ("size", "dtype", *engines, *(f"{e}/numpy" for e in engines if e != "numpy"), "compiled against")
    print(table(rows, header))
    print("\n    the first call: the loss run eagerly while recording, then its program written and compiled")
    print(table(first_rows, ("size", "dtype", "nodes", "first call ms", "eager call ms", "building ms", "target")))

    on, off, first = moons(quick)
    print(f"\n(b) micrograd's moons step, ms (medians); the first compiled call took {first * 1e3:.0f} ms")
    print(table([(name, f"{on[name] * 1e3:.1f}", f"{off[name] * 1e3:.1f}") for name in on],
                ("engine", "gc on", "gc off")))
    for reference, target in MOONS_TARGETS:
        if reference in on:
            ratio = on["compiled"] / on[reference]
            ratios[f"moons compiled/{reference}"] = ratio
            print(f"compiled / {reference} (gc on): {ratio:.3f}, {1 / ratio:.1f}x faster "
                  f"(target at least {1 / target:.0f}x: {'met' if ratio <= target else 'MISSED'})")
    if "micrograd" in off:
        print(f"compiled / micrograd with its collector off: {1 / (off['compiled'] / off['micrograd']):.1f}x faster")
    ratios["moons first call s"] = first
    return ratios
