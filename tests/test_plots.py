"""Training pictures (nn.plots), the training monitor (nn.monitor) and the progress bar (nn.progress)."""

import io
import math
import sys

import numpy as np
import pytest

import nn
from autodiff import Tensor, Value
from nn import plots
from nn.monitor import TrainingMonitor, layer_parameters
from nn.progress import Progress


@pytest.fixture(autouse=True)
def seeded():
    nn.manual_seed(0)


class Affine(nn.Module):
    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.weight = Tensor(rng.normal(size=(n_out, n_in)), requires_grad=True)
        self.bias = Tensor(np.zeros(n_out), requires_grad=True)

    def forward(self, x):
        return x @ self.weight.T + self.bias


class TwoLayers(nn.Module):
    def __init__(self, n_out=1):
        self.hidden = Affine(2, 8, seed=1)
        self.output = Affine(8, n_out, seed=2)

    def forward(self, x):
        return self.output(self.hidden(x).relu())


def saved_image(pillow, figure, path):
    """The PNG at ``path``, checked to be the figure's size and to hold a picture, not a blank."""
    assert path.exists()
    with pillow.open(path) as image:
        assert image.format == "PNG"
        width, height = figure.get_size_inches() * 100
        assert image.size == (round(width), round(height))
        rgb = np.asarray(image.convert("RGB"), dtype=float)
    assert rgb.std() > 10 and len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50
    return rgb


def pixel(figure, rgb, axes, x, y):
    """The colour drawn at data point (x, y) of ``axes``."""
    column, row = axes.transData.transform((x, y))
    return rgb[rgb.shape[0] - int(round(row)), int(round(column))]


def points():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(30, 2))
    return X, (X[:, 0] > 0).astype(int)


def test_training_curves_put_losses_and_accuracies_in_their_panels(tmp_path, matplotlib, pillow):
    history = {"loss": [1.0, 0.6, 0.3, 0.2], "accuracy": [0.5, 0.7, None, 0.9], "validation loss": [1.1, 0.8, 0.5, 0.4]}
    figure = plots.training_curves(history, path=tmp_path / "curves.png")
    saved_image(pillow, figure, tmp_path / "curves.png")
    loss_axes, accuracy_axes = figure.axes
    assert [line.get_label() for line in loss_axes.lines] == ["loss", "validation loss"]
    assert list(loss_axes.lines[1].get_ydata()) == [1.1, 0.8, 0.5, 0.4]
    assert math.isnan(accuracy_axes.lines[0].get_ydata()[2])  # not measured at that step
    assert accuracy_axes.get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="no measurements"):
        plots.training_curves({"loss": [None, None]})


def test_decision_boundary_of_an_mlp_of_values_separates_the_halves(tmp_path, matplotlib, pillow):
    model = nn.MLP(2, [1])
    neuron = model.layers[0].neurons[0]
    neuron.w[0].data, neuron.w[1].data, neuron.b.data = 1.0, 0.0, 0.0  # score = x: class 1 on the right
    X, y = points()
    figure = plots.decision_boundary(model, X, y, resolution=30, path=tmp_path / "boundary.png")
    rgb = saved_image(pillow, figure, tmp_path / "boundary.png")
    axes = figure.axes[0]
    red, _, blue = pixel(figure, rgb, axes, -1.2, 0.0)
    assert red > blue + 40  # negative scores: reds
    red, _, blue = pixel(figure, rgb, axes, 1.2, 0.0)
    assert blue > red + 40  # positive scores: blues
    assert len(axes.collections[-1].get_offsets()) == (y == 1).sum()  # the points drawn on top


def test_decision_boundary_of_a_tensor_module_with_several_classes(tmp_path, matplotlib, pillow):
    X, y = points()
    figure = plots.decision_boundary(TwoLayers(n_out=3), X, np.arange(30) % 3, path=tmp_path / "three.png")
    saved_image(pillow, figure, tmp_path / "three.png")
    figure = plots.decision_boundary(TwoLayers(), X, y, path=tmp_path / "one.png", threshold=0.5)
    saved_image(pillow, figure, tmp_path / "one.png")


