"""``draw_dot``: a picture of the graph that computed a node, forward values and gradients.

Each node is a record ``name | data | grad`` (a Tensor adds its shape and
dtype, and summarizes arrays by mean, min and max), and each operation is
a small oval between its inputs and its result. Colours tell inputs,
parameters, intermediate results and the output apart. An input used twice, as
in ``x * x``, has two edges into the operation: the two contributions
backward will add up at ``x``.

The picture is DOT source (``.source``); turning it into SVG or PNG needs
Graphviz's ``dot`` program. Where it is missing, rendering raises
``GraphvizNotFound``, which says how to install it. The ``graphviz``
Python package is imported only when a drawing is made, so importing
``autodiff`` costs nothing for programs that never draw.
"""

import functools
import html
import re
from contextlib import contextmanager

from .modules import assign_nodes, box_contents, box_title, boxes_to_draw, computed_by
from .nodes import (
    KINDS, GraphTooLarge, describe_grad, format_number, forward_order, grad_magnitude, kind_of,
    node_names, parameter_names, role_names, summarize,
)

__all__ = ["draw_dot", "Drawing", "GraphvizNotFound"]

FONT = "Courier"  # monospace: a label's width depends only on its length, so frames keep their layout
FONT_SIZE = "12"
MANY_LEAVES = 8  # past this many leaves, a compact drawing writes each leaf's fields side by side
FILL = {"input": "#dbe9f6", "parameter": "#dff0d8", "intermediate": "#ffffff", "output": "#fde2c4"}
BORDER = {"input": "#2b6cb0", "parameter": "#2f7d32", "intermediate": "#555555", "output": "#c05621"}
OP_FILL = "#eeeeee"
BOX_FILL = "#eadcf5"
BOX_BORDER = "#6b3fa0"
SOURCE_COLOUR = "#e6550d"  # a frame's node whose gradient flows down, and its operation
HOT = (0xD7, 0x30, 0x27)  # the fill of the largest gradient when colouring by gradient
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
INSTALL_DOT = ("`apt-get install graphviz` (Debian, Ubuntu), `brew install graphviz` (macOS) "
               "or `conda install graphviz` (conda)")


class GraphvizNotFound(RuntimeError):
    """Graphviz's ``dot`` program, which turns DOT source into pictures, is not installed.

    >>> "apt-get install graphviz" in str(GraphvizNotFound())
    True
    """

    def __init__(self):
        super().__init__(
            "Graphviz's `dot` program was not found on PATH; it turns the drawing into SVG or PNG. "
            f"Install it with {INSTALL_DOT}. The DOT source stays available as `.source`."
        )


@contextmanager
def _dot_needed():
    import graphviz

    try:
        yield
    except graphviz.ExecutableNotFound as error:
        raise GraphvizNotFound() from error


class Drawing:
    """A ``graphviz.Digraph`` whose rendering (files, bytes, Jupyter) says how to install ``dot`` if it is missing.

    ``Drawing(...)`` takes ``graphviz.Digraph``'s arguments and makes a
    real ``graphviz.Digraph``: the class that also derives from it is built
    at the first drawing, so that ``graphviz`` is imported only then.

    >>> drawing = Drawing(comment="empty")
    >>> drawing.node("a")
    >>> import graphviz; isinstance(drawing, graphviz.Digraph)
    True
    """

    def __new__(cls, *args, **kwargs):
        if cls is Drawing:
            cls = _digraph_drawing()
        return super().__new__(cls)

    def pipe(self, *args, **kwargs):
        with _dot_needed():
            return super().pipe(*args, **kwargs)

    def render(self, *args, **kwargs):
        with _dot_needed():
            return super().render(*args, **kwargs)


@functools.cache
def _digraph_drawing():
    """``Drawing`` with ``graphviz.Digraph`` as its second base, made once."""
    import graphviz

    return type("Drawing", (Drawing, graphviz.Digraph), {"__module__": __name__, "__doc__": Drawing.__doc__})


