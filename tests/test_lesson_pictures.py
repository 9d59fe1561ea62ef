"""The lessons' pictures show what the lessons say, and the lessons can be followed in a log.

One test for each picture that once did not: the regularisation table
against its claims, the weight-sharing comparison, makemore's '.' beside
'a', the hand-drawn network's edge labels and colour key, the moons
neuron's caption; and the progress a lesson writes when its output goes
to a file. (The weight histograms and the norms' log axis are nn.plots'
and are tested in test_plots.py.)
"""

import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

import nn

ROOT = Path(__file__).resolve().parent.parent


def rendered(fig):
    """A renderer for ``fig``, after drawing it once (so that aspect ratios and layouts are applied)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


@pytest.mark.slow
def test_regularisation_claims_the_gap_closes_and_its_table_says_how(quick_lesson, matplotlib):
    run = quick_lesson("regularisation")
    results, printed = run.results, run.printed
    plain = results["none"]
    wrong = plain["wrong_labels_fitted"]
    assert wrong == 7 and plain["gap"] > 0.1, "the unregularised network should fit all 7 wrong labels"
    for variant in ("L2", "L1", "dropout"):
        r = results[variant]
        # the claim and the numbers agree: training accuracy at or below test, few wrong labels reproduced
        assert r["gap"] <= 0 and r["wrong_labels_fitted"] <= wrong // 2
        assert f"{variant} stops memorising: it fits {r['wrong_labels_fitted']} of the 7 wrong labels" in printed
        assert f"(gap {r['gap']:+.1%}, against {plain['gap']:+.1%})" in printed
    # the table explains a negative gap before the reader meets one
    assert printed.index("scores at most 82.5% there") < printed.index("wrong labels fitted")
    assert "shrinks the generalisation gap" not in printed


def test_weight_sharing_picture_sets_the_parameter_counts_side_by_side_at_a_readable_size(tmp_path, matplotlib):
    from demos import weight_sharing

    nn.manual_seed(0)
    models = {"CNN": weight_sharing.cnn(), "dense": weight_sharing.dense()}
    results = {name: {"model": model, "parameters": model.num_parameters(), "accuracy": 0.9}
               for name, model in models.items()}
    image = np.random.default_rng(0).random((1, 8, 8)).astype(np.float32)
    fig = weight_sharing.comparison_figure(results, image)
    networks, layer = fig.axes[:2]
    assert [bar.get_width() for bar in networks.patches] == [1898, 26122]
    conv = models["CNN"][0]
    assert [bar.get_width() for bar in layer.patches] == [80, 64 * 512 + 512] == [
        conv.weight.size + conv.bias.size, weight_sharing.dense_equivalent(conv)]
    texts = [text.get_text() for ax in (networks, layer) for text in ax.texts]
    assert "1,898 parameters, 90.0% test accuracy" in texts and "33,280" in texts

    picture = weight_sharing.draw(results, image, tmp_path / "weight_sharing.png")
    from PIL import Image

    with Image.open(picture) as saved:
        assert saved.width >= 800, f"the picture is {saved.width} px wide: the gallery would enlarge it"
    renderer = rendered(fig)
    filters = [ax for ax in fig.axes if ax.get_title().startswith("filter")]
    assert len(filters) == 8
    for ax in filters:  # each 3x3 filter at least 60 px square at the saved resolution
        assert ax.get_window_extent(renderer).width * 80 / fig.dpi >= 60


def test_makemore_draws_the_dot_beside_a_character_it_would_hide_under(matplotlib):
    from matplotlib.figure import Figure

    from demos import makemore

    stoi, itos = makemore.vocabulary(["ab", "ba"])
    model = makemore.MLP(len(stoi), makemore.BLOCK_SIZE, 4, 8)
    table = np.random.default_rng(0).normal(size=model.wte.weight.shape)
    table[stoi["."]] = table[stoi["a"]]  # '.' and 'a' land on the same spot
    model.wte.weight.data[...] = table
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    centres, places = makemore.draw_embeddings(ax, model, itos)
    assert np.allclose(places[stoi["."]], places[stoi["a"]])
    on_page = ax.transData.transform(centres) * 72 / fig.dpi
    for i, j in combinations(range(len(on_page)), 2):
        assert np.hypot(*(on_page[i] - on_page[j])) >= makemore.DISC_POINTS, f"{itos[i]!r} covers {itos[j]!r}"
    # each disc's letter is written at the disc, and a moved disc is joined to its true place
    letters = {text.get_text(): text.get_position() for text in ax.texts}
    assert np.allclose(letters["."], centres[stoi["."]]) and np.allclose(letters["a"], centres[stoi["a"]])
    joins = [line for line in ax.lines if len(line.get_xdata()) == 2]
    assert any(np.allclose([line.get_xdata()[0], line.get_ydata()[0]], places[stoi["."]]) for line in joins)


def test_spread_parts_coincident_points_the_same_way_every_time(matplotlib):
    from matplotlib.figure import Figure

    from demos._figures import spread

    fig = Figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    points = np.array([[5.0, 5.0], [5.0, 5.0], [5.0, 5.0], [1.0, 1.0]])
    moved = spread(ax, points, 20)
    assert np.array_equal(moved, spread(ax, points, 20))
    on_page = ax.transData.transform(moved) * 72 / fig.dpi
    assert min(np.hypot(*(a - b)) for a, b in combinations(on_page, 2)) >= 20
    assert np.allclose(moved[3], points[3]), "a point with room around it stays where it is"


def test_the_hand_drawn_network_writes_every_label_clear_of_the_others_and_has_a_colour_key(matplotlib):
    from demos import network_by_hand

    model = network_by_hand.build()
    z, a, y = network_by_hand.forward_by_layer(model)
    network_by_hand.loss_of(model).backward()
    fig = network_by_hand.network_figure(model, z, a, y)
    renderer = rendered(fig)
    for panel in fig.axes:
        numbers = [text for text in panel.texts if text.get_text()[:1] in "+-"]
        assert len(numbers) == 9, "one label per weight: 6 into the hidden layer, 3 into the output"
        boxes = [text.get_window_extent(renderer) for text in numbers]
        nodes = [circle.get_window_extent(renderer) for circle in panel.patches]
        for (i, first), (j, second) in combinations(enumerate(boxes), 2):
            assert not first.overlaps(second), f"{numbers[i].get_text()} and {numbers[j].get_text()} overlap"
        for label, box in zip(numbers, boxes):
            assert not any(box.overlaps(node) for node in nodes), f"{label.get_text()} covers a neuron"
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()][:2] == ["positive", "negative"]
    colours = {line.get_label(): line.get_color() for line in legend.legend_handles}
    drawn = {line.get_color() for panel in fig.axes for line in panel.lines}
    assert {colours["positive"], colours["negative"]} == drawn, "the key names every colour the edges use"


def test_the_moons_neuron_says_its_gradients_are_the_neurons_own_not_the_losss():
    from demos import moons
    from nn.datasets import make_moons

    nn.manual_seed(1337)
    X, _ = make_moons(20, noise=0.1, seed=1)
    model = nn.MLP(2, [16, 16, 1])
    graph = moons.one_neuron(model, X)
    caption = " ".join(graph.source.split())
    assert "Each grad is d(relu(w·x+b))/d(node)" in caption and "not at the loss" in caption
    neuron = model.layers[0].neurons[0]
    point = max(X.tolist(), key=lambda row: neuron(row).data)
    assert neuron(point).data > 0
    # where the neuron fires, the derivative of its output with respect to w1 is x1, as drawn
    assert neuron.w[0].grad == pytest.approx(point[0]) and neuron.b.grad == 1.0


def test_a_lesson_writing_to_a_file_reports_its_progress_as_it_goes(tmp_path):
    """Standard output and error both to one file (``> log 2>&1``): progress lines, in order with the prints."""
    log = tmp_path / "log.txt"
    with open(log, "w") as file:
        subprocess.run([sys.executable, "-m", "demos.transfer_learning", "--quick", "--out", str(tmp_path)],
                       cwd=ROOT, stdout=file, stderr=subprocess.STDOUT, check=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = log.read_text(encoding="utf-8").splitlines()
    quarters = [line for line in lines if line.startswith("task A: ")]
    assert [line.split(",")[0] for line in quarters] == [
        "task A: 50/200 (25%)", "task A: 100/200 (50%)", "task A: 150/200 (75%)", "task A: 200/200 (100%)"]
    assert all(", loss " in line for line in quarters)
    # the lesson's own line about task A comes after its training's progress, as it happened
    assert lines.index(quarters[-1]) < next(i for i, line in enumerate(lines) if line.startswith("task A, name"))
    assert any(line.startswith("task B, from scratch: 100/100 (100%)") for line in lines)


def test_a_lesson_makes_its_standard_output_line_buffered(tmp_path):
    script = ("import sys; from demos._common import parse_args; "
              f"parse_args('x', 'y', ['--out', {str(tmp_path)!r}]); print(sys.stdout.line_buffering)")
    printed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
                             timeout=120).stdout
    assert printed.strip() == "True"
