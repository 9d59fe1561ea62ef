"""``explore``: one self-contained HTML page that steps through backward, forwards and back.

The page holds everything it needs inline, so it opens from disk in any
browser without a network:

- the graph as ``draw_dot`` lays it out (Graphviz's own SVG), one drawing
  per view when ``module=`` draws layers as boxes that open on a click;
- the steps of ``trace_backward``: for each one its text (``x1.grad +=
  w1.data * (x1*w1).grad = -3.0 * 0.5 = -1.5``), the nodes and the edge
  it lights, and the gradient its target holds once it is done;
- each node's data, inputs, users and local derivatives, for the panel a
  click on it opens;
- the script (``explore.js``) and style (``explore.css``) beside this module.

Going to step k shows every node's gradient as it stood after step k:
the last step up to k that changed it, or, before any, what it held
before this backward (leaves) or "?" (results, which backward recomputes).
The gradients are recorded by ``trace_backward(record_only=True)``, which
does the engine's arithmetic on its own store, so no ``.grad`` changes.
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

from ..tensor import Tensor
from .draw import GraphPicture, Highlight, record_text
from .html import array_table
from .modules import CollapseError
from .nodes import GraphTooLarge, describe_grad, format_number, forward_order
from .trace import share_formula, trace_backward

DIGITS = 4
MAX_NODES = 300  # as draw_dot: past this, a picture stops being readable and dot slow
UNKNOWN = "?"
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
    names its parameters, and draws each of its direct submodules (each
    layer) as one box that opens on a click. A graph of more than
    ``MAX_NODES`` nodes is drawn with its layers closed, which the page
    says; without ``module`` it raises ``GraphTooLarge``. No ``.grad``
    changes. Needs Graphviz's ``dot`` (``GraphvizNotFound`` if missing).
    Returns an ``Exploration``.

    >>> import os, tempfile
    >>> from autodiff import Value, explore
    >>> x, y = Value(2.0, label="x"), Value(3.0, label="y")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     page = explore(x * y, os.path.join(folder, "backward.html"))
    ...     os.listdir(folder), x.grad          # the page written; no gradient changed
    (['backward.html'], 0.0)
    """
    views, notices = _views(root, module)
    trace = trace_backward(root, module=module, digits=DIGITS, record_only=True)
    order = views[0].picture.order
    index = {id(node): i for i, node in enumerate(order)}
    steps = [_step(step, index) for step in trace]
    initial = _initial_grads(order, trace)
    nodes = _nodes(order, views[0].picture, trace.names, initial)
    widths = _grad_widths(nodes, steps)
    if _held_before(order):
        notices.append("Some leaves hold gradients from an earlier backward. The page shows this pass's own "
                       "gradients; backward would add them to those (zero_grad() first starts from zero).")
    svgs = [view.svg(number, widths, index) for number, view in enumerate(views)]
    data = {
        "title": f"backward from {trace.names[id(root)]}",
        "nodes": nodes,
        "steps": steps,
        "boxes": [name for name, _ in views[0].boxes],
        "owner": {str(index[node_id]): box for node_id, box in views[0].owner.items()},
        "views": [view.description() for view in views],
        "notices": notices,
    }
    page = _page(data, svgs)
    return Exploration(_write(page, path), page)


class _View:
    """One drawing of the graph: some layers closed into boxes (``closed``: indices into the page's boxes)."""

    def __init__(self, name, picture, closed, boxes):
        self.name, self.picture, self.closed = name, picture, closed
        self.boxes = boxes  # every box of the page, (name, module), as the first view numbers them
        self.owner = picture.owner

    def svg(self, number, widths, index):
        """This view's SVG, each gradient field padded to ``widths`` so no later number overflows its box."""
        picture = self.picture
        grad_texts = {id(node): record_text(UNKNOWN) + PADDING * (widths[index[id(node)]] - len(UNKNOWN))
                      for node in picture.order if id(node) not in picture.owner}
        highlight = _EdgeIds(f"v{number}-", picture.ids)
        drawing = picture.drawing("svg", digits=DIGITS, grad_texts=grad_texts, highlight=highlight)
        svg = drawing.pipe(format="svg").decode("utf-8")
        return svg[svg.index("<svg"):]

    def description(self):
        """What the script needs: the view's name and, per closed box, the id ``dot`` gave it."""
        names = {id(module): f"box{i}" for i, (_, module) in enumerate(self.picture.boxes)}
        return {"name": self.name,
                "closed": {str(box): names[id(self.boxes[box][1])] for box in self.closed}}


class _EdgeIds(Highlight):
    """Marks nothing; gives each edge into an operation an id, ``v0-n3:1``, so the page can light it.

    The two edges of ``x * x`` join the same two nodes, and only the
    input's position tells them apart.
    """

    def __init__(self, prefix, ids):
        super().__init__()
        self.prefix, self.ids = prefix, ids

    def edge_style(self, node, position):
        return {"id": f"{self.prefix}{self.ids[id(node)]}:{position}"}