def draw_dot(root, format="svg", rankdir="LR", *, module=None, collapse=None, max_nodes=300,
             color_by_grad=False, legend=True, digits=4):
    """A ``graphviz.Digraph`` of the graph that computed ``root`` (a Value or a Tensor).

    - ``module``: names the module's parameters in the picture (``layers.0.neurons.1.w.0``)
      and colours leaf Values among them as parameters;
    - ``collapse``: a module whose direct submodules (or itself, if it has
      none) are each drawn as one box, or a list of modules to draw as boxes;
    - ``max_nodes``: past this many nodes, ``GraphTooLarge`` explains the choices;
    - ``color_by_grad``: fill each node by its gradient's magnitude (|grad|, or mean |grad|
      for a Tensor): white for 0, red for the largest below the output, the border
      keeping the colour of its kind;
    - ``legend``: a key to the colours.

    Shown inline in Jupyter; ``.render(outfile="graph.svg")`` writes a file.

    >>> from autodiff import Value, draw_dot
    >>> x = Value(2.0, label="x")
    >>> y = (x * x).tanh()
    >>> y.backward()
    >>> drawing = draw_dot(y)
    >>> "x|data 2.0|grad" in drawing.source and "tanh" in drawing.source
    True
    >>> drawing.render(outfile="y.svg")  # doctest: +SKIP
    'y.svg'
    """
    picture = GraphPicture(root, module=module, collapse=collapse, max_nodes=max_nodes)
    return picture.drawing(format, rankdir, color_by_grad=color_by_grad, legend=legend, digits=digits)


