"""Frames of the backward pass: one picture per step, a still layout, and an animated GIF."""

import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from autodiff import Tensor, Value, trace_backward
from autodiff.viz import backward_frames, backward_gif
from autodiff.viz.frames import STEP_COLOURS
from needs_dot import needs_dot

SVG = "{http://www.w3.org/2000/svg}"


def neuron_trace():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    n = x1 * w1 + x2 * w2 + Value(6.8813735870195432, label="b")
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return trace_backward(o)


def records(svg_path):
    """{record name: (grad text, stroke, polygon points)} and the caption of one SVG frame."""
    root = ET.parse(svg_path).getroot()
    found = {}
    for group in root.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        if group.get("class") != "node" or not re.fullmatch(r"n\d+", title.text):
            continue
        texts = [" ".join(t.text.replace("\xa0", " ").split()) for t in group.iter(f"{SVG}text")]
        polygon = group.find(f"{SVG}polygon")
        found[texts[0]] = (texts[-1], polygon.get("stroke"), polygon.get("points"))
    graph = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "graph")
    caption = " ".join(graph.find(f"{SVG}text").text.replace("\xa0", " ").split())
    return found, caption


@needs_dot
def test_one_svg_frame_per_step_with_the_gradients_known_so_far(tmp_path):
    trace = neuron_trace()
    paths = backward_frames(trace, tmp_path, format="svg")
    # the seed, then one step per input of each operation: tanh 1, + 2, + 2, * 2, * 2
    assert len(paths) == len(trace) == 1 + 9
    assert [p.name for p in paths] == [f"step_{k:02d}.svg" for k in range(1, 11)]
    first, caption = records(paths[0])
    assert caption == f"step 1 of 10: {trace[0].text}"
    assert first["o"][0] == "grad 1.0" and first["n"][0] == "grad ?"  # only the seed is known
    assert first["x1"][0] == "grad ?"  # not computed yet: shown as explore shows it
    last, _ = records(paths[-1])
    assert last["x1"][0] == "grad -1.5" and last["n"][0] == "grad 0.5"
    for k, (step, path) in enumerate(zip(trace, paths)):
        frame, caption = records(path)
        assert caption == f"step {k + 1} of 10: {step.text}"
        target = trace.names[id(step.target)]
        assert frame[target][1] == STEP_COLOURS[step.kind]  # the node receiving its share is marked
        known = {trace.names[id(s.target)] for s in trace[:k + 1]}
        for name, (grad, _, _) in frame.items():
            if name not in known and name in ("n", "o", "mul1", "mul2", "add1"):
                assert grad == "grad ?"


@needs_dot
def test_a_leaf_holding_an_earlier_gradient_shows_it_and_the_legend_says_what_marks_and_question_marks_mean(
        tmp_path):
    x = Value(3.0, label="x")
    x.grad = 2.0
    trace = trace_backward(x * x, store=True)
    paths = backward_frames(trace, tmp_path, format="svg")
    first, _ = records(paths[0])
    assert first["x"][0] == "grad 2.0" and first["mul1"][0] == "grad 1.0"  # held before this pass, the seed
    last, _ = records(paths[-1])
    assert last["x"][0] == "grad 8.0"
    root = ET.parse(paths[0]).getroot()
    legend = next(g for g in root.iter(f"{SVG}g") if g.findtext(f"{SVG}title") == "legend")
    key = " ".join(" ".join(t.text.split()) for t in legend.iter(f"{SVG}text") if t.text)
    for entry in ("receives its share", "passes its gradient down", "adds up its shares",
                  "grad ?: not computed yet"):
        assert entry in key
    fresh = backward_frames(trace_backward(Value(2.0, label="y") * 3.0), tmp_path / "fresh", format="svg")
    legend = next(g for g in ET.parse(fresh[0]).getroot().iter(f"{SVG}g") if g.findtext(f"{SVG}title") == "legend")
    assert "adds up its shares" not in " ".join(t.text or "" for t in legend.iter(f"{SVG}text"))


def lit_edge_arrow_ends(svg_path, colour):
    """For the edge drawn in ``colour``: (distance from its arrowhead to where the path starts, to where it ends)."""
    root = ET.parse(svg_path).getroot()
    for group in root.iter(f"{SVG}g"):
        path = group.find(f"{SVG}path")
        if group.get("class") == "edge" and path is not None and path.get("stroke") == colour:
            numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*", path.get("d"))]
            start, end = np.array(numbers[:2]), np.array(numbers[-2:])
            tip = np.array([float(v) for v in re.findall(r"-?\d+\.?\d*", group.find(f"{SVG}polygon").get("points"))])
            tip = tip.reshape(-1, 2).mean(axis=0)
            return np.linalg.norm(tip - start), np.linalg.norm(tip - end)
    raise AssertionError("no lit edge")


