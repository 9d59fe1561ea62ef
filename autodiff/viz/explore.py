"""``explore``: one self-contained HTML page that steps through backward, forwards and back.

The page holds everything it needs inline, so it opens from disk in any
browser without a network:

- the graph as ``draw_dot`` lays it out (Graphviz's own SVG), twice for a
  small graph (left to right for a wide window, top to bottom for a narrow
  one), one drawing per view when ``module=`` draws layers as boxes;
- the steps of ``trace_backward``: for each one its text (``x1.grad +=
  w1.data * (x1*w1).grad = -3.0 * 0.5 = -1.5``), the nodes and the edge
  it lights, the local derivative written on that edge, the gradient its
  target holds once it is done, and the question the exercise mode asks;
- each node's data, inputs, users and local derivatives, for the panel a
  click on it opens, and a key to every colour and mark the page uses;
- the script (``explore.js``) and style (``explore.css``) beside this module.

Going to step k shows every node's gradient as it stood after step k:
the last step up to k that changed it, or, before any, "?" (not computed
yet) or, for a node backward never reaches, what it holds. The gradients
are recorded by ``trace_backward``, which does the engine's arithmetic on
its own store, so no ``.grad`` changes.

A model too big to draw at once (more than ``MAX_NODES`` nodes) opens
layer by layer: each of its layers is a box; a layer whose drawing would
hold more than ``FLAT_LIMIT`` nodes opens into a box per submodule (a
neuron, say), each of which opens in turn, beside one box for the rest.
"""

import html
import json
import math
import os
import secrets
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from .draw import BORDER, BOX_BORDER, BOX_FILL, FILL, KINDS, OP_FILL, GraphPicture, Highlight, record_text
from .html import array_table
from .modules import CollapseError, boxes_to_draw
from .nodes import GraphTooLarge, describe_grad, format_number, forward_order, module_inputs
from .trace import NOT_COMPUTED, UNKNOWN, UNKNOWN_MEANS, share_formula, trace_backward

DIGITS = 4
MAX_NODES = 300  # as draw_dot: past this, a picture stops being readable and dot slow
FLAT_LIMIT = 60  # a layer whose opened drawing holds more nodes and boxes opens into its submodules
TWO_LAYOUTS = 40  # a drawing of at most this many nodes and boxes also comes top to bottom, for narrow windows
PADDING = "\\ "  # an escaped space: Graphviz drops plain trailing spaces in a record
IFRAME_HEIGHT = 720


class Exploration:
    """The page ``explore`` wrote: ``.path`` is the file, ``.html`` its text; Jupyter shows it inline."""

    def __init__(self, path, page):
        self.path = path
        self.html = page

    def _repr_html_(self):
        # srcdoc, with no allow-same-origin in the sandbox: the page runs in an origin of its own,
        # apart from the notebook's, and its ids and styles cannot meet the notebook's
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
                f'style="width: 100%; height: {IFRAME_HEIGHT}px; border: 1px solid #ccc; resize: vertical" '
                f'title="backward, step by step"></iframe>')

    def __repr__(self):
        return f"Exploration(path={str(self.path)!r})"


def explore(root, path=None, module=None):
    """Write a page that steps through backward from ``root`` (a Value, or a one-element Tensor).

    ``path``: the file to write (None: a new temporary file). ``module``:
    names the nodes by their role (its parameters by their path, its
    inputs ``x[0]``, ``x[1]``, ...), and draws each of its direct
    submodules (each layer) as one box that opens on a click. A graph of
    more than ``MAX_NODES`` nodes is drawn with its layers closed, which
    the page says; without ``module`` it raises ``GraphTooLarge``. No
    ``.grad`` changes. A graph whose weights changed after its forward pass
    is refused (``GraphChangedSinceForward``). Needs Graphviz's ``dot``
    (``GraphvizNotFound`` if missing). Returns an ``Exploration``.

    >>> import os, tempfile
    >>> from autodiff import Value, explore
    >>> x, y = Value(2.0, label="x"), Value(3.0, label="y")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     page = explore(x * y, os.path.join(folder, "backward.html"))
    ...     os.listdir(folder), x.grad          # the page written; no gradient changed
    (['backward.html'], 0.0)
    """
    trace = trace_backward(root, module=module, digits=DIGITS)
    views, notices = _views(root, module)
    order = views[0].picture.order
    index = {id(node): i for i, node in enumerate(order)}
    steps = [_step(step, index, trace.names, _short_names(trace.names, module)) for step in trace]
    initial = [_initial_grad(trace.before(node)) for node in order]
    nodes = _nodes(order, views[0].picture, trace.names, initial)
    widths = _grad_widths(nodes, steps)
    if _held_before(order):
        notices.append("Some leaves hold gradients from an earlier backward. The page shows this pass's own "
                       "gradients; backward would add them to those (zero_grad() first starts from zero).")
    drawings = []
    for number, view in enumerate(views):
        for layout in view.layouts:
            drawings.append((number, layout, view.svg(number, layout, widths, index)))
    inputs = module_inputs(order, root, module) if module is not None else \
        [node for node in order if not node.children and views[0].picture.kinds[id(node)] == "input"]
    data = {
        "title": f"backward from {trace.names[id(root)]}",
        "nodes": nodes,
        "steps": steps,
        "inputs": [index[id(node)] for node in inputs if id(node) in index],
        "views": [view.description(views, index) for view in views],
        "key": _key(views, trace),
        "notices": notices,
    }
    page = _page(data, drawings)
    return Exploration(_write(page, path), page)


