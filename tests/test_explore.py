"""explore: the page it writes carries every step backward takes, with the engine's own numbers, and needs nothing else.

What the page's script does with them is checked in a real browser
(test_explore_browser.py); here the file itself is read back.
"""

import html
import os
import re

import numpy as np
import pytest

import nn
from autodiff import Tensor, Value
from autodiff.viz import GraphTooLarge, GraphvizNotFound
from autodiff.viz.explore import MAX_NODES, Exploration, explore
from autodiff.viz.html import array_table, module_html, tensor_html, value_html
from autodiff.viz.nodes import forward_order
from explore_graphs import all_nodes, moons_mlp, neuron, page_data, tensor_mlp
from needs_dot import needs_dot


def grads_of(root):
    """Each node's grad as it is now, copied, with the array object itself: (node, object, copy)."""
    return [(node, node.grad, np.copy(node.grad) if isinstance(node.grad, np.ndarray) else node.grad)
            for node in all_nodes(root)]


def assert_unchanged(saved):
    for node, grad, copy in saved:
        assert node.grad is grad, f"explore replaced the grad of {node!r}"
        if isinstance(copy, np.ndarray):
            np.testing.assert_array_equal(node.grad, copy)
        else:
            assert node.grad == copy or (copy != copy and node.grad != node.grad)


def final_grads(data):
    """Each node's gradient once every step of the page is done: the last step that changed it, else its start."""
    grads = [node["grad0"] for node in data["nodes"]]
    for step in data["steps"]:
        grads[step["target"]] = step["grad"]
    return grads


@needs_dot
def test_the_neuron_page_holds_backwards_numbers_and_texts(tmp_path):
    o = neuron()
    exploration = explore(o, tmp_path / "neuron.html")
    assert exploration.path == tmp_path / "neuron.html"
    page = exploration.path.read_text(encoding="utf-8")
    assert page == exploration.html
    data = page_data(page)

    reference = neuron()
    reference.backward()
    names = [node["name"] for node in data["nodes"]]
    # the page lists nodes in forward order, children first, as a fresh copy of the graph lists them
    expected = {name: node.grad for name, node in zip(names, forward_order(reference))}
    assert dict(zip(names, (grad["value"] for grad in final_grads(data)))) == expected  # exactly: the engine's numbers

    texts = [step["text"] for step in data["steps"]]
    assert texts[0] == "o.grad = 1.0 (the seed: do/do = 1)"
    assert "x1.grad += w1.data * mul1.grad = -3.0 * 0.5 = -1.5" in texts
    assert len(texts) == 10
    tanh = data["nodes"][names.index("o")]
    assert tanh["locals"] == ["0.5 (its share: (1 - o.data**2) * o.grad)"]
    assert data["nodes"][names.index("b")]["data"]["text"] == "6.881"  # at least 4 significant digits
    assert "data 6.881" in page and "data -3.0" in html.unescape(page)  # in the drawing too (dot writes - as &#45;)


@needs_dot
def test_explore_never_changes_a_grad():
    o = neuron()
    saved = grads_of(o)
    explore(o)
    assert_unchanged(saved)

    o.backward()  # gradients from an earlier backward stay as they are too
    saved = grads_of(o)
    explore(o)
    assert_unchanged(saved)

    loss, model = tensor_mlp()
    saved = grads_of(loss)
    explore(loss, module=model)
    assert_unchanged(saved)
    loss.backward()
    saved = grads_of(loss)
    explore(loss, module=model)
    assert_unchanged(saved)


@needs_dot
def test_after_an_earlier_backward_the_page_shows_this_pass_and_says_so():
    o = neuron()
    o.backward()
    data = page_data(explore(o).html)
    once = neuron()
    once.backward()
    expected = {name: node.grad for name, node in zip((n["name"] for n in data["nodes"]), forward_order(once))}
    assert {node["name"]: grad["value"] for node, grad in zip(data["nodes"], final_grads(data))} == expected
    assert all(node["grad0"] == {"text": "?"} for node in data["nodes"])
    assert any("gradients from an earlier backward" in notice for notice in data["notices"])
    assert not page_data(explore(neuron()).html)["notices"]