def test_decision_boundary_refuses_points_that_are_not_2d(matplotlib):
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        plots.decision_boundary(TwoLayers(), np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="5 points but 4 labels"):
        plots.decision_boundary(TwoLayers(), np.zeros((5, 2)), np.zeros(4))


def test_weight_histograms_of_a_model_count_every_weight(tmp_path, matplotlib, pillow):
    model = nn.MLP(2, [4, 3, 1])
    figure = plots.weight_histograms(model, path=tmp_path / "weights.png", bins=10)
    saved_image(pillow, figure, tmp_path / "weights.png")
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in visible] == ["layers.0", "layers.1", "layers.2"]
    heights = [sum(patch.get_height() for patch in axes.patches) for axes in visible]
    assert heights == [2 * 4, 4 * 3, 3 * 1]  # weights only, biases left out


def test_weight_histograms_from_a_monitor_show_each_recorded_step(tmp_path, matplotlib, pillow):
    model = TwoLayers()
    monitor = TrainingMonitor(model, histogram_steps=[0, 2])
    for step in range(3):
        monitor.record(step)
        model.hidden.weight.data *= 2.0
    figure = plots.weight_histograms(monitor, path=tmp_path / "steps.png")
    saved_image(pillow, figure, tmp_path / "steps.png")
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["step 0", "step 2"]
    assert np.array_equal(monitor.weight_snapshots[2]["hidden"], 4.0 * monitor.weight_snapshots[0]["hidden"])
    with pytest.raises(ValueError, match="histogram_steps"):
        plots.weight_histograms(TrainingMonitor(model))


def _step_edges(axes):
    """The bin edges of each outline histogram (histtype="step") in ``axes``: where its outline turns."""
    return [np.unique(patch.get_xy()[:, 0]) for patch in axes.patches]


def test_small_layers_get_few_bins_and_each_weight_as_a_tick(matplotlib):
    """The classifier of the backprop lesson: layers of 16, 64 and 8 weights, two snapshots each."""
    model = nn.MLP(2, [8, 8, 1])
    monitor = TrainingMonitor(model, histogram_steps=[0, 1])
    for step in range(2):
        monitor.record(step)
        for p in model.parameters():
            p.data *= 1.5
    figure = plots.weight_histograms(monitor)
    for axes, size in zip(figure.axes, (16, 64, 8)):
        edges = _step_edges(axes)
        assert len(edges) == 2 and np.array_equal(edges[0], edges[1]), "both steps in the same bins"
        bins = len(edges[0]) - 1
        assert 2 <= bins <= size / 2, f"{size} weights in {bins} bins: fewer than two a bin"
        ticks = [line for line in axes.lines if line.get_marker() == "|"]
        assert [len(line.get_xdata()) for line in ticks] == [size, size], "each weight of each step as a tick"
        assert min(axes.get_yticks()) >= 0, "counts are never negative, though the ticks sit below zero"
    assert plots._bin_count(np.linspace(-1, 1, 16)) == 5  # Sturges: ⌈log₂ 16⌉ + 1
    many = np.random.default_rng(0).normal(size=4096)
    assert plots._bin_count(many) == plots.MAX_BINS  # Freedman-Diaconis would give more


def test_large_layers_get_a_histogram_without_ticks(matplotlib):
    figure = plots.weight_histograms(nn.Sequential(nn.Linear(64, 64)))
    (axes,) = figure.axes
    assert 10 <= len(axes.patches) <= plots.MAX_BINS and not axes.lines
    assert sum(patch.get_height() for patch in axes.patches) == 64 * 64


def _labelled_ticks(figure, axes):
    """The tick labels with text that sit within the y limits of ``axes``, once the figure is drawn."""
    figure.savefig(io.BytesIO(), format="png")
    low, high = axes.get_ylim()
    return [(tick, label.get_text()) for tick, label in zip(axes.get_yticks(), axes.get_yticklabels())
            if label.get_text() and low <= tick <= high]