class _Rest:
    """Several sibling modules drawn as one box: the rest of a layer beside the submodule that is open."""

    def __init__(self, modules):
        self.modules = modules
        self.box_kind = f"{type(modules[0]).__name__} ×{len(modules)}"

    def parameters(self):
        return [p for module in self.modules for p in module.parameters()]

    def num_parameters(self):
        return sum(module.num_parameters() for module in self.modules)


class _View:
    """One drawing of the graph: some modules closed into boxes, some open (drawn in a frame)."""

    def __init__(self, name, picture, opened, parent):
        self.name, self.picture, self.parent = name, picture, parent
        self.opened = opened  # (name, module) of the modules drawn open, outermost first
        drawn = len(picture.order) - len(picture.owner) + len(picture.boxes)
        self.layouts = ["LR", "TB"] if drawn <= TWO_LAYOUTS else ["LR"]

    def svg(self, number, layout, widths, index):
        """This view's SVG, each gradient field padded to ``widths`` so no later number overflows its box."""
        picture = self.picture
        grad_texts = {id(node): record_text(UNKNOWN) + PADDING * (widths[index[id(node)]] - len(UNKNOWN))
                      for node in picture.order if id(node) not in picture.owner}
        highlight = _EdgeIds(f"v{number}{layout[0]}-", picture.ids)
        drawing = picture.drawing("svg", layout, digits=DIGITS, grad_texts=grad_texts, highlight=highlight,
                                  legend=False, compact=True, opened=self.opened)
        svg = drawing.pipe(format="svg").decode("utf-8")
        return svg[svg.index("<svg"):]

    def description(self, views, index):
        """What the script needs: the view's name, parent, layouts, and per box its id, nodes and view to open."""
        picture = self.picture
        boxes = []
        for number, (name, module) in enumerate(picture.boxes):
            held = sorted(index[node_id] for node_id, owner in picture.owner.items() if owner == number)
            boxes.append({"dot": f"box{number}", "name": name, "nodes": held,
                          "opens": self._opens(name, module, views)})
        return {"name": self.name, "parent": self.parent, "opened": [name for name, _ in self.opened],
                "boxes": boxes, "layouts": self.layouts}

    def _opens(self, name, module, views):
        """The view a click on box ``name`` goes to: the parent's for the rest of a layer, else one with it open."""
        if isinstance(module, _Rest):
            return self.parent
        mine = {opened for opened, _ in self.opened}
        candidates = [(len(mine & {n for n, _ in view.opened}), -len(view.opened), number)
                      for number, view in enumerate(views) if name in {n for n, _ in view.opened}]
        return max(candidates)[2] if candidates else None


class _EdgeIds(Highlight):
    """Marks nothing; gives ids to the edges of each operation, so that the page can light them.

    ``v0L-n3:1`` is the edge from input 1 into the operation of node n3
    (the two edges of ``x * x`` join the same two nodes, and only the
    input's position tells them apart), ``v0L-n3:out`` the edge from the
    operation to n3's record.
    """

    def __init__(self, prefix, ids):
        super().__init__()
        self.prefix, self.ids = prefix, ids

    def edge_style(self, node, position):
        return {"id": f"{self.prefix}{self.ids[id(node)]}:{position}"}

    def result_edge_style(self, node):
        return {"id": f"{self.prefix}{self.ids[id(node)]}:out"}