class GraphPicture:
    """What a drawing of ``root``'s graph shows: its nodes in order, their names and kinds, and boxes.

    Built once; ``drawing`` then makes as many pictures of it as wanted
    (the frames of a backward pass differ only in gradients and highlights).
    """

    def __init__(self, root, module=None, collapse=None, max_nodes=300):
        if module is None and collapse is not None and not isinstance(collapse, (list, tuple)):
            module = collapse
        self.root = root
        # where the boxes' names, and the modules beside them, are found
        self.family = module if collapse is None or isinstance(collapse, (list, tuple)) else collapse
        self.parameters = parameter_names(module)
        self.boxes = []
        self.owner = {}
        if collapse is None:
            try:
                self.order = forward_order(root, limit=max_nodes)
            except GraphTooLarge:
                raise GraphTooLarge(_too_large(max_nodes, collapsed=False)) from None
        else:
            self.order = forward_order(root)
            self.boxes = boxes_to_draw(collapse, module)
            self.owner = assign_nodes(self.order, root, self.boxes)
            if len(self.order) - len(self.owner) + len(self.boxes) > max_nodes:
                raise GraphTooLarge(_too_large(max_nodes, collapsed=True))
        self.names = node_names(self.order, role_names(self.order, root, module))
        self.ids = {id(node): f"n{i}" for i, node in enumerate(self.order)}
        self.kinds = {id(node): kind_of(node, root, self.parameters) for node in self.order}

    def name(self, node):
        return self.names[id(node)]

    def drawing(self, format="svg", rankdir="LR", *, color_by_grad=False, legend=True, digits=4,
                grad_texts=None, highlight=None, caption=None, key=(), compact=False, opened=()):
        """The picture as a ``Drawing``.

        For the frames of a backward pass: ``grad_texts`` (node id to text)
        replaces the gradients shown, ``highlight`` (a ``Highlight``) marks a
        step, ``caption`` is written above the graph, and ``key`` adds
        entries (text, fill, border) to the legend.

        For a page that scales the drawing to its window, ``compact``: every
        text the same size, a record's fields one under another (a leaf's
        side by side where many leaves would stand in a column), shorter
        box labels and less room between nodes; and ``opened``, (name,
        module) of modules drawn open, each as a frame labelled with its
        path around what it computed, the names inside it without that path.
        """
        graph_attr = {"rankdir": rankdir, "fontname": FONT}
        if compact:
            graph_attr.update(ranksep="0.3", nodesep="0.15")
        graph = Drawing(
            format=format,
            graph_attr=graph_attr,
            node_attr={"fontname": FONT, "fontsize": FONT_SIZE},
            edge_attr={"color": "#555555", "arrowsize": "0.7"},
        )
        if caption is not None:
            graph.attr(label=_plain(caption), labelloc="t", labeljust="l", fontsize="14")
        # the output's own gradient is the seed, 1: leaving it out of the scale lets the others show
        largest = max((grad_magnitude(n.grad) for n in self.order if n is not self.root), default=0.0) \
            if color_by_grad else None
        highlight = highlight or Highlight()
        frames, frame_of = self._frames(opened)
        place = lambda element_id: frames[frame_of.get(element_id)] if frame_of.get(element_id) else graph
        for index, (name, module) in enumerate(self.boxes):
            title = box_title(name, module, self.order, self.root, self.family)
            label = _box_label(_within(title, frame_of.get(f"box{index}")), module,
                               box_contents(self.order, self.owner, index), compact)
            place(f"box{index}").node(f"box{index}", label=label, shape="box", style="rounded,filled",
                                      fillcolor=BOX_FILL, color=BOX_BORDER)
        drawn_leaves = sum(1 for node in self.order if not node.children and id(node) not in self.owner)
        flat_leaves = compact and drawn_leaves > MANY_LEAVES and rankdir in ("LR", "RL")
        drawn_edges = set()  # edges from or to a box, each drawn once
        for node in self.order:
            if id(node) in self.owner:
                self._draw_edges_into_box(graph, node, drawn_edges)
            else:
                grad_text = record_text(describe_grad(node.grad, digits)) if grad_texts is None \
                    else grad_texts[id(node)]
                frame = frame_of.get(self.ids[id(node)])
                across = rankdir if not (flat_leaves and not node.children) else "TB"
                record = self._record(node, grad_text, digits, compact, across, _within(self.name(node), frame))
                self._draw_node(place(self.ids[id(node)]), graph, node, record, compact, largest, highlight,
                                drawn_edges)
        if compact and rankdir in ("TB", "BT"):
            self._stack_own_leaves(graph)
        for name in sorted(frames, key=len, reverse=True):  # the innermost frames first, into their parents
            parent = max((other for other in frames if name.startswith(other + ".")), key=len, default=None)
            (frames[parent] if parent else graph).subgraph(frames[name])
        if legend:
            self._legend(graph, color_by_grad, rankdir, key)
        return graph

    def _stack_own_leaves(self, graph):
        """Stand the leaves that only one operation reads one above another, where it reads more than two.

        In a top-to-bottom drawing every leaf would otherwise sit in one
        row (a neuron's weights and bias beside the next neuron's), far
        wider than a window; invisible edges give each its own rank.
        """
        users = {}
        for node in self.order:
            for child in node.children:
                users.setdefault(id(child), set()).add(id(node))
        for node in self.order:
            own = [child for child in dict.fromkeys(node.children)
                   if not child.children and len(users[id(child)]) == 1 and id(child) not in self.owner]
            if len(own) > 2:
                for upper, lower in zip(own, own[1:]):
                    graph.edge(self.ids[id(upper)], self.ids[id(lower)], style="invis")

    def _frames(self, opened):
        """A cluster per opened module, by name, and the innermost one each record or box is drawn in."""
        from graphviz import Digraph

        frames, frame_of = {}, {}
        in_graph = {id(node) for node in self.order}
        for name, module in sorted(opened, key=lambda pair: len(pair[0])):  # outermost first
            frames[name] = Digraph(name=f"cluster_{name}", graph_attr={
                "label": _plain(f"{name}: {type(module).__name__}"), "labeljust": "l", "style": "rounded,dashed",
                "color": BOX_BORDER, "fontcolor": BOX_BORDER, "fontname": FONT, "fontsize": FONT_SIZE})
            parameters = {id(p) for p in module.parameters()} & in_graph
            inside = parameters | computed_by(self.order, self.root, parameters)
            for node in self.order:
                if id(node) in inside and id(node) not in self.owner:
                    frame_of[self.ids[id(node)]] = name
            for index, (box_name, _) in enumerate(self.boxes):
                if box_name.startswith(name + "."):
                    frame_of[f"box{index}"] = name
        return frames, frame_of

    def _draw_node(self, frame, graph, node, record, compact, largest, highlight, drawn_edges):
        """The node's record and operation (in ``frame``) and, for a result, an edge from each input."""
        kind = self.kinds[id(node)]
        attributes = {"shape": "record", "style": "filled", "color": BORDER[kind], "penwidth": "1.2",
                      "fillcolor": FILL[kind]}
        if largest is not None:
            attributes.update(fillcolor=_heat(grad_magnitude(node.grad), largest), penwidth="2.5")
        attributes.update(highlight.node_style(node))
        frame.node(self.ids[id(node)], label=record, **attributes)
        if not node.children:
            return
        op_id = self.ids[id(node)] + "_op"
        op_attributes = {"shape": "ellipse", "style": "filled", "fillcolor": OP_FILL,
                         "fontsize": FONT_SIZE if compact else "11", "height": "0.3", "margin": "0.04"}
        op_attributes.update(highlight.op_style(node))
        frame.node(op_id, label=_plain(node.op), **op_attributes)
        graph.edge(op_id, self.ids[id(node)], **highlight.result_edge_style(node))
        for position, child in enumerate(node.children):
            if id(child) in self.owner:
                tail = f"box{self.owner[id(child)]}"
                if (tail, op_id) in drawn_edges:
                    continue
                drawn_edges.add((tail, op_id))
            else:
                tail = self.ids[id(child)]
            graph.edge(tail, op_id, **highlight.edge_style(node, position))

    def _draw_edges_into_box(self, graph, node, drawn_edges):
        """An edge from each input of ``node`` that lies outside its box (a record, or another box)."""
        head = f"box{self.owner[id(node)]}"
        for child in node.children:
            tail = f"box{self.owner[id(child)]}" if id(child) in self.owner else self.ids[id(child)]
            if tail != head and (tail, head) not in drawn_edges:
                drawn_edges.add((tail, head))
                graph.edge(tail, head)

    def _record(self, node, grad_text, digits, compact=False, rankdir="LR", name=None):
        """``{name|data ...|grad ...}``; a Tensor's name carries its shape, and data and grad share a field."""
        name = record_text(self.name(node) if name is None else name)
        kind = node._data_kind
        if kind == "outputs" and not isinstance(node.data[0], float):
            # the node of a Function with several outputs, of Tensors: each output's data, stacked as a Tensor's
            values = f"data {record_text(describe_grad(node.data, digits))}|grad {grad_text}"
            return f"{{{name}\\n{len(node.data)} outputs|{{{values}}}}}"
        if compact:
            # fields one under another: across the graph's flow in a left-to-right drawing, and braced in a
            # top-to-bottom one, where a record's own fields run across
            if kind == "array":
                name += "\\n" + record_text(f"{tuple(node.shape)} {node.dtype}")
                data = record_text(summarize(node.data, digits))
            else:  # a number, or the numbers of a Function's several outputs of Values
                data = node.data
                data = record_text(describe_grad(data, digits) if kind == "outputs" else format_number(data, digits))
            fields = f"{name}|data {data}|grad {grad_text}"
            return fields if rankdir in ("LR", "RL") else f"{{{fields}}}"
        if kind == "array":
            shape = record_text(f"{tuple(node.shape)} {node.dtype}")
            values = f"data {record_text(summarize(node.data, digits))}|grad {grad_text}"
            # braces turn a record's fields a quarter turn: data above grad keeps a wide tensor narrow
            return f"{{{name}\\n{shape}|{{{values}}}}}"
        # no spaces around fields: they would add to the padding of frames' gradients
        data = node.data
        # "outputs": the node of a Function with several outputs of Values, holding each output's data
        data = describe_grad(data, digits) if kind == "outputs" else format_number(data, digits)
        return f"{{{name}|data {record_text(data)}|grad {grad_text}}}"

    def _legend(self, graph, color_by_grad, rankdir, key=()):
        """A key to the colours: one node holding a small table, a column beside a left-to-right graph, else a row."""
        shown = {kind for node_id, kind in self.kinds.items() if node_id not in self.owner}  # not hidden in a box
        entries = [(kind, "#ffffff" if color_by_grad else FILL[kind], BORDER[kind], "1") for kind in KINDS
                   if kind in shown]
        entries.append(("operation", OP_FILL, "#000000", "1"))
        if self.boxes:
            entries.append(("module", BOX_FILL, BOX_BORDER, "1"))
        if color_by_grad:
            entries.append(("fill: |grad|, 0 to largest", "#ffffff:" + _heat(1.0, 1.0), "#000000", "1"))
        entries.extend((text, fill, border, "2") for text, fill, border in key)
        cells = ["<td>legend</td>"] + [
            f'<td bgcolor="{fill}" color="{border}" border="{width}">{html.escape(text)}</td>'
            for text, fill, border, width in entries
        ]
        sideways = rankdir in ("LR", "RL")
        rows = "".join(f"<tr>{cell}</tr>" for cell in cells) if sideways else f"<tr>{''.join(cells)}</tr>"
        table = f'<<table border="0" cellspacing="3" cellpadding="3">{rows}</table>>'
        graph.node("legend", label=table, shape="plain", fontsize="10")