def _monitor_with_gradient_norms(norms):
    model = TwoLayers()
    monitor = TrainingMonitor(model)
    for norm in norms:
        model.zero_grad()
        model.hidden.weight.grad = np.full(model.hidden.weight.shape, norm / 4.0)  # ‖·‖ of 16 entries = norm
        model.output.weight.grad = np.full(model.output.weight.shape, norm / math.sqrt(8))
        monitor.record()
    return monitor


@pytest.mark.parametrize("norms", [[0.3, 0.2, 0.05, 0.1, 0.04], [0.12, 0.15, 0.11], [2.0, 0.0, 1e-4, 5.0]])
def test_the_gradient_norms_axis_has_at_least_three_labelled_ticks(norms, matplotlib):
    """A span of less than a decade once had one label (10⁻¹); now 0.05, 0.1, 0.2 or finer."""
    monitor = _monitor_with_gradient_norms(norms)
    assert monitor.grad_norms["hidden"] == pytest.approx(norms)
    figure = plots.layer_norms(monitor)
    labelled = _labelled_ticks(figure, figure.axes[1])
    assert len(labelled) >= 3, labelled
    nonzero = [n for n in norms if n > 0]
    assert all(min(nonzero) <= tick <= max(nonzero) or tick == 0 for tick, _ in labelled)
    if 0.0 in norms:
        assert (0.0, "0") in labelled


