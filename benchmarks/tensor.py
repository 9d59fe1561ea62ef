"""The Tensor engine against PyTorch CPU eager and hand-written numpy: MLP training steps, overhead, memory.

(a) One training step (forward, loss, backward, SGD update) of a ReLU MLP
    at four sizes, in float32 and float64, every engine from the same
    weights (the first losses are checked to agree):
      tiny 2-16-16-1 (batch 100), small 64-128-10 (batch 64),
      medium 784-256-10 (batch 128), large 1024-1024-1024-10 (batch 512).
    Loss: softmax cross-entropy; tiny has one output, so its loss is the
    binary cross-entropy of the sigmoid probability, written as a sigmoid
    followed by a binary cross-entropy (two operations) in every engine.
    - ours: nn.Linear, nn.ReLU, nn.Sequential, nn.cross_entropy (or
      .sigmoid() and nn.binary_cross_entropy), nn.optim.SGD;
    - pytorch: the same with torch.nn and torch.optim, eager, one thread;
    - ours, generic / pytorch, generic: the same step written with general
      operations only, h @ W.T + b, relu, log_softmax, integer-array
      indexing and mean (the binary loss from sigmoid, log and mean), and
      the update as `with no_grad(): p -= lr * p.grad`;
    - numpy: the floor, the same numpy computations written by hand with
      no engine around them, gradients written into arrays kept from step
      to step (np.matmul(..., out=));
    - numpy, fresh arrays: the same with new gradient arrays every step, as
      the plainest code has them. Every process here imports autodiff,
      whose allocator settings (autodiff.memory) keep freed memory for
      the next step; under glibc's defaults this column faulted in 880
      pages a step at medium size in float64 and took 1.7x the floor.
    Each engine runs in a process of its own, as in a real program: they
    share no heap, so one engine's allocations cannot change when malloc
    hands memory back to the system (and faults it in again) for another.
    The processes take turns, batch by batch, so all see the same
    background load; times are measured inside each process, medians
    reported, and ratios taken within one run. Minor page faults per step
    are counted over the same batches.
(b) Overhead per operation: (x*y).sum().backward() on 10 elements, in one
    process, interleaved, beside the same numpy calls with no engine.
(c) Memory over 1,000 steps of the medium MLP (ours, float64), with the
    garbage collector on and off: the traced peak of every 100 steps must
    not grow after the first.

One BLAS thread everywhere (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)).
"""

import gc
import tracemalloc

import numpy as np

import autodiff
import nn
from autodiff import Tensor

from ._timing import interleaved, processes_taking_turns, table

SIZES = {
    "tiny": ((2, 16, 16, 1), 100),
    "small": ((64, 128, 10), 64),
    "medium": ((784, 256, 10), 128),
    "large": ((1024, 1024, 1024, 10), 512),
}
# steps per timed sample, so that each sample lasts a few milliseconds
STEPS_PER_SAMPLE = {"tiny": 20, "small": 20, "medium": 2, "large": 1}
REPEATS = {"tiny": 40, "small": 40, "medium": 30, "large": 7}
LEARNING_RATE = 0.01
# ours / reference, at most
TARGETS = {
    "tiny": ("pytorch", 0.5), "small": ("pytorch", 0.5),
    "medium": ("numpy", 1.15), "large": ("numpy", 1.15),
}
FLOAT32_TARGET = ("pytorch", 1.5)  # medium and large in float32
OVERHEAD_TARGET = 0.25


def problem(size, dtype, seed=0):
    """Inputs and labels for one size: (x, y), y integer classes or, for one output, 0/1 targets of shape (N, 1)."""
    sizes, batch = SIZES[size]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    if sizes[-1] == 1:
        y = rng.integers(0, 2, (batch, 1)).astype(dtype)
    else:
        y = rng.integers(0, sizes[-1], batch)
    return x, y


# -- ours ---------------------------------------------------------------------------------


