"""HTML views of a Value, a Tensor and a Module, for Jupyter's rich display (``_repr_html_``).

Each shows what a learner checks first: a Value's data and grad; a
Tensor's shape, dtype, data and grad as small tables (an array too big to
read is shown by its corners and summarised by mean, min and max); a
Module's layer summary and its parameters. Numbers carry at least
``DIGITS`` significant digits; all text is HTML-escaped.
"""

import html

import numpy as np

from .nodes import describe_grad, format_number, summarize

DIGITS = 6
EDGE_ITEMS = 3  # rows and columns kept at each end of an axis too long to show whole
MAX_AXIS = 8  # an axis longer than this is shown by its ends
MAX_PARAMETER_ROWS = 40

_STYLE = "font-family: monospace; font-size: 12px; border-collapse: collapse"
_CELL = "border: 1px solid #ccc; padding: 1px 5px; text-align: right"


def value_html(value):
    """A Value: its label, operation, data and grad."""
    rows = [("data", format_number(value.data, DIGITS)), ("grad", format_number(value.grad, DIGITS))]
    return _block(_title("Value", value), _pairs(rows))


def tensor_html(tensor):
    """A Tensor: shape, dtype, whether it requires gradients, its data and its grad as tables."""
    facts = [("shape", str(tuple(tensor.shape))), ("dtype", str(tensor.dtype)),
             ("requires_grad", str(tensor.requires_grad))]
    parts = [_title("Tensor", tensor), _pairs(facts), "<div>data</div>", _array(tensor.data)]
    if tensor.grad is None:
        parts.append("<div>grad None</div>")
    else:
        parts += ["<div>grad</div>", _array(tensor.grad)]
    return _block(*parts)


def module_html(module):
    """A Module: its layer summary (``module.summary()``) and a row per parameter: shape, data and grad."""
    parameters = list(module.named_parameters())
    head = f"<b>{html.escape(type(module).__name__)}</b>: {module.num_parameters()} parameters"
    rows = [
        "<tr>" + "".join(f'<td style="{_CELL}">{html.escape(cell)}</td>' for cell in (
            name, str(tuple(np.shape(p.data))), summarize(p.data, DIGITS), describe_grad(_grad(p), DIGITS),
        )) + "</tr>"
        for name, p in parameters[:MAX_PARAMETER_ROWS]
    ]
    if len(parameters) > MAX_PARAMETER_ROWS:
        rows.append(f'<tr><td colspan="4" style="{_CELL}">and {len(parameters) - MAX_PARAMETER_ROWS} more '
                    "parameters</td></tr>")
    header = "".join(f'<th style="{_CELL}">{name}</th>' for name in ("parameter", "shape", "data", "grad"))
    table = f'<table style="{_STYLE}"><tr>{header}</tr>{"".join(rows)}</table>'
    return _block(head, f"<pre>{html.escape(module.summary())}</pre>", table)


def array_table(array, digits=DIGITS):
    """An array as rows of formatted cells, "…" standing for what is left out, and a one-line summary.

    A 0-d array is one cell, a vector one row, a matrix its rows; more axes
    are flattened into rows of the last axis. An axis longer than
    ``MAX_AXIS`` keeps ``EDGE_ITEMS`` entries at each end. Returns
    ``{"rows": [[str]], "summary": str, "whole": bool}``, ``whole`` telling
    whether every entry is shown.
    """
    array = np.asarray(array)
    if array.size == 0:
        return {"rows": [], "summary": f"{array.shape} {array.dtype}: empty", "whole": True}
    matrix = array.reshape(1, -1) if array.ndim < 2 else array.reshape(-1, array.shape[-1])
    row_indices, rows_cut = _kept(matrix.shape[0])
    column_indices, columns_cut = _kept(matrix.shape[1])
    rows = []
    for i in row_indices:
        if i is None:
            rows.append(["⋮" if j is not None else "" for j in column_indices])
        else:
            rows.append(["…" if j is None else format_number(matrix[i, j], digits) for j in column_indices])
    summary = (f"{array.shape} {array.dtype}: mean {format_number(array.mean(), digits)}, "
               f"min {format_number(array.min(), digits)}, max {format_number(array.max(), digits)}")
    return {"rows": rows, "summary": summary, "whole": not (rows_cut or columns_cut) and array.ndim <= 2}


def _kept(length):
    """The indices of an axis that a table shows, None marking the gap; and whether any were left out."""
    if length <= MAX_AXIS:
        return list(range(length)), False
    return [*range(EDGE_ITEMS), None, *range(length - EDGE_ITEMS, length)], True


def _array(array):
    table = array_table(array)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{html.escape(cell)}</td>' for cell in row) + "</tr>"
        for row in table["rows"]
    )
    note = "" if table["whole"] else f"<div>{html.escape(table['summary'])}</div>"
    return f'<table style="{_STYLE}">{body}</table>{note}'


def _grad(parameter):
    grad = parameter.grad
    return grad if grad is None or isinstance(grad, float) else np.asarray(grad)


def _title(kind, node):
    parts = [f"<b>{kind}</b>"]
    if node.label:
        parts.append(f"label {html.escape(repr(node.label))}")
    if node.op:
        parts.append(f"op {html.escape(repr(node.op))}")
    return "<div>" + ", ".join(parts) + "</div>"


def _pairs(rows):
    cells = "".join(f'<tr><th style="{_CELL}">{name}</th><td style="{_CELL}">{html.escape(text)}</td></tr>'
                    for name, text in rows)
    return f'<table style="{_STYLE}">{cells}</table>'


def _block(*parts):
    return '<div style="font-family: monospace; font-size: 12px">' + "".join(parts) + "</div>"