@needs_dot
def test_a_node_used_twice_adds_up_its_shares_step_by_step():
    x = Value(3.0, label="x")
    y = x * x + x
    data = page_data(explore(y).html)
    x_index = [node["name"] for node in data["nodes"]].index("x")
    x_steps = [step for step in data["steps"] if step["target"] == x_index]
    assert [step["kind"] for step in x_steps] == ["chain", "chain", "accumulate", "chain", "accumulate"]
    # y = (x*x) + x: the sum sends x its 1 first, then the product its two shares of x.data = 3
    assert [step["grad"]["value"] for step in x_steps] == [1.0, 4.0, 4.0, 7.0, 7.0]
    assert x_steps[-1]["grad"]["value"] == 7.0 == 2 * 3.0 + 1
    assert x_steps[-1]["text"].endswith("= 7.0")
    assert data["nodes"][x_index]["users"] and len(data["nodes"][x_index]["users"]) == 2


@needs_dot
def test_a_tensor_used_twice_shows_each_partial_sum():
    x = Tensor([1.0, 2.0], requires_grad=True, label="x")
    y = (x * x + x).sum()
    data = page_data(explore(y).html)
    x_index = [node["name"] for node in data["nodes"]].index("x")
    x_steps = [step for step in data["steps"] if step["target"] == x_index]
    assert [step["kind"] for step in x_steps] == ["chain", "chain", "accumulate", "chain", "accumulate"]
    # each step keeps the sum as it stood then, not the array the next step adds into
    assert [step["grad"]["value"] for step in x_steps] == [[1.0, 1.0], [2.0, 3.0], [2.0, 3.0], [3.0, 5.0], [3.0, 5.0]]


@needs_dot
def test_the_tensor_page_holds_backwards_arrays_shapes_and_tables():
    loss, model = tensor_mlp()
    data = page_data(explore(loss, module=model).html)
    reference, reference_model = tensor_mlp()
    reference.backward()
    expected = dict(zip((node["name"] for node in data["nodes"]), forward_order(reference)))
    for node, grad in zip(data["nodes"], final_grads(data)):
        engine = expected[node["name"]].grad
        if engine is None:
            assert grad["text"] == "None", node["name"]
        else:
            np.testing.assert_array_equal(np.array(grad["value"], dtype=np.float64), engine.astype(np.float64))
            assert np.shape(grad["value"]) == engine.shape
    weight = data["nodes"][[n["name"] for n in data["nodes"]].index("0.weight")]
    assert weight["shape"] == [4, 3] and weight["dtype"] == str(model[0].weight.dtype)
    assert len(weight["data"]["rows"]) == 4 and len(weight["data"]["rows"][0]) == 3
    assert "vector-Jacobian product" in data["nodes"][-1]["locals"][0]
    # each step writes out the rule that computes its share, in the nodes' names
    assert all(" += " in step["text"] and ".grad" in step["text"].split(" += ")[1] for step in data["steps"][1:])


@needs_dot
def test_module_layers_are_boxes_with_a_view_for_each_opened():
    loss, model = tensor_mlp()
    data = page_data(explore(loss, module=model).html)
    views = data["views"]
    assert [view["name"] for view in views] == ["layers closed", "0 open", "2 open", "all open"]
    assert [view["opened"] for view in views] == [[], ["0"], ["2"], []]
    closed = views[0]["boxes"]
    assert [box["name"] for box in closed] == ["0", "2"]  # Tanh has no parameters, so no box
    assert [box["opens"] for box in closed] == [1, 2]
    assert [box["name"] for box in views[1]["boxes"]] == ["2"] and views[3]["boxes"] == []
    nodes = data["nodes"]
    for box in closed:
        held = {nodes[i]["name"] for i in box["nodes"]}
        assert {f"{box['name']}.weight", f"{box['name']}.bias"} <= held and "loss" not in held
        assert not any(name.startswith(("0.", "2.")) and not name.startswith(box["name"] + ".") for name in held)


