"""The page explore writes, driven in a real browser: Debian's Chromium through Playwright for Python.

Every request the page makes is caught and counted (the page itself is
the only one allowed through), every console error and uncaught exception
fails the test, and the numbers the page shows are read back and
compared with what ``backward()`` computes on a fresh copy of the graph.

The page is also measured as a learner first sees it, at 1280x800 and
800x600: every text at least 12 CSS pixels high without zooming, nothing
cut off, small graphs filling their room, a key to every colour and mark,
the lit edge pointing the way the gradient flows. Each such test saves
screenshots into a folder the run names at its end (``AUTODIFF_SCREENSHOTS``
chooses it, else one under pytest's temporary folder), to be looked at.

Needs ``pip install playwright`` and ``apt-get install chromium`` (the
Chromium Playwright downloads itself is not used). Without them these
tests are skipped with the reason; where ``AUTODIFF_REQUIRE_BROWSER`` is
set (CI sets it) they fail instead, so they cannot be skipped silently.
"""

import io
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import nn
from autodiff import Value
from autodiff.viz.explore import explore
from autodiff.viz.nodes import format_number, forward_order
from explore_graphs import moons_mlp, neuron, page_data, tensor_mlp
from needs_dot import needs_dot

import conftest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}
SIZES = [pytest.param({"width": 1280, "height": 800}, id="1280x800"),
         pytest.param({"width": 800, "height": 600}, id="800x600")]
MIN_TEXT_PX = 12

pytestmark = needs_dot

# The grad field of every record in the drawing shown: {dot's name for the node: its last text}.
SHOWN_GRADS = """() => Object.fromEntries(
  Array.from(document.querySelectorAll('.view:not([hidden]) g.node'))
    .filter((g) => /^n\\d+$/.test(g.querySelector(':scope > title').textContent))
    .map((g) => {
      const texts = g.querySelectorAll(':scope > text');
      return [g.querySelector(':scope > title').textContent, texts[texts.length - 1].textContent];
    }))"""


