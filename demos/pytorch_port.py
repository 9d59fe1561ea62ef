"""PyTorch's MNIST example, ported by renaming: its Net learns handwritten digits, and PyTorch predicts the same.

The Net of PyTorch's MNIST example (pytorch/examples, mnist/main.py) is
two 3x3 convolutions (32 and 64 filters), a 2x2 max-pool, dropout, and
two linear layers 9216 → 128 → 10 ending in log-softmax; it trains with
Adadelta (lr 1.0) and a learning rate that shrinks by 0.7 each epoch. The
``Net`` below is the example's class with its names changed and nothing
else:

    torch                      → autodiff     (autodiff.flatten, autodiff.no_grad, manual_seed)
    torch.nn                   → nn           (from autodiff import nn)
    torch.nn.functional as F   → nn.functional as F
    torch.optim as optim       → nn.optim as optim
    torch.utils.data           → nn.data

``train`` and ``test`` are the example's functions renamed the same way,
``.to(device)`` lines included (``autodiff.device("cpu")``: this project
computes on the CPU only), and StepLR comes from
``nn.optim.lr_scheduler``. The lesson adds to them only what it needs to
see: they return what they measured,
print through ``log``, and ``train`` can stop early for ``--quick``
(as the example's ``--dry-run`` does); ``fit`` is the loop of the
example's ``main``.

MNIST itself would have to be downloaded, so the data are scikit-learn's
1,797 8x8 digits, enlarged the way MNIST's were made: each digit drawn
at 24x24 (bilinear) and centred in a 28x28 frame, then normalised with
MNIST's mean and deviation as the example does. After training, when
PyTorch is installed, the lesson builds the very same Net in PyTorch (the
port's own code with the names bound to torch), loads the trained
weights into it through ``state_dict``, and shows that both predict the
same digits with the same log-probabilities.

Writes test digits with both engines' predictions to --out.
"""

import numpy as np

import autodiff
from autodiff import nn
import nn.functional as F
import nn.optim as optim
from nn.data import DataLoader, TensorDataset
from nn.optim.lr_scheduler import StepLR

from . import _port as port
from ._common import check, parse_args, report_pictures
from ._figures import figure, save

EPOCHS, QUICK_EPOCHS = 3, 1
QUICK_BATCHES = 8  # quick mode trains on this many batches of its one epoch
BATCH_SIZE, TEST_BATCH_SIZE = 64, 1000
TEST_FRACTION = 0.2
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the example's transforms.Normalize((0.1307,), (0.3081,))
# full mode: the Net must reach this test accuracy; quick mode must beat guessing by far
TARGET, QUICK_TARGET = 0.95, 0.3


# -- the port: PyTorch's example with its names changed -------------------------------


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = autodiff.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(model, device, train_loader, optimizer, epoch, log_interval=10, max_batches=None, log=print):
    """One epoch, as the example's ``train``; returns the loss of every step (the lesson keeps them)."""
    model.train()
    losses = []
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % log_interval == 0:
            log('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))
        if max_batches is not None and batch_idx + 1 == max_batches:
            break
    return losses


def test(model, device, test_loader, log=print):
    """The example's ``test``: the summed loss over the test set and the number classified right."""
    model.eval()
    test_loss = 0
    correct = 0
    with autodiff.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()

    test_loss /= len(test_loader.dataset)
    log('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        test_loss, correct, len(test_loader.dataset),
        100. * correct / len(test_loader.dataset)))
    return test_loss, correct


def fit(model, train_loader, test_loader, epochs, lr=1.0, gamma=0.7, max_batches=None, log=print):
    """The example's ``main`` after the data: Adadelta, StepLR, train and test each epoch."""
    device = autodiff.device("cpu")
    model = model.to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=gamma)
    history = {"loss": [], "test_loss": [], "accuracy": []}
    for epoch in range(1, epochs + 1):
        history["loss"] += train(model, device, train_loader, optimizer, epoch, max_batches=max_batches, log=log)
        test_loss, correct = test(model, device, test_loader, log=log)
        history["test_loss"].append(test_loss)
        history["accuracy"].append(correct / len(test_loader.dataset))
        scheduler.step()
    return history


# -- the same program in PyTorch -------------------------------------------------------


def in_pytorch(torch):
    """The port's ``Net``, ``train``, ``test`` and ``fit`` with their names bound to PyTorch's
    (``demos._port``): the PyTorch program the port was renamed from."""
    return port.in_pytorch(torch, globals(), [Net, train, test, fit], StepLR=torch.optim.lr_scheduler.StepLR)


def torch_loaders(torch, data, dtype):
    """PyTorch's DataLoaders over the same arrays in the same order (no shuffling)."""
    from torch.utils.data import DataLoader as TorchLoader, TensorDataset as TorchDataset

    X_train, y_train, X_test, y_test = data
    train_set = TorchDataset(torch.from_numpy(X_train.astype(dtype)), torch.from_numpy(y_train))
    test_set = TorchDataset(torch.from_numpy(X_test.astype(dtype)), torch.from_numpy(y_test))
    return TorchLoader(train_set, batch_size=BATCH_SIZE), TorchLoader(test_set, batch_size=TEST_BATCH_SIZE)