def test_log_ticks_prefer_powers_of_ten_then_one_two_five(matplotlib):
    assert plots._log_ticks(1e-5, 10) == [1e-05, 1e-04, 1e-03, 0.01, 0.1, 1.0, 10.0]
    assert plots._log_ticks(0.03, 0.3) == [0.05, 0.1, 0.2]
    assert plots._log_ticks(0.11, 0.15) == [0.11, 0.13, 0.15]
    assert plots._log_ticks(0.3, 0.95) == [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert [plots._tick_label(v) for v in (0.0, 0.05, 20.0, 1e-5, 2e-5)] == [
        "0", "0.05", "20", "$10^{-5}$", "$2\\times10^{-5}$"]
    with pytest.raises(ValueError, match="0 < low <= high"):
        plots._log_ticks(0.0, 1.0)


def test_weight_heatmap_colours_positive_red_and_negative_blue(tmp_path, matplotlib, pillow):
    figure = plots.weight_heatmap(np.array([[1.0, -1.0], [-0.5, 0.5]]), path=tmp_path / "heat.png")
    rgb = saved_image(pillow, figure, tmp_path / "heat.png")
    image = figure.axes[0].images[0]
    assert image.get_array().shape == (2, 2)
    red, _, blue = pixel(figure, rgb, figure.axes[0], 0, 0)
    assert red > blue + 50
    red, _, blue = pixel(figure, rgb, figure.axes[0], 1, 0)
    assert blue > red + 50


def test_weight_heatmap_reads_layers_of_values_and_tensor_modules(matplotlib):
    layer = nn.Layer(3, 2)
    figure = plots.weight_heatmap(layer)
    expected = [[w.data for w in neuron.w] for neuron in layer.neurons]
    assert np.array_equal(figure.axes[0].images[0].get_array(), expected)
    affine = Affine(4, 5)
    assert np.array_equal(plots.weight_heatmap(affine).axes[0].images[0].get_array(), affine.weight.data)
    with pytest.raises(ValueError, match=r"2-D.*\(3,\)"):
        plots.weight_heatmap(np.zeros(3))


def test_figures_show_themselves_in_jupyter_as_png(matplotlib):
    figure = plots.training_curves({"loss": [1.0, 0.5]})
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_without_matplotlib_name_the_plain_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setattr(plots, "_figure_class", plots._figure_class.__wrapped__)  # not the class made already
    with pytest.raises(ImportError, match="pip install matplotlib$"):
        plots.training_curves({"loss": [1.0]})


# -- the monitor ----------------------------------------------------------


def test_layers_are_grouped_as_the_summary_groups_them():
    assert [name for name, _ in layer_parameters(nn.MLP(2, [3, 1]))] == ["layers.0", "layers.1"]
    grouped = dict(layer_parameters(TwoLayers()))
    assert [name for name, _ in grouped["hidden"]] == ["hidden.weight", "hidden.bias"]
    assert [name for name, _ in layer_parameters(Affine(2, 2))] == ["(model)"]


def test_the_monitor_records_the_norms_of_weights_and_gradients():
    model = TwoLayers()
    monitor = TrainingMonitor(model)
    monitor.record(loss=Tensor(np.array(0.5)))
    assert math.isnan(monitor.grad_norms["hidden"][0])  # no gradient yet
    x = Tensor(np.random.default_rng(3).normal(size=(6, 2)))
    loss = (model(x) ** 2).mean()
    loss.backward()
    monitor.record(loss=loss, accuracy=0.75)
    assert monitor.steps == [0, 1] and monitor.loss == [0.5, loss.item()] and monitor.accuracy == [None, 0.75]
    assert monitor.weight_norms["hidden"][1] == pytest.approx(np.linalg.norm(model.hidden.weight.data))
    assert monitor.grad_norms["output"][1] == pytest.approx(np.linalg.norm(model.output.weight.grad))


def test_the_monitor_reads_values_and_counts_dead_units():
    model = nn.MLP(2, [3, 1])
    monitor = TrainingMonitor(model)
    loss = Value.sum([model([1.0, -1.0]), model([0.5, 2.0])])
    loss.backward()
    hidden = [model.layers[0]([1.0, -1.0]), model.layers[0]([0.5, 2.0])]
    monitor.record(loss=loss, activations={"layers.0": hidden, "made up": np.array([[0.0, 1.0], [0.0, 0.0]])})
    weights = [w for n in model.layers[0].neurons for w in n.w]
    assert monitor.weight_norms["layers.0"][0] == pytest.approx(math.sqrt(sum(w.data**2 for w in weights)))
    assert monitor.grad_norms["layers.0"][0] == pytest.approx(math.sqrt(sum(w.grad**2 for w in weights)))
    dead = sum(all(h[i].data <= 0 for h in hidden) for i in range(3))
    assert monitor.dead_units == {"layers.0": [(0, dead, 3)], "made up": [(0, 1, 2)]}
    with pytest.raises(ValueError, match=r"\(batch, units\).*\(4,\)"):
        monitor.record(activations={"flat": np.zeros(4)})


def test_layer_norms_draw_weights_gradients_and_dead_units(tmp_path, matplotlib, pillow):
    model = TwoLayers()
    monitor = TrainingMonitor(model)
    x = Tensor(np.random.default_rng(4).normal(size=(16, 2)))
    for step in range(5):
        model.zero_grad()
        hidden = model.hidden(x).relu()
        loss = (model.output(hidden) ** 2).mean()
        loss.backward()
        monitor.record(loss=loss, activations={"hidden": hidden})
        for p in model.parameters():
            p.data -= 0.1 * p.grad
    figure = plots.layer_norms(monitor, path=tmp_path / "norms.png")
    saved_image(pillow, figure, tmp_path / "norms.png")
    assert len(figure.axes) == 3
    assert list(figure.axes[0].lines[0].get_ydata()) == monitor.weight_norms["hidden"]
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == [monitor.layer_titles["hidden"], monitor.layer_titles["output"]]


def test_layers_are_titled_by_name_type_and_sizes():
    monitor = TrainingMonitor(nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)))
    assert monitor.layer_titles == {"0": "0: Linear 3→5", "2": "2: Linear 5→2"}
    assert TrainingMonitor(nn.MLP(2, [3, 1])).layer_titles == {"layers.0": "layers.0: Layer", "layers.1": "layers.1: Layer"}
    assert TrainingMonitor(Affine(2, 2)).layer_titles == {"(model)": "(model): Affine"}


