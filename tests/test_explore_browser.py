"""The page explore writes, driven in a real browser: Debian's Chromium through Playwright for Python.

Every request the page makes is caught and counted (the page itself is
the only one allowed through), every console error and uncaught exception
fails the test, and the numbers the page shows are read back and
compared with what ``backward()`` computes on a fresh copy of the graph.

Needs ``pip install playwright`` and ``apt-get install chromium`` (the
Chromium Playwright downloads itself is not used). Without them these
tests are skipped with the reason; where ``AUTODIFF_REQUIRE_BROWSER`` is
set (CI sets it) they fail instead, so they cannot be skipped silently.
"""

import io
import os
import shutil

import numpy as np
import pytest

import nn
from autodiff import Value
from autodiff.viz.explore import explore
from autodiff.viz.nodes import format_number, forward_order
from explore_graphs import neuron, page_data, tensor_mlp
from needs_dot import needs_dot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}

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


class Opened:
    """A page opened in its own browser context, every request it makes counted and all but the page's own blocked."""

    def __init__(self, browser, path=None, content=None):
        self.context = browser.new_context(viewport=VIEWPORT)
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