def _views(root, module):
    """The drawings of the page and the notices it shows about them; the first view is the one shown first."""
    if module is None:
        try:
            return [_View("graph", GraphPicture(root, max_nodes=MAX_NODES), [], None)], []
        except GraphTooLarge:
            raise GraphTooLarge(
                f"the graph has more than {MAX_NODES} nodes, more than a page can show readably: pass the model "
                "that computed it, explore(root, module=model), to draw each of its layers as one box, "
                "or explore a part of it (explore(some_intermediate_node))"
            ) from None
    size = len(forward_order(root))
    try:
        top = boxes_to_draw(module)
        closed = GraphPicture(root, module=module, collapse=[m for _, m in top], max_nodes=MAX_NODES)
    except CollapseError as error:
        if size > MAX_NODES:
            raise GraphTooLarge(f"the graph has {size} nodes, more than {MAX_NODES}, and its layers cannot "
                                f"be drawn as boxes: {error}") from None
        flat = GraphPicture(root, module=module, max_nodes=MAX_NODES)
        return [_View("graph", flat, [], None)], [f"Layers are not drawn as boxes: {error}."]
    views = [_View("layers closed", closed, [], None)]
    for name, submodule in top:
        others = [(n, m) for n, m in top if n != name]
        _open(views, root, module, (name, submodule), others, [], 0)
    if len(top) > 1 and size <= MAX_NODES:
        views.append(_View("all open", GraphPicture(root, module=module, max_nodes=MAX_NODES), [], 0))
    notices = []
    if size > MAX_NODES:
        notices.append(f"The graph has {size} nodes, more than a page draws readably: each layer is drawn as one "
                       "box, which a click opens (a big layer into one box per neuron, which open too).")
    return views, notices


def _open(views, root, module, opening, others, opened, parent):
    """Add the views that open ``opening`` (name, module), the boxes ``others`` staying closed, under view ``parent``."""
    name, submodule = opening
    opened = [*opened, opening]
    flat = _picture(root, module, others)
    if flat is not None and _drawn(flat) <= FLAT_LIMIT:
        views.append(_View(f"{name} open", flat, opened, parent))
        return
    parts = [(f"{name}.{n}", m) for n, m in submodule.named_children() if m.parameters()]
    if len(parts) > 1:
        by_part = _picture(root, module, others + parts)
        if by_part is not None:
            number = len(views)
            views.append(_View(f"{name} open", by_part, opened, parent))
            family = parts[0][0].rpartition(".")[0]  # layers.1.neurons, of layers.1.neurons.3
            for part in parts:
                rest = [m for n, m in parts if n != part[0]]
                rest_box = [(f"{family} (the other {len(rest)})", _Rest(rest))] if rest else []
                _open(views, root, module, part, others + rest_box, opened, number)
            return
    if flat is not None:
        views.append(_View(f"{name} open", flat, opened, parent))


def _picture(root, module, boxes):
    """The graph with ``boxes`` (name, module) closed, or None where that is still too big to draw."""
    try:
        return GraphPicture(root, module=module, collapse=boxes or None, max_nodes=MAX_NODES)
    except GraphTooLarge:
        return None


def _drawn(picture):
    return len(picture.order) - len(picture.owner) + len(picture.boxes)


def _short_names(names, module):
    """A parameter's name without the path of the module that holds it (``w.0``), as a frame around it shows it."""
    if module is None:
        return names
    paths = sorted((path for path, _ in module.named_modules() if path), key=len, reverse=True)
    short = dict(names)
    for node_id, name in names.items():
        holder = next((path for path in paths if name.startswith(path + ".")), None)
        if holder is not None:
            short[node_id] = name[len(holder) + 1:]
    return short


def _step(step, index, names, short_names):
    record = {"kind": step.kind, "node": index[id(step.node)], "target": index[id(step.target)],
              "position": step.position, "text": step.text, "grad": _grad_record(step.grad_after)}
    if step.kind == "chain":
        record["local"] = _edge_label(step, short_names)
    if step.kind in ("chain", "accumulate") and isinstance(step.grad_after, float):
        # the exercise: the text up to its result is the question, the working the hint, the number the answer
        answer = step.contribution if step.kind == "chain" else step.grad_after
        parts = step.text.rsplit(" = ", 2)  # formula = numbers = result, or formula = result where they agree
        question, working, result = parts if len(parts) == 3 else (parts[0], parts[1], parts[1])
        if result == format_number(answer, DIGITS):
            record["ask"] = {"question": question, "working": working, "answer": _exact(answer)}
    return record