class Highlight:
    """How a frame of the backward pass marks its step; the empty Highlight marks nothing.

    ``node``: the node whose gradient is flowing down (its operation is
    lit); ``target``: the node receiving it; ``position``: which input of
    ``node`` the target is, so that of the two edges of ``x * x`` the
    right one is lit; ``colour``: the colour of the mark.
    """

    def __init__(self, node=None, target=None, position=None, colour="#d62728"):
        self.node, self.target, self.position, self.colour = node, target, position, colour

    def node_style(self, node):
        if node is self.target:
            return {"color": self.colour, "penwidth": "3.5"}
        if node is self.node:
            return {"color": SOURCE_COLOUR, "penwidth": "3.5"}
        return {}

    def op_style(self, node):
        return {"fillcolor": "#fdae6b", "color": SOURCE_COLOUR, "penwidth": "2"} if node is self.node else {}

    def result_edge_style(self, node):
        """The style of the edge from ``node``'s operation to ``node``'s record."""
        return {}

    def edge_style(self, node, position):
        if node is self.node and position == self.position:
            # the arrow turned round: backward sends the gradient from the operation to its input
            return {"color": self.colour, "penwidth": "3", "dir": "back"}
        return {}


def _within(name, frame):
    """``name`` as it reads inside the frame of module ``frame``: without the frame's path."""
    return name[len(frame) + 1:] if frame and name.startswith(frame + ".") else name