@needs_dot
def test_a_module_without_parameters_draws_no_boxes_and_says_why():
    x = Tensor([0.5, -1.0], requires_grad=True, label="x")
    model = nn.Sequential(nn.Tanh())
    data = page_data(explore(model(x).sum(), module=model).html)
    assert [view["name"] for view in data["views"]] == ["graph"] and data["views"][0]["boxes"] == []
    assert any("not drawn as boxes" in notice and "parameters" in notice for notice in data["notices"])


@needs_dot
def test_a_layer_too_big_to_draw_opens_one_box_per_neuron_and_each_neuron_opens():
    loss, model = moons_mlp()
    data = page_data(explore(loss, module=model).html)
    views = data["views"]
    names = [node["name"] for node in data["nodes"]]
    by_name = {view["name"]: number for number, view in enumerate(views)}
    layer = views[by_name["layers.1 open"]]
    assert sorted(box["name"] for box in layer["boxes"] if box["name"].startswith("layers.1.")) == sorted(
        f"layers.1.neurons.{i}" for i in range(16))
    for box in layer["boxes"]:
        if box["name"].startswith("layers.1.neurons."):
            opened = views[box["opens"]]
            assert opened["opened"] == ["layers.1", box["name"]] and opened["parent"] == by_name["layers.1 open"]
            shown = set(range(len(names))) - {i for b in opened["boxes"] for i in b["nodes"]}
            assert {f"{box['name']}.w.{i}" for i in range(16)} <= {names[i] for i in shown}
            rest = next(b for b in opened["boxes"] if b["name"] == "layers.1.neurons (the other 15)")
            assert rest["opens"] == by_name["layers.1 open"] and len(rest["nodes"]) == 15 * 19
    # every node is drawn as itself in some view: every step can be seen up close
    drawn = set()
    for view in views:
        drawn |= set(range(len(names))) - {i for box in view["boxes"] for i in box["nodes"]}
    assert drawn == set(range(len(names)))


@needs_dot
def test_the_page_names_leaves_by_role_and_keys_every_mark_it_uses():
    loss, model = moons_mlp((3,))
    data = page_data(explore(loss, module=model).html)
    names = {node["name"] for node in data["nodes"]}
    assert {"x[0]", "x[1]", "const(1.0)", "layers.0.neurons.2.w.1"} <= names
    assert not any(re.fullmatch(r"leaf\d+", name) for name in names)
    assert [data["nodes"][i]["name"] for i in data["inputs"]] == ["x[0]", "x[1]"]
    marks = [entry["mark"] for entry in data["key"]]
    assert {"kind-input", "kind-parameter", "kind-intermediate", "kind-output", "operation", "box", "frame",
            "lit-target", "lit-source", "lit-edge", "unknown", "selected"} <= set(marks)
    unknown = next(entry for entry in data["key"] if entry["mark"] == "unknown")
    assert unknown["text"] == "grad ?: not computed yet"


@needs_dot
def test_no_minus_zero_no_one_equals_one_and_each_question_is_its_steps_result():
    x, w = Value(-2.0, label="x"), Value(0.0, label="w")
    out = (x * w + x).relu() + w
    page = explore(out).html
    data = page_data(page)
    texts = [step["text"] for step in data["steps"]] + [local for node in data["nodes"] for local in node["locals"]]
    texts += [node["data"]["text"] for node in data["nodes"]] + [step["grad"]["text"] for step in data["steps"]]
    assert not any(re.search(r"(?<![\d.])-0\.0(?!\d)", text) for text in texts), texts
    assert not any(re.search(r"(^|[^\w.])1\.0 = 1\.0", local) for node in data["nodes"] for local in node["locals"])
    add = next(node for node in data["nodes"] if node["op"] == "+" and node["name"] != "add2")
    assert [local.split(" (")[0] for local in add["locals"]] == ["1.0", "1.0"]
    asked = [step for step in data["steps"] if "ask" in step]
    assert asked and all(step["kind"] in ("chain", "accumulate") for step in asked)
    for step in asked:
        ask = step["ask"]
        result = step["text"].rsplit(" = ", 1)[1]
        written = [f"{ask['question']} = {ask['working']} = {result}", f"{ask['question']} = {result}"]
        assert step["text"] in written  # the working left out where it is the result itself
        assert float(step["text"].rsplit(" = ", 1)[1]) == pytest.approx(ask["answer"], rel=1e-3, abs=1e-12)
    assert "local" in data["steps"][1] and data["steps"][1]["local"].startswith("∂")