def our_model(size, dtype):
    sizes, _ = SIZES[size]
    saved = autodiff.get_default_dtype()
    autodiff.set_default_dtype(dtype)
    try:
        nn.manual_seed(0)
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        return nn.Sequential(*layers[:-1])
    finally:
        autodiff.set_default_dtype(saved)


def our_step_function(model, x, y):
    optimizer = nn.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    x = Tensor(x)
    binary = y.ndim == 2

    def step():
        optimizer.zero_grad()
        out = model(x)
        loss = nn.binary_cross_entropy(out.sigmoid(), y) if binary else nn.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def generic_step(no_grad, model_parameters, x, y, rows):
    """A training step written with general operations only, the same text for ours and PyTorch."""
    parameters = list(model_parameters)
    weights, biases = parameters[0::2], parameters[1::2]
    binary = y.ndim == 2

    def step():
        for p in parameters:
            p.grad = None
        h = x
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = h @ w.T + b
            if i < len(weights) - 1:
                h = h.relu()
        if binary:
            p = h.sigmoid()
            loss = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
        else:
            loss = -h.log_softmax(1)[rows, y].mean()
        loss.backward()
        with no_grad():
            for p in parameters:
                p -= LEARNING_RATE * p.grad
        return loss.item()

    return step


# -- PyTorch ----------------------------------------------------------------------------


