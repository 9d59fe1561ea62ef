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


def test_the_bar_is_off_where_nobody_watches():
    quiet = io.StringIO()
    bar = Progress(range(5), file=quiet)
    seen = []
    for item in bar:
        seen.append(item)
        bar.show(loss=0.5, accuracy=0.25)
    assert seen == [0, 1, 2, 3, 4] and not bar.enabled and quiet.getvalue() == ""


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


def test_without_tqdm_the_bar_does_nothing_unless_asked_for(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = Progress(range(3), file=Terminal())
    assert not bar.enabled and list(bar) == [0, 1, 2]
    with pytest.raises(ImportError, match="pip install tqdm$"):
        Progress(range(3), enabled=True)
