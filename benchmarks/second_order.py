"""Second order: a Hessian-vector product of the small MLP's loss against its gradient, ours and PyTorch's.

The small MLP of the tensor benchmark, 64-128-10 (linear, ReLU, linear,
softmax cross-entropy), batch 64, float64, its four parameters together:
- gradient: ``autodiff.grad(loss, params)``, one forward and one backward pass;
- Hessian-vector product: ``autodiff.hvp(loss, params, v)``, the gradient
  computed as a graph (``create_graph``) and differentiated once more in
  the direction v: one forward pass and two backward passes, the second
  through both the model's graph and the gradient's.
Theory says H·v costs a small constant times the gradient (Pearlmutter,
1994); the target is at most 4x, measured in the same run, interleaved,
medians reported (and the 10th percentiles, which a loaded machine moves
less). PyTorch's own ratio, from ``torch.autograd.grad(..., create_graph=True)``
twice, is printed beside it when torch is installed. H·v is checked first:
against PyTorch's, or without torch against central differences of the
gradient.
"""

import statistics
import time

import numpy as np

import autodiff
import nn
from autodiff import Tensor

from ._timing import table

SIZES, BATCH = (64, 128, 10), 64
TARGET = 4.0
CALLS_PER_SAMPLE = 10


def problem(seed=0):
    """Inputs, labels, the four parameters (w1, b1, w2, b2) and a direction for each, float64 arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZES[0]))
    labels = rng.integers(0, SIZES[-1], BATCH)
    shapes = [(SIZES[1], SIZES[0]), (SIZES[1],), (SIZES[2], SIZES[1]), (SIZES[2],)]
    params = [rng.standard_normal(shape) / np.sqrt(shape[-1]) for shape in shapes]
    directions = [rng.standard_normal(shape) for shape in shapes]
    return x, labels, params, directions


def ours(x, labels, params, directions):
    """Our gradient and Hessian-vector product, as functions of no arguments."""
    X = Tensor(x)
    leaves = [Tensor(p, requires_grad=True) for p in params]
    F = nn.functional

    def loss(w1, b1, w2, b2):
        return nn.cross_entropy(F.linear(F.linear(X, w1, b1).relu(), w2, b2), labels)

    def gradient():
        return autodiff.grad(loss(*leaves), leaves)

    def hessian_vector_product():
        return autodiff.hvp(loss, tuple(leaves), tuple(directions))[1]

    return gradient, hessian_vector_product


def theirs(torch, x, labels, params, directions):
    """PyTorch's gradient and Hessian-vector product (double backward), as functions of no arguments."""
    X, y = torch.from_numpy(x), torch.from_numpy(labels)
    leaves = [torch.tensor(p, requires_grad=True) for p in params]
    vs = [torch.from_numpy(v) for v in directions]
    F = torch.nn.functional

    def loss():
        w1, b1, w2, b2 = leaves
        return F.cross_entropy(F.linear(F.linear(X, w1, b1).relu(), w2, b2), y)

    def gradient():
        return torch.autograd.grad(loss(), leaves)

    def hessian_vector_product():
        grads = torch.autograd.grad(loss(), leaves, create_graph=True)
        return torch.autograd.grad(grads, leaves, grad_outputs=vs)

    return gradient, hessian_vector_product


def check(hv, reference, what, tolerance):
    for k, (a, b) in enumerate(zip(hv, reference)):
        a, b = np.asarray(a.data if isinstance(a, Tensor) else a), np.asarray(b)
        if not np.allclose(a, b, rtol=tolerance, atol=tolerance * max(1.0, np.abs(b).max())):
            raise AssertionError(f"H·v of parameter {k} differs from {what} by {np.abs(a - b).max():.3g}")


def finite_differences(x, labels, params, directions, eps=1e-5):
    """(∇L(p + εv) - ∇L(p - εv)) / 2ε, which tends to H·v."""
    def gradient_at(sign):
        moved = [p + sign * eps * v for p, v in zip(params, directions)]
        return [g for g in ours(x, labels, moved, directions)[0]()]

    return [(a - b) / (2 * eps) for a, b in zip(gradient_at(1), gradient_at(-1))]


def timings(workloads, repeats, warmup=2):
    """Median and 10th-percentile seconds per call of each workload, run in turn ``repeats`` times."""
    for _ in range(warmup):
        for work in workloads.values():
            work()
    samples = {name: [] for name in workloads}
    for _ in range(repeats):
        for name, work in workloads.items():
            start = time.perf_counter()
            for _ in range(CALLS_PER_SAMPLE):
                work()
            samples[name].append((time.perf_counter() - start) / CALLS_PER_SAMPLE)
    return {name: (statistics.median(s), statistics.quantiles(s, n=10)[0]) for name, s in samples.items()}


def run(quick=False):
    print(__doc__.strip().splitlines()[0])
    data = problem()
    workloads = dict(zip(("ours: gradient", "ours: H·v"), ours(*data)))
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: H·v checked against finite differences, no PyTorch column")
        check(workloads["ours: H·v"](), finite_differences(*data), "finite differences of the gradient", 1e-6)
    if torch is not None:
        torch.set_num_threads(1)
        workloads.update(zip(("pytorch: gradient", "pytorch: H·v"), theirs(torch, *data)))
        check(workloads["ours: H·v"](), [t.numpy() for t in workloads["pytorch: H·v"]()], "PyTorch's", 1e-9)
    times = timings(workloads, repeats=5 if quick else 150)
    rows, ratios = [], {}
    for engine in ("ours", "pytorch") if torch is not None else ("ours",):
        (gradient, gradient_p10), (product, product_p10) = times[f"{engine}: gradient"], times[f"{engine}: H·v"]
        ratio = product / gradient
        ratios[f"{engine} H·v / gradient"] = ratio
        target = f"<= {TARGET}: {'met' if ratio <= TARGET else 'MISSED'}" if engine == "ours" else ""
        rows.append((engine, f"{gradient * 1e6:.0f}", f"{product * 1e6:.0f}", f"{ratio:.2f}",
                     f"{product_p10 / gradient_p10:.2f}", target))
    print(f"\nsmall MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float64, µs per call (medians)")
    print(table(rows, ("engine", "gradient", "H·v", "H·v / gradient", "(10th percentiles)", "target")))
    return ratios