def _views(root, module):
    """The drawings of the page and the notices it shows about them; the first view is the one shown first."""
    if module is None:
        try:
            return [_View("graph", GraphPicture(root, max_nodes=MAX_NODES), [], [])], []
        except GraphTooLarge:
            raise GraphTooLarge(
                f"the graph has more than {MAX_NODES} nodes, more than a page can show readably: pass the model "
                "that computed it, explore(root, module=model), to draw each of its layers as one box, "
                "or explore a part of it (explore(some_intermediate_node))"
            ) from None
    size = len(forward_order(root))
    try:
        collapsed = GraphPicture(root, module=module, collapse=module, max_nodes=MAX_NODES)
    except CollapseError as error:
        if size > MAX_NODES:
            raise GraphTooLarge(f"the graph has {size} nodes, more than {MAX_NODES}, and its layers cannot "
                                f"be drawn as boxes: {error}") from None
        flat = GraphPicture(root, module=module, max_nodes=MAX_NODES)
        return [_View("graph", flat, [], [])], [f"Layers are not drawn as boxes: {error}."]
    boxes = collapsed.boxes
    views = [_View("layers closed", collapsed, list(range(len(boxes))), boxes)]
    for opened, (name, _) in enumerate(boxes):
        closed = [i for i in range(len(boxes)) if i != opened]
        try:
            picture = GraphPicture(root, module=module, collapse=[boxes[i][1] for i in closed], max_nodes=MAX_NODES) \
                if closed else GraphPicture(root, module=module, max_nodes=MAX_NODES)
        except GraphTooLarge:
            continue
        views.append(_View(f"{name} open", picture, closed, boxes))
    notices = []
    if len(boxes) > 1 and size <= MAX_NODES:
        views.append(_View("all open", GraphPicture(root, module=module, max_nodes=MAX_NODES), [], boxes))
    if size > MAX_NODES:
        notices.append(f"The graph has {size} nodes, more than the {MAX_NODES} a page shows readably, so each "
                       f"layer of the {type(module).__name__} is drawn as one box. Click a box to open it "
                       "(a layer too big to draw stays closed); every step is still here.")
    return views, notices


def _step(step, index):
    return {"kind": step.kind, "node": index[id(step.node)], "target": index[id(step.target)],
            "position": step.position, "text": step.text, "grad": _grad_record(step.grad_after)}


def _initial_grads(order, trace):
    """Each node's gradient before backward: "?" where this pass computes one, else what the node holds."""
    reached = {id(step.target) for step in trace}
    return [{"text": UNKNOWN} if id(node) in reached else _grad_record(node.grad) for node in order]


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
    x = float(x)
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
        if isinstance(node, Tensor):
            entry.update(shape=list(node.shape), dtype=str(node.dtype), data=array_table(node.data, DIGITS))
        elif isinstance(node.data, tuple):  # a Function's node: each output's data
            entry.update(data={"text": describe_grad(node.data, DIGITS), "value": _exact(list(node.data))})
        else:
            entry.update(data={"text": format_number(node.data, DIGITS), "value": _exact(node.data)})
        described.append(entry)
    return described


def _local_derivatives(node, names):
    """For each input, d(node)/d(input): the formula and its number for a Value; what a Tensor's vjp does."""
    if isinstance(node, Tensor) or isinstance(node.data, tuple):  # a Function's node too: its backward
        return [f"vector-Jacobian product of {node.op!r} for input {position}: the gradient it sends back"
                for position in range(len(node.children))]
    return [f"{describe_grad(local, DIGITS)} (its share: {share_formula(node, position, names)})"
            for position, local in enumerate(node.local_grads)]


def _grad_widths(nodes, steps):
    """For each node, the length of the longest gradient text it shows at any step."""
    widths = [max(len(UNKNOWN), len(node["grad0"]["text"])) for node in nodes]
    for step in steps:
        widths[step["target"]] = max(widths[step["target"]], len(step["grad"]["text"]))
    return widths


def _page(data, svgs):
    """The HTML: the drawings, the data as JSON (which a browser does not run), the style and the script."""
    assets = resources.files(__package__)
    style = assets.joinpath("explore.css").read_text(encoding="utf-8")
    script = assets.joinpath("explore.js").read_text(encoding="utf-8")
    # "<" only ever occurs inside JSON strings, where \u003c means the same; so nothing can close the script element
    payload = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    views = "\n".join(f'<div class="view" data-view="{number}" hidden>{svg}</div>' for number, svg in enumerate(svgs))
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
  </nav>
  <div id="step-text" aria-live="polite"></div>
  <ol id="step-list"></ol>
</header>
<main>
  <section id="graph">
    <div id="view-controls">
      <span id="view-buttons"></span>
      <button id="zoom-out" title="smaller">−</button>
      <button id="zoom-fit" title="fit the width">fit</button>
      <button id="zoom-in" title="larger">+</button>
    </div>
    <div id="views">
{views}
    </div>
  </section>
  <aside id="details"><p class="hint">Click a node to see its numbers.</p></aside>
</main>
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