@needs_dot
def test_a_large_graph_is_drawn_with_its_layers_closed_and_says_so():
    nn.manual_seed(0)
    model = nn.MLP(2, [8, 8, 1])
    points = np.random.default_rng(0).normal(size=(12, 2)).tolist()
    loss = sum(((1 - model(point)).relu() for point in points), Value(0.0))
    size = len(forward_order(loss))
    assert size > MAX_NODES
    with pytest.raises(GraphTooLarge, match=r"explore\(root, module=model\)"):
        explore(loss)
    exploration = explore(loss, module=model)
    data = page_data(exploration.html)
    assert any(f"{size} nodes" in notice and "one box" in notice for notice in data["notices"])
    assert data["views"][0]["name"] == "layers closed" and "all open" not in [v["name"] for v in data["views"]]
    assert len(data["steps"]) > size  # every step is on the page, even those inside closed boxes


@needs_dot
def test_nothing_outside_the_page_is_referred_to(tmp_path):
    loss, model = tensor_mlp()
    page = explore(loss, tmp_path / "mlp.html", module=model).html
    assert page.startswith("<!DOCTYPE html>")
    for reference in ("<link", "src=", "href=", "@import", "fetch(", "XMLHttpRequest", "import("):
        assert reference not in page, reference
    assert set(re.findall(r"url\(([^)]*)\)", page)) <= {"#flow-step", "#flow-accumulate"}  # markers in the page
    # the only addresses are XML namespace names, which nothing loads
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= {
        "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


@needs_dot
def test_a_label_cannot_break_out_of_the_page():
    a = Value(2.0, label="</script><script>alert(1)</script>")
    b = Value(3.0, label='b" onload="alert(2)')
    page = explore(a * b).html
    assert "<script>alert(1)" not in page and 'onload="alert(2)' not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2
    names = [node["name"] for node in page_data(page)["nodes"]]
    assert "</script><script>alert(1)</script>" in names


@needs_dot
@pytest.mark.parametrize("hostile", [
    '<<table><tr><td href="javascript:alert(1)">x</td></tr></table>>', "<b>x</b>", "\\N\\G", "a\x00b", '"; evil',
])
def test_an_op_name_or_label_that_looks_like_markup_stays_text_on_the_page(hostile):
    a, b = Value(2.0, label=hostile), Value(3.0, label="b")
    product = a * b
    product.op = hostile  # an operation named by the user, as micrograd's Value(data, children, op) allows
    tensor = Tensor(np.ones(2), requires_grad=True, label=hostile)
    doubled = tensor * 2.0
    doubled.op = hostile
    for root in (product.tanh(), doubled.sum()):
        page = explore(root).html
        assert not re.search(r"<[^<>]*(href|javascript:)", page), "a link or script address inside a tag"
        svg = re.search(r"<svg.*</svg>", page, re.S).group()
        assert not re.search(r"<(a|script|foreignObject|image)\b", svg), "markup from a name reached the drawing"
        texts = [html.unescape(text) for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
        shown = hostile.replace("\x00", "\\x00")
        assert shown in texts, texts  # the operation's oval shows the name, character for character
        data = page_data(page)
        assert hostile in [node["op"] for node in data["nodes"]] and hostile in [n["name"] for n in data["nodes"]]


@needs_dot
def test_path_none_writes_a_temporary_file_and_jupyter_shows_the_page_in_a_sandboxed_frame():
    exploration = explore(neuron())
    try:
        assert exploration.path.is_file() and exploration.path.suffix == ".html"
        frame = exploration._repr_html_()
        assert frame.startswith("<iframe ") and 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in frame
        srcdoc = re.search(r'srcdoc="([^"]*)"', frame).group(1)
        assert html.unescape(srcdoc) == exploration.html
        assert str(exploration.path) in repr(exploration)
    finally:
        exploration.path.unlink()


@needs_dot
def test_a_failed_write_leaves_the_old_page_whole_and_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "page.html"
    target.write_text("the old page")

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        explore(neuron(), target)
    assert target.read_text() == "the old page"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


@needs_dot
def test_bad_paths_are_named(tmp_path):
    with pytest.raises(IsADirectoryError, match=re.escape(str(tmp_path))):
        explore(neuron(), tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        explore(neuron(), tmp_path / "missing" / "page.html")


def test_without_dot_explore_raises_graphviz_not_found_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    o = neuron()
    saved = grads_of(o)
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        explore(o, tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()
    assert_unchanged(saved)


def test_value_html_shows_data_grad_label_and_op_escaped():
    a = Value(2.0, label="<a>")
    out = a * Value(-0.123456789)
    out.backward()
    shown = value_html(a)
    assert "&lt;a&gt;" in shown and "<a>" not in shown
    assert ">2.0<" in shown and ">-0.123457<" in shown  # grad = the other factor, 6 significant digits
    assert "op &#x27;*&#x27;" in value_html(out)


def test_tensor_html_shows_shape_dtype_and_tables_summarised_when_large():
    small = Tensor(np.array([[1.5, -2.0], [0.25, 4.0]]), requires_grad=True)
    (small * small).sum().backward()
    shown = tensor_html(small)
    assert "(2, 2)" in shown and "float64" in shown and ">-4.0<" in shown and ">8.0<" in shown
    big = Tensor(np.arange(300.0).reshape(30, 10))
    shown = tensor_html(big)
    assert "…" in shown and "⋮" in shown and "grad None" in shown
    assert "mean 149.5" in shown and ">299.0<" in shown and ">150.0<" not in shown


def test_array_table_keeps_the_corners_of_a_large_array():
    table = array_table(np.arange(100.0).reshape(10, 10), digits=4)
    assert table["rows"][0] == ["0.0", "1.0", "2.0", "…", "7.0", "8.0", "9.0"]
    assert table["rows"][3] == ["⋮", "⋮", "⋮", "", "⋮", "⋮", "⋮"]
    assert table["rows"][-1][-1] == "99.0" and not table["whole"]
    assert array_table(np.float32(0.5))["rows"] == [["0.5"]]
    assert array_table(np.zeros((2, 3, 4)))["whole"] is False  # three axes: shown as rows, and said so
    assert array_table(np.zeros((0, 3)))["rows"] == []


def test_module_html_shows_the_summary_and_each_parameter():
    nn.manual_seed(0)
    model = nn.MLP(2, [3, 1])
    model([1.0, 2.0]).backward()
    shown = module_html(model)
    assert f"{model.num_parameters()} parameters" in shown
    assert html.escape(model.summary()) in shown
    for name, parameter in model.named_parameters():
        assert f">{name}<" in shown
    big = nn.MLP(2, [30, 1])
    assert "and 81 more parameters" in module_html(big)


def test_an_exploration_is_a_path_and_a_page():
    exploration = Exploration("/tmp/x.html", "<p>page</p>")
    assert exploration.path == "/tmp/x.html"
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', exploration._repr_html_()).group(1)) == "<p>page</p>"


def test_the_lesson_leaves_out_its_page_without_dot_and_says_so(tmp_path, monkeypatch, capsys):
    from demos.backprop import the_page

    nn.manual_seed(0)
    model = nn.MLP(2, [3, 1])
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert the_page(tmp_path, model, [[0.5, -1.0], [1.0, 2.0]], [1, -1]) is None
    printed = capsys.readouterr().out
    assert "left out the page classifier_step.html" in printed and "apt-get install graphviz" in printed
    assert not list(tmp_path.iterdir())
