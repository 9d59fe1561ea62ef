"""draw_dot: rendered by Graphviz for real, the SVG read back and checked node by node."""

import io
import math
import xml.etree.ElementTree as ET

import graphviz
import numpy as np
import pytest

import nn
from autodiff import Tensor, Value, draw_dot
from autodiff.viz import CollapseError, GraphTooLarge, GraphvizNotFound
from autodiff.viz.draw import BORDER, FILL, HOT
from autodiff.viz.nodes import forward_order
from explore_graphs import neuron
from needs_dot import needs_dot

SVG = "{http://www.w3.org/2000/svg}"


def rendered(drawing):
    """{node title: (texts, fill, stroke)} and [edge titles] of the drawing rendered to SVG by dot."""
    root = ET.fromstring(drawing.pipe(format="svg"))
    nodes, edges = {}, []
    for group in root.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title").text if group.find(f"{SVG}title") is not None else None
        if group.get("class") == "node":
            shape = next((e for e in group if e.tag in (f"{SVG}polygon", f"{SVG}ellipse", f"{SVG}path")), None)
            texts = [" ".join(t.text.replace("\xa0", " ").split()) for t in group.iter(f"{SVG}text")]
            nodes[title] = (texts, shape.get("fill") if shape is not None else None,
                            shape.get("stroke") if shape is not None else None)
        elif group.get("class") == "edge":
            edges.append(title)
    return nodes, edges


def by_name(nodes):
    """Record nodes by the name in their first field."""
    return {texts[0]: (texts, fill, stroke) for title, (texts, fill, stroke) in nodes.items()
            if title.startswith("n") and not title.endswith("_op")}


