"""Pictures of training: loss and accuracy, decision boundaries, weights and their gradients.

Each function returns a matplotlib ``Figure`` (shown inline in Jupyter,
pyplot or not) and, given ``path``, also saves it there. Figures are made without pyplot,
so nothing needs a display and no global state changes. Needs matplotlib:
``pip install matplotlib``.
"""

import functools
import io
import math

import numpy as np

from autodiff import Tensor, no_grad
from autodiff.tensor import numbers_of

from .monitor import TrainingMonitor, layer_parameters
from .parameter import values_and_tensors

__all__ = ["training_curves", "decision_boundary", "weight_histograms", "layer_norms", "weight_heatmap"]


def _figure(width, height):
    return _figure_class()(figsize=(width, height), layout="constrained")


@functools.cache
def _figure_class():
    """matplotlib's ``Figure`` that also shows itself in Jupyter, made once, when the first picture is drawn.

    Jupyter shows a plain ``Figure`` only once pyplot's inline backend is
    on; figures made without pyplot carry their own PNG instead.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('nn.plots needs matplotlib: pip install matplotlib') from error

    class PlotFigure(Figure):
        def _repr_png_(self):
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100)
            return buffer.getvalue()

    return PlotFigure


def _finish(figure, path):
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def training_curves(history, *, steps=None, path=None, title="Training"):
    """Each measured series against the step: losses in one panel, accuracies (0 to 1) in the next.

    ``history``: a dict of name to a list of numbers (None where not
    measured), such as {"loss": [...], "accuracy": [...], "validation loss": [...]},
    or a ``TrainingMonitor``. Names containing "loss" share the first panel,
    names containing "acc" the second; any other series gets a panel of its own.

    >>> figure = training_curves({"loss": [1.0, 0.5, 0.25], "accuracy": [0.5, 0.75, 1.0]})
    >>> [axes.get_ylabel() for axes in figure.axes]
    ['loss', 'accuracy']
    """
    if isinstance(history, TrainingMonitor):
        history, steps = {"loss": history.loss, "accuracy": history.accuracy}, history.steps
    panels = {}
    for name, values in history.items():
        if any(v is not None for v in values):
            kind = "loss" if "loss" in name else "accuracy" if "acc" in name else name
            panels.setdefault(kind, []).append((name, values))
    if not panels:
        raise ValueError("training_curves was given no measurements to draw")
    figure = _figure(5 * len(panels), 3.6)
    figure.suptitle(title)
    for axes, (kind, series) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels.items()):
        for name, values in series:
            x = np.arange(len(values)) if steps is None else np.asarray(steps)
            axes.plot(x, [np.nan if v is None else float(v) for v in values], label=name)
        axes.set_xlabel("step")
        axes.set_ylabel(kind)
        if kind == "accuracy":
            axes.set_ylim(-0.02, 1.02)
        if len(series) > 1:
            axes.legend()
        axes.grid(alpha=0.3)
    return _finish(figure, path)


def decision_boundary(model, X, y, *, path=None, resolution=100, margin=0.5, threshold=0.0,
                           title="Decision boundary"):
    """The regions a 2-D classifier assigns to each class, with the data on top.

    ``model`` is an ``nn.MLP`` of Values (called point by point) or a
    Tensor module (called on the whole grid at once), evaluated under
    ``no_grad``. One output: a score, class 1 above ``threshold``, drawn
    as a shaded score with the boundary where it equals ``threshold``.
    Several outputs: the class of the largest.

    >>> import numpy as np, nn
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    >>> figure = decision_boundary(nn.MLP(2, [4, 1]), X, np.array([0, 0, 1, 1]), resolution=20)
    >>> figure.axes[0].get_title()
    'Decision boundary'
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary needs points of shape (n, 2), got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"{len(X)} points but {len(y)} labels")
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs, ys = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    scores = _scores(model, np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    figure = _figure(5.5, 4.5)
    axes = figure.subplots()
    if scores.shape[1] == 1:
        score = scores[:, 0].reshape(grid_x.shape) - threshold
        reach = np.abs(score).max() or 1.0
        shading = axes.contourf(grid_x, grid_y, score, levels=21, cmap="RdBu", vmin=-reach, vmax=reach, alpha=0.7)
        axes.contour(grid_x, grid_y, score, levels=[0.0], colors="black", linewidths=1.5)
        figure.colorbar(shading, ax=axes, label="score" if threshold == 0 else f"score - {threshold:g}")
    else:
        classes = scores.argmax(axis=1).reshape(grid_x.shape)
        axes.contourf(grid_x, grid_y, classes, levels=np.arange(scores.shape[1] + 1) - 0.5, cmap="tab10",
                      vmin=0, vmax=9, alpha=0.4)
    labels = np.unique(y)
    colours = ["#b2182b", "#2166ac"] if len(labels) == 2 else [f"C{i}" for i in range(len(labels))]
    for label, colour in zip(labels, colours):
        chosen = y == label
        axes.scatter(X[chosen, 0], X[chosen, 1], c=colour, edgecolors="black", linewidths=0.6, s=30,
                     label=f"class {label}")
    axes.legend(loc="upper right", fontsize="small")
    axes.set_xlim(low[0], high[0])
    axes.set_ylim(low[1], high[1])
    axes.set_title(title)
    return _finish(figure, path)


def _scores(model, points):
    """The model's outputs at ``points`` (n, 2), as an (n, outputs) array."""
    parameters = model.parameters()
    values, tensors = values_and_tensors(parameters)
    with no_grad():
        if values and not tensors:  # a model of Values: one point at a time, a list of numbers
            rows = []
            for point in points.tolist():
                out = model(point)
                rows.append([v.data for v in out] if isinstance(out, (list, tuple)) else [out.data])
            return np.array(rows)
        dtype = parameters[0].data.dtype if parameters else np.float64
        out = model(Tensor(points.astype(dtype)))
    data = np.asarray(out.data, dtype=np.float64)
    return data.reshape(len(points), -1)


def weight_histograms(source, *, path=None, bins=None, title="Weights by layer"):
    """A histogram of each layer's weights (biases left out).

    ``source``: a model (its weights now), or a ``TrainingMonitor`` with
    weight snapshots (one outline per recorded step, so the spread of the
    weights can be watched changing through training).

    ``bins``: None (the default) fits the number of bins to the number of
    weights n a layer holds, by numpy's "auto" rule (Sturges' ⌈log₂ n⌉ + 1
    for small n, Freedman-Diaconis for large), at most 30; an int fixes it.
    A layer of 16 weights gets 5 bins, where 30 would leave most of them
    empty and the rest at one weight each. A layer of at most
    ``RUG_LIMIT`` weights also shows each weight as a tick under its
    histogram.

    >>> import nn
    >>> figure = weight_histograms(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1)))
    >>> [axes.get_title() for axes in figure.axes if axes.get_visible()]
    ['0', '2']
    """
    if isinstance(source, TrainingMonitor):
        if not source.weight_snapshots:
            raise ValueError("the monitor kept no weights: give it histogram_steps=[...] before training")
        snapshots = sorted(source.weight_snapshots.items())
        layers = list(snapshots[0][1])
    else:
        weights = {id(w) for w in source.weights()}
        current = {
            layer: np.array([x for _, p in named if id(p) in weights for x in _flat(p)])
            for layer, named in layer_parameters(source)
        }
        snapshots = [(None, {layer: values for layer, values in current.items() if values.size})]
        layers = list(snapshots[0][1])
    columns = min(len(layers), 3)
    rows = -(-len(layers) // columns)
    figure = _figure(4 * columns, 3 * rows)
    figure.suptitle(title)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, layer in zip(grid.ravel(), layers):
        everything = np.concatenate([weights[layer] for _, weights in snapshots])
        edges = np.histogram_bin_edges(everything, bins=_bin_count(snapshots[0][1][layer]) if bins is None else bins)
        for number, (step, weights) in enumerate(snapshots):
            colour = "#4c72b0" if step is None else f"C{number}"
            if step is None:
                axes.hist(weights[layer], bins=edges, color=colour, alpha=0.8)
            else:
                axes.hist(weights[layer], bins=edges, histtype="step", linewidth=1.5, color=colour,
                          label=f"step {step}")
        axes.yaxis.set_major_locator(_integer_locator())
        if snapshots[0][1][layer].size <= RUG_LIMIT:
            _rug(axes, [weights[layer] for _, weights in snapshots],
                 ["#4c72b0" if step is None else f"C{number}" for number, (step, _) in enumerate(snapshots)])
        axes.set_title(source.layer_titles.get(layer, layer) if isinstance(source, TrainingMonitor) else layer)
        axes.set_xlabel("weight")
        axes.set_ylabel("count")
        if snapshots[0][0] is not None:
            axes.legend(fontsize="small")
    for axes in grid.ravel()[len(layers):]:
        axes.set_visible(False)
    return _finish(figure, path)


# layers with at most this many weights also show each weight as a tick: too few for a histogram to have a shape
RUG_LIMIT = 100
# the most bins a histogram gets when they are chosen for it
MAX_BINS = 30


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _rug(axes, rows, colours):
    """Each value of each of ``rows`` as a tick below the histogram's zero, a row of ticks per snapshot."""
    top = axes.get_ylim()[1]
    ticks = [tick for tick in axes.get_yticks() if 0 <= tick <= top]
    for number, (values, colour) in enumerate(zip(rows, colours)):
        axes.plot(values, np.full(values.size, -top * 0.07 * (number + 1)), "|", color=colour, markersize=7)
    axes.set_ylim(-top * 0.07 * (len(rows) + 0.7), top)
    axes.set_yticks(ticks)


def _bin_count(weights):
    """How many bins a histogram of ``weights`` gets: numpy's "auto" rule, at most MAX_BINS."""
    return min(MAX_BINS, len(np.histogram_bin_edges(np.asarray(weights, dtype=np.float64), bins="auto")) - 1)


def _flat(parameter):
    return np.ravel(parameter.data).tolist()


def layer_norms(monitor, *, path=None, title="Weights and gradients by layer"):
    """From a ``TrainingMonitor``: each layer's weight norm and gradient norm over the steps.

    Gradient norms span many orders of magnitude, so their axis is
    logarithmic down to the smallest nonzero norm and linear below it: a
    layer whose gradient is exactly zero (every unit dead) shows as a line
    at 0 instead of vanishing from the picture. A third panel shows the
    dead ReLU units, when the monitor counted them.

    >>> import nn
    >>> from autodiff import Tensor
    >>> model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    >>> monitor = nn.TrainingMonitor(model)
    >>> for step in range(3):
    ...     model.zero_grad()
    ...     loss = (model(Tensor([[1.0, 2.0]])) ** 2).sum()
    ...     loss.backward()
    ...     monitor.record(loss=loss)
    >>> figure = layer_norms(monitor)
    >>> [axes.get_ylabel() for axes in figure.axes]
    ['‖W‖', '‖∂L/∂W‖']
    """
    panels = 3 if monitor.dead_units else 2
    figure = _figure(4.5 * panels, 3.6)
    figure.suptitle(title)
    axes = figure.subplots(1, panels)
    for layer in monitor.weight_norms:
        axes[0].plot(monitor.steps, monitor.weight_norms[layer], label=monitor.layer_titles.get(layer, layer))
        axes[1].plot(monitor.steps, monitor.grad_norms[layer], label=monitor.layer_titles.get(layer, layer))
    axes[0].set_ylabel("‖W‖")
    axes[1].set_ylabel("‖∂L/∂W‖")
    norms = [norm for values in monitor.grad_norms.values() for norm in values]
    nonzero = [norm for norm in norms if norm > 0]
    axes[1].set_yscale("symlog", linthresh=min(nonzero, default=1.0))
    if nonzero:
        _label_log_axis(axes[1], min(nonzero), max(nonzero), zero=len(nonzero) < len(norms))
    if monitor.dead_units:
        for name, counts in monitor.dead_units.items():
            steps, dead, units = zip(*counts)
            axes[2].plot(steps, np.array(dead) / np.array(units), label=name)
        axes[2].set_ylabel("share of dead ReLU units")
        axes[2].set_ylim(-0.02, 1.02)
    for panel in axes:
        panel.set_xlabel("step")
        panel.grid(alpha=0.3)
        panel.legend(fontsize="small", title="layer", title_fontsize="small")
    return _finish(figure, path)


def _log_ticks(low, high, least=3):
    """Tick positions for a logarithmic axis over [low, high] (0 < low <= high), at least ``least`` where the span allows.

    The powers of ten when there are ``least`` of them, else 1, 2 and 5
    times them, else every whole multiple of them, else ``least`` evenly
    spaced values: a span of less than two decades still gets labels to
    read, where the powers of ten alone would give one, or none.

    >>> _log_ticks(1e-5, 10)
    [1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0]
    >>> _log_ticks(0.03, 0.3)
    [0.05, 0.1, 0.2]
    """
    if not 0 < low <= high:
        raise ValueError(f"_log_ticks needs 0 < low <= high, got {low} and {high}")
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for multiples in ((1,), (1, 2, 5), range(1, 10)):
        ticks = [float(f"{m}e{power}") for power in range(first, last + 1) for m in multiples
                 if low <= float(f"{m}e{power}") <= high]
        if len(ticks) >= least:
            return ticks
    return [float(f"{value:.2g}") for value in np.linspace(low, high, least)]


def _label_log_axis(axes, low, high, zero=False):
    """Ticks and plain labels on the logarithmic y axis of ``axes`` (``_log_ticks``), 0 among them when ``zero``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = ([0.0] if zero else []) + _log_ticks(low, high)
    axes.yaxis.set_major_locator(FixedLocator(ticks))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _tick_label(value)))
    axes.yaxis.set_minor_locator(NullLocator())


def _tick_label(value):
    """0.05 or 20 as written; beyond 1e-3..1e4, as a power of ten (10⁻⁵, 2×10⁻⁵)."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, power = f"{value:.0e}".split("e")
    power = int(power)
    return f"$10^{{{power}}}$" if mantissa == "1" else f"${mantissa}\\times10^{{{power}}}$"


def weight_heatmap(weights, *, path=None, title="Weights"):
    """A layer's weights as a grid of colours: a row per output unit, a column per input (red +, blue -).

    ``weights``: a 2-D array or Tensor, a module with a ``weight`` (``nn.Linear``),
    or an ``nn.Layer`` of Values (its neurons' weights, one row each).

    >>> import nn
    >>> figure = weight_heatmap(nn.Linear(5, 3))
    >>> figure.axes[0].images[0].get_array().shape
    (3, 5)
    """
    matrix = _weight_matrix(weights)
    reach = np.abs(matrix).max() or 1.0
    height, width = matrix.shape
    figure = _figure(min(2 + 0.35 * width, 12), min(1.5 + 0.35 * height, 10))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="RdBu_r", vmin=-reach, vmax=reach, aspect="auto", interpolation="nearest")
    figure.colorbar(image, ax=axes, label="weight")
    axes.set_xlabel("input")
    axes.set_ylabel("output unit")
    axes.set_title(title)
    return _finish(figure, path)


def _weight_matrix(weights):
    if hasattr(weights, "neurons"):
        matrix = np.array([[w.data for w in neuron.w] for neuron in weights.neurons])
    elif hasattr(weights, "weight"):
        matrix = weights.weight.data
    else:
        matrix = numbers_of(weights)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"a heat map needs a 2-D weight matrix, got shape {matrix.shape}")
    return matrix