def _box_label(title, module, contents, compact=False):
    lines = [title, contents or "no operations", f"{module.num_parameters()} parameters"]
    if compact:
        lines = [title, f"{lines[1]} · {lines[2]}"]
    return _plain("\n".join(lines))


def _heat(magnitude, largest):
    share = min(magnitude / largest, 1.0) if largest > 0 else 0.0
    return "#" + "".join(f"{round(255 + (c - 255) * share):02x}" for c in HOT)


def _dot_text(text):
    """``text`` as Graphviz should show it, character for character.

    A label reads a backslash as an escape (``\\N`` is the node's name),
    ``&...;`` as a character entity, and cannot hold a NUL: backslashes and
    ampersands are escaped, and control characters shown as Python writes
    them (a line break stays one).
    """
    return _CONTROL.sub(_shown_control, text.replace("\\", "\\\\").replace("&", "&amp;"))


def _shown_control(match):
    character = match.group()
    return "\\n" if character == "\n" else repr(character)[1:-1].replace("\\", "\\\\")


def _plain(text):
    """``text`` safe as an ordinary label: never read as an HTML-like label (``<...>``), never as escapes."""
    from graphviz import nohtml  # imported where a drawing is made, as graphviz is everywhere here

    return nohtml(_dot_text(text))


def record_text(text):
    """``text`` safe inside a record label, where Graphviz also reads braces, bars, angle brackets and quotes."""
    text = _dot_text(text)
    for char in "{}|<>\"":
        text = text.replace(char, "\\" + char)
    return text


def _too_large(max_nodes, collapsed):
    found = "even with its modules collapsed, the graph has" if collapsed else "the graph has"
    return (
        f"{found} more than max_nodes={max_nodes} nodes, more than a picture can show readably. Choose one: "
        "draw a part of it (draw_dot(some_intermediate_node)); "
        "draw each submodule of a model as one box (draw_dot(root, collapse=model), or collapse=[model] "
        "for the whole model as one box); "
        f"or allow more nodes (draw_dot(root, max_nodes={max_nodes * 10}); dot is slow on big graphs)."
    )