def test_a_layer_with_zero_gradients_stays_on_the_gradient_plot(tmp_path, matplotlib):
    model = TwoLayers()
    model.hidden.bias.data[:] = -100.0  # every ReLU after the hidden layer dead: its gradient is exactly 0
    monitor = TrainingMonitor(model)
    x = Tensor(np.random.default_rng(5).normal(size=(16, 2)))
    for step in range(3):
        model.zero_grad()
        (model.hidden(x).relu().sum() + (model.output(x @ np.ones((2, 8))) ** 2).mean()).backward()
        monitor.record()
    assert monitor.grad_norms["hidden"] == [0.0, 0.0, 0.0] and min(monitor.grad_norms["output"]) > 0
    figure = plots.layer_norms(monitor, path=tmp_path / "norms.png")
    hidden_line = figure.axes[1].lines[0]
    assert list(hidden_line.get_ydata()) == [0.0, 0.0, 0.0]
    low, high = figure.axes[1].get_ylim()
    assert low <= 0.0 < max(monitor.grad_norms["output"]) <= high


# -- the progress bar -------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_a_line_is_written_at_each_quarter_with_the_latest_numbers():
    log = io.StringIO()
    bar = Progress(range(8), desc="training (L2)", file=log)
    seen = []
    for item in bar:
        seen.append(item)
        bar.show(loss=1.0 / (item + 1), accuracy=item / 8)
    assert seen == list(range(8)) and not bar.enabled
    assert log.getvalue().splitlines() == [
        "training (L2): 2/8 (25%), loss 0.5, accuracy 12.5%",
        "training (L2): 4/8 (50%), loss 0.25, accuracy 37.5%",
        "training (L2): 6/8 (75%), loss 0.1667, accuracy 62.5%",
        "training (L2): 8/8 (100%), loss 0.125, accuracy 87.5%",
    ]


def test_a_short_loop_off_a_terminal_writes_each_step_once_and_a_loop_of_unknown_length_nothing():
    log = io.StringIO()
    list(Progress(range(2), file=log))
    assert log.getvalue().splitlines() == ["1/2 (50%)", "2/2 (100%)"]
    unknown = io.StringIO()
    assert list(Progress(iter(range(3)), file=unknown)) == [0, 1, 2] and unknown.getvalue() == ""
    counted = io.StringIO()
    list(Progress(iter(range(4)), total=4, file=counted))
    assert counted.getvalue().splitlines()[-1] == "4/4 (100%)"


def test_a_line_is_written_as_soon_as_its_step_is_done():
    """Each line is flushed when its quarter ends, not when the loop ends: a log can be followed."""
    log = io.StringIO()
    written = []
    for step in Progress(range(4), file=log):
        written.append(len(log.getvalue().splitlines()))
    assert written == [0, 1, 2, 3]  # at the start of step k, the lines of steps before it are there


def test_the_bar_shows_loss_and_accuracy_on_a_terminal(tqdm):
    screen = Terminal()
    bar = Progress(range(3), desc="training", file=screen)
    assert bar.enabled
    for _ in bar:
        bar.show(loss=Value(0.123456), accuracy=0.5, lr=0.01)
    output = screen.getvalue()
    assert "training" in output and "loss=0.1235" in output and "accuracy=50.0%" in output and "lr=0.01" in output
    assert "3/3" in output


def test_the_bar_can_be_turned_off_or_forced(tqdm):
    assert not Progress(range(2), enabled=False, file=Terminal()).enabled
    forced = io.StringIO()
    list(Progress(range(2), enabled=True, file=forced))
    assert "2/2" in forced.getvalue()


def test_without_tqdm_lines_are_written_even_on_a_terminal_and_a_bar_cannot_be_forced(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    screen = Terminal()
    bar = Progress(range(4), file=screen)
    assert not bar.enabled and list(bar) == [0, 1, 2, 3]
    assert screen.getvalue().splitlines()[-1] == "4/4 (100%)"
    silent = Terminal()
    assert list(Progress(range(2), enabled=False, file=silent)) == [0, 1] and silent.getvalue() == ""
    with pytest.raises(ImportError, match="pip install tqdm$"):
        Progress(range(3), enabled=True)