def our_loaders(data, dtype, shuffle=False):
    """This project's DataLoaders over the digits: batches of 64 for training, of 1000 for testing."""
    X_train, y_train, X_test, y_test = data
    train_set = TensorDataset(X_train.astype(dtype), y_train)
    test_set = TensorDataset(X_test.astype(dtype), y_test)
    return (DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=shuffle),
            DataLoader(test_set, batch_size=TEST_BATCH_SIZE))


# -- the data --------------------------------------------------------------------------


def bilinear_matrix(size_in, size_out):
    """The (size_out, size_in) matrix of bilinear resampling along one axis (pixel centres aligned)."""
    centres = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    return np.stack([np.interp(centres, np.arange(size_in), column) for column in np.eye(size_in)], axis=1)


def mnist_like_digits(seed=0):
    """scikit-learn's 8x8 digits as MNIST-sized images, shuffled and split: X (N, 1, 28, 28) float32, y int64.

    Each digit is resampled to 24x24 and centred in 28x28 (MNIST centres
    its digits in a 20x20 box inside the frame), scaled to [0, 1] and
    normalised with MNIST's mean and standard deviation.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    up = bilinear_matrix(8, 24)
    images = np.zeros((len(digits.images), 28, 28))
    images[:, 2:26, 2:26] = up @ (digits.images / 16.0) @ up.T
    images = ((np.clip(images, 0, 1) - MNIST_MEAN) / MNIST_STD).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(images))
    images, labels = images[order], labels[order]
    cut = int(len(images) * (1 - TEST_FRACTION))
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


# -- the lesson ------------------------------------------------------------------------


def compare_with_pytorch(model, X_test):
    """Our log-probabilities of the test digits, and PyTorch's from the same weights (None without torch)."""
    with autodiff.no_grad():
        ours = model(X_test).data
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: skipped loading the weights into PyTorch (pip install torch to see it)")
        return ours, None
    twin = in_pytorch(torch).Net()
    twin.load_state_dict({name: torch.from_numpy(array) for name, array in model.state_dict().items()})
    twin.eval()
    with torch.no_grad():
        theirs = twin(torch.from_numpy(X_test)).numpy()
    return ours, theirs


def draw_predictions(X_test, y_test, ours, theirs, path, count=24):
    """The first ``count`` test digits, each titled with our prediction (and PyTorch's); mistakes in red."""
    fig, axes = figure(8, 4.6, 3, count // 3)
    for k, ax in enumerate(axes.flat):
        ax.imshow(X_test[k, 0], cmap="gray_r")
        ax.set_xticks([]), ax.set_yticks([])
        title = f"{ours[k].argmax()}" + ("" if theirs is None else f" | {theirs[k].argmax()}")
        ax.set_title(title, fontsize=10, color="black" if ours[k].argmax() == y_test[k] else "red")
    caption = ("prediction here | PyTorch's, same weights" if theirs is not None
               else "prediction (PyTorch not installed)")
    fig.suptitle(f"Test digits (28x28, enlarged from 8x8): {caption}; red = wrong", fontsize=11)
    return save(fig, path)


def main(argv=None):
    args = parse_args("pytorch_port", __doc__.splitlines()[0], argv)
    autodiff.manual_seed(1)  # the example's torch.manual_seed(args.seed)
    data = mnist_like_digits()
    X_train, y_train, X_test, y_test = data
    train_loader, test_loader = our_loaders(data, np.float32, shuffle=True)
    model = Net()
    print(f"Net: {model.num_parameters():,} parameters; {len(X_train)} training and {len(X_test)} test digits")

    epochs = QUICK_EPOCHS if args.quick else EPOCHS
    history = fit(model, train_loader, test_loader, epochs, max_batches=QUICK_BATCHES if args.quick else None)

    ours, theirs = compare_with_pytorch(model, X_test)
    picture = draw_predictions(X_test, y_test, ours, theirs, args.out / "predictions.png")
    report_pictures(args.out, [picture])

    accuracy = history["accuracy"][-1]
    check(history["loss"][-1] < history["loss"][0], "Adadelta lowers the training loss of the ported Net")
    target = QUICK_TARGET if args.quick else TARGET
    check(accuracy >= target, f"the ported Net classifies at least {target:.0%} of the test digits ({accuracy:.1%})")
    results = {"history": history, "accuracy": accuracy}
    if theirs is not None:
        gap = float(np.abs(ours - theirs).max())
        agree = int((ours.argmax(1) == theirs.argmax(1)).sum())
        print(f"PyTorch, given the trained weights: {agree}/{len(X_test)} predictions the same, "
              f"log-probabilities at most {gap:.1e} apart")
        check(agree == len(X_test) and gap < 1e-4,
              "PyTorch, loaded with the trained state_dict, predicts every test digit the same (float32)")
        results["pytorch_gap"] = gap
    return results


if __name__ == "__main__":
    main()