class Affine(nn.Module):
    """x Wᵀ + b on Tensors: a layer with named Tensor parameters."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.weight = Tensor(rng.normal(size=(n_out, n_in)), requires_grad=True)
        self.bias = Tensor(np.zeros(n_out), requires_grad=True)

    def forward(self, x):
        return x @ self.weight.T + self.bias


class Block(nn.Module):
    def __init__(self):
        self.first = Affine(3, 4, seed=1)
        self.second = Affine(4, 2, seed=2)

    def forward(self, x):
        return self.second(self.first(x).relu())


@needs_dot
def test_each_value_is_a_record_with_label_data_and_grad_and_each_operation_a_small_node():
    o = neuron()
    o.backward()
    nodes, edges = rendered(draw_dot(o))
    records = by_name(nodes)
    assert set(records) == {"x1", "x2", "w1", "w2", "b", "mul1", "mul2", "add1", "n", "o"}
    assert records["x1"][0] == ["x1", "data 2.0", "grad -1.5"]
    assert records["w1"][0] == ["w1", "data -3.0", "grad 1.0"]
    assert records["o"][0] == ["o", f"data {math.tanh(0.8813735870195432):.4f}", "grad 1.0"]
    ops = sorted(texts[0] for title, (texts, _, _) in nodes.items() if title.endswith("_op"))
    assert ops == ["*", "*", "+", "+", "tanh"]
    # each operation: one edge per input, one to its result
    assert len(edges) == 2 + 2 + 2 + 2 + 1 + 5


@needs_dot
def test_kinds_have_their_colours():
    o = neuron()
    records = by_name(rendered(draw_dot(o))[0])
    assert records["x1"][1:] == (FILL["input"], BORDER["input"])
    assert records["n"][1:] == (FILL["intermediate"], BORDER["intermediate"])
    assert records["o"][1:] == (FILL["output"], BORDER["output"])


@needs_dot
def test_both_edges_of_a_square_are_drawn():
    x = Value(3.0, label="x")
    y = x * x
    nodes, edges = rendered(draw_dot(y))
    x_id = next(title for title, (texts, _, _) in nodes.items() if texts[0] == "x")
    into_op = [e for e in edges if e.startswith(f"{x_id}->")]
    assert len(into_op) == 2 and len(set(into_op)) == 1


@needs_dot
def test_unlabelled_nodes_get_names_from_what_they_are():
    a = Value(2.0, label="a")
    out = (a * 3 + a).exp()
    names = set(by_name(rendered(draw_dot(out))[0]))
    assert names == {"a", "leaf(3.0)", "mul1", "add1", "exp1"}  # a leaf without a label shows its value


@needs_dot
def test_labels_that_repeat_are_told_apart():
    first, second = Value(1.0, label="x"), Value(2.0, label="x")
    names = set(by_name(rendered(draw_dot(first + second))[0]))
    assert {"x", "x#2"} <= names


@needs_dot
def test_module_parameters_are_named_and_coloured_as_parameters():
    model = nn.MLP(2, [2, 1])
    inputs = [Value(1.0, label="in0"), Value(-1.0, label="in1")]
    records = by_name(rendered(draw_dot(model(inputs), module=model))[0])
    for name, _ in model.named_parameters():
        assert records[name][1:] == (FILL["parameter"], BORDER["parameter"])
    assert records["in0"][1:] == (FILL["input"], BORDER["input"])


@needs_dot
def test_tensor_records_show_shape_dtype_and_summaries():
    layer = Affine(3, 2)
    x = Tensor(np.arange(12.0).reshape(4, 3), label="x")
    loss = (layer(x) ** 2).mean()
    loss.backward()
    records = by_name(rendered(draw_dot(loss, module=layer))[0])
    texts, fill, _ = records["weight"]
    assert texts[1] == "(2, 3) float64"
    data = layer.weight.data
    assert texts[2] == f"data mean {data.mean():.4g} in [{data.min():.4g}, {data.max():.4g}]"
    assert texts[3].startswith("grad mean ")
    assert fill == FILL["parameter"]
    assert records["x"][0][1] == "(4, 3) float64" and records["x"][0][3] == "grad None"
    assert records["x"][1] == FILL["input"]
    # a tensor of a few elements shows them all
    bias_texts = records["bias"][0]
    assert bias_texts[2] == "data [0.0, 0.0]"
    g = layer.bias.grad
    assert bias_texts[3] == f"grad [{g[0]:.4g}, {g[1]:.4g}]"


@needs_dot
def test_labels_with_record_syntax_are_escaped():
    odd = Value(1.0, label='{a|b} <c> "d"')
    texts = by_name(rendered(draw_dot(odd * 2))[0])
    assert '{a|b} <c> "d"' in texts


@needs_dot
def test_colouring_by_gradient_fills_the_largest_red_and_zero_white():
    a, b = Value(2.0, label="a"), Value(0.0, label="b")
    out = a * a + b * 0.0
    out.backward()
    records = by_name(rendered(draw_dot(out, color_by_grad=True))[0])
    assert records["a"][1] == "#" + "".join(f"{c:02x}" for c in HOT)  # grad 4, the largest below the output
    assert records["b"][1] == "#ffffff"  # grad 0
    assert records["a"][2] == BORDER["input"]  # the border still tells the kind


@needs_dot
def test_the_legend_names_the_kinds_shown():
    o = neuron()
    nodes, _ = rendered(draw_dot(o))
    assert {"input", "intermediate", "output", "operation"} <= set(nodes["legend"][0])
    assert "legend" not in rendered(draw_dot(o, legend=False))[0]


def test_a_graph_past_max_nodes_is_refused_with_the_choices():
    x = Value(1.0)
    for _ in range(50):
        x = x * 1.01
    with pytest.raises(GraphTooLarge) as error:
        draw_dot(x, max_nodes=40)
    message = str(error.value)
    assert "max_nodes=40" in message and "collapse=model" in message and "max_nodes=400" in message
    assert draw_dot(x, max_nodes=200).source.count("_op [") == 50


@pytest.mark.slow
def test_walks_are_iterative_on_a_very_deep_graph():
    x = Value(1.0)
    for _ in range(50_000):
        x = x + 1.0
    assert len(forward_order(x)) == 100_001
    with pytest.raises(GraphTooLarge):
        draw_dot(x)


@needs_dot
def test_collapse_draws_each_top_level_submodule_as_one_box():
    model = nn.MLP(2, [3, 3, 1])
    inputs = [Value(0.5, label="in0"), Value(-1.0, label="in1")]
    out = model(inputs)
    loss = (out - 1.0) ** 2
    nodes, edges = rendered(draw_dot(loss, collapse=model))
    boxes = {title: texts for title, (texts, _, _) in nodes.items() if title.startswith("box")}
    assert [texts[0] for texts in boxes.values()] == ["layers.0: Layer", "layers.1: Layer", "layers.2: Layer"]
    assert boxes["box0"][1] == "w·x+b ×3, ReLU ×3" and boxes["box0"][2] == "9 parameters"
    assert boxes["box2"][1] == "w·x+b ×1"
    records = by_name(nodes)
    assert not any(name.startswith("layers.") for name in records)  # parameters are inside the boxes
    ids = {texts[0]: title for title, (texts, _, _) in nodes.items()}
    assert f"{ids['in0']}->box0" in edges and "box0->box1" in edges and "box1->box2" in edges
    assert "pow1" in records and "sub1" in records  # the loss is outside the model
    legend = " ".join(nodes["legend"][0])
    assert "module" in legend and "input" in legend and "parameter" not in legend  # no parameter box shown


@needs_dot
def test_collapse_of_a_list_draws_the_whole_model_as_one_box():
    model = nn.MLP(2, [3, 1])
    loss = (model([1.0, 2.0]) - 1.0) ** 2
    nodes, _ = rendered(draw_dot(loss, collapse=[model]))
    boxes = [texts for title, (texts, _, _) in nodes.items() if title.startswith("box")]
    assert len(boxes) == 1 and boxes[0][0] == "MLP: MLP" and boxes[0][2] == "13 parameters"


@needs_dot
def test_collapse_of_tensor_modules_keeps_their_order():
    block = Block()
    x = Tensor(np.ones((5, 3)), label="x")
    loss = (block(x) ** 2).sum()
    nodes, edges = rendered(draw_dot(loss, collapse=block))
    boxes = {title: texts for title, (texts, _, _) in nodes.items() if title.startswith("box")}
    assert boxes["box0"][0] == "first: Affine" and boxes["box1"][0] == "second: Affine"
    assert "box0->box1" in edges
    assert "ReLU" in boxes["box0"][1]  # an activation after a module is drawn inside its box


@needs_dot
def test_a_box_is_named_for_every_module_whose_work_it_holds():
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    loss = (model(Tensor(np.ones((2, 3)), label="x")) ** 2).sum()
    nodes, _ = rendered(draw_dot(loss, collapse=model))
    boxes = {title: texts for title, (texts, _, _) in nodes.items() if title.startswith("box")}
    assert [texts[0] for texts in boxes.values()] == ["0: Linear, 1: Tanh", "2: Linear, 3: ReLU", "4: Linear"]
    assert "tanh ×1" in boxes["box0"][1] and "ReLU ×1" in boxes["box1"][1]
    # micrograd's Layer applies its own relu: no module follows it, the name stays its own
    mlp = nn.MLP(2, [3, 1])
    nodes, _ = rendered(draw_dot((mlp([1.0, 2.0]) - 1.0) ** 2, collapse=mlp))
    assert nodes["box0"][0][:2] == ["layers.0: Layer", "w·x+b ×3, ReLU ×3"]


def test_interleaved_modules_cannot_be_separate_boxes():
    block = Block()
    block.second = Affine(3, 3, seed=3)
    block.first = Affine(3, 3, seed=4)
    x = Tensor(np.ones((2, 3)))
    out = block.second(block.first(block.second(x)))
    with pytest.raises(CollapseError, match="interleave"):
        draw_dot(out.sum(), collapse=block)


def test_collapse_still_too_large_says_so():
    model = nn.MLP(2, [4, 1])
    loss = Value.sum([(model([float(i), 1.0]) - 1.0) ** 2 for i in range(30)])
    with pytest.raises(GraphTooLarge, match="even with its modules collapsed"):
        draw_dot(loss, collapse=model, max_nodes=20)


@needs_dot
def test_jupyter_gets_an_svg():
    bundle = draw_dot(neuron())._repr_mimebundle_()
    assert ET.fromstring(bundle["image/svg+xml"].encode()).tag == f"{SVG}svg"


@needs_dot
def test_render_writes_png_and_svg_files(tmp_path, pillow):
    drawing = draw_dot(neuron(), format="png")
    assert isinstance(drawing, graphviz.Digraph) and drawing.format == "png"
    png = drawing.render(outfile=tmp_path / "neuron.png", cleanup=True)
    with pillow.open(png) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 100
    svg = drawing.render(outfile=tmp_path / "neuron.svg", cleanup=True)
    assert ET.parse(svg).getroot().tag == f"{SVG}svg"


def test_without_dot_rendering_explains_how_to_install_it(tmp_path, monkeypatch):
    drawing = draw_dot(neuron())
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without dot in it
    for render in (drawing.pipe, drawing._repr_mimebundle_, lambda: drawing.render(outfile=tmp_path / "g.svg")):
        with pytest.raises(GraphvizNotFound) as error:
            render()
        message = str(error.value)
        assert "apt-get install graphviz" in message and "brew install graphviz" in message
        assert "conda install graphviz" in message and ".source" in message
        assert isinstance(error.value, RuntimeError)
    assert drawing.source.startswith("digraph") and "x1" in drawing.source


@needs_dot
def test_the_picture_is_readable_as_a_png_with_content(pillow):
    png = draw_dot(neuron()).pipe(format="png")
    with pillow.open(io.BytesIO(png)) as image:
        colours = image.convert("RGB").getcolors(maxcolors=100_000)
    assert len(colours) > 10


# -- every string that reaches DOT is shown as it is, never read as markup -------------------------------

# (text, what the picture shows): markup, DOT's escapes and entities, quotes, record syntax, control characters
HOSTILE = [
    ('<<table><tr><td href="javascript:alert(1)">x</td></tr></table>>',) * 2,
    ("<b>bold</b>",) * 2, ("<script>alert(1)</script>",) * 2, ("<>",) * 2, ("<port>",) * 2,
    ('"',) * 2, ("\\",) * 2, ('\\"',) * 2, ("a\\",) * 2, ("\\N",) * 2, ("\\G\\l\\n",) * 2,
    ("{a|b}",) * 2, (']; evil [label="x"',) * 2, ("&amp;",) * 2, ("&#x3C;script&#x3E;",) * 2, ("&lt;",) * 2,
    ("x\x00y", "x\\x00y"), ("tab\there", "tab\\there"), ("é → ∂",) * 2,
]


def _texts(svg, title):
    """The texts of the node with ``title`` in an SVG drawing, as the picture shows them."""
    root = ET.fromstring(svg)
    group = next(g for g in root.iter(f"{SVG}g") if g.findtext(f"{SVG}title") == title)
    return [t.text.replace("\xa0", " ") for t in group.iter(f"{SVG}text")]


def _no_markup(svg):
    """No link, script or element that the drawing did not make itself: only what dot draws for text."""
    root = ET.fromstring(svg)
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {"svg", "g", "title", "text", "polygon", "ellipse", "path", "polyline"}, tags
    for element in root.iter():
        assert not any("href" in name for name in element.attrib), element.attrib


@needs_dot
@pytest.mark.parametrize("text, shown", HOSTILE)
def test_an_op_name_and_a_label_given_by_the_user_are_shown_as_they_are(text, shown):
    leaf = Value(2.0, label=text)
    by_hand = Value(3.0, (leaf,), text)  # micrograd's API: the op's name is the caller's string
    by_hand.label = text + "!"
    svg = draw_dot(by_hand).pipe(format="svg")
    _no_markup(svg)
    assert _texts(svg, "n1_op") == [shown]
    assert _texts(svg, "n0")[0] == shown and _texts(svg, "n1")[0] == shown + "!"


@needs_dot
def test_an_op_name_with_a_line_break_is_drawn_on_two_lines():
    svg = draw_dot(Value(3.0, (Value(1.0),), "first\nsecond")).pipe(format="svg")
    assert _texts(svg, "n1_op") == ["first", "second"]


class Hostile(nn.Module):
    """One Affine layer registered under ``name``, as setattr allows any string."""

    def __init__(self, name):
        setattr(self, name, Affine(3, 2, seed=1))
        self.layer = name

    def forward(self, x):
        return getattr(self, self.layer)(x)


@needs_dot
@pytest.mark.parametrize("text, shown", HOSTILE)
def test_module_names_and_tensor_labels_are_shown_as_they_are(text, shown):
    model = Hostile(text)
    x = Tensor(np.ones((2, 3)), label=text)
    svg = draw_dot((model(x) ** 2).sum(), collapse=[getattr(model, text)], module=model).pipe(format="svg")
    _no_markup(svg)
    assert _texts(svg, "box0")[0] == f"{shown}: Affine"
    assert _texts(svg, "n0")[0] == shown