def _edge_label(step, names):
    """What the lit edge of a chain step says: the local derivative d(node)/d(input), or that a vjp carries it."""
    if not isinstance(step.local, float):  # a Tensor's, or a Function output's gathered gradients
        return f"vjp of {step.node.op}"
    return f"∂{names[id(step.node)]}/∂{names[id(step.target)]} = {format_number(step.local, DIGITS)}"


def _initial_grad(before):
    """A node's gradient before backward reaches it: "?" where the pass computes one, else what it holds."""
    return {"text": UNKNOWN} if before is NOT_COMPUTED else _grad_record(before)


def _held_before(order):
    """Whether a leaf holds a gradient from an earlier backward (anything but None or zeros)."""
    return any(not node.children and node.grad is not None and bool(np.any(np.asarray(node.grad) != 0))
               for node in order)


def _grad_record(grad):
    """A gradient as the page shows it: its text in the drawing, its exact numbers, a table for an array."""
    if grad is None:
        return {"text": "None"}
    if isinstance(grad, tuple):  # one per output of a Function's node
        return {"text": describe_grad(grad, DIGITS)}
    if isinstance(grad, float):
        return {"text": format_number(grad, DIGITS), "value": _exact(grad)}
    grad = np.asarray(grad)
    record = {"text": describe_grad(grad, DIGITS), "table": array_table(grad, DIGITS)}
    if record["table"]["whole"]:
        record["value"] = _exact(grad)
    return record


def _exact(x):
    """Numbers for JSON, exactly (a float's repr round-trips); non-finite ones as strings JS's Number() reads."""
    if isinstance(x, np.ndarray):
        return _exact(x.tolist())
    if isinstance(x, list):
        return [_exact(item) for item in x]
    x = float(x) + 0.0  # no -0.0 on the page
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _nodes(order, picture, names, initial):
    """What the page knows of each node: name, kind, operation, data, inputs, users, local derivatives."""
    index = {id(node): i for i, node in enumerate(order)}
    users = [[] for _ in order]
    for i, node in enumerate(order):
        for child in node.children:
            if i not in users[index[id(child)]]:
                users[index[id(child)]].append(i)
    described = []
    for i, node in enumerate(order):
        entry = {
            "name": names[id(node)], "dot": picture.ids[id(node)], "kind": picture.kinds[id(node)],
            "op": node.op, "inputs": [index[id(child)] for child in node.children], "users": users[i],
            "grad0": initial[i], "locals": _local_derivatives(node, names),
        }
        kind = node._data_kind
        if kind == "array":
            entry.update(shape=list(node.shape), dtype=str(node.dtype), data=array_table(node.data, DIGITS))
        elif kind == "outputs":  # a Function's node: each output's data
            entry.update(data={"text": describe_grad(node.data, DIGITS), "value": _exact(list(node.data))})
        else:
            entry.update(data={"text": format_number(node.data, DIGITS), "value": _exact(node.data)})
        described.append(entry)
    return described


def _local_derivatives(node, names):
    """For each input, d(node)/d(input): the formula and its number for a Value; what a Tensor's vjp does.

    A Tensor's, and a Function's node with several outputs, have no number per input (``local_grads`` is None)."""
    return [f"vector-Jacobian product of {node.op!r} for input {position}: the gradient it sends back"
            if local is None else f"{describe_grad(local, DIGITS)} (its share: {share_formula(node, position, names)})"
            for position, local in enumerate(node.local_grads)]


def _key(views, trace):
    """The key's entries, for what the page shows: each kind of node drawn, boxes, frames, marks, and "?"."""
    kinds = {kind for view in views for node_id, kind in view.picture.kinds.items()
             if node_id not in view.picture.owner}
    key = [{"mark": f"kind-{kind}", "fill": FILL[kind], "border": BORDER[kind], "text": kind, "short": kind}
           for kind in KINDS if kind in kinds]
    key.append({"mark": "operation", "fill": OP_FILL, "border": "#555555", "text": "operation", "short": "operation"})
    if any(view.picture.boxes for view in views):
        key.append({"mark": "box", "fill": BOX_FILL, "border": BOX_BORDER, "text": "module or layer: click to open",
                    "short": "layer (click)"})
    if any(view.opened for view in views):
        key.append({"mark": "frame", "fill": "#ffffff", "border": BOX_BORDER, "text": "an open module",
                    "short": "open"})
    key += [
        {"mark": "lit-target", "text": "receives its share of the gradient", "short": "receives"},
        {"mark": "lit-source", "text": "passes its gradient down", "short": "passes down"},
    ]
    if any(step.kind == "accumulate" for step in trace):
        key.append({"mark": "lit-accumulate", "text": "used more than once: adds up its shares",
                    "short": "adds up shares"})
    local = "a vjp carries it" if trace.root._data_kind == "array" else "the local derivative ∂node/∂input"
    key += [
        {"mark": "lit-edge", "text": f"the way the gradient flows; on it, {local}", "short": "gradient flow"},
        {"mark": "unknown", "text": f"grad {UNKNOWN}: {UNKNOWN_MEANS}", "short": UNKNOWN_MEANS},
        {"mark": "selected", "text": "the node you clicked", "short": "clicked"},
    ]
    return key


