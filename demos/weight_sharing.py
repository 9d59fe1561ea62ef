"""Weight sharing: a small CNN matches a dense network on handwritten digits with a fraction of the weights.

A dense layer gives every input its own weight for every output: to map
an 8x8 image to eight 8x8 feature maps it needs 64 · 512 weights and 512
biases. A convolution makes two bets about images instead. Locality: a
pixel's meaning depends on its neighbours, so each output looks at a 3x3
patch only. Translation: an edge is an edge wherever it appears, so the
same nine weights (a filter) are used at every position. Eight filters
then cost 8 · (9 + 1) = 80 parameters for the same job, and what each
filter learns is a small picture that can be looked at.

Pooling (the maximum of each 2x2 window) halves the resolution, keeping
whether a feature was found and forgetting exactly where. Two rounds of
convolution and pooling turn the 8x8 digit into 16 channels of 2x2, and
a single linear layer reads the class from those 64 numbers.

The lesson trains this CNN and a dense network (64 → 128 → 128 → 10) on
scikit-learn's 1,797 8x8 digits with the same optimiser and schedule, and
sets their parameter counts and test accuracies side by side.

Writes to --out the two networks' parameter counts side by side (and one
convolution's beside the dense layer that would do its job), the first
layer's filters, and what they see in one digit.
"""

import numpy as np

from autodiff import Tensor
import nn
from nn import Progress

from ._common import check, parse_args, report_pictures
from ._figures import save

TEST_FRACTION = 0.25
EPOCHS, QUICK_EPOCHS = 15, 3
BATCH, LEARNING_RATE = 32, 0.01
# full mode: the CNN must reach this; quick mode: a few epochs must get it this far
TARGET, QUICK_TARGET = 0.97, 0.90


