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
from contextlib import contextmanager

from ..tensor import Tensor
from .modules import assign_nodes, box_contents, boxes_to_draw
from .nodes import (
    KINDS, GraphTooLarge, describe_grad, format_number, forward_order, grad_magnitude, kind_of,
    node_names, parameter_names, summarize,
)

__all__ = ["draw_dot", "Drawing", "GraphvizNotFound"]

FONT = "Courier"  # monospace: a label's width depends only on its length, so frames keep their layout
FILL = {"input": "#dbe9f6", "parameter": "#dff0d8", "intermediate": "#ffffff", "output": "#fde2c4"}
BORDER = {"input": "#2b6cb0", "parameter": "#2f7d32", "intermediate": "#555555", "output": "#c05621"}
OP_FILL = "#eeeeee"
BOX_FILL = "#eadcf5"
BOX_BORDER = "#6b3fa0"
HOT = (0xD7, 0x30, 0x27)  # the fill of the largest gradient when colouring by gradient
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
        self.names = node_names(self.order, self.parameters)
        self.ids = {id(node): f"n{i}" for i, node in enumerate(self.order)}
        self.kinds = {id(node): kind_of(node, root, self.parameters) for node in self.order}

    def name(self, node):
        return self.names[id(node)]

    def drawing(self, format="svg", rankdir="LR", *, color_by_grad=False, legend=True, digits=4,
                grad_texts=None, highlight=None, caption=None):
        """The picture as a ``Drawing``.

        For the frames of a backward pass: ``grad_texts`` (node id to text)
        replaces the gradients shown, ``highlight`` (a ``Highlight``) marks a
        step, and ``caption`` is written above the graph.
        """
        graph = Drawing(
            format=format,
            graph_attr={"rankdir": rankdir, "fontname": FONT},
            node_attr={"fontname": FONT, "fontsize": "12"},
            edge_attr={"color": "#555555", "arrowsize": "0.7"},
        )
        if caption is not None:
            graph.attr(label=caption, labelloc="t", labeljust="l", fontsize="14")
        # the output's own gradient is the seed, 1: leaving it out of the scale lets the others show
        largest = max((grad_magnitude(n.grad) for n in self.order if n is not self.root), default=0.0) \
            if color_by_grad else None
        highlight = highlight or Highlight()
        for index, (name, module) in enumerate(self.boxes):
            label = _box_label(name, module, box_contents(self.order, self.owner, index))
            graph.node(f"box{index}", label=label, shape="box", style="rounded,filled", fillcolor=BOX_FILL,
                       color=BOX_BORDER)
        drawn_edges = set()  # edges from or to a box, each drawn once
        for node in self.order:
            if id(node) in self.owner:
                self._draw_edges_into_box(graph, node, drawn_edges)
            else:
                grad_text = record_text(describe_grad(node.grad, digits)) if grad_texts is None \
                    else grad_texts[id(node)]
                self._draw_node(graph, node, grad_text, digits, largest, highlight, drawn_edges)
        if legend:
            self._legend(graph, color_by_grad, rankdir)
        return graph

    def _draw_node(self, graph, node, grad_text, digits, largest, highlight, drawn_edges):
        """The node's record and, for a result, its operation with an edge from each input."""
        kind = self.kinds[id(node)]
        attributes = {"shape": "record", "style": "filled", "color": BORDER[kind], "penwidth": "1.2",
                      "fillcolor": FILL[kind]}
        if largest is not None:
            attributes.update(fillcolor=_heat(grad_magnitude(node.grad), largest), penwidth="2.5")
        attributes.update(highlight.node_style(node))
        graph.node(self.ids[id(node)], label=self._record(node, grad_text, digits), **attributes)
        if not node.children:
            return
        op_id = self.ids[id(node)] + "_op"
        op_attributes = {"shape": "ellipse", "style": "filled", "fillcolor": OP_FILL, "fontsize": "11",
                         "height": "0.3", "margin": "0.04"}
        op_attributes.update(highlight.op_style(node))
        graph.node(op_id, label=_plain(node.op), **op_attributes)
        graph.edge(op_id, self.ids[id(node)])
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

    def _record(self, node, grad_text, digits):
        """``{name|data ...|grad ...}``; a Tensor's name carries its shape, and data and grad share a field."""
        name = record_text(self.name(node))
        if isinstance(node.data, tuple) and not isinstance(node.data[0], float):
            # the node of a Function with several outputs, of Tensors: each output's data, stacked as a Tensor's
            values = f"data {record_text(describe_grad(node.data, digits))}|grad {grad_text}"
            return f"{{{name}\\n{len(node.data)} outputs|{{{values}}}}}"
        if isinstance(node, Tensor):
            shape = record_text(f"{tuple(node.shape)} {node.dtype}")
            values = f"data {record_text(summarize(node.data, digits))}|grad {grad_text}"
            # braces turn a record's fields a quarter turn: data above grad keeps a wide tensor narrow
            return f"{{{name}\\n{shape}|{{{values}}}}}"
        # no spaces around fields: they would add to the padding of frames' gradients
        data = node.data
        # a tuple: the node of a Function with several outputs of Values, holding each output's data
        data = describe_grad(data, digits) if isinstance(data, tuple) else format_number(data, digits)
        return f"{{{name}|data {record_text(data)}|grad {grad_text}}}"

    def _legend(self, graph, color_by_grad, rankdir):
        """A key to the colours: one node holding a small table, a column beside a left-to-right graph, else a row."""
        shown = {kind for node_id, kind in self.kinds.items() if node_id not in self.owner}  # not hidden in a box
        entries = [(kind, "#ffffff" if color_by_grad else FILL[kind], BORDER[kind]) for kind in KINDS if kind in shown]
        entries.append(("operation", OP_FILL, "#000000"))
        if self.boxes:
            entries.append(("module", BOX_FILL, BOX_BORDER))
        if color_by_grad:
            entries.append(("fill: |grad|, 0 to largest", "#ffffff:" + _heat(1.0, 1.0), "#000000"))
        cells = ["<td>legend</td>"] + [
            f'<td bgcolor="{fill}" color="{border}" border="1">{html.escape(text)}</td>'
            for text, fill, border in entries
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
            return {"color": "#e6550d", "penwidth": "3.5"}
        return {}

    def op_style(self, node):
        return {"fillcolor": "#fdae6b", "color": "#e6550d", "penwidth": "2"} if node is self.node else {}

    def edge_style(self, node, position):
        if node is self.node and position == self.position:
            return {"color": self.colour, "penwidth": "3"}
        return {}


def _box_label(name, module, contents):
    lines = [f"{name}: {type(module).__name__}", contents or "no operations", f"{module.num_parameters()} parameters"]
    return "\\n".join(_plain(line) for line in lines)


def _heat(magnitude, largest):
    share = min(magnitude / largest, 1.0) if largest > 0 else 0.0
    return "#" + "".join(f"{round(255 + (c - 255) * share):02x}" for c in HOT)


def _plain(text):
    """``text`` safe inside an ordinary label, where a backslash starts an escape such as a line break."""
    return text.replace("\\", "\\\\")


def record_text(text):
    """``text`` safe inside a record label: Graphviz reads braces, bars, angle brackets and quotes there."""
    for char in "\\{}|<>\"":
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