def torch_step_function(torch, model, x, y):
    """The same model and step in PyTorch, from ``model``'s weights."""
    layers = []
    for module in model:
        layers.append(
            torch.nn.Linear(module.in_features, module.out_features) if isinstance(module, nn.Linear)
            else torch.nn.ReLU()
        )
    twin = torch.nn.Sequential(*layers).to(torch.from_numpy(x).dtype)
    twin.load_state_dict({name: torch.from_numpy(array) for name, array in model.state_dict().items()})
    optimizer = torch.optim.SGD(twin.parameters(), lr=LEARNING_RATE)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    F = torch.nn.functional
    binary = y.ndim == 2

    def step():
        optimizer.zero_grad()
        out = twin(x)
        loss = F.binary_cross_entropy(torch.sigmoid(out), y) if binary else F.cross_entropy(out, y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


# -- hand-written numpy ------------------------------------------------------------------


class NumpyMLP:
    """The same MLP by hand: forward, the loss and its gradient, backward, SGD, with no graph.

    With ``reuse_buffers`` (the floor) the weight and bias gradients are
    written into arrays kept from step to step, and scaled and subtracted
    in place, so a step allocates no parameter-sized array. Without it each
    step makes fresh gradients and a fresh ``lr * gradient``, as the
    plainest code has them.
    """

    def __init__(self, model, reuse_buffers=True):
        linears = [m for m in model if isinstance(m, nn.Linear)]
        self.weights = [m.weight.data.copy() for m in linears]
        self.biases = [m.bias.data.copy() for m in linears]
        self.reuse_buffers = reuse_buffers
        self.weight_grads = [np.empty_like(w) for w in self.weights]
        self.bias_grads = [np.empty_like(b) for b in self.biases]

    def step(self, x, y):
        activations = [x]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            a = activations[-1] @ w.T
            a += b
            activations.append(a if i == len(self.weights) - 1 else np.maximum(a, 0))
        out = activations.pop()
        loss, g = binary_cross_entropy_of_sigmoid(out, y) if y.ndim == 2 else cross_entropy(out, y)
        for i in reversed(range(len(self.weights))):
            h = activations[i]
            if self.reuse_buffers:
                weight_grad = np.matmul(g.T, h, out=self.weight_grads[i])
                bias_grad = np.sum(g, axis=0, out=self.bias_grads[i])
            else:
                weight_grad, bias_grad = g.T @ h, g.sum(axis=0)
            if i:
                g = g @ self.weights[i]
                g *= h > 0
            for parameter, grad in ((self.weights[i], weight_grad), (self.biases[i], bias_grad)):
                if self.reuse_buffers:
                    grad *= LEARNING_RATE
                    parameter -= grad
                else:
                    parameter -= LEARNING_RATE * grad
        return float(loss)


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of integer labels, and its gradient in the logits."""
    batch = len(labels)
    rows = np.arange(batch)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    sums = exps.sum(axis=1, keepdims=True)
    loss = (np.log(sums[:, 0]) - shifted[rows, labels]).sum() / batch
    grad = exps / sums
    grad[rows, labels] -= 1
    grad /= batch
    return loss, grad


def binary_cross_entropy_of_sigmoid(scores, targets):
    """Mean binary cross-entropy of sigmoid(scores), logarithms clamped at -100 as in PyTorch, and its gradient."""
    p = np.exp(-np.logaddexp(0, -scores))
    n = p.size
    loss = -(targets * np.maximum(np.log(p), -100) + (1 - targets) * np.maximum(np.log1p(-p), -100)).sum() / n
    slope = p * (1 - p)
    grad_p = (p - targets) / np.maximum(slope, 1e-12) / n
    return loss, grad_p * slope


# -- measurements ------------------------------------------------------------------------


ENGINES = ("ours", "pytorch", "ours, generic", "pytorch, generic", "numpy", "numpy, fresh arrays")
GENERIC_TARGET = 0.5  # ours, generic / pytorch, generic at tiny and small


def step_function(engine, size, dtype):
    """One training step of ``engine`` at ``size``; every engine starts from the same weights."""
    x, y = problem(size, dtype)
    model = our_model(size, dtype)
    if engine == "ours":
        return our_step_function(model, x, y)
    if engine == "ours, generic":
        rows = np.arange(len(y))
        return generic_step(autodiff.no_grad, model.parameters(), Tensor(x), y, rows)
    if engine.startswith("pytorch"):
        import torch

        torch.set_num_threads(1)
        if engine == "pytorch":
            return torch_step_function(torch, model, x, y)
        parameters = [torch.tensor(p.data, requires_grad=True) for p in model.parameters()]
        rows = torch.arange(len(y))
        return generic_step(torch.no_grad, parameters, torch.from_numpy(x), torch.from_numpy(y), rows)
    mlp = NumpyMLP(model, reuse_buffers=engine == "numpy")
    return lambda: mlp.step(x, y)


def training_steps(size, dtype, repeats, warmup=2):
    """Median seconds and mean page faults per step of every engine, each in its own process, taking turns."""
    losses, results = processes_taking_turns(ENGINES, step_function, (size, np.dtype(dtype)), repeats,
                                             STEPS_PER_SAMPLE[size], warmup)
    tolerance = 1e-3 if dtype == np.float32 else 1e-8
    for engine, first in losses.items():
        if not np.allclose(first, losses["ours"], rtol=tolerance):
            raise AssertionError(f"{size} {np.dtype(dtype)}: {engine} losses {first} differ from ours {losses['ours']}")
    return results


def repeated(step, times):
    def run_steps():
        for _ in range(times):
            step()

    return run_steps


def overhead(torch, quick):
    """Median µs of (x*y).sum().backward() on 10 float32 elements: ours, PyTorch, and its numpy calls alone.

    The numpy row is the floor: the arithmetic backward does (the product,
    the sum, its gradient spread over 10 elements, the two products of the
    chain rule and the two additions into the leaves), with no graph.
    """
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(10).astype(np.float32), rng.standard_normal(10).astype(np.float32)
    x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    x_grad, y_grad = np.zeros_like(a), np.zeros_like(b)
    one = np.ones((), dtype=np.float32)

    def ours():
        (x * y).sum().backward()

    def theirs():
        (tx * ty).sum().backward()

    def numpy_calls():
        np.asarray(np.add.reduce(a * b))
        spread = np.empty_like(a)
        spread[...] = one
        np.add(x_grad, spread * b, out=x_grad)
        np.add(y_grad, spread * a, out=y_grad)

    workloads = {"ours": repeated(ours, 100), "pytorch": repeated(theirs, 100), "numpy": repeated(numpy_calls, 100)}
    times = interleaved(workloads, repeats=20 if quick else 200)
    return {name: seconds / 100 * 1e6 for name, seconds in times.items()}


def memory_over_steps(steps, window=100, collector=True):
    """Traced peak (bytes) of each ``window`` steps of the medium MLP in float64, ours."""
    x, y = problem("medium", np.float64)
    step = our_step_function(our_model("medium", np.float64), x, y)
    was_enabled = gc.isenabled()
    if not collector:
        gc.disable()
    tracemalloc.start()
    try:
        peaks = []
        for _ in range(steps // window):
            tracemalloc.reset_peak()
            for _ in range(window):
                step()
            peaks.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()
    return peaks


def run(quick=False):
    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install torch to compare against PyTorch")
        return None
    torch.set_num_threads(1)
    print(__doc__.strip().splitlines()[0])

    ratios = {}
    time_rows, fault_rows, generic_rows = [], [], []
    for size in SIZES:
        for dtype in ("float32", "float64"):
            results = training_steps(size, np.dtype(dtype), repeats=3 if quick else REPEATS[size])
            times = {engine: seconds for engine, (seconds, _) in results.items()}
            reference, target = TARGETS[size]
            if dtype == "float32" and size in ("medium", "large"):
                reference, target = FLOAT32_TARGET
            ratio = times["ours"] / times[reference]
            ratios[f"{size} {dtype} ours/{reference}"] = ratio
            generic = times["ours, generic"] / times["pytorch, generic"]
            ratios[f"{size} {dtype} generic ours/pytorch"] = generic
            if size in ("tiny", "small"):
                generic_rows.append((size, dtype, f"{generic:.2f}",
                                     f"<= {GENERIC_TARGET}: {'met' if generic <= GENERIC_TARGET else 'MISSED'}"))
            time_rows.append((
                size, dtype, *(f"{times[engine] * 1e3:.3f}" for engine in ENGINES),
                f"{times['ours'] / times['pytorch']:.2f}", f"{times['ours'] / times['numpy']:.2f}",
                f"ours/{reference} <= {target}: {'met' if ratio <= target else 'MISSED'}",
            ))
            fault_rows.append((size, dtype, *(f"{results[engine][1]:.0f}" for engine in ENGINES)))
    print("\n(a) one training step, ms (medians)")
    print(table(time_rows, ("size", "dtype", *ENGINES, "ours/pytorch", "ours/numpy", "target")))
    print("\n    general operations only, ours/pytorch (target: at least twice as fast)")
    print(table(generic_rows, ("size", "dtype", "ours/pytorch, generic", "target")))
    print("\n    minor page faults per step (means over the same steps)")
    print(table(fault_rows, ("size", "dtype", *ENGINES)))

    micro = overhead(torch, quick)
    ratio = micro["ours"] / micro["pytorch"]
    ratios["(x*y).sum().backward() ours/pytorch"] = ratio
    print(f"\n(b) (x*y).sum().backward() on 10 elements: ours {micro['ours']:.1f} us, pytorch {micro['pytorch']:.1f} us,"
          f" ratio {ratio:.3f} (target <= {OVERHEAD_TARGET}: {'met' if ratio <= OVERHEAD_TARGET else 'MISSED'})")
    engine_budget = OVERHEAD_TARGET * micro["pytorch"] - micro["numpy"]
    print(f"    its numpy calls alone: {micro['numpy']:.1f} us; the target leaves {engine_budget:.1f} us for the engine"
          f" (two graph nodes and the backward pass), ours takes {micro['ours'] - micro['numpy']:.1f} us")

    total = 100 if quick else 1000
    print(f"\n(c) traced peak memory of each 100 steps, {total} steps of the medium MLP (ours, float64), MB:")
    for collector in (True, False):
        peaks = memory_over_steps(total, collector=collector)
        grows = max(peaks[1:], default=peaks[0]) > peaks[0] * 1.01 + 65536
        ratios[f"memory growth, gc {'on' if collector else 'off'}"] = max(peaks) / peaks[0]
        print(f"    gc {'on ' if collector else 'off'}: " + " ".join(f"{p / 2**20:.2f}" for p in peaks)
              + ("  GROWS" if grows else "  flat after the first steps"))
    return ratios