def load_digits_split(seed=0):
    """The 8x8 digits scaled to [0, 1], as (N, 1, 8, 8) images, shuffled and split into train and test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    order = np.random.default_rng(seed).permutation(len(images))
    images, labels = images[order], digits.target[order]
    cut = int(len(images) * (1 - TEST_FRACTION))
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 8 filters of 3x3: 8x8 → 8 maps of 4x4
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16 filters of 8x3x3: → 16 maps of 2x2
        nn.Flatten(), nn.Linear(16 * 2 * 2, 10),
    )


def dense():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def train(model, data, epochs, name):
    """Adam on mini-batches with a cosine learning-rate schedule; the test accuracy after each epoch."""
    X_train, y_train, X_test, y_test = data
    optimizer = nn.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = nn.optim.CosineAnnealingLR(optimizer, T_max=epochs)
    accuracies = []
    bar = Progress(range(epochs), desc=f"training the {name}")
    for epoch in bar:
        model.train()
        order = np.random.default_rng(epoch).permutation(len(X_train))
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            loss = nn.cross_entropy(model(Tensor(X_train[batch])), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        model.eval()
        accuracies.append(nn.accuracy(model(Tensor(X_test)), y_test))
        bar.show(accuracy=accuracies[-1])
    return accuracies


def dense_equivalent(conv, size=8):
    """Weights and biases a dense layer needs to make ``conv``'s maps of a ``size`` x ``size`` image (padding
    keeps the size): one weight from every input pixel of every channel to every output pixel, a bias each."""
    inputs = conv.in_channels * size * size
    outputs = conv.out_channels * size * size
    return inputs * outputs + outputs


def draw(results, image, path):
    """Write ``comparison_figure`` to ``path``."""
    return save(comparison_figure(results, image), path)


def comparison_figure(results, image):
    """Top: the parameters of the two networks, and of one convolution beside the dense layer that would do its
    job, at their sizes; bottom: one digit, the eight maps the first convolution makes of it, and its filters.

    ``results``: by name ("CNN", "dense"), a dict with the trained ``model``, its ``parameters`` and its
    test ``accuracy``.
    """
    from matplotlib.figure import Figure

    model = results["CNN"]["model"]
    conv = model[0]
    filters = conv.weight.data[:, 0]
    maps = model[1](conv(Tensor(image[None]))).data[0]
    fig = Figure(figsize=(12, 6.4))
    outer = fig.add_gridspec(2, 1, height_ratios=[1, 1.4], hspace=0.3)
    networks, layer = (fig.add_subplot(cell) for cell in outer[0].subgridspec(1, 2, wspace=0.35))
    grid = outer[1].subgridspec(2, len(filters) + 1, hspace=0.25)

    def bars(ax, names, counts, texts):
        """Horizontal bars, each with its text inside it where it fits, else just after it."""
        drawn = ax.barh(names, counts, color=["tab:green", "tab:grey"])
        for bar, text in zip(drawn, texts):
            inside = bar.get_width() > 0.5 * max(counts)
            ax.text(bar.get_width() * (0.98 if inside else 1.0) + (0 if inside else 0.01 * max(counts)),
                    bar.get_y() + bar.get_height() / 2, text, va="center", ha="right" if inside else "left",
                    color="white" if inside else "black", fontsize=10)
        ax.set_xlim(0, max(counts) * 1.05)
        ax.invert_yaxis()
        ax.set_xlabel("parameters")

    names = list(results)
    bars(networks, names, [results[name]["parameters"] for name in names],
         [f"{results[name]['parameters']:,} parameters, {results[name]['accuracy']:.1%} test accuracy"
          for name in names])
    networks.set_title("the whole networks, on the same digits", fontsize=11)
    layer_counts = [conv.weight.size + conv.bias.size, dense_equivalent(conv)]
    bars(layer, ["convolution", "dense layer"], layer_counts, [f"{count:,}" for count in layer_counts])
    layer.set_title("one layer: 8 maps of 8x8 from the 8x8 digit", fontsize=11)

    input_axes = fig.add_subplot(grid[0, 0])
    input_axes.imshow(image[0], cmap="gray_r")
    input_axes.set_title("input digit", fontsize=10)
    reach = np.abs(filters).max()
    pictures = [input_axes]
    for i, (kernel, activation) in enumerate(zip(filters, maps)):
        shown = fig.add_subplot(grid[0, i + 1])
        shown.imshow(activation, cmap="viridis")
        shown.set_title(f"map {i + 1}", fontsize=10)
        kernel_axes = fig.add_subplot(grid[1, i + 1])
        kernel_axes.imshow(kernel, cmap="RdBu_r", vmin=-reach, vmax=reach)
        kernel_axes.set_title(f"filter {i + 1}", fontsize=10)
        pictures += [shown, kernel_axes]
    for ax in pictures:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.text(0.5, 0.05, "the convolution's 8 learned 3x3 filters (red +, blue -), each slid over the whole digit: "
                        "8 x (9 + 1) = 80 parameters make the 8 ReLU maps above them",
             ha="center", fontsize=10)
    return fig


def main(argv=None):
    args = parse_args("weight_sharing", __doc__.splitlines()[0], argv)
    data = load_digits_split()
    epochs = QUICK_EPOCHS if args.quick else EPOCHS
    print(f"{len(data[0])} training and {len(data[2])} test digits, {epochs} epochs each\n")

    results = {}
    for name, make in [("CNN", cnn), ("dense", dense)]:
        nn.manual_seed(0)
        model = make()
        accuracies = train(model, data, epochs, name)
        results[name] = {"model": model, "parameters": model.num_parameters(), "accuracy": accuracies[-1],
                         "accuracies": accuracies}
        print(f"{name}:\n{model.summary(Tensor(data[0][:1]))}\n")

    print(f"{'':7}{'parameters':>11}{'test accuracy':>15}")
    for name, r in results.items():
        print(f"{name:7}{r['parameters']:11d}{r['accuracy']:15.1%}")
    conv = results["CNN"]["model"][0]
    same_job = dense_equivalent(conv)
    print(f"\nthe first convolution has {conv.weight.size + conv.bias.size} parameters; a dense layer from"
          f" the 64 pixels to the same 8 maps of 8x8 would need {same_job}")

    picture = draw(results, data[2][0], args.out / "weight_sharing.png")
    report_pictures(args.out, [picture])

    cnn_result, dense_result = results["CNN"], results["dense"]
    check(dense_result["parameters"] > 10 * cnn_result["parameters"],
          "the CNN has less than a tenth of the dense network's parameters")
    target = QUICK_TARGET if args.quick else TARGET
    check(cnn_result["accuracy"] >= target, f"the CNN reaches {target:.0%} test accuracy")
    if not args.quick:
        check(cnn_result["accuracy"] >= dense_result["accuracy"] - 0.02,
              "the CNN is within two points of the dense network's accuracy")
    return {name: {k: v for k, v in r.items() if k != "model"} for name, r in results.items()}


if __name__ == "__main__":
    main()