@needs_dot
def test_the_lit_edge_points_the_way_the_gradient_flows(tmp_path):
    trace = neuron_trace()
    paths = backward_frames(trace, tmp_path, format="svg")
    step = 6  # x1.grad += w1.data * mul1.grad: the edge runs from x1 into the product, the arrow back to x1
    assert trace[step].text.startswith("x1.grad +=")
    to_start, to_end = lit_edge_arrow_ends(paths[step], STEP_COLOURS["chain"])
    assert to_start < to_end


@needs_dot
@pytest.mark.parametrize("hostile", ["<b>x</b>", '<<table><tr><td href="javascript:x">y</td></tr></table>>',
                                     "\\N \\l end", "a\x00b", "x & y &amp;"])
def test_names_and_op_names_in_frames_and_captions_are_shown_as_they_are(tmp_path, hostile):
    x = Value(3.0, label=hostile)
    square = x * x
    square.op = hostile  # named by the user, as micrograd's Value(data, children, op) allows
    trace = trace_backward(square)
    paths = backward_frames(trace, tmp_path, format="svg")
    shown = hostile.replace("\x00", "\\x00")
    for k, (step, path) in enumerate(zip(trace, paths), 1):
        root = ET.parse(path).getroot()
        assert {e.tag.removeprefix(SVG) for e in root.iter()} <= {
            "svg", "g", "title", "text", "polygon", "ellipse", "path", "polyline"}
        texts = [t.text.replace("\xa0", " ") for t in root.iter(f"{SVG}text")]
        assert texts[0].rstrip() == f"step {k} of {len(trace)}: {step.text}".replace("\x00", "\\x00")
        assert shown in texts  # the operation's oval, character for character


@needs_dot
def test_the_layout_stands_still_from_frame_to_frame(tmp_path):
    paths = backward_frames(neuron_trace(), tmp_path, format="svg")
    layouts = [{name: points for name, (_, _, points) in records(path)[0].items()} for path in paths]
    assert all(layout == layouts[0] for layout in layouts)


@needs_dot
def test_png_frames_and_a_gif_with_one_frame_per_step(tmp_path, pillow):
    trace = neuron_trace()
    pngs = backward_frames(trace, tmp_path / "frames", format="png")
    assert len(pngs) == len(trace)
    sizes = set()
    for path in pngs:
        with pillow.open(path) as image:
            assert image.format == "PNG"
            sizes.add(image.size)
    assert len(sizes) == 1
    gif = backward_gif(trace, tmp_path / "backward.gif", seconds_per_step=0.5)
    with pillow.open(gif) as animation:
        assert animation.format == "GIF" and animation.n_frames == len(trace)
        assert animation.info["duration"] == 500
        animation.seek(animation.n_frames - 1)
        assert animation.info["duration"] == 1500  # the last frame lingers


@needs_dot
def test_a_square_marks_the_accumulation(tmp_path):
    x = Value(3.0, label="x")
    trace = trace_backward(x * x)
    paths = backward_frames(trace, tmp_path, format="svg")
    frame, caption = records(paths[-1])
    assert caption == "step 4 of 4: x.grad = 3.0 + 3.0 = 6.0"
    assert frame["x"] == ("grad 6.0", STEP_COLOURS["accumulate"], frame["x"][2])


@needs_dot
def test_tensor_graphs_have_frames_too(tmp_path):
    w = Tensor(np.array([[1.0, -2.0], [0.5, 0.0]]), requires_grad=True, label="w")
    x = Tensor(np.array([1.0, 3.0]), label="x")
    trace = trace_backward((w @ x).tanh().sum())
    paths = backward_frames(trace, tmp_path, format="svg")
    assert len(paths) == len(trace)
    last, _ = records(paths[-1])
    assert w.grad is None  # the trace only shows
    g = trace.grads[w].ravel()
    assert last["w"][0] == "grad [" + ", ".join(f"{v:.4g}" if v % 1 else f"{v:.1f}" for v in g) + "]"


def test_a_gif_without_pillow_names_the_plain_dependency(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow$"):
        backward_gif(neuron_trace(), tmp_path / "x.gif")