def _grad_widths(nodes, steps):
    """For each node, the length of the longest gradient text it shows at any step."""
    widths = [max(len(UNKNOWN), len(node["grad0"]["text"])) for node in nodes]
    for step in steps:
        widths[step["target"]] = max(widths[step["target"]], len(step["grad"]["text"]))
    return widths


def _page(data, drawings):
    """The HTML: the drawings, the data as JSON (which a browser does not run), the style and the script."""
    assets = resources.files(__package__)
    style = assets.joinpath("explore.css").read_text(encoding="utf-8")
    script = assets.joinpath("explore.js").read_text(encoding="utf-8")
    # "<" only ever occurs inside JSON strings, where \u003c means the same; so nothing can close the script element
    payload = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    views = "\n".join(f'<div class="view" data-view="{number}" data-layout="{layout}" hidden>{svg}</div>'
                      for number, layout, svg in drawings)
    title = html.escape(data["title"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · autodiff</title>
<style>
{style}
</style>
</head>
<body>
<header>
  <h1>{title}</h1>
  <div id="notices"></div>
  <nav id="controls" aria-label="steps">
    <button id="first" title="before backward (Home)">◀◀ start</button>
    <button id="back" title="one step back (←)">◀ back</button>
    <button id="forward" title="one step forward (→)">forward ▶</button>
    <button id="last" title="the last step (End)">end ▶▶</button>
    <input id="slider" type="range" min="0" value="0" aria-label="step">
    <span id="counter"></span>
    <label id="exercise-toggle" title="the page asks for each gradient before it shows it">
      <input id="exercise" type="checkbox"> exercise<span class="wide">: work out each gradient first</span></label>
  </nav>
  <div id="step-text" aria-live="polite"></div>
  <div id="feedback" aria-live="polite" hidden></div>
  <form id="question" hidden autocomplete="off">
    <label for="answer" id="question-text"></label>
    <input id="answer" inputmode="decimal" size="10" aria-label="your answer">
    <button id="check" type="submit">check</button>
    <button id="hint" type="button">hint</button>
    <button id="reveal" type="button">show me</button>
    <span id="verdict" aria-live="polite"></span>
  </form>
  <ol id="step-list"></ol>
</header>
<main>
  <div id="view-controls">
    <span id="view-buttons"></span>
    <span id="view-path"></span>
    <span id="zoom">
      <button id="zoom-out" title="smaller">−</button>
      <button id="zoom-fit" title="fit the window">fit</button>
      <button id="zoom-in" title="larger">+</button>
    </span>
  </div>
  <div id="views">
{views}
  </div>
  <aside id="side">
    <ul id="key" aria-label="key"></ul>
    <div id="details"><p class="hint">Click a node to see its numbers.</p></div>
  </aside>
</main>
<svg id="markers" width="0" height="0" aria-hidden="true">
  <defs>
    <marker id="flow-step" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="4" markerHeight="4"
            orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d62728"></path></marker>
    <marker id="flow-accumulate" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="4" markerHeight="4"
            orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7b3294"></path></marker>
  </defs>
</svg>
<script type="application/json" id="explore-data">{payload}</script>
<script>
{script}
</script>
</body>
</html>
"""


def _write(page, path):
    """Write ``page`` to ``path`` (None: a new temporary file) whole or not at all; returns the path written."""
    if path is None:
        descriptor, name = tempfile.mkstemp(prefix="autodiff-explore-", suffix=".html")
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(page)
        return Path(name)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give explore a file name, such as {path / 'explore.html'}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    # a failed write leaves any old page whole: the new one goes to a file beside it, renamed over it once written
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        with open(partial, "x", encoding="utf-8") as file:
            file.write(page)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