def _unavailable(reason):
    if os.environ.get("AUTODIFF_REQUIRE_BROWSER"):
        pytest.fail(f"AUTODIFF_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed: pip install playwright")
    if not os.path.exists(CHROMIUM):
        _unavailable("Chromium is not installed: apt-get install chromium")
    with sync_playwright() as playwright:
        # as root, Chromium refuses to start inside its own sandbox
        arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=arguments)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    """The folder the screenshots go to, named at the end of the run."""
    chosen = os.environ.get("AUTODIFF_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("explore-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    conftest.SCREENSHOT_FOLDERS.add(str(folder))
    return folder


class Opened:
    """A page opened in its own browser context, every request it makes counted and all but the page's own blocked."""

    def __init__(self, browser, path=None, content=None, viewport=VIEWPORT):
        self.context = browser.new_context(viewport=viewport)
        self.requests, self.errors = [], []
        self.url = path.resolve().as_uri() if path is not None else None
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", lambda dialog: (self.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        if path is not None:
            self.page.goto(self.url)
        else:
            self.page.set_content(content)

    def _route(self, route):
        self.requests.append(route.request.url)
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    def state(self, frame=None):
        return (frame or self.page).evaluate("autodiffExplorer.state()")

    def shown_grads(self):
        return self.page.evaluate(SHOWN_GRADS)

    def node(self, dot_name):
        return self.page.locator(f".view:not([hidden]) g.node:has(> title:text-is('{dot_name}'))")

    def close(self):
        assert self.errors == [], f"the page reported errors: {self.errors}"
        outside = [url for url in self.requests if url != self.url]
        assert outside == [], f"the page asked for something outside itself: {outside}"
        self.context.close()


def expected_text(value):
    return format_number(value, 4)


def test_stepping_through_the_neuron_shows_each_gradient_backward_computes(browser, tmp_path):
    o = neuron()
    exploration = explore(o, tmp_path / "neuron.html")
    data = page_data(exploration.html)
    reference = neuron()
    reference.backward()
    expected = [node.grad for node in forward_order(reference)]
    dots = [node["dot"] for node in data["nodes"]]
    last_change = {}
    for k, step in enumerate(data["steps"], 1):
        last_change[step["target"]] = k

    opened = Opened(browser, exploration.path)
    page = opened.page
    start = opened.state()
    assert start["step"] == 0 and start["steps"] == len(data["steps"]) == 10
    assert set(opened.shown_grads().values()) == {"grad ?"}

    forward = []  # (state, the drawing's grad fields) after each step
    for k in range(1, start["steps"] + 1):
        page.keyboard.press("ArrowRight")
        state, shown = opened.state(), opened.shown_grads()
        forward.append((state, shown))
        assert state["step"] == k and state["text"] == data["steps"][k - 1]["text"]
        assert page.locator("#step-text").inner_text() == f"{k}. {state['text']}"
        target = state["target"]
        assert any(dots[target] in lit and "lit-target" in lit for lit in state["lit"])
        reached = {step["target"] for step in data["steps"][:k]}
        for i, grad in enumerate(state["grads"]):
            if i not in reached:
                assert grad["text"] == "?" and shown[dots[i]] == "grad ?"
            elif last_change[i] <= k:
                # once its last step is done, a node holds exactly what backward() gives it
                assert grad["value"] == expected[i], (k, data["nodes"][i]["name"])
                assert shown[dots[i]] == f"grad {expected_text(expected[i])}"
        assert shown[dots[target]] == f"grad {state['grads'][target]['text']}"
    assert [grad["value"] for grad in forward[-1][0]["grads"]] == expected

    # back to the start, one step at a time, through the very same states
    for k in range(start["steps"] - 1, -1, -1):
        page.keyboard.press("ArrowLeft")
        state, shown = opened.state(), opened.shown_grads()
        if k == 0:
            assert state == start and set(shown.values()) == {"grad ?"}
        else:
            assert (state, shown) == forward[k - 1]
    page.click("#forward")
    page.click("#forward")
    assert (opened.state(), opened.shown_grads()) == forward[1]
    page.click("#last")
    assert (opened.state(), opened.shown_grads()) == forward[-1]
    opened.close()


def test_a_click_on_a_node_shows_its_numbers_and_local_derivative(browser, tmp_path):
    exploration = explore(neuron(), tmp_path / "neuron.html")
    data = page_data(exploration.html)
    names = [node["name"] for node in data["nodes"]]
    reference = neuron()
    reference.backward()
    expected = dict(zip(names, (node.grad for node in forward_order(reference))))
    opened = Opened(browser, exploration.path)
    page = opened.page
    page.keyboard.press("End")
    opened.node(data["nodes"][names.index("w1")]["dot"]).click()
    details = page.locator("#details").inner_text()
    assert "w1" in details and "-3.0" in details and "input" in details
    assert f"grad at step {len(data['steps'])}" in details and expected_text(expected["w1"]) in details

    o = data["nodes"][names.index("o")]
    opened.node(o["dot"]).click()
    details = page.locator("#details").inner_text()
    assert "tanh" in details and "0.5 (its share: (1 - o.data**2) * o.grad)" in details and "n (input 0)" in details
    page.keyboard.press("Home")
    assert "grad at step 0\n?" in page.locator("#details").inner_text()
    opened.close()


def test_the_tensor_mlp_page_ends_on_backwards_arrays_and_its_layers_open(browser, tmp_path):
    loss, model = tensor_mlp()
    exploration = explore(loss, tmp_path / "mlp.html", module=model)
    data = page_data(exploration.html)
    reference, _ = tensor_mlp()
    reference.backward()
    expected = [node.grad for node in forward_order(reference)]
    opened = Opened(browser, exploration.path)
    page = opened.page
    for k in range(len(data["steps"])):
        page.click("#forward")
        state = opened.state()
        target = state["target"]
        engine_partial = data["steps"][k]["grad"]["value"]
        np.testing.assert_array_equal(np.array(state["grads"][target]["value"]), np.array(engine_partial))
    assert page.locator("#forward").is_disabled()
    for i, grad in enumerate(opened.state()["grads"]):
        if expected[i] is None:
            assert grad["text"] == "None"
        else:
            np.testing.assert_array_equal(np.array(grad["value"]), expected[i].astype(np.float64))

    # the first layer is a box; a click opens it, and its weight's gradient is a table of backward's numbers
    assert opened.state()["view"] == 0
    opened.node("box0").click()
    assert opened.state()["view"] == 1 and page.locator("#view-buttons .current").inner_text() == "0 open"
    names = [node["name"] for node in data["nodes"]]
    weight = names.index("0.weight")
    opened.node(data["nodes"][weight]["dot"]).click()
    cells = page.locator("#details table").nth(1).locator("td").all_inner_texts()
    assert cells == [expected_text(x) for x in expected[weight].ravel()]
    assert "(4, 3)" in page.locator("#details").inner_text()
    opened.close()


def test_a_large_graph_says_it_is_collapsed_and_still_reaches_backwards_numbers(browser, tmp_path):
    nn.manual_seed(0)
    model = nn.MLP(2, [8, 8, 1])
    points = np.random.default_rng(0).normal(size=(12, 2)).tolist()
    loss = sum(((1 - model(point)).relu() for point in points), Value(0.0))
    exploration = explore(loss, tmp_path / "large.html", module=model)
    opened = Opened(browser, exploration.path)
    assert "drawn as one box" in opened.page.locator("#notices").inner_text()
    opened.page.keyboard.press("End")
    loss.backward()
    assert [g["value"] for g in opened.state()["grads"]] == [node.grad for node in forward_order(loss)]
    opened.close()


def test_in_jupyter_the_page_runs_in_a_sandboxed_frame(browser, tmp_path):
    exploration = explore(neuron(), tmp_path / "neuron.html")
    opened = Opened(browser, content=f"<!DOCTYPE html><html><body>{exploration._repr_html_()}</body></html>")
    frame = opened.page.frame_locator("iframe")
    frame.locator("#forward").click()
    inner = next(f for f in opened.page.frames if f != opened.page.main_frame)
    assert opened.state(inner)["step"] == 1
    blocked = inner.evaluate("() => { try { return window.parent.document.title; } catch (e) { return 'blocked'; } }")
    assert blocked == "blocked"
    opened.close()


def test_a_screenshot_of_the_page_is_not_blank(browser, tmp_path, pillow):
    exploration = explore(neuron(), tmp_path / "neuron.html")
    opened = Opened(browser, exploration.path)
    for _ in range(7):
        opened.page.keyboard.press("ArrowRight")
    png = opened.page.screenshot()
    with pillow.open(io.BytesIO(png)) as image:
        assert image.size == (VIEWPORT["width"], VIEWPORT["height"])
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text, the graph's fills and the step's red highlight
    red = sum(count for count, (r, g, b) in colours if r > 180 and g < 80 and b < 80)
    assert red > 200, "the step's highlight is not drawn"
    opened.close()


# What a learner sees, measured: text sizes in CSS pixels (an SVG text's font size times the scale the drawing
# is shown at), what sticks out of the window, how much of its room the drawing takes, and the key.
MEASURE = """() => {
  const visible = (element) => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(element).visibility !== 'hidden';
  };
  const svg = document.querySelector('.view:not([hidden]) svg');
  const svgTexts = Array.from(svg.querySelectorAll('text')).filter((t) => t.textContent.trim() && visible(t));
  const svgSizes = svgTexts.map((t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a);
  const htmlSizes = [];
  document.querySelectorAll('body *').forEach((element) => {
    if (element.closest('svg') || !visible(element)) return;
    const own = Array.from(element.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (own) htmlSizes.push([element.tagName + '#' + element.id + '.' + element.className,
                            parseFloat(getComputedStyle(element).fontSize)]);
  });
  const frame = document.getElementById('views');
  const style = getComputedStyle(frame);
  const room = { width: frame.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
                 height: frame.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom) };
  const drawn = svg.getBoundingClientRect();
  const outside = [];
  document.querySelectorAll('header *, #view-controls *, #key *').forEach((element) => {
    if (!visible(element)) return;
    const box = element.getBoundingClientRect();
    if (box.right > window.innerWidth + 0.5 || box.left < -0.5) outside.push(element.tagName + '#' + element.id);
  });
  const key = document.getElementById('key').getBoundingClientRect();
  const controls = document.getElementById('controls').getBoundingClientRect();
  return {
    smallestSvgText: Math.min(...svgSizes), svgTexts: svgSizes.length,
    smallestHtmlText: htmlSizes.reduce((a, b) => (b[1] < a[1] ? b : a), ['', Infinity]),
    pageWidth: document.documentElement.scrollWidth, pageHeight: document.documentElement.scrollHeight,
    room, drawing: { width: drawn.width, height: drawn.height }, outside,
    keyInSight: key.top >= 0 && key.bottom <= window.innerHeight && key.left >= 0 && key.right <= window.innerWidth,
    controlsInSight: controls.top >= 0 && controls.bottom <= window.innerHeight,
    keyMarks: Array.from(document.querySelectorAll('#key li')).map((li) => li.dataset.mark),
    keyFills: Array.from(document.querySelectorAll('#key .swatch')).map((s) => getComputedStyle(s).backgroundColor),
    drawnFills: Array.from(new Set(Array.from(svg.querySelectorAll('g.node > polygon, g.node > path, g.node > ellipse'))
      .map((shape) => shape.getAttribute('fill')).filter((f) => f && f !== 'none' && f !== 'transparent'))),
  };
}"""

# Whether what the step lights, the graph's inputs, the key and the controls are in sight; and whether the
# inputs and what is lit would fit in the frame together.
IN_SIGHT = """(data) => {
  const frame = document.getElementById('views');
  const area = frame.getBoundingClientRect();
  const right = area.left + frame.clientWidth, bottom = area.top + frame.clientHeight;
  const inFrame = (b) => b.left >= area.left - 1 && b.right <= right + 1 && b.top >= area.top - 1 && b.bottom <= bottom + 1;
  const view = document.querySelector('.view:not([hidden])');
  const byTitle = new Map(Array.from(view.querySelectorAll('g.node')).map((g) => [g.querySelector(':scope > title').textContent, g]));
  const lit = Array.from(view.querySelectorAll('g.lit-target')).map((g) => g.getBoundingClientRect());
  const inputs = data.inputs.map((i) => byTitle.get(data.nodes[i].dot)).filter(Boolean).map((g) => g.getBoundingClientRect());
  const all = [...lit, ...inputs];
  const together = all.length && Math.max(...all.map((b) => b.right)) - Math.min(...all.map((b) => b.left)) <= frame.clientWidth - 24 &&
    Math.max(...all.map((b) => b.bottom)) - Math.min(...all.map((b) => b.top)) <= frame.clientHeight - 24;
  const key = document.getElementById('key').getBoundingClientRect();
  const controls = document.getElementById('controls').getBoundingClientRect();
  return { lit: lit.length, litInSight: lit.length > 0 && lit.every(inFrame), inputs: inputs.length,
           inputsInSight: inputs.every(inFrame), together,
           keyInSight: key.top >= 0 && key.bottom <= window.innerHeight,
           controlsInSight: controls.top >= 0 && controls.bottom <= window.innerHeight };
}"""


def rgb(colour):
    """'rgb(219, 233, 246)' from '#dbe9f6', as the browser writes a computed colour."""
    return f"rgb({int(colour[1:3], 16)}, {int(colour[3:5], 16)}, {int(colour[5:7], 16)})"


def assert_readable(measured, graph_fits):
    """Text at least 12 CSS pixels, nothing out of the window, the key and the controls in sight."""
    assert measured["svgTexts"] > 0
    assert measured["smallestSvgText"] >= MIN_TEXT_PX - 0.01, measured["smallestSvgText"]
    assert measured["smallestHtmlText"][1] >= MIN_TEXT_PX, measured["smallestHtmlText"]
    assert measured["outside"] == [], measured["outside"]
    assert measured["keyInSight"] and measured["controlsInSight"]
    if graph_fits:
        # the page itself never scrolls, and the drawing is never wider than its frame
        assert measured["drawing"]["width"] <= measured["room"]["width"] + 1, measured
    for fill in measured["drawnFills"]:
        assert rgb(fill) in measured["keyFills"] or fill in ("#ffffff", "white"), f"{fill} has no key"


@pytest.mark.parametrize("viewport", SIZES)
@pytest.mark.parametrize("graph", ["neuron", "30 nodes"])
def test_a_small_graph_fills_its_room_in_readable_text_with_a_key_nothing_cut_off(browser, tmp_path, screenshots,
                                                                                   viewport, graph):
    root = neuron() if graph == "neuron" else moons_mlp((3,))[0]
    nodes = len(forward_order(root))
    assert nodes <= 30
    exploration = explore(root, tmp_path / "page.html")
    opened = Opened(browser, exploration.path, viewport=viewport)
    page = opened.page
    size = f"{viewport['width']}x{viewport['height']}"
    for k in (0, 7):
        page.evaluate(f"autodiffExplorer.go({k})")
        page.screenshot(path=str(screenshots / f"{graph.replace(' ', '_')}_{size}_step{k}.png"))
        measured = page.evaluate(MEASURE)
        assert_readable(measured, graph_fits=True)
        assert measured["pageWidth"] <= viewport["width"] and measured["pageHeight"] <= viewport["height"]
        fills = (measured["drawing"]["width"] >= 0.9 * measured["room"]["width"]
                 or measured["drawing"]["height"] >= 0.9 * measured["room"]["height"])
        assert fills, f"the drawing of {nodes} nodes takes {measured['drawing']} of {measured['room']}"
        marks = set(measured["keyMarks"])
        assert {"kind-input", "kind-output", "kind-intermediate", "operation", "lit-target", "lit-source",
                "lit-edge", "unknown", "selected"} <= marks
        key = page.locator("#key").inner_text()
        assert "not computed yet" in key and ("?" in key)
    opened.close()


def test_the_lit_edge_points_back_to_the_input_and_carries_the_local_derivative(browser, tmp_path, screenshots):
    exploration = explore(neuron(), tmp_path / "neuron.html")
    opened = Opened(browser, exploration.path)
    page = opened.page
    page.evaluate("autodiffExplorer.go(7)")  # x1.grad += w1.data * mul1.grad = -3.0 * 0.5 = -1.5
    assert opened.state()["text"].startswith("x1.grad += w1.data * mul1.grad")
    page.screenshot(path=str(screenshots / "neuron_1280x800_lit_edge_step7.png"))
    found = page.evaluate("""() => {
      const view = document.querySelector('.view:not([hidden])');
      const edges = Array.from(view.querySelectorAll('g.edge.lit-edge'));
      const x1 = Array.from(view.querySelectorAll('g.node')).find((g) => g.querySelector('text').textContent === 'x1');
      const target = x1.getBoundingClientRect();
      let path;
      const distance = (p) => { const m = path.getScreenCTM();
        const x = p.x * m.a + m.e, y = p.y * m.d + m.f;
        const dx = Math.max(target.left - x, 0, x - target.right), dy = Math.max(target.top - y, 0, y - target.bottom);
        return Math.hypot(dx, dy); };
      const into = edges.find((g) => g.querySelector('title').textContent.includes('->n') &&
                                     g.querySelector('title').textContent.startsWith(x1.querySelector('title').textContent));
      path = into.querySelector('path');
      const label = view.querySelector('.edge-label text');
      return {
        lit: edges.length,
        markerStart: getComputedStyle(path).markerStart,
        forwardHeadShown: getComputedStyle(into.querySelector('polygon')).display !== 'none',
        startToX1: distance(path.getPointAtLength(0)), endToX1: distance(path.getPointAtLength(path.getTotalLength())),
        label: label.textContent,
        labelPx: parseFloat(getComputedStyle(label).fontSize) * label.getScreenCTM().a,
      };
    }""")
    assert found["lit"] == 2  # x1 -> the product, and the product -> mul1
    assert "flow-step" in found["markerStart"] and not found["forwardHeadShown"]
    assert found["startToX1"] < 2 < found["endToX1"]  # the arrowhead stands at x1's end: the gradient goes there
    assert found["label"] == "∂mul1/∂x1 = -3.0" and found["labelPx"] >= MIN_TEXT_PX
    page.evaluate("autodiffExplorer.go(5)")  # an accumulation: purple, and its own arrowhead
    opened.close()


def test_leaves_are_named_by_their_role(browser, tmp_path):
    loss, model = moons_mlp((3,))
    exploration = explore(loss, tmp_path / "small.html", module=model)
    opened = Opened(browser, exploration.path)
    names = [grad["name"] for grad in opened.state()["grads"]]
    assert {"x[0]", "x[1]", "layers.0.neurons.0.w.0", "layers.1.neurons.0.b", "const(1.0)"} <= set(names)
    assert not [name for name in names if re.fullmatch(r"leaf\d+", name)]
    opened.close()


@pytest.mark.parametrize("viewport", SIZES)
def test_every_layer_of_the_moons_mlp_opens_and_every_step_lights_something_in_sight(browser, tmp_path, screenshots,
                                                                                       viewport):
    loss, model = moons_mlp()
    assert len(forward_order(loss)) > 400
    exploration = explore(loss, tmp_path / "moons.html", module=model)
    data = page_data(exploration.html)
    opened = Opened(browser, exploration.path, viewport=viewport)
    page = opened.page
    size = f"{viewport['width']}x{viewport['height']}"
    names = [node["name"] for node in data["nodes"]]
    steps = len(data["steps"])

    def check_every_step(view):
        """Go through every step in ``view``; return the steps where nothing lit was in sight, and the inputs' misses."""
        return page.evaluate(f"""() => {{
          const check = ({IN_SIGHT});
          const data = JSON.parse(document.getElementById('explore-data').textContent);
          const misses = [], inputs = [];
          autodiffExplorer.showView({view});
          for (let k = 1; k <= {steps}; k++) {{
            autodiffExplorer.go(k);
            const seen = check(data);
            if (!seen.litInSight || !seen.keyInSight || !seen.controlsInSight) misses.push(k);
            if (seen.together && !seen.inputsInSight) inputs.push(k);
          }}
          return {{ misses, inputs }};
        }}""")

    # closed: the three layers are boxes, and every one of the steps lights one in sight
    page.screenshot(path=str(screenshots / f"moons_{size}_closed_step0.png"))
    assert_readable(page.evaluate(MEASURE), graph_fits=False)
    closed = check_every_step(0)
    assert closed["misses"] == []
    assert closed["inputs"] == []  # the graph's inputs stay in sight too, wherever the frame holds both
    for layer in ("layers.0", "layers.1", "layers.2"):
        page.evaluate("autodiffExplorer.showView(0)")
        box = next(b["dot"] for b in data["views"][0]["boxes"] if b["name"] == layer)
        opened.node(box).click()
        view = opened.state()["view"]
        assert data["views"][view]["opened"][0] == layer, layer
        page.screenshot(path=str(screenshots / f"moons_{size}_{layer}_open.png"))
        assert_readable(page.evaluate(MEASURE), graph_fits=False)
        described = data["views"][view]
        if layer == "layers.1":  # 304 nodes: too many at once, so one box per neuron, each of which opens
            assert len(described["boxes"]) >= 16
            neuron_box = next(b for b in described["boxes"] if b["name"] == "layers.1.neurons.3")
            assert check_every_step(view) == {"misses": [], "inputs": []}
            opened.node(neuron_box["dot"]).click()
            inner = opened.state()["view"]
            assert data["views"][inner]["opened"] == ["layers.1", "layers.1.neurons.3"]
            first = next(k for k, step in enumerate(data["steps"], 1)
                         if names[step["target"]].startswith("layers.1.neurons.3.w."))
            page.evaluate(f"autodiffExplorer.go({first})")
            page.screenshot(path=str(screenshots / f"moons_{size}_layers.1.neurons.3_open_step{first}.png"))
            assert_readable(page.evaluate(MEASURE), graph_fits=False)
            shown = opened.state()
            assert any(data["nodes"][shown["target"]]["dot"] in lit for lit in shown["lit"])  # the weight itself
            assert check_every_step(inner) == {"misses": [], "inputs": []}
    # every weight of every layer can be seen as its own record in some view
    drawn_somewhere = set()
    for view in data["views"]:
        hidden = {i for box in view["boxes"] for i in box["nodes"]}
        drawn_somewhere |= set(range(len(names))) - hidden
    assert drawn_somewhere == set(range(len(names)))
    opened.close()


def three_significant_digits(guess, answer):
    """The rule the exercise states: within half a unit of the answer's third significant digit."""
    if answer == 0:
        return guess == 0
    unit = 10.0 ** (math.floor(math.log10(abs(answer))) - 2)
    return abs(guess - answer) <= unit / 2 * (1 + 1e-9) or f"{guess:.3g}" == f"{answer:.3g}"


def test_the_exercise_asks_for_each_gradient_before_showing_it(browser, tmp_path, screenshots):
    exploration = explore(neuron(), tmp_path / "neuron.html")
    data = page_data(exploration.html)
    opened = Opened(browser, exploration.path)
    page = opened.page
    page.check("#exercise")
    page.keyboard.press("ArrowRight")  # the seed: nothing to work out
    assert opened.state()["step"] == 1 and opened.state()["asking"] is None
    page.click("#forward")  # step 2: n.grad += (1 - o.data**2) * o.grad = (1 - 0.7071**2) * 1.0 = 0.5
    state = opened.state()
    assert state["step"] == 1 and state["asking"] == 2
    target = data["steps"][1]["target"]
    assert opened.shown_grads()[data["nodes"][target]["dot"]] == "grad ?"  # not given away
    assert page.locator("#question").is_visible() and not page.locator("#step-text").is_visible()
    assert page.locator("#question-text").inner_text().strip() == "2. n.grad += (1 - o.data**2) * o.grad ="
    page.screenshot(path=str(screenshots / "neuron_1280x800_exercise_asking.png"))
    page.fill("#answer", "0.6")
    page.click("#check")
    assert "not right" in page.locator("#verdict").inner_text() and opened.state()["asking"] == 2
    page.click("#hint")
    assert page.locator("#question-text").inner_text().strip().endswith("= (1 - 0.7071**2) * 1.0 =")
    page.fill("#answer", "0.5")
    page.keyboard.press("Enter")
    state = opened.state()
    assert state["step"] == 2 and state["asking"] is None
    assert page.locator("#feedback").inner_text().startswith("Right: 0.5")
    page.screenshot(path=str(screenshots / "neuron_1280x800_exercise_right.png"))
    # "show me" gives up and shows the step
    page.click("#forward")
    page.click("#reveal")
    assert opened.state()["step"] == 3 and opened.state()["asking"] is None
    # the page's rule for "right to 3 significant digits", against the same rule written here
    cases = [(0.786, 0.7864), (0.787, 0.7864), (-1.5, -1.5), (1.5, -1.5), (-2.36, -2.359), (-2.35, -2.359),
             (0.0, 0.0), (1e-4, 0.0), (1234.0, 1234.4), (1240.0, 1236.0), (1230.0, 1236.0), (6.88e-5, 6.8814e-5)]
    for guess, answer in cases:
        assert page.evaluate(f"autodiffExplorer.agrees({guess}, {answer})") == three_significant_digits(guess, answer), \
            (guess, answer)
    assert page.evaluate("autodiffExplorer.agrees(0.786, 0.7864)") and not page.evaluate("autodiffExplorer.agrees(0.787, 0.7864)")
    opened.close()
