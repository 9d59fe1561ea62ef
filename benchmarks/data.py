"""DataLoader overhead: an epoch of a small MLP fed by nn.data.DataLoader against batches made by hand.

The small MLP of the tensor benchmark, 64-128-10 (nn.Linear, ReLU,
cross-entropy, SGD with momentum), trained for one epoch over 4,096
samples in shuffled batches of 64 (64 steps), in float32 and float64:
- by hand: a numpy permutation per epoch, each batch ``X[order[i:i + 64]]``
  passed to the model as numpy arrays, as ports wrote it before nn.data;
- DataLoader: ``DataLoader(TensorDataset(X, y), batch_size=64,
  shuffle=True, generator=...)``, each batch two Tensors.
The two run interleaved in one process, medians reported; also the time
of a pass of the DataLoader alone (no training). Target: the DataLoader
epoch at most 1.05x the hand-made one.
"""

import numpy as np

import autodiff
import nn
from nn.data import DataLoader, TensorDataset

from ._timing import interleaved, table

SAMPLES, BATCH, SIZES = 4096, 64, (64, 128, 10)
TARGET = 1.05


def problem(dtype):
    rng = np.random.default_rng(0)
    return rng.standard_normal((SAMPLES, SIZES[0])).astype(dtype), rng.integers(0, SIZES[-1], SAMPLES)


def trainer(dtype):
    """A fresh model and optimiser, and the function that takes one step on a batch."""
    saved = autodiff.get_default_dtype()
    autodiff.set_default_dtype(dtype)
    try:
        nn.manual_seed(0)
        model = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]))
    finally:
        autodiff.set_default_dtype(saved)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        optimizer.zero_grad()
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def workloads(dtype):
    x, y = problem(dtype)
    by_hand_step, loader_step = trainer(dtype), trainer(dtype)
    by_hand_generator = np.random.default_rng(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=np.random.default_rng(1))
    pass_only = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=np.random.default_rng(1))

    def by_hand():
        order = by_hand_generator.permutation(SAMPLES)
        for start in range(0, SAMPLES, BATCH):
            batch = order[start:start + BATCH]
            by_hand_step(x[batch], y[batch])

    def with_loader():
        for xb, yb in loader:
            loader_step(xb, yb)

    def loader_alone():
        for _ in pass_only:
            pass

    return {"by hand": by_hand, "DataLoader": with_loader, "DataLoader alone": loader_alone}


def run(quick=False):
    print(__doc__.strip().splitlines()[0])
    rows, ratios = [], {}
    for dtype in (np.float32, np.float64):
        times = interleaved(workloads(dtype), repeats=3 if quick else 40)
        ratio = times["DataLoader"] / times["by hand"]
        ratios[np.dtype(dtype).name] = ratio
        batches = SAMPLES // BATCH
        rows.append((
            np.dtype(dtype).name, f"{times['by hand'] * 1e3:.2f}", f"{times['DataLoader'] * 1e3:.2f}",
            f"{ratio:.3f}", f"{(times['DataLoader'] - times['by hand']) / batches * 1e6:+.1f}",
            f"{times['DataLoader alone'] / batches * 1e6:.1f}", f"<= {TARGET}", "yes" if ratio <= TARGET else "NO",
        ))
    print(table(rows, ("dtype", "by hand ms", "DataLoader ms", "ratio", "us/batch added", "loader alone us/batch",
                       "target", "met")))
    return ratios
