"""Tensor layers against PyTorch CPU eager (one thread): a small CNN, an LSTM and the MNIST example's Net.

(a) One epoch of a CNN, Conv2d-ReLU-MaxPool-Conv2d-ReLU-MaxPool-Linear, on
    scikit-learn's digits (1,797 images of 8x8, batches of 32), plain SGD on
    the cross-entropy; both engines start from the same weights.
(b) One forward and backward pass of a 1-layer LSTM (input 32, hidden 64)
    over a batch of 32 sequences of 50 steps.
(c) One training step of the Net of PyTorch's MNIST example at its real
    size: 64 images of 1x28x28, Conv2d(1, 32, 3)-ReLU-Conv2d(32, 64, 3)-ReLU-
    MaxPool(2)-Linear(9216, 128)-ReLU-Linear(128, 10) (the example's dropout
    left out: the engines would draw different masks), cross-entropy, SGD
    with momentum 0.9; the same weights and batch for both engines.

All in float32. Targets: CNN epoch within 2x of PyTorch, LSTM step within 1.5x,
MNIST Net step within 1.2x.
"""

import numpy as np

import autodiff
import nn
import nn.functional as F
from autodiff import Tensor

from ._timing import interleaved, table

BATCH = 32
LEARNING_RATE = 0.05


def digits():
    """The digits as (N, 1, 8, 8) float32 in [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    return images, data.target.astype(np.int64)


def our_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def torch_copy(torch, model):
    """The same CNN in PyTorch, with ``model``'s weights."""
    twin = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 2 * 2, 10),
    )
    twin.load_state_dict({name: torch.from_numpy(array) for name, array in model.state_dict().items()})
    return twin


def our_epoch(model, images, labels):
    """One pass over the data in batches, an SGD step after each; returns the mean loss."""
    params = model.parameters()
    losses = []
    for start in range(0, len(images), BATCH):
        loss = nn.cross_entropy(model(images[start : start + BATCH]), labels[start : start + BATCH])
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= LEARNING_RATE * p.grad
        losses.append(loss.item())
    return np.mean(losses)


def torch_epoch(torch, model, images, labels):
    """The same epoch in PyTorch."""
    params = list(model.parameters())
    losses = []
    for start in range(0, len(images), BATCH):
        logits = model(images[start : start + BATCH])
        loss = torch.nn.functional.cross_entropy(logits, labels[start : start + BATCH])
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LEARNING_RATE * p.grad
        losses.append(loss.item())
    return np.mean(losses)


class MnistNet(nn.Module):
    """The Net of PyTorch's MNIST example, less its dropout: 1x28x28 images to 10 scores."""

    def __init__(self):
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = autodiff.flatten(F.max_pool2d(x, 2), 1)
        return self.fc2(F.relu(self.fc1(x)))


def mnist_workloads(torch, batch=64, learning_rate=0.01, momentum=0.9):
    """One SGD step on one batch for each engine, from the same weights; and each engine's first loss."""
    ours = MnistNet()

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 32, 3, 1)
            self.conv2 = torch.nn.Conv2d(32, 64, 3, 1)
            self.fc1 = torch.nn.Linear(9216, 128)
            self.fc2 = torch.nn.Linear(128, 10)

        def forward(self, x):
            TF = torch.nn.functional
            x = TF.relu(self.conv2(TF.relu(self.conv1(x))))
            x = torch.flatten(TF.max_pool2d(x, 2), 1)
            return self.fc2(TF.relu(self.fc1(x)))

    theirs = TorchNet()
    theirs.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in ours.state_dict().items()})
    rng = np.random.default_rng(0)
    images = rng.random((batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    our_optimizer = nn.optim.SGD(ours.parameters(), lr=learning_rate, momentum=momentum)
    torch_optimizer = torch.optim.SGD(theirs.parameters(), lr=learning_rate, momentum=momentum)
    torch_images, torch_labels = torch.from_numpy(images), torch.from_numpy(labels)

    def our_step():
        our_optimizer.zero_grad()
        loss = F.cross_entropy(ours(Tensor(images)), labels)
        loss.backward()
        our_optimizer.step()
        return loss.item()

    def torch_step():
        torch_optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(theirs(torch_images), torch_labels)
        loss.backward()
        torch_optimizer.step()
        return loss.item()

    return {"ours": our_step, "pytorch": torch_step}


def lstm_workloads(torch, input_size=32, hidden=64, steps=50):
    ours = nn.LSTM(input_size, hidden)
    theirs = torch.nn.LSTM(input_size, hidden, batch_first=True)
    theirs.load_state_dict({f"{name}_l0": torch.from_numpy(a) for name, a in ours.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(BATCH, steps, input_size)).astype(np.float32)
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def our_step():
        output, _ = ours(x_ours)
        output.sum().backward()

    def torch_step():
        output, _ = theirs(x_theirs)
        output.sum().backward()

    return {"ours": our_step, "pytorch": torch_step}


def run(quick=False):
    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install torch to compare against PyTorch")
        return None
    torch.set_num_threads(1)
    nn.manual_seed(0)
    images, labels = digits()
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order]
    torch_images, torch_labels = torch.from_numpy(images), torch.from_numpy(labels)
    ours = our_cnn()
    theirs = torch_copy(torch, ours)
    first = our_epoch(ours, images, labels), torch_epoch(torch, theirs, torch_images, torch_labels)
    cnn = interleaved(
        {
            "ours": lambda: our_epoch(ours, images, labels),
            "pytorch": lambda: torch_epoch(torch, theirs, torch_images, torch_labels),
        },
        repeats=2 if quick else 15,
    )
    lstm = interleaved(lstm_workloads(torch), repeats=3 if quick else 40)
    mnist_steps = mnist_workloads(torch)
    first_mnist = mnist_steps["ours"](), mnist_steps["pytorch"]()
    mnist = interleaved(mnist_steps, repeats=2 if quick else 20)

    print(__doc__.strip().splitlines()[0])
    print(f"CNN, mean loss of the first epoch from the same weights: ours {first[0]:.4f}, pytorch {first[1]:.4f}")
    print(f"MNIST Net, loss of the first step from the same weights: ours {first_mnist[0]:.6f}, "
          f"pytorch {first_mnist[1]:.6f}")
    rows = []
    ratios = {}
    for name, times, target in (
        ("CNN epoch", cnn, 2.0), ("LSTM fwd+bwd", lstm, 1.5), ("MNIST Net step", mnist, 1.2)
    ):
        ratios[name] = times["ours"] / times["pytorch"]
        ours_ms, torch_ms = times["ours"] * 1e3, times["pytorch"] * 1e3
        rows.append((name, f"{ours_ms:.2f}", f"{torch_ms:.2f}", f"{ratios[name]:.2f}", f"<= {target}"))
    print(table(rows, ("workload", "ours ms", "pytorch ms", "ours/pytorch", "target")))
    return ratios
